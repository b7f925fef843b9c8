// Numbers, dates and shares in the browser's own locale and timezone.
const numbers = new Intl.NumberFormat(undefined);
const percents = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
const dates = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const days = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

export const timezone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

export function number(value) {
  return value === null || value === undefined ? "–" : numbers.format(value);
}

export function percent(share) {
  return share === null || share === undefined ? "–" : percents.format(share);
}

export function when(iso) {
  if (!iso) return "–";
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? String(iso) : dates.format(at);
}

export function day(iso) {
  if (!iso) return "–";
  const at = new Date(iso);
  return Number.isNaN(at.getTime()) ? String(iso) : days.format(at);
}

// "+4915112345678" is shown only as the API masks it; everything else passes through.
export const text = (value) => (value === null || value === undefined || value === "" ? "–" : String(value));
