// One link: its numbers, chart and breakdowns, its text's delivery, its QR code, a CSV of
// its analytics, and the edits the API allows (expiry, max clicks, delete).
import { html, useEffect, useState } from "./preact-htm.js";
import { call, get } from "./api.js";
import { ClicksChart } from "./chart.js";
import { Field, instant } from "./forms.js";
import { number, text, when } from "./format.js";
import { Loaded, Problem, useLoad } from "./hooks.js";
import { Breakdowns, IntervalPicker, Totals, analytics } from "./overview.js";

function saveBlob(blob, name) {
  const address = URL.createObjectURL(blob);
  const anchor = document.createElement("a");
  anchor.href = address;
  anchor.download = name;
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(address), 10000);
}

function Facts({ link }) {
  const message = link.message;
  return html`<dl class="facts">
    <div><dt>Short URL</dt><dd><a href=${link.short_url}>${link.short_url}</a></dd></div>
    <div><dt>Destination</dt><dd class="url">${link.url}</dd></div>
    <div><dt>Status</dt><dd><span class=${`status ${link.status}`}>${link.status}</span></dd></div>
    <div><dt>Created</dt><dd>${when(link.created_at)}</dd></div>
    <div><dt>Expires</dt><dd>${link.expires_at ? when(link.expires_at) : "never"}</dd></div>
    <div><dt>Max clicks</dt><dd>${link.max_clicks ? number(link.max_clicks) : "no limit"}</dd></div>
    <div><dt>Tags</dt><dd>${link.tags.length ? link.tags.join(", ") : "none"}</dd></div>
    <div><dt>Last click</dt><dd>${when(link.last_click_at)}</dd></div>
    ${link.campaign_id ? html`<div><dt>Campaign</dt><dd>
      <a href=${`#/campaigns/${encodeURIComponent(link.campaign_id)}`}>${link.campaign_id}</a>
      ${link.ref ? ` (${link.ref})` : ""}</dd></div>` : null}
    <div><dt>Text message</dt><dd>${message
      ? html`${text(message.channel)} to ${text(message.to)}: <strong>${text(message.status)}</strong>
        ${message.status_at ? ` (${when(message.status_at)})` : ""}${message.error ? html` — ${message.error}` : ""}`
      : "not texted"}</dd></div>
  </dl>`;
}

function QrCode({ code }) {
  const [options, setOptions] = useState({ format: "svg", size: "8", ecc: "M" });
  const [image, setImage] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let address = null;
    const accept = options.format === "png" ? "image/png" : "image/svg+xml";
    call("GET", `api/links/${encodeURIComponent(code)}/qr`, { query: options, accept }).then(
      (blob) => {
        address = URL.createObjectURL(blob);
        setImage({ address, blob, format: options.format });
        setError(null);
      },
      setError,
    );
    return () => address && URL.revokeObjectURL(address);
  }, [code, options.format, options.size, options.ecc]);
  const choose = (name) => (event) => setOptions({ ...options, [name]: event.target.value });
  return html`<section class="card qr">
    <h2>QR code</h2>
    <${Problem} error=${error} />
    ${image ? html`<img src=${image.address} data-format=${image.format}
      alt=${`QR code for the short link ${code}`} />` : null}
    <div class="row">
      <div class="field"><label for="qr-format">Format</label>
        <select id="qr-format" value=${options.format} onChange=${choose("format")}>
          <option value="svg">SVG</option><option value="png">PNG</option></select></div>
      <div class="field"><label for="qr-size">Pixels per module</label>
        <input id="qr-size" type="number" min="1" max="40" value=${options.size} onChange=${choose("size")} /></div>
      <div class="field"><label for="qr-ecc">Error correction</label>
        <select id="qr-ecc" value=${options.ecc} onChange=${choose("ecc")}>
          <option value="L">L (7%)</option><option value="M">M (15%)</option>
          <option value="Q">Q (25%)</option><option value="H">H (30%)</option></select></div>
    </div>
    <button type="button" disabled=${!image || image.format !== options.format}
      onClick=${() => saveBlob(image.blob, `${code}.${image.format}`)}>Download ${options.format.toUpperCase()}</button>
  </section>`;
}

