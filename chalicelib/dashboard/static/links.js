// The links: search, filters, pages newest first, and the form that creates one.
import { html, useRef, useState } from "./preact-htm.js";
import { ApiError, call, get, retryKeys } from "./api.js";
import { Field, copy, instant, tagList } from "./forms.js";
import { number, when } from "./format.js";
import { Loaded, Problem, useLoad } from "./hooks.js";

const CREATE_FIELDS = ["url", "code", "expires_at", "ttl", "max_clicks", "expired_url", "tags", "sms"];

function CopyButton({ text, label }) {
  const [done, setDone] = useState(null);
  return html`<button type="button" class="quiet" aria-label=${label}
    onClick=${async () => setDone(await copy(text))}>${done === null ? "Copy" : done ? "Copied" : "Copy failed"}</button>`;
}

function Filters({ filters, onChange }) {
  function submit(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    onChange({ q: form.get("q").trim(), tag: form.get("tag").trim(), status: form.get("status") });
  }
  return html`<form class="filters" role="search" onSubmit=${submit}>
    <div class="field"><label for="search-q">Search code, URL or tag</label>
      <input id="search-q" name="q" type="search" value=${filters.q} maxlength="100" /></div>
    <div class="field"><label for="search-tag">Tag</label>
      <input id="search-tag" name="tag" value=${filters.tag} maxlength="50" /></div>
    <div class="field"><label for="search-status">Status</label>
      <select id="search-status" name="status" value=${filters.status}>
        <option value="">Any</option><option value="active">Active</option><option value="ended">Ended</option>
      </select></div>
    <button type="submit">Search</button>
  </form>`;
}

function LinkRows({ links }) {
  return html`<div class="scroll" tabindex="0" role="region" aria-label="Scrollable table"><table class="links">
    <thead><tr><th scope="col">Code</th><th scope="col">Destination</th><th scope="col">Status</th>
      <th scope="col" class="num">People</th><th scope="col" class="num">Bots</th>
      <th scope="col">Created</th><th scope="col"><span class="visually-hidden">Copy</span></th></tr></thead>
    <tbody>${links.map((link) => html`<tr>
      <td><a href=${`#/links/${encodeURIComponent(link.code)}`}>${link.code}</a></td>
      <td class="url" title=${link.url}>${link.url}</td>
      <td><span class=${`status ${link.status}`}>${link.status}</span>
        ${link.tags.map((tag) => html` <span class="tag">${tag}</span>`)}</td>
      <td class="num">${number(link.clicks.human)}</td><td class="num">${number(link.clicks.bot)}</td>
      <td>${when(link.created_at)}</td>
      <td><${CopyButton} text=${link.short_url} label=${`Copy ${link.short_url}`} /></td>
    </tr>`)}</tbody>
  </table></div>`;
}

export function Links() {
  const [filters, setFilters] = useState({ q: "", tag: "", status: "" });
  const [cursors, setCursors] = useState([null]); // the cursor of each page seen so far
  const cursor = cursors[cursors.length - 1];
  const state = useLoad(() => get("api/links", { ...filters, cursor, limit: 25 }),
    [filters.q, filters.tag, filters.status, cursor]);
  const [created, setCreated] = useState(null);
  function filter(next) {
    setFilters(next);
    setCursors([null]);
  }
  return html`<h1>Links</h1>
    <${CreateLink} onCreated=${(link) => { setCreated(link); state.reload(); }} />
    ${created ? html`<p class="notice" role="status">Created <a href=${`#/links/${encodeURIComponent(created.code)}`}>${created.short_url}</a>
      <${CopyButton} text=${created.short_url} label=${`Copy ${created.short_url}`} /></p>` : null}
    <section class="card">
      <h2>All links</h2>
      <${Filters} filters=${filters} onChange=${filter} />
      <${Loaded} state=${state} what="links">${(page) => html`
        ${page.links.length === 0
          ? html`<p class="empty">${filters.q || filters.tag || filters.status
              ? "No link matches. Clear the search to see them all."
              : "No links yet. Create one with the form above, or with linktrail links create."}</p>`
          : html`<${LinkRows} links=${page.links} />`}
        <nav class="pager" aria-label="Pages">
          <button type="button" disabled=${cursors.length === 1}
            onClick=${() => setCursors(cursors.slice(0, -1))}>Newer</button>
          <span>Page ${number(cursors.length)}</span>
          <button type="button" disabled=${!page.next_cursor}
            onClick=${() => setCursors([...cursors, page.next_cursor])}>Older</button>
        </nav>`}<//>
    </section>`;
}

