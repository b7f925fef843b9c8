// Campaigns: start one from a CSV of recipients, watch it send, read its funnel, its
// clicks and its recipients (numbers masked by the API).
import { html, useEffect, useRef, useState } from "./preact-htm.js";
import { ApiError, call, get, retryKeys } from "./api.js";
import { ClicksChart } from "./chart.js";
import { Field } from "./forms.js";
import { number, percent, text, when } from "./format.js";
import { Loaded, Problem, useLoad } from "./hooks.js";

const FIELDS = ["name", "url", "text", "recipients", "ttl", "channel"];
const LIVE_EVERY_MS = 2000;

// RFC 4180 rows: quoted cells may hold commas, quotes ("") and line breaks.
export function csvRows(source) {
  const rows = [];
  let row = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < source.length; i += 1) {
    const ch = source[i];
    if (quoted) {
      if (ch === '"' && source[i + 1] === '"') { cell += '"'; i += 1; }
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") { row.push(cell); cell = ""; }
    else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && source[i + 1] === "\n") i += 1;
      row.push(cell); rows.push(row); row = []; cell = "";
    } else cell += ch;
  }
  if (cell !== "" || row.length) { row.push(cell); rows.push(row); }
  return rows.filter((r) => r.some((c) => c.trim() !== ""));
}

// [{to, ref?}] from a CSV whose header names `to` (and optionally `ref`).
export function recipientsOf(source) {
  const [header, ...rows] = csvRows(source);
  const names = (header || []).map((name) => name.trim().toLowerCase());
  const to = names.indexOf("to");
  const ref = names.indexOf("ref");
  if (to < 0) throw new ApiError(400, { title: "The CSV has no `to` column", field: "recipients",
    detail: "The first line must name the columns, e.g. to,ref." });
  return rows.map((cells) => {
    const recipient = { to: (cells[to] || "").trim() };
    if (ref >= 0 && (cells[ref] || "").trim()) recipient.ref = cells[ref].trim();
    return recipient;
  });
}

function StartCampaign() {
  const [error, setError] = useState(null);
  const [step, setStep] = useState(null);
  const keys = useRef(retryKeys()).current;
  async function submit(event) {
    event.preventDefault();
    setError(null);
    const form = new FormData(event.target);
    try {
      const file = form.get("csv");
      if (!file || !file.size) throw new ApiError(400, { field: "recipients", detail: "Choose a CSV file of recipients (to,ref)." });
      setStep("Reading the CSV…");
      const recipients = recipientsOf(await file.text());
      setStep(`Queueing ${number(recipients.length)} recipients…`);
      const body = { name: form.get("name").trim(), url: form.get("url").trim(), text: form.get("text"),
        channel: form.get("channel"), recipients };
      if (form.get("ttl")) body.ttl = Number(form.get("ttl")) * 86400;
      const started = await call("POST", "api/campaigns", { body, idempotencyKey: keys.keyFor(body) });
      keys.done();
      location.hash = `#/campaigns/${encodeURIComponent(started.campaign_id)}`;
    } catch (failure) {
      setError(failure instanceof ApiError ? failure : new ApiError(0, { detail: String(failure) }));
    } finally {
      setStep(null);
    }
  }
  const props = { error, names: FIELDS };
  return html`<section class="card"><h2>Start a campaign</h2>
    <form onSubmit=${submit} novalidate>
      ${error && !FIELDS.some((n) => String(error.field || "").startsWith(n)) ? html`<${Problem} error=${error} />` : null}
      <${Field} name="name" label="Name" ...${props}>${(p) => html`<input ...${p} required maxlength="100" />`}<//>
      <${Field} name="url" label="Destination URL" ...${props}>${(p) => html`<input ...${p} type="url" required />`}<//>
      <${Field} name="text" label="Text, with {link}" ...${props}>${(p) =>
        html`<textarea ...${p} rows="3" required>Hello! Your offer: {link}</textarea>`}<//>
      <${Field} name="ttl" label="Links expire after (days)" ...${props}>${(p) =>
        html`<input ...${p} type="number" min="1" value="7" inputmode="numeric" />`}<//>
      <${Field} name="channel" label="Channel" ...${props}>${(p) => html`<select ...${p}>
        <option value="sms">SMS</option><option value="whatsapp">WhatsApp</option>
        <option value="viber">Viber</option><option value="messenger">Messenger</option></select>`}<//>
      <${Field} name="recipients" label="Recipients (CSV with a to,ref header)" ...${props}>${(p) =>
        html`<input ...${p} name="csv" type="file" accept=".csv,text/csv" />`}<//>
      <button type="submit" disabled=${Boolean(step)}>Start campaign</button>
      ${step ? html`<p role="status" class="loading">${step}</p>` : null}
    </form></section>`;
}

