"""A2A at `/a2a/{assistant_id}` and the agent card, with the `a2a-sdk` package.

As the official server's A2A endpoint (LangGraph docs, "A2A endpoint in Agent Server";
its OpenAPI `/a2a/{assistant_id}`): JSON-RPC 2.0, methods `message/send`,
`message/stream` (SSE), `tasks/get`, `tasks/cancel` — A2A 0.3 as the official server
speaks it, and the same methods in A2A 1.0 form (`SendMessage`, `SendStreamingMessage`,
`GetTask`, `CancelTask`, with an `A2A-Version: 1.0` header): the SDK's `JsonRpcDispatcher`
parses, validates and serialises both; `api/a2a_tasks.py` maps them onto Waypoint's runs
(imported on the first A2A request).
The agent card of an assistant is at `GET /.well-known/agent-card.json?assistant_id=…`.
`http.disable_a2a` removes both routes.

The mapping:
- `contextId` is a thread id (a message without one starts a new thread);
- `taskId` is the id of the run that started the task; the runs that resume it carry
  `metadata.a2a_task_id`, so a task is its first run plus its resumes;
- text parts become one user message appended to the graph's `messages` input (a graph
  whose input schema has no `messages` gets an invalid-params error saying so); data
  parts (JSON objects) are merged into the input as they are;
- task state from the latest run of the task: `pending` → `submitted`, `running` →
  `working`, `success` → `completed`, or `input-required` when the thread is paused at
  an interrupt (the status message carries the interrupts as a data part, and each value
  as text), `error`/`timeout` → `failed`, `interrupted` (cancelled) → `canceled`;
- a message naming an `input-required` task resumes it: `Command(resume=value)` on its
  thread through Waypoint's exactly-once resume (the decision audit trail records it),
  where value is the message's data part, else its text; a task that already ended takes
  no more messages;
- artifacts of a completed task: the last AI message as text, else the output values as
  data; `history` lists the thread's messages (`historyLength` keeps the last N);
- `tasks/cancel` stops a submitted or working task (its run is cancelled with
  `action="interrupt"`); other tasks are not cancelable (error -32002).
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request

from waypoint.api.auth import authorize
from waypoint.api.deps import JSONResponse, services
from waypoint.service import Services
from waypoint.service.auth import AuthError, matches
from waypoint.storage import NotFound

router = APIRouter(tags=["a2a"], default_response_class=JSONResponse)


def _dispatcher(request: Request):
    dispatcher = getattr(request.app.state, "a2a_dispatcher", None)
    if dispatcher is None:
        from waypoint.api import a2a_tasks  # on first use: the a2a-sdk package is slow to import

        dispatcher = request.app.state.a2a_dispatcher = a2a_tasks.dispatcher(request.app.state.services)
    return dispatcher


@router.post("/a2a/{assistant_id}")
async def a2a_rpc(assistant_id: str, request: Request, s: Services = Depends(services)):
    """A2A JSON-RPC 2.0 (see the module docstring): `message/send`, `message/stream`,
    `tasks/get`, `tasks/cancel`. `404` when the assistant does not exist."""
    request.state.assistant = await s.assistants.resolve(assistant_id)
    return await _dispatcher(request).handle_requests(request)


@router.get("/.well-known/agent-card.json")
async def agent_card(request: Request, assistant_id: str = Query(...), s: Services = Depends(services)):
    """The A2A agent card of an assistant: name, description, the JSON-RPC endpoint
    (A2A 1.0 and 0.3 interfaces), streaming, one skill (its graph). `404` for a missing
    assistant (or one the caller may not read)."""
    from waypoint.api import a2a_tasks

    assistant = await s.assistants.resolve(assistant_id)
    try:
        wanted = await authorize(request, "assistants", "read", {"assistant_id": uuid.UUID(assistant["assistant_id"])})
    except AuthError as exc:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)
    if wanted and not matches(assistant.get("metadata") or {}, wanted):
        raise NotFound(f"Assistant {assistant_id} not found")
    url = str(request.url_for("a2a_rpc", assistant_id=assistant["assistant_id"]))
    return a2a_tasks.agent_card(assistant, url)