function linkBody(form) {
  const body = { url: form.get("url").trim() };
  const optional = { code: form.get("code").trim(), expired_url: form.get("expired_url").trim() };
  for (const [name, value] of Object.entries(optional)) if (value) body[name] = value;
  if (form.get("expires_at")) body.expires_at = instant(form.get("expires_at"));
  if (form.get("ttl")) body.ttl = Number(form.get("ttl"));
  if (form.get("max_clicks")) body.max_clicks = Number(form.get("max_clicks"));
  const tags = tagList(form.get("tags"));
  if (tags.length) body.tags = tags;
  if (form.get("sms_to")) {
    body.sms = { to: form.get("sms_to").trim(), channel: form.get("sms_channel") };
    if (form.get("sms_text").trim()) body.sms.text = form.get("sms_text").trim();
  }
  return body;
}

function CreateLink({ onCreated }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const keys = useRef(retryKeys()).current;
  async function submit(event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const body = linkBody(new FormData(event.target));
      const link = await call("POST", "api/links", { body, idempotencyKey: keys.keyFor(body) });
      keys.done();
      event.target.reset();
      onCreated(link);
    } catch (failure) {
      setError(failure instanceof ApiError ? failure : new ApiError(0, { detail: String(failure) }));
    } finally {
      setBusy(false);
    }
  }
  const props = { error, names: CREATE_FIELDS };
  const general = error && !CREATE_FIELDS.some((n) => String(error.field || "").startsWith(n)) ? error : null;
  return html`<details class="card create">
    <summary>Create a link</summary>
    <form onSubmit=${submit} novalidate>
      <${Problem} error=${general} />
      <${Field} name="url" label="Destination URL" ...${props}>${(p) =>
        html`<input ...${p} type="url" required placeholder="https://example.com/offer" />`}<//>
      <${Field} name="code" label="Custom code (optional)" ...${props}>${(p) =>
        html`<input ...${p} maxlength="64" spellcheck="false" />`}<//>
      <${Field} name="expires_at" label="Expires at (optional)" ...${props}>${(p) =>
        html`<input ...${p} type="datetime-local" />`}<//>
      <${Field} name="ttl" label="Or lives for, in seconds" ...${props}>${(p) =>
        html`<input ...${p} type="number" min="1" inputmode="numeric" />`}<//>
      <${Field} name="max_clicks" label="Max clicks by people" ...${props}>${(p) =>
        html`<input ...${p} type="number" min="1" inputmode="numeric" />`}<//>
      <${Field} name="expired_url" label="After it ends, send people to" ...${props}>${(p) =>
        html`<input ...${p} type="url" />`}<//>
      <${Field} name="tags" label="Tags, comma-separated" ...${props}>${(p) => html`<input ...${p} />`}<//>
      <fieldset class="sms"><legend>Text it (optional)</legend>
        <${Field} name="sms" label="Recipient's number" hint="E.164, e.g. +447700900123" ...${props}>${(p) =>
          html`<input ...${p} name="sms_to" type="tel" autocomplete="off" />`}<//>
        <div class="field"><label for="sms-channel">Channel</label>
          <select id="sms-channel" name="sms_channel"><option value="sms">SMS</option>
            <option value="whatsapp">WhatsApp</option><option value="viber">Viber</option>
            <option value="messenger">Messenger</option></select></div>
        <div class="field"><label for="sms-text">Text, with {link}</label>
          <input id="sms-text" name="sms_text" placeholder="Your offer: {link}" /></div>
      </fieldset>
      <button type="submit" disabled=${busy}>${busy ? "Creating…" : "Create link"}</button>
    </form>
  </details>`;
}
