// Waypoint inbox: lists pending interrupts page by page, renders the two standard
// interrupt shapes (LangChain's HumanInTheLoopMiddleware, agent-inbox's HumanInterrupt)
// as forms with only the buttons their config allows, and answers through the standard
// API (POST /threads/{id}/runs with command.resume), then follows the run's stream.
// Every node is built with DOM APIs and text nodes: no interrupt content reaches innerHTML.
"use strict";

const PAGE_SIZE = 25;
const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== "") node.append(child instanceof Node ? child : String(child));
  }
  return node;
};
const pretty = (value) => JSON.stringify(value, null, 2);
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const when = (iso) => iso.replace("T", " ").slice(0, 19);

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { "Content-Type": "application/json", ...(options.headers || {}) },
  });
  const text = await response.text();
  let body = null;
  try { body = text.trim() ? JSON.parse(text) : null; } catch { body = { detail: text }; }
  if (!response.ok) {
    const detail = body && (body.detail ?? body.message);
    throw new Error(typeof detail === "string" ? detail : (detail ? JSON.stringify(detail) : `HTTP ${response.status}`));
  }
  return body;
}

// A text box holds JSON or plain text: JSON when it parses, text otherwise.
function parseAnswer(text) {
  try { return JSON.parse(text); } catch { return text; }
}

async function* sse(path, signal) {
  const response = await fetch(path, { headers: { Accept: "text/event-stream" }, signal });
  if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
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

// ---- safe markdown --------------------------------------------------------------------
// A small subset (headings, paragraphs, lists, fenced code, `code`, **bold**, *italic*,
// [links](https://…)) rendered into DOM nodes; raw HTML in the source stays text.
const SAFE_URL = /^(https?:\/\/|mailto:)/i;

function inlineMarkdown(text) {
  const out = [];
  const pattern = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*|_[^_\s][^_]*_)|(\[[^\]]+\]\([^)\s]+\))/g;
  let last = 0, m;
  while ((m = pattern.exec(text))) {
    if (m.index > last) out.push(text.slice(last, m.index));
    const token = m[0];
    if (m[1]) out.push(el("code", {}, token.slice(1, -1)));
    else if (m[2]) out.push(el("strong", {}, ...inlineMarkdown(token.slice(2, -2))));
    else if (m[3]) out.push(el("em", {}, ...inlineMarkdown(token.slice(1, -1))));
    else {
      const [, label, url] = token.match(/^\[([^\]]+)\]\(([^)\s]+)\)$/);
      out.push(SAFE_URL.test(url)
        ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer nofollow" }, label)
        : token);
    }
    last = m.index + token.length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function renderMarkdown(source) {
  const root = el("div", { class: "markdown" });
  const lines = String(source ?? "").replace(/\r\n?/g, "\n").split("\n");
  let paragraph = [], list = null;
  const flush = () => {
    if (paragraph.length) root.append(el("p", {}, ...inlineMarkdown(paragraph.join(" "))));
    paragraph = [];
    list = null;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("```")) {
      flush();
      const code = [];
      while (++i < lines.length && !lines[i].startsWith("```")) code.push(lines[i]);
      root.append(el("pre", {}, el("code", {}, code.join("\n"))));
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    const bullet = line.match(/^\s*[-*+]\s+(.*)$/);
    const numbered = line.match(/^\s*\d+[.)]\s+(.*)$/);
    if (heading) {
      flush();
      root.append(el(`h${Math.min(heading[1].length + 3, 6)}`, { class: "md-heading" }, ...inlineMarkdown(heading[2])));
    } else if (bullet || numbered) {
      if (paragraph.length) { root.append(el("p", {}, ...inlineMarkdown(paragraph.join(" ")))); paragraph = []; }
      const tag = bullet ? "ul" : "ol";
      if (!list || list.tagName.toLowerCase() !== tag) { list = el(tag); root.append(list); }
      list.append(el("li", {}, ...inlineMarkdown((bullet || numbered)[1])));
    } else if (!line.trim()) {
      flush();
    } else {
      list = null;
      paragraph.push(line.trim());
    }
  }
  flush();
  return root;
}

