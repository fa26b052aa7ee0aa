"""Waypoint benchmarks, side by side with the official server's free mode and the in-process floor.

Systems (same graphs, same client):
  inprocess         the graph driven directly (ainvoke / Command(resume=...)) on
                    langgraph-checkpoint-sqlite, no HTTP: the floor no server can beat
  waypoint-sqlite   `waypoint serve` on SQLite
  waypoint-postgres `waypoint serve` on PostgreSQL + Redis (throwaway local servers)
  langgraph-dev     `langgraph dev` (langgraph-cli[inmem]), in-memory, --n-jobs-per-worker 10

Scenarios (all through `langgraph_sdk` for the servers):
  1 hitl        create thread -> runs.wait to the interrupt -> runs.wait(Command(resume)) at
                1, 10 and 50 concurrent clients: cycles/s and p50/p95/p99 of each step
  2 breakpoints a 10-node chain with interrupt_before="*", stepped with input=None: steps/s
  3 streaming   one node emitting 2,000 custom events: time to first event, events/s
  4 parked      threads parked at an interrupt (100, 1,000, 10,000): server RSS per parked
                thread, threads.search(status="interrupted") latency, resume latency
  5 doubletext  time from a multitask_strategy="interrupt" run's creation until the first
                run is `interrupted` and the new one has started

Each figure is the median of several rounds measured in one sitting, after a warm-up.
Usage: python bench/run.py [--quick] [--systems a,b] [--out bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import psutil
from langgraph_sdk import get_client
from langgraph_sdk.schema import Command as SdkCommand

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
GRAPHS = BENCH / "graphs"
sys.path.insert(0, str(GRAPHS))
sys.path.insert(0, str(ROOT / "tests"))

ALL_SYSTEMS = ["inprocess", "waypoint-sqlite", "waypoint-postgres", "langgraph-dev"]


@dataclass
class Scale:
    rounds: int
    concurrency: list[int]
    cycles_per_client: int
    chain_threads: int
    stream_events: int
    parked: list[int]
    park_concurrency: int
    doubletext_rounds: int
    park_budget_s: float  # a system that cannot park the next count within this is cut short
    dev_park_budget_s: float  # the same for `langgraph dev` (see PARK_BUDGET_NOTE)


FULL = Scale(rounds=3, concurrency=[1, 10, 50], cycles_per_client=4, chain_threads=1,
             stream_events=2000, parked=[100, 1000, 10000], park_concurrency=100, doubletext_rounds=3,
             park_budget_s=300, dev_park_budget_s=120)
QUICK = Scale(rounds=1, concurrency=[1, 2], cycles_per_client=2, chain_threads=1,
              stream_events=50, parked=[5, 10], park_concurrency=5, doubletext_rounds=1,
              park_budget_s=120, dev_park_budget_s=120)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- drivers ---------------------------------------------------------------
class SdkDriver:
    """A server measured through the official Python SDK."""

    def __init__(self, url: str, pid: int | None):
        self.url = url
        self.pid = pid
        self.client = get_client(url=url, timeout=httpx.Timeout(300.0))

    async def new_thread(self) -> str:
        return (await self.client.threads.create())["thread_id"]

    async def wait(self, tid: str, graph: str, *, input: Any = None, resume: Any = None, **kw) -> dict:
        if resume is not None:
            return await self.client.runs.wait(tid, graph, command=SdkCommand(resume=resume), **kw)
        return await self.client.runs.wait(tid, graph, input=input, **kw)

    async def stream_custom(self, graph: str, input: dict):
        async for part in self.client.runs.stream(None, graph, input=input, stream_mode="custom"):
            if part.event == "custom":
                yield part.data

    async def search_interrupted(self) -> list:
        return await self.client.threads.search(status="interrupted", limit=10)

    def rss(self) -> float | None:
        if self.pid is None:
            return None
        proc = psutil.Process(self.pid)
        return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])


class InProcessDriver:
    """The graphs driven directly on an AsyncSqliteSaver: no HTTP, no server."""

    def __init__(self, path: Path):
        self.path = path

    async def open(self) -> None:
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        import bench_graphs

        self.conn = await aiosqlite.connect(self.path)
        await self.conn.execute("PRAGMA journal_mode=WAL")
        self.saver = AsyncSqliteSaver(self.conn)
        await self.saver.setup()
        self.graphs = {
            name: getattr(bench_graphs, name).copy(update={"checkpointer": self.saver})
            for name in ("hitl", "chain", "streamer", "slow")
        }

    async def close(self) -> None:
        await self.conn.close()

    async def new_thread(self) -> str:
        return str(uuid.uuid4())

    async def wait(self, tid: str, graph: str, *, input: Any = None, resume: Any = None, **kw) -> dict:
        from langgraph.types import Command

        config = {"configurable": {"thread_id": tid}}
        payload = Command(resume=resume) if resume is not None else input
        return await self.graphs[graph].ainvoke(payload, config, **kw)

    async def stream_custom(self, graph: str, input: dict):
        async for chunk in self.graphs[graph].astream(
            input, {"configurable": {"thread_id": str(uuid.uuid4())}}, stream_mode="custom"
        ):
            yield chunk

    async def search_interrupted(self) -> list:
        raise NotImplementedError

    def rss(self) -> float | None:
        return None


# -- systems ---------------------------------------------------------------
@contextlib.asynccontextmanager
async def start_system(name: str, workdir: Path, log_dir: Path):
    """Yield a driver for `name`, with its server (if any) started fresh and stopped after."""
    if name == "inprocess":
        driver = InProcessDriver(workdir / "inprocess.sqlite")
        await driver.open()
        try:
            yield driver
        finally:
            await driver.close()
        return

    extra: list = []
    port = free_port()
    log = open(log_dir / f"{name}.log", "wb")
    if name == "langgraph-dev":
        graphs_copy = workdir / "graphs"
        shutil.copytree(GRAPHS, graphs_copy, ignore=shutil.ignore_patterns(".langgraph_api", "__pycache__"))
        cmd = [str(Path(sys.executable).with_name("langgraph")), "dev", "--no-browser", "--no-reload",
               "--host", "127.0.0.1", "--port", str(port), "--n-jobs-per-worker", "10"]
        cwd = graphs_copy
    else:
        cmd = [sys.executable, "-m", "waypoint", "serve", "--config", str(GRAPHS / "langgraph.json"),
               "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        cwd = workdir
        if name == "waypoint-sqlite":
            cmd += ["--database-uri", f"sqlite:///{workdir / 'waypoint.sqlite'}"]
        else:
            from services import PostgresServer, RedisServer

            pg, redis = PostgresServer().start(), RedisServer().start()
            extra = [pg, redis]
            cmd += ["--database-uri", pg.create_database(), "--redis-uri", redis.uri]
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited; see {log.name}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ok", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start; see {log.name}")
            await asyncio.sleep(0.2)
        yield SdkDriver(url, proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for server in extra:
            server.stop()


# -- scenarios -------------------------------------------------------------
async def hitl_cycle(d, timings: dict[str, list[float]]) -> None:
    t0 = time.perf_counter()
    tid = await d.new_thread()
    t1 = time.perf_counter()
    paused = await d.wait(tid, "hitl", input={"some_text": "original text"})
    t2 = time.perf_counter()
    assert paused["__interrupt__"], paused
    done = await d.wait(tid, "hitl", resume="Edited text")
    t3 = time.perf_counter()
    assert done.get("some_text") == "Edited text", done
    timings["create"].append(t1 - t0)
    timings["to_interrupt"].append(t2 - t1)
    timings["resume"].append(t3 - t2)
    timings["cycle"].append(t3 - t0)


async def scenario_hitl(d, scale: Scale) -> dict:
    out = {}
    for c in scale.concurrency:
        rounds = []
        for _ in range(scale.rounds):
            timings: dict[str, list[float]] = {"create": [], "to_interrupt": [], "resume": [], "cycle": []}

            async def client_loop():
                for _ in range(scale.cycles_per_client):
                    await hitl_cycle(d, timings)

            start = time.perf_counter()
            await asyncio.gather(*(client_loop() for _ in range(c)))
            wall = time.perf_counter() - start
            rounds.append({
                "cycles_per_s": len(timings["cycle"]) / wall,
                **{f"{step}_p{q}": pct(v, q / 100) * 1000 for step, v in timings.items() for q in (50, 95, 99)},
            })
        out[c] = {k: median([r[k] for r in rounds]) for k in rounds[0]}
    return out


async def scenario_breakpoints(d, scale: Scale) -> dict:
    rounds = []
    for _ in range(scale.rounds):
        steps = 0
        start = time.perf_counter()
        for _ in range(scale.chain_threads):
            tid = await d.new_thread()
            await d.wait(tid, "chain", input={"visited": []}, interrupt_before="*")
            steps += 1
            for _ in range(10):
                await d.wait(tid, "chain", input=None, interrupt_before="*")
                steps += 1
        rounds.append(steps / (time.perf_counter() - start))
    return {"steps_per_s": median(rounds)}


async def scenario_streaming(d, scale: Scale) -> dict:
    firsts, rates = [], []
    for _ in range(scale.rounds):
        start = time.perf_counter()
        first = last = None
        n = 0
        async for _ in d.stream_custom("streamer", {"count": scale.stream_events}):
            now = time.perf_counter()
            first = first or now
            last = now
            n += 1
        assert n == scale.stream_events, n
        firsts.append((first - start) * 1000)
        rates.append(n / (last - start))
    return {"first_event_ms": median(firsts), "events_per_s": median(rates)}


PARK_BUDGET_NOTE = (
    "`langgraph dev` parks threads at a few runs per second, decaying as its in-memory store grows "
    "(its queue re-scans every run on each 0.5 s poll), so it cannot reach 10,000 within any budget "
    "that keeps `make bench` under 15 minutes: it gets {dev:.0f} s, the other systems {other:.0f} s."
)


async def scenario_parked(d, scale: Scale, budget: float) -> dict:
    base_rss = d.rss()
    parked: list[str] = []
    out = {}
    sem = asyncio.Semaphore(scale.park_concurrency)

    async def park():
        async with sem:
            tid = await d.new_thread()
            await d.wait(tid, "hitl", input={"some_text": "waiting"})
            parked.append(tid)

    started = time.perf_counter()
    for target in scale.parked:
        remaining = budget - (time.perf_counter() - started)
        try:
            await asyncio.wait_for(asyncio.gather(*(park() for _ in range(target - len(parked)))), remaining)
        except asyncio.TimeoutError:
            out[target] = {"not_reached": f"{len(parked):,} parked after {budget:.0f} s"}
            break
        await asyncio.sleep(0.5)
        rss = d.rss()
        search = []
        if not isinstance(d, InProcessDriver):
            for _ in range(5):
                t = time.perf_counter()
                await d.search_interrupted()
                search.append((time.perf_counter() - t) * 1000)
        resumes = []
        for tid in random.sample(parked, min(5, len(parked))):
            t = time.perf_counter()
            await d.wait(tid, "hitl", resume="done")
            resumes.append((time.perf_counter() - t) * 1000)
            parked.remove(tid)
        out[target] = {
            "rss_per_thread_kb": ((rss - base_rss) / target / 1024) if rss and base_rss else None,
            "rss_mb": rss / 2**20 if rss else None,
            "search_ms": median(search) if search else None,
            "resume_ms": median(resumes),
        }
    return out


async def scenario_doubletext(d, scale: Scale) -> dict:
    if isinstance(d, InProcessDriver):
        return {"switch_ms": None}
    client = d.client
    times = []
    for _ in range(scale.doubletext_rounds):
        tid = await d.new_thread()
        first = await client.runs.create(tid, "slow", input={"ticks": 200})
        while (await client.runs.get(tid, first["run_id"]))["status"] != "running":
            await asyncio.sleep(0.01)
        start = time.perf_counter()
        second = await client.runs.create(tid, "slow", input={"ticks": 1, "n": 0}, multitask_strategy="interrupt")
        while True:
            a = (await client.runs.get(tid, first["run_id"]))["status"]
            b = (await client.runs.get(tid, second["run_id"]))["status"]
            if a == "interrupted" and b in ("running", "success"):
                break
            await asyncio.sleep(0.005)
        times.append((time.perf_counter() - start) * 1000)
        await client.runs.join(tid, second["run_id"])
    return {"switch_ms": median(times)}


async def measure(system: str, scale: Scale, workdir: Path, log_dir: Path) -> dict:
    async with start_system(system, workdir, log_dir) as d:
        for _ in range(3):  # warm-up: imports, connections, caches
            await hitl_cycle(d, {"create": [], "to_interrupt": [], "resume": [], "cycle": []})
        async for _ in d.stream_custom("streamer", {"count": 10}):
            pass
        result = {}
        budget = scale.dev_park_budget_s if system == "langgraph-dev" else scale.park_budget_s
        for name, fn in [("hitl", scenario_hitl), ("breakpoints", scenario_breakpoints),
                         ("streaming", scenario_streaming), ("doubletext", scenario_doubletext),
                         ("parked", lambda d, scale: scenario_parked(d, scale, budget))]:
            t = time.perf_counter()
            result[name] = await fn(d, scale)
            print(f"  {system} {name}: {time.perf_counter() - t:.1f}s", flush=True)
        return result


# -- report ----------------------------------------------------------------
def fmt(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "—"
    return f"{value:,.{digits}f}"


def ratio(value, floor, higher_is_better: bool) -> str:
    if value in (None, 0) or floor in (None, 0):
        return "—"
    return f"{(floor / value if higher_is_better else value / floor):.2f}×"


def report(results: dict, scale: Scale, out: Path, plot: Path, elapsed: float) -> None:
    systems = list(results)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    lines = [
        "# Benchmark results",
        "",
        f"- date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; commit `{commit}`; whole run {elapsed / 60:.1f} min",
        f"- machine: {platform.machine()}, {psutil.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.platform()}",
        f"- each figure: median of {scale.rounds} rounds in one sitting, after a warm-up; "
        "clients and servers share the machine's cores",
        "- **× floor** / **× dev**: how many times slower than the in-process floor / than `langgraph dev` "
        "(time ratio: below 1.00× means faster)",
        "",
    ]

    def table(title: str, rows: list[tuple[str, Any, bool, int]]):
        lines.extend([f"## {title}", "", "| system | " + " | ".join(r[0] for r in rows) + " | × floor | × dev |",
                      "|---|" + "---|" * (len(rows) + 2)])
        for s in systems:
            vals = [r[1](results[s]) for r in rows]
            main_fn, hib = rows[0][1], rows[0][2]
            floor = main_fn(results["inprocess"]) if "inprocess" in results else None
            dev = main_fn(results["langgraph-dev"]) if "langgraph-dev" in results else None
            lines.append(f"| {s} | " + " | ".join(fmt(v, r[3]) for v, r in zip(vals, rows))
                         + f" | {ratio(vals[0], floor, hib)} | {ratio(vals[0], dev, hib)} |")
        lines.append("")

    for c in scale.concurrency:
        table(f"1. HITL cycle, {c} concurrent client{'s' if c > 1 else ''} (ms per step)", [
            ("cycles/s", lambda r, c=c: r["hitl"][c]["cycles_per_s"], True, 1),
            ("create p50", lambda r, c=c: r["hitl"][c]["create_p50"], False, 1),
            ("to interrupt p50", lambda r, c=c: r["hitl"][c]["to_interrupt_p50"], False, 1),
            ("to interrupt p95", lambda r, c=c: r["hitl"][c]["to_interrupt_p95"], False, 1),
            ("resume p50", lambda r, c=c: r["hitl"][c]["resume_p50"], False, 1),
            ("resume p95", lambda r, c=c: r["hitl"][c]["resume_p95"], False, 1),
            ("resume p99", lambda r, c=c: r["hitl"][c]["resume_p99"], False, 1),
        ])
    table("2. Breakpoint stepping (10-node chain, interrupt_before=\"*\")", [
        ("steps/s", lambda r: r["breakpoints"]["steps_per_s"], True, 1)])
    table(f"3. Streaming {scale.stream_events:,} custom events", [
        ("events/s", lambda r: r["streaming"]["events_per_s"], True, 0),
        ("first event ms", lambda r: r["streaming"]["first_event_ms"], False, 1)])
    for n in scale.parked:
        cut = [f"{s}: {results[s]['parked'][n]['not_reached']}" for s in systems
               if "not_reached" in results[s]["parked"].get(n, {})]
        if cut:
            lines.append(f"Not measured at {n:,} (parking budget exhausted): {'; '.join(cut)}. "
                         + PARK_BUDGET_NOTE.format(dev=scale.dev_park_budget_s, other=scale.park_budget_s))
            lines.append("")
        table(f"4. {n:,} threads parked at an interrupt", [
            ("resume ms", lambda r, n=n: r["parked"].get(n, {}).get("resume_ms"), False, 1),
            ("search(status=interrupted) ms", lambda r, n=n: r["parked"].get(n, {}).get("search_ms"), False, 1),
            ("server RSS MB", lambda r, n=n: r["parked"].get(n, {}).get("rss_mb"), False, 0),
            ("RSS per parked thread KB", lambda r, n=n: r["parked"].get(n, {}).get("rss_per_thread_kb"), False, 2)])
    table("5. Double-text (multitask_strategy=\"interrupt\"): first run interrupted and second started", [
        ("switch ms", lambda r: r["doubletext"]["switch_ms"], False, 1)])

    notes = BENCH / "NOTES.md"
    if notes.exists():
        lines += ["## Where the time goes", "", notes.read_text().strip(), ""]
    lines += [f"![HITL resume latency against concurrency]({plot.name})", "",
              "Raw figures: `results.json`. Reproduce: `make bench` (quick check: `make bench-quick`).", ""]
    out.write_text("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for s in systems:
        xs = scale.concurrency
        axes[0].plot(xs, [results[s]["hitl"][c]["resume_p50"] for c in xs], marker="o", label=s)
        axes[1].plot(xs, [results[s]["hitl"][c]["resume_p95"] for c in xs], marker="o", label=s)
    for ax, title in zip(axes, ("resume p50", "resume p95")):
        ax.set_xscale("log")
        ax.set_xticks(scale.concurrency, [str(c) for c in scale.concurrency])
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel("ms")
        ax.set_title(f"HITL {title}")
        ax.grid(alpha=.3)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(plot, dpi=110)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny scale: checks the runner works")
    parser.add_argument("--systems", default=",".join(ALL_SYSTEMS))
    parser.add_argument("--out", default=str(BENCH / "RESULTS.md"))
    args = parser.parse_args()
    scale = QUICK if args.quick else FULL
    systems = [s for s in args.systems.split(",") if s]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot = out.with_name("latency.png")
    started = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory(prefix="waypoint-bench-") as tmp:
        for system in systems:
            workdir = Path(tmp) / system
            workdir.mkdir()
            t = time.perf_counter()
            print(f"{system} …", flush=True)
            results[system] = await measure(system, scale, workdir, out.parent)
            print(f"{system} done in {time.perf_counter() - t:.0f}s", flush=True)
    (out.with_name("results.json")).write_text(json.dumps(results, indent=1, default=str))
    report(results, scale, out, plot, time.perf_counter() - started)
    print(f"wrote {out} and {plot}")


if __name__ == "__main__":
    asyncio.run(main())
