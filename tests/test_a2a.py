"""A2A at `/a2a/{assistant_id}`, driven by the `a2a-sdk` client against a live server, in
A2A 1.0 and in 0.3 (the protocol the official server speaks): the agent card, send,
stream, get, cancel, and a task that pauses at `interrupt()` and is resumed through
Waypoint's exactly-once resume (with its decision audit trail)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import httpx
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.client.card_resolver import A2ACardResolver, parse_agent_card
from a2a.client.errors import AgentCardResolutionError
from a2a.types import CancelTaskRequest, GetTaskRequest, Message, Part, Role, SendMessageRequest, TaskState
from a2a.utils.errors import A2AError, InvalidParamsError, TaskNotCancelableError, TaskNotFoundError
from google.protobuf.json_format import MessageToDict
from google.protobuf.struct_pb2 import Value

VERSIONS = ["1.0", "0.3"]


@contextlib.asynccontextmanager
async def a2a_client(server, assistant_id: str = "chat", version: str = "1.0", streaming: bool = False):
    """An a2a-sdk client built from the assistant's agent card; `version="0.3"` keeps only the
    card's 0.3 fields, so the SDK talks A2A 0.3 (`message/send`, …) as to the official server."""
    async with httpx.AsyncClient(timeout=120) as http:
        card = (await http.get(f"{server.url}/.well-known/agent-card.json",
                               params={"assistant_id": assistant_id})).json()
        if version == "0.3":
            card.pop("supportedInterfaces")
        client = ClientFactory(ClientConfig(streaming=streaming, httpx_client=http)).create(parse_agent_card(card))
        yield client
        await client.close()


def text_message(text: str, context_id: str = "", task_id: str = "") -> SendMessageRequest:
    return SendMessageRequest(message=Message(
        message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=text)],
        context_id=context_id, task_id=task_id))


def data_message(data: dict, context_id: str = "", task_id: str = "") -> SendMessageRequest:
    value = Value()
    value.struct_value.update(data)
    return SendMessageRequest(message=Message(
        message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(data=value)],
        context_id=context_id, task_id=task_id))


async def send(client, request: SendMessageRequest):
    """The events of a send (one `task` when not streaming)."""
    return [event async for event in client.send_message(request)]


def texts(parts) -> list[str]:
    return [p.text for p in parts if p.WhichOneof("content") == "text"]


async def test_agent_card(server, client):
    assistant = await client.assistants.create("chat", name="Card bot", description="Answers A2A calls.")
    async with httpx.AsyncClient() as http:
        resolver = A2ACardResolver(http, server.url)
        card = await resolver.get_agent_card(http_kwargs={"params": {"assistant_id": assistant["assistant_id"]}})
        missing = await http.get(f"{server.url}/.well-known/agent-card.json", params={"assistant_id": "nope"})
        with pytest.raises(AgentCardResolutionError):
            await resolver.get_agent_card(http_kwargs={"params": {"assistant_id": str(uuid.uuid4())}})
    assert (card.name, card.description) == ("Card bot", "Answers A2A calls.")
    assert card.capabilities.streaming
    assert {(i.url, i.protocol_binding, i.protocol_version) for i in card.supported_interfaces} == {
        (f"{server.url}/a2a/{assistant['assistant_id']}", "JSONRPC", version) for version in VERSIONS}
    assert [s.id for s in card.skills] == ["chat"]
    assert missing.status_code == 404 and "detail" in missing.json()


