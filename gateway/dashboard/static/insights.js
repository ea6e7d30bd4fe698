// Switchboard insights dashboard: reads the operator API and draws what it answers.
//
// Credentials: `/insights#key=...` or the sign-in form puts the operator key in
// sessionStorage (this tab only); every API call sends it as `Authorization: Bearer`.
// Without a key the calls go out bare, which the gateway answers in sandbox mode from
// loopback. No data lives in the page itself.

const KEY_STORE = "switchboard.operatorKey";
const SVG = "http://www.w3.org/2000/svg";
const DAY_MS = 86400000;
const RECENT_LIMIT = 25;

const meta = (name, fallback) =>
  document.querySelector(`meta[name="${name}"]`)?.getAttribute("content") || fallback;
const TEMPORAL_UI = meta("switchboard-temporal-ui", "http://localhost:8233").replace(/\/+$/, "");
const NAMESPACE = meta("switchboard-namespace", "default");

// kind: how a value is formatted and charted.
const METRICS = [
  { key: "conversations", label: "Conversations", kind: "count", sub: (t) => `${fmtCount(t.engaged)} engaged` },
  { key: "containment_rate", label: "Containment", kind: "rate", sub: (t) => `${fmtCount(t.contained)} contained` },
  { key: "handoff_rate", label: "Handoff rate", kind: "rate", sub: (t) => `${fmtCount(t.handed_off)} handed off` },
  { key: "resolution_rate", label: "Resolution", kind: "rate", sub: (t) => `${fmtCount(t.resolved)} resolved` },
  { key: "abandonment_rate", label: "Abandonment", kind: "rate", sub: (t) => `${fmtCount(t.abandoned)} abandoned` },
  { key: "repeat_contact_rate", label: "Repeat contact", kind: "rate" },
  { key: "first_response_ms.p50", label: "First response p50", kind: "ms" },
  { key: "first_response_ms.p95", label: "First response p95", kind: "ms" },
  { key: "average_handle_seconds", label: "Average handle time", kind: "seconds" },
  { key: "interruption_rate", label: "Interruption rate", kind: "rate" },
  { key: "tool_success_rate", label: "Tool success", kind: "rate" },
  { key: "tokens_per_resolved", label: "Tokens per resolved", kind: "tokens",
    sub: (t) => (t.cost_per_resolved == null ? `${fmtCount(t.tokens)} tokens in all`
      : `${t.cost_per_resolved.toFixed(4)} per resolved (price set)`) },
];
const DEFAULT_CHARTS = ["conversations", "containment_rate", "resolution_rate"];

class AuthError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

// ---------- formatting ----------

function fmtCount(value) {
  return Number(value ?? 0).toLocaleString("en-US");
}

function fmtRate(value) {
  return `${(Number(value ?? 0) * 100).toFixed(1)}%`;
}