// ---- interrupt shapes ---------------------------------------------------------------------
// "hitl": LangChain's HumanInTheLoopMiddleware (langchain.agents.middleware.human_in_the_loop):
//   {action_requests: [{name, args, description?}], review_configs: [{action_name,
//   allowed_decisions, args_schema?}]}, answered by {decisions: [one per action, in order]}.
// "agent-inbox": agent-inbox's HumanInterrupt (src/components/agent-inbox/types.ts), alone
//   or in a list of one: {action_request: {action, args}, config: {allow_*}, description?},
//   answered, as agent-inbox does, by a list of one HumanResponse {type, args}.
// "free": anything else; answered by what the reviewer types (JSON or text).
function shapeOf(value) {
  if (isObject(value) && Array.isArray(value.action_requests) && Array.isArray(value.review_configs)
      && value.action_requests.length && value.action_requests.every((a) => isObject(a) && typeof a.name === "string" && isObject(a.args ?? {}))) {
    return "hitl";
  }
  const list = Array.isArray(value) ? value : [value];
  const one = list[0];
  if (list.length === 1 && isObject(one) && isObject(one.action_request) && typeof one.action_request.action === "string"
      && isObject(one.config)) {
    return "agent-inbox";
  }
  return "free";
}

// A form with one field per argument: from `schema.properties` when given, else from the
// values. `read()` returns the arguments (throws naming the field on bad JSON/number).
function argsForm(args, schema, editable) {
  const props = isObject(schema) && isObject(schema.properties) ? schema.properties : {};
  const names = [...new Set([...Object.keys(props), ...Object.keys(args || {})])];
  const fields = [];
  const form = el("div", { class: "args" });
  for (const name of names) {
    const spec = isObject(props[name]) ? props[name] : {};
    const value = (args || {})[name];
    const type = spec.type || (typeof value === "number" ? "number" : typeof value === "boolean" ? "boolean"
      : typeof value === "string" || value === undefined ? "string" : "json");
    let input;
    if (type === "boolean") {
      input = el("input", { type: "checkbox", "data-arg": name, disabled: !editable });
      input.checked = Boolean(value);
    } else if (type === "number" || type === "integer") {
      input = el("input", { type: "number", step: type === "integer" ? "1" : "any", "data-arg": name, readonly: !editable });
      input.value = value ?? "";
    } else if (type === "string") {
      const long = typeof value === "string" && (value.includes("\n") || value.length > 60);
      input = el(long ? "textarea" : "input", { "data-arg": name, readonly: !editable, rows: long ? 4 : undefined });
      input.value = value ?? "";
    } else {
      input = el("textarea", { "data-arg": name, readonly: !editable, class: "json", rows: 3 });
      input.value = value === undefined ? "" : pretty(value);
    }
    const label = spec.title || name;
    form.append(el("label", { class: "arg" },
      el("span", { class: "arg-name" }, label, spec.description ? el("span", { class: "muted" }, ` — ${spec.description}`) : ""),
      input));
    fields.push({ name, type, input, original: value });
  }
  if (!names.length) form.append(el("span", { class: "muted" }, "no arguments"));
  const read = () => {
    const out = {};
    for (const { name, type, input, original } of fields) {
      if (type === "boolean") out[name] = input.checked;
      else if (type === "number" || type === "integer") {
        if (input.value === "" && original === undefined) continue;
        const n = Number(input.value);
        if (input.value === "" || Number.isNaN(n)) throw new Error(`${name}: not a number`);
        out[name] = n;
      } else if (type === "string") {
        if (input.value === "" && original === undefined) continue;
        out[name] = input.value;
      } else {
        if (input.value.trim() === "" && original === undefined) continue;
        try { out[name] = JSON.parse(input.value); } catch { throw new Error(`${name}: not valid JSON`); }
      }
    }
    return out;
  };
  return { node: form, read };
}

// ---- answering ------------------------------------------------------------------------------------
function lastMessageText(values) {
  const messages = isObject(values) && Array.isArray(values.messages) ? values.messages : null;
  if (!messages || !messages.length) return null;
  const last = messages[messages.length - 1];
  const content = typeof last.content === "string" ? last.content
    : Array.isArray(last.content) ? last.content.map((b) => (typeof b === "string" ? b : b.text || "")).join("") : "";
  return `${last.type}: ${content}`;
}

