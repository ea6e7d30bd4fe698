// The inbox: open conversations, those waiting for a person first, live.
//
// One stream per tab (`feed`) reads GET /api/console/inbox/stream; the navigation's badge
// and this view both listen to it.

import { ApiError, api, encodedId, report, stream } from "./api.js";
import { ROLE_LABELS, ago, channelLabel, clear, el, short, statusBadge, timeEl } from "./dom.js";

const AGENT_NAME_STORE = "switchboard.console.agentName";

// ---------- the shared live feed ----------

export const feed = {
  listeners: new Set(),
  latest: null,
  controller: null,
  subscribe(listener) {
    this.listeners.add(listener);
    if (this.latest) listener(this.latest);
    return () => this.listeners.delete(listener);
  },
  start() {
    if (this.controller) return;
    this.controller = new AbortController();
    stream("/api/console/inbox/stream", {
      onEvent: (name, data) => {
        if (name !== "inbox" || !data || typeof data !== "object") return;
        this.latest = data;
        this.receivedAt = performance.now();
        for (const listener of this.listeners) listener(data);
      },
    }, this.controller.signal);
  },
  stop() {
    this.controller?.abort();
    this.controller = null;
  },
};

// ---------- the view ----------

function profileName(c) {
  return c.profile_name || c.handoff?.package?.profile?.traits?.name || null;
}

function item(c) {
  const href = `#/conversations/${c.id}`;
  const name = profileName(c);
  const title = el(
    "h2",
    { class: "who" },
    el("a", { href, "data-open": c.id }, name ? `${name} (${c.customer})` : c.customer),
  );
  const meta = el(
    "p",
    { class: "meta" },
    statusBadge(c.status),
    " ",
    el("span", {}, (c.channels ?? []).map(channelLabel).join(", ") || "—"),
    c.active_channel ? el("span", {}, ` · now on ${channelLabel(c.active_channel)}`) : null,
    " · ",
    el("span", { title: c.last_activity ?? "" }, c.last_activity ? `last activity ${ago(c.last_activity)}` : "no activity"),
  );
  const body = [title, meta];
  if (c.handoff && c.status !== "ai") {
    const handoff = c.handoff;
    const details = el("dl", { class: "handoff-brief" },
      el("dt", {}, "Reason"), el("dd", { class: "reason" }, handoff.reason || "—"),
    );
    if (handoff.package?.summary) {
      details.append(el("dt", {}, "Summary"), el("dd", { class: "summary" }, handoff.package.summary));
    }
    details.append(
      el("dt", {}, c.status === "human" ? "Taken" : "Waiting since"),
      el("dd", {}, timeEl(c.status === "human" ? handoff.accepted_at : handoff.requested_at),
        c.status === "handoff_pending" ? ` (${ago(handoff.requested_at)})` : ""),
    );
    body.push(details);
  }
  if (c.last_message) {
    body.push(el("p", { class: "last" },
      el("span", { class: "who-said" }, `${ROLE_LABELS[c.last_message.role] ?? c.last_message.role}: `),
      short(c.last_message.text, 200)));
  }
  const actions = el("p", { class: "item-actions" },
    el("a", { href, class: "button-like secondary" }, "Open"));
  if (c.status === "handoff_pending") {
    const take = el("button", { type: "button", "data-take": c.id }, "Take");
    take.addEventListener("click", async () => {
      take.disabled = true;
      try {
        const by = localStorage.getItem(AGENT_NAME_STORE) || undefined;
        await api(`/api/conversations/${encodedId(c.id)}/accept`, { method: "POST", body: by ? { by } : {} });
        location.hash = href;
      } catch (error) {
        take.disabled = false;
        report(error instanceof ApiError && error.status === 409
          ? new ApiError(409, `Could not take ${c.customer}: ${error.message}`, error.path) : error);
      }
    });
    actions.append(" ", take);
  }
  body.push(actions);
  return el("li", { "data-conversation": c.id, "data-status": c.status, class: `item status-${c.status}` }, ...body);
}

const FILTER_STORE = "switchboard.console.inboxFilter";

function searchable(c) {
  return [c.customer, c.id, profileName(c), c.handoff?.reason, c.handoff?.package?.summary, c.last_message?.text]
    .filter(Boolean).join(" ").toLowerCase();
}

function render(section, data) {
  const list = section.querySelector("#inbox");
  const all = data.conversations ?? [];
  const words = section.querySelector("#inbox-filter").value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const show = section.querySelector("#inbox-show").value;
  const conversations = all.filter((c) =>
    (!show || c.status === show) && words.every((word) => searchable(c).includes(word)));
  const focused = document.activeElement?.closest?.("li[data-conversation]")?.dataset.conversation;
  clear(list).append(...conversations.map(item));
  if (focused) list.querySelector(`li[data-conversation="${CSS.escape(focused)}"] a`)?.focus();
  const empty = section.querySelector("#inbox-empty");
  empty.hidden = conversations.length > 0;
  empty.textContent = all.length ? "No open conversation matches the filter." : "No open conversations.";
  const count = (status) => all.filter((c) => c.status === status).length;
  const shown = conversations.length < all.length ? ` (${conversations.length} shown)` : "";
  section.querySelector("#inbox-summary").textContent =
    `${count("handoff_pending")} waiting for a human · ${count("human")} with a human · ${count("ai")} with the AI` +
    `${shown} — updated ${new Date().toLocaleTimeString()}`;
}

export function mount(section) {
  const filter = section.querySelector("#inbox-filter");
  const show = section.querySelector("#inbox-show");
  const saved = JSON.parse(sessionStorage.getItem(FILTER_STORE) ?? "{}") ?? {};
  filter.value = saved.words ?? "";
  show.value = saved.show ?? "";
  const controls = new AbortController();
  const refilter = () => {
    sessionStorage.setItem(FILTER_STORE, JSON.stringify({ words: filter.value, show: show.value }));
    if (feed.latest) render(section, feed.latest);
  };
  filter.addEventListener("input", refilter, { signal: controls.signal });
  show.addEventListener("change", refilter, { signal: controls.signal });
  section.querySelector("#inbox-tools").addEventListener("submit", (event) => event.preventDefault(),
    { signal: controls.signal });
  let resolveReady;
  const ready = new Promise((resolve) => { resolveReady = resolve; });
  section.querySelector("#inbox-summary").textContent = "Loading…";
  const unsubscribe = feed.subscribe((data) => {
    render(section, data);
    resolveReady();
  });
  feed.start();
  // Relative times ("2 min ago") stay true between updates.
  const timer = setInterval(() => { if (feed.latest) render(section, feed.latest); }, 15000);
  return {
    ready,
    unmount() {
      unsubscribe();
      clearInterval(timer);
      controls.abort();
    },
  };
}
