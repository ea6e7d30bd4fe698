// One conversation, live: transcript, actions (take, reply, hand back, close, hand off),
// the customer's profile, handoff history, tool calls and intelligence results.

import { ApiError, api, encodedId, report, stream } from "./api.js";
import {
  channelLabel, clear, el, renderTranscript, short, statusBadge, statusLabel, temporalLink, timeEl,
} from "./dom.js";

const AGENT_NAME_STORE = "switchboard.console.agentName";
const DRAFT_STORE = "switchboard.console.replyDraft:";

function customerOf(id) {
  return id.startsWith("conv-") ? id.slice(5) : id;
}

function definitionList(entries) {
  const dl = el("dl", { class: "kv" });
  for (const [term, value] of entries) {
    if (value === null || value === undefined || value === "") continue;
    dl.append(el("dt", {}, term), el("dd", {}, value));
  }
  return dl;
}

function renderProfile(box, profile, error) {
  clear(box);
  if (error) {
    box.append(el("p", { class: "empty" }, error));
    return;
  }
  const traits = Object.entries(profile.traits ?? {});
  box.append(el("h3", {}, "Traits"));
  if (traits.length) {
    box.append(definitionList(traits.map(([name, value]) => [name, Array.isArray(value) ? value.join(", ") : String(value)])));
  } else {
    box.append(el("p", { class: "empty" }, "None yet."));
  }
  box.append(el("h3", {}, "Observations"));
  const observations = profile.observations ?? [];
  box.append(observations.length
    ? el("ul", { class: "plain small" }, ...observations.map((o) =>
      el("li", { "data-observation": "" }, o.text, " ", el("span", { class: "muted" }, "(", o.source, ", ", timeEl(o.at), ")"))))
    : el("p", { class: "empty" }, "None yet."));
  box.append(el("h3", {}, "Earlier conversations"));
  const summaries = profile.summaries ?? [];
  box.append(summaries.length
    ? el("ul", { class: "plain small" }, ...summaries.map((s) =>
      el("li", { "data-summary": "" }, s.text, " ", el("span", { class: "muted" }, "(", timeEl(s.at), ")"))))
    : el("p", { class: "empty" }, "None yet."));
  if ((profile.identifiers ?? []).length) {
    box.append(el("p", { class: "muted small" }, `Reached at: ${profile.identifiers.join(", ")}`));
  }
}

function renderHandoffs(box, view) {
  clear(box);
  const handoff = view.handoff;
  const reasons = view.handoff_reasons ?? [];
  if (!handoff && !reasons.length) {
    box.append(el("p", { class: "empty" }, "No handoff in this conversation."));
    return;
  }
  if (handoff) {
    const outcome = handoff.outcome
      ?? (handoff.accepted_at ? "held by a human" : "waiting for a human");
    box.append(el("h3", {}, `Latest (#${handoff.seq}): ${outcome}`));
    box.append(definitionList([
      ["Reason", handoff.reason],
      ["Asked by", handoff.source],
      ["Requested", timeEl(handoff.requested_at)],
      ["Taken", handoff.accepted_at ? timeEl(handoff.accepted_at) : null],
      ["Ended", handoff.ended_at ? timeEl(handoff.ended_at) : null],
      ["Routed to", (handoff.targets ?? []).join(", ") || null],
      ["Task", handoff.task_sid],
      ["Summary", handoff.package?.summary],
    ]));
  }
  if (reasons.length) {
    box.append(el("h3", {}, "All handoffs, oldest first"));
    box.append(el("ol", { class: "small" }, ...reasons.map((reason) => el("li", {}, reason))));
  }
}

function renderTools(list, view) {
  const calls = view.tool_calls ?? [];
  clear(list);
  if (!calls.length) {
    list.append(el("li", { class: "empty" }, "No tool calls."));
    return;
  }
  for (const call of [...calls].reverse()) {
    list.append(el("li", { "data-tool": call.name, class: call.ok ? "tool ok" : "tool failed" },
      el("p", { class: "meta" },
        el("strong", {}, call.name), " · ", call.ok ? "succeeded" : "FAILED",
        call.turn != null ? ` · turn ${call.turn}` : "", " · ", timeEl(call.at)),
      el("p", { class: "small" }, el("span", { class: "muted" }, "Arguments: "), el("code", {}, short(call.arguments ?? "", 500))),
      el("p", { class: "small" }, el("span", { class: "muted" }, "Result: "), el("code", {}, short(call.result ?? "", 500))),
    ));
  }
}