async function resume(card, item, resumeValue, outcome) {
  const reviewer = $("#reviewer").value.trim();
  localStorage.setItem("waypoint.reviewer", reviewer);
  const buttons = $$("button.act", card);
  buttons.forEach((b) => (b.disabled = true));
  card.classList.add("answered");
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
    card.classList.remove("answered");
    return;
  }
  const live = el("pre", { class: "live" });
  const status = el("div", { class: "run-status" }, `Run ${run.run_id}: running…`);
  outcome.replaceChildren(status, live);
  for await (const part of sse(`/threads/${item.thread_id}/runs/${run.run_id}/stream`)) {
    if (part.event === "values") live.textContent = lastMessageText(part.data) ?? pretty(part.data);
    if (part.event === "error") live.append(el("div", { class: "error" }, `${part.data.error}: ${part.data.message}`));
  }
  const finished = await api(`/threads/${item.thread_id}/runs/${run.run_id}`);
  status.replaceChildren(
    `Run ${run.run_id}: `,
    el("strong", { class: `status-${finished.status}` }, finished.status),
  );
  const thread = await api(`/threads/${item.thread_id}`);
  status.append(el("span", { class: "muted" }, ` · thread ${thread.status}`));
  if (thread.status === "interrupted") status.append(el("span", { class: "muted" }, " (asks again: see the refreshed list)"));
  loadDecisions(item, card);
}

// agent-inbox's "Mark as resolved": update_state(values=None, as_node="__end__").
async function resolveThread(card, item, outcome) {
  const buttons = $$("button.act", card);
  buttons.forEach((b) => (b.disabled = true));
  try {
    await api(`/threads/${item.thread_id}/state`, { method: "POST", body: JSON.stringify({ values: null, as_node: "__end__" }) });
    card.classList.add("answered");
    const thread = await api(`/threads/${item.thread_id}`);
    outcome.replaceChildren(el("div", { class: "run-status" }, "Resolved without resuming · ",
      el("strong", { class: "status-success" }, `thread ${thread.status}`)));
    loadDecisions(item, card);
  } catch (err) {
    outcome.replaceChildren(el("span", { class: "error" }, err.message));
    buttons.forEach((b) => (b.disabled = false));
  }
}

async function loadDecisions(item, card) {
  const box = $(".decisions-box", card);
  let decisions;
  try { decisions = await api(`/threads/${item.thread_id}/decisions`); } catch { return; }
  if (!decisions.length) { box.replaceChildren(el("span", { class: "muted" }, "none yet")); return; }
  const table = el("table", { class: "decisions" },
    el("tr", {}, el("th", {}, "when"), el("th", {}, "who"), el("th", {}, "action"), el("th", {}, "value")));
  for (const d of decisions) {
    table.append(el("tr", {},
      el("td", {}, when(d.decided_at)),
      el("td", {}, d.reviewer ?? "—"),
      el("td", {}, d.action),
      el("td", {}, el("code", {}, JSON.stringify(d.value)))));
  }
  box.replaceChildren(table);
}

function actionButton(label, cls, key, onclick) {
  return el("button", { class: `act ${cls}`, "data-key": key, title: key ? `shortcut: ${key}` : undefined, onclick }, label);
}

function showError(outcome, err) {
  outcome.replaceChildren(el("span", { class: "error" }, err.message));
}

