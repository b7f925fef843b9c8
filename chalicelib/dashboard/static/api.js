// The dashboard's one way to the HTTP API. The key lives in sessionStorage (gone when the
// tab closes) and travels only in the Authorization header, never in a URL.
const KEY = "linktrail.apiKey";

// Where the API's routes start: "/" under `make dev`, "/api/" behind API Gateway's stage.
export const root = new URL(".", location.href);

export function apiKey() {
  return sessionStorage.getItem(KEY);
}

export function keepKey(key) {
  sessionStorage.setItem(KEY, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
  // problem: the API's RFC 9457 problem details ({title, status, detail, field?}).
  constructor(status, problem) {
    super(problem.detail || problem.title || `The API answered ${status}.`);
    this.status = status;
    this.problem = problem;
    this.field = problem.field || null;
  }
}

export function url(path, query = {}) {
  const target = new URL(path.replace(/^\//, ""), root);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") {
      target.searchParams.set(name, String(value));
    }
  }
  return target;
}

async function problemOf(answer) {
  try {
    const body = await answer.json();
    if (body && typeof body === "object") return body;
  } catch (_) {
    // not JSON: described below
  }
  return { title: answer.statusText, detail: `The API answered ${answer.status}.` };
}

// method, path ("api/links"), {query, body, accept, key, idempotencyKey}: the parsed JSON, a
// Blob for other media types, null for 204; throws ApiError with the problem details for
// any 4xx/5xx.
export async function call(method, path, options = {}) {
  const headers = { Authorization: `Bearer ${options.key || apiKey() || ""}` };
  if (options.accept) headers.Accept = options.accept;
  if (options.idempotencyKey) headers["Idempotency-Key"] = options.idempotencyKey;
  let body;
  if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  let answer;
  try {
    answer = await fetch(url(path, options.query), { method, headers, body, cache: "no-store" });
  } catch (error) {
    throw new ApiError(0, { title: "No answer", detail: "The API could not be reached. Is it running?" });
  }
  if (!answer.ok) throw new ApiError(answer.status, await problemOf(answer));
  if (answer.status === 204) return null;
  const type = answer.headers.get("content-type") || "";
  return type.includes("json") ? answer.json() : answer.blob();
}

export const get = (path, query, options = {}) => call("GET", path, { ...options, query });

// One Idempotency-Key per request a form makes: the same body sent again (after "No
// answer", a 503) reuses it, so the API answers the first attempt's result instead of
// making a second link or campaign; a changed body gets a new key.
export function retryKeys() {
  let last = null;
  return {
    keyFor(body) {
      const sent = JSON.stringify(body);
      if (!last || last.sent !== sent) {
        const bytes = crypto.getRandomValues(new Uint8Array(16));
        last = { sent, key: "dash-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("") };
      }
      return last.key;
    },
    done() {
      last = null;
    },
  };
}