@pytest.mark.parametrize("version", VERSIONS)
async def test_send_and_get(server, client, version):
    async with a2a_client(server, version=version) as a2a:
        [first] = await send(a2a, text_message("hi"))
        task = first.task
        assert task.status.state == TaskState.TASK_STATE_COMPLETED
        assert texts(task.artifacts[0].parts) == ["echo: hi"]
        assert [(m.role, texts(m.parts)) for m in task.history] == [
            (Role.ROLE_USER, ["hi"]), (Role.ROLE_AGENT, ["echo: hi"])]
        # contextId is the thread, taskId the run that carried the task.
        run = await client.runs.get(task.context_id, task.id)
        assert run["status"] == "success"
        state = await client.threads.get_state(task.context_id)
        assert [m["content"] for m in state["values"]["messages"]] == ["hi", "echo: hi"]
        # A second message in the same context is a new task on the same thread.
        [second] = await send(a2a, text_message("more", context_id=task.context_id))
        assert second.task.context_id == task.context_id and second.task.id != task.id
        got = await a2a.get_task(GetTaskRequest(id=second.task.id, history_length=1))
        assert got.status.state == TaskState.TASK_STATE_COMPLETED
        assert [texts(m.parts) for m in got.history] == [["echo: more"]]
        assert texts(got.artifacts[0].parts) == ["echo: more"]
        with pytest.raises(TaskNotFoundError):
            await a2a.get_task(GetTaskRequest(id=str(uuid.uuid4())))


@pytest.mark.parametrize("version", VERSIONS)
async def test_stream(server, version):
    async with a2a_client(server, version=version, streaming=True) as a2a:
        events = await send(a2a, text_message("streamed"))
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[0] == "task" and kinds[-1] == "status_update", kinds
    task = events[0].task
    assert task.status.state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING)
    working = [e.status_update for e in events if e.WhichOneof("payload") == "status_update"
               and e.status_update.status.state == TaskState.TASK_STATE_WORKING]
    assert texts(working[-1].status.message.parts) == ["echo: streamed"]
    artifacts = [e.artifact_update for e in events if e.WhichOneof("payload") == "artifact_update"]
    assert [texts(a.artifact.parts) for a in artifacts] == [["echo: streamed"]]
    final = events[-1].status_update
    assert final.task_id == task.id and final.status.state == TaskState.TASK_STATE_COMPLETED


@pytest.mark.parametrize(("version", "streaming"), [("1.0", False), ("0.3", True)])
async def test_interrupt_is_input_required_and_a_message_resumes_it(server, client, version, streaming):
    async with a2a_client(server, version=version, streaming=streaming) as a2a:
        events = await send(a2a, text_message("approve: deploy"))
        last = events[-1].task if events[-1].WhichOneof("payload") == "task" else events[-1].status_update
        task_id = last.id if hasattr(last, "history") else last.task_id
        context_id = last.context_id
        assert last.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        parts = last.status.message.parts
        assert texts(parts) == ['{"question":"Approve deploy?"}']
        [data] = [MessageToDict(p.data) for p in parts if p.WhichOneof("content") == "data"]
        [interrupt] = data["interrupts"]
        assert interrupt["value"] == {"question": "Approve deploy?"}
        got = await a2a.get_task(GetTaskRequest(id=task_id))
        assert got.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        assert (await client.threads.get(context_id))["status"] == "interrupted"

        # The next message on the task answers the interrupt: Command(resume="yes").
        events = await send(a2a, text_message("yes", context_id=context_id, task_id=task_id))
        done = await a2a.get_task(GetTaskRequest(id=task_id))
        assert done.status.state == TaskState.TASK_STATE_COMPLETED
        assert texts(done.artifacts[0].parts) == ["deploy: yes"]
        final = events[-1].task if events[-1].WhichOneof("payload") == "task" else events[-1].status_update
        assert final.status.state == TaskState.TASK_STATE_COMPLETED
        # The same task: the resume run carries the task id; the decision is on the audit trail.
        runs = await client.runs.list(context_id)
        assert {r["run_id"] for r in runs} == {task_id, done.metadata["run_id"]}
        decisions = await client.http.get(f"/threads/{context_id}/decisions")
        assert [(d["interrupt_id"], d["value"], d["run_id"]) for d in decisions] == [
            (interrupt["id"], "yes", done.metadata["run_id"])]
        # A task that ended takes no more messages.
        with pytest.raises(A2AError, match="is completed"):
            await send(a2a, text_message("again", context_id=context_id, task_id=task_id))


