"""Semantic store search (`store.index` in langgraph.json) through the official SDK, with the
deterministic local embedding of tests/graphs/embeddings.py (a bag of hashed words).

SQLite ranks through sqlite-vec's distance functions. PostgreSQL needs the pgvector
extension: where the test cluster has it, search is tested the same way; where it does not
(Debian bookworm packages no pgvector for PostgreSQL 15), the server must refuse to start
with a message naming the extension and how to install it."""

from __future__ import annotations

import subprocess
import sys

from langgraph_sdk import get_client

from conftest import GRAPHS_CONFIG, free_port, write_config

EMBED = f"{GRAPHS_CONFIG.parent / 'embeddings.py'}:embed"
DOCS = {
    "cats": {"text": "cats purr and chase mice", "tag": "pets"},
    "rust": {"text": "the rust compiler checks borrows", "tag": "code"},
    "tea": {"text": "green tea steeps for three minutes", "tag": "food"},
}


def _pgvector_available(postgres) -> bool:
    import psycopg

    with psycopg.connect(postgres.create_database(), autocommit=True) as conn:
        return conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone() is not None


async def test_query_ranks_items_by_similarity(make_server, backend, request, tmp_path):
    config = write_config(tmp_path / "langgraph.json", store={"index": {"embed": EMBED, "dims": 64, "fields": ["text"]}})
    if backend == "postgres":
        postgres = request.getfixturevalue("postgres")
        if not _pgvector_available(postgres):
            _assert_refused_without_pgvector(postgres, config)
            return
    server = make_server(tmp_path, config=config).start()
    try:
        client = get_client(url=server.url)
        for key, value in DOCS.items():
            await client.store.put_item(["docs"], key, value)
        await client.store.put_item(["docs"], "hidden", {"text": "cats cats cats"}, index=False)

        found = (await client.store.search_items(["docs"], query="why do cats purr", limit=3))["items"]
        assert [i["key"] for i in found][0] == "cats"
        assert "hidden" not in [i["key"] for i in found]  # not indexed: never a match
        scores = [i["score"] for i in found]
        assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]
        code = (await client.store.search_items(["docs"], query="compiler borrows", limit=1))["items"]
        assert [i["key"] for i in code] == ["rust"]
        # A filter narrows the ranked candidates.
        food = (await client.store.search_items(["docs"], query="cats", filter={"tag": "food"}))["items"]
        assert [i["key"] for i in food] == ["tea"]
        # Without a query: listing, no score.
        listed = (await client.store.search_items(["docs"], limit=10))["items"]
        assert {i["key"] for i in listed} == {*DOCS, "hidden"}
        assert all(i.get("score") is None for i in listed)
    finally:
        server.stop()


def _assert_refused_without_pgvector(postgres, config) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "waypoint", "serve", "--config", str(config), "--port", str(free_port()),
         "--database-uri", postgres.create_database()],
        capture_output=True, text=True, timeout=120, cwd=config.parent,
    )
    assert done.returncode == 3, done.stderr  # a refused start-up, as for a SQLite file in use
    assert "pgvector" in done.stderr and "apt-get install postgresql-15-pgvector" in done.stderr, done.stderr
