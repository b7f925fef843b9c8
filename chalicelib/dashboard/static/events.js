// Event tracking: events per type and name over time, and the Stitch forwarder's health.
import { html, useState } from "./preact-htm.js";
import { get } from "./api.js";
import { number, when } from "./format.js";
import { Loaded, useLoad } from "./hooks.js";

const INTERVALS = [["24h", "24 hours"], ["7d", "7 days"], ["30d", "30 days"], ["90d", "90 days"]];
const REDRIVE = `aws sqs start-message-move-task --source-arn "$DLQ_ARN" --destination-arn "$QUEUE_ARN"`;

function Health({ forwarder }) {
  const stuck = (forwarder.dead_letters || 0) > 0;
  return html`<section class=${stuck ? "card danger" : "card"}><h2>Forwarder</h2>
    <dl class="totals">
      <div><dt>Waiting in the queue</dt><dd>${number(forwarder.queue_depth)}</dd></div>
      <div><dt>Being delivered</dt><dd>${number(forwarder.in_flight)}</dd></div>
      <div><dt>Dead letters</dt><dd>${number(forwarder.dead_letters)}</dd></div>
    </dl>
    <p>Last delivery: ${when(forwarder.last_delivery_at)}${forwarder.last_delivered
      ? ` (${number(forwarder.last_delivered)} events)` : ""}.</p>
    <p>Last Stitch error: ${forwarder.last_error
      ? html`<span class="error-text">${forwarder.last_error}</span> (${when(forwarder.last_error_at)})` : "none"}.</p>
    ${stuck ? html`<p>After fixing the cause, move the dead letters back into the events queue (see the README):</p>
      <pre><code>${REDRIVE}</code></pre>` : null}
  </section>`;
}

function Counts({ stats }) {
  const starts = [...new Set(stats.series.map((row) => row.start))];
  const top = stats.totals.slice(0, 6);
  const cell = (start, total) => stats.series
    .filter((row) => row.start === start && row.type === total.type && row.name === total.name)
    .reduce((sum, row) => sum + row.events, 0);
  return html`<section class="card"><h2>Events delivered</h2>${stats.totals.length === 0
    ? html`<p class="empty">No events delivered in this period. Send some with the analytics demo
        (<a href="./demo/analytics">/demo/analytics</a> under make dev) or any Segment library.</p>`
    : html`<div class="scroll" tabindex="0" role="region" aria-label="Scrollable table"><table>
        <thead><tr><th scope="col">Type</th><th scope="col">Name</th><th scope="col" class="num">Events</th></tr></thead>
        <tbody>${stats.totals.map((t) => html`<tr><td>${t.type}</td><td>${t.name}</td>
          <td class="num">${number(t.events)}</td></tr>`)}</tbody></table></div>
      <h3>Over time (${stats.granularity === "hour" ? "per hour" : "per day"}, top ${top.length})</h3>
      <div class="scroll" tabindex="0" role="region" aria-label="Scrollable table"><table>
        <thead><tr><th scope="col">From</th>${top.map((t) => html`<th scope="col" class="num">${t.name}</th>`)}</tr></thead>
        <tbody>${starts.map((start) => html`<tr><td>${when(start)}</td>${top.map((t) =>
          html`<td class="num">${number(cell(start, t))}</td>`)}</tr>`)}</tbody></table></div>`}
  </section>`;
}

export function Events() {
  const [interval, choose] = useState("7d");
  const state = useLoad(() => get("api/events/stats", { interval }), [interval]);
  return html`<h1>Events</h1>
    <div class="field inline"><label for="events-interval">Period</label>
      <select id="events-interval" value=${interval} onChange=${(e) => choose(e.target.value)}>
        ${INTERVALS.map(([id, label]) => html`<option value=${id}>${label}</option>`)}</select></div>
    <${Loaded} state=${state} what="event counts">${(stats) => html`<${Health} forwarder=${stats.forwarder} />
      <${Counts} stats=${stats} />`}<//>`;
}
