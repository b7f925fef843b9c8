// The click journeys /ping records: entry pages, the steps people take, and exits.
import { html, useState } from "./preact-htm.js";
import { get } from "./api.js";
import { day, number } from "./format.js";
import { Loaded, useLoad } from "./hooks.js";

const isoDay = (at) => at.toISOString().slice(0, 10);

function Ranked({ title, rows, columns }) {
  return html`<section class="card top"><h2>${title}</h2>${rows.length === 0
    ? html`<p class="empty">None in this range.</p>`
    : html`<div class="scroll" tabindex="0" role="region" aria-label="Scrollable table"><table>
        <thead><tr>${columns.map(([, label, num]) => html`<th scope="col" class=${num ? "num" : ""}>${label}</th>`)}</tr></thead>
        <tbody>${rows.map((row) => html`<tr>${columns.map(([id, , num]) =>
          html`<td class=${num ? "num" : "url"}>${num ? number(row[id]) : row[id]}</td>`)}</tr>`)}</tbody>
      </table></div>`}</section>`;
}

export function Journeys() {
  const [days, setDays] = useState(7);
  const to = new Date();
  const from = new Date(to.getTime() - (days - 1) * 86400000);
  const state = useLoad(() => get("api/journeys", { from: isoDay(from), to: isoDay(to) }), [days]);
  return html`<h1>Journeys</h1>
    <div class="field inline"><label for="journey-days">Days</label>
      <select id="journey-days" value=${days} onChange=${(e) => setDays(Number(e.target.value))}>
        <option value="1">Today</option><option value="7">7 days</option><option value="31">31 days</option>
      </select></div>
    <${Loaded} state=${state} what="journeys">${(flows) => html`
      <p>${day(flows.from)} – ${day(flows.to)}: ${number(flows.hops)} steps by ${number(flows.visitors)} visitors.
        ${flows.truncated ? " Only the first days fit; choose a shorter range for the rest." : ""}</p>
      ${flows.hops === 0 ? html`<p class="empty">No journeys yet. Pages record them with
        <code>${'<a href="…" ping="/ping">'}</code>; try the demo pages at <a href=${"./"}>/</a>.</p>` : null}
      <div class="grid">
        <${Ranked} title="Entry pages" rows=${flows.entry_pages} columns=${[["page", "Page"], ["count", "Visitors", true]]} />
        <${Ranked} title="Exit pages" rows=${flows.exit_pages} columns=${[["page", "Page"], ["count", "Visitors", true]]} />
      </div>
      <${Ranked} title="Top steps" rows=${flows.transitions}
        columns=${[["from", "From"], ["to", "To"], ["count", "Steps", true]]} />`}<//>`;
}