// HumanInTheLoopMiddleware: one section per action request; each picks a decision, and the
// answer {decisions: [...]} goes out once every action has one (at once for a single action).
function hitlBlock(card, item, interrupt, send) {
  const value = interrupt.value;
  const outcome = el("div", { class: "outcome" });
  const chosen = new Array(value.action_requests.length).fill(undefined);
  const submit = el("button", { class: "act primary submit-decisions", disabled: true }, `Submit ${chosen.length} decisions`);
  const sendAll = () => send({ decisions: chosen }, outcome);
  submit.addEventListener("click", sendAll);
  const sections = value.action_requests.map((action, index) => {
    const config = value.review_configs.find((c) => c.action_name === action.name) || value.review_configs[index] || {};
    const allowed = new Set(config.allowed_decisions || []);
    const form = argsForm(action.args || {}, config.args_schema, allowed.has("edit"));
    const message = el("textarea", { class: "message", rows: 2, placeholder: "Message to the agent (reject reason / your response)", "data-key-target": "r" });
    const choice = el("span", { class: "choice muted" });
    const decide = (decision, label) => {
      chosen[index] = decision;
      choice.textContent = `→ ${label}`;
      if (chosen.length === 1) sendAll();
      else submit.disabled = chosen.some((d) => d === undefined);
    };
    const guard = (fn) => () => { try { fn(); } catch (err) { showError(outcome, err); } };
    const buttons = [];
    if (allowed.has("approve")) buttons.push(actionButton("Approve", "approve", "a", guard(() => decide({ type: "approve" }, "approve"))));
    if (allowed.has("edit")) buttons.push(actionButton("Send edited", "edit", "", guard(() =>
      decide({ type: "edit", edited_action: { name: action.name, args: form.read() } }, "edit"))));
    if (allowed.has("reject")) buttons.push(actionButton("Reject", "reject", "", guard(() => {
      const text = message.value.trim();
      decide(text ? { type: "reject", message: text } : { type: "reject" }, "reject");
    })));
    if (allowed.has("respond")) buttons.push(actionButton("Respond", "respond", "", guard(() => {
      const text = message.value.trim();
      if (!text) throw new Error("Respond needs a message");
      decide({ type: "respond", message: text }, "respond");
    })));
    const needsMessage = allowed.has("reject") || allowed.has("respond");
    return el("div", { class: "action", "data-action-index": index },
      el("div", { class: "action-head" }, el("span", { class: "tool" }, action.name),
        el("span", { class: "tag" }, "HumanInTheLoopMiddleware"), choice),
      action.description ? renderMarkdown(action.description) : "",
      el("h3", {}, allowed.has("edit") ? "Arguments (editable)" : "Arguments"),
      form.node,
      needsMessage ? message : "",
      el("div", { class: "actions" }, ...buttons,
        buttons.length ? "" : el("span", { class: "muted" }, "no decision allowed by the review config")));
  });
  return el("div", { class: "interrupt hitl", "data-interrupt-id": interrupt.id, "data-shape": "hitl" },
    ...sections,
    chosen.length > 1 ? el("div", { class: "actions" }, submit) : "",
    outcome);
}

// agent-inbox HumanInterrupt: buttons from config.allow_*; answered by [HumanResponse].
function agentInboxBlock(card, item, interrupt, send) {
  const request = Array.isArray(interrupt.value) ? interrupt.value[0] : interrupt.value;
  const { action_request: action, config } = request;
  const outcome = el("div", { class: "outcome" });
  const form = argsForm(action.args || {}, null, Boolean(config.allow_edit));
  const message = el("textarea", { class: "message", rows: 2, placeholder: "Your response to the agent", "data-key-target": "r" });
  const reply = (response) => send([response], outcome);
  const guard = (fn) => () => { try { fn(); } catch (err) { showError(outcome, err); } };
  const buttons = [];
  if (config.allow_accept) buttons.push(actionButton("Accept", "approve", "a", guard(() => reply({ type: "accept", args: null }))));
  if (config.allow_edit) buttons.push(actionButton("Send edited", "edit", "", guard(() =>
    reply({ type: "edit", args: { action: action.action, args: form.read() } }))));
  if (config.allow_respond) buttons.push(actionButton("Respond", "respond", "", guard(() => {
    const text = message.value.trim();
    if (!text) throw new Error("Respond needs a message");
    reply({ type: "response", args: text });
  })));
  if (config.allow_ignore) buttons.push(actionButton("Ignore", "reject", "", guard(() => reply({ type: "ignore", args: null }))));
  return el("div", { class: "interrupt agent-inbox", "data-interrupt-id": interrupt.id, "data-shape": "agent-inbox" },
    el("div", { class: "action" },
      el("div", { class: "action-head" }, el("span", { class: "tool" }, action.action), el("span", { class: "tag" }, "agent-inbox")),
      request.description ? renderMarkdown(request.description) : "",
      el("h3", {}, config.allow_edit ? "Arguments (editable)" : "Arguments"),
      form.node,
      config.allow_respond ? message : "",
      el("div", { class: "actions" }, ...buttons)),
    outcome);
}

