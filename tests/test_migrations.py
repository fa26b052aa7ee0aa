"""Databases made by earlier Waypoint versions open, upgrade on start and keep working.

Fixtures (tests/fixtures/, written by `make_fixture.py` run on that version): an assistant, a
thread answered once (one decision, two runs) and a thread paused at an interrupt.
- `legacy-*`: Waypoint 0.1 (versioned `.sql` migrations, before run attempts and webhooks);
- `main-e21dd6d-*`: main at e21dd6d (six SQLite and five PostgreSQL `.sql` migrations);
- `main-ef77a3e-*`: main at ef77a3e, the last version before Alembic (ten SQLite and nine
  PostgreSQL `.sql` migrations: notifications, crons, assistant versions, thread TTL).
SQLite fixtures are database files; PostgreSQL fixtures are `pg_dump` scripts.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.schema import Command

from conftest import ServerProcess

FIXTURES = Path(__file__).parent / "fixtures"
ANSWERED = "11111111-1111-1111-1111-111111111111"
PAUSED = "22222222-2222-2222-2222-222222222222"
VERSIONS = ["legacy", "main-e21dd6d", "main-ef77a3e"]
#: The newest database made before Alembic.
LAST_LEGACY = VERSIONS[-1]


def _head() -> str:
    from alembic.script import ScriptDirectory

    from waypoint.storage import migrations

    return ScriptDirectory(str(Path(migrations.__file__).parent)).get_current_head()


async def _check_data_and_resume(url: str) -> None:
    client = get_client(url=url)
    assistants = await client.assistants.search(metadata={"team": "legacy"})
    assert [a["name"] for a in assistants] == ["legacy agent"]
    assert [t["thread_id"] for t in await client.threads.search(metadata={"owner": "ann"})] == [ANSWERED]
    assert [t["thread_id"] for t in await client.threads.search(metadata={"tags": ["y"]})] == [ANSWERED]

    answered = await client.threads.get_state(ANSWERED)
    assert answered["values"] == {"some_text": "answered"}
    decisions = await client.http.get(f"/threads/{ANSWERED}/decisions")
    decisions = decisions["decisions"] if isinstance(decisions, dict) else decisions
    assert [(d["action"], d["value"]) for d in decisions] == [("resume", "answered")]
    assert [r["status"] for r in await client.runs.list(ANSWERED)] == ["success", "success"]

    paused = await client.threads.get(PAUSED)
    assert paused["status"] == "interrupted" and paused["metadata"]["owner"] == "bob"
    state = await client.threads.get_state(PAUSED)
    assert state["values"] == {"some_text": "pending"} and len(state["interrupts"]) == 1
    resumed = await client.runs.wait(PAUSED, "agent", command=Command(resume="resumed after upgrade"))
    assert resumed == {"some_text": "resumed after upgrade"}
    assert (await client.threads.get(PAUSED))["status"] == "idle"
    # Exactly once: the interrupt is closed, a second answer is refused.
    decisions = await client.http.get(f"/threads/{PAUSED}/decisions")
    decisions = decisions["decisions"] if isinstance(decisions, dict) else decisions
    assert [(d["action"], d["value"]) for d in decisions] == [("resume", "resumed after upgrade")]
    # New rows get the new columns (attempts).
    runs = await client.runs.list(PAUSED)
    assert runs[0]["status"] == "success"


@pytest.mark.parametrize("version", VERSIONS)
async def test_sqlite_database_of_an_earlier_version_opens_upgrades_and_resumes(version, tmp_path):
    db = tmp_path / "waypoint.sqlite"
    shutil.copy(FIXTURES / f"{version}-sqlite.db", db)
    server = ServerProcess(tmp_path, database_uri=f"sqlite:///{db}").start()
    try:
        await _check_data_and_resume(server.url)
    finally:
        server.stop()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM waypoint_alembic_version").fetchall() == [(_head(),)]
        assert "attempt" in {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    server.start()  # a second start finds nothing to migrate
    try:
        client = get_client(url=server.url)
        assert (await client.threads.get(PAUSED))["status"] == "idle"
        assert len(await client.runs.list(PAUSED)) == 2
    finally:
        server.stop()


@pytest.mark.parametrize("version", VERSIONS)
async def test_postgres_database_of_an_earlier_version_opens_upgrades_and_resumes(version, backend, postgres, tmp_path):
    if backend != "postgres":
        pytest.skip("PostgreSQL only")
    uri = postgres.create_database()
    from services import _pg_bin

    subprocess.run([_pg_bin("psql"), "-q", "-v", "ON_ERROR_STOP=1", "-d", uri, "-f", str(FIXTURES / f"{version}-postgres.sql")],
                   check=True, capture_output=True)
    server = ServerProcess(tmp_path, database_uri=uri).start()
    try:
        await _check_data_and_resume(server.url)
    finally:
        server.stop()
    import psycopg

    with psycopg.connect(uri) as conn:
        assert conn.execute("SELECT version_num FROM waypoint_alembic_version").fetchall() == [(_head(),)]
    server.start()  # a second start (another process may start beside it) finds nothing to do
    try:
        assert (await get_client(url=server.url).threads.get(PAUSED))["status"] == "idle"
    finally:
        server.stop()


def test_head_names_the_newest_revision():
    from waypoint.storage import migrations

    assert migrations.HEAD == _head()


def test_new_databases_get_the_same_schema_as_upgraded_ones(tmp_path):
    """A fresh SQLite database and one made by the last pre-Alembic main have the same tables,
    columns and indexes (Alembic's history and the old `.sql` files describe one schema)."""
    import asyncio

    from waypoint.storage import open_storage

    def columns(path: Path) -> dict[str, set[str]]:
        with sqlite3.connect(path) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                      if r[0] not in ("waypoint_migrations", "sqlite_sequence")]
            schema = {t: {r[1] for r in conn.execute(f"PRAGMA table_info({t})")} for t in tables}
            schema["indexes"] = {r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex%'")}
            return schema

    async def open_close(path: Path) -> None:
        storage = open_storage(f"sqlite:///{path}")
        await storage.open()
        await storage.close()

    fresh, upgraded = tmp_path / "fresh.db", tmp_path / "upgraded.db"
    shutil.copy(FIXTURES / f"{LAST_LEGACY}-sqlite.db", upgraded)
    asyncio.run(open_close(fresh))
    asyncio.run(open_close(upgraded))
    assert columns(fresh) == columns(upgraded)
