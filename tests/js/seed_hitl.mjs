// Runs the JavaScript examples of the seed docs (hitl-server-api.md and
// breakpoints-server-api.md) with the official `@langchain/langgraph-sdk` Client
// against a running Waypoint server.
//
//   WAYPOINT_URL=http://127.0.0.1:8000 node seed_hitl.mjs
//
// Graphs (tests/graphs/langgraph.json):
//   agent       - examples/human_node.py: interrupt({text_to_revise: state.some_text})
//   breakpoints - examples/breakpoints.py: node_a -> node_b -> node_c, compiled with
//                 interrupt_before=["node_a"], interrupt_after=["node_b", "node_c"]
//   chain       - the same nodes without compile-time breakpoints
//
// Prints every check; exits non-zero on the first failure.

import assert from "node:assert/strict";
import { Client } from "@langchain/langgraph-sdk";

const url = process.env.WAYPOINT_URL;
if (!url) {
  console.error("WAYPOINT_URL is not set (e.g. WAYPOINT_URL=http://127.0.0.1:8000)");
  process.exit(2);
}

const client = new Client({ apiUrl: url });
const show = (value) => JSON.stringify(value);

let checks = 0;
function check(description, fn) {
  fn();
  checks += 1;
  console.log(`  ok - ${description}`);
}

async function nextOf(threadID) {
  const state = await client.threads.getState(threadID);
  return state.next;
}

async function statusOf(threadID) {
  const thread = await client.threads.get(threadID);
  return thread.status;
}

// (a) Dynamic interrupt: hitl-server-api.md, JavaScript tab.
async function dynamicInterrupt() {
  console.log("(a) dynamic interrupt on graph 'agent'");
  const assistantID = "agent";

  const thread = await client.threads.create();
  const threadID = thread["thread_id"];
  check(`threads.create() returned a thread_id (${threadID})`, () => {
    assert.equal(typeof threadID, "string");
    assert.ok(threadID.length > 0);
  });

  // Run the graph until the interrupt is hit.
  const result = await client.runs.wait(threadID, assistantID, {
    input: { some_text: "original text" },
  });
  console.log(`    runs.wait -> ${show(result)}`);
  const interrupts = result["__interrupt__"];
  check("result.__interrupt__ is a non-empty array", () => {
    assert.ok(Array.isArray(interrupts), `__interrupt__ missing: ${show(result)}`);
    assert.ok(interrupts.length >= 1);
  });
  check("__interrupt__[0].value deep-equals {text_to_revise: 'original text'}", () => {
    assert.deepEqual(interrupts[0].value, { text_to_revise: "original text" });
  });
  check("__interrupt__[0].id is a string", () => {
    assert.equal(typeof interrupts[0].id, "string");
    assert.ok(interrupts[0].id.length > 0);
  });
  const pausedStatus = await statusOf(threadID);
  check(`thread status is 'interrupted' while waiting for the human (${pausedStatus})`, () => {
    assert.equal(pausedStatus, "interrupted");
  });

  // Resume the graph.
  const resumed = await client.runs.wait(threadID, assistantID, {
    command: { resume: "Edited text" },
  });
  console.log(`    runs.wait(command.resume) -> ${show(resumed)}`);
  check("resume returns exactly {some_text: 'Edited text'}", () => {
    assert.deepEqual(resumed, { some_text: "Edited text" });
  });
  const doneStatus = await statusOf(threadID);
  check(`thread status is 'idle' after the resume (${doneStatus})`, () => {
    assert.equal(doneStatus, "idle");
  });
}

// Steps a thread that is paused before node_a through node_a+node_b, then node_c.
// `resumeOptions` are the extra options given to every resume call.
async function stepThrough(threadID, assistantID, resumeOptions = {}) {
  const label = Object.keys(resumeOptions).length ? ` ${show(resumeOptions)}` : "";

  // Resume: runs node_a and node_b, pauses after node_b.
  const first = await client.runs.wait(threadID, assistantID, { input: null, ...resumeOptions });
  console.log(`    runs.wait({input: null}${label}) -> ${show(first)}`);
  check("1st resume: visited == ['node_a', 'node_b'] (paused after node_b)", () => {
    assert.deepEqual(first.visited, ["node_a", "node_b"]);
  });
  let next = await nextOf(threadID);
  check(`1st resume: getState().next == ['node_c'] (${show(next)})`, () => {
    assert.deepEqual(next, ["node_c"]);
  });
  let status = await statusOf(threadID);
  check(`1st resume: thread status 'interrupted' (${status})`, () => {
    assert.equal(status, "interrupted");
  });

  // Resume: runs node_c, pauses after node_c. node_c is the last node, so the
  // saved checkpoint has nothing left to run: `next` is empty (LangGraph semantics).
  const second = await client.runs.wait(threadID, assistantID, { input: null, ...resumeOptions });
  console.log(`    runs.wait({input: null}${label}) -> ${show(second)}`);
  check("2nd resume: visited == ['node_a', 'node_b', 'node_c'] (paused after node_c)", () => {
    assert.deepEqual(second.visited, ["node_a", "node_b", "node_c"]);
  });
  next = await nextOf(threadID);
  check(`2nd resume: getState().next == [] (${show(next)})`, () => {
    assert.deepEqual(next, []);
  });
  status = await statusOf(threadID);
  check(`2nd resume: thread status 'idle' (nothing left to run) (${status})`, () => {
    assert.equal(status, "idle");
  });

  // One more resume: the graph has finished, so nothing runs again.
  const third = await client.runs.wait(threadID, assistantID, { input: null, ...resumeOptions });
  console.log(`    runs.wait({input: null}${label}) -> ${show(third)}`);
  check("3rd resume is a no-op: visited still ['node_a', 'node_b', 'node_c']", () => {
    assert.deepEqual(third.visited, ["node_a", "node_b", "node_c"]);
  });
  next = await nextOf(threadID);
  check(`3rd resume: getState().next == [] (${show(next)})`, () => {
    assert.deepEqual(next, []);
  });
}