async def test_concurrent_answers_resume_exactly_once(server, client):
    async with a2a_client(server) as a2a:
        [paused] = await send(a2a, text_message("approve: release"))
        task = paused.task
        assert task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        outcomes = await asyncio.gather(
            *(send(a2a, text_message(answer, task.context_id, task.id)) for answer in ("yes", "no", "maybe")),
            return_exceptions=True)
    won = [o for o in outcomes if not isinstance(o, BaseException)]
    lost = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(won) == 1 and len(lost) == 2, outcomes
    assert all(isinstance(e, InvalidParamsError) for e in lost), lost
    answer = texts(won[0][0].task.artifacts[0].parts)[0]
    decisions = await client.http.get(f"/threads/{task.context_id}/decisions")
    assert len([d for d in decisions if d["closes"]]) == 1
    assert answer == f"release: {decisions[0]['value']}"


@pytest.mark.parametrize("version", VERSIONS)
async def test_cancel(server, client, version):
    async with a2a_client(server, version=version) as a2a:
        request = text_message("slow")
        request.configuration.return_immediately = True
        [started] = await send(a2a, request)
        task = started.task
        assert task.status.state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING)
        cancelled = await a2a.cancel_task(CancelTaskRequest(id=task.id))
        assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
        assert (await a2a.get_task(GetTaskRequest(id=task.id))).status.state == TaskState.TASK_STATE_CANCELED
        assert (await client.runs.get(task.context_id, task.id))["status"] == "interrupted"
        with pytest.raises(TaskNotCancelableError):
            await a2a.cancel_task(CancelTaskRequest(id=task.id))


async def test_graph_without_messages(server, client):
    async with a2a_client(server, assistant_id="agent") as a2a:
        with pytest.raises(InvalidParamsError, match="no 'messages' input"):
            await send(a2a, text_message("hello"))
        # A data part is the graph's input as it is; the interrupt's value is the task's question.
        [paused] = await send(a2a, data_message({"some_text": "from a2a"}))
        assert paused.task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
        assert texts(paused.task.status.message.parts) == ['{"text_to_revise":"from a2a"}']
        [done] = await send(a2a, text_message("edited via a2a", paused.task.context_id, paused.task.id))
        assert done.task.status.state == TaskState.TASK_STATE_COMPLETED
        assert MessageToDict(done.task.artifacts[0].parts[0].data) == {"some_text": "edited via a2a"}
        with pytest.raises(TaskNotFoundError):  # a task of another assistant is not this one's
            async with a2a_client(server, assistant_id="chat") as other:
                await other.get_task(GetTaskRequest(id=paused.task.id))


def test_wire_format_as_the_official_server(http):
    """The 0.3 JSON-RPC wire shapes of the official OpenAPI example, with curl-like httpx."""
    r = http.post("/a2a/chat", json={"jsonrpc": "2.0", "id": "1", "method": "message/send", "params": {
        "message": {"role": "user", "parts": [{"kind": "text", "text": "wire"}], "messageId": "m-1"}}})
    result = r.json()["result"]
    assert (result["kind"], result["status"]["state"]) == ("task", "completed")
    assert result["artifacts"][0]["parts"] == [{"kind": "text", "text": "echo: wire"}]
    bad = http.post("/a2a/chat", json={"jsonrpc": "2.0", "id": "2", "method": "no/such"}).json()
    assert bad["error"]["code"] == -32601
    missing = http.post("/a2a/no-such-assistant", json={"jsonrpc": "2.0", "id": "3", "method": "tasks/get",
                                                         "params": {"id": str(uuid.uuid4())}})
    assert missing.status_code == 404 and "detail" in missing.json()