export function Campaigns() {
  const [cursors, setCursors] = useState([null]);
  const cursor = cursors[cursors.length - 1];
  const state = useLoad(() => get("api/campaigns", { limit: 25, cursor }), [cursor]);
  return html`<h1>Campaigns</h1><${StartCampaign} />
    <section class="card"><h2>All campaigns</h2>
    <${Loaded} state=${state} what="campaigns">${(page) => html`${page.campaigns.length === 0
      ? html`<p class="empty">No campaigns yet. Start one with the form above.</p>`
      : html`<div class="scroll" tabindex="0" role="region" aria-label="Scrollable table"><table>
          <thead><tr><th scope="col">Name</th><th scope="col">Channel</th>
            <th scope="col" class="num">Recipients</th><th scope="col">Started</th></tr></thead>
          <tbody>${page.campaigns.map((c) => html`<tr>
            <td><a href=${`#/campaigns/${encodeURIComponent(c.campaign_id)}`}>${c.name}</a></td>
            <td>${c.channel}</td><td class="num">${number(c.total)}</td><td>${when(c.created_at)}</td></tr>`)}</tbody>
        </table></div>`}
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>Newer</button>
        <button type="button" disabled=${!page.next_cursor} onClick=${() => setCursors([...cursors, page.next_cursor])}>Older</button>
      </nav>`}<//></section>`;
}

function Progress({ stats }) {
  const shown = [["total", "Recipients"], ["links_created", "Links"], ["sent", "Sent"], ["delivered", "Delivered"],
    ["failed", "Failed"], ["opted_out", "Opted out"], ["pending", "Waiting"]];
  const done = stats.total ? (stats.links_created / stats.total) : 0;
  return html`<section class="card"><h2>Progress: <span class=${`status ${stats.status}`}>${stats.status}</span></h2>
    <progress max="1" value=${done} aria-label="Links created">${percent(done)}</progress>
    ${stats.status === "throttled" ? html`<p role="status">Throttled until ${when(stats.waiting_until)}.</p>` : null}
    ${stats.abandoned ? html`<p>${number(stats.abandoned)} abandoned: ${stats.abandoned_reason}</p>` : null}
    <dl class="totals">${shown.map(([id, label]) => html`<div><dt>${label}</dt><dd>${number(stats[id])}</dd></div>`)}</dl>
  </section>`;
}

function Funnel({ funnel }) {
  const steps = [["texted", "Texted"], ["delivered", "Delivered"], ["clicked", "Clicked"]];
  const most = Math.max(1, funnel.texted);
  return html`<section class="card"><h2>Funnel</h2>
    <ol class="funnel">${steps.map(([id, label]) => html`<li>
      <span class="label">${label}</span><span class="bar" style=${{ width: `${(100 * funnel[id]) / most}%` }}></span>
      <span class="num">${number(funnel[id])}</span></li>`)}</ol>
    <p>Click-through rate: <strong>${percent(funnel.ctr)}</strong>;
      delivered but not clicked: ${number(funnel.delivered_not_clicked)}.</p></section>`;
}

// `progress` changes as the campaign sends: the rows are read again with it.
function Recipients({ id, progress }) {
  const [cursors, setCursors] = useState([null]);
  const cursor = cursors[cursors.length - 1];
  const state = useLoad(() => get("api/links", { campaign_id: id, limit: 50, cursor }), [id, cursor, progress]);
  return html`<section class="card"><h2>Recipients</h2>
    <${Loaded} state=${state} what="recipients">${(page) => html`<div class="scroll" tabindex="0" role="region" aria-label="Scrollable table"><table>
      <thead><tr><th scope="col">Ref</th><th scope="col">Number</th><th scope="col">Text</th>
        <th scope="col">Link</th><th scope="col">Clicked</th></tr></thead>
      <tbody>${page.links.map((link) => html`<tr><td>${text(link.ref)}</td>
        <td>${text(link.message && link.message.to)}</td><td>${text(link.message && link.message.status)}</td>
        <td><a href=${`#/links/${encodeURIComponent(link.code)}`}>${link.code}</a></td>
        <td>${link.clicks.human > 0 ? "yes" : "no"}</td></tr>`)}</tbody></table></div>
      <nav class="pager" aria-label="Recipient pages">
        <button type="button" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>Previous</button>
        <button type="button" disabled=${!page.next_cursor} onClick=${() => setCursors([...cursors, page.next_cursor])}>Next</button>
      </nav>`}<//></section>`;
}

export function CampaignPage({ id }) {
  const state = useLoad(() => get(`api/campaigns/${encodeURIComponent(id)}`), [id]);
  const live = state.data && state.data.status !== "done";
  useEffect(() => {
    if (!live) return undefined;
    const timer = setTimeout(state.reload, LIVE_EVERY_MS);
    return () => clearTimeout(timer);
  }, [state.data]);
  return html`<p><a href="#/campaigns">← All campaigns</a></p>
    <${Loaded} state=${state} what="the campaign">${(stats) => html`<h1>${stats.name}</h1>
      <p>${stats.channel} · started ${when(stats.created_at)} · <span class="url">${stats.url}</span></p>
      <${Progress} stats=${stats} />
      <${Funnel} funnel=${stats.funnel} />
      <section class="card"><${ClicksChart} rows=${stats.clicks.series} title="Clicks over the campaign" /></section>
      <${Recipients} id=${id} progress=${[stats.status, stats.links_created, stats.sent, stats.delivered, stats.failed].join()} />`}<//>`;
}