function fmtMs(value) {
  if (value === null || value === undefined) return "—";
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`;
}

function fmtSeconds(value) {
  const s = Number(value ?? 0);
  if (s < 60) return `${s.toFixed(1)} s`;
  const minutes = Math.floor(s / 60);
  return `${minutes}m ${String(Math.round(s - minutes * 60)).padStart(2, "0")}s`;
}

function format(kind, value) {
  switch (kind) {
    case "rate": return fmtRate(value);
    case "ms": return fmtMs(value);
    case "seconds": return fmtSeconds(value);
    case "tokens": return fmtCount(Math.round(Number(value ?? 0)));
    default: return fmtCount(value);
  }
}

function valueOf(metrics, key) {
  return key.split(".").reduce((obj, part) => (obj == null ? null : obj[part]), metrics);
}

function fmtDay(date) {
  return date.toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });
}

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

// ---------- DOM helpers ----------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, String(value));
  }
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  for (const child of children) node.append(child);
  return node;
}

function setStatus(text, error = false) {
  const status = document.getElementById("status");
  status.textContent = text;
  status.classList.toggle("error", error);
}

// ---------- the API ----------

function operatorKey() {
  return sessionStorage.getItem(KEY_STORE);
}

function takeKeyFromFragment() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const key = fragment.get("key");
  if (key) {
    sessionStorage.setItem(KEY_STORE, key);
    // Out of the address bar and the history, so it is not copied or bookmarked.
    history.replaceState(null, "", location.pathname + location.search);
  }
}

async function api(path) {
  const headers = { Accept: "application/json" };
  const key = operatorKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(path, { headers, cache: "no-store", credentials: "same-origin" });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (response.status === 401 || response.status === 403) {
    throw new AuthError(response.status, body?.detail ?? response.statusText);
  }
  if (!response.ok) {
    const detail = typeof body?.detail === "string" ? body.detail : JSON.stringify(body?.detail);
    throw new Error(`${path}: ${response.status} ${detail ?? response.statusText}`);
  }
  return body;
}

// ---------- filters (kept in the query string, so a view can be shared) ----------

function readFilters() {
  const query = new URLSearchParams(location.search);
  const charts = query.get("metrics");
  return {
    from: query.get("from") || "",
    to: query.get("to") || "",
    channel: query.get("channel") || "",
    interval: query.get("interval") || "day",
    charts: charts ? charts.split(",").filter((k) => METRICS.some((m) => m.key === k)) : DEFAULT_CHARTS,
  };
}

function writeFilters(filters) {
  const query = new URLSearchParams();
  for (const name of ["from", "to", "channel"]) if (filters[name]) query.set(name, filters[name]);
  if (filters.interval !== "day") query.set("interval", filters.interval);
  if (filters.charts.join(",") !== DEFAULT_CHARTS.join(",")) query.set("metrics", filters.charts.join(","));
  const search = query.toString();
  history.replaceState(null, "", location.pathname + (search ? `?${search}` : ""));
}

function insightsPath(filters) {
  const query = new URLSearchParams({ interval: filters.interval });
  if (filters.from) query.set("from", filters.from);
  if (filters.to) query.set("to", isoDay(new Date(Date.parse(filters.to) + DAY_MS))); // inclusive → exclusive
  if (filters.channel) query.set("channel", filters.channel);
  return `/api/insights?${query}`;
}

function fillForm(filters) {
  const form = document.getElementById("filters");
  form.from.value = filters.from;
  form.to.value = filters.to;
  form.channel.value = filters.channel;
  form.interval.value = filters.interval;
}

// ---------- rendering ----------

function renderRange(insights) {
  const from = new Date(insights.from);
  const last = new Date(Date.parse(insights.to) - 1);
  const channel = insights.channel ? `, ${insights.channel}` : ", all channels";
  document.getElementById("range").textContent =
    `${fmtDay(from)} ${from.getUTCFullYear()} – ${fmtDay(last)} ${last.getUTCFullYear()} (UTC)${channel}, by ${insights.interval}`;
}

function renderTiles(totals) {
  const tiles = document.getElementById("tiles");
  tiles.replaceChildren(
    ...METRICS.map((metric) => {
      const value = valueOf(totals, metric.key);
      const tile = el(
        "div", { class: "tile" },
        el("dt", {}, metric.label),
        el("dd", { class: "value", "data-metric": metric.key, "data-value": JSON.stringify(value) },
          format(metric.kind, value)),
      );
      if (metric.sub) tile.append(el("dd", { class: "sub" }, metric.sub(totals)));
      return tile;
    }),
  );
}

function renderChoices(filters, onChange) {
  const box = document.getElementById("metric-choices");
  box.replaceChildren(
    ...METRICS.map((metric) => {
      const id = `chart-${metric.key.replace(/\W/g, "-")}`;
      const input = el("input", { type: "checkbox", id, value: metric.key });
      input.checked = filters.charts.includes(metric.key);
      input.addEventListener("change", () => {
        filters.charts = [...box.querySelectorAll("input:checked")].map((i) => i.value);
        onChange();
      });
      return el("label", { for: id }, input, ` ${metric.label}`);
    }),
  );
}

function niceMax(value) {
  if (value <= 0) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

function chart(metric, series, interval) {
  const W = 400, H = 190, L = 52, R = 12, T = 12, B = 28;
  const plotW = W - L - R, plotH = H - T - B;
  const points = series.map((bucket) => ({ start: new Date(bucket.start), value: valueOf(bucket, metric.key) }));
  const values = points.map((p) => p.value).filter((v) => v !== null && v !== undefined);
  const highest = Math.max(0, ...values);
  const top = metric.kind === "rate" ? 1
    : metric.kind === "count" && highest <= 40 ? 4 * Math.max(1, Math.ceil(highest / 4))
    : niceMax(highest);
  const slot = plotW / Math.max(points.length, 1);
  const x = metric.kind === "count"
    ? (i) => L + slot * (i + 0.5) // bars: the middle of each bucket's slot
    : (i) => L + (points.length <= 1 ? plotW / 2 : (i * plotW) / (points.length - 1));
  const y = (v) => T + plotH - (v / top) * plotH;
  const label = `${metric.label} by ${interval}`;
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label });

  for (const fraction of [0, 0.25, 0.5, 0.75, 1]) {
    const v = top * fraction;
    if (metric.kind === "count" && !Number.isInteger(v)) continue;
    root.append(
      svg("line", { class: fraction === 0 ? "axis" : "grid", x1: L, x2: W - R, y1: y(v), y2: y(v) }),
      svg("text", { class: "tick", x: L - 6, y: y(v) + 4, "text-anchor": "end" }, format(metric.kind, v)),
    );
  }
  const every = Math.max(1, Math.ceil(points.length / 5));
  points.forEach((p, i) => {
    if ((points.length - 1 - i) % every === 0) { // counted back from the latest bucket
      const anchor = points.length > 1 && i === points.length - 1 ? "end" : "middle";
      root.append(svg("text", { class: "tick", x: x(i), y: H - 8, "text-anchor": anchor }, fmtDay(p.start)));
    }
  });

  if (!points.length) {
    root.append(svg("text", { class: "empty", x: W / 2, y: H / 2, "text-anchor": "middle" }, "No data in this range"));
    return root;
  }
  const tip = (p) => svg("title", {}, `${fmtDay(p.start)}: ${format(metric.kind, p.value)}`);
  if (metric.kind === "count") {
    const width = Math.max(2, Math.min(28, slot * 0.7));
    points.forEach((p, i) => {
      const v = p.value ?? 0;
      root.append(svg("rect", { class: "point", x: x(i) - width / 2, y: y(v), width, height: Math.max(0, y(0) - y(v)) }, tip(p)));
    });
  } else {
    let d = "";
    let pen = false;
    points.forEach((p, i) => {
      if (p.value === null || p.value === undefined) { pen = false; return; }
      d += `${pen ? "L" : "M"}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`;
      pen = true;
    });
    if (d) root.append(svg("path", { class: "series", d }));
    points.forEach((p, i) => {
      if (p.value === null || p.value === undefined) return;
      root.append(svg("circle", { class: "point", cx: x(i), cy: y(p.value), r: 3 }, tip(p)));
    });
  }
  return root;
}

function renderCharts(insights, filters) {
  const charts = document.getElementById("charts");
  const chosen = METRICS.filter((m) => filters.charts.includes(m.key));
  if (!chosen.length) {
    charts.replaceChildren(el("p", { class: "status" }, "Pick a metric above to chart it."));
    return;
  }
  charts.replaceChildren(
    ...chosen.map((metric) =>
      el("figure", { class: "card chart", "data-chart": metric.key },
        el("figcaption", {}, el("h3", {}, metric.label)),
        chart(metric, insights.series, insights.interval)),
    ),
  );
}

function renderBars(id, counts) {
  const list = document.getElementById(id);
  const entries = Object.entries(counts ?? {}).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  if (!entries.length) {
    list.replaceChildren(el("li", {}, el("span", { class: "none" }, "None in this range")));
    return;
  }
  const max = Math.max(...entries.map(([, n]) => n));
  list.replaceChildren(
    ...entries.map(([label, count]) => {
      const bar = svg("svg", { viewBox: "0 0 100 12", preserveAspectRatio: "none", "aria-hidden": "true", focusable: "false" },
        svg("rect", { class: "track", x: 0, y: 0, width: 100, height: 12 }),
        svg("rect", { class: `fill ${label}`, x: 0, y: 0, width: max ? (100 * count) / max : 0, height: 12 }));
      return el("li", { "data-label": label },
        el("span", { class: "label", title: label }, label),
        bar,
        el("span", { class: "count", "data-count": count }, fmtCount(count)));
    }),
  );
}

function encodedId(id) {
  return encodeURIComponent(id);
}

function renderConversations(rows, error) {
  const body = document.querySelector("#recent tbody");
  if (error) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "empty-row" }, `Could not list conversations: ${error}`)));
    return;
  }
  if (!rows.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "empty-row" }, "No conversations yet.")));
    return;
  }
  body.replaceChildren(
    ...rows.map((c) => {
      const intelligence = el("a", { href: `/api/conversations/${encodedId(c.id)}/intelligence`, "data-intelligence": c.id },
        "Intelligence JSON");
      intelligence.addEventListener("click", (event) => {
        event.preventDefault();
        showIntelligence(c.id);
      });
      const temporal = el("a", {
        href: `${TEMPORAL_UI}/namespaces/${encodeURIComponent(NAMESPACE)}/workflows/${encodedId(c.id)}`,
        target: "_blank", rel: "noopener noreferrer", "data-temporal": c.id,
      }, "Temporal UI");
      const when = c.last_activity ? new Date(c.last_activity) : null;
      return el("tr", { "data-conversation": c.id },
        el("td", {}, el("code", {}, c.id)),
        el("td", {}, el("span", { class: `badge ${c.status}` }, c.status.replace("_", " "))),
        el("td", {}, (c.channels ?? []).join(", ") || "—"),
        el("td", {}, when ? el("time", { datetime: c.last_activity }, when.toLocaleString()) : "—"),
        el("td", { class: "links" }, intelligence, temporal));
    }),
  );
}

async function showIntelligence(id) {
  const detail = document.getElementById("detail");
  const pre = document.getElementById("detail-json");
  document.getElementById("detail-title").textContent = `Intelligence: ${id}`;
  detail.hidden = false;
  pre.textContent = "Loading…";
  try {
    pre.textContent = JSON.stringify(await api(`/api/conversations/${encodedId(id)}/intelligence`), null, 2);
  } catch (error) {
    pre.textContent = String(error.message ?? error);
  }
  detail.scrollIntoView({ block: "nearest" });
  pre.focus();
}

// ---------- flow ----------

function showSignin(error) {
  document.getElementById("signin").hidden = false;
  document.getElementById("signin-reason").textContent =
    error.status === 401
      ? `The operator API answered: ${error.message}. Enter the gateway's GATEWAY_API_KEY.`
      : `The operator API answered: ${error.message}.`;
  document.getElementById("key").focus();
  document.body.dataset.state = "signin";
}

