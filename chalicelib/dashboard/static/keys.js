// API keys: the list (never a secret), a new key shown once, and revoking one.
import { html, useState } from "./preact-htm.js";
import { ApiError, apiKey, call, get } from "./api.js";
import { Field, copy } from "./forms.js";
import { when } from "./format.js";
import { Loaded, Problem, useLoad } from "./hooks.js";

const ROLES = [["read", "read: see links, campaigns, analytics"], ["links:write", "links:write: also create and change"],
  ["events:erase", "events:erase: erase users' events only"], ["admin", "admin: everything, keys too"]];

function Created({ created, onDone }) {
  const [copied, setCopied] = useState(null);
  return html`<div class="notice" role="status">
    <p><strong>${created.name}</strong> is made. Copy its secret now: it is not shown again.</p>
    <p><code class="secret">${created.key}</code>
      <button type="button" onClick=${async () => setCopied(await copy(created.key))}>${copied ? "Copied" : "Copy key"}</button></p>
    <p>Its click-webhook signing secret: <code class="secret">${created.webhook_secret}</code></p>
    <button type="button" class="quiet" onClick=${onDone}>Done</button></div>`;
}

function CreateKey({ onCreated }) {
  const [error, setError] = useState(null);
  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    try {
      onCreated(await call("POST", "api/keys", { body: { name: form.get("name").trim(), role: form.get("role") } }));
      event.target.reset();
      setError(null);
    } catch (failure) {
      setError(failure instanceof ApiError ? failure : new ApiError(0, { detail: String(failure) }));
    }
  }
  const props = { error, names: ["name", "role"] };
  return html`<form onSubmit=${submit} class="row" novalidate>
    ${error && !["name", "role"].includes(error.field) ? html`<${Problem} error=${error} />` : null}
    <${Field} name="name" label="Name" ...${props}>${(p) => html`<input ...${p} required maxlength="100" />`}<//>
    <${Field} name="role" label="Role" ...${props}>${(p) => html`<select ...${p}>
      ${ROLES.map(([id, label]) => html`<option value=${id}>${label}</option>`)}</select>`}<//>
    <button type="submit">Create key</button></form>`;
}

function Revoke({ apiKeyRow, inUse, onRevoked }) {
  const [asking, setAsking] = useState(false);
  const [error, setError] = useState(null);
  async function revoke() {
    try {
      await call("DELETE", `api/keys/${encodeURIComponent(apiKeyRow.key_id)}`);
      onRevoked();
    } catch (failure) {
      setError(failure);
    }
  }
  if (apiKeyRow.status !== "active") return html`<span>revoked ${when(apiKeyRow.revoked_at)}</span>`;
  // The API refuses a key's revoking of itself (409); another admin key or the CLI can.
  if (inUse) return html`<span>active: this tab signed in with it</span>`;
  return html`${asking
    ? html`<button type="button" class="danger" onClick=${revoke}>Revoke ${apiKeyRow.name} for good</button>
        <button type="button" class="quiet" onClick=${() => setAsking(false)}>Keep</button>`
    : html`<button type="button" onClick=${() => setAsking(true)} aria-label=${`Revoke ${apiKeyRow.name}`}>Revoke…</button>`}
    <${Problem} error=${error} />`;
}

export function Keys() {
  const state = useLoad(() => get("api/keys"), []);
  const [created, setCreated] = useState(null);
  const mine = (apiKey() || "").split("_")[1]; // lt_<key id>_<secret>
  return html`<h1>API keys</h1>
    <section class="card"><h2>New key</h2>
      ${created ? html`<${Created} created=${created} onDone=${() => setCreated(null)} />` : null}
      <${CreateKey} onCreated=${(made) => { setCreated(made); state.reload(); }} /></section>
    <section class="card"><h2>Keys</h2>
    <${Loaded} state=${state} what="keys">${(answer) => html`<div class="scroll" tabindex="0" role="region" aria-label="Scrollable table"><table>
      <thead><tr><th scope="col">Name</th><th scope="col">Role</th><th scope="col">Made</th>
        <th scope="col">State</th></tr></thead>
      <tbody>${answer.keys.map((row) => html`<tr><td>${row.name}${row.key_id === mine ? " (this tab's key)" : ""}</td>
        <td>${row.role}</td><td>${when(row.created_at)}</td>
        <td><${Revoke} apiKeyRow=${row} inUse=${row.key_id === mine} onRevoked=${state.reload} /></td></tr>`)}</tbody>
    </table></div>`}<//></section>`;
}
