// Tenure dashboard: every page reads the JSON API with the session cookie and builds the DOM with
// text nodes only, so nothing a customer typed is ever interpreted as HTML.
"use strict";

const page = document.getElementById("page");
const content = document.getElementById("content");
const query = new URLSearchParams(location.search);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "style") node.style.cssText = value; // a style attribute breaks the CSP
    else node.setAttribute(key, value);
  }
  // A table scrolls sideways in its own box on a phone: a keyboard must be able to reach it.
  if (tag === "table" && !node.hasAttribute("tabindex")) node.tabIndex = 0;
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function fail(message) {
  const box = document.getElementById("error");
  box.hidden = false;
  box.textContent = message;
}

function cookie(name) {
  const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return found ? decodeURIComponent(found.split("=")[1]) : "";
}

async function api(path, params, options) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(params || {})) {
    for (const item of [].concat(value)) if (item !== "" && item !== null && item !== undefined) url.searchParams.append(key, item);
  }
  const init = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
  if (init.method && init.method !== "GET") {
    init.headers["X-CSRF-Token"] = cookie("tenure_csrf");
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url, init);
  if (response.status === 204) return null;
  const body = await response.json();
  if (!response.ok) {
    const error = new Error(body.detail || body.title || response.statusText);
    error.status = response.status;
    error.retryAfter = Number(response.headers.get("Retry-After")) || 0;
    throw error;
  }
  return body;
}

// -- pickers -------------------------------------------------------------------------------------
function monthStart(value) { return value ? value + "-01" : ""; }
function range() {
  const today = new Date();
  const last = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 1, 1));
  const first = new Date(Date.UTC(last.getUTCFullYear(), last.getUTCMonth() - 11, 1));
  return {
    from: monthStart(query.get("from")) || first.toISOString().slice(0, 10),
    to: monthStart(query.get("to")) || last.toISOString().slice(0, 10),
    grain: query.get("grain") || "month",
    by: query.get("by") || "",
    where: query.get("where") || "",
  };
}
// The picker also offers the built-in subscription segments (paid_plan, ...), which split revenue
// metrics only: a request for other metrics is sent unsplit, and `body.split` says which split was
// applied ("" for none), so the chart groups by it and its note says what was not split.
const PAID_SEGMENTS = JSON.parse(page.dataset.paidSegments || "{}");
const PAID_METRICS = new Set(JSON.parse(page.dataset.paidMetrics || "[]"));
function segmentLabel(by) { return PAID_SEGMENTS[by] || by; }
function paidSegment(by) { return Object.prototype.hasOwnProperty.call(PAID_SEGMENTS, by); }
// The split an API that splits by account attributes only can apply: the picker's, unless paid.
function attributeSplit(r) { return r.by && !paidSegment(r.by) ? r.by : ""; }
async function metrics(names, extra) {
  const r = range();
  const wanted = Object.assign({ by: r.by }, extra || {}).by;
  const by = paidSegment(wanted) && ![].concat(names).every((n) => PAID_METRICS.has(n)) ? "" : wanted;
  const body = await api("/api/metrics", Object.assign({ names, from: r.from, to: r.to, grain: r.grain, where: r.where, limit: 10000 }, extra || {}, { by }));
  CURRENCY = body.reporting_currency || CURRENCY;
  body.split = [].concat(by).filter(Boolean).length ? by : "";
  return body;
}
// What a chart of `body` applies of the picker (for segmentNote).
function applied(body) { return { by: body.split === range().by }; }

