"""The A2A ↔ Waypoint mapping behind `/a2a/{assistant_id}` (routes in `api/a2a.py`,
which import this module on first use: the `a2a-sdk` package adds a second to start-up).

`WaypointRequestHandler` implements the SDK's `RequestHandler` over Waypoint's services;
the SDK's `JsonRpcDispatcher` (`dispatcher()`) parses, validates and serialises A2A 1.0
and 0.3 JSON-RPC around it; `agent_card()` builds an assistant's card. The mapping itself
is described in `api/a2a.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Any

from a2a.helpers.proto_helpers import get_data_parts, get_text_parts, new_data_part, new_text_part
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers.request_handler import RequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.server.routes.jsonrpc_dispatcher import JsonRpcDispatcher
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Artifact,
    Message,
    Role,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from a2a.utils.errors import (
    InvalidParamsError,
    PushNotificationNotSupportedError,
    TaskNotCancelableError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from starlette.requests import Request

from waypoint import __version__, serde
from waypoint.api.auth import authorize, new_thread_metadata, run_config, with_user
from waypoint.service import Services
from waypoint.service.auth import AuthError, matches
from waypoint.service.errors import ServiceError
from waypoint.storage import NotFound

#: Run status → A2A task state (a `success` run whose thread is paused is `input-required`).
_STATES = {
    "pending": TaskState.TASK_STATE_SUBMITTED, "running": TaskState.TASK_STATE_WORKING,
    "success": TaskState.TASK_STATE_COMPLETED, "error": TaskState.TASK_STATE_FAILED,
    "timeout": TaskState.TASK_STATE_FAILED, "interrupted": TaskState.TASK_STATE_CANCELED,
}
_ACTIVE = (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING)
_TASK_KEY = "a2a_task_id"


class _ContextBuilder(DefaultServerCallContextBuilder):
    """Keeps the request (its user, its resolved assistant) for the handler."""

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        context.state["request"] = request
        return context


class WaypointRequestHandler(RequestHandler):
    """A2A methods over Waypoint's services (see the module docstring for the mapping)."""

    def __init__(self, services: Services):
        self.s = services

    # -- messages ------------------------------------------------------------
    async def on_message_send(self, params, context: ServerCallContext) -> Task:
        request = context.state["request"]
        with with_user(request):
            task_id, thread_id, run = await self._start(request, params.message)
            if not params.configuration.return_immediately:
                await self.s.runs.wait(run["run_id"])
            config = params.configuration
            return await self._task(request, task_id, config.history_length if config.HasField("history_length") else None)

    async def on_message_send_stream(self, params, context: ServerCallContext) -> AsyncGenerator[Any]:
        """The task, then a `working` status update per new AI message the graph writes,
        the result artifact, and the final status (completed, input-required, failed, canceled)."""
        request = context.state["request"]
        # The user is set around each step, never across a `yield`: the SSE response
        # iterates this generator from another task (another context).
        with with_user(request):
            task_id, thread_id, run = await self._start(request, params.message)
            first = await self._task(request, task_id, None)
        if first.status.state not in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING):
            # The run ended before this read (a quick graph); the events below replay it from
            # its start, so the stream opens on the task as it stood then, not on its end.
            first.status.CopyFrom(TaskStatus(state=TaskState.TASK_STATE_SUBMITTED))
            del first.artifacts[:]
        yield first
        seen = None
        async for event in self.s.runs.stream(run["run_id"]):
            if event.event != "values":
                continue
            last = _last_ai_message(serde.loads(event.data))
            if last is not None and last.get("id", id(last)) != seen:
                seen = last.get("id", id(last))
                yield TaskStatusUpdateEvent(
                    task_id=task_id, context_id=thread_id,
                    status=TaskStatus(state=TaskState.TASK_STATE_WORKING,
                                      message=_to_a2a_message(last, thread_id, task_id)),
                )
        await self.s.runs.wait(run["run_id"])
        with with_user(request):
            task = await self._task(request, task_id, None)
        for artifact in task.artifacts:
            yield TaskArtifactUpdateEvent(task_id=task_id, context_id=thread_id, artifact=artifact, last_chunk=True)
        yield TaskStatusUpdateEvent(task_id=task_id, context_id=thread_id, status=task.status)

    async def _start(self, request: Request, message: Message) -> tuple[str, str, dict]:
        """Start or resume the task `message` names; returns (task id, thread id, run)."""
        assistant = request.state.assistant
        if not message.parts:
            raise InvalidParamsError(message="message.parts is empty")
        if any(p.WhichOneof("content") not in ("text", "data") for p in message.parts):
            raise InvalidParamsError(message="only text and data parts are supported (no file parts)")
        thread_id = message.context_id or str(uuid.uuid4())
        try:
            uuid.UUID(thread_id)
        except ValueError:
            raise InvalidParamsError(message=f"contextId must be a UUID (a thread id), got {thread_id!r}") from None
        body: dict[str, Any] = {"assistant_id": assistant["assistant_id"], "metadata": {}}
        if message.task_id:
            task_id = message.task_id
            task = await self._task(request, task_id, 0)
            if message.context_id and message.context_id != task.context_id:
                raise InvalidParamsError(message=f"Task {task_id} belongs to context {task.context_id}")
            if task.status.state != TaskState.TASK_STATE_INPUT_REQUIRED:
                state = TaskState.Name(task.status.state).removeprefix("TASK_STATE_").lower().replace("_", "-")
                raise InvalidParamsError(
                    message=f"Task {task_id} is {state}: only an input-required task takes another message; "
                    "send one without taskId to start a new task in this context"
                )
            thread_id = task.context_id
            data = get_data_parts(message.parts)
            body.update(command={"resume": data[0] if len(data) == 1 else "\n".join(get_text_parts(message.parts))},
                        metadata={_TASK_KEY: task_id})
        else:
            task_id = None
            body["input"] = await self._input(assistant, message)
        value = {"thread_id": uuid.UUID(thread_id), "assistant_id": assistant["assistant_id"],
                 "metadata": body["metadata"], "kwargs": {k: body.get(k) for k in ("input", "command")}}
        thread = await self._visible_thread(request, thread_id, "create_run", value)
        body["metadata"] = value["metadata"]
        body["config"] = run_config(request.scope.get("auth_user"))
        try:
            if thread is None:  # a new context: created as `POST /threads` creates one
                try:
                    metadata = await new_thread_metadata(request, thread_id)
                except AuthError as exc:
                    raise InvalidParamsError(message=f"Refused ({exc.status}): {exc.detail}") from None
                await self.s.threads.create({"thread_id": thread_id, "metadata": metadata, "if_exists": "do_nothing"})
            run = await self.s.runs.create(thread_id, body)
        except ServiceError as exc:
            raise InvalidParamsError(message=str(exc)) from None
        return task_id or run["run_id"], thread_id, run

    async def _input(self, assistant: dict, message: Message) -> dict[str, Any]:
        """The graph input of a message that starts a task."""
        values: dict[str, Any] = {}
        for data in get_data_parts(message.parts):
            if not isinstance(data, dict):
                raise InvalidParamsError(message="a data part must hold a JSON object (merged into the graph input)")
            values.update(data)
        texts = get_text_parts(message.parts)
        if texts:
            schema = (await self.s.assistants.get_schemas(assistant["assistant_id"]))["input_schema"] or {}
            if "messages" not in (schema.get("properties") or {}):
                raise InvalidParamsError(
                    message=f"Assistant {assistant['assistant_id']} (graph {assistant['graph_id']!r}) has no "
                    "'messages' input, so text parts cannot be delivered; send a data part holding the graph's input"
                )
            user_message = {"type": "human", "content": "\n".join(texts)}
            if message.message_id:
                user_message["id"] = message.message_id
            values["messages"] = [*(values.get("messages") or []), user_message]
        return values

    # -- tasks -----------------------------------------------------------------
    async def on_get_task(self, params, context: ServerCallContext) -> Task:
        request = context.state["request"]
        with with_user(request):
            history = params.history_length if params.HasField("history_length") else None
            return await self._task(request, params.id, history)

    async def on_cancel_task(self, params, context: ServerCallContext) -> Task:
        request = context.state["request"]
        with with_user(request):
            task = await self._task(request, params.id, 0, action="update")
            if task.status.state not in _ACTIVE:
                state = TaskState.Name(task.status.state).removeprefix("TASK_STATE_").lower().replace("_", "-")
                raise TaskNotCancelableError(message=f"Task {params.id} is {state}: only a submitted or working task can be canceled")
            run_id = task.metadata["run_id"]
            await self.s.runs.cancel(task.context_id, run_id, action="interrupt", wait=True)
            return await self._task(request, params.id, None)

    async def _task(self, request: Request, task_id: str, history_length: int | None, action: str = "read") -> Task:
        """The A2A task `task_id` of the path's assistant. Raises `TaskNotFoundError`."""
        assistant = request.state.assistant
        try:
            first = await self.s.runs.get(None, str(uuid.UUID(task_id)))
        except (ValueError, NotFound):
            raise TaskNotFoundError(message=f"Task {task_id} not found") from None
        if first["assistant_id"] != assistant["assistant_id"] or (first.get("metadata") or {}).get(_TASK_KEY):
            raise TaskNotFoundError(message=f"Task {task_id} not found")
        thread_id = first["thread_id"]
        thread = await self._visible_thread(request, thread_id, action, {"thread_id": uuid.UUID(thread_id)})
        if thread is None:
            raise TaskNotFoundError(message=f"Task {task_id} not found")
        runs = await self.s.runs.list(thread_id, limit=1000, offset=0, status=None)
        mine = [r for r in runs if r["run_id"] == task_id or (r.get("metadata") or {}).get(_TASK_KEY) == task_id]
        latest = max(mine, key=lambda r: r["created_at"]) if mine else first
        state = await self.s.threads.get_state(thread_id)
        values = state.get("values") if isinstance(state.get("values"), dict) else {}
        task_state = _STATES.get(latest["status"], TaskState.TASK_STATE_UNSPECIFIED)
        newest = max(runs, key=lambda r: r["created_at"]) if runs else latest
        status = TaskStatus(state=task_state)
        artifacts: list[Artifact] = []
        if task_state == TaskState.TASK_STATE_COMPLETED and newest["run_id"] == latest["run_id"] and state.get("interrupts"):
            status = TaskStatus(state=TaskState.TASK_STATE_INPUT_REQUIRED, message=_interrupt_message(
                state["interrupts"], thread_id, task_id))
        elif task_state == TaskState.TASK_STATE_COMPLETED:
            artifacts = [_result_artifact(values, task_id)]
        elif task_state == TaskState.TASK_STATE_FAILED:
            run = await self.s.runs.get(thread_id, latest["run_id"])
            error = run.get("error") or {}
            text = f"{error.get('error', 'Error')}: {error.get('message', '')}" if error else "The run failed"
            status = TaskStatus(state=task_state, message=Message(
                message_id=str(uuid.uuid4()), role=Role.ROLE_AGENT, context_id=thread_id, task_id=task_id,
                parts=[new_text_part(text)]))
        history = [_to_a2a_message(m, thread_id, task_id) for m in values.get("messages") or [] if isinstance(m, dict)]
        if history_length is not None:
            history = history[-history_length:] if history_length else []
        task = Task(id=task_id, context_id=thread_id, status=status, artifacts=artifacts, history=history)
        task.metadata.update({"run_id": latest["run_id"], "assistant_id": assistant["assistant_id"]})
        return task

    async def _visible_thread(self, request: Request, thread_id: str, action: str, value: dict) -> dict | None:
        """The thread (None if it does not exist), authorized for `threads.<action>` with
        `value`; one the auth handler filters out reads as missing."""
        try:
            wanted = await authorize(request, "threads", action, value)
        except AuthError as exc:
            raise InvalidParamsError(message=f"Refused ({exc.status}): {exc.detail}") from None
        try:
            thread = await self.s.threads.get(thread_id)
        except NotFound:
            return None
        if wanted and not matches(thread.get("metadata") or {}, wanted):
            if action == "create_run":
                raise InvalidParamsError(message=f"Context {thread_id} not found")
            return None
        return thread

    # -- not offered -------------------------------------------------------------
    async def on_list_tasks(self, params, context):
        raise UnsupportedOperationError(message="tasks/list is not supported")

    async def on_subscribe_to_task(self, params, context):
        raise UnsupportedOperationError(message="tasks/resubscribe is not supported")
        yield  # an async generator, as the interface declares

    async def on_create_task_push_notification_config(self, params, context):
        raise PushNotificationNotSupportedError()

    async def on_get_task_push_notification_config(self, params, context):
        raise PushNotificationNotSupportedError()

    async def on_list_task_push_notification_configs(self, params, context):
        raise PushNotificationNotSupportedError()

    async def on_delete_task_push_notification_config(self, params, context):
        raise PushNotificationNotSupportedError()

    async def on_get_extended_agent_card(self, params, context):
        raise UnsupportedOperationError(message="there is no extended agent card")


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content
                       if isinstance(b, str) or (isinstance(b, dict) and b.get("type") == "text"))
    return serde.dumps_str(content)


