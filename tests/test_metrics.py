"""`GET /metrics`: Prometheus text (and JSON) whose figures follow what the server did."""

from __future__ import annotations

from langgraph_sdk.schema import Command
from prometheus_client.parser import text_string_to_metric_families


def scrape(http) -> dict[tuple[str, tuple], float]:
    """`{(sample name, sorted label pairs): value}` of the server's `waypoint_` samples."""
    r = http.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            if s.name.startswith("waypoint_"):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_follow_runs_interrupts_and_decisions(server, client, http):
    before = scrape(http)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    paused = await client.runs.wait(tid, "agent", input={"some_text": "draft"})
    assert paused["__interrupt__"]

    middle = scrape(http)
    assert value(middle, "waypoint_runs_finished_total", status="success") == \
        value(before, "waypoint_runs_finished_total", status="success") + 1
    assert value(middle, "waypoint_run_duration_seconds_count", status="success") > \
        value(before, "waypoint_run_duration_seconds_count", status="success")
    assert value(middle, "waypoint_pending_interrupts_threads") >= 1
    assert value(middle, "waypoint_pending_interrupt_oldest_seconds") >= 0
    assert value(middle, "waypoint_runs", status="success") >= 1

    done = await client.runs.wait(tid, "agent", command=Command(resume="final"))
    assert done["some_text"] == "final"
    after = scrape(http)
    assert value(after, "waypoint_decisions_total", action="resume") >= \
        value(middle, "waypoint_decisions_total", action="resume") + 1
    assert value(after, "waypoint_step_duration_seconds_count") > value(before, "waypoint_step_duration_seconds_count")

    failed = await client.runs.wait(None, "failing", input={}, raise_error=False)
    assert failed.get("__error__"), failed
    final = scrape(http)
    assert value(final, "waypoint_runs_finished_total", status="error") == \
        value(after, "waypoint_runs_finished_total", status="error") + 1


def test_metrics_json_and_pool(server, backend, http):
    r = http.get("/metrics", params={"format": "json"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert "waypoint_queue_oldest_pending_seconds" in body
    assert all(set(s) == {"labels", "value"} for samples in body.values() for s in samples)
    pool = {s["labels"]["state"]: s["value"] for s in body.get("waypoint_db_pool_connections", [])}
    if backend == "postgres":  # SQLite has no connection pool
        assert pool["size"] >= 1 and pool["in_use"] >= 0
    assert http.get("/metrics", params={"format": "xml"}).status_code == 422
