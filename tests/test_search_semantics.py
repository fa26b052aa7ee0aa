"""Search filters give the same answer on SQLite and PostgreSQL, through the official SDK.

Thread and assistant `metadata` / `values` filters are JSON containment as PostgreSQL's jsonb
`@>` defines it (objects recursively, each element of a filter array in some element of the
stored array, scalars equal with their JSON type): the same expected answers are asserted on
both backends. Odd keys work (bound parameters, never JSON paths built from keys); a NUL
character gets a 422 on both; a 2,000-key filter works.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from langgraph_sdk import get_client

DOCS = {
    "int": {"b": 1},
    "true": {"b": True},
    "float": {"b": 1.5},
    "str": {"b": "1"},
    "null": {"b": None},
    "list": {"b": [1, 2, {"c": 3}]},
    "obj": {"b": {"c": 1, "d": [1, 2]}},
    "keys": {'q"uote': 1, "back\\slash": 2, "$.a[0]": 3, "a.b": 4, "a": {"b": 5}, "": 6, "é ✓": 7},
}

#: (filter, names of DOCS it matches), as jsonb `@>` answers.
CASES = [
    ({"b": 1}, {"int"}),
    ({"b": 1.0}, {"int"}),
    ({"b": True}, {"true"}),
    ({"b": False}, set()),
    ({"b": 1.5}, {"float"}),
    ({"b": "1"}, {"str"}),
    ({"b": None}, {"null"}),
    ({"b": [1]}, {"list"}),
    ({"b": [2, 1]}, {"list"}),
    ({"b": [{"c": 3}]}, {"list"}),
    ({"b": [{}]}, {"list"}),
    ({"b": [3]}, set()),
    ({"b": []}, {"list"}),
    ({"b": {}}, {"obj"}),
    ({"b": {"c": 1}}, {"obj"}),
    ({"b": {"d": [2]}}, {"obj"}),
    ({"b": {"c": True}}, set()),
    ({"b": {"c": 1, "e": 1}}, set()),
    ({'q"uote': 1}, {"keys"}),
    ({"back\\slash": 2}, {"keys"}),
    ({"$.a[0]": 3}, {"keys"}),
    ({"a.b": 4}, {"keys"}),
    ({"a.b": 5}, set()),
    ({"a": {"b": 5}}, {"keys"}),
    ({"": 6}, {"keys"}),
    ({"é ✓": 7}, {"keys"}),
    ({}, set(DOCS)),
]


@pytest.fixture(scope="module")
async def seeded(server):
    """One thread and one assistant per DOCS entry, tagged with a suite id."""
    client = get_client(url=server.url)
    suite = uuid.uuid4().hex
    threads, assistants = {}, {}
    for name, doc in DOCS.items():
        thread = await client.threads.create(metadata={"suite": suite, **doc})
        threads[thread["thread_id"]] = name
        assistant = await client.assistants.create("agent", metadata={"suite": suite, **doc}, name=f"sem-{name}")
        assistants[assistant["assistant_id"]] = name
    return suite, threads, assistants


@pytest.mark.parametrize("case", range(len(CASES)))
async def test_metadata_filter_is_jsonb_containment(client, seeded, case):
    suite, threads, assistants = seeded
    query, expected = CASES[case]
    metadata = {"suite": suite, **query}

    found = await client.threads.search(metadata=metadata, limit=100)
    assert {threads[t["thread_id"]] for t in found} == expected
    assert await client.threads.count(metadata=metadata) == len(expected)

    found = await client.assistants.search(metadata=metadata, limit=100)
    assert {assistants[a["assistant_id"]] for a in found} == expected
    assert await client.assistants.count(metadata=metadata) == len(expected)


async def test_values_filter_is_jsonb_containment(client):
    suite = uuid.uuid4().hex
    docs = {
        "a": {"suite": suite, "x": [1, 2], "y": True, 'k"\\': {"z": None}},
        "b": {"suite": suite, "x": 1, "y": 1, 'k"\\': {"z": 0}},
    }
    names = {}
    for name, doc in docs.items():
        thread = await client.threads.create()
        await client.runs.wait(thread["thread_id"], "store_rw", input={"key": thread["thread_id"], "rounds": 0, "doc": doc})
        names[thread["thread_id"]] = name
    for query, expected in [
        ({}, {"a", "b"}),
        ({"y": True}, {"a"}),
        ({"y": 1}, {"b"}),
        ({"x": [2]}, {"a"}),
        ({"x": 1}, {"b"}),
        ({'k"\\': {"z": None}}, {"a"}),
        ({'k"\\': {"z": False}}, set()),
    ]:
        values = {"doc": {"suite": suite, **query}}
        found = await client.threads.search(values=values, limit=100)
        assert {names[t["thread_id"]] for t in found} == expected, query
        assert await client.threads.count(values=values) == len(expected)


async def test_two_thousand_keys_in_one_filter(client):
    suite = uuid.uuid4().hex
    many = {f"key-{i}": i for i in range(2000)}
    thread = await client.threads.create(metadata={"suite": suite, **many})
    other = await client.threads.create(metadata={"suite": suite})
    found = await client.threads.search(metadata={"suite": suite, **many})
    assert [t["thread_id"] for t in found] == [thread["thread_id"]]
    assert await client.threads.count(metadata={"suite": suite, **many}) == 1
    assert await client.threads.search(metadata={"suite": suite, **many, "key-0": "0"}) == []
    assert other["thread_id"] not in {t["thread_id"] for t in found}
    found = await client.assistants.search(metadata={"suite": suite, **many})
    assert found == []


@pytest.mark.parametrize("body", [
    {"metadata": {"a\u0000": 1}},
    {"metadata": {"a": "b\u0000"}},
    {"metadata": {"a": [{"\u0000": 1}]}},
    {"values": {"a\u0000": 1}},
])
async def test_nul_character_in_a_thread_filter_is_a_422(client, body):
    for call in (client.threads.search, client.threads.count):
        with pytest.raises(httpx.HTTPStatusError) as err:
            await call(**body)
        assert err.value.response.status_code == 422
        assert "NUL" in err.value.response.json()["detail"]


async def test_nul_character_in_an_assistant_filter_is_a_422(client):
    for call in (client.assistants.search, client.assistants.count):
        with pytest.raises(httpx.HTTPStatusError) as err:
            await call(metadata={"a\u0000": 1})
        assert err.value.response.status_code == 422
        assert "NUL" in err.value.response.json()["detail"]


@pytest.mark.parametrize("key", ['q"uote', "back\\slash", "$.a[0]"])
async def test_store_filter_keys_answer_or_422(client, backend, key):
    """PostgreSQL's store binds the key (a correct answer); SQLite's builds a JSON path from
    it and accepts only `[a-zA-Z0-9_.-]` keys: a 422 that says so, never a 500."""
    namespace = ["semantics", uuid.uuid4().hex]
    await client.store.put_item(namespace, "hit", {key: 1})
    await client.store.put_item(namespace, "miss", {key: 2})
    if backend == "postgres":
        found = await client.store.search_items(namespace, filter={key: 1})
        assert [i["key"] for i in found["items"]] == ["hit"]
    else:
        with pytest.raises(httpx.HTTPStatusError) as err:
            await client.store.search_items(namespace, filter={key: 1})
        assert err.value.response.status_code == 422
        assert "filter" in err.value.response.json()["detail"]
    # The items themselves hold the odd key on both databases.
    assert {i["key"]: i["value"] for i in (await client.store.search_items(namespace))["items"]} == {
        "hit": {key: 1}, "miss": {key: 2},
    }


async def test_store_filter_key_with_nul_is_a_422(client):
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.store.search_items(["semantics"], filter={"a\u0000": 1})
    assert err.value.response.status_code == 422


async def test_nul_character_in_stored_json(client, backend):
    """PostgreSQL's jsonb cannot store a NUL character, so both databases refuse it alike:
    a 422 that says so (never a 500), for thread and assistant metadata and run input
    (the request guard of `api/limits.py` answers before anything is written)."""
    writes = [
        lambda: client.threads.create(metadata={"note": "a\u0000b"}),
        lambda: client.assistants.create("agent", metadata={"a\u0000": 1}),
    ]
    for write in writes:
        with pytest.raises(httpx.HTTPStatusError) as err:
            await write()
        assert err.value.response.status_code == 422
        assert "NUL" in err.value.response.json()["detail"]
    thread = await client.threads.create()
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.threads.update(thread["thread_id"], metadata={"k": "\u0000"})
    assert err.value.response.status_code == 422
    with pytest.raises(httpx.HTTPStatusError) as err:
        await client.runs.create(thread["thread_id"], "agent", input={"some_text": "\u0000"})
    assert err.value.response.status_code == 422
    assert (await client.threads.get(thread["thread_id"]))["status"] == "idle"