async function loadConversations() {
  try {
    const [open, closed] = await Promise.all([
      api("/api/conversations"),
      api("/api/conversations?status=closed"),
    ]);
    const byId = new Map();
    for (const c of [...open.conversations, ...closed.conversations]) if (!byId.has(c.id)) byId.set(c.id, c);
    const rows = [...byId.values()].sort(
      (a, b) => (Date.parse(b.last_activity ?? 0) || 0) - (Date.parse(a.last_activity ?? 0) || 0),
    );
    renderConversations(rows.slice(0, RECENT_LIMIT));
  } catch (error) {
    if (error instanceof AuthError) throw error;
    renderConversations([], error.message);
  }
}

async function load(filters) {
  document.body.dataset.state = "loading";
  setStatus("Loading…");
  try {
    const [insights] = await Promise.all([api(insightsPath(filters)), loadConversations()]);
    document.getElementById("signin").hidden = true;
    document.getElementById("sign-out").hidden = !operatorKey();
    if (!filters.from) filters.from = isoDay(new Date(insights.from));
    if (!filters.to) filters.to = isoDay(new Date(Date.parse(insights.to) - DAY_MS));
    fillForm(filters);
    renderRange(insights);
    renderTiles(insights.totals);
    renderChoices(filters, () => { writeFilters(filters); renderCharts(insights, filters); });
    renderCharts(insights, filters);
    renderBars("sentiment", insights.totals.sentiment);
    renderBars("topics", insights.totals.topics);
    renderBars("handoff-reasons", insights.totals.handoff_reasons);
    setStatus(`Updated ${new Date().toLocaleTimeString()}. A conversation counts once it has closed.`);
    document.body.dataset.state = "ready";
  } catch (error) {
    if (error instanceof AuthError) {
      setStatus("");
      showSignin(error);
      return;
    }
    setStatus(String(error.message ?? error), true);
    document.body.dataset.state = "error";
  }
}

function main() {
  takeKeyFromFragment();
  const filters = readFilters();
  fillForm(filters);

  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    filters.from = form.from.value;
    filters.to = form.to.value;
    filters.channel = form.channel.value;
    filters.interval = form.interval.value;
    writeFilters(filters);
    load(filters);
  });
  document.getElementById("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("key");
    sessionStorage.setItem(KEY_STORE, input.value.trim());
    input.value = "";
    load(filters);
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE);
    location.reload();
  });
  load(filters);
}

main();
