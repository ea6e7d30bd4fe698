// Switchboard console: routing, navigation, the operator key and errors.
//
// Routes live in the URL fragment (#/playground, #/inbox, #/conversations/<id>,
// #/knowledge), so a reload or a shared link opens the same view. `/console#key=…` hands
// the page the operator key, which it keeps in sessionStorage and removes from the address
// bar. `body[data-state]` is "loading", "ready", "error" (see #error) or "auth" (the key
// form is shown).

import { ApiError, api, explain, onFailure, onSuccess, operatorKey, setOperatorKey } from "./api.js";
import * as conversation from "./conversation.js";
import { SANDBOX } from "./dom.js";
import * as inbox from "./inbox.js";
import * as knowledge from "./knowledge.js";
import * as playground from "./playground.js";

const VIEWS = { playground, inbox, conversation, knowledge };
const DEFAULT_ROUTE = "#/playground";

let current = null; // { name, key, unmount }
let authFailed = false;
let shownError = null;
let routed = false; // a view was shown before: later ones take the focus

function setState(state) {
  document.body.dataset.state = state;
}

// ---------- errors and the key ----------

function showError(error) {
  const box = document.getElementById("error");
  shownError = error;
  box.textContent = explain(error);
  box.hidden = false;
  if (error instanceof ApiError && error.isAuth) {
    showSignin(error);
  } else if (document.body.dataset.state !== "auth") {
    setState("error");
  }
}

function clearError() {
  if (authFailed || !shownError) return;
  shownError = null;
  const box = document.getElementById("error");
  box.hidden = true;
  box.textContent = "";
  if (document.body.dataset.state === "error") setState("ready");
}

function showSignin(error) {
  authFailed = true;
  const section = document.getElementById("signin");
  const firstTime = section.hidden;
  section.hidden = false;
  document.getElementById("signin-reason").textContent =
    error.status === 403
      ? `The gateway answered 403: ${error.message}. Enter the gateway's GATEWAY_API_KEY.`
      : operatorKey()
        ? "The key this tab holds was refused. Enter the gateway's GATEWAY_API_KEY."
        : "The console uses the operator API, which needs the gateway's GATEWAY_API_KEY.";
  document.getElementById("main").hidden = true;
  setState("auth");
  if (firstTime) document.getElementById("key").focus();
  unmount();
  inbox.feed.stop();
}

function takeKeyFromFragment() {
  const hash = location.hash.slice(1);
  const query = hash.includes("?") ? hash.slice(hash.indexOf("?") + 1) : hash;
  const params = new URLSearchParams(query);
  const key = params.get("key");
  if (!key) return;
  setOperatorKey(key);
  params.delete("key");
  const route = hash.startsWith("/") ? hash.split("?")[0] : DEFAULT_ROUTE.slice(1);
  // Out of the address bar and the history, so it is not copied or bookmarked.
  history.replaceState(null, "", `${location.pathname}${location.search}#${route}`);
}

async function checkAccess() {
  // A cheap call that needs the key: tells the page whether to ask for it.
  try {
    await api("/api/conversations?limit=1", { quiet: true });
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.isAuth) {
      showError(error);
      return false;
    }
    showError(error); // Temporal down (503) etc.: the views still open and retry.
    return true;
  }
}

// ---------- routing ----------

function parseRoute() {
  const hash = location.hash || DEFAULT_ROUTE;
  const path = hash.replace(/^#/, "").split("?")[0];
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "conversations" && parts[1]) {
    let id = parts.slice(1).join("/");
    try { id = decodeURIComponent(id); } catch { /* keep as typed */ }
    return { name: "conversation", params: { id }, key: `conversation:${id}` };
  }
  if (parts[0] in VIEWS && parts[0] !== "conversation") {
    return { name: parts[0], params: {}, key: parts[0] };
  }
  return null;
}

function unmount() {
  if (!current) return;
  try { current.unmount?.(); } catch (error) { console.error(error); }
  document.getElementById(`view-${current.name}`).hidden = true;
  current = null;
}

async function route() {
  if (authFailed) return;
  const next = parseRoute();
  if (!next) {
    history.replaceState(null, "", DEFAULT_ROUTE);
    return route();
  }
  if (current?.key === next.key) return;
  unmount();
  for (const link of document.querySelectorAll("a[data-nav]")) {
    const active = link.dataset.nav === next.name
      || (next.name === "conversation" && link.dataset.nav === "inbox");
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const section = document.getElementById(`view-${next.name}`);
  section.hidden = false;
  if (routed) {
    // A keyboard or screen-reader user lands on the new view's heading, not on the old link.
    const heading = section.querySelector("h1");
    heading.tabIndex = -1;
    heading.focus({ preventScroll: false });
  }
  routed = true;
  setState("loading");
  const view = VIEWS[next.name];
  const mounted = { name: next.name, key: next.key, unmount: null };
  current = mounted;
  try {
    const { unmount: stop, ready } = view.mount(section, next.params);
    mounted.unmount = stop;
    await ready;
    if (current === mounted && !authFailed && document.body.dataset.state === "loading") {
      setState(shownError ? "error" : "ready");
    }
  } catch (error) {
    if (current === mounted && !(error instanceof ApiError && error.isAuth)) showError(error);
  }
}

async function start() {
  authFailed = false;
  unmount(); // the view opens again with the key in hand
  document.getElementById("signin").hidden = true;
  document.getElementById("main").hidden = false;
  document.getElementById("sign-out").hidden = !operatorKey();
  setState("loading");
  if (!(await checkAccess())) return;
  inbox.feed.start();
  await route();
}

function main() {
  takeKeyFromFragment();
  document.getElementById("mode").textContent = SANDBOX
    ? "Sandbox mode: nothing reaches a real phone"
    : "Live mode: messages go to real phones";
  document.getElementById("mode").classList.toggle("live", !SANDBOX);

  onFailure(showError);
  onSuccess(clearError);

  document.getElementById("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = document.getElementById("key");
    setOperatorKey(input.value.trim());
    input.value = "";
    const box = document.getElementById("error");
    box.hidden = true;
    shownError = null;
    start();
  });
  document.getElementById("sign-out").addEventListener("click", () => {
    setOperatorKey(null);
    location.reload();
  });
  window.addEventListener("hashchange", () => {
    if (location.hash.includes("key=")) {
      takeKeyFromFragment();
      start();
      return;
    }
    route();
  });
  // The inbox badge in the navigation: how many customers wait for a person.
  inbox.feed.subscribe((data) => {
    const waiting = (data.conversations ?? []).filter((c) => c.status === "handoff_pending").length;
    const badge = document.getElementById("nav-waiting");
    badge.hidden = waiting === 0;
    badge.textContent = waiting ? `${waiting} waiting` : "";
    document.title = `${waiting ? `(${waiting}) ` : ""}Console · Switchboard`;
  });
  start();
}

main();