// -- periods -------------------------------------------------------------------------------------
// The one place that knows whether a period is over: its end (exclusive) is after today. The
// current period's value is partial and is labelled so wherever a period is shown.
const TODAY = new Date().toISOString().slice(0, 10);
function periodEnd(start, grain) {
  const d = new Date(start.slice(0, 10) + "T00:00:00Z");
  const [y, m, day] = [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()];
  const next = { day: [y, m, day + 1], week: [y, m, day + 7], month: [y, m + 1, 1], quarter: [y, m + 3, 1], year: [y + 1, 0, 1] }[grain] || [y, m + 1, 1];
  return new Date(Date.UTC(...next)).toISOString().slice(0, 10);
}
function partial(start, grain) { return periodEnd(start, grain) > TODAY; }
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
function periodLabel(start, grain) {
  if (!start) return "";
  const d = new Date(String(start).slice(0, 10) + "T00:00:00Z");
  const y = d.getUTCFullYear();
  if (grain === "quarter") return `Q${Math.floor(d.getUTCMonth() / 3) + 1} ${y}`;
  if (grain === "year") return String(y);
  if (grain === "day") return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${y}`;
  if (grain === "week") { // ISO week: the week of its Thursday
    const thursday = new Date(d.getTime() + (3 - ((d.getUTCDay() + 6) % 7)) * 86400000);
    const first = new Date(Date.UTC(thursday.getUTCFullYear(), 0, 1));
    return `W${Math.ceil(((thursday - first) / 86400000 + 1) / 7)} ${thursday.getUTCFullYear()}`;
  }
  return `${MONTHS[d.getUTCMonth()]} ${y}`;
}
function periodText(start, grain) { return periodLabel(start, grain) + (partial(start, grain) ? " (partial)" : ""); }
// Several metrics in one chart: a line each, or with a segment split one per metric and segment,
// named "label · segment" (SPLIT), which the drill-through reads back.
const SPLIT = " · ";
function splitSeries(items, metrics, by) {
  const groups = new Map();
  for (const [name, label] of metrics) {
    for (const [key, points] of seriesOf(items, name, by)) groups.set(by ? label + SPLIT + key : label, points);
  }
  return groups;
}
function seriesOf(items, metric, by) {
  const groups = new Map();
  for (const row of items.filter((r) => r.metric === metric)) {
    const key = by ? String(row[by]) : metric;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push([row.period_start, row.value === null ? null : Number(row.value)]);
  }
  return groups;
}

// -- widgets -------------------------------------------------------------------------------------
// Money is in the reporting currency the API names (MetricPage.reporting_currency).
let CURRENCY = "";
const UNIT_SUFFIX = { hours: " h", seconds: " s", days: " d", day: " d", months: " mo", ratio: "×" };
function currencyText(value, currency, options) {
  if (value === null || value === undefined) return "–";
  const code = currency || CURRENCY;
  const n = Number(value);
  try { return n.toLocaleString("en-US", Object.assign({ style: "currency", currency: code, maximumFractionDigits: 0 }, options || {})); }
  catch { return n.toLocaleString("en-US", Object.assign({ maximumFractionDigits: 0 }, options || {})) + (code ? " " + code : ""); }
}
function format(value, unit) {
  if (value === null || value === undefined) return "–";
  const n = Number(value);
  if (unit === "percent") return n.toFixed(1) + "%";
  if (unit === "currency") return currencyText(n);
  if (unit === "score") return n.toFixed(1);
  return n.toLocaleString("en-US", { maximumFractionDigits: 2 }) + (UNIT_SUFFIX[unit] || "");
}
// A change between two values: percentage points for a percentage, the unit otherwise.
function formatChange(change, unit) {
  const sign = change > 0 ? "+" : change < 0 ? "−" : "±";
  if (unit === "percent") return sign + Math.abs(change).toFixed(1) + " pp";
  return sign + format(Math.abs(change), unit);
}
// Axis tick labels: short (12K) with the unit.
function tick(unit) {
  return (value) => {
    if (unit === "currency") return currencyText(value, null, { notation: "compact", maximumFractionDigits: 1 });
    const short = Number(value).toLocaleString("en-US", { notation: "compact", maximumFractionDigits: 1 });
    return unit === "percent" ? short + "%" : short + (UNIT_SUFFIX[unit] || "");
  };
}
function unitWords(unit) {
  return { currency: CURRENCY || "currency", percent: "%", hours: "hours", seconds: "seconds", days: "days", months: "months", ratio: "ratio", score: "score" }[unit] || "";
}
// A category axis of periods, labelled "Nov 2026" / "Q4 2026" / "W47 2026" (partial marked).
function periodAxis(periods, grain) {
  const label = (value) => periodText(value, grain);
  return { type: "category", data: periods, name: `Period (${grain})`, nameLocation: "middle", nameGap: 28, axisLabel: { formatter: label }, axisPointer: { label: { formatter: (p) => label(p.value) } } };
}
function valueAxis(name, unit, extra) {
  const words = unitWords(unit);
  return Object.assign({ type: "value", name: words && !name.includes(`(${words})`) ? `${name} (${words})` : name, nameLocation: "middle", nameGap: 52, axisLabel: { formatter: tick(unit) } }, extra || {});
}
function periodsOf(groups) {
  return [...new Set([...groups.values()].flatMap((points) => (points || []).map((p) => p[0])))].sort();
}

// A chart or table that ignores the segment picker (or the filter) says so, with the reason in its
// title; one that applies them is marked too, so a test or a reader can tell.
function segmentNote(shown, applies, reason) {
  const r = range();
  const box = (shown.getDom ? shown.getDom() : shown).closest(".panel");
  const by = applies.by !== false;
  const where = applies.where !== false;
  box.dataset.segment = (r.by && !by) || (r.where && !where) ? "ignored" : "applied";
  box.dataset.split = by ? r.by : ""; // what a click on it drills into
  if (box.dataset.segment !== "ignored") return;
  const what = [!by && r.by ? `not split by ${segmentLabel(r.by)}` : "", !where && r.where ? "filter not applied" : ""].filter(Boolean).join("; ");
  box.querySelector("h2").append(" ", el("span", { class: "unsplit", title: reason }, `all accounts: ${what}`));
}

// The current period, when a chart shows it, is labelled partial in the panel and on the axis.
function markPartial(instance, periods, grain) {
  const last = periods[periods.length - 1];
  if (!last || !partial(last, grain)) return;
  const box = instance.getDom().closest(".panel");
  box.dataset.partial = periodLabel(last, grain);
  box.querySelector("h2").append(" ", el("span", { class: "partial", title: `${periodLabel(last, grain)} has not ended: its value will still change` }, `${periodLabel(last, grain)} partial`));
}

function download(name, href) {
  const link = el("a", { href, download: name });
  document.body.append(link);
  link.click();
  link.remove();
}

function panel(title, slug) {
  const tools = el("span", { class: "tools" });
  const box = el("section", { class: "panel", "data-panel": slug }, tools, el("h2", {}, title));
  content.insertBefore(box, document.getElementById("loading")); // before the loading note
  return { box, tools };
}

function plot(box, tools, name, option, id) {
  const area = el("div", { class: "chart", id });
  box.append(area);
  const instance = echarts.init(area, null, { renderer: "canvas" });
  instance.on("finished", () => { area.dataset.rendered = "1"; }); // drawn: tests wait for it
  const values = [].concat(option.series || []).flatMap((s) => s.data || []).map((d) => (Array.isArray(d) ? d[d.length - 1] : d && typeof d === "object" ? d.value : d));
  const empty = !values.some((v) => v !== null && v !== undefined && v !== "" && !Number.isNaN(Number(v)));
  const graphic = empty ? { graphic: { type: "text", left: "center", top: "middle", style: { text: "No data in this range", fontSize: 14, fill: "#5b6478" } } } : {};
  // y-axis labels are never cut, at any width; tooltips drawn on the canvas, since the HTML ones
  // carry style attributes that the CSP blocks (hovering a point to click it shows them).
  option = Object.assign({}, option, { grid: Object.assign({ containLabel: true }, option.grid), tooltip: Object.assign({ renderMode: "richText" }, option.tooltip) });
  instance.setOption(Object.assign({ animation: false }, option, graphic));
  if (empty) area.dataset.empty = "1";
  drillOn(instance, id);
  area.dataset.ready = "1";
  tools.append(el("button", { type: "button", "data-export": "png", onclick: () => download(name + ".png", instance.getDataURL({ type: "png", backgroundColor: "#fff" })) }, "PNG"));
  return instance;
}

function chart(title, slug, option, unit) {
  const { box, tools } = panel(title, slug);
  const tooltip = Object.assign({ trigger: "axis" }, unit ? { valueFormatter: (v) => format(v, unit) } : {});
  return plot(box, tools, slug, Object.assign({ tooltip, legend: { type: "scroll" }, grid: { left: 78, right: 30, bottom: 48 } }, option), "chart-" + slug);
}

// Lines over periods; `y` names the value axis and its unit ({ name, unit }).
function lines(title, slug, groups, extra, y) {
  const grain = range().grain;
  const axis = y || { name: "Value", unit: "number" };
  const periods = periodsOf(groups);
  const series = [...groups.entries()].map(([name, points]) => Object.assign({ name, type: "line", data: points || [], showSymbol: false }, extra || {}));
  const instance = chart(title, slug, { xAxis: periodAxis(periods, grain), yAxis: valueAxis(axis.name, axis.unit), series }, axis.unit);
  markPartial(instance, periods, grain);
  return instance;
}

// A CSV of table rows that a spreadsheet cannot run: text starting with = + - @ tab or CR gets a
// leading ' (OWASP), except plain numbers such as -12.5; the rule of tenure/data/csv_safe.py.
const CSV_TRIGGER = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
function csvCell(value) {
  let text = Array.isArray(value) ? value.join("; ") : String(value ?? "");
  if (typeof value !== "number" && CSV_TRIGGER.test(text) && !PLAIN_NUMBER.test(text)) text = "'" + text;
  return '"' + text.replaceAll('"', '""') + '"';
}

function csvText(columns, rows) {
  return [columns.map(csvCell).join(","), ...rows.map((r) => columns.map((c) => csvCell(r[c])).join(","))].join("\n");
}

function table(title, slug, columns, rows, render) {
  const { box, tools } = panel(title, slug);
  const head = el("tr", {}, columns.map((c) => el("th", {}, c)));
  const body = rows.map((row) => el("tr", {}, columns.map((c) => el("td", {}, render ? render(c, row) : row[c] ?? ""))));
  box.append(el("table", { id: "table-" + slug }, el("thead", {}, head), el("tbody", {}, body)));
  if (!rows.length) box.append(el("p", { class: "empty" }, "Nothing in this range."));
  tools.append(el("button", { type: "button", "data-export": "csv", onclick: () => {
    download(slug + ".csv", URL.createObjectURL(new Blob([csvText(columns, rows)], { type: "text/csv" })));
  } }, "CSV"));
  return box;
}

// -- pages ---------------------------------------------------------------------------------------
const KPIS = [
  ["mrr", "MRR"], ["arr", "ARR"], ["nrr", "NRR"], ["grr", "GRR"], ["customer_churn_rate", "Customer churn"],
  ["customer_retention_rate", "Retention"], ["arpa", "ARPA"], ["clv_subscription", "CLV"], ["nps", "NPS"],
  ["csat", "CSAT"], ["ces", "CES"], ["stickiness", "DAU/MAU"], ["fcr", "FCR"],
];

const LOWER_IS_BETTER = new Set(["customer_churn_rate"]);

async function overview() {
  const r = range();
  const body = await metrics(KPIS.map((k) => k[0]), { by: "" });
  const cards = el("div", { class: "cards", id: "kpis" });
  if (r.by) content.append(el("p", { class: "unsplit", title: "Each card is one number for all accounts (in the filter); the charts on the other pages split by segment." }, `Cards show all accounts: not split by ${segmentLabel(r.by)}`));
  content.append(cards);
  for (const [name, label] of KPIS) {
    const rows = body.items.filter((r) => r.metric === name);
    const known = rows.filter((r) => r.value !== null);  // quarterly surveys leave months empty
    const last = known[known.length - 1];
    const before = known[known.length - 2];
    const unit = body.units[name];
    const value = last ? last.value : null;
    const change = last && before && last.value !== null && before.value !== null ? Number(last.value) - Number(before.value) : null;
    const spark = el("div", { class: "spark" });
    cards.append(el("div", { class: "card", "data-metric": name, "data-value": value === null ? "" : String(value), "data-period": last ? last.period_start : "" },
      el("div", { class: "label" }, label, " · ", last ? periodText(last.period_start, r.grain) : ""),
      el("div", { class: "value" }, format(value, unit)),
      el("div", { class: "change " + ((LOWER_IS_BETTER.has(name) ? -change : change) > 0 ? "up" : change ? "down" : "") }, change === null ? "no change data" : formatChange(change, unit) + " vs " + periodLabel(before.period_start, r.grain)),
      spark));
    echarts.init(spark).setOption({ animation: false, grid: { left: 0, right: 0, top: 2, bottom: 2 }, xAxis: { type: "category", show: false }, yAxis: { type: "value", show: false, scale: true }, series: [{ type: "line", showSymbol: false, connectNulls: true, data: rows.map((r) => [r.period_start, r.value === null ? null : Number(r.value)]) }] });
  }
  drillCards(cards);
}

async function revenue() {
  const r = range();
  const body = await metrics(["mrr", "mrr_new", "mrr_expansion", "mrr_contraction", "mrr_churned", "mrr_reactivation"]);
  segmentNote(lines("MRR", "mrr", seriesOf(body.items, "mrr", body.split), null, { name: "MRR", unit: "currency" }), applied(body));
  const moves = ["mrr_new", "mrr_expansion", "mrr_reactivation", "mrr_contraction", "mrr_churned"];
  const total = await metrics(moves, { by: "" });
  // A movement too small for the scale still draws a sliver that can be clicked (barMinHeight);
  // a zero draws nothing.
  const series = moves.map((m) => ({ name: m.replace("mrr_", ""), type: "bar", stack: "moves", barMinHeight: 3, data: ([...seriesOf(total.items, m, "").values()][0] || []).map((p) => (Array.isArray(p) && p[1] === 0 ? [p[0], null] : p)) }));
  const periods = periodsOf(new Map(series.map((x) => [x.name, x.data])));
  const movements = chart("MRR movements per period", "movements", { xAxis: periodAxis(periods, r.grain), yAxis: valueAxis("MRR change", "currency"), series }, "currency");
  markPartial(movements, periods, r.grain);
  segmentNote(movements, { by: false }, "The movements add up to the change of total MRR, so they are shown for all accounts.");
}

// Cohort retention colours diverge around 95%: warm below (customers lost), pale near it, calm
// blue-green at and above 100% (kept or expanded). The scale reaches the largest value, so a
// revenue cohort above 100% keeps its own colour and label instead of being clipped.
const RETENTION_ANCHORS = [[0, "#b2182b"], [60, "#ef8a62"], [85, "#fddbc7"], [95, "#f7f7f7"], [100, "#c7eae5"], [115, "#80cdc1"], [140, "#35978f"]];
function retentionColour(value) {
  const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const upper = RETENTION_ANCHORS.findIndex(([at]) => at >= value);
  if (upper <= 0) return RETENTION_ANCHORS[upper === 0 ? 0 : RETENTION_ANCHORS.length - 1][1];
  const [[a, from], [b, to]] = [RETENTION_ANCHORS[upper - 1], RETENTION_ANCHORS[upper]];
  const mix = rgb(from).map((c, i) => Math.round(c + ((rgb(to)[i] - c) * (value - a)) / (b - a)));
  return "#" + mix.map((c) => c.toString(16).padStart(2, "0")).join("");
}
function retentionScale(values) {
  const known = values.filter((v) => v !== null && v !== undefined);
  const max = Math.max(100, ...known.map((v) => Math.ceil(v / 10) * 10));
  const color = Array.from({ length: 29 }, (_, i) => retentionColour((max * i) / 28));
  return { visualMap: { type: "continuous", min: 0, max, calculable: true, orient: "horizontal", left: "center", bottom: 0, text: [`${max}% kept`, "0%"], inRange: { color } } };
}

async function retention() {
  const r = range();
  const body = await metrics(["customer_churn_rate", "customer_retention_rate"]);
  segmentNote(lines("Customer churn rate", "churn", seriesOf(body.items, "customer_churn_rate", body.split), null, { name: "Churn rate", unit: "percent" }), applied(body));
  segmentNote(lines("Customer retention rate", "retention", seriesOf(body.items, "customer_retention_rate", body.split), null, { name: "Retention rate", unit: "percent" }), applied(body));
  const cohorts = await api("/api/cohorts", { from: r.from, to: r.to, where: r.where });
  for (const [kind, field] of [["logos", "retention"], ["revenue", "revenue_retention"]]) {
    const names = [...new Set(cohorts.map((c) => c.cohort))];
    const offsets = [...new Set(cohorts.map((c) => c.offset))].sort((a, b) => a - b);
    const data = cohorts.map((c) => [offsets.indexOf(c.offset), names.indexOf(c.cohort), c[field] === null ? null : Number(Number(c[field]).toFixed(1))]);
    const heat = chart(`Cohort retention (${kind}, %)`, "cohorts-" + kind, Object.assign({ tooltip: { position: "top", valueFormatter: (v) => format(v, "percent") }, xAxis: { type: "category", data: offsets, name: "Months since first payment", nameLocation: "middle", nameGap: 28 }, yAxis: { type: "category", data: names, name: "First-paid cohort", nameLocation: "middle", nameGap: 62, axisLabel: { formatter: (c) => periodLabel(c, "month") } }, series: [{ type: "heatmap", data, label: { show: true, formatter: (p) => (p.value[2] === null ? "" : p.value[2].toFixed(0)) } }], grid: { left: 90, right: 30, bottom: 90 } }, retentionScale(data.map((d) => d[2]))));
    segmentNote(heat, { by: false }, "A cohort table has one row per cohort; use the filter to look at one segment.");
  }
  // One curve per segment of the picker's split (the API splits by an account attribute).
  const by = attributeSplit(r);
  const survival = await api("/api/survival", { by, where: r.where });
  const curves = new Map();
  for (const p of survival.curve) {
    const key = by ? String(p[by]) : "survival";
    if (!curves.has(key)) curves.set(key, []);
    curves.get(key).push([Number(p.duration), Number(p.survival)]);
  }
  const curve = chart("Account survival (Kaplan-Meier)", "survival", { xAxis: { type: "value", name: "Days since first payment", nameLocation: "middle", nameGap: 28 }, yAxis: { type: "value", max: 1, name: "Share of accounts still paying", nameLocation: "middle", nameGap: 52, axisLabel: { formatter: (v) => (100 * v).toFixed(0) + "%" } }, tooltip: { trigger: "axis", valueFormatter: (v) => (100 * v).toFixed(1) + "%" }, series: [...curves.entries()].map(([name, data]) => ({ name, type: "line", step: "end", showSymbol: false, data })) });
  segmentNote(curve, { by: by === r.by }, "Survival splits by account attributes only.");
  await scoreCharts(r);
}

// Health bands and churn risk from the account snapshot (the worklist's scores), for the accounts
// in the filter; a band's bar opens its accounts.
const SCORE_CHARTS = [["health", "Accounts by health band", "Health band"], ["churn", "Accounts by churn risk (%)", "Churn probability (%)"]];
async function scoreCharts(r) {
  for (const [score, title, axis] of SCORE_CHARTS) {
    let bands;
    for (let attempt = 0; ; attempt++) { // the snapshot is built after start-up and after loads
      try { bands = await api("/api/scores/distribution", { score, where: r.where }); break; } catch (error) {
        if (error.status !== 503 || attempt >= 5) throw error;
        await new Promise((done) => setTimeout(done, 1000 * (error.retryAfter || 5)));
      }
    }
    const colours = { red: "#c0392b", yellow: "#d4a017", green: "#1a7f37" };
    const data = bands.map((b) => ({ value: b.accounts, itemStyle: colours[b.band] ? { color: colours[b.band] } : undefined }));
    const drawn = chart(title, "score-" + score, { xAxis: { type: "category", data: bands.map((b) => b.band), name: axis, nameLocation: "middle", nameGap: 28 }, yAxis: valueAxis("Accounts", "count"), series: [{ name: "accounts", type: "bar", data, label: { show: true, position: "top" } }] }, "count");
    segmentNote(drawn, { by: false }, "One bar per band for all accounts in the filter; use the filter to look at one segment.");
  }
}

async function engagement() {
  const r = range();
  const body = await metrics(["dau", "wau", "mau", "stickiness", "average_session_seconds"]);
  const active = splitSeries(body.items, [["dau", "DAU"], ["wau", "WAU"], ["mau", "MAU"]], body.split);
  const usage = "Usage metrics split by account attributes; the billing segments split revenue metrics only.";
  segmentNote(lines("Active users", "active", active, null, { name: "Active users", unit: "count" }), applied(body), usage);
  segmentNote(lines("Stickiness (DAU/MAU)", "stickiness", seriesOf(body.items, "stickiness", body.split), null, { name: "DAU/MAU", unit: "percent" }), applied(body), usage);
  segmentNote(lines("Average session", "sessions", seriesOf(body.items, "average_session_seconds", body.split), null, { name: "Session length", unit: "seconds" }), applied(body), usage);
  await funnelChart(r);
  await adoptionChart(r);
  await lifecycleCharts(r);
  await retentionTriangle(r);
}

// The funnel over the range: per step, the people who reached it and (stacked above) those who
// did the step before but not this one; with a segment split, a pair of bars per segment.
const FUNNEL_STEPS = ["visit", "signup", "onboarding_step", "converted_to_paid"];
const FUNNEL_WINDOW = 30;
async function funnelChart(picked) {
  const r = Object.assign({}, picked, { by: attributeSplit(picked) });
  const rows = await api("/api/funnel", { steps: FUNNEL_STEPS, window: FUNNEL_WINDOW, from: r.from, to: r.to, by: r.by, where: r.where });
  const groups = r.by ? [...new Set(rows.map((row) => String(row[r.by])))].sort() : [""];
  const series = groups.flatMap((group) => {
    const mine = rows.filter((row) => !r.by || String(row[r.by]) === group);
    const reached = FUNNEL_STEPS.map((_, i) => mine.filter((row) => row.step === i + 1).reduce((sum, row) => sum + row.people, 0));
    const dropped = reached.map((n, i) => (i === 0 ? null : reached[i - 1] - n));
    const name = (what) => (r.by ? group + SPLIT + what : what);
    return [
      { name: name("reached"), type: "bar", stack: group || "all", data: reached, label: { show: true, position: "inside" } },
      { name: name("dropped"), type: "bar", stack: group || "all", data: dropped, itemStyle: { opacity: 0.35 } },
    ];
  });
  const drawn = chart(`Funnel: visit > signup > onboarding > paid (${FUNNEL_WINDOW} days)`, "funnel", { xAxis: { type: "category", data: FUNNEL_STEPS, name: "Step", nameLocation: "middle", nameGap: 28 }, yAxis: valueAxis("People", "count"), series }, "count");
  segmentNote(drawn, { by: r.by === picked.by }, "The funnel splits by account attributes only.");
}

// Feature adoption in the last month of the range: a bar per feature, per segment when split.
async function adoptionChart(picked) {
  const r = Object.assign({}, picked, { by: attributeSplit(picked) });
  const adoption = await api("/api/metrics", { names: "feature_adoption_rate", by: ["feature", r.by], from: r.to, to: r.to, where: r.where });
  const features = [...new Set(adoption.items.map((i) => i.feature))].sort();
  const groups = r.by ? [...new Set(adoption.items.map((i) => String(i[r.by])))].sort() : ["adoption"];
  const series = groups.map((group) => {
    const values = new Map(adoption.items.filter((i) => !r.by || String(i[r.by]) === group).map((i) => [i.feature, i.value === null ? null : Number(i.value)]));
    return { name: group, type: "bar", data: features.map((f) => values.get(f) ?? null) };
  });
  const drawn = chart(`Feature adoption, ${periodText(r.to, "month")}`, "adoption", { xAxis: { type: "category", data: features, name: "Feature", nameLocation: "middle", nameGap: 28 }, yAxis: valueAxis("Adoption", "percent"), series }, "percent");
  segmentNote(drawn, { by: r.by === picked.by }, "Adoption splits by account attributes only.");
}

// Lifecycle (PostHog): new, returning and resurrecting stacked above zero, dormant below it.
const LIFECYCLE = [["new", "New"], ["returning", "Returning"], ["resurrecting", "Resurrecting"], ["dormant", "Dormant"]];
async function lifecycleCharts(r) {
  const names = LIFECYCLE.flatMap(([state]) => ["lifecycle_" + state, "account_lifecycle_" + state]);
  const body = await metrics(names, { by: "" });
  for (const [prefix, who, slug] of [["lifecycle_", "users", "lifecycle"], ["account_lifecycle_", "accounts", "account-lifecycle"]]) {
    const periods = [...new Set(body.items.filter((i) => i.metric === prefix + "new").map((i) => i.period_start))];
    const series = LIFECYCLE.map(([state, label]) => {
      const values = new Map(body.items.filter((i) => i.metric === prefix + state).map((i) => [i.period_start, Number(i.value)]));
      return { name: label, type: "bar", stack: "lifecycle", data: periods.map((p) => values.get(p) ?? 0) };
    });
    const drawn = chart(`Lifecycle of ${who} (per ${r.grain})`, slug, { xAxis: periodAxis(periods, r.grain), yAxis: valueAxis(who[0].toUpperCase() + who.slice(1), "count"), series }, "count");
    markPartial(drawn, periods, r.grain);
    segmentNote(drawn, { by: false }, "Lifecycle states are counted for all users or accounts.");
  }
}

async function retentionTriangle(r) {
  const grain = ["day", "week", "month"].includes(r.grain) ? r.grain : "month";
  const periods = 6;
  const body = await api("/api/engagement/retention", { grain, periods, from: r.from, to: r.to, where: r.where });
  const offsets = Array.from({ length: periods + 1 }, (_, n) => String(n));
  const cohorts = new Map();
  for (const row of body.items) {
    if (!cohorts.has(row.cohort_start)) cohorts.set(row.cohort_start, { cohort: row.cohort_start, users: row.cohort_size });
    cohorts.get(row.cohort_start)[String(row.offset)] = row.rate === null ? "–" : Number(row.rate).toFixed(1) + "%";
  }
  const box = table(`User retention by first-${grain} cohort (% active ${grain}s later)`, "retention-triangle", ["cohort", "users", ...offsets], [...cohorts.values()]);
  segmentNote(box, { by: false }, "The cohorts are of all users in the filter; use the filter to look at one segment.");
}

async function voice() {
  const r = range();
  const body = await metrics(["nps", "csat", "ces"]);
  // Surveys are sparse (quarterly NPS leaves months empty): lines join the known points and every
  // point has a marker, so a single answer period still shows.
  const sparse = { showSymbol: true, symbolSize: 7, connectNulls: true };
  const answers = "Survey answers split by account attributes; the billing segments split revenue metrics only.";
  segmentNote(lines("NPS", "nps", seriesOf(body.items, "nps", body.split), sparse, { name: "NPS (−100 to 100)", unit: "score" }), applied(body), answers);
  segmentNote(lines("CSAT and CES", "csat", splitSeries(body.items, [["csat", "CSAT"], ["ces", "CES"]], body.split), sparse, { name: "Satisfied or easy", unit: "percent" }), applied(body), answers);
  const end = rangeEnd(r);
  const by = attributeSplit(r);
  for (const survey of ["nps", "csat", "ces"]) await distributionChart(survey, r, by, end, answers);
  // Invitations sent in the range, by the segment picker when it names an account attribute.
  const sent = { from: r.from, to: end, where: r.where };
  const rates = await api("/api/surveys/response-rates", Object.assign({ by }, sent)).catch(() => api("/api/surveys/response-rates", sent));
  const split = by && rates.length && by in rates[0] ? [by] : [];
  const ratesBox = table("Survey response rates", "response-rates", ["name", "touchpoint", "channel", ...split, "invitations", "responses", "response_rate"], rates, (c, row) => c === "response_rate" ? format(row[c], "percent") : row[c]);
  segmentNote(ratesBox, { by: !r.by || split.length > 0 }, `Invitations cannot be split by ${segmentLabel(r.by)}: it is not an account attribute.`);
  const feedback = await api("/api/feedback", { from: r.from, to: r.to, where: r.where, limit: 1000 });
  await feedbackSection(r, feedback);
  await drivers(Object.assign({}, r, { by }), feedback.items);
}

// The last day of the range's last month: the survey charts count answers up to it.
function rangeEnd(r) {
  const last = new Date(r.to);
  return new Date(Date.UTC(last.getUTCFullYear(), last.getUTCMonth() + 1, 0)).toISOString().slice(0, 10);
}

// Answers per score of one survey in the range, of the accounts in the filter; with an account
// attribute picked, a bar per segment and score. A bar opens the answers behind it.
async function distributionChart(survey, r, by, end, reason) {
  const counts = await api("/api/surveys/distribution", { survey, from: r.from, to: end, by, where: r.where });
  const scores = [...new Set(counts.map((c) => Number(c.score)))].sort((a, b) => a - b);
  const groups = by ? [...new Set(counts.map((c) => String(c[by])))].sort() : ["answers"];
  const series = groups.map((group) => {
    const mine = new Map(counts.filter((c) => !by || String(c[by]) === group).map((c) => [Number(c.score), c.answers]));
    return { name: group, type: "bar", data: scores.map((score) => mine.get(score) ?? null) };
  });
  const drawn = chart(`${survey.toUpperCase()} score distribution`, "distribution-" + survey, { xAxis: { type: "category", data: scores, name: "Score", nameLocation: "middle", nameGap: 28 }, yAxis: valueAxis("Answers", "count"), series }, "count");
  segmentNote(drawn, { by: by === r.by }, reason);
}

// Detractor drivers: the themes and phrases that separate NPS detractors from promoters, each
// with its z-score and the comments behind it (expanded in place; text nodes only).
async function drivers(r, known) {
  const page = await api("/api/feedback/drivers", { from: r.from, to: r.to, by: r.by, where: r.where, limit: 15 });
  const text = new Map(known.map((c) => [c.response_id, c]));
  const rows = page.items.map((d) => Object.assign({}, d, { comments: d.comment_ids.join(" ") }, r.by ? { [r.by]: d.segment[r.by] } : {}));
  table("Detractor drivers (NPS, z > 0: detractors)", "drivers", [...(r.by ? [r.by] : []), "term", "kind", "z", "detractor_count", "promoter_count", "comments"], rows, (c, row) => {
    if (c === "z") return Number(row.z).toFixed(2);
    if (c !== "comments") return row[c];
    return el("details", {}, el("summary", {}, `${row.comment_ids.length} comments`),
      el("ul", {}, row.comment_ids.map((id) => {
        const comment = text.get(id);
        return el("li", { "data-response": id }, comment ? `${comment.score} · ${comment.comment}` : id);
      })));
  });
}

async function support() {
  const r = range();
  const body = await metrics(["fcr"]);
  segmentNote(lines("First-contact resolution", "fcr", seriesOf(body.items, "fcr", body.split), null, { name: "Resolved at first contact", unit: "percent" }), applied(body), "Tickets split by account attributes; the billing segments split revenue metrics only.");
  await ticketTimes(r);
}

// Medians and a p90 on two axes: a segment split would triple the lines, so they are shown for
// all accounts in the filter (the note says so).
async function ticketTimes(r) {
  const body = await metrics(["resolution_hours_median", "resolution_hours_p90", "first_response_hours_median"], { by: "" });
  const tickets = "Ticket times are shown for all accounts in the filter: medians and a p90 on two axes would not read split by segment.";
  // Medians and the p90 differ by an order of magnitude: the p90 has its own axis on the right.
  const one = (name) => [...seriesOf(body.items, name).values()][0] || [];
  const series = [
    { name: "first response, median", type: "line", showSymbol: false, data: one("first_response_hours_median") },
    { name: "resolution, median", type: "line", showSymbol: false, data: one("resolution_hours_median") },
    { name: "resolution, p90 (right axis)", type: "line", showSymbol: false, lineStyle: { type: "dashed" }, yAxisIndex: 1, data: one("resolution_hours_p90") },
  ];
  const periods = periodsOf(new Map(series.map((x) => [x.name, x.data])));
  const times = chart("Hours to first response and resolution", "times", { xAxis: periodAxis(periods, r.grain), yAxis: [valueAxis("Median", "hours"), valueAxis("p90", "hours", { position: "right", nameGap: 48, splitLine: { show: false } })], grid: { left: 78, right: 78, bottom: 48 }, series }, "hours");
  markPartial(times, periods, r.grain);
  segmentNote(times, { by: false }, tickets);
}

// -- goals ---------------------------------------------------------------------------------------
// Goals of four kinds: a catalog metric (optionally for one segment), a number kept by hand, done
// or not, and a task list. Editors create, edit (the same form) and delete them; everyone sees
// each goal's progress and its history chart.
function goalVisual(goal) {
  const share = Number(goal.progress);
  if (goal.display === "pie") {
    const holder = el("div", { class: "goal-pie" });
    setTimeout(() => echarts.init(holder).setOption({ animation: false, series: [{ type: "pie", radius: ["50%", "80%"], label: { show: false }, data: [{ value: share, name: "done" }, { value: 100 - share, name: "left", itemStyle: { color: "#e5e7eb" } }] }] }), 0);
    return holder;
  }
  if (goal.display === "thermometer") return el("div", { class: "thermo" }, el("div", { style: `height:${share}%` }));
  return el("progress", { max: "100", value: String(share) });
}

const GOAL_KINDS = [["number", "a number kept by hand"], ["metric", "a metric from the catalog"], ["boolean", "done or not"], ["tasks", "a task list"]];
const GOAL_FIELDS = { metric: ["metric", "segment", "values"], number: ["unit", "values", "current"], boolean: ["done"], tasks: ["tasks"] };

function goalWords(goal, catalog) {
  const entry = catalog.get(goal.metric);
  const what = goal.kind === "metric" ? [entry ? entry.description || goal.metric : goal.metric, goal.segment_by ? ` for ${goal.segment_by} = ${goal.segment_value}` : ""].join("") : GOAL_KINDS.find(([k]) => k === goal.kind)[1];
  if (goal.kind === "tasks") return `${what}: ${goal.value ?? 0} of ${goal.tasks.length} tasks done`;
  if (goal.kind === "boolean") return `${what}: ${goal.done ? "done" : "not done yet"}`;
  return `${what}: ${format(goal.value, goal.unit)} now, from ${format(goal.start_value, goal.unit)} to ${format(goal.target_value, goal.unit)}`;
}

async function goals() {
  const editor = page.dataset.role === "editor" || page.dataset.role === "admin";
  const catalog = new Map((await api("/api/metrics/catalog")).map((m) => [m.name, m]));
  const attributes = JSON.parse(page.dataset.attributes || "[]");
  const list = el("div", { id: "goals" });
  if (!editor) {
    content.append(el("p", { class: "note" }, "You can read goals; an editor key can create and change them."), list);
    await drawGoals(list, catalog, null);
    return;
  }
  const field = (group, ...children) => el("label", { class: "field", "data-group": group || null }, ...children);
  const areas = [...new Set([...catalog.values()].map((m) => m.area))];
  const metric = el("select", { name: "metric" }, areas.map((area) => el("optgroup", { label: area },
    [...catalog.values()].filter((m) => m.area === area).map((m) => el("option", { value: m.name }, `${m.name} (${unitWords(m.unit) || m.unit})`)))));
  const unitShown = el("span", { id: "goal-unit", class: "unit" });
  const segmentBy = el("select", { name: "segment_by" }, el("option", { value: "" }, "(all accounts)"), attributes.map((a) => el("option", { value: a }, a)));
  const segmentValues = el("datalist", { id: "segment-values" });
  const segmentValue = el("input", { name: "segment_value", list: "segment-values", placeholder: "value", maxlength: "200" });
  const kind = el("select", { name: "kind" }, GOAL_KINDS.map(([k, words]) => el("option", { value: k }, `${k}: ${words}`)));
  const heading = el("h2", {}, "New goal");
  const submit = el("button", { type: "submit" }, "Create");
  const cancel = el("button", { type: "button", hidden: "hidden" }, "Cancel");
  const today = new Date().toISOString().slice(0, 10);
  const form = el("form", { id: "new-goal", class: "panel" }, heading,
    field(null, "Name ", el("input", { name: "name", required: "required", maxlength: "200" })),
    field(null, "Kind ", kind),
    field("metric", "Metric ", metric, " ", unitShown),
    field("segment", "Segment ", segmentBy, " = ", segmentValue, segmentValues),
    field("unit", "Unit ", el("select", { name: "unit" }, ["number", "currency", "percent"].map((u) => el("option", { value: u }, u)))),
    field("values", "Start ", el("input", { name: "start_value", type: "number", step: "any", value: "0" })),
    field("values", "Target ", el("input", { name: "target_value", type: "number", step: "any", value: "100" })),
    field("current", "Now ", el("input", { name: "current_value", type: "number", step: "any" })),
    field("done", el("input", { name: "done", type: "checkbox" }), " done"),
    field("tasks", "Tasks, one a line ", el("textarea", { name: "tasks", rows: "3", cols: "30" })),
    field(null, "Owner ", el("input", { name: "owner", maxlength: "200" })),
    field(null, "From ", el("input", { name: "start_date", type: "date", required: "required", value: today })),
    field(null, "Due ", el("input", { name: "due_date", type: "date", required: "required" })),
    field(null, "Show as ", el("select", { name: "display" }, ["bar", "pie", "thermometer"].map((k) => el("option", {}, k)))),
    " ", submit, " ", cancel);
  let editing = null; // the goal being edited, or null for a new one

  function showFields() {
    const shown = new Set(GOAL_FIELDS[kind.value]);
    for (const label of form.querySelectorAll("[data-group]")) label.hidden = !shown.has(label.dataset.group);
    const entry = catalog.get(metric.value);
    unitShown.textContent = entry ? `in ${unitWords(entry.unit) || entry.unit} · ${entry.description}` : "";
  }
  async function suggestValues() {
    segmentValues.replaceChildren();
    if (!segmentBy.value || !metric.value) return;
    const month = range().to;
    const rows = await api("/api/metrics", { names: metric.value, by: segmentBy.value, from: month, to: month }).catch(() => ({ items: [] }));
    segmentValues.replaceChildren(...[...new Set(rows.items.map((r) => String(r[segmentBy.value])))].map((v) => el("option", { value: v })));
  }
  kind.addEventListener("change", showFields);
  metric.addEventListener("change", () => { showFields(); suggestValues(); });
  segmentBy.addEventListener("change", suggestValues);

  function reset() {
    editing = null;
    form.reset();
    heading.textContent = "New goal";
    submit.textContent = "Create";
    cancel.hidden = true;
    showFields();
  }
  cancel.addEventListener("click", reset);

  function edit(goal) {
    editing = goal;
    const set = (name, value) => { form.elements.namedItem(name).value = value ?? ""; };
    for (const name of ["name", "kind", "owner", "start_value", "target_value", "current_value", "start_date", "due_date", "display", "segment_by", "segment_value"]) set(name, goal[name]);
    if (goal.metric) set("metric", goal.metric);
    if (goal.kind === "number") set("unit", goal.unit);
    form.elements.namedItem("done").checked = goal.done;
    set("tasks", goal.tasks.map((t) => (t.done ? "[x] " : "") + t.title).join("\n"));
    heading.textContent = `Edit "${goal.name}"`;
    submit.textContent = "Save";
    cancel.hidden = false;
    showFields();
    suggestValues();
    form.scrollIntoView();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    const number = (name) => (data[name] === "" || data[name] === undefined ? null : Number(data[name]));
    const goal = { name: data.name.trim(), kind: data.kind, owner: data.owner.trim() || null, start_date: data.start_date, due_date: data.due_date, display: data.display,
      metric: null, segment_by: null, segment_value: null, current_value: null };
    if (data.kind === "metric") Object.assign(goal, { metric: data.metric, segment_by: data.segment_by || null, segment_value: data.segment_by ? data.segment_value.trim() : null });
    if (data.kind === "metric" || data.kind === "number") Object.assign(goal, { start_value: number("start_value") ?? 0, target_value: number("target_value") ?? 0 });
    if (data.kind === "number") Object.assign(goal, { unit: data.unit, current_value: number("current_value") });
    if (data.kind === "boolean") goal.done = form.elements.namedItem("done").checked;
    if (data.kind === "tasks") goal.tasks = data.tasks.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => ({ title: line.replace(/^\[x\]\s*/i, ""), done: /^\[x\]/i.test(line) }));
    try {
      if (editing) await api(`/api/goals/${editing.id}`, {}, { method: "PATCH", body: JSON.stringify(goal) });
      else await api("/api/goals", {}, { method: "POST", body: JSON.stringify(goal) });
      document.getElementById("error").hidden = true;
      reset();
      await actions.redraw();
    } catch (error) { fail(error.message); }
  });
  const actions = { edit, redraw: () => drawGoals(list, catalog, actions) };
  content.append(form, list);
  showFields();
  await drawGoals(list, catalog, actions);
}

// Each goal with its progress, its task list (ticked in place by editors) and its history: the
// metric month by month since the goal started (for its segment), or the values recorded at each
// change for a goal kept by hand; the target is a dashed line.
async function drawGoals(list, catalog, actions) {
  const body = await api("/api/goals", { limit: 500 });
  CURRENCY = body.reporting_currency || CURRENCY;
  const charts = [];
  list.replaceChildren(...body.items.map((goal) => {
    const history = el("div", { class: "chart goal-history", id: `goal-history-${goal.id}` });
    charts.push([goal, history]);
    const tasks = goal.kind === "tasks" ? el("ul", { class: "tasks" }, goal.tasks.map((task, i) => {
      const box = el("input", { type: "checkbox", checked: task.done ? "checked" : null, disabled: actions ? null : "disabled", "aria-label": task.title });
      box.addEventListener("change", async () => {
        const next = goal.tasks.map((t, j) => (j === i ? Object.assign({}, t, { done: box.checked }) : t));
        try { await api(`/api/goals/${goal.id}`, {}, { method: "PATCH", body: JSON.stringify({ tasks: next }) }); await actions.redraw(); } catch (error) { fail(error.message); }
      });
      return el("li", {}, el("label", {}, box, " ", task.title));
    })) : null;
    const buttons = actions ? el("span", { class: "tools" },
      el("button", { type: "button", "data-action": "edit", onclick: () => actions.edit(goal) }, "Edit"),
      el("button", { type: "button", "data-action": "delete", onclick: async () => {
        if (!confirm(`Delete the goal "${goal.name}" and its history?`)) return;
        try { await api(`/api/goals/${goal.id}`, {}, { method: "DELETE" }); await actions.redraw(); } catch (error) { fail(error.message); }
      } }, "Delete")) : null;
    return el("section", { class: "panel goal", "data-goal": goal.name, "data-goal-id": String(goal.id), "data-kind": goal.kind },
      goalVisual(goal),
      el("div", { class: "goal-body" }, buttons, el("h2", {}, goal.name),
        el("p", { class: "goal-summary" }, goalWords(goal, catalog)),
        el("p", {}, `${Number(goal.progress).toFixed(0)}% (expected ${Number(goal.expected).toFixed(0)}%) · `, el("strong", { class: "status" }, goal.status), ` · due ${goal.due_date}`, goal.owner ? ` · ${goal.owner}` : ""),
        tasks, history));
  }));
  if (!body.items.length) list.append(el("p", { class: "empty" }, "No goals yet."));
  for (const [goal, area] of charts) await goalHistory(goal, area);
}

async function goalHistory(goal, area) {
  let points;
  let x;
  if (goal.kind === "metric") {
    const from = goal.start_date.slice(0, 8) + "01";
    const to = range().to < from ? from : range().to;
    const rows = await api("/api/metrics", { names: goal.metric, by: goal.segment_by || "", from, to, limit: 10000 });
    points = rows.items.filter((r) => !goal.segment_by || String(r[goal.segment_by]) === goal.segment_value).map((r) => [r.period_start, r.value === null ? null : Number(r.value)]);
    x = periodAxis(points.map((p) => p[0]), "month");
  } else {
    const recorded = await api(`/api/goals/${goal.id}/history`);
    const share = goal.kind === "tasks" || goal.kind === "boolean";
    points = recorded.map((h) => [h.recorded_at.slice(0, 16).replace("T", " "), share ? h.progress : h.value]);
    x = { type: "category", data: points.map((p) => p[0]), name: "Recorded (UTC)", nameLocation: "middle", nameGap: 28 };
  }
  const share = goal.kind === "tasks" || goal.kind === "boolean";
  const unit = share ? "percent" : goal.unit;
  const target = share ? 100 : goal.target_value;
  const instance = echarts.init(area);
  const empty = points.length ? {} : { graphic: { type: "text", left: "center", top: "middle", style: { text: "No history yet", fontSize: 14, fill: "#5b6478" } } };
  instance.setOption({ ...empty, animation: false, grid: { left: 78, right: 30, top: 20, bottom: 48 }, tooltip: { trigger: "axis", valueFormatter: (v) => format(v, unit) },
    xAxis: x, yAxis: valueAxis(share ? "Done" : goal.metric || "Value", unit, share ? { min: 0, max: 100 } : { scale: true, min: (v) => Math.min(v.min, target), max: (v) => Math.max(v.max, target) }),
    series: [{ name: share ? "done" : "value", type: "line", showSymbol: true, connectNulls: true, data: points,
      markLine: { symbol: "none", silent: true, lineStyle: { type: "dashed", color: "#1a7f37" }, label: { formatter: () => "target " + format(target, unit) }, data: [{ yAxis: target }] } }] });
  area.dataset.rendered = "1";
}

// -- accounts ------------------------------------------------------------------------------------
// The worklist: the account snapshot, searched, filtered, sorted and paged by the API. Its state
// lives in the address (search, band, cancelling, sort, order, offset) so a reload or a shared
// link shows the same list.
const ACCOUNT_COLUMNS = [
  // [label, sort column or null, default order when first clicked]
  ["Account", "name", "asc"], ["Owner", "owner", "asc"], ["Plan", "paid_plan", "asc"],
  ["ARR", "arr", "desc"], ["Next renewal", "next_renewal", "asc"], ["Health", "health", "asc"],
  ["Churn risk", "churn_probability", "desc"], ["Drivers", null, null],
  ["Last activity", "last_activity", "desc"], ["Open tickets", "open_tickets", "desc"], ["Last NPS", "last_nps", "asc"],
];
const PAGE_SIZE = 50;

function count(n) { return Number(n).toLocaleString("en-US"); }
function money(value, currency) { return value === null || value === undefined ? "–" : Number(value).toLocaleString("en-US", { maximumFractionDigits: 0 }) + " " + currency; }
function when(text) { return text ? text.slice(0, 16).replace("T", " ") : "–"; }
function localTime(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
function freshness(info) {
  const taken = "snapshot of " + localTime(info.refreshed_at);
  return info.stale ? `${taken} · stale: a load arrived since; refreshing` : `${taken}, refreshed after the last load`;
}
function healthCell(row) {
  if (row.health === null) return "–";
  const trend = row.trend === null ? "" : ` ${row.trend >= 0 ? "▲ +" : "▼ "}${Number(row.trend).toFixed(1)}`;
  return el("span", { class: "health" }, Number(row.health).toFixed(0), " ", el("span", { class: "band-" + row.band }, row.band), el("span", { class: "trend" }, trend));
}
function driverList(title, items) {
  if (!items || !items.length) return null;
  return el("div", { class: "drivers" }, el("span", { class: "label" }, title), el("ul", {}, items.slice(0, 3).map((d) => el("li", {}, d))));
}
function churnCell(row) { return row.churn_probability === null ? "–" : (100 * Number(row.churn_probability)).toFixed(0) + "%"; }
function npsCell(row) { return row.last_nps === null ? "–" : `${Number(row.last_nps).toFixed(0)} (${row.last_nps_at.slice(0, 10)})`; }

function accountCells(row, currency) {
  return [
    el("a", { href: "/accounts/" + encodeURIComponent(row.account_id), class: "account-link" }, row.name || row.account_id),
    row.owner ?? "–",
    row.paid_plan ?? "–",
    money(row.arr, currency),
    row.scheduled_churn_on ? el("span", { class: "churning" }, "churns " + row.scheduled_churn_on) : row.next_renewal ?? "–",
    healthCell(row),
    churnCell(row),
    [driverList("health", row.health_drivers), driverList("churn", row.churn_drivers)],
    when(row.last_activity),
    String(row.open_tickets),
    npsCell(row),
  ];
}

async function accounts() {
  const state = {
    search: query.get("search") || "",
    band: query.get("band") || "",
    cancelling: query.get("cancelling") === "true",
    sort: query.get("sort") || "churn_probability",
    order: query.get("order") === "asc" ? "asc" : "desc",
    offset: Math.max(0, Number(query.get("offset")) || 0),
  };
  const search = el("input", { type: "search", name: "search", placeholder: "name or id", value: state.search });
  const band = el("select", { name: "band" }, ["", "red", "yellow", "green"].map((b) => el("option", { value: b, selected: b === state.band ? "selected" : null }, b || "all bands")));
  const cancelling = el("input", { type: "checkbox", name: "cancelling", checked: state.cancelling ? "checked" : null });
  const filters = el("form", { id: "account-filters", class: "filters" },
    el("label", {}, "Search ", search), " ", el("label", {}, "Band ", band), " ",
    el("label", {}, cancelling, " cancelling only"), " ", el("button", { type: "submit" }, "Apply"));
  const fresh = el("p", { id: "freshness", class: "freshness" });
  const views = await savedViews("accounts", () => {
    const params = { sort: state.sort, order: state.order };
    if (state.search) params.search = state.search;
    if (state.band) params.band = state.band;
    if (state.cancelling) params.cancelling = "true";
    return params;
  }, (params) => {
    Object.assign(state, { search: params.search || "", band: params.band || "", cancelling: params.cancelling === "true", sort: params.sort || "churn_probability", order: params.order === "asc" ? "asc" : "desc", offset: 0 });
    search.value = state.search;
    band.value = state.band;
    cancelling.checked = state.cancelling;
    update();
  });
  const { box, tools } = panel("Accounts", "accounts");
  const list = el("div", { id: "worklist" });
  const pager = el("div", { class: "pager" });
  box.append(views, filters, fresh, list, pager);
  // Accounts that have already given notice: saved or not, they are a different job.
  const { box: leavingBox } = panel("Already cancelling", "cancelling");
  const leaving = el("div", { id: "cancelling-list", class: "scroll" });
  leavingBox.append(el("p", { class: "freshness" }, "Accounts with a scheduled cancellation, soonest first; the worklist above leaves them out."), leaving);
  let shown = { items: [], reporting_currency: "" };

  tools.append(el("button", { type: "button", "data-export": "csv", onclick: () => {
    const columns = ["account_id", "name", "owner", "paid_plan", "arr", "next_renewal", "scheduled_churn_on", "health", "band", "trend", "churn_probability", "health_drivers", "churn_drivers", "last_activity", "open_tickets", "last_nps"];
    const quote = (v) => '"' + String(v ?? "").replaceAll('"', '""') + '"';
    const text = [columns.map(quote).join(","), ...shown.items.map((r) => columns.map((c) => quote(Array.isArray(r[c]) ? r[c].join("; ") : r[c])).join(","))].join("\n");
    download("accounts.csv", URL.createObjectURL(new Blob([text], { type: "text/csv" })));
  } }, "CSV"));

  function remember() {
    const q = new URLSearchParams();
    if (state.search) q.set("search", state.search);
    if (state.band) q.set("band", state.band);
    if (state.cancelling) q.set("cancelling", "true");
    q.set("sort", state.sort);
    q.set("order", state.order);
    if (state.offset) q.set("offset", String(state.offset));
    history.replaceState(null, "", "?" + q.toString());
  }

  async function draw() {
    let body;
    try {
      body = await api("/api/accounts", { search: state.search, band: state.band, cancelling: state.cancelling ? "true" : "false", sort: state.sort, order: state.order, limit: PAGE_SIZE, offset: state.offset });
    } catch (error) {
      if (error.status !== 503) throw error;
      fresh.textContent = error.message;
      list.replaceChildren();
      setTimeout(() => draw().catch((e) => fail(e.message)), 1000 * (error.retryAfter || 5));
      return;
    }
    shown = body;
    fresh.textContent = freshness(body.snapshot);
    fresh.classList.toggle("stale", body.snapshot.stale);
    const head = el("tr", {}, ACCOUNT_COLUMNS.map(([label, column, first]) => {
      if (!column) return el("th", {}, label);
      const active = state.sort === column;
      const arrow = active ? (state.order === "asc" ? " ▲" : " ▼") : "";
      const text = label === "ARR" ? `ARR (${body.reporting_currency})` : label;
      return el("th", { "data-sort": column, "aria-sort": active ? (state.order === "asc" ? "ascending" : "descending") : null },
        el("button", { type: "button", class: "sort", onclick: () => {
          if (active) state.order = state.order === "asc" ? "desc" : "asc";
          else { state.sort = column; state.order = first; }
          state.offset = 0;
          update();
        } }, text + arrow));
    }));
    const rows = body.items.map((row) => el("tr", { "data-account": row.account_id }, accountCells(row, body.reporting_currency).map((cell, i) => el("td", { class: ACCOUNT_COLUMNS[i][1] === null ? "drivers-cell" : null }, cell))));
    const grid = el("table", { id: "table-accounts", "data-sort": state.sort, "data-order": state.order, "data-offset": String(state.offset), "data-total": String(body.total), "data-search": state.search }, el("thead", {}, head), el("tbody", {}, rows));
    list.replaceChildren(grid);
    if (!rows.length) list.append(el("p", { class: "empty" }, "No account matches."));
    const first = body.total ? state.offset + 1 : 0;
    const last = state.offset + body.items.length;
    pager.replaceChildren(
      el("button", { type: "button", "data-page": "previous", disabled: state.offset === 0 ? "disabled" : null, onclick: () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); update(); } }, "← previous"),
      el("span", { class: "range" }, `${count(first)}–${count(last)} of ${count(body.total)}`),
      el("button", { type: "button", "data-page": "next", disabled: last >= body.total ? "disabled" : null, onclick: () => { state.offset += PAGE_SIZE; update(); } }, "next →"));
    await drawLeaving();
  }

  async function drawLeaving() {
    leavingBox.hidden = state.cancelling; // "cancelling only" shows them in the worklist itself
    if (state.cancelling) return;
    const gone = await api("/api/accounts", { search: state.search, band: state.band, cancelling: "true", sort: "scheduled_churn_on", order: "asc", limit: 100 });
    const head = el("tr", {}, ACCOUNT_COLUMNS.map(([label]) => el("th", {}, label === "ARR" ? `ARR (${gone.reporting_currency})` : label)));
    const rows = gone.items.map((row) => el("tr", { "data-account": row.account_id }, accountCells(row, gone.reporting_currency).map((cell, i) => el("td", { class: ACCOUNT_COLUMNS[i][1] === null ? "drivers-cell" : null }, cell))));
    leaving.replaceChildren(el("table", { id: "table-cancelling", "data-total": String(gone.total) }, el("thead", {}, head), el("tbody", {}, rows)));
    if (gone.total > gone.items.length) leaving.append(el("p", { class: "empty" }, `the first ${gone.items.length} of ${count(gone.total)}; tick "cancelling only" to page through them`));
    if (!rows.length) leaving.append(el("p", { class: "empty" }, "No account has a scheduled cancellation."));
  }

  function update() {
    remember();
    draw().catch((error) => fail(error.message));
  }

  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    state.search = search.value.trim();
    state.band = band.value;
    state.cancelling = cancelling.checked;
    state.offset = 0;
    update();
  });
  band.addEventListener("change", () => filters.requestSubmit());
  cancelling.addEventListener("change", () => filters.requestSubmit());
  await draw();
}

function facts(pairs) {
  return el("dl", { class: "facts" }, pairs.filter(([, value]) => value !== null && value !== undefined).flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
}

async function account() {
  const id = page.dataset.account;
  const [detail, timeline] = await Promise.all([
    api("/api/accounts/" + encodeURIComponent(id)).catch((error) => ({ missing: error.message })),
    api(`/api/accounts/${encodeURIComponent(id)}/timeline`).catch((error) => ({ missing: error.message })),
  ]);
  if (detail.missing || timeline.missing) { // an unknown account, or the snapshot still being built
    content.append(el("p", { class: "empty", id: "account-missing" }, detail.missing || timeline.missing));
    return;
  }
  document.querySelector("main h1").textContent = detail.name || detail.account_id;
  const currency = detail.reporting_currency;
  const { box } = panel("Account", "account");
  box.append(facts([
    ["Account id", detail.account_id],
    ["Owner", detail.owner ?? "–"],
    ["Paid plan", detail.paid_plan ?? "not paying"],
    ["ARR", money(detail.arr, currency)],
    ["MRR", money(detail.mrr, currency)],
    ["Next renewal", detail.next_renewal ?? "–"],
    ["Scheduled churn", detail.scheduled_churn_on],
    ["Health", healthCell(detail)],
    ["Churn risk", churnCell(detail)],
    ["Last activity", when(detail.last_activity)],
    ["Open tickets", String(detail.open_tickets)],
    ["Last NPS", npsCell(detail)],
    ["Snapshot of", localTime(detail.refreshed_at)],
  ]), el("div", { class: "driver-lists" }, driverList("Pulling health down", detail.health_drivers), driverList("Churn drivers", detail.churn_drivers)));
  if (detail.health_components) {
    table("Health components", "health", ["component", "score", "weight", "measure"], detail.health_components, (c, row) => c === "score" ? (row.score === null ? "–" : Number(row.score).toFixed(0)) : row[c]);
  }
  if (detail.reporting_currency) CURRENCY = detail.reporting_currency;
  lines("MRR", "account-mrr", new Map([["MRR", timeline.mrr.map((p) => [p.period_start, p.value === null ? null : Number(p.value)])]]), null, { name: "MRR", unit: "currency" });
  table("Survey answers", "answers", ["responded_at", "survey", "score", "language", "comment"], timeline.answers);
  table("Tickets", "tickets", ["opened_at", "channel", "status", "contacts", "resolved_at"], timeline.tickets);
  table("Latest events", "events", ["occurred_at", "name", "user_id", "feature", "page"], timeline.events);
}

async function dashboard() {
  const catalog = await api("/api/metrics/catalog");
  const form = el("form", { id: "add-widget", class: "panel" },
    el("h2", {}, "Add a widget"),
    el("label", {}, "Metric ", el("select", { name: "metric" }, catalog.map((m) => el("option", { value: m.name }, m.name)))), " ",
    el("label", {}, "As ", el("select", { name: "type" }, ["number", "line", "bar", "pie"].map((t) => el("option", {}, t)))), " ",
    el("label", {}, "Split by (pie) ", el("input", { name: "by", placeholder: "plan" })), " ",
    el("button", { type: "submit" }, "Add"));
  const board = el("div", { id: "widgets" });
  content.append(form, board);
  let widgets = (await api("/api/dashboard")).widgets;
  const save = async (next) => {
    widgets = (await api("/api/dashboard", {}, { method: "PUT", body: JSON.stringify({ widgets: next }) })).widgets;
    await draw();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(form).entries());
    const widget = { metric: data.metric, type: data.type };
    if (data.by) widget.by = data.by;
    try { await save([...widgets, widget]); } catch (error) { fail(error.message); }
  });
  async function draw() {
    board.replaceChildren();
    for (const [index, widget] of widgets.entries()) {
      const holder = el("div", { class: "widget", "data-widget": `${widget.metric}:${widget.type}` });
      board.append(holder);
      const move = (delta) => { const next = [...widgets]; const [item] = next.splice(index, 1); next.splice(index + delta, 0, item); return save(next); };
      const controls = el("span", { class: "tools" },
        el("button", { type: "button", "data-action": "up", disabled: index === 0 ? "disabled" : null, onclick: () => move(-1) }, "↑"),
        el("button", { type: "button", "data-action": "down", disabled: index === widgets.length - 1 ? "disabled" : null, onclick: () => move(1) }, "↓"),
        el("button", { type: "button", "data-action": "remove", onclick: () => save(widgets.filter((_, i) => i !== index)) }, "✕"));
      const body = await metrics([widget.metric], { by: widget.type === "pie" ? widget.by || "" : "" });
      const unit = body.units[widget.metric];
      const rows = body.items.filter((r) => r.value !== null);
      if (widget.type === "number") {
          const last = rows[rows.length - 1];
          holder.append(el("section", { class: "panel" }, controls, el("h2", {}, widget.metric), el("div", { class: "value" }, last ? format(last.value, unit) : "–")));
        } else if (widget.type === "pie") {
          const lastPeriod = rows.length ? rows[rows.length - 1].period_start : null;
          const data = rows.filter((r) => r.period_start === lastPeriod).map((r) => ({ name: String(widget.by ? r[widget.by] : widget.metric), value: Number(r.value) }));
          chartIn(holder, controls, widget.metric, { series: [{ type: "pie", data }] });
        } else {
          const periods = rows.map((r) => r.period_start);
          chartIn(holder, controls, widget.metric, { xAxis: periodAxis(periods, range().grain), yAxis: valueAxis(widget.metric, unit), tooltip: { trigger: "axis", valueFormatter: (v) => format(v, unit) }, grid: { left: 78, right: 30, bottom: 48 }, series: [{ name: widget.metric, type: widget.type, data: rows.map((r) => [r.period_start, Number(r.value)]) }] });
        }
    }
  }
  await draw();
}

function chartIn(holder, controls, title, option) {
  const box = el("section", { class: "panel" }, controls, el("h2", {}, title));
  holder.append(box);
  plot(box, controls, title, Object.assign({ tooltip: {} }, option));
}

// -- automations ---------------------------------------------------------------------------------
// Rules are built from a trigger picker and an action form, previewed with a dry run against
// today's data (saved disabled, so nothing is sent), then started from now on or with the backlog,
// or discarded. Each rule's firings and the dead letters (with Retry for admins) are listed below.
const TRIGGER_FIELDS = {
  // [name, input type, default, required, label]
  state_duration: [["hours", "number", "48", true, "Open for more than (hours)"], ["status", "text", "open", false, "Ticket status"]],
  metric: [["metric", "metric", "", true, "Metric"], ["op", ["above", "below"], "below", true, "Goes"], ["value", "number", "", true, "Value"], ["grain", ["month", "week", "quarter", "day", "year"], "month", false, "Grain"]],
  health_band: [["band", ["red", "yellow", "green"], "red", true, "Enters band"], ["days", "number", "7", false, "Within (days)"]],
  survey_response: [["survey", "text", "nps", true, "Survey"], ["max_score", "number", "6", false, "Score at most"], ["min_score", "number", "", false, "Score at least"], ["lookback_days", "number", "30", false, "Answered within (days)"]],
  event_delay: [["table", ["orders", "events"], "orders", true, "Table"], ["name", "text", "", false, "Order or event name"], ["delay_days", "number", "7", true, "Days after"], ["lookback_days", "number", "7", false, "Look back (days)"]],
  schedule: [["cron", "text", "0 9 * * 1", true, "Cron (minute hour day month weekday)"]],
};
const ACTION_FIELDS = {
  email: [["to", "text", "{{ email }}", true, "To"], ["subject", "text", "", true, "Subject"], ["body", "textarea", "", true, "Body"]],
  webhook: [["url", "url", "", true, "URL"]],
  chat: [["url", "url", "", true, "Webhook URL"], ["text", "textarea", "", true, "Text"]],
  task: [["title", "text", "", true, "Title"], ["assignee", "text", "", false, "Assignee"], ["due_in_days", "number", "7", false, "Due in (days)"]],
  tag: [["tag", "text", "", true, "Tag"]],
  survey_invitation: [["survey_id", "survey", "", true, "Survey"], ["to", "text", "", false, "To"], ["subject", "text", "", false, "Subject"], ["body", "textarea", "", false, "Body"]],
};
const NUMBER_FIELDS = new Set(["hours", "value", "days", "max_score", "min_score", "lookback_days", "delay_days", "due_in_days", "survey_id"]);

function triggerWords(t) {
  switch (t.type) {
    case "state_duration": return `a ticket ${t.status || "open"} for more than ${t.hours} hours`;
    case "metric": return `${t.metric} ${t.crosses === false ? "is" : "crosses"} ${t.op} ${t.value} (${t.grain || "month"})`;
    case "health_band": return `an account enters the ${t.band} health band`;
    case "survey_response": {
      const range = [t.min_score !== undefined && t.min_score !== null ? `≥ ${t.min_score}` : "", t.max_score !== undefined && t.max_score !== null ? `≤ ${t.max_score}` : ""].filter(Boolean).join(" and ");
      return `a ${t.survey} answer${range ? " scoring " + range : ""}`;
    }
    case "event_delay": return `${t.delay_days} days after ${t.name ? "a " + t.name + " " : "an "}${t.table === "orders" ? "order" : "event"}`;
    case "schedule": return `on the schedule ${t.cron}`;
    default: return JSON.stringify(t);
  }
}

function actionWords(a) {
  switch (a.kind) {
    case "email": return `e-mail ${a.to}: "${a.subject}"`;
    case "webhook": return `webhook to ${a.url || "(hidden)"}`;
    case "chat": return `chat message "${a.text}"`;
    case "task": return `task "${a.title}"${a.assignee ? " for " + a.assignee : ""}`;
    case "tag": return `tag the account "${a.tag}"`;
    case "survey_invitation": return `invite to survey ${a.survey_id}`;
    default: return a.kind;
  }
}

function fieldInputs(prefix, spec, choices) {
  return spec.map(([name, type, value, required, label]) => {
    const attrs = { name: prefix + name, required: required ? "required" : null };
    let input;
    if (Array.isArray(type)) input = el("select", attrs, type.map((o) => el("option", { value: o, selected: o === value ? "selected" : null }, o)));
    else if (type === "metric" || type === "survey") input = el("select", attrs, (choices[type] || []).map(([v, text]) => el("option", { value: v }, text)));
    else if (type === "textarea") input = el("textarea", Object.assign({ rows: "2" }, attrs), value);
    else input = el("input", Object.assign({ type: type === "number" ? "number" : type === "url" ? "url" : "text", step: type === "number" ? "any" : null, value }, attrs));
    return el("label", { class: "field" }, label + " ", input);
  });
}

function collect(form, prefix, spec) {
  const out = {};
  for (const [name] of spec) {
    const value = form.elements[prefix + name].value.trim();
    if (value === "") continue;
    out[name] = NUMBER_FIELDS.has(name) ? Number(value) : value;
  }
  return out;
}

function previewWords(rule, result) {
  const n = result.fired.length;
  const subjects = result.fired.slice(0, 10).map((f) => f.subject).join(", ") + (n > 10 ? `, … (${n - 10} more)` : "");
  const what = rule.actions.map((a) => a.kind === "email" ? `${n} e-mail${n === 1 ? "" : "s"}` : `${n} ${a.kind}${n === 1 ? "" : "s"}`).join(" and ");
  return n ? `Would fire ${n} today (${what}): ${subjects}` : "Would fire nothing today.";
}

async function automations() {
  const admin = page.dataset.role === "admin";
  const [catalog, surveys] = await Promise.all([api("/api/metrics/catalog"), api("/api/surveys")]);
  const choices = {
    metric: catalog.map((m) => [m.name, m.unit ? `${m.name} (${m.unit})` : m.name]),
    survey: surveys.map((s) => [String(s.id), `${s.id}: ${s.name}`]),
  };
  const triggerType = el("select", { name: "trigger_type" }, Object.keys(TRIGGER_FIELDS).map((t) => el("option", { value: t }, t.replace("_", " "))));
  const actionKind = el("select", { name: "action_kind" }, Object.keys(ACTION_FIELDS).map((k) => el("option", { value: k }, k.replace("_", " "))));
  const triggerBox = el("fieldset", { id: "trigger-fields" });
  const actionBox = el("fieldset", { id: "action-fields" });
  const where = el("input", { name: "where", placeholder: "plan = 'pro'" });
  const form = el("form", { id: "rule-form", class: "panel" },
    el("h2", {}, "New rule"),
    el("label", { class: "field" }, "Name ", el("input", { name: "name", required: "required", maxlength: "200" })),
    el("label", { class: "field" }, "When ", triggerType), triggerBox,
    el("label", { class: "field" }, "Only accounts matching (optional) ", where),
    el("label", { class: "field" }, "Then ", actionKind), actionBox,
    el("button", { type: "submit", id: "preview-rule" }, "Preview"));
  const previewBox = el("section", { class: "panel", id: "preview", hidden: "hidden" });
  const list = el("div", { id: "rules" });
  const detail = el("div", { id: "rule-detail" });
  const dead = el("div", { id: "dead-letters" });
  content.append(form, previewBox);
  const { box: rulesBox } = panel("Rules", "rules");
  rulesBox.append(list, detail);
  const { box: deadBox } = panel("Dead letters", "dead");
  deadBox.append(dead);
  const drawTrigger = () => triggerBox.replaceChildren(...fieldInputs("t_", TRIGGER_FIELDS[triggerType.value], choices));
  const drawAction = () => actionBox.replaceChildren(...fieldInputs("a_", ACTION_FIELDS[actionKind.value], choices));
  triggerType.addEventListener("change", drawTrigger);
  actionKind.addEventListener("change", drawAction);
  triggerType.value = "state_duration";
  actionKind.value = "task";
  drawTrigger();
  drawAction();

  async function showFirings(rule) {
    const rows = await api(`/api/automations/${rule.id}/firings`);
    detail.replaceChildren(el("h3", {}, `Firings of "${rule.name}"`));
    detail.append(rows.length ? firingTable(rows, "firings", false) : el("p", { class: "empty" }, "No firings yet."));
  }

  function firingTable(rows, id, retry) {
    const columns = ["fired_at", "subject", "window", "action", "status", "attempts", "last_error"];
    return el("table", { id: "table-" + id },
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)), retry ? el("th", {}, "") : null)),
      el("tbody", {}, rows.map((row) => el("tr", { "data-delivery": String(row.delivery_id), "data-status": row.status },
        columns.map((c) => el("td", {}, c === "fired_at" ? when(row[c]) : row[c] ?? "")),
        retry ? el("td", {}, el("button", { type: "button", "data-action": "retry", onclick: async () => {
          try { await api(`/api/dead-letters/${row.delivery_id}/retry`, {}, { method: "POST" }); await drawDead(); } catch (error) { fail(error.message); }
        } }, "Retry")) : null))));
  }

  async function drawDead() {
    const rows = await api("/api/dead-letters");
    dead.replaceChildren(rows.length ? firingTable(rows, "dead-letters", admin) : el("p", { class: "empty" }, "No dead letters: every delivery went through or is still being retried."));
  }

  async function drawRules() {
    const rules = await api("/api/automations");
    const rows = rules.map((rule) => {
      const toggle = el("input", { type: "checkbox", "data-action": "toggle", "aria-label": "enabled", checked: rule.enabled ? "checked" : null });
      toggle.addEventListener("change", async () => {
        try {
          if (toggle.checked) await api(`/api/automations/${rule.id}/start`, {}, { method: "POST", body: JSON.stringify({ start: "now" }) });
          else await api(`/api/automations/${rule.id}`, {}, { method: "PATCH", body: JSON.stringify({ enabled: false }) });
          await drawRules();
        } catch (error) { fail(error.message); }
      });
      return el("tr", { "data-rule": String(rule.id), "data-enabled": String(rule.enabled) },
        el("td", {}, rule.name),
        el("td", {}, "when " + triggerWords(rule.trigger), rule.conditions.length ? ` (${rule.conditions.map((c) => c.where || `${c.variable} ${c.op || "=="} ${c.value}`).join(", ")})` : ""),
        el("td", {}, rule.actions.map(actionWords).join("; ")),
        el("td", {}, el("label", {}, toggle, rule.enabled ? " on" : " off")),
        el("td", { class: rule.failures ? "failing" : null }, rule.failures ? `${rule.failures} failed run${rule.failures === 1 ? "" : "s"}: ${rule.last_error}` : "–"),
        el("td", {},
          el("button", { type: "button", "data-action": "firings", onclick: () => showFirings(rule).catch((e) => fail(e.message)) }, "Firings"), " ",
          el("button", { type: "button", "data-action": "delete", onclick: async () => {
            if (!confirm(`Delete the rule "${rule.name}" and its history?`)) return;
            try { await api(`/api/automations/${rule.id}`, {}, { method: "DELETE" }); detail.replaceChildren(); await drawRules(); } catch (error) { fail(error.message); }
          } }, "Delete")));
    });
    const head = el("tr", {}, ["Name", "Trigger", "Actions", "Enabled", "Failures", ""].map((c) => el("th", {}, c)));
    list.replaceChildren(el("table", { id: "table-rules" }, el("thead", {}, head), el("tbody", {}, rows)));
    if (!rows.length) list.append(el("p", { class: "empty" }, "No rules yet: build one above."));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const trigger = Object.assign({ type: triggerType.value }, collect(form, "t_", TRIGGER_FIELDS[triggerType.value]));
    const action = Object.assign({ kind: actionKind.value }, collect(form, "a_", ACTION_FIELDS[actionKind.value]));
    const rule = { name: form.elements.namedItem("name").value.trim(), trigger, conditions: where.value.trim() ? [{ where: where.value.trim() }] : [], actions: [action], enabled: false };
    let id;
    try {
      id = (await api("/api/automations", {}, { method: "POST", body: JSON.stringify(rule) })).id;
    } catch (error) { fail(error.message); return; }
    document.getElementById("error").hidden = true;
    const result = await api(`/api/automations/${id}/dry-run`, {}, { method: "POST" });
    const choice = (value, text, checked) => el("label", {}, el("input", { type: "radio", name: "start", value, checked: checked ? "checked" : null }), " " + text);
    const startForm = el("form", { id: "start-form" },
      choice("now", "Start from now on (what qualifies today is skipped)", true), " ",
      choice("backlog", "Start including the backlog (fires for all of it at the next run)", false), " ",
      el("button", { type: "submit", id: "start-rule" }, "Start"), " ",
      el("button", { type: "button", id: "discard-rule", onclick: async () => {
        try { await api(`/api/automations/${id}`, {}, { method: "DELETE" }); previewBox.hidden = true; await drawRules(); } catch (error) { fail(error.message); }
      } }, "Discard"));
    startForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const started = await api(`/api/automations/${id}/start`, {}, { method: "POST", body: JSON.stringify({ start: startForm.elements.start.value }) });
        await drawRules();  // the list shows the rule on before the confirmation says so
        previewBox.replaceChildren(el("p", { id: "started" }, `"${started.name}" is on` + (started.skipped ? `; ${started.skipped} already qualifying were skipped.` : ".")));
        form.reset();
        drawTrigger();
        drawAction();
      } catch (error) { fail(error.message); }
    });
    previewBox.replaceChildren(
      el("h2", {}, `Preview of "${rule.name}" (saved, not started)`),
      el("p", { id: "preview-result", "data-count": String(result.fired.length) }, previewWords(rule, result)),
      ...(result.failed.length ? [el("p", { class: "error", id: "preview-failed" }, "Cannot run: " + result.failed.map((f) => f.error).join("; "))] : []),
      startForm);
    previewBox.hidden = false;
    await drawRules();
  });
  await Promise.all([drawRules(), drawDead()]);
}

// -- sources -------------------------------------------------------------------------------------
// Each data source with its schedule, last sync, counts, rejects and next run; editors can sync
// one now. A sync the server starts as a job (202) is followed until it has finished.
const SOURCE_COLUMNS = [["name", "Name"], ["kind", "Kind"], ["schedule", "Schedule"], ["finished_at", "Last sync (UTC)"], ["status", "Status"],
  ["records", "Records"], ["loaded", "Rows loaded"], ["rejected", "Rejects"], ["next_run_at", "Next run (UTC)"], ["message", "Message"]];

function sourceCell(key, source) {
  if (key === "finished_at") return when(source.finished_at || source.started_at);
  if (key === "next_run_at") return source.every_minutes === null ? "manual" : when(source.next_run_at);
  if (key === "status") return source.status || "never synced";
  const value = source[key];
  return value === null || value === undefined ? "–" : typeof value === "number" ? value.toLocaleString("en-US") : value;
}

async function sources() {
  const editor = page.dataset.role === "editor" || page.dataset.role === "admin";
  const { box } = panel("Connected sources", "sources");
  const list = el("div", { id: "sources" });
  box.append(list);

  async function syncNow(source, button) {
    button.disabled = true;
    button.textContent = "Syncing…";
    try {
      const before = source.started_at;
      await api(`/api/sources/${encodeURIComponent(source.name)}/sync`, {}, { method: "POST" });
      for (let i = 0; i < 600; i++) { // a job: wait for it to start and finish (at most ~10 minutes)
        const now = await api(`/api/sources/${encodeURIComponent(source.name)}`);
        if (now.started_at !== before && now.status !== "running") break;
        await new Promise((done) => setTimeout(done, 1000));
      }
    } catch (error) { fail(error.message); }
    await draw();
  }

  async function draw() {
    const rows = await api("/api/sources");
    if (!rows.length) {
      list.replaceChildren(el("p", { class: "empty" }, "No sources yet. Add one with `tenure sources add` or POST /api/sources."));
      return;
    }
    const head = el("tr", {}, SOURCE_COLUMNS.map(([, label]) => el("th", {}, label)), editor ? el("th", {}, "") : null);
    const body = rows.map((source) => {
      const button = editor ? el("button", { type: "button", "data-action": "sync" }, "Sync now") : null;
      if (button) button.addEventListener("click", () => syncNow(source, button));
      return el("tr", { "data-source": source.name, "data-status": source.status || "never" },
        SOURCE_COLUMNS.map(([key]) => el("td", { "data-column": key, class: key === "status" && source.status === "failed" ? "failing" : null }, sourceCell(key, source))),
        button ? el("td", {}, button) : null);
    });
    list.replaceChildren(el("table", { id: "table-sources" }, el("thead", {}, head), el("tbody", {}, body)));
  }
  await draw();
}

// -- surveys -------------------------------------------------------------------------------------
// Create a survey, send an invitation (its signed link opens the public form in a new tab: the
// CSP forbids framing), and the response rates per survey and channel.
const SURVEY_DEFAULTS = {
  nps: "How likely are you to recommend us to a friend or colleague?",
  csat: "How satisfied are you with our service?",
  ces: "How easy was it to get your issue resolved?",
  custom: "",
};

async function surveys() {
  const list = el("div", { id: "survey-list" });
  const kind = el("select", { name: "kind" }, Object.keys(SURVEY_DEFAULTS).map((k) => el("option", { value: k }, k.toUpperCase())));
  const question = el("input", { name: "question", required: "required", maxlength: "1000", value: SURVEY_DEFAULTS.nps });
  kind.addEventListener("change", () => { question.value = SURVEY_DEFAULTS[kind.value]; });
  const form = el("form", { id: "survey-form", class: "panel" },
    el("h2", {}, "New survey"),
    el("label", { class: "field" }, "Name ", el("input", { name: "name", required: "required", maxlength: "200" })),
    el("label", { class: "field" }, "Kind ", kind),
    el("label", { class: "field" }, "Question ", question),
    el("label", { class: "field" }, "Scale from ", el("input", { name: "scale_min", type: "number", min: "0", max: "100", placeholder: "by kind" })),
    el("label", { class: "field" }, "to ", el("input", { name: "scale_max", type: "number", min: "1", max: "100", placeholder: "by kind" })),
    el("label", { class: "field" }, "Touchpoint ", el("input", { name: "touchpoint", maxlength: "100", placeholder: "onboarding" })),
    el("label", { class: "field" }, "Language ", el("input", { name: "language", maxlength: "20", placeholder: "en" })),
    el("button", { type: "submit" }, "Create"));
  const chosen = el("select", { name: "survey" });
  const link = el("p", { id: "invitation" });
  const invite = el("form", { id: "invite-form", class: "panel" },
    el("h2", {}, "Send an invitation"),
    el("label", { class: "field" }, "Survey ", chosen),
    el("label", { class: "field" }, "Account id ", el("input", { name: "account_id", maxlength: "200" })),
    el("label", { class: "field" }, "User id ", el("input", { name: "user_id", maxlength: "200" })),
    el("label", { class: "field" }, "Valid for (days) ", el("input", { name: "days", type: "number", min: "1", max: "365", value: "14" })),
    el("button", { type: "submit" }, "Create the link"), link);
  content.append(form, invite);
  const { box } = panel("Surveys", "surveys");
  box.append(list);
  const rates = el("div", { id: "rates" });
  const { box: ratesBox } = panel("Response rates", "rates");
  ratesBox.append(rates);

  async function draw() {
    const [all, rateRows] = await Promise.all([api("/api/surveys"), api("/api/surveys/response-rates")]);
    const columns = ["id", "name", "kind", "question", "scale", "touchpoint", "language"];
    list.replaceChildren(el("table", { id: "table-surveys" },
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))),
      el("tbody", {}, all.map((s) => el("tr", { "data-survey": String(s.id) }, columns.map((c) => el("td", {}, c === "scale" ? `${s.scale_min}–${s.scale_max}` : s[c] ?? "–")))))));
    if (!all.length) list.append(el("p", { class: "empty" }, "No surveys yet."));
    const picked = chosen.value;
    chosen.replaceChildren(...all.map((s) => el("option", { value: String(s.id) }, `${s.id}: ${s.name}`)));
    if (picked) chosen.value = picked;
    const rateColumns = ["name", "touchpoint", "channel", "invitations", "responses", "response_rate"];
    rates.replaceChildren(el("table", { id: "table-response-rates" },
      el("thead", {}, el("tr", {}, rateColumns.map((c) => el("th", {}, c)))),
      el("tbody", {}, rateRows.map((r) => el("tr", {}, rateColumns.map((c) => el("td", {}, c === "response_rate" ? format(r[c], "percent") : r[c] ?? "–")))))));
    if (!rateRows.length) rates.append(el("p", { class: "empty" }, "No invitations sent yet."));
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = Object.fromEntries([...new FormData(form).entries()].filter(([, v]) => String(v).trim() !== ""));
    for (const key of ["scale_min", "scale_max"]) if (key in data) data[key] = Number(data[key]);
    try {
      const made = await api("/api/surveys", {}, { method: "POST", body: JSON.stringify(data) });
      form.reset();
      question.value = SURVEY_DEFAULTS.nps;
      chosen.value = "";
      await draw();
      chosen.value = String(made.id);
    } catch (error) { fail(error.message); }
  });
  invite.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { days: Number(invite.elements.days.value) || 14 };
    for (const key of ["account_id", "user_id"]) if (invite.elements[key].value.trim()) body[key] = invite.elements[key].value.trim();
    try {
      const made = await api(`/api/surveys/${chosen.value}/invitations`, {}, { method: "POST", body: JSON.stringify(body) });
      const url = new URL(made.url, location.origin).href;
      link.replaceChildren("Signed link (single use, opens the form in a new tab): ",
        el("a", { href: url, target: "_blank", rel: "noopener noreferrer", id: "invitation-link" }, url));
      await draw();
    } catch (error) { fail(error.message); }
  });
  await draw();
}

// -- drill-through -------------------------------------------------------------------------------
// Every KPI tile, chart point, bar and cohort cell opens the accounts behind its number in the
// drill panel: the period's value with the numerator and denominator of its ratio (as the API
// computes them), the rows, and their CSV from the API.
const drillBox = el("aside", { id: "drill", class: "drill", role: "dialog", "aria-labelledby": "drill-title", hidden: "hidden" });
document.body.append(drillBox);
document.addEventListener("keydown", (event) => { if (event.key === "Escape" && !drillBox.hidden) closeDrill(); });
let drillOpener = null;

function closeDrill() {
  drillBox.hidden = true;
  drillBox.replaceChildren();
  if (drillOpener && drillOpener.focus) drillOpener.focus();
}

// The picker's filter narrowed to one segment of the `by` split (the series a point belongs to).
function segmentWhere(where, by, value) {
  if (!by || value === undefined || value === null || value === "null") return where;
  const clause = `${by} = '${String(value).replaceAll("'", "''")}'`;
  return where ? `(${where}) AND ${clause}` : clause;
}

