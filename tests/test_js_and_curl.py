"""The seed docs' JavaScript and cURL examples, run against the shared server.

* The JavaScript tabs of hitl-server-api.md and breakpoints-server-api.md run through the
  official `@langchain/langgraph-sdk` in `tests/js/seed_hitl.mjs` (node + npm).
* The cURL tabs run through the real `curl` binary: the snippets below are the seeds' bash
  text, copied verbatim; only the placeholders (<DEPLOYMENT_URL>, <THREAD_ID>, <INPUT>) and,
  for the breakpoint examples, the assistant name are filled in (the seeds say "agent", a
  graph without node_a; the breakpoint graphs here are `breakpoints` and `chain`).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

JS_DIR = Path(__file__).resolve().parent / "js"

# --- the seeds' cURL snippets, verbatim -------------------------------------------------

CREATE_THREAD = """\
curl --request POST \\
--url <DEPLOYMENT_URL>/threads \\
--header 'Content-Type: application/json' \\
--data '{}'
"""

HITL_RUN_UNTIL_INTERRUPT = """\
curl --request POST \\
--url <DEPLOYMENT_URL>/threads/<THREAD_ID>/runs/wait \\
--header 'Content-Type: application/json' \\
--data "{
  \\"assistant_id\\": \\"agent\\",
  \\"input\\": {\\"some_text\\": \\"original text\\"}
}"
"""

HITL_RESUME = """\
curl --request POST \\
 --url <DEPLOYMENT_URL>/threads/<THREAD_ID>/runs/wait \\
 --header 'Content-Type: application/json' \\
 --data "{
   \\"assistant_id\\": \\"agent\\",
   \\"command\\": {
     \\"resume\\": \\"Edited text\\"
   }
 }"