// (b) Static breakpoints set at compile time: breakpoints-server-api.md, JavaScript example.
async function compileTimeBreakpoints() {
  console.log("(b) compile-time breakpoints on graph 'breakpoints'");
  const assistantID = "breakpoints";
  const thread = await client.threads.create();
  const threadID = thread["thread_id"];

  // Run the graph until the breakpoint.
  const result = await client.runs.wait(threadID, assistantID, { input: { input: "hi" } });
  console.log(`    runs.wait({input: {input: 'hi'}}) -> ${show(result)}`);
  check("first run pauses before node_a: result == {input: 'hi', visited: []}", () => {
    assert.deepEqual(result, { input: "hi", visited: [] });
  });
  const next = await nextOf(threadID);
  check(`getState().next == ['node_a'] (${show(next)})`, () => {
    assert.deepEqual(next, ["node_a"]);
  });
  const status = await statusOf(threadID);
  check(`thread status 'interrupted' (${status})`, () => {
    assert.equal(status, "interrupted");
  });

  // Resume the graph, breakpoint by breakpoint.
  await stepThrough(threadID, assistantID);
}

// (c) Static breakpoints set at run time: breakpoints-server-api.md, "Run time" JavaScript tab.
async function runTimeBreakpoints() {
  console.log("(c) run-time breakpoints on graph 'chain'");
  const assistantID = "chain";
  const breakpoints = { interruptBefore: ["node_a"], interruptAfter: ["node_b", "node_c"] };

  // Run-time breakpoints are per invocation: pass them again on every resume to step.
  let thread = await client.threads.create();
  let threadID = thread["thread_id"];
  let result = await client.runs.wait(threadID, assistantID, {
    input: { input: "hi" },
    interruptBefore: ["node_a"],
    interruptAfter: ["node_b", "node_c"],
  });
  console.log(`    runs.wait({input: {input: 'hi'}, ...breakpoints}) -> ${show(result)}`);
  check("first run pauses before node_a: result == {input: 'hi', visited: []}", () => {
    assert.deepEqual(result, { input: "hi", visited: [] });
  });
  let next = await nextOf(threadID);
  check(`getState().next == ['node_a'] (${show(next)})`, () => {
    assert.deepEqual(next, ["node_a"]);
  });
  let status = await statusOf(threadID);
  check(`thread status 'interrupted' (${status})`, () => {
    assert.equal(status, "interrupted");
  });
  await stepThrough(threadID, assistantID, breakpoints);

  // The seed's resume call carries no breakpoints: the run goes to the end.
  console.log("(c') run-time breakpoints on 'chain', resumed without breakpoints");
  thread = await client.threads.create();
  threadID = thread["thread_id"];
  result = await client.runs.wait(threadID, assistantID, { input: { input: "hi" }, ...breakpoints });
  check("first run pauses before node_a: result == {input: 'hi', visited: []}", () => {
    assert.deepEqual(result, { input: "hi", visited: [] });
  });
  next = await nextOf(threadID);
  check(`getState().next == ['node_a'] (${show(next)})`, () => {
    assert.deepEqual(next, ["node_a"]);
  });
  result = await client.runs.wait(threadID, assistantID, { input: null });
  console.log(`    runs.wait({input: null}) -> ${show(result)}`);
  check("resume without breakpoints runs node_a, node_b and node_c to the end", () => {
    assert.deepEqual(result, { input: "hi", visited: ["node_a", "node_b", "node_c"] });
  });
  next = await nextOf(threadID);
  check(`getState().next == [] (${show(next)})`, () => {
    assert.deepEqual(next, []);
  });
  status = await statusOf(threadID);
  check(`thread status 'idle' (${status})`, () => {
    assert.equal(status, "idle");
  });
}

try {
  console.log(`seed_hitl.mjs against ${url}`);
  await dynamicInterrupt();
  await compileTimeBreakpoints();
  await runTimeBreakpoints();
  console.log(`all ${checks} checks passed`);
} catch (error) {
  console.error(`FAILED after ${checks} passing checks:`);
  console.error(error);
  process.exit(1);
}