function amount(value, unit, currency) {
  if (value === null || value === undefined) return "–";
  return unit === "currency" ? money(value, currency) : Number(value).toLocaleString("en-US", { maximumFractionDigits: 2 });
}

function drillCell(column, row, currency) {
  const value = row[column];
  if (column === "account_id") return el("a", { href: "/accounts/" + encodeURIComponent(value), class: "account-link" }, value);
  if (value === null || value === undefined) return "–";
  if (/mrr|arr|revenue|amount/.test(column) && !Number.isNaN(Number(value)) && typeof value !== "boolean") return money(value, currency);
  return typeof value === "number" && !Number.isInteger(value) ? value.toFixed(2) : String(value);
}

// Opens the panel on `source`: { path: "/api/drill/mrr" or another drill route (answering JSON
// rows, format=csv and /page), params, title, noun: what the rows are, "accounts" unless said }.
async function openDrill(source) {
  drillOpener = document.activeElement;
  const close = el("button", { type: "button", class: "close", "aria-label": "Close", onclick: closeDrill }, "×");
  const title = el("h2", { id: "drill-title" }, source.title);
  drillBox.hidden = false;
  drillBox.dataset.loaded = "";
  drillBox.replaceChildren(close, title, el("p", { class: "empty" }, "Loading the accounts…"));
  close.focus();
  let body;
  try {
    body = await api(source.path + "/page", Object.assign({ limit: 200 }, source.params));
  } catch (error) {
    drillBox.replaceChildren(close, title, el("p", { class: "error" }, error.message));
    drillBox.dataset.loaded = "error";
    return;
  }
  const currency = body.reporting_currency;
  const csv = new URL(source.path, location.origin);
  for (const [key, value] of Object.entries(Object.assign({}, source.params, { format: "csv" }))) {
    for (const item of [].concat(value)) if (item !== "" && item !== null && item !== undefined) csv.searchParams.append(key, item);
  }
  const columns = body.items.length ? Object.keys(body.items[0]) : [];
  const ratio = body.denominator === null ? null : el("p", { class: "ratio" },
    el("span", { class: "numerator", "data-value": String(body.numerator) }, amount(body.numerator, body.unit === "currency" ? "currency" : "", currency)),
    " / ",
    el("span", { class: "denominator", "data-value": String(body.denominator) }, amount(body.denominator, body.unit === "currency" ? "currency" : "", currency)));
  drillBox.replaceChildren(close, title,
    facts([
      ["Value", format(body.value, body.unit) + (body.unit === "currency" ? " " + currency : "")],
      ["Numerator", el("span", { id: "drill-numerator" }, amount(body.numerator, body.unit === "currency" ? "currency" : "", currency))],
      ["Denominator", el("span", { id: "drill-denominator" }, body.denominator === null ? "none (not a ratio)" : amount(body.denominator, "", currency))],
      ["Definition", body.definition],
    ]),
    ...(ratio ? [ratio] : []), // not a ratio: nothing (replaceChildren would write "null")
    el("p", { class: "drill-tools" },
      el("span", { id: "drill-count" }, `${count(body.items.length)} of ${count(body.total)} ${source.noun || "accounts"}`), " · ",
      el("a", { href: csv.pathname + csv.search, download: "", "data-export": "drill-csv" }, "Export CSV")),
    el("div", { class: "scroll" }, el("table", { id: "table-drill", "data-total": String(body.total) },
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))),
      el("tbody", {}, body.items.map((row) => el("tr", { "data-account": row.account_id }, columns.map((c) => el("td", {}, drillCell(c, row, currency)))))))));
  const one = { people: "person", answers: "answer" }[source.noun] || "account";
  if (!body.items.length) drillBox.append(el("p", { class: "empty" }, `No ${one} is behind this number.`));
  drillBox.dataset.loaded = "1";
}