// Anything else: the value as JSON and a free-form answer (JSON or text), nothing invented.
function freeBlock(card, item, interrupt, send) {
  const outcome = el("div", { class: "outcome" });
  const answer = el("textarea", { "aria-label": "response", class: "answer", "data-key-target": "r" });
  answer.value = pretty(interrupt.value);
  return el("div", { class: "interrupt free", "data-interrupt-id": interrupt.id, "data-shape": "free" },
    el("h3", {}, "Asks"),
    el("pre", {}, pretty(interrupt.value)),
    el("h3", {}, "Your response (JSON or text)"),
    answer,
    el("div", { class: "actions" },
      actionButton("Send response", "primary send", "", () => send(parseAnswer(answer.value), outcome))),
    outcome);
}

const BLOCKS = { hitl: hitlBlock, "agent-inbox": agentInboxBlock, free: freeBlock };

function breakpointBlock(card, item) {
  const outcome = el("div", { class: "outcome" });
  return el("div", {},
    el("h3", {}, "Paused at a breakpoint"),
    el("p", {}, `Next: ${item.next.join(", ")}`),
    el("div", { class: "actions" }, actionButton("Continue", "primary", "a", () => resume(card, item, undefined, outcome))),
    outcome);
}

function conversation(values) {
  if (!isObject(values) || !Array.isArray(values.messages)) return null;
  const box = el("div", { class: "conversation" });
  for (const m of values.messages.slice(-8)) {
    const text = typeof m.content === "string" ? m.content : pretty(m.content);
    const calls = (m.tool_calls || []).map((c) => `${c.name}(${JSON.stringify(c.args)})`).join(", ");
    box.append(el("div", { class: `msg msg-${m.type}` }, el("span", { class: "who" }, m.type === "tool" ? `tool ${m.name}` : m.type),
      text, calls ? el("code", {}, ` → ${calls}`) : ""));
  }
  return box;
}

function card(item) {
  const node = el("section", { class: "item", tabindex: "-1", "data-thread-id": item.thread_id, "data-updated-at": item.updated_at,
    "data-interrupts": interruptIds(item) });
  const left = el("div", {});
  const several = item.interrupts.length > 1;
  for (const interrupt of item.interrupts) {
    // With several pending interrupts a resume names the one it answers.
    const send = (value, outcome) => resume(node, item, several ? { [interrupt.id]: value } : value, outcome);
    left.append(BLOCKS[shapeOf(interrupt.value)](node, item, interrupt, send));
  }
  if (!item.interrupts.length) left.append(breakpointBlock(node, item));
  const resolveOutcome = el("div", { class: "outcome" });
  const chat = conversation(item.values);
  node.append(
    el("h2", {},
      el("span", { class: "tag" }, item.graph_id || "graph?"),
      item.metadata.escalated ? el("span", { class: "tag warn" }, "escalated") : "",
      el("span", {}, `Thread ${item.thread_id}`),
      el("span", { class: "muted since" }, since(item)),
      item.interrupts.length ? el("button", { class: "act link resolve", title: "update_state(values=None, as_node=\"__end__\")",
        onclick: () => resolveThread(node, item, resolveOutcome) }, "Mark as resolved") : ""),
    resolveOutcome,
    el("div", { class: "cols" },
      left,
      el("div", {},
        chat ? el("h3", {}, "Conversation") : "", chat || "",
        chat ? el("details", {}, el("summary", {}, "Thread values"), el("pre", { class: "values" }, pretty(item.values)))
          : [el("h3", {}, "Thread values"), el("pre", { class: "values" }, pretty(item.values))],
        el("h3", {}, "Decisions"), el("div", { class: "decisions-box" }, el("span", { class: "muted" }, "…")))));
  loadDecisions(item, node);
  shown.set(node, contentOf(item));
  return node;
}

// ---- listing, paging, live updates, keyboard ---------------------------------------------------
const view = { offset: 0, total: 0, focused: null, events: null, marker: null, requests: 0, refocus: null,
  // ?thread_id=… (the link in notifications): only that thread's item, until "show all".
  only: new URLSearchParams(location.search).get("thread_id") };

function filters() {
  const params = new URLSearchParams();
  const graph = $("#filter-graph").value;
  const metadata = $("#filter-metadata").value.trim();
  if (graph) params.set("graph_id", graph);
  if (metadata) params.set("metadata", metadata);
  if (view.only) params.set("thread_id", view.only);
  return params;
}

// What a card shows but its time: a thread row written again with nothing a reviewer sees
// changed keeps its card as it is (only the time is updated), fields, focus and all.
const shown = new WeakMap();
const contentOf = (item) => JSON.stringify([item.graph_id, item.metadata, item.values, item.interrupts, item.next]);

