// Small DOM and formatting helpers the console's views share.

const meta = (name, fallback) =>
  document.querySelector(`meta[name="${name}"]`)?.getAttribute("content") || fallback;

export const TEMPORAL_UI = meta("switchboard-temporal-ui", "http://localhost:8233").replace(/\/+$/, "");
export const NAMESPACE = meta("switchboard-namespace", "default");
export const SANDBOX = meta("switchboard-sandbox", "false") === "true";

// An element with attributes (null/undefined/false skipped; true → empty attribute).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

export function clear(node) {
  node.replaceChildren();
  return node;
}

export const ROLE_LABELS = {
  customer: "Customer",
  assistant: "AI agent",
  agent: "Human agent",
  system: "System",
};

export const STATUS_LABELS = {
  handoff_pending: "Waiting for a human",
  human: "With a human",
  ai: "With the AI",
  closed: "Closed",
};

export const CHANNEL_LABELS = { sms: "SMS", whatsapp: "WhatsApp", voice: "Call" };

export function channelLabel(channel) {
  return CHANNEL_LABELS[channel] ?? channel ?? "—";
}

export function statusLabel(status) {
  return STATUS_LABELS[status] ?? status ?? "—";
}

// A status badge: the words say it, the colour only helps.
export function statusBadge(status) {
  return el("span", { class: `badge status-${status}`, "data-status-label": status }, statusLabel(status));
}

export function fmtTime(value) {
  if (!value) return "—";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return sameDay ? time : `${date.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
}

export function timeEl(value) {
  if (!value) return el("span", { class: "time" }, "—");
  return el("time", { datetime: value, class: "time", title: new Date(value).toString() }, fmtTime(value));
}

export function ago(value) {
  if (!value) return "";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(value)) / 1000));
  if (seconds < 60) return `${seconds}s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} days ago`;
}

// One transcript line: who, on which channel, when, and what.
export function transcriptItem(entry) {
  const meta = el(
    "p",
    { class: "meta" },
    el("span", { class: "who" }, ROLE_LABELS[entry.role] ?? entry.role),
    " · ",
    el("span", { class: "channel", "data-channel": entry.channel }, channelLabel(entry.channel)),
    " · ",
    timeEl(entry.at),
  );
  if (entry.delivery_status) meta.append(" · ", el("span", { class: "delivery" }, entry.delivery_status));
  if (entry.interrupted) meta.append(" · ", el("span", { class: "interrupted" }, "interrupted (cut short)"));
  return el(
    "li",
    {
      "data-role": entry.role,
      "data-channel": entry.channel,
      "data-key": entryKey(entry),
      class: `line role-${entry.role}`,
    },
    meta,
    el("p", { class: "text" }, entry.text),
  );
}

function entryKey(entry) {
  return JSON.stringify([entry.role, entry.channel, entry.at, entry.text, entry.delivery_status ?? null,
    !!entry.interrupted]);
}

// Bring a transcript list up to date in place: unchanged lines stay (a screen reader hears
// only what is new, a selection survives), changed ones are replaced, new ones added before
// any line that is not the conversation's own (a message still sending, a reply streaming).
// The list follows the end only when the reader was already there.
export function renderTranscript(list, transcript, scroller = list) {
  const atEnd = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
  const keyed = [...list.children].filter((child) => child.dataset.key !== undefined);
  const firstExtra = [...list.children].find((child) => child.dataset.key === undefined) ?? null;
  transcript.forEach((entry, index) => {
    const current = keyed[index];
    if (current && current.dataset.key === entryKey(entry)) return;
    const item = transcriptItem(entry);
    if (current) current.replaceWith(item);
    else list.insertBefore(item, firstExtra);
  });
  for (const extra of keyed.slice(transcript.length)) extra.remove();
  if (atEnd) scroller.scrollTop = scroller.scrollHeight;
}

export function temporalLink(id) {
  return `${TEMPORAL_UI}/namespaces/${encodeURIComponent(NAMESPACE)}/workflows/${encodeURIComponent(id)}`;
}

// Read JSON-ish values as short text.
export function short(value, limit = 300) {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > limit ? `${text.slice(0, limit)}…` : text;
}