function metricDrill(name, period, where, label, extra) {
  const grain = range().grain;
  openDrill({ path: "/api/drill/" + encodeURIComponent(name), params: Object.assign({ period, grain, where }, extra || {}), title: `${label || name} · ${period}` });
}

// KPI tiles: a click or Enter on a tile opens the accounts behind its last period.
function drillCards(cards) {
  for (const card of cards.querySelectorAll(".card[data-period]")) {
    if (!card.dataset.period) continue;
    card.setAttribute("role", "button");
    card.setAttribute("tabindex", "0");
    card.classList.add("drillable");
    const label = (KPIS.find(([name]) => name === card.dataset.metric) || [])[1];
    const open = () => metricDrill(card.dataset.metric, card.dataset.period, range().where, label);
    card.addEventListener("click", open);
    card.addEventListener("keydown", (event) => { if (event.key === "Enter" || event.key === " ") { event.preventDefault(); open(); } });
  }
}

// Which metric a chart's series is ("segment": the series are the segments of the picker's split;
// "split": they are "label · segment" with the label naming the metric). Charts that are not a
// metric's periods build their drill source themselves (`source`).
const byName = (prefix) => (series) => prefix + series.toLowerCase();
const DRILL_CHARTS = {
  "chart-mrr": { metric: "mrr", segment: true },
  "chart-movements": { metric: (series) => "mrr_" + series },
  "chart-churn": { metric: "customer_churn_rate", segment: true },
  "chart-retention": { metric: "customer_retention_rate", segment: true },
  "chart-active": { metric: byName(""), split: true },
  "chart-stickiness": { metric: "stickiness", segment: true },
  "chart-sessions": { metric: "average_session_seconds", segment: true },
  "chart-lifecycle": { metric: byName("lifecycle_") },
  "chart-account-lifecycle": { metric: byName("account_lifecycle_") },
  "chart-nps": { metric: "nps", segment: true },
  "chart-csat": { metric: byName(""), split: true },
  "chart-fcr": { metric: "fcr", segment: true },
  "chart-times": { metric: (series) => ({ "first response, median": "first_response_hours_median", "resolution, median": "resolution_hours_median", "resolution, p90": "resolution_hours_p90" })[series] },
  "chart-cohorts-logos": { cohort: true },
  "chart-cohorts-revenue": { cohort: true },
  "chart-adoption": { source: adoptionDrill },
  "chart-funnel": { source: funnelDrill },
  "chart-survival": { source: survivalDrill, nearest: true },
  "chart-score-health": { source: scoreDrill("health") },
  "chart-score-churn": { source: scoreDrill("churn") },
  "chart-distribution-nps": { source: distributionDrill("nps") },
  "chart-distribution-csat": { source: distributionDrill("csat") },
  "chart-distribution-ces": { source: distributionDrill("ces") },
};

