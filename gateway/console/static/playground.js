// The playground: talk to the agent as a customer over SMS, WhatsApp or a call as text.
//
// Texts go through POST /api/console/playground/messages (the gateway signs and posts the
// very webhook Twilio would); a call is a WebSocket to /api/console/playground/call, which
// dials the gateway as Twilio's ConversationRelay would and streams the agent's tokens
// back. The transcript itself always comes from the conversation's live stream, so it
// shows every channel of the conversation, whichever was used.

import { ApiError, api, encodedId, operatorKey, report, socketUrl, stream } from "./api.js";
import { SANDBOX, channelLabel, el, renderTranscript, statusLabel, temporalLink, timeEl } from "./dom.js";

const STORE = "switchboard.console.playground";
const E164 = /^\+[1-9]\d{6,14}$/;

function saved() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE) ?? "{}") ?? {};
  } catch {
    return {};
  }
}

function save(values) {
  sessionStorage.setItem(STORE, JSON.stringify({ ...saved(), ...values }));
}

function randomCustomer() {
  return `+1415${Math.floor(2000000 + Math.random() * 8000000)}`;
}

export function mount(section) {
  const $ = (selector) => section.querySelector(selector);
  const controller = new AbortController();
  const customerInput = $("#pg-customer");
  const channelSelect = $("#pg-channel");
  const text = $("#pg-text");
  const send = $("#pg-send");
  const hangup = $("#pg-hangup");
  const list = $("#pg-transcript");
  const scroller = $(".chat-wrap");
  const status = $("#pg-status");

  const state = saved();
  customerInput.value = state.customer && E164.test(state.customer) ? state.customer : randomCustomer();
  channelSelect.value = ["sms", "whatsapp", "voice"].includes(state.channel) ? state.channel : "sms";
  text.value = state.draft ?? "";
  save({ customer: customerInput.value, channel: channelSelect.value });
  $("#pg-sandbox-note").hidden = SANDBOX;

  let transcript = [];
  let pending = []; // customer lines sent, not yet in the transcript: {text, channel, after}
  let live = null; // the agent's reply streaming on the call: {text, done, after, li}
  let call = null; // {socket, state: "connecting"|"connected", queue: [], customer}
  let feed = null; // the conversation stream's AbortController
  let resolveReady;
  const ready = new Promise((resolve) => { resolveReady = resolve; });

  const count = (role) => transcript.filter((entry) => entry.role === role).length;

  function setStatus(message) {
    status.textContent = message;
  }

  // ---------- the transcript ----------

  function render() {
    const atEnd = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 40;
    renderTranscript(list, transcript);
    // Sent lines the conversation has not recorded yet.
    const customerLines = transcript.filter((e) => e.role === "customer").map((e) => e.text);
    pending = pending.filter((p) => {
      const recorded = customerLines.slice(p.after).some((t) => t.includes(p.text));
      if (recorded) p.li?.remove();
      return !recorded;
    });
    for (const p of pending) {
      if (!p.li) {
        p.li = el("li", { "data-pending": "customer", class: "line role-customer pending" },
          el("p", { class: "meta" }, `Customer · ${channelLabel(p.channel)} · sending…`),
          el("p", { class: "text" }, p.text));
      }
      if (!p.li.isConnected) list.append(p.li);
    }
    // The reply streaming on the call, until the conversation records it.
    if (live && live.done && (count("assistant") > live.after || !live.text)) {
      live.li?.remove();
      live = null;
    }
    if (live) {
      if (!live.li) {
        live.body = el("p", { class: "text" });
        live.li = el("li", { "data-role": "assistant", "data-live": "", "data-channel": "voice", class: "line role-assistant live" },
          el("p", { class: "meta" }, "AI agent · Call · speaking…"), live.body);
      }
      live.body.textContent = live.text;
      if (!live.li.isConnected) list.append(live.li);
    }
    $("#pg-empty").hidden = list.children.length > 0;
    if (atEnd) scroller.scrollTop = scroller.scrollHeight;
  }

  function describe(view) {
    const line = $("#pg-conversation");
    line.replaceChildren();
    if (!view) {
      line.textContent = "";
      return;
    }
    line.append(
      `${statusLabel(view.status)} · channels: ${(view.channels ?? []).map(channelLabel).join(", ") || "—"}`,
      " · ",
      el("a", { href: `#/conversations/${view.id}` }, "Open in the inbox"),
      " · ",
      el("a", { href: temporalLink(view.id), target: "_blank", rel: "noopener noreferrer" }, "Temporal UI"),
      view.last_activity ? " · last activity " : "",
      view.last_activity ? timeEl(view.last_activity) : "",
    );
  }

  function follow() {
    feed?.abort();
    feed = new AbortController();
    const signal = feed;
    controller.signal.addEventListener("abort", () => signal.abort(), { once: true });
    const customer = customerInput.value.trim();
    if (!E164.test(customer)) {
      transcript = [];
      describe(null);
      render();
      resolveReady();
      return;
    }
    stream(`/api/console/conversations/${encodedId(`conv-${customer}`)}/stream`, {
      onEvent(name, data) {
        if (name === "conversation") {
          transcript = data.transcript ?? [];
          describe(data);
          render();
        } else if (name === "gone") {
          describe(null);
          render();
        }
        resolveReady();
      },
      onMissing() {
        // No conversation yet (or it closed): the transcript stays; look again later.
        describe(null);
        render();
        resolveReady();
        return true;
      },
    }, signal.signal);
  }

  // ---------- the call ----------

  function setCallState(message, active) {
    $("#pg-call-state").textContent = message;
    hangup.disabled = !active;
  }

  function endCall(message) {
    if (!call) return;
    const { socket } = call;
    call = null;
    if (socket.readyState === WebSocket.OPEN) {
      try { socket.send(JSON.stringify({ type: "hangup" })); } catch { /* closing anyway */ }
    }
    socket.close(1000);
    if (live) live.done = true;
    setCallState(message ?? "No call", false);
    render();
  }

  function dial() {
    const customer = customerInput.value.trim();
    const socket = new WebSocket(socketUrl("/api/console/playground/call"));
    const current = { socket, state: "connecting", queue: [], customer };
    call = current;
    setCallState(`Calling from ${customer}…`, true);
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "start", key: operatorKey(), customer }));
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      if (frame.type === "connected") {
        current.state = "connected";
        setCallState(`On a call from ${customer}`, true);
        if (!transcript.length) follow(); // a new conversation: look for it now
        for (const queued of current.queue.splice(0)) say(queued);
      } else if (frame.type === "token") {
        if (!live || live.done) {
          live?.li?.remove();
          live = { text: "", done: false, after: count("assistant"), li: null };
        }
        live.text += frame.token ?? "";
        if (frame.last) live.done = true;
        render();
      } else if (frame.type === "end") {
        if (call === current) endCall(frame.reason ? `The agent ended the call: ${frame.reason}` : "The agent ended the call");
      } else if (frame.type === "error") {
        report(new ApiError(-1, `The call: ${frame.detail}`, ""));
      }
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4401 || event.code === 4403) {
        report(new ApiError(event.code - 4000, event.reason || "the key was refused for the call", "/api/console/playground/call"));
      } else if (event.code === 4409) {
        report(new ApiError(409, `The playground calls only in sandbox mode (${event.reason || "refused"}): with Twilio credentials the agent would call real phones.`, ""));
      } else if (call === current && event.code !== 1000) {
        report(new ApiError(-1, `The call dropped (${event.code}${event.reason ? `: ${event.reason}` : ""}).`, ""));
      }
      if (call === current) {
        call = null;
        if (live) live.done = true;
        setCallState("Call ended", false);
        render();
      }
    });
    return current;
  }

  function say(words) {
    if (!call) dial();
    if (call.state !== "connected") {
      call.queue.push(words);
      return;
    }
    live?.li?.remove();
    live = { text: "", done: false, after: count("assistant"), li: null };
    call.socket.send(JSON.stringify({ type: "say", text: words }));
  }

  // ---------- sending ----------

  async function submit() {
    const words = text.value.trim();
    const customer = customerInput.value.trim();
    const channel = channelSelect.value;
    if (!E164.test(customer)) {
      setStatus("Enter the customer's number in E.164 form, e.g. +14155550123.");
      customerInput.focus();
      return;
    }
    if (!words) {
      text.focus();
      return;
    }
    pending.push({ text: words, channel, after: count("customer") });
    text.value = "";
    save({ draft: "" });
    render();
    if (channel === "voice") {
      say(words);
      setStatus("Said on the call.");
      return;
    }
    send.disabled = true;
    try {
      await api("/api/console/playground/messages", { method: "POST", body: { customer, channel, text: words } });
      setStatus(`Sent by ${channelLabel(channel)}.`);
      if (!transcript.length) follow(); // a new conversation: look for it now
    } catch (error) {
      pending = pending.filter((p) => {
        if (p.text === words) p.li?.remove();
        return p.text !== words;
      });
      text.value = words; // nothing lost
      save({ draft: words });
      render();
      setStatus("Not sent.");
      if (error instanceof ApiError && !error.isAuth && error.status !== 503 && error.status !== 0) {
        report(new ApiError(error.status, `The message was not sent: ${error.message}`, error.path));
      }
    } finally {
      send.disabled = false;
      text.focus();
    }
  }

  const on = (node, type, handler) => node.addEventListener(type, handler, { signal: controller.signal });
  on($("#pg-form"), "submit", (event) => { event.preventDefault(); submit(); });
  on(text, "keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  on(text, "input", () => save({ draft: text.value }));
  on(channelSelect, "change", () => {
    save({ channel: channelSelect.value });
    if (channelSelect.value !== "voice" && call) endCall(`Hung up: now on ${channelLabel(channelSelect.value)}`);
    setStatus(channelSelect.value === "voice"
      ? "Your next message dials the agent; what you type is what the caller says."
      : `Your next message goes by ${channelLabel(channelSelect.value)}.`);
  });
  on(customerInput, "change", () => {
    const customer = customerInput.value.trim();
    if (!E164.test(customer)) {
      setStatus("Enter the customer's number in E.164 form, e.g. +14155550123.");
      return;
    }
    if (call) endCall("Hung up: another customer");
    save({ customer });
    transcript = [];
    pending = [];
    live = null;
    list.replaceChildren();
    setStatus(`Now texting as ${customer}.`);
    follow();
  });
  on(hangup, "click", () => endCall("You hung up"));
  on($("#pg-new"), "click", () => {
    customerInput.value = randomCustomer();
    customerInput.dispatchEvent(new Event("change"));
    text.focus();
  });

  setCallState("No call", false);
  setStatus(channelSelect.value === "voice"
    ? "Your next message dials the agent; what you type is what the caller says."
    : "");
  follow();

  return {
    ready,
    unmount() {
      if (call) endCall();
      controller.abort();
    },
  };
}
