// Form fields whose error comes from the API's problem details: a problem naming a field
// ("url", "sms.to", "recipients[3].to") is shown next to that field, the rest above the form.
import { html } from "./preact-htm.js";

export function fieldOf(error) {
  return error && error.field ? String(error.field) : null;
}

// The field an error belongs to among `names`: "recipients[3].to" belongs to "recipients".
export function owner(error, names) {
  const field = fieldOf(error);
  if (!field) return null;
  return names.find((name) => field === name || field.startsWith(`${name}.`) || field.startsWith(`${name}[`)) || null;
}

export function Field({ name, label, error, names, hint, children }) {
  const mine = owner(error, names) === name;
  const id = `field-${name}`;
  return html`<div class=${mine ? "field invalid" : "field"}>
    <label for=${id}>${label}</label>
    ${children({ id, name, "aria-invalid": mine ? "true" : undefined,
                 "aria-describedby": mine ? `${id}-error` : hint ? `${id}-hint` : undefined })}
    ${hint && !mine ? html`<small id=${`${id}-hint`}>${hint}</small>` : null}
    ${mine ? html`<small class="error" id=${`${id}-error`} role="alert">${error.message}</small>` : null}
  </div>`;
}

// An ISO 8601 instant with the browser's offset from a datetime-local value.
export function instant(local) {
  if (!local) return null;
  const at = new Date(local);
  return Number.isNaN(at.getTime()) ? local : at.toISOString();
}

export function tagList(raw) {
  return String(raw || "").split(",").map((tag) => tag.trim()).filter(Boolean);
}

export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (_) {
    return false;
  }
}