"""

RUN_TIME_BREAKPOINTS = """\
curl --request POST \\
--url <DEPLOYMENT_URL>/threads/<THREAD_ID>/runs/wait \\
--header 'Content-Type: application/json' \\
--data "{
    \\"assistant_id\\": \\"agent\\",
    \\"interrupt_before\\": [\\"node_a\\"],
    \\"interrupt_after\\": [\\"node_b\\", \\"node_c\\"],
    \\"input\\": <INPUT>
}"
"""

RUN_UNTIL_BREAKPOINT = """\
curl --request POST \\
--url <DEPLOYMENT_URL>/threads/<THREAD_ID>/runs/wait \\
--header 'Content-Type: application/json' \\
--data "{
  \\"assistant_id\\": \\"agent\\",
  \\"input\\": <INPUT>
}"
"""

# The resume call of the breakpoint seed: the body has no "input" at all.
RESUME_BREAKPOINT = """\
curl --request POST \\
--url <DEPLOYMENT_URL>/threads/<THREAD_ID>/runs/wait \\
--header 'Content-Type: application/json' \\
--data "{
  \\"assistant_id\\": \\"agent\\"
}"
"""

# <INPUT> for the breakpoint graphs (state: optional `input` string, `visited` list),
# written as it would appear inside the seed's double-quoted --data string.
BREAKPOINT_INPUT = '{\\"input\\": \\"hi\\"}'


def run_curl(snippet: str, *, url: str, thread_id: str = "", assistant: str = "agent",
             input_json: str = "") -> dict:
    """Run one seed snippet with the curl binary and return the parsed JSON response.

    The bash text is split the way a POSIX shell would (line continuations, single
    quotes, escaped double quotes); `--silent --show-error --fail-with-body` are added so
    that HTTP errors fail the call with the server's body in the message.
    """
    text = (snippet.replace("<DEPLOYMENT_URL>", url)
            .replace("<THREAD_ID>", thread_id)
            .replace("<INPUT>", input_json)
            .replace('\\"assistant_id\\": \\"agent\\"', f'\\"assistant_id\\": \\"{assistant}\\"'))
    argv = shlex.split(text.replace("\\\n", " "))
    assert argv[0] == "curl", argv
    argv[1:1] = ["--silent", "--show-error", "--fail-with-body", "--max-time", "60"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, (
        f"curl exited with {proc.returncode}\nargv: {argv}\n"
        f"stdout: {proc.stdout}\nstderr: {proc.stderr}")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"curl output is not JSON\nargv: {argv}\nstdout: {proc.stdout!r}")


def get_json(url: str) -> dict:
    response = httpx.get(url, timeout=30)
    response.raise_for_status()
    return response.json()


@pytest.fixture
def curl_bin() -> str:
    path = shutil.which("curl")
    if path is None:
        pytest.skip("curl not installed")
    return path


def create_thread(url: str) -> str:
    thread = run_curl(CREATE_THREAD, url=url)
    assert isinstance(thread.get("thread_id"), str) and thread["thread_id"], thread
    return thread["thread_id"]


# --- JavaScript ---------------------------------------------------------------------------

def test_js_sdk_seed_examples(server):
    """tests/js/seed_hitl.mjs: the seeds' JavaScript examples with @langchain/langgraph-sdk."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the JavaScript SDK tests (not on PATH)")
    if not (JS_DIR / "node_modules").is_dir():
        install = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS_DIR,
                                 capture_output=True, text=True, timeout=600)
        assert install.returncode == 0, (
            f"npm ci failed in {JS_DIR} (exit {install.returncode})\n"
            f"stdout:\n{install.stdout}\nstderr:\n{install.stderr}")
    env = {**os.environ, "WAYPOINT_URL": server.url}
    proc = subprocess.run([node, "seed_hitl.mjs"], cwd=JS_DIR, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (
        f"node seed_hitl.mjs exited with {proc.returncode}\n"
        f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}\nserver log tail:\n{server.log()[-4000:]}")
    assert "checks passed" in proc.stdout, proc.stdout


# --- cURL ---------------------------------------------------------------------------------

def test_curl_create_thread(server, curl_bin):
    thread = run_curl(CREATE_THREAD, url=server.url)
    assert isinstance(thread["thread_id"], str) and thread["thread_id"]
    assert thread["status"] == "idle"
    assert thread["metadata"] == {}


def test_curl_dynamic_interrupt(server, curl_bin):
    """hitl-server-api.md, cURL tab: run until interrupt(), then resume with command.resume."""
    thread_id = create_thread(server.url)

    result = run_curl(HITL_RUN_UNTIL_INTERRUPT, url=server.url, thread_id=thread_id)
    assert result["some_text"] == "original text"
    interrupts = result["__interrupt__"]
    assert isinstance(interrupts, list) and len(interrupts) == 1, result
    assert interrupts[0]["value"] == {"text_to_revise": "original text"}
    assert isinstance(interrupts[0]["id"], str) and interrupts[0]["id"]

    thread = get_json(f"{server.url}/threads/{thread_id}")
    assert thread["status"] == "interrupted"

    resumed = run_curl(HITL_RESUME, url=server.url, thread_id=thread_id)
    assert resumed == {"some_text": "Edited text"}

    thread = get_json(f"{server.url}/threads/{thread_id}")
    assert thread["status"] == "idle"
    assert thread["values"] == {"some_text": "Edited text"}


def test_curl_run_time_breakpoints(server, curl_bin):
    """breakpoints-server-api.md, run-time cURL tab on `chain` (no compile-time breakpoints).

    The first call pauses before node_a. The seed's resume call carries no breakpoints, and
    run-time breakpoints belong to the run that set them, so the resume runs to the end.
    """
    thread_id = create_thread(server.url)

    result = run_curl(RUN_TIME_BREAKPOINTS, url=server.url, thread_id=thread_id,
                      assistant="chain", input_json=BREAKPOINT_INPUT)
    assert result == {"input": "hi", "visited": []}
    state = get_json(f"{server.url}/threads/{thread_id}/state")
    assert state["next"] == ["node_a"]
    assert get_json(f"{server.url}/threads/{thread_id}")["status"] == "interrupted"

    resumed = run_curl(RESUME_BREAKPOINT, url=server.url, thread_id=thread_id, assistant="chain")
    assert resumed == {"input": "hi", "visited": ["node_a", "node_b", "node_c"]}
    state = get_json(f"{server.url}/threads/{thread_id}/state")
    assert state["next"] == []
    assert get_json(f"{server.url}/threads/{thread_id}")["status"] == "idle"


def test_curl_run_time_breakpoints_repeated_on_resume(server, curl_bin):
    """Run-time breakpoints given again on each resume step through node_b and node_c."""
    thread_id = create_thread(server.url)

    result = run_curl(RUN_TIME_BREAKPOINTS, url=server.url, thread_id=thread_id,
                      assistant="chain", input_json=BREAKPOINT_INPUT)
    assert result == {"input": "hi", "visited": []}
    assert get_json(f"{server.url}/threads/{thread_id}/state")["next"] == ["node_a"]

    # The same call with "input": null resumes from the breakpoint.
    result = run_curl(RUN_TIME_BREAKPOINTS, url=server.url, thread_id=thread_id,
                      assistant="chain", input_json="null")
    assert result == {"input": "hi", "visited": ["node_a", "node_b"]}
    assert get_json(f"{server.url}/threads/{thread_id}/state")["next"] == ["node_c"]
    assert get_json(f"{server.url}/threads/{thread_id}")["status"] == "interrupted"

    result = run_curl(RUN_TIME_BREAKPOINTS, url=server.url, thread_id=thread_id,
                      assistant="chain", input_json="null")
    assert result == {"input": "hi", "visited": ["node_a", "node_b", "node_c"]}
    assert get_json(f"{server.url}/threads/{thread_id}/state")["next"] == []
    assert get_json(f"{server.url}/threads/{thread_id}")["status"] == "idle"


def test_curl_compile_time_breakpoints(server, curl_bin):
    """breakpoints-server-api.md, example cURL tab on `breakpoints` (compiled with
    interrupt_before=["node_a"], interrupt_after=["node_b", "node_c"]): each resume call,
    whose body has no input, runs to the next breakpoint."""
    thread_id = create_thread(server.url)

    result = run_curl(RUN_UNTIL_BREAKPOINT, url=server.url, thread_id=thread_id,
                      assistant="breakpoints", input_json=BREAKPOINT_INPUT)
    assert result == {"input": "hi", "visited": []}
    assert get_json(f"{server.url}/threads/{thread_id}/state")["next"] == ["node_a"]
    assert get_json(f"{server.url}/threads/{thread_id}")["status"] == "interrupted"

    # Resume: node_a and node_b run, paused after node_b.
    result = run_curl(RESUME_BREAKPOINT, url=server.url, thread_id=thread_id,
                      assistant="breakpoints")
    assert result == {"input": "hi", "visited": ["node_a", "node_b"]}
    assert get_json(f"{server.url}/threads/{thread_id}/state")["next"] == ["node_c"]
    assert get_json(f"{server.url}/threads/{thread_id}")["status"] == "interrupted"

    # Resume: node_c runs, paused after node_c; it is the last node, so nothing is next.
    result = run_curl(RESUME_BREAKPOINT, url=server.url, thread_id=thread_id,
                      assistant="breakpoints")
    assert result == {"input": "hi", "visited": ["node_a", "node_b", "node_c"]}
    assert get_json(f"{server.url}/threads/{thread_id}/state")["next"] == []
    assert get_json(f"{server.url}/threads/{thread_id}")["status"] == "idle"

    # Nothing left to run: another resume changes nothing.
    result = run_curl(RESUME_BREAKPOINT, url=server.url, thread_id=thread_id,
                      assistant="breakpoints")
    assert result == {"input": "hi", "visited": ["node_a", "node_b", "node_c"]}
    assert get_json(f"{server.url}/threads/{thread_id}/state")["next"] == []