const since = (item) => `waiting since ${when(item.updated_at)} UTC`;

function retime(node, item) {
  node.dataset.updatedAt = item.updated_at;
  $(".since", node).textContent = since(item);
  return node;
}

// A card's pending interrupts, as its `data-interrupts` holds them.
const interruptIds = (item) => item.interrupts.map((i) => i.id).join(",");

// What a reviewer may type in a card: argument fields, messages, answers.
const FIELDS = "input:not([readonly]), textarea:not([readonly]), select";

// A card rebuilt for the same pending interrupts (the thread's row changed meanwhile: its
// metadata, its values) keeps what the reviewer typed in the old one: the same interrupts
// give the same fields in the same order. A reject sent right after would otherwise go
// without the reason just typed.
function keepTyped(old, fresh, item) {
  if (!item.interrupts.length || old.dataset.interrupts !== interruptIds(item)) return fresh;
  const before = $$(FIELDS, old);
  const after = $$(FIELDS, fresh);
  if (before.length !== after.length) return fresh;
  before.forEach((field, i) => {
    if (after[i].tagName !== field.tagName || after[i].type !== field.type) return;
    if (field.type === "checkbox") after[i].checked = field.checked;
    else after[i].value = field.value;
  });
  // The fresh card is not in the page yet: `render` gives its field the focus once it is.
  const typing = before.indexOf(document.activeElement);
  if (typing >= 0) view.refocus = [after[typing], caretOf(document.activeElement)];
  if (view.focused === old) view.focused = fresh;
  return fresh;
}

// Re-render the page keeping the cards a reviewer is working on: an unchanged item keeps
// its node (and any half-typed edit), also when only its time changed (`retime`); a changed
// one with the same interrupts keeps what was typed (`keepTyped`); an answered card stays
// until the page is left.
function render(page) {
  const root = $("#items");
  view.total = page.total;
  const first = page.total ? page.offset + 1 : 0;
  $("#count").textContent = `${first}–${page.offset + page.items.length} of ${page.total} waiting`;
  $("#prev").disabled = page.offset === 0;
  $("#next").disabled = page.offset + page.items.length >= page.total;
  const existing = new Map($$("section.item", root).map((n) => [n.dataset.threadId, n]));
  const nodes = page.items.map((item) => {
    const old = existing.get(item.thread_id);
    if (!old || old.classList.contains("answered")) return card(item);
    if (old.dataset.updatedAt === item.updated_at) return old;
    return shown.get(old) === contentOf(item) ? retime(old, item) : keepTyped(old, card(item), item);
  });
  const kept = new Set(nodes);
  const answered = $$("section.item.answered", root).filter((n) => !kept.has(n));
  if (!nodes.length && !answered.length) {
    root.replaceChildren(el("p", { class: "empty" }, "Nothing is waiting for a person."));
    return;
  }
  place(root, [...answered, ...nodes]);
  if (view.refocus) {
    const [field, caret] = view.refocus;
    view.refocus = null;
    if (field.isConnected) focusAt(field, caret);
  }
  if (view.focused && !root.contains(view.focused)) view.focused = null;
}

// Make `wanted` the children of `root`, in order, detaching as few nodes as it takes: a node
// that is taken out and put back loses focus, and keystrokes sent meanwhile go nowhere. So
// cards arriving or leaving around the one being typed in leave it where it is; if it must
// move (its thread moved in the order), its field gets focus and caret back.
function place(root, wanted) {
  const active = root.contains(document.activeElement) ? document.activeElement : null;
  const caret = active && caretOf(active);
  const keep = new Set(wanted);
  for (const node of [...root.children]) if (!keep.has(node)) node.remove();
  let next = root.firstElementChild;
  for (const node of wanted) {
    if (node === next) next = next.nextElementSibling;
    else root.insertBefore(node, next);
  }
  if (active && active.isConnected && document.activeElement !== active) focusAt(active, caret);
}

// A field's caret as [start, end], null where it has none (checkbox, select, number).
function caretOf(field) {
  try { return field.selectionStart === null || field.selectionStart === undefined ? null : [field.selectionStart, field.selectionEnd]; } catch { return null; }
}