function renderIntelligence(box, body, error) {
  clear(box);
  if (error) {
    box.append(el("p", { class: "empty" }, error));
    return;
  }
  const results = body?.results ?? [];
  if (!results.length) {
    box.append(el("p", { class: "empty" }, "No results yet: the operators run as the conversation goes on and when it closes."));
    return;
  }
  // The latest result of each operator (results come oldest first).
  const latest = new Map();
  for (const r of results) latest.set(r.operator, r);
  const list = el("ul", { class: "plain small" });
  for (const r of latest.values()) {
    const pairs = Object.entries(r.result ?? {}).map(([k, v]) => `${k}: ${short(v, 160)}`);
    list.append(el("li", { "data-operator": r.operator },
      el("strong", {}, r.operator), ` (${r.trigger}, turns ${r.turns?.[0]}–${r.turns?.[1]})`,
      el("br"),
      r.error ? el("span", { class: "bad" }, `error: ${r.error}`) : pairs.join(" · ") || "—"));
  }
  box.append(list);
  if (results.length > latest.size) {
    box.append(el("p", { class: "muted small" }, `The latest of each operator; ${results.length} results in all.`));
  }
}

export function mount(section, { id }) {
  const controller = new AbortController();
  const $ = (selector) => section.querySelector(selector);
  const customer = customerOf(id);
  let view = null;
  let gone = false;
  let lastProfileTurn = -1;
  let resolveReady;
  const ready = new Promise((resolve) => { resolveReady = resolve; });

  $("#conv-title").textContent = `Conversation with ${customer}`;
  $("#conv-status").textContent = "Loading…";
  $("#conv-customer").textContent = customer;
  $("#conv-channels").textContent = "—";
  $("#conv-activity").textContent = "—";
  $("#conv-temporal").href = temporalLink(id);
  clear($("#conv-transcript"));
  clear($("#conv-tools"));
  $("#conv-action-status").textContent = "";
  const nameInput = $("#conv-agent-name");
  nameInput.value = localStorage.getItem(AGENT_NAME_STORE) ?? "";
  const reply = $("#conv-reply-text");
  reply.value = sessionStorage.getItem(DRAFT_STORE + id) ?? "";

  const author = () => nameInput.value.trim() || undefined;

  function setButtons() {
    const status = gone ? "closed" : view?.status;
    const open = !!view && !gone && status !== "closed";
    $("#conv-take").disabled = !(open && status === "handoff_pending");
    $("#conv-resume").disabled = !(open && (status === "human" || status === "handoff_pending"));
    $("#conv-close").disabled = !open;
    $("#conv-handoff").disabled = !(open && status === "ai");
    $("#conv-handoff-reason").disabled = !(open && status === "ai");
    const canReply = open && status === "human";
    $("#conv-reply-send").disabled = !canReply;
    $("#conv-reply-hint").textContent = !open ? "The conversation is not open."
      : status === "human" ? "Your reply goes to the customer on their current channel."
        : status === "handoff_pending" ? "Take the conversation to reply."
          : "The AI is answering. Hand it off to a person to reply yourself.";
  }

  async function loadProfile() {
    try {
      const profile = await api(`/api/profiles/${encodeURIComponent(customer)}`);
      renderProfile($("#conv-profile"), profile);
      const name = profile.traits?.name;
      if (name) $("#conv-title").textContent = `Conversation with ${name} (${customer})`;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) renderProfile($("#conv-profile"), null, "No profile yet.");
      else renderProfile($("#conv-profile"), null, `Could not load the profile: ${error.message}`);
    }
  }

  async function loadIntelligence() {
    try {
      renderIntelligence($("#conv-intelligence"), await api(`/api/conversations/${encodedId(id)}/intelligence`));
    } catch (error) {
      renderIntelligence($("#conv-intelligence"), null,
        error instanceof ApiError && error.status === 404 ? "No results." : `Could not load: ${error.message}`);
    }
  }

  function render(next) {
    const wasOpen = view && view.status !== "closed";
    view = next;
    gone = false;
    if (wasOpen && view.status === "closed") {
      // The operators run when a conversation closes: look again as their results come in.
      for (const ms of [0, 3000, 10000]) {
        const timer = setTimeout(loadIntelligence, ms);
        controller.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
      }
    }
    const status = $("#conv-status");
    clear(status).append(statusBadge(view.status), view.opted_out ? " · opted out" : "");
    status.dataset.status = view.status;
    $("#conv-channels").textContent =
      `${(view.channels ?? []).map(channelLabel).join(", ") || "—"}${view.active_channel ? ` (now ${channelLabel(view.active_channel)})` : ""}`;
    clear($("#conv-activity")).append(timeEl(view.last_activity));
    renderTranscript($("#conv-transcript"), view.transcript ?? []);
    renderHandoffs($("#conv-handoffs"), view);
    renderTools($("#conv-tools"), view);
    setButtons();
    if (view.turn !== lastProfileTurn) {
      lastProfileTurn = view.turn;
      loadProfile();
    }
    document.title = `${view.customer} · ${statusLabel(view.status)} · Switchboard console`;
  }

  async function showClosed() {
    gone = true;
    const status = $("#conv-status");
    status.dataset.status = "closed";
    clear(status).append(statusBadge("closed"), " · no open conversation");
    setButtons();
    // The last state Temporal still knows, if any.
    try {
      const last = await api(`/api/conversations/${encodedId(id)}`, { quiet: true });
      if (last && !view) {
        renderTranscript($("#conv-transcript"), last.transcript ?? []);
        renderHandoffs($("#conv-handoffs"), last);
        renderTools($("#conv-tools"), last);
      }
    } catch { /* nothing more to show */ }
    loadProfile();
    loadIntelligence();
  }

  stream(`/api/console/conversations/${encodedId(id)}/stream`, {
    onEvent(name, data) {
      if (name === "conversation") {
        render(data);
        resolveReady();
      } else if (name === "gone") {
        showClosed();
        resolveReady();
      }
    },
    onMissing() {
      if (!gone) showClosed();
      resolveReady();
      return true; // keep looking: a new message opens it again
    },
  }, controller.signal);
  loadIntelligence();

  async function act(button, path, body, done) {
    button.disabled = true;
    $("#conv-action-status").textContent = "Working…";
    try {
      const next = await api(`/api/conversations/${encodedId(id)}/${path}`, { method: "POST", body });
      if (next?.id) render(next);
      $("#conv-action-status").textContent = done;
      return true;
    } catch (error) {
      $("#conv-action-status").textContent = "";
      if (error instanceof ApiError && [404, 409, 422].includes(error.status)) {
        report(new ApiError(error.status, `That did not work: ${error.message}`, error.path));
      } else if (!(error instanceof ApiError)) {
        report(error);
      }
      return false;
    } finally {
      setButtons();
    }
  }

  const on = (selector, type, handler) => {
    $(selector).addEventListener(type, handler, { signal: controller.signal });
  };
  on("#conv-agent-name", "input", () => localStorage.setItem(AGENT_NAME_STORE, nameInput.value.trim()));
  on("#conv-take", "click", async () => {
    if (await act($("#conv-take"), "accept", author() ? { by: author() } : {}, "You have the conversation.")) reply.focus();
  });
  on("#conv-resume", "click", () => act($("#conv-resume"), "resume", undefined, "Handed back to the AI."));
  on("#conv-close", "click", () => act($("#conv-close"), "close", { reason: `closed by ${author() ?? "an operator"} in the console` }, "Closed."));
  on("#conv-handoff-form", "submit", async (event) => {
    event.preventDefault();
    const reason = $("#conv-handoff-reason").value.trim();
    if (await act($("#conv-handoff"), "handoff", reason ? { reason } : {}, "Handed off: waiting for a human.")) {
      $("#conv-handoff-reason").value = "";
    }
  });
  async function sendReply() {
    const text = reply.value.trim();
    if (!text) { reply.focus(); return; }
    const body = { text };
    if (author()) body.author = author();
    if (await act($("#conv-reply-send"), "messages", body, "Sent.")) {
      reply.value = "";
      sessionStorage.removeItem(DRAFT_STORE + id);
      reply.focus();
    }
  }
  on("#conv-reply-form", "submit", (event) => { event.preventDefault(); sendReply(); });
  on("#conv-reply-text", "keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (!$("#conv-reply-send").disabled) sendReply();
    }
  });
  on("#conv-reply-text", "input", () => sessionStorage.setItem(DRAFT_STORE + id, reply.value));
  on("#conv-intel-refresh", "click", loadIntelligence);
  setButtons();

  return {
    ready,
    unmount() {
      controller.abort();
      document.title = "Console · Switchboard";
    },
  };
}
