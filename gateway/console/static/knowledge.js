// Knowledge: upload documents (drag and drop or the file picker), list, remove, and search
// for what the agent would be given for a customer's message.

import { ApiError, api, report } from "./api.js";
import { clear, el } from "./dom.js";

const RECALL_LIMIT = 3; // the passages memory recall adds to a turn (RecallQuery.knowledge_limit)
const QUERY_STORE = "switchboard.console.knowledgeQuery";

export function contentType(name) {
  const lower = name.toLowerCase();
  if (lower.endsWith(".md") || lower.endsWith(".markdown")) return "text/markdown";
  if (lower.endsWith(".html") || lower.endsWith(".htm")) return "text/html";
  return "text/plain";
}

export function mount(section) {
  const $ = (selector) => section.querySelector(selector);
  const controller = new AbortController();
  const drop = $("#kb-drop");
  const input = $("#kb-file");
  const status = $("#kb-status");
  const query = $("#kb-q");

  function setStatus(message) {
    status.textContent = message;
  }

  async function loadDocuments() {
    const body = await api("/api/knowledge");
    const documents = [...(body?.documents ?? [])].sort((a, b) => a.name.localeCompare(b.name));
    const list = clear($("#kb-documents"));
    for (const doc of documents) {
      const remove = el("button", { type: "button", class: "secondary small", "data-remove": doc.name,
        "aria-label": `Remove ${doc.name}` }, "Remove");
      remove.addEventListener("click", () => removeDocument(doc.name, remove));
      list.append(el("li", { "data-document": doc.name },
        el("span", { class: "doc-name" }, doc.name),
        el("span", { class: "muted" }, ` ${doc.chunks} ${doc.chunks === 1 ? "passage" : "passages"} `),
        remove));
    }
    $("#kb-empty").hidden = documents.length > 0;
  }

  async function removeDocument(name, button) {
    button.disabled = true;
    try {
      await api(`/api/knowledge/${encodeURIComponent(name)}`, { method: "DELETE" });
      setStatus(`Removed ${name}. The agent no longer quotes it.`);
    } catch (error) {
      button.disabled = false;
      if (error instanceof ApiError && error.status === 404) setStatus(`${name} was already gone.`);
      else report(error);
    }
    await loadDocuments().catch(() => {});
    $("#kb-documents button")?.focus();
  }

  async function upload(files) {
    const chosen = [...files];
    if (!chosen.length) return;
    let done = 0;
    const lines = [];
    for (const file of chosen) {
      setStatus(`Uploading ${file.name} (${done + 1} of ${chosen.length})…`);
      try {
        const content = await file.text();
        const result = await api("/api/knowledge", {
          method: "POST",
          body: { name: file.name, content, content_type: contentType(file.name) },
        });
        lines.push(result.changed === false
          ? `${file.name}: unchanged`
          : `${file.name}: ${result.chunks} ${result.chunks === 1 ? "passage" : "passages"}`);
        done += 1;
      } catch (error) {
        lines.push(`${file.name}: not uploaded (${error.message})`);
        if (error instanceof ApiError && (error.status === 413 || error.status === 422)) {
          report(new ApiError(error.status, `${file.name} was refused: ${error.message}`, error.path));
        }
      }
    }
    setStatus(`Uploaded ${done} of ${chosen.length}. ${lines.join("; ")}.`);
    input.value = "";
    await loadDocuments().catch(() => {});
  }

  async function search() {
    const q = query.value.trim();
    sessionStorage.setItem(QUERY_STORE, query.value);
    const results = clear($("#kb-results"));
    if (!q) return;
    results.append(el("li", { class: "empty" }, "Searching…"));
    try {
      const body = await api(`/api/knowledge/search?${new URLSearchParams({ q, limit: String(RECALL_LIMIT) })}`);
      clear(results);
      const hits = body?.results ?? [];
      if (!hits.length) results.append(el("li", { class: "empty" }, "Nothing matches: the agent would be given no passage."));
      hits.forEach((hit, index) => {
        results.append(el("li", { "data-document": hit.document, "data-score": hit.score },
          el("p", { class: "meta", title: `search score ${hit.score}` },
            el("strong", {}, `${index + 1}. ${hit.document}`),
            hit.section ? ` › ${hit.section}` : ""),
          el("blockquote", { class: "passage" }, hit.text)));
      });
    } catch (error) {
      clear(results).append(el("li", { class: "empty" }, `Search failed: ${error.message}`));
    }
  }

  const on = (node, type, handler) => node.addEventListener(type, handler, { signal: controller.signal });
  on(input, "change", () => upload(input.files));
  on(drop, "dragover", (event) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    drop.classList.add("over");
  });
  on(drop, "dragleave", () => drop.classList.remove("over"));
  on(drop, "drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    upload(event.dataTransfer.files);
  });
  // Files dropped anywhere else would make the browser navigate away from the console.
  on(window, "dragover", (event) => event.preventDefault());
  on(window, "drop", (event) => event.preventDefault());
  on($("#kb-search-form"), "submit", (event) => { event.preventDefault(); search(); });

  query.value = sessionStorage.getItem(QUERY_STORE) ?? "";
  const ready = loadDocuments().then(() => (query.value.trim() ? search() : undefined));
  return { ready, unmount: () => controller.abort() };
}