// A series name split into its label and segment ("MAU · pro"; no segment without a split).
function seriesParts(name, r) {
  const at = r.by ? name.lastIndexOf(SPLIT) : -1;
  return at < 0 ? [name, null] : [name.slice(0, at), name.slice(at + SPLIT.length)];
}

// A feature's bar: the adopters of that feature (in that segment) in the chart's month.
function adoptionDrill(option, series, index, r) {
  const feature = option.xAxis[0].data[index];
  const segment = r.by ? series : null;
  if (feature === undefined) return null;
  const period = r.to.slice(0, 7);
  return { path: "/api/drill/feature_adoption_rate", params: { period, grain: "month", where: segmentWhere(r.where, r.by, segment), dimension: "feature", value: feature }, title: `Adopters of ${feature}${segment ? ` (${r.by} ${segment})` : ""} · ${period}` };
}

// A step's bar: the people who reached it, or (the paler bar) who dropped there.
function funnelDrill(option, series, index, r) {
  const [group, what] = r.by ? seriesParts(series, r) : [null, series];
  const step = index + 1;
  if (what === "dropped" && step === 1) return null;
  const dropped = what === "dropped";
  return { path: "/api/funnel/drill", params: { steps: FUNNEL_STEPS, step, dropped: dropped ? "true" : "", window: FUNNEL_WINDOW, from: r.from, to: r.to, where: segmentWhere(r.where, r.by, group) }, noun: "people", title: `Funnel step ${step} (${FUNNEL_STEPS[index]}): ${dropped ? "dropped" : "reached"}${group ? ` (${r.by} ${group})` : ""}` };
}

