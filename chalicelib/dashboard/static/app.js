// The dashboard's shell: sign-in, the navigation and a hash router over the views.
import { html, render, useEffect, useState } from "./preact-htm.js";
import { ApiError, apiKey, forgetKey, get, keepKey } from "./api.js";
import { Problem } from "./hooks.js";
import { Overview } from "./overview.js";
import { Links } from "./links.js";
import { LinkPage } from "./link.js";
import { Campaigns, CampaignPage } from "./campaigns.js";
import { Journeys } from "./journeys.js";
import { Events } from "./events.js";
import { Keys } from "./keys.js";

const SECTIONS = [
  ["", "Overview"],
  ["links", "Links"],
  ["campaigns", "Campaigns"],
  ["journeys", "Journeys"],
  ["events", "Events"],
  ["keys", "API keys"],
];

function route() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  return { section: parts[0] || "", id: parts[1] || null };
}

function View({ at }) {
  switch (at.section) {
    case "links":
      return at.id ? html`<${LinkPage} code=${at.id} />` : html`<${Links} />`;
    case "campaigns":
      return at.id ? html`<${CampaignPage} id=${at.id} />` : html`<${Campaigns} />`;
    case "journeys":
      return html`<${Journeys} />`;
    case "events":
      return html`<${Events} />`;
    case "keys":
      return html`<${Keys} />`;
    default:
      return html`<${Overview} />`;
  }
}

function SignIn({ onSignedIn }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  async function submit(event) {
    event.preventDefault();
    const key = new FormData(event.target).get("key").trim();
    setBusy(true);
    setError(null);
    try {
      await get("api/links", { limit: 1 }, { key });
      keepKey(key);
      event.target.reset();
      onSignedIn();
    } catch (failure) {
      setError(failure instanceof ApiError ? failure : new ApiError(0, { detail: String(failure) }));
    } finally {
      setBusy(false);
    }
  }
  return html`<main id="main" class="signin">
    <h1>linktrail</h1>
    <form onSubmit=${submit} class="card">
      <h2>Sign in</h2>
      <p>Use an API key (<code>linktrail keys create</code>, or the key <code>make dev</code> prints).
        It stays in this tab only and is forgotten when you sign out or close it.</p>
      <label for="key">API key</label>
      <input id="key" name="key" type="password" autocomplete="off" required spellcheck="false" />
      <button type="submit" disabled=${busy}>${busy ? "Signing in…" : "Sign in"}</button>
      <${Problem} error=${error} />
    </form>
  </main>`;
}

function Shell() {
  const [signedIn, setSignedIn] = useState(Boolean(apiKey()));
  const [at, setAt] = useState(route());
  useEffect(() => {
    const moved = () => setAt(route());
    addEventListener("hashchange", moved);
    return () => removeEventListener("hashchange", moved);
  }, []);
  useEffect(() => {
    const section = SECTIONS.find(([id]) => id === at.section);
    document.title = `${section ? section[1] : "linktrail"} · linktrail`;
  }, [at]);
  if (!signedIn) return html`<${SignIn} onSignedIn=${() => setSignedIn(true)} />`;
  function signOut() {
    forgetKey();
    setSignedIn(false);
  }
  return html`<a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById("main").focus(); }}>Skip to content</a>
    <header class="top">
      <span class="brand">linktrail</span>
      <nav aria-label="Sections"><ul>
        ${SECTIONS.map(([id, label]) => html`<li><a href=${`#/${id}`}
          aria-current=${at.section === id ? "page" : undefined}>${label}</a></li>`)}
      </ul></nav>
      <button class="quiet" type="button" onClick=${signOut}>Sign out</button>
    </header>
    <main id="main" tabindex="-1"><${View} at=${at} /></main>`;
}

const root = document.getElementById("root");
root.textContent = ""; // the "Loading" line the page shows until this module runs
render(html`<${Shell} />`, root);
