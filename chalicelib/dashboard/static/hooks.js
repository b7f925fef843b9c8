// Loading API data into a view, and showing what went wrong in words.
import { html, useCallback, useEffect, useState } from "./preact-htm.js";

// load: () => Promise; its result in `data`, its ApiError in `error`; `reload` runs it again.
export function useLoad(load, deps) {
  const [state, setState] = useState({ loading: true, data: null, error: null });
  const run = useCallback(() => {
    let current = true;
    setState((old) => ({ ...old, loading: true }));
    load().then(
      (data) => current && setState({ loading: false, data, error: null }),
      (error) => current && setState({ loading: false, data: null, error }),
    );
    return () => {
      current = false;
    };
  }, deps);
  useEffect(run, [run]);
  return { ...state, reload: run };
}

export function Problem({ error }) {
  if (!error) return null;
  const problem = error.problem || {};
  return html`<div class="problem" role="alert">
    <strong>${problem.title || "Something went wrong"}</strong>
    <p>${error.message}</p>
  </div>`;
}

export function Loading({ what }) {
  return html`<p class="loading" role="status">Loading ${what}…</p>`;
}

// A view's data, or its loading line, or its problem.
export function Loaded({ state, what, children }) {
  if (state.error) return html`<${Problem} error=${state.error} />`;
  if (state.loading && !state.data) return html`<${Loading} what=${what} />`;
  return children(state.data);
}
