// Clicks over time (uPlot, loaded as a classic script before the modules run), people
// and bots apart, with the same numbers as a table for keyboards and screen readers.
import { html, useEffect, useRef } from "./preact-htm.js";
import { number, when } from "./format.js";

const PEOPLE = "#1d5fbf";
const BOTS = "#a4570b";

// Rows with humans and bots draw both; rows with clicks alone draw one "Clicks" line.
const split = (rows) => rows.some((row) => "humans" in row);

function chartData(rows) {
  const xs = rows.map((row) => Date.parse(row.start) / 1000);
  if (!split(rows)) return [xs, rows.map((row) => row.clicks ?? 0)];
  return [xs, rows.map((row) => row.humans ?? 0), rows.map((row) => row.bots ?? 0)];
}

function lines(rows) {
  if (!split(rows)) return [{}, { label: "Clicks", stroke: PEOPLE, width: 2 }];
  return [
    {},
    { label: "People", stroke: PEOPLE, width: 2, fill: "rgba(29,95,191,0.08)" },
    { label: "Bots", stroke: BOTS, width: 2, dash: [6, 4] },
  ];
}

export function ClicksChart({ rows, title }) {
  const box = useRef(null);
  useEffect(() => {
    const element = box.current;
    if (!element || !window.uPlot) return undefined;
    const width = () => Math.max(280, element.clientWidth);
    const plot = new window.uPlot(
      {
        width: width(),
        height: 220,
        series: lines(rows),
        axes: [{}, { values: (_, ticks) => ticks.map((t) => number(t)) }],
        scales: { x: { time: true } },
      },
      chartData(rows),
      element,
    );
    const resized = new ResizeObserver(() => plot.setSize({ width: width(), height: 220 }));
    resized.observe(element);
    return () => {
      resized.disconnect();
      plot.destroy();
    };
  }, [rows]);
  if (rows.every((row) => !row.clicks)) {
    return html`<p class="empty">No clicks in this period yet. Share a link, then look again.</p>`;
  }
  return html`<figure class="chart">
    <figcaption>${title}</figcaption>
    <div ref=${box} class="plot" role="img" aria-label=${`${title}, as a chart; the table below has the numbers`}></div>
    <details>
      <summary>Show as a table</summary>
      <div class="scroll" tabindex="0" role="region" aria-label="Scrollable table"><table>
        <thead><tr><th scope="col">From</th>${split(rows)
          ? html`<th scope="col">People</th><th scope="col">Bots</th>` : html`<th scope="col">Clicks</th>`}</tr></thead>
        <tbody>${rows.map((row) => html`<tr><td>${when(row.start)}</td>${split(rows)
          ? html`<td class="num">${number(row.humans)}</td><td class="num">${number(row.bots)}</td>`
          : html`<td class="num">${number(row.clicks)}</td>`}</tr>`)}</tbody>
      </table></div>
    </details>
  </figure>`;
}

// A top list: label, clicks and a bar scaled to the largest row.
export function TopList({ title, rows, field, label = (value) => value, empty }) {
  const most = Math.max(1, ...rows.map((row) => row.clicks));
  return html`<section class="card top">
    <h3>${title}</h3>
    ${rows.length === 0
      ? html`<p class="empty">${empty || "Nothing yet."}</p>`
      : html`<table>
          <thead><tr><th scope="col">${title}</th><th scope="col" class="num">Clicks</th></tr></thead>
          <tbody>${rows.map((row) => html`<tr>
            <td><span class="bar" style=${{ width: `${(100 * row.clicks) / most}%` }}></span>
              <span class="label">${label(row[field] ?? "(none)")}</span></td>
            <td class="num">${number(row.clicks)}</td></tr>`)}</tbody>
        </table>`}
  </section>`;
}
