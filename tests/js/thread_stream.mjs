// The thread streaming protocol from JavaScript: node's fetch sends commands and reads the
// SSE event stream (@langchain/langgraph-sdk 2.0.0, the latest release, has no thread-stream
// client yet); the JS SDK's classic client checks the thread's state and decisions.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { Client } from "@langchain/langgraph-sdk";

const url = process.env.WAYPOINT_URL;
if (!url) throw new Error("WAYPOINT_URL is not set");
const client = new Client({ apiUrl: url });

async function command(threadId, id, method, params) {
  const res = await fetch(`${url}/threads/${threadId}/commands`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ id, method, params }),
  });
  assert.equal(res.status, 200);
  return res.json();
}

// Collect events from the SSE stream until `until(event)` holds, then disconnect.
async function readEvents(threadId, body, until) {
  const controller = new AbortController();
  const res = await fetch(`${url}/threads/${threadId}/stream/events`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify(body),
    signal: controller.signal,
  });
  assert.equal(res.status, 200);
  const events = [];
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  let buffer = "";
  for (;;) {
    const { value: chunk, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(chunk, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) !== -1 || (cut = buffer.indexOf("\r\n\r\n")) !== -1) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + (buffer.startsWith("\r\n\r\n", cut) ? 4 : 2));
      const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim());
      if (!data.length) continue;
      const event = JSON.parse(data.join("\n"));
      events.push(event);
      if (until(event)) {
        await reader.cancel();
        controller.abort();
        return events;
      }
    }
  }
  return events;
}

const rootLifecycle = (phase) => (e) =>
  e.method === "lifecycle" && e.params.namespace.length === 0 && e.params.data.event === phase;

const threadId = randomUUID();
const started = await command(threadId, 1, "run.start", { assistant_id: "agent", input: { some_text: "from js" } });
assert.equal(started.type, "success");
assert.ok(started.result.run_id);

const first = await readEvents(threadId, { channels: ["lifecycle", "input"], since: 0 }, rootLifecycle("interrupted"));
const requested = first.filter((e) => e.method === "input.requested");
assert.equal(requested.length, 1);
assert.deepEqual(requested[0].params.data.payload, { text_to_revise: "from js" });

const answered = await command(threadId, 2, "input.respond", {
  interrupt_id: requested[0].params.data.interrupt_id,
  namespace: [],
  response: "answered in js",
});
assert.equal(answered.type, "success");

const cursor = first[first.length - 1].seq;
const rest = await readEvents(threadId, { channels: ["lifecycle"], since: cursor }, rootLifecycle("completed"));
assert.deepEqual(rest.map((e) => e.params.data.event), ["running", "completed"]);
assert.ok(rest.every((e) => e.seq > cursor));

const state = await client.threads.getState(threadId);
assert.deepEqual(state.values, { some_text: "answered in js" });
const thread = await client.threads.get(threadId);
assert.equal(thread.status, "idle");

console.log("thread stream checks passed");