// A point of the curve: the accounts at risk at that duration, those that churned there flagged.
function survivalDrill(option, series, index, r) {
  const data = (option.series.find((s) => s.name === series) || option.series[0]).data;
  const point = data[index];
  if (!point) return null;
  const segment = r.by ? series : null;
  return { path: "/api/survival/drill", params: { days: point[0], where: segmentWhere(r.where, r.by, segment) }, title: `At risk at day ${Number(point[0]).toFixed(0)}${segment ? ` (${r.by} ${segment})` : ""}` };
}

// A band's bar: the accounts in that band of the score.
function scoreDrill(score) {
  return (option, series, index, r) => {
    const band = option.xAxis[0].data[index];
    if (band === undefined) return null;
    return { path: "/api/scores/drill", params: { score, band, where: r.where }, title: score === "health" ? `Health band ${band}` : `Churn risk ${band}%` };
  };
}

// A score's bar: the answers giving that score (in that segment), of all the survey's answers.
function distributionDrill(survey) {
  return (option, series, index, r) => {
    const score = option.xAxis[0].data[index];
    if (score === undefined) return null;
    const segment = r.by ? series : null;
    const params = { survey, score, from: r.from, to: rangeEnd(r), where: r.where };
    if (segment === "null") params.where = r.where ? `(${r.where}) AND ${r.by} IS NULL` : `${r.by} IS NULL`;
    else if (segment !== null) Object.assign(params, { by: r.by, value: segment });
    return { path: "/api/surveys/distribution/drill", params, noun: "answers", title: `${survey.toUpperCase()} score ${score}${segment !== null ? ` (${r.by} ${segment})` : ""} · ${params.from} to ${params.to}` };
  };
}

