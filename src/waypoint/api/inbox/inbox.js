// Waypoint inbox: lists pending interrupts and resumes them through the standard API
// (POST /threads/{id}/runs with command.resume), then follows the run's stream.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
};
const pretty = (value) => JSON.stringify(value, null, 2);

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { "Content-Type": "application/json", ...(options.headers || {}) },
  });
  const text = await response.text();
  const body = text.trim() ? JSON.parse(text) : null;
  if (!response.ok) throw new Error((body && body.detail) || `HTTP ${response.status}`);
  return body;
}

// A text box holds JSON or plain text: JSON when it parses, text otherwise.
function parseAnswer(text) {
  try { return JSON.parse(text); } catch { return text; }
}

async function* sse(path) {
  const response = await fetch(path, { headers: { Accept: "text/event-stream" } });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (data) yield { event, data: JSON.parse(data) };
    }
  }
}

async function resume(item, resumeValue, outcome, buttons) {
  const reviewer = $("#reviewer").value.trim();
  localStorage.setItem("waypoint.reviewer", reviewer);
  buttons.forEach((b) => (b.disabled = true));
  outcome.replaceChildren(el("span", { class: "muted" }, "Resuming…"));
  let run;
  try {
    run = await api(`/threads/${item.thread_id}/runs`, {
      method: "POST",
      body: JSON.stringify({
        assistant_id: item.assistant_id || item.graph_id,
        command: resumeValue === undefined ? undefined : { resume: resumeValue },
        metadata: reviewer ? { reviewer } : {},
        stream_mode: ["values"],
      }),
    });
  } catch (err) {
    outcome.replaceChildren(el("span", { class: "error" }, err.message));
    buttons.forEach((b) => (b.disabled = false));
    return;
  }
  const live = el("pre", { class: "live" });
  const status = el("div", { class: "run-status" }, `Run ${run.run_id}: running…`);
  outcome.replaceChildren(status, live);
  for await (const part of sse(`/threads/${item.thread_id}/runs/${run.run_id}/stream`)) {
    if (part.event === "values") live.textContent = pretty(part.data);
    if (part.event === "error") live.append(el("div", { class: "error" }, `${part.data.error}: ${part.data.message}`));
  }
  const finished = await api(`/threads/${item.thread_id}/runs/${run.run_id}`);
  status.replaceChildren(
    `Run ${run.run_id}: `,
    el("strong", { class: `status-${finished.status}` }, finished.status),
  );
  const thread = await api(`/threads/${item.thread_id}`);
  status.append(el("span", { class: "muted" }, ` · thread ${thread.status}`));
  loadDecisions(item, outcome.closest(".item"));
}

async function loadDecisions(item, card) {
  const box = $(".decisions-box", card);
  const decisions = await api(`/threads/${item.thread_id}/decisions`);
  if (!decisions.length) { box.replaceChildren(el("span", { class: "muted" }, "none yet")); return; }
  const table = el("table", { class: "decisions" },
    el("tr", {}, el("th", {}, "when"), el("th", {}, "who"), el("th", {}, "action"), el("th", {}, "value")));
  for (const d of decisions) {
    table.append(el("tr", {},
      el("td", {}, d.decided_at.replace("T", " ").slice(0, 19)),
      el("td", {}, d.reviewer ?? "—"),
      el("td", {}, d.action),
      el("td", {}, el("code", {}, JSON.stringify(d.value)))));
  }
  box.replaceChildren(table);
}

function interruptBlock(item, interrupt, several) {
  const outcome = el("div", { class: "outcome" });
  const answer = el("textarea", { "aria-label": "response", class: "answer" });
  answer.value = pretty(interrupt.value);
  const wrap = (value) => (several ? { [interrupt.id]: value } : value);
  const buttons = [];
  const act = (value) => resume(item, wrap(value), outcome, buttons);
  buttons.push(
    el("button", { class: "approve", onclick: () => act({ type: "approve" }) }, "Approve"),
    el("button", { class: "reject", onclick: () => act({ type: "reject" }) }, "Reject"),
    el("button", { class: "primary send", onclick: () => act(parseAnswer(answer.value)) }, "Send response"),
  );
  return el("div", { class: "interrupt", "data-interrupt-id": interrupt.id },
    el("h3", {}, "Asks"),
    el("pre", {}, pretty(interrupt.value)),
    el("h3", {}, "Your response (JSON or text)"),
    answer,
    el("div", { class: "actions" }, ...buttons),
    outcome);
}

function breakpointBlock(item) {
  const outcome = el("div", { class: "outcome" });
  const buttons = [];
  buttons.push(el("button", { class: "primary", onclick: () => resume(item, undefined, outcome, buttons) }, "Continue"));
  return el("div", {},
    el("h3", {}, "Paused at a breakpoint"),
    el("p", {}, `Next: ${item.next.join(", ")}`),
    el("div", { class: "actions" }, ...buttons),
    outcome);
}

function render(items) {
  const root = $("#items");
  $("#count").textContent = `${items.length} waiting`;
  if (!items.length) { root.replaceChildren(el("p", { class: "empty" }, "Nothing is waiting for a person.")); return; }
  root.replaceChildren();
  for (const item of items) {
    const left = el("div", {});
    if (item.interrupts.length) item.interrupts.forEach((i) => left.append(interruptBlock(item, i, item.interrupts.length > 1)));
    else left.append(breakpointBlock(item));
    const card = el("section", { class: "item", "data-thread-id": item.thread_id },
      el("h2", {},
        el("span", { class: "tag" }, item.graph_id || "graph?"),
        item.metadata.escalated ? el("span", { class: "tag warn" }, "escalated") : "",
        el("span", {}, `Thread ${item.thread_id}`),
        el("span", { class: "muted" }, `waiting since ${item.updated_at.replace("T", " ").slice(0, 19)} UTC`)),
      el("div", { class: "cols" },
        left,
        el("div", {},
          el("h3", {}, "Thread values"), el("pre", {}, pretty(item.values)),
          el("h3", {}, "Decisions"), el("div", { class: "decisions-box" }, el("span", { class: "muted" }, "…")))));
    root.append(card);
    loadDecisions(item, card);
  }
}

async function refresh() {
  const params = new URLSearchParams();
  const graph = $("#filter-graph").value;
  const metadata = $("#filter-metadata").value.trim();
  if (graph) params.set("graph_id", graph);
  if (metadata) params.set("metadata", metadata);
  try {
    render(await api(`/inbox/items?${params}`));
  } catch (err) {
    $("#items").replaceChildren(el("p", { class: "error" }, err.message));
  }
}

async function main() {
  $("#reviewer").value = localStorage.getItem("waypoint.reviewer") || "";
  const info = await api("/info");
  for (const graph of info.graphs) $("#filter-graph").append(el("option", { value: graph }, graph));
  $("#refresh").addEventListener("click", refresh);
  $("#filter-graph").addEventListener("change", refresh);
  $("#filter-metadata").addEventListener("change", refresh);
  await refresh();
}

main();