def _to_a2a_message(message: dict, thread_id: str, task_id: str) -> Message:
    """A LangChain message (as JSON) as an A2A message: `human` is the user, anything else the agent."""
    role = Role.ROLE_USER if message.get("type") == "human" else Role.ROLE_AGENT
    return Message(message_id=str(message.get("id") or uuid.uuid4()), role=role, context_id=thread_id,
                   task_id=task_id, parts=[new_text_part(_text_of(message.get("content")))])


def _last_ai_message(values: Any) -> dict | None:
    messages = values.get("messages") if isinstance(values, dict) else None
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict) and messages[-1].get("type") == "ai":
        return messages[-1]
    return None


def _interrupt_message(interrupts: list[dict], thread_id: str, task_id: str) -> Message:
    """The status message of an `input-required` task: each interrupt's value as text
    (JSON unless a string), and all of them (`id`, `value`) as one data part."""
    parts = [new_text_part(i["value"] if isinstance(i["value"], str) else serde.dumps_str(i["value"]))
             for i in interrupts]
    parts.append(new_data_part({"interrupts": [{"id": i["id"], "value": i["value"]} for i in interrupts]}))
    return Message(message_id=str(uuid.uuid4()), role=Role.ROLE_AGENT, context_id=thread_id, task_id=task_id,
                   parts=parts)