// A click on a chart: a bar, point or cell names its series and period; a click elsewhere in the
// plot picks the period (or, on a value axis, the nearest point) under the pointer and the series
// nearest to it.
function drillOn(instance, id) {
  const spec = DRILL_CHARTS[id];
  if (!spec) return;
  instance.getDom().classList.add("drillable");
  instance.getDom().dataset.drill = "1";
  let handled = 0;
  const open = (series, index) => {
    const option = instance.getOption();
    const r = range();
    const split = instance.getDom().closest(".panel").dataset.split;
    if (split !== undefined) r.by = split; // the split the chart applied (none: its note says so)
    if (spec.cohort) {
      const cell = option.series[0].data.find((d) => d && d[0] === index[0] && d[1] === index[1]);
      if (!cell) return;
      const cohort = option.yAxis[0].data[index[1]];
      const offset = Number(option.xAxis[0].data[index[0]]);
      openDrill({ path: "/api/cohorts/drill", params: { cohort, offset, where: r.where }, title: `Cohort ${cohort}, ${offset} periods on` });
      return;
    }
    if (spec.source) {
      const source = spec.source(option, series, index, r);
      if (source) openDrill(source);
      return;
    }
    const data = option.series.find((s) => s.name === series) || option.series[0];
    const point = data.data[index];
    const period = Array.isArray(point) ? point[0] : (option.xAxis[0].data || [])[index];
    const [label, part] = spec.split ? seriesParts(data.name, r) : [data.name, data.name];
    const name = typeof spec.metric === "function" ? spec.metric(label) : spec.metric;
    if (!period || !name) return;
    const segment = (spec.segment || spec.split) && r.by ? part : null;
    if (segment !== null && paidSegment(r.by)) { // a billing segment is not an account attribute
      metricDrill(name, period, r.where, `${name} (${segmentLabel(r.by)} ${segment})`, { dimension: r.by, value: segment });
      return;
    }
    metricDrill(name, period, segment === null ? r.where : segmentWhere(r.where, r.by, segment), segment === null ? name : `${name} (${r.by} ${segment})`);
  };
  instance.on("click", (params) => {
    if (params.componentType !== "series") return;
    handled = Date.now();
    open(params.seriesName, spec.cohort ? [params.value[0], params.value[1]] : params.dataIndex);
  });
  instance.getZr().on("click", (event) => {
    setTimeout(() => {
      if (Date.now() - handled < 300 || spec.cohort) return;
      const at = [event.offsetX, event.offsetY];
      if (!instance.containPixel({ gridIndex: 0 }, at)) return;
      const [x, y] = instance.convertFromPixel({ gridIndex: 0 }, at);
      const series = instance.getOption().series;
      // On a value axis (days of the survival curve) the point at or before x: the step drawn there.
      const indexIn = (s) => (spec.nearest ? s.data.reduce((found, p, i) => (p[0] <= x ? i : found), 0) : x);
      let best = series[0];
      let distance = Infinity;
      for (const s of series) {
        const point = s.data[indexIn(s)];
        const value = Array.isArray(point) ? point[1] : point && typeof point === "object" ? point.value : point;
        if (value !== null && value !== undefined && Math.abs(Number(value) - y) < distance) { distance = Math.abs(Number(value) - y); best = s; }
      }
      open(best.name, indexIn(best));
    }, 0);
  });
}