function Edit({ link, onSaved }) {
  const [error, setError] = useState(null);
  const names = ["expires_at", "ttl", "max_clicks"];
  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    const body = {};
    if (form.get("clear_expiry")) body.expires_at = null;
    else if (form.get("expires_at")) body.expires_at = instant(form.get("expires_at"));
    if (form.get("max_clicks")) body.max_clicks = Number(form.get("max_clicks"));
    if (form.get("clear_max")) body.max_clicks = null;
    try {
      onSaved(await call("PATCH", `api/links/${encodeURIComponent(link.code)}`, { body }));
      setError(null);
    } catch (failure) {
      setError(failure);
    }
  }
  const props = { error, names };
  return html`<section class="card"><h2>Change</h2>
    <form onSubmit=${submit} novalidate>
      ${error && !names.includes(error.field) ? html`<${Problem} error=${error} />` : null}
      <${Field} name="expires_at" label="New expiry" ...${props}>${(p) =>
        html`<input ...${p} type="datetime-local" />`}<//>
      <label class="check"><input type="checkbox" name="clear_expiry" /> Never expires</label>
      <${Field} name="max_clicks" label="New max clicks" ...${props}>${(p) =>
        html`<input ...${p} type="number" min="1" inputmode="numeric" />`}<//>
      <label class="check"><input type="checkbox" name="clear_max" /> No click limit</label>
      <button type="submit">Save</button>
    </form></section>`;
}

function Delete({ code }) {
  const [asking, setAsking] = useState(false);
  const [error, setError] = useState(null);
  async function remove() {
    try {
      await call("DELETE", `api/links/${encodeURIComponent(code)}`);
      location.hash = "#/links";
    } catch (failure) {
      setError(failure);
    }
  }
  return html`<section class="card danger"><h2>Delete</h2>
    <p>The short link stops redirecting at once; its clicks stay in the analytics.</p>
    <${Problem} error=${error} />
    ${asking
      ? html`<p role="alert">Delete ${code} for good?</p>
          <button type="button" class="danger" onClick=${remove}>Yes, delete ${code}</button>
          <button type="button" class="quiet" onClick=${() => setAsking(false)}>Keep it</button>`
      : html`<button type="button" onClick=${() => setAsking(true)}>Delete this link…</button>`}
  </section>`;
}

export function LinkPage({ code }) {
  const [interval, choose] = useState("30d");
  const [fresh, setFresh] = useState(null);
  const link = useLoad(() => get(`api/links/${encodeURIComponent(code)}`), [code]);
  const filters = { code };
  const count = useLoad(() => analytics("count", interval, filters, "all"), [code, interval]);
  const series = useLoad(() => analytics("timeseries", interval, filters, "all"), [code, interval]);
  async function csv() {
    const blob = await get("api/analytics", { groupBy: "timeseries", interval, code, visitor: "all", format: "csv" },
      { accept: "text/csv" });
    saveBlob(blob, `${code}-${interval}.csv`);
  }
  return html`<p><a href="#/links">← All links</a></p><h1>Link ${code}</h1>
    <${Loaded} state=${link} what="the link">${(loaded) => {
      const shown = fresh || loaded;
      return html`<section class="card"><${Facts} link=${shown} /></section>
        <${IntervalPicker} value=${interval} onChange=${choose} />
        <${Loaded} state=${count} what="totals">${(answer) => html`<${Totals} count=${answer.data} />`}<//>
        <section class="card">
          <${Loaded} state=${series} what="clicks over time">${(answer) =>
            html`<${ClicksChart} rows=${answer.data} title=${`Clicks on ${code}`} />`}<//>
          <button type="button" onClick=${csv}>Export CSV</button>
        </section>
        <${Breakdowns} interval=${interval} filters=${filters} />
        <div class="grid"><${QrCode} code=${code} />
          ${shown.status === "active" ? html`<${Edit} link=${shown} onSaved=${setFresh} /><${Delete} code=${code} />` : null}
        </div>`;
    }}<//>`;
}