def _result_artifact(values: dict, task_id: str) -> Artifact:
    last = _last_ai_message(values)
    part = new_text_part(_text_of(last.get("content"))) if last is not None else new_data_part(values)
    return Artifact(artifact_id=f"{task_id}-result", name="result", parts=[part])


def dispatcher(services: Services) -> JsonRpcDispatcher:
    """The SDK's JSON-RPC dispatcher (A2A 1.0, and 0.3 on the same endpoint) over `services`."""
    return JsonRpcDispatcher(WaypointRequestHandler(services), context_builder=_ContextBuilder(),
                             enable_v0_3_compat=True)


def agent_card(assistant: dict, url: str) -> dict[str, Any]:
    """The agent card of `assistant` served at `url` (its JSON-RPC endpoint), as JSON: the
    A2A 1.0 fields with the 0.3 ones (`url`, `protocolVersion`, `preferredTransport`) merged in."""
    description = assistant.get("description") or f"LangGraph graph {assistant['graph_id']!r} served by Waypoint"
    card = AgentCard(
        name=assistant.get("name") or assistant["graph_id"], description=description,
        version=str(assistant.get("version") or __version__),
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="1.0"),
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version="0.3"),
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=["text/plain", "application/json"],
        default_output_modes=["text/plain", "application/json"],
        skills=[AgentSkill(id=assistant["graph_id"], name=assistant.get("name") or assistant["graph_id"],
                           description=description, tags=["langgraph", assistant["graph_id"]])],
    )
    return agent_card_to_dict(card)