// Charts follow the window's width (a phone turned, a side panel opened).
window.addEventListener("resize", () => {
  for (const node of document.querySelectorAll(".chart, .spark")) { const chartOf = echarts.getInstanceByDom(node); if (chartOf) chartOf.resize(); }
});

// -- voice: comments and their filters -----------------------------------------------------------
// Comments filtered by score band, language, survey, theme and segment (the API filters them);
// a theme in the themes table opens its comments here.
async function feedbackSection(r, feedback) {
  const languages = [...new Set(feedback.items.map((c) => c.language).filter(Boolean))].sort();
  const themeNames = [...new Set(feedback.themes.map((t) => t.theme))].sort();
  const choices = (name, values, label) => el("select", { name }, el("option", { value: "" }, label), values.map((v) => el("option", { value: v }, v)));
  const form = el("form", { id: "comment-filters", class: "filters" },
    el("label", {}, "Band ", choices("band", ["detractor", "passive", "promoter"], "all bands")),
    el("label", {}, "Language ", choices("language", languages, "all languages")),
    el("label", {}, "Survey ", choices("survey", ["nps", "csat", "ces", "custom"], "all surveys")),
    el("label", {}, "Theme ", choices("theme", themeNames, "all themes")),
    el("label", {}, "Segment ", el("input", { type: "text", name: "where", placeholder: "plan = 'pro'", value: r.where })),
    el("button", { type: "submit" }, "Filter"));
  const note = el("p", { id: "comments-count", class: "freshness" });
  const list = el("div", { class: "scroll", id: "comments" });
  let rows = [];
  const columns = ["responded_at", "account_id", "survey", "score", "band", "language", "sentiment", "themes", "comment"];

  table("Themes (z > 0: detractors)", "themes", ["theme", "comments", "sentiment", "detractor_mentions", "promoter_mentions", "z"], feedback.themes, (c, row) => {
    if (c === "theme") return el("button", { type: "button", class: "link", "data-theme": row.theme, onclick: () => { form.elements.theme.value = row.theme; draw().then(() => box.scrollIntoView()).catch((e) => fail(e.message)); } }, row.theme);
    return typeof row[c] === "number" && !Number.isInteger(row[c]) ? row[c].toFixed(2) : row[c];
  });
  const { box, tools } = panel("Comments", "comments");
  box.append(form, note, list);
  tools.append(el("button", { type: "button", "data-export": "csv", onclick: () => download("comments.csv", URL.createObjectURL(new Blob([csvText(columns, rows)], { type: "text/csv" }))) }, "CSV"));

  async function draw() {
    const filters = Object.fromEntries([...new FormData(form).entries()].map(([k, v]) => [k, String(v).trim()]));
    list.dataset.loaded = "";
    const body = await api("/api/feedback", Object.assign({ from: r.from, to: r.to, limit: 200 }, filters));
    rows = body.items;
    const render = (c, row) => c === "responded_at" ? when(row[c]) : c === "sentiment" ? Number(row[c]).toFixed(2) : c === "themes" ? (row[c] || []).join(", ") : row[c] ?? "";
    list.replaceChildren(el("table", { id: "table-comments", "data-total": String(body.total), "data-filters": new URLSearchParams(filters).toString() },
      el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))),
      el("tbody", {}, rows.map((row) => el("tr", { "data-response": row.response_id, "data-band": row.band }, columns.map((c) => el("td", {}, render(c, row))))))));
    if (!rows.length) list.append(el("p", { class: "empty" }, "No comment matches."));
    note.textContent = `${count(rows.length)} of ${count(body.total)} comments, newest first`;
    list.dataset.loaded = "1";
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); draw().catch((e) => fail(e.message)); });
  for (const select of form.querySelectorAll("select")) select.addEventListener("change", () => form.requestSubmit());
  await draw();
}

// -- saved views ---------------------------------------------------------------------------------
// A named combination of a page's search, filters and sort, saved per user through /api/views.
async function savedViews(pageName, current, apply) {
  const picker = el("select", { name: "view", "aria-label": "Saved views" });
  const name = el("input", { type: "text", name: "view_name", placeholder: "name this view", maxlength: "100", "aria-label": "View name" });
  const remove = el("button", { type: "button", "data-action": "delete-view" }, "Delete");
  const form = el("form", { id: "saved-views", class: "filters" }, el("label", {}, "Saved view ", picker), remove, name, el("button", { type: "submit" }, "Save view"));
  let views = [];
  async function load(selected) {
    views = await api("/api/views", { page: pageName });
    picker.replaceChildren(el("option", { value: "" }, views.length ? "choose…" : "none saved"), ...views.map((v) => el("option", { value: String(v.id) }, v.name)));
    picker.value = selected ? String(selected) : "";
    remove.disabled = !picker.value;
  }
  picker.addEventListener("change", () => {
    remove.disabled = !picker.value;
    const view = views.find((v) => String(v.id) === picker.value);
    if (view) apply(view.params);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!name.value.trim()) { name.focus(); return; }
    try {
      const saved = await api("/api/views", {}, { method: "PUT", body: JSON.stringify({ page: pageName, name: name.value.trim(), params: current() }) });
      name.value = "";
      await load(saved.id);
    } catch (error) { fail(error.message); }
  });
  remove.addEventListener("click", async () => {
    if (!picker.value) return;
    try { await api(`/api/views/${picker.value}`, {}, { method: "DELETE" }); await load(); } catch (error) { fail(error.message); }
  });
  await load();
  return form;
}

// -- navigation on a phone -----------------------------------------------------------------------
const menu = document.getElementById("menu");
if (menu) {
  menu.addEventListener("click", () => {
    const open = document.body.classList.toggle("nav-open");
    menu.setAttribute("aria-expanded", String(open));
  });
}

// The period pickers show the range the charts use, also when the address names none.
for (const name of ["from", "to"]) {
  const input = document.querySelector(`input[type=month][name=${name}]`);
  if (input && !input.value) input.value = range()[name].slice(0, 7);
}

const PAGES = { overview, dashboard, revenue, retention, engagement, voice, support, goals, accounts, account, automations, sources, surveys };
// Where the next chart will appear, until the page has drawn them all (panel() inserts before it).
const loading = el("p", { class: "panel loading", id: "loading", role: "status" }, "Loading…");
content.append(loading);
PAGES[page.dataset.page]().then(() => { loading.remove(); page.dataset.loaded = "1"; }).catch((error) => { loading.remove(); fail(error.message); page.dataset.loaded = "error"; });
