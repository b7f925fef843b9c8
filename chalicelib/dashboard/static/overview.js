// Clicks over time, totals, the top lists and the recent campaigns, for one interval.
// Every call is made at once; each section shows as soon as its answer is in.
import { html, useState } from "./preact-htm.js";
import { get } from "./api.js";
import { ClicksChart, TopList } from "./chart.js";
import { number, percent, timezone } from "./format.js";
import { Loaded, useLoad } from "./hooks.js";

export const INTERVALS = [
  ["24h", "24 hours"],
  ["7d", "7 days"],
  ["30d", "30 days"],
  ["90d", "90 days"],
  ["1y", "1 year"],
  ["all", "All time"],
];

export const BREAKDOWNS = [
  ["countries", "country", "Countries"],
  ["devices", "device", "Devices"],
  ["browsers", "browser", "Browsers"],
  ["referers", "referer", "Referrers"],
];

export function analytics(groupBy, interval, filters = {}, visitor = "human") {
  return get("api/analytics", { groupBy, interval, timezone: timezone(), visitor, ...filters });
}

export function IntervalPicker({ value, onChange }) {
  return html`<fieldset class="intervals">
    <legend>Period</legend>
    ${INTERVALS.map(([id, label]) => html`<label class=${value === id ? "chosen" : ""}>
      <input type="radio" name="interval" value=${id} checked=${value === id}
        onChange=${() => onChange(id)} />${label}</label>`)}
  </fieldset>`;
}

export function Totals({ count }) {
  return html`<dl class="totals">
    <div><dt>Clicks by people</dt><dd>${number(count.humans)}</dd></div>
    <div><dt>Clicks by bots</dt><dd>${number(count.bots)}</dd></div>
    <div><dt>All clicks</dt><dd>${number(count.clicks)}</dd></div>
  </dl>`;
}

export function Breakdowns({ interval, filters, children }) {
  const key = JSON.stringify(filters);
  return html`<div class="grid">
    ${children}
    ${BREAKDOWNS.map(([groupBy, field, title]) => html`<${Breakdown} key=${groupBy + key}
      groupBy=${groupBy} field=${field} title=${title} interval=${interval} filters=${filters} />`)}
  </div>`;
}

function Breakdown({ groupBy, field, title, interval, filters }) {
  const state = useLoad(() => analytics(groupBy, interval, filters), [groupBy, interval]);
  return html`<${Loaded} state=${state} what=${title.toLowerCase()}>${(answer) =>
    html`<${TopList} title=${title} rows=${answer.data.slice(0, 10)} field=${field} />`}<//>`;
}

function RecentCampaigns() {
  const state = useLoad(async () => {
    const listed = await get("api/campaigns", { limit: 5 });
    return Promise.all(listed.campaigns.map((c) => get(`api/campaigns/${encodeURIComponent(c.campaign_id)}`)));
  }, []);
  return html`<section class="card">
    <h2>Recent campaigns</h2>
    <${Loaded} state=${state} what="campaigns">${(campaigns) => campaigns.length === 0
      ? html`<p class="empty">No campaigns yet. <a href="#/campaigns">Start one from a CSV</a>.</p>`
      : html`<table>
          <thead><tr><th scope="col">Campaign</th><th scope="col" class="num">Delivered</th>
            <th scope="col" class="num">Clicked</th><th scope="col" class="num">CTR</th></tr></thead>
          <tbody>${campaigns.map((c) => html`<tr>
            <td><a href=${`#/campaigns/${encodeURIComponent(c.campaign_id)}`}>${c.name}</a></td>
            <td class="num">${number(c.delivered)}</td><td class="num">${number(c.clicked)}</td>
            <td class="num">${percent(c.ctr)}</td></tr>`)}</tbody>
        </table>`}<//>
  </section>`;
}

export function Overview() {
  const [interval, choose] = useState("7d");
  const count = useLoad(() => analytics("count", interval, {}, "all"), [interval]);
  const series = useLoad(() => analytics("timeseries", interval, {}, "all"), [interval]);
  const top = useLoad(() => analytics("top_links", interval), [interval]);
  return html`<h1>Overview</h1>
    <${IntervalPicker} value=${interval} onChange=${choose} />
    <${Loaded} state=${count} what="totals">${(answer) => html`<${Totals} count=${answer.data} />`}<//>
    <section class="card">
      <${Loaded} state=${series} what="clicks over time">${(answer) =>
        html`<${ClicksChart} rows=${answer.data} title="Clicks over time" />`}<//>
    </section>
    <${Breakdowns} interval=${interval} filters=${{}}>
      <${Loaded} state=${top} what="top links">${(answer) => html`<${TopList} title="Top links"
        rows=${answer.data.slice(0, 10)} field="code"
        label=${(code) => html`<a href=${`#/links/${encodeURIComponent(code)}`}>${code}</a>`}
        empty="No clicks yet. Create a link, then open it on the short domain." />`}<//>
    <//>
    <${RecentCampaigns} />`;
}