function focusAt(field, caret) {
  field.focus({ preventScroll: true });
  if (caret) try { field.setSelectionRange(...caret); } catch { /* a field without a caret */ }
}

async function refresh({ keepAnswered = true } = {}) {
  const params = filters();
  params.set("limit", PAGE_SIZE);
  params.set("offset", view.offset);
  if (!keepAnswered) $$("section.item.answered").forEach((n) => n.remove());
  // Only the latest request may render: a slower, older answer (a live update's refresh
  // racing a page turn) would otherwise show the previous page under the new count.
  const ticket = ++view.requests;
  try {
    const page = await api(`/inbox/items?${params}`);
    if (ticket !== view.requests) return;
    if (page.offset > 0 && !page.items.length && page.total) {
      view.offset = Math.max(0, Math.floor((page.total - 1) / PAGE_SIZE) * PAGE_SIZE);
      return refresh();
    }
    render(page);
  } catch (err) {
    if (ticket !== view.requests) return;
    $("#items").replaceChildren(el("p", { class: "error" }, err.message));
  }
}

// The page follows the server: /inbox/events says when the set of pending threads changes.
// Read with fetch (not EventSource) so a signed-in page's Authorization header goes along.
async function follow() {
  if (view.events) view.events.abort();
  const controller = new AbortController();
  view.events = controller;
  view.marker = null;
  const live = $("#live");
  while (!controller.signal.aborted) {
    try {
      for await (const part of sse(`/inbox/events?${filters()}`, controller.signal)) {
        if (part.event !== "inbox") continue;
        const marker = JSON.stringify(part.data);
        if (view.marker !== null && marker !== view.marker) refresh();
        view.marker = marker;
        live.textContent = "live";
        live.className = "tag ok";
      }
    } catch (err) {
      if (controller.signal.aborted) return;
    }
    live.textContent = "reconnecting…";
    live.className = "tag warn";
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}

function changeFilters() {
  view.offset = 0;
  refresh({ keepAnswered: false });
  follow();
}

function page(delta) {
  const next = view.offset + delta * PAGE_SIZE;
  if (next < 0 || next >= Math.max(view.total, 1)) return;
  view.offset = next;
  refresh({ keepAnswered: false }).then(() => { view.focused = null; window.scrollTo(0, 0); });
}

function focusCard(delta) {
  const cards = $$("section.item");
  if (!cards.length) return;
  const index = view.focused ? cards.indexOf(view.focused) : -1;
  const next = cards[Math.min(cards.length - 1, Math.max(0, index + delta))];
  cards.forEach((c) => c.classList.remove("focused"));
  next.classList.add("focused");
  next.focus({ preventScroll: true });
  next.scrollIntoView({ block: "nearest" });
  view.focused = next;
}

function onKey(event) {
  const typing = event.target.closest("input, textarea, select");
  if (event.key === "Escape") { if (typing) event.target.blur(); $("#help").hidden = true; return; }
  if (typing || event.ctrlKey || event.metaKey || event.altKey) return;
  const current = view.focused;
  const keys = {
    j: () => focusCard(1),
    k: () => focusCard(-1),
    n: () => page(1),
    p: () => page(-1),
    "/": () => $("#filter-metadata").focus(),
    "?": () => { $("#help").hidden = !$("#help").hidden; },
    a: () => current && $("button.act[data-key='a']:not(:disabled)", current)?.click(),
    e: () => current && $("[data-arg]:not([readonly]):not([disabled])", current)?.focus(),
    r: () => current && $("[data-key-target='r']", current)?.focus(),
  };
  if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
}

async function main() {
  $("#reviewer").value = localStorage.getItem("waypoint.reviewer") || "";
  const info = await api("/info");
  for (const graph of info.graphs || []) $("#filter-graph").append(el("option", { value: graph }, graph));
  $("#refresh").addEventListener("click", () => refresh({ keepAnswered: false }));
  $("#filter-graph").addEventListener("change", changeFilters);
  $("#filter-metadata").addEventListener("change", changeFilters);
  $("#prev").addEventListener("click", () => page(-1));
  $("#next").addEventListener("click", () => page(1));
  $("#keys").addEventListener("click", () => { $("#help").hidden = !$("#help").hidden; });
  document.addEventListener("keydown", onKey);
  $("#show-all").hidden = !view.only;
  await refresh();
  follow();
}

main();
