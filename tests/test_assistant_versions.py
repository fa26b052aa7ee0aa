"""Assistant versions through the official SDK: every create and update records a version
(`assistants.get_versions`), `assistants.set_latest` pins one, and reads and runs use the
pinned version."""

from __future__ import annotations

import uuid

import httpx
import pytest
from langgraph_sdk.errors import NotFoundError


async def test_each_update_is_a_version_listed_newest_first(client):
    a = await client.assistants.create(
        "factory", config={"configurable": {"user": "v1"}}, context={"tone": "one"},
        metadata={"stage": "draft"}, name="first", description="d1",
    )
    assert a["version"] == 1
    b = await client.assistants.update(a["assistant_id"], config={"configurable": {"user": "v2"}},
                                       metadata={"stage": "review"})
    assert b["version"] == 2
    c = await client.assistants.update(a["assistant_id"], name="third", metadata={"reviewed": True})
    assert c["version"] == 3 and c["metadata"] == {"stage": "review", "reviewed": True}

    versions = await client.assistants.get_versions(a["assistant_id"])
    assert [v["version"] for v in versions] == [3, 2, 1]
    first = versions[-1]
    assert first["config"] == {"configurable": {"user": "v1"}}
    assert first["context"] == {"tone": "one"}
    assert first["metadata"] == {"stage": "draft"}
    assert (first["name"], first["description"], first["graph_id"]) == ("first", "d1", "factory")
    assert first["assistant_id"] == a["assistant_id"] and first["created_at"]
    assert versions[0]["name"] == "third" and versions[1]["name"] == "first"

    assert [v["version"] for v in await client.assistants.get_versions(a["assistant_id"], limit=1, offset=1)] == [2]
    assert [v["version"] for v in await client.assistants.get_versions(
        a["assistant_id"], metadata={"stage": "review"})] == [3, 2]
    assert await client.assistants.get_versions(a["assistant_id"], metadata={"stage": "gone"}) == []


async def test_set_latest_pins_a_version_for_reads_and_runs(client):
    a = await client.assistants.create("factory", config={"configurable": {"user": "old"}},
                                       metadata={"v": 1}, name="old name")
    await client.assistants.update(a["assistant_id"], config={"configurable": {"user": "new"}},
                                   metadata={"v": 2}, name="new name", description="newer")

    pinned = await client.assistants.set_latest(a["assistant_id"], 1)
    assert pinned["version"] == 1
    assert pinned["config"] == {"configurable": {"user": "old"}}
    assert (pinned["metadata"], pinned["name"], pinned["description"]) == ({"v": 1}, "old name", None)
    assert await client.assistants.get(a["assistant_id"]) == pinned

    thread = await client.threads.create()
    values = await client.runs.wait(thread["thread_id"], a["assistant_id"], input={})
    assert values["user"] == "old"  # the factory graph is built with the pinned config

    # An update after a roll-back starts from the pinned version and numbers past the highest.
    newer = await client.assistants.update(a["assistant_id"], description="from v1")
    assert newer["version"] == 3
    assert newer["config"] == {"configurable": {"user": "old"}} and newer["name"] == "old name"
    assert [v["version"] for v in await client.assistants.get_versions(a["assistant_id"])] == [3, 2, 1]

    again = await client.assistants.set_latest(a["assistant_id"], 2)
    assert again["config"] == {"configurable": {"user": "new"}} and again["version"] == 2
    values = await client.runs.wait(thread["thread_id"], a["assistant_id"], input={})
    assert values["user"] == "new"


async def test_unknown_versions_and_assistants(client, http):
    a = await client.assistants.create("agent")
    with pytest.raises(NotFoundError):
        await client.assistants.set_latest(a["assistant_id"], 7)
    assert (await client.assistants.get(a["assistant_id"]))["version"] == 1
    with pytest.raises(NotFoundError):
        await client.assistants.set_latest(str(uuid.uuid4()), 1)
    with pytest.raises(NotFoundError):
        await client.assistants.get_versions(str(uuid.uuid4()))
    # The OpenAPI names `version` as a query parameter; the SDK sends it in the body: both work.
    assert http.post(f"/assistants/{a['assistant_id']}/latest", params={"version": 1}).json()["version"] == 1
    for body in ({}, {"version": 0}, {"version": "two"}):
        r = http.post(f"/assistants/{a['assistant_id']}/latest", json=body)
        assert r.status_code == 422 and r.json()["detail"], body
    r = http.post(f"/assistants/{a['assistant_id']}/versions", json={"limit": 0})
    assert r.status_code == 422
    # A graph id names its default assistant here too.
    assert [v["version"] for v in await client.assistants.get_versions("agent")] == [1]
    await client.assistants.delete(a["assistant_id"])
    with pytest.raises(NotFoundError):
        await client.assistants.get_versions(a["assistant_id"])


async def test_versions_survive_a_restart(make_server, tmp_path):
    proc = make_server(tmp_path / "versions").start()
    try:
        async with httpx.AsyncClient(base_url=proc.url) as http:
            a = (await http.post("/assistants", json={"graph_id": "agent", "name": "v1"})).json()
            await http.patch(f"/assistants/{a['assistant_id']}", json={"name": "v2"})
        proc.stop()
        proc.start()
        async with httpx.AsyncClient(base_url=proc.url) as http:
            versions = (await http.post(f"/assistants/{a['assistant_id']}/versions", json={})).json()
            assert [(v["version"], v["name"]) for v in versions] == [(2, "v2"), (1, "v1")]
    finally:
        proc.stop()
