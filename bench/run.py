"""Waypoint benchmarks, side by side with the official server, Aegra and the in-process floor.

Systems (same graphs, same client):
  inprocess             the graph driven directly (ainvoke / Command(resume=...)) on
                        langgraph-checkpoint-sqlite, no HTTP: the floor no server can beat
  inprocess-postgres    the same on langgraph-checkpoint-postgres (AsyncPostgresSaver) and the
                        durable PostgreSQL below: what PostgreSQL itself costs a cycle, the
                        floor for Waypoint's PostgreSQL figures (hitl, breakpoints, streaming)
  waypoint-sqlite       `waypoint serve` on SQLite (WAL, synchronous=NORMAL, the default)
  waypoint-sqlite-full  the same with `?synchronous=full` (every commit fsynced)
  waypoint-postgres     `waypoint serve` on PostgreSQL + Redis, one process
  waypoint-postgres-2/4 the same with 2 and 4 processes (clients spread over them)
  langgraph-dev         `langgraph dev` (langgraph-cli[inmem], its own venv bench/.venv-langgraph-dev),
                        in-memory, --n-jobs-per-worker 10
  langhost              the official server code (langgraph-api) on PostgreSQL + Redis
                        (`langhost serve`, its own venv bench/.venv-langhost)
  aegra                 Aegra (`aegra-api`, its own venv bench/.venv-aegra, Python >= 3.12) on PostgreSQL
PostgreSQL and Redis are throwaway local servers; PostgreSQL runs durable (fsync=on,
synchronous_commit=on, full_page_writes=on) for every system that uses it. A peer that does
not install or start is skipped with the reason printed.

Scenarios (all through `langgraph_sdk` for the servers):
  1 hitl        create thread -> runs.wait to the interrupt -> runs.wait(Command(resume)) at
                1, 10, 50 and 200 concurrent clients: cycles/s, p50/p95/p99 of each step, server
                CPU ms per cycle (all server processes) and PostgreSQL transactions per cycle
  2 breakpoints a 10-node chain with interrupt_before="*", stepped with input=None, each
                client its own thread: steps/s at each concurrency
  3 streaming   a node emitting custom events (2,000 with one client, shared by the clients
                with more, at least 100 each), concurrent streams: time to first event, events/s
  4 parked      threads parked at an interrupt (100, 1,000, 10,000) by 100 clients: server RSS
                per parked thread, threads.search(status="interrupted") latency, resume latency
  5 doubletext  time from a multitask_strategy="interrupt" run's creation until the first
                run is `interrupted` and the new one has started, while the other clients of
                each concurrency run HITL cycles

Each figure is the median of several rounds measured in one sitting, after a warm-up.
Usage: python bench/run.py [--quick] [--systems a,b] [--out bench/RESULTS.md]
`--quick` (make bench-quick) is a regression check, not a timed test: it prints each
figure's ratio to the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
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
from datetime import datetime, timedelta, timezone
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

#: In the order measured: the floors, Waypoint's two backends and the peers first, so that a run
#: cut short by `--stop-at` still has the figures the targets compare.
ALL_SYSTEMS = ["inprocess", "inprocess-postgres", "waypoint-sqlite", "waypoint-postgres", "waypoint-postgres-2",
               "langhost", "langgraph-dev", "aegra", "waypoint-postgres-4", "waypoint-sqlite-full"]
#: Systems that only run the HITL scenario (the scaling curve and the stricter disk setting)
#: plus streaming; the others run every scenario.
HITL_ONLY = {"waypoint-sqlite-full", "waypoint-postgres-2", "waypoint-postgres-4"}
#: The floor on PostgreSQL, and the scenarios it runs (a graph has no threads to search).
PG_FLOOR = "inprocess-postgres"
FLOOR_SCENARIOS = ("hitl", "breakpoints", "streaming")
#: Peers measured side by side (the targets compare Waypoint with the best of them).
PEERS = ["langgraph-dev", "langhost", "aegra"]
#: Durability and disk-sync settings of each system's figures.
DURABILITY = {
    "inprocess": "LangGraph durability `async` (default); AsyncSqliteSaver, WAL, synchronous=NORMAL (as waypoint-sqlite)",
    PG_FLOOR: "LangGraph durability `async` (default); AsyncPostgresSaver on PostgreSQL as waypoint-postgres",
    "waypoint-sqlite": "durability `async` (default); SQLite WAL, synchronous=NORMAL (a commit survives a process "
                       "crash; the last ones may be lost on power loss)",
    "waypoint-sqlite-full": "durability `async`; SQLite WAL, synchronous=FULL (`sqlite:///path?synchronous=full`: "
                            "every commit fsynced)",
    "waypoint-postgres": "durability `async`; PostgreSQL fsync=on, synchronous_commit=on, full_page_writes=on",
    "waypoint-postgres-2": "as waypoint-postgres",
    "waypoint-postgres-4": "as waypoint-postgres",
    "langgraph-dev": "in memory: nothing survives a restart",
    "langhost": "PostgreSQL as waypoint-postgres (its own defaults otherwise)",
    "aegra": "PostgreSQL as waypoint-postgres, no Redis (its default: in-process run queue)",
}


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


    peer_parked: list[int] = field(default_factory=list)  # the counts peers park (10,000 only for Waypoint)
    scenario_budget_s: float = 240  # a scenario (parking: beyond its budget) not done by then is reported failed

    def bp_steps(self, clients: int, system: str = "") -> int:
        """Breakpoint steps each client runs at this concurrency: whole chains (11 steps
        each, `chain_threads` of them; four times as many at one client, so a round of a
        fast system lasts well beyond one garbage collection pause) up to 10 clients, then
        5 steps at 50 and 3 at 200 (a new thread and its first steps), so a round stays
        under a minute on a peer. `langgraph dev` waits ~1 s per step for its queue poll:
        at one client it runs one chain."""
        if clients == 1:
            return 11 * self.chain_threads * (1 if system == "langgraph-dev" else 4)
        if clients <= 10:
            return 11 * self.chain_threads
        return 5 if clients <= 50 else 3

    def stream_events_each(self, clients: int) -> int:
        """Custom events in each stream: `stream_events` shared by the clients, at least 100."""
        return max(min(100, self.stream_events), self.stream_events // clients)

    def cycles(self, clients: int, system: str = "") -> int:
        """HITL cycles each client runs at this concurrency (fewer per client as clients
        grow: 40, then 4 at 10 clients, 2 at 50, 1 at 200). `langgraph dev` spends ~2 s per
        cycle in its queue poll, so with one client it runs a quarter as many."""
        if clients == 1:
            return max(1, self.cycles_per_client // 4) if system == "langgraph-dev" else self.cycles_per_client
        if clients <= 10:
            return max(1, self.cycles_per_client // clients)
        return 2 if clients <= 50 else 1


FULL = Scale(rounds=3, concurrency=[1, 10, 50, 200], cycles_per_client=40, chain_threads=1,
             stream_events=2000, parked=[100, 1000, 10000], park_concurrency=100, doubletext_rounds=3,
             park_budget_s=300, dev_park_budget_s=120, peer_parked=[100, 1000])
QUICK = Scale(rounds=1, concurrency=[1, 2], cycles_per_client=4, chain_threads=1,
              stream_events=50, parked=[5, 10], park_concurrency=5, doubletext_rounds=1,
              park_budget_s=120, dev_park_budget_s=120, peer_parked=[5], scenario_budget_s=60)


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
    """A server (one or several processes behind one database) measured through the official
    Python SDK; successive calls go to the processes in turn, as behind a load balancer."""

    def __init__(self, urls: list[str], pids: list[int], db_uri: str | None = None):
        self.urls = urls
        self.pids = pids
        self.db_uri = db_uri
        self.clients = [get_client(url=url, timeout=httpx.Timeout(300.0)) for url in urls]
        self.client = self.clients[0]
        self._turn = 0

    def _next(self):
        self._turn += 1
        return self.clients[self._turn % len(self.clients)]

    async def new_thread(self) -> str:
        return (await self._next().threads.create())["thread_id"]

    async def wait(self, tid: str, graph: str, *, input: Any = None, resume: Any = None, **kw) -> dict:
        client = self._next()
        if resume is not None:
            return await client.runs.wait(tid, graph, command=SdkCommand(resume=resume), **kw)
        return await client.runs.wait(tid, graph, input=input, **kw)

    async def stream_custom(self, graph: str, input: dict):
        async for part in self.client.runs.stream(None, graph, input=input, stream_mode="custom"):
            if part.event == "custom":
                yield part.data

    async def search_interrupted(self) -> list:
        return await self.client.threads.search(status="interrupted", limit=10)

    def _procs(self) -> list[psutil.Process]:
        procs = []
        for pid in self.pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc = psutil.Process(pid)
                procs += [proc, *proc.children(recursive=True)]
        return procs

    def rss(self) -> float | None:
        return sum(p.memory_info().rss for p in self._procs()) or None

    def cpu(self) -> float:
        """CPU seconds (user + system) used so far by every server process."""
        total = 0.0
        for proc in self._procs():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def xacts(self) -> int | None:
        """PostgreSQL transactions committed or rolled back so far in the server's database."""
        return pg_xacts(self.db_uri) if self.db_uri else None


def pg_xacts(db_uri: str) -> int:
    import psycopg

    with psycopg.connect(db_uri, autocommit=True) as conn:
        return conn.execute("SELECT xact_commit + xact_rollback FROM pg_stat_database "
                            "WHERE datname = current_database()").fetchone()[0]


class InProcessDriver:
    """The graphs driven directly on an AsyncSqliteSaver at `path`, or with `db_uri` on an
    AsyncPostgresSaver (over a psycopg pool, as langgraph-checkpoint-postgres documents it):
    no HTTP, no server."""

    def __init__(self, path: Path, db_uri: str | None = None):
        self.path = path
        self.db_uri = db_uri

    async def open(self) -> None:
        import aiosqlite
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        import bench_graphs

        if self.db_uri:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
            from psycopg.rows import dict_row
            from psycopg_pool import AsyncConnectionPool

            self.conn = AsyncConnectionPool(self.db_uri, min_size=2, max_size=20, open=False, kwargs={
                "autocommit": True, "prepare_threshold": 0, "row_factory": dict_row})
            await self.conn.open(wait=True)
            self.saver = AsyncPostgresSaver(self.conn)
        else:
            self.conn = await aiosqlite.connect(self.path)
            await self.conn.execute("PRAGMA journal_mode=WAL")
            await self.conn.execute("PRAGMA synchronous=NORMAL")  # as waypoint-sqlite's default
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

    def cpu(self) -> float:
        times = psutil.Process().cpu_times()  # the graph runs in this process
        return times.user + times.system

    def xacts(self) -> int | None:
        return pg_xacts(self.db_uri) if self.db_uri else None


# -- systems ---------------------------------------------------------------
class SystemUnavailable(Exception):
    """A peer that could not be installed or started: it is skipped, with this reason."""


#: Peers installed in their own venvs (their pins clash with Waypoint's): venv, package
#: constraints (a full `pip freeze`), the package to install, the Python versions it accepts.
PEER_VENVS = {
    "langgraph-dev": (BENCH / ".venv-langgraph-dev", BENCH / "constraints-langgraph-dev.txt", "langgraph-cli[inmem]",
                      (3, 11)),
    "langhost": (BENCH / ".venv-langhost", BENCH / "constraints-langhost.txt", "langhost", (3, 11)),
    "aegra": (BENCH / ".venv-aegra", BENCH / "constraints-aegra.txt", "aegra-api", (3, 12)),
}


def _python_at_least(version: tuple[int, int]) -> str:
    """A Python interpreter of at least `version`: this one, one on PATH, or one of pyenv's."""
    if sys.version_info[:2] >= version:
        return sys.executable
    names = [f"python3.{minor}" for minor in range(14, version[1] - 1, -1)]
    candidates = [shutil.which(n) for n in names] + sorted(
        (str(p) for n in names for p in Path.home().glob(f".pyenv/versions/*/bin/{n}")), reverse=True)
    for candidate in filter(None, candidates):
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2] >= %r)" % (version,)],
                               capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return candidate
    raise SystemUnavailable(f"needs Python >= {version[0]}.{version[1]}, none found (PATH, ~/.pyenv)")


def peer_venv(name: str) -> Path:
    """The peer's venv (built on first use from its pinned constraints); its bin/ directory.
    Raises `SystemUnavailable` when it does not install."""
    venv, constraints, package, version = PEER_VENVS[name]
    stamp = venv / ".installed"
    if stamp.exists() and stamp.read_text() == constraints.read_text():
        return venv / "bin"
    print(f"  installing {name} ({package}) into {venv.relative_to(ROOT)} …", flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    steps = [[_python_at_least(version), "-m", "venv", str(venv)],
             [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-c", str(constraints), package]]
    for cmd in steps:
        result = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            tail = [line for line in (result.stderr or result.stdout).splitlines() if "is ignored" not in line]
            raise SystemUnavailable(f"{package} does not install: {' '.join(tail[-3:])[:400]}")
    stamp.write_text(constraints.read_text())
    return venv / "bin"


def _durable_postgres():
    """A throwaway PostgreSQL server that syncs every commit to disk (the tests' one does not)."""
    from services import PostgresServer, _pg_bin

    class DurablePostgres(PostgresServer):
        def resume(self) -> None:
            options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=on"
                       " -c synchronous_commit=on -c full_page_writes=on -c max_connections=400")
            self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start")

    return DurablePostgres().start()


def _spawn(cmd: list[str], cwd: Path, log_path: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(cmd, cwd=cwd, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, env=env)


async def _ready(proc: subprocess.Popen, url: str, name: str, log_path: Path, path: str = "/ok") -> None:
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise SystemUnavailable(f"{name} exited with {proc.returncode} while starting; see {log_path}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}{path}", timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise SystemUnavailable(f"{name} did not answer {path} within 120 s; see {log_path}")
        await asyncio.sleep(0.2)


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.asynccontextmanager
async def start_system(name: str, workdir: Path, log_dir: Path, log_name: str | None = None):
    """Yield a driver for `name`, with its servers (if any) started fresh and stopped after
    (their output in `log_dir / log_name`, default `{name}.log`). Raises `SystemUnavailable`
    for a peer that does not install or start."""
    from services import RedisServer

    if name in ("inprocess", PG_FLOOR):
        server = None
        try:
            if name == PG_FLOOR:
                try:
                    server = _durable_postgres()
                except RuntimeError as exc:
                    raise SystemUnavailable(str(exc)) from exc
            driver = InProcessDriver(workdir / "inprocess.sqlite", server and server.create_database())
            await driver.open()
            try:
                yield driver
            finally:
                await driver.close()
        finally:
            if server is not None:
                server.stop()
        return

    extra: list = []
    procs: list[subprocess.Popen] = []
    log_path = log_dir / (log_name or f"{name}.log")
    log_path.write_bytes(b"")
    graphs_copy = workdir / "graphs"
    shutil.copytree(GRAPHS, graphs_copy, ignore=shutil.ignore_patterns(".langgraph_api", "__pycache__"))
    db_uri = None
    ready_path = "/ok"
    try:
        if name in PEER_VENVS:
            bin_dir = peer_venv(name)
        try:  # a missing PostgreSQL or Redis skips the system with the reason, not the run
            if name.startswith("waypoint-postgres") or name in ("langhost", "aegra"):
                extra.append(_durable_postgres())
                db_uri = extra[-1].create_database()
            if name.startswith("waypoint-postgres") or name == "langhost":
                extra.append(RedisServer().start())
        except RuntimeError as exc:
            raise SystemUnavailable(str(exc)) from exc
        redis_uri = extra[-1].uri if len(extra) > 1 else None
        n = int(name.rsplit("-", 1)[1]) if name.startswith("waypoint-postgres-") else 1
        ports = [free_port() for _ in range(n)]
        for port in ports:
            env = None
            if name == "langgraph-dev":
                cmd = [str(bin_dir / "langgraph"), "dev", "--no-browser", "--no-reload",
                       "--host", "127.0.0.1", "--port", str(port), "--n-jobs-per-worker", "10"]
            elif name == "langhost":
                cmd = [str(bin_dir / "langhost"), "serve", "--no-browser", "--host", "127.0.0.1", "--port", str(port),
                       "--config", "langgraph.json", "--database-uri", db_uri, "--redis-uri", redis_uri,
                       "--n-jobs-per-worker", "10", "--server-log-level", "warning"]
                env = {**os.environ, "LOG_LEVEL": "WARNING"}
            elif name == "aegra":
                cmd = [str(bin_dir / "python"), "-m", "uvicorn", "aegra_api.main:app", "--host", "127.0.0.1",
                       "--port", str(port), "--log-level", "warning"]
                env = {**os.environ, "DATABASE_URL": db_uri, "HOST": "127.0.0.1", "PORT": str(port),
                       "AEGRA_CONFIG": "langgraph.json", "LOG_LEVEL": "WARNING"}
                ready_path = "/"
            else:
                if name.startswith("waypoint-sqlite"):
                    db_uri_arg = f"sqlite:///{workdir / 'waypoint.sqlite'}"
                    if name == "waypoint-sqlite-full":
                        db_uri_arg += "?synchronous=full"
                    store = ["--database-uri", db_uri_arg]
                else:
                    store = ["--database-uri", db_uri, "--redis-uri", redis_uri]
                cmd = [sys.executable, "-m", "waypoint", "serve", "--config", str(GRAPHS / "langgraph.json"),
                       "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", *store]
            procs.append(_spawn(cmd, graphs_copy, log_path, env))
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for proc, url in zip(procs, urls):
            await _ready(proc, url, name, log_path, ready_path)
        yield SdkDriver(urls, [p.pid for p in procs], db_uri)
    finally:
        for proc in procs:
            _stop(proc)
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


async def _usage(d) -> tuple[float, int | None]:
    """(server CPU seconds, PostgreSQL transactions) so far. PostgreSQL backends report their
    counts up to a second late, so a PostgreSQL system is read after that second."""
    xacts = None
    if d.xacts() is not None:
        await asyncio.sleep(PG_STATS_LAG_S)
        xacts = d.xacts()
    return d.cpu(), xacts


#: Seconds PostgreSQL backends may hold their statistics before reporting them.
PG_STATS_LAG_S = 1.2


async def scenario_hitl(d, scale: Scale) -> dict:
    async def level(c: int) -> dict:
        rounds = []
        per_client = scale.cycles(c, d.name)
        for _ in range(scale.rounds):
            timings: dict[str, list[float]] = {"create": [], "to_interrupt": [], "resume": [], "cycle": []}

            async def client_loop():
                for _ in range(per_client):
                    await hitl_cycle(d, timings)

            cpu0, xacts0 = await _usage(d)
            start = time.perf_counter()
            await gather_all(client_loop() for _ in range(c))
            wall = time.perf_counter() - start
            cpu1, xacts1 = await _usage(d)
            n = len(timings["cycle"])
            rounds.append({
                "cycles_per_s": n / wall,
                "cpu_ms_per_cycle": (cpu1 - cpu0) * 1000 / n,
                # minus the reading's own transaction
                "pg_xacts_per_cycle": (xacts1 - xacts0 - 1) / n if xacts0 is not None else None,
                **{f"{step}_p{q}": pct(v, q / 100) * 1000 for step, v in timings.items() for q in (50, 95, 99)},
            })
        out = {k: median([r[k] for r in rounds]) if rounds[0][k] is not None else None for k in rounds[0]}
        out["cycles"] = per_client * c
        return out
    return await per_concurrency(scale, level)


async def gather_all(coros) -> list:
    """`asyncio.gather` of `coros` that, when one fails, cancels the others before raising.
    (`gather` leaves them running: after one of 200 clients failed, the other 199 went on
    cycling behind the next scenario's back - the 2.1 s first streamed event of
    waypoint-postgres-4 at one client in the 2026-12-07 full run.)"""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def failure(exc: BaseException) -> str:
    """What failed, for the report: the exception, and for a transport error (a reset
    connection says nothing else) the request it broke."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, httpx.RequestError):
        with contextlib.suppress(RuntimeError):  # no request attached
            text += f" ({exc.request.method} {exc.request.url.path})"
    return text[:300]


async def per_concurrency(scale: Scale, level) -> dict:
    """`level(c)` (a coroutine giving one concurrency's figures) for each client count of
    `scale`; a count not done within the scenario budget is reported failed and the next
    one is still measured."""
    out = {}
    for c in scale.concurrency:
        try:
            out[c] = await asyncio.wait_for(level(c), scale.scenario_budget_s)
        except asyncio.TimeoutError:
            out[c] = {"failed": f"not done within {scale.scenario_budget_s:.0f} s"}
        except Exception as exc:  # a peer failing under this load: say so, measure the rest
            out[c] = {"failed": failure(exc)}
    return out


async def scenario_breakpoints(d, scale: Scale) -> dict:
    """Steps/s of `c` clients each stepping its own thread through the 10-node chain with
    `interrupt_before="*"` (every step a run: `scale.bp_steps(c)` steps per client)."""
    async def level(c: int) -> dict:
        steps_each = scale.bp_steps(c, d.name)
        rounds = []
        for _ in range(scale.rounds):
            async def client_steps():
                for step in range(steps_each):
                    if step % 11 == 0:  # a new thread (the chain has 10 nodes: 11 steps)
                        tid = await d.new_thread()
                        await d.wait(tid, "chain", input={"visited": []}, interrupt_before="*")
                    else:
                        await d.wait(tid, "chain", input=None, interrupt_before="*")

            start = time.perf_counter()
            await gather_all(client_steps() for _ in range(c))
            rounds.append(steps_each * c / (time.perf_counter() - start))
        return {"steps_per_s": median(rounds)}
    return await per_concurrency(scale, level)


async def scenario_streaming(d, scale: Scale) -> dict:
    """`c` concurrent `runs.stream` of custom events (`scale.stream_events_each(c)` each):
    events/s over all streams (events ÷ time from the requests to the last event, so the
    time to the first event counts), and the median time to each stream's first event."""
    async def level(c: int) -> dict:
        count = scale.stream_events_each(c)
        firsts, rates = [], []
        for _ in range(scale.rounds):
            start = time.perf_counter()
            round_firsts, lasts = [], []

            async def one_stream():
                first = last = None
                n = 0
                async for _ in d.stream_custom("streamer", {"count": count}):
                    last = time.perf_counter()
                    first = first or last
                    n += 1
                assert n == count, n
                round_firsts.append((first - start) * 1000)
                lasts.append(last)

            await gather_all(one_stream() for _ in range(c))
            firsts.append(median(round_firsts))
            rates.append(count * c / (max(lasts) - start))
        return {"first_event_ms": median(firsts), "events_per_s": median(rates), "events_each": count}
    return await per_concurrency(scale, level)


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
            await asyncio.wait_for(gather_all(park() for _ in range(target - len(parked))), remaining)
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
    """Time from a double-text (`multitask_strategy="interrupt"`) to the first run being
    `interrupted` with the second running, while `c - 1` other clients run HITL cycles."""
    if isinstance(d, InProcessDriver):
        return {}
    client = d.client

    async def switch() -> float:
        tid = await d.new_thread()
        first = await client.runs.create(tid, "slow", input={"ticks": 200})
        deadline = time.monotonic() + 30  # a server that never reports these statuses fails here
        while (await client.runs.get(tid, first["run_id"]))["status"] != "running":
            assert time.monotonic() < deadline, "the first run never reported `running`"
            await asyncio.sleep(0.01)
        start = time.perf_counter()
        second = await client.runs.create(tid, "slow", input={"ticks": 1, "n": 0}, multitask_strategy="interrupt")
        while True:
            a = (await client.runs.get(tid, first["run_id"]))["status"]
            b = (await client.runs.get(tid, second["run_id"]))["status"]
            if a == "interrupted" and b in ("running", "success"):
                break
            assert time.monotonic() < deadline, f"first run {a!r}, second {b!r} after 30 s"
            await asyncio.sleep(0.005)
        elapsed = (time.perf_counter() - start) * 1000
        await client.runs.join(tid, second["run_id"])
        return elapsed

    async def level(c: int) -> dict:
        done = asyncio.Event()

        async def load():
            while not done.is_set():
                await hitl_cycle(d, {"create": [], "to_interrupt": [], "resume": [], "cycle": []})

        loaders = [asyncio.create_task(load()) for _ in range(c - 1)]
        try:
            times = [await switch() for _ in range(scale.doubletext_rounds)]
        finally:
            done.set()
            await asyncio.gather(*loaders, return_exceptions=True)
        return {"switch_ms": median(times)}
    return await per_concurrency(scale, level)


async def measure(system: str, scale: Scale, workdir: Path, log_dir: Path, only: set[str] | None = None) -> dict:
    """Every scenario (or those in `only`) on `system`. The parked scenario gets a server of
    its own, started fresh: RSS per parked thread counts from that server's warm-up, not on
    top of what the high-concurrency rounds left allocated (which parked threads would reuse,
    hiding their cost)."""
    budget = scale.dev_park_budget_s if system == "langgraph-dev" else scale.park_budget_s
    parked_scale = scale if system.startswith("waypoint") or system == "inprocess" else \
        dataclasses.replace(scale, parked=scale.peer_parked)
    scenarios = [("hitl", scenario_hitl), ("breakpoints", scenario_breakpoints),
                 ("streaming", scenario_streaming), ("doubletext", scenario_doubletext),
                 ("parked", lambda d, scale: scenario_parked(d, parked_scale, budget))]
    if system in HITL_ONLY:
        scenarios = [s for s in scenarios if s[0] in ("hitl", "streaming")]
    elif system == PG_FLOOR:
        scenarios = [s for s in scenarios if s[0] in FLOOR_SCENARIOS]
    if only:
        scenarios = [s for s in scenarios if s[0] in only]
    result = {}
    groups = [("", [s for s in scenarios if s[0] != "parked"]), ("-parked", [s for s in scenarios if s[0] == "parked"])]
    for suffix, group in groups:
        if not group:
            continue
        (workdir / f"server{suffix}").mkdir()
        async with start_system(system, workdir / f"server{suffix}", log_dir, f"{system}{suffix}.log") as d:
            d.name = system
            for _ in range(3):  # warm-up: imports, connections, caches
                await hitl_cycle(d, {"create": [], "to_interrupt": [], "resume": [], "cycle": []})
            async for _ in d.stream_custom("streamer", {"count": 10}):
                pass
            for name, fn in group:
                t = time.perf_counter()
                limit = scale.scenario_budget_s + budget if name == "parked" else \
                    scale.scenario_budget_s * len(scale.concurrency)
                try:
                    result[name] = await asyncio.wait_for(fn(d, scale), limit)
                except asyncio.TimeoutError:
                    print(f"  {system} {name} FAILED: not done within {limit:.0f} s", flush=True)
                    result[name] = {"failed": f"not done within {limit:.0f} s"}
                except Exception as exc:  # a peer lacking a feature: say so, measure the rest
                    print(f"  {system} {name} FAILED: {failure(exc)}", flush=True)
                    result[name] = {"failed": failure(exc)}
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


def get(result: dict, *path: Any) -> Any:
    """`result[path[0]][path[1]]…`, None where any part is missing (a skipped or failed scenario)."""
    for key in path:
        if not isinstance(result, dict):
            return None
        result = result.get(key, result.get(str(key)) if not isinstance(key, str) else None)
    return result


def targets(results: dict, scale: Scale) -> list[tuple[str, str, str, str]]:
    """Issue 14's targets: (target, measured, goal, met?) rows, from what this run measured."""
    rows = []
    floor = results.get("inprocess", {})

    def add(target: str, value: float | None, goal: float, higher_is_better: bool, unit: str = "") -> None:
        if value is None:
            rows.append((target, "not measured", f"{goal:g}{unit}", "—"))
            return
        met = value >= goal if higher_is_better else value <= goal
        rows.append((target, f"{value:,.2f}{unit}", f"{'≥' if higher_is_better else '≤'} {goal:g}{unit}",
                     "yes" if met else "no"))

    top = max(scale.concurrency)
    at = 50 if 50 in scale.concurrency else top
    best_peer = max((get(results[p], "hitl", at, "cycles_per_s") or 0 for p in PEERS if p in results), default=0)
    for system in ("waypoint-sqlite", "waypoint-postgres-2"):
        cps = get(results.get(system, {}), "hitl", at, "cycles_per_s")
        add(f"{system}: HITL cycles/s at {at} clients ÷ best peer's", cps / best_peer if cps and best_peer else None,
            2, True, "×")
    one = min(scale.concurrency)
    for system in ("waypoint-sqlite", "waypoint-postgres"):
        value, base = get(results.get(system, {}), "hitl", one, "resume_p50"), get(floor, "hitl", one, "resume_p50")
        add(f"{system}: resume p50 at {one} client ÷ floor's", value / base if value and base else None, 1.5, False, "×")
        value, base = (get(results.get(system, {}), "hitl", at, "cpu_ms_per_cycle"),
                       get(floor, "hitl", at, "cpu_ms_per_cycle"))
        add(f"{system}: server CPU per cycle at {at} clients ÷ floor's", value / base if value and base else None,
            1.5, False, "×")
    add(f"waypoint-postgres: PostgreSQL transactions per HITL cycle at {at} clients",
        get(results.get("waypoint-postgres", {}), "hitl", at, "pg_xacts_per_cycle"), 15, False)
    add(f"waypoint-postgres: streaming events/s, {one} client",
        get(results.get("waypoint-postgres", {}), "streaming", one, "events_per_s"), 20000, True)
    add(f"waypoint-postgres: first streamed event ms, {one} client",
        get(results.get("waypoint-postgres", {}), "streaming", one, "first_event_ms"), 20, False)
    for system in ("waypoint-sqlite", "waypoint-postgres"):
        value, base = (get(results.get(system, {}), "breakpoints", one, "steps_per_s"),
                       get(floor, "breakpoints", one, "steps_per_s"))
        add(f"{system}: breakpoint stepping time ÷ floor's, {one} client", base / value if value and base else None,
            2, False, "×")
        add(f"{system}: RSS per parked thread at {max(scale.parked):,} (KB)",
            get(results.get(system, {}), "parked", max(scale.parked), "rss_per_thread_kb"), 5, False)
    # The floor runs on SQLite; against the same graph on PostgreSQL's own floor, the
    # PostgreSQL figures' ratios tell Waypoint's cost from PostgreSQL's.
    pg_floor, pg = results.get(PG_FLOOR, {}), results.get("waypoint-postgres", {})
    if pg_floor:
        value, base = get(pg, "hitl", one, "resume_p50"), get(pg_floor, "hitl", one, "resume_p50")
        add(f"waypoint-postgres: resume p50 at {one} client ÷ {PG_FLOOR}'s", value / base if value and base else None,
            1.5, False, "×")
        value, base = get(pg, "hitl", at, "cpu_ms_per_cycle"), get(pg_floor, "hitl", at, "cpu_ms_per_cycle")
        add(f"waypoint-postgres: server CPU per cycle at {at} clients ÷ {PG_FLOOR}'s",
            value / base if value and base else None, 1.5, False, "×")
        value, base = get(pg, "breakpoints", one, "steps_per_s"), get(pg_floor, "breakpoints", one, "steps_per_s")
        add(f"waypoint-postgres: breakpoint stepping time ÷ {PG_FLOOR}'s, {one} client",
            base / value if value and base else None, 2, False, "×")
    return rows


def report(results: dict, scale: Scale, out: Path, plot: Path, elapsed: float, skipped: dict[str, str],
           note: str = "") -> None:
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
        "- HITL cycles per client per round: " + ", ".join(
            f"{scale.cycles(c)} at {c}" for c in scale.concurrency) + f" ({scale.cycles(1, 'langgraph-dev')} for "
        "`langgraph dev` at 1: each of its cycles waits ~2 s for its queue poll)",
        "- **CPU ms/cycle**: CPU time of every server process (user + system) per HITL cycle; for the floor, "
        "of the benchmark process itself. **PG xacts/cycle**: PostgreSQL transactions (commits + rollbacks "
        "in the server's database, background polling included) per HITL cycle",
        "- **× floor** / **× dev**: how many times slower than the in-process floor / than `langgraph dev` "
        "(time ratio: below 1.00× means faster)",
    ]
    if note:
        lines.append(f"- {note}")
    lines += ["", "## Durability and disk-sync settings of each system", "", "| system | settings |", "|---|---|"]
    lines += [f"| {s} | {DURABILITY.get(s, '')} |" for s in systems]
    for s, reason in skipped.items():
        lines.append(f"| {s} | **not measured**: {reason} |")
    lines.append("")
    rows = targets(results, scale)
    lines += ["## Issue 14's targets", "", "| target | measured | goal | met |", "|---|---|---|---|"]
    lines += [f"| {t} | {m} | {g} | {ok} |" for t, m, g, ok in rows]
    lines.append("")

    def table(title: str, rows: list[tuple[str, Any, bool, int]], only: list[str] | None = None,
              at: int | None = None):
        lines.extend([f"## {title}", "", "| system | " + " | ".join(r[0] for r in rows) + " | × floor | × dev |",
                      "|---|" + "---|" * (len(rows) + 2)])
        for s in only or systems:
            if s not in results:
                continue
            vals = [r[1](results[s]) for r in rows]
            main_fn, hib = rows[0][1], rows[0][2]
            floor = main_fn(results["inprocess"]) if "inprocess" in results else None
            dev = main_fn(results["langgraph-dev"]) if "langgraph-dev" in results else None
            lines.append(f"| {s} | " + " | ".join(fmt(v, r[3]) for v, r in zip(vals, rows))
                         + f" | {ratio(vals[0], floor, hib)} | {ratio(vals[0], dev, hib)} |")
        failed = []
        for s in only or systems:
            for k, v in results.get(s, {}).items():
                if not isinstance(v, dict) or k not in title.lower():
                    continue
                if "failed" in v:
                    failed.append(f"{s}: {v['failed']}")
                failed += [f"{s} at {c} clients: {r['failed']}" for c, r in v.items()
                           if isinstance(r, dict) and "failed" in r and at in (None, c)]
        if failed:
            lines.append("")
            lines.append("Failed: " + "; ".join(failed))
        lines.append("")

    for c in scale.concurrency:
        table(f"1. HITL cycle, {c} concurrent client{'s' if c > 1 else ''} (ms per step)", [
            ("cycles/s", lambda r, c=c: get(r, "hitl", c, "cycles_per_s"), True, 1),
            ("create p50", lambda r, c=c: get(r, "hitl", c, "create_p50"), False, 1),
            ("to interrupt p50", lambda r, c=c: get(r, "hitl", c, "to_interrupt_p50"), False, 1),
            ("to interrupt p95", lambda r, c=c: get(r, "hitl", c, "to_interrupt_p95"), False, 1),
            ("resume p50", lambda r, c=c: get(r, "hitl", c, "resume_p50"), False, 1),
            ("resume p95", lambda r, c=c: get(r, "hitl", c, "resume_p95"), False, 1),
            ("resume p99", lambda r, c=c: get(r, "hitl", c, "resume_p99"), False, 1),
            ("CPU ms/cycle", lambda r, c=c: get(r, "hitl", c, "cpu_ms_per_cycle"), False, 1),
            ("PG xacts/cycle", lambda r, c=c: get(r, "hitl", c, "pg_xacts_per_cycle"), False, 1),
        ], at=c)
    scaling = [s for s in ("waypoint-postgres", "waypoint-postgres-2", "waypoint-postgres-4") if s in results]
    if scaling:
        lines += ["## Scaling: HITL cycles/s of Waypoint on PostgreSQL + Redis by processes", "",
                  "| clients | " + " | ".join(scaling) + " |", "|---|" + "---|" * len(scaling)]
        for c in scale.concurrency:
            lines.append(f"| {c} | " + " | ".join(fmt(get(results[s], "hitl", c, "cycles_per_s")) for s in scaling) + " |")
        lines.append("")
    full = [s for s in systems if s not in HITL_ONLY]
    cs = scale.concurrency
    lines += [f"Breakpoint steps per client: " + ", ".join(
                  f"{scale.bp_steps(c)} at {c}" + (f" ({scale.bp_steps(c, 'langgraph-dev')} for `langgraph dev`)"
                                                   if scale.bp_steps(c, "langgraph-dev") != scale.bp_steps(c) else "")
                  for c in cs)
              + ". Custom events per stream: " + ", ".join(f"{scale.stream_events_each(c):,} at {c}" for c in cs)
              + ". Double-text: the switch of one thread while the other clients run HITL cycles.", ""]
    table("2. Breakpoint stepping (10-node chain, interrupt_before=\"*\"), steps/s by concurrent clients", [
        (f"steps/s, {c}", lambda r, c=c: get(r, "breakpoints", c, "steps_per_s"), True, 1) for c in cs], full)
    table("3. Streaming custom events, by concurrent streams", [
        row for c in cs for row in (
            (f"events/s, {c}", lambda r, c=c: get(r, "streaming", c, "events_per_s"), True, 0),
            (f"first event ms, {c}", lambda r, c=c: get(r, "streaming", c, "first_event_ms"), False, 1))])
    for n in scale.parked:
        cut = [f"{s}: {results[s]['parked'][n]['not_reached']}" for s in full
               if "not_reached" in (get(results[s], "parked", n) or {})]
        if cut:
            lines.append(f"Not measured at {n:,} (parking budget exhausted): {'; '.join(cut)}. "
                         + PARK_BUDGET_NOTE.format(dev=scale.dev_park_budget_s, other=scale.park_budget_s))
            lines.append("")
        parked_here = [s for s in full if get(results[s], "parked", n) is not None]
        if n not in scale.peer_parked:
            lines.append(f"The peers park {', '.join(f'{x:,}' for x in scale.peer_parked)} threads only "
                         "(their parking rate would not reach this count in the run's time).")
            lines.append("")
        table(f"4. {n:,} threads parked at an interrupt", [
            ("resume ms", lambda r, n=n: get(r, "parked", n, "resume_ms"), False, 1),
            ("search(status=interrupted) ms", lambda r, n=n: get(r, "parked", n, "search_ms"), False, 1),
            ("server RSS MB", lambda r, n=n: get(r, "parked", n, "rss_mb"), False, 0),
            ("RSS per parked thread KB", lambda r, n=n: get(r, "parked", n, "rss_per_thread_kb"), False, 2)],
            parked_here)
    table("5. Double-text (multitask_strategy=\"interrupt\"): first run interrupted and second started, "
          "ms by concurrent clients", [
              (f"switch ms, {c}", lambda r, c=c: get(r, "doubletext", c, "switch_ms"), False, 1) for c in cs], full)

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
        xs = [c for c in scale.concurrency if get(results[s], "hitl", c, "resume_p50") is not None]
        axes[0].plot(xs, [get(results[s], "hitl", c, "resume_p50") for c in xs], marker="o", label=s)
        axes[1].plot(xs, [get(results[s], "hitl", c, "cycles_per_s") for c in xs], marker="o", label=s)
    for ax, title, unit in zip(axes, ("HITL resume p50", "HITL cycles/s"), ("ms", "cycles/s")):
        ax.set_xscale("log")
        ax.set_xticks(scale.concurrency, [str(c) for c in scale.concurrency])
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(alpha=.3)
    if any(len(line.get_xdata()) for line in axes[0].get_lines()):  # a log scale needs data
        axes[0].set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(plot, dpi=110)


def print_ratios(results: dict, scale: Scale) -> None:
    """The regression check's output: each system's figures as multiples of the floor's."""
    floor = results.get("inprocess")
    print("\nRatios to the in-process floor (time ratio: 1.00× = as fast as the floor)")
    for s, r in results.items():
        if s == "inprocess" or floor is None:
            continue
        parts = []
        for c in scale.concurrency:
            parts.append(f"cycle@{c} {ratio(get(r, 'hitl', c, 'cycles_per_s'), get(floor, 'hitl', c, 'cycles_per_s'), True)}")
        c = max(scale.concurrency)
        parts.append(f"resume p50@1 {ratio(get(r, 'hitl', 1, 'resume_p50'), get(floor, 'hitl', 1, 'resume_p50'), False)}")
        parts.append(f"CPU/cycle@{c} {ratio(get(r, 'hitl', c, 'cpu_ms_per_cycle'), get(floor, 'hitl', c, 'cpu_ms_per_cycle'), False)}")
        parts.append(f"breakpoints@1 {ratio(get(r, 'breakpoints', 1, 'steps_per_s'), get(floor, 'breakpoints', 1, 'steps_per_s'), True)}")
        parts.append(f"streaming@1 {ratio(get(r, 'streaming', 1, 'events_per_s'), get(floor, 'streaming', 1, 'events_per_s'), True)}")
        xacts = get(r, "hitl", c, "pg_xacts_per_cycle")
        if xacts is not None:
            parts.append(f"PG xacts/cycle {xacts:.1f}")
        print(f"  {s:22} " + "  ".join(parts))
    for row in targets(results, scale):
        print(f"  target: {row[0]}: {row[1]} (goal {row[2]}) {'' if row[3] == '—' else 'met' if row[3] == 'yes' else 'NOT met'}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny scale: checks the runner works, prints ratios")
    parser.add_argument("--systems", default=",".join(ALL_SYSTEMS))
    parser.add_argument("--out", default=str(BENCH / "RESULTS.md"))
    parser.add_argument("--rounds", type=int, default=None, help="rounds per figure (default 3; quick 1)")
    parser.add_argument("--concurrency", default=None, help="HITL client counts, e.g. 1,10,50 (default 1,10,50,200)")
    parser.add_argument("--scenarios", default=None,
                        help="only these scenarios, e.g. parked (default: hitl,breakpoints,streaming,doubletext,parked)")
    parser.add_argument("--note", default="", help="a line added to the report's header (what was cut and why)")
    parser.add_argument("--park-budget", type=float, default=None, help="seconds a system gets to park threads")
    parser.add_argument("--peer-parked", default=None, help="thread counts the peers park, e.g. 100 (default 100,1000)")
    parser.add_argument("--stop-at", default=None,
                        help="UTC time HH:MM: a system not finished by then is reported not measured, "
                             "and the report is written (it is also rewritten after each system)")
    args = parser.parse_args()
    scale = QUICK if args.quick else FULL
    if args.rounds:
        scale = dataclasses.replace(scale, rounds=args.rounds)
    if args.concurrency:
        scale = dataclasses.replace(scale, concurrency=[int(c) for c in args.concurrency.split(",")])
    if args.park_budget:
        scale = dataclasses.replace(scale, park_budget_s=args.park_budget)
    if args.peer_parked:
        scale = dataclasses.replace(scale, peer_parked=[int(n) for n in args.peer_parked.split(",")])
    stop_at = None
    if args.stop_at:
        now = datetime.now(timezone.utc)
        hour, minute = map(int, args.stop_at.split(":"))
        stop_at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if stop_at < now:
            stop_at += timedelta(days=1)
    systems = [s for s in args.systems.split(",") if s]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot = out.with_name("latency.png")
    started = time.perf_counter()
    results: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="waypoint-bench-") as tmp:
        for system in systems:
            workdir = Path(tmp) / system
            workdir.mkdir()
            t = time.perf_counter()
            print(f"{system} …", flush=True)
            left = (stop_at - datetime.now(timezone.utc)).total_seconds() if stop_at else None
            try:
                if left is not None and left < 30:
                    raise SystemUnavailable(f"not measured: the run had to end by {args.stop_at} UTC")
                only = set(args.scenarios.split(",")) if args.scenarios else None
                results[system] = await asyncio.wait_for(measure(system, scale, workdir, out.parent, only), left)
            except (SystemUnavailable, asyncio.TimeoutError) as exc:
                skipped[system] = str(exc) or f"not finished by {args.stop_at} UTC, the run's end"
                print(f"{system} skipped: {skipped[system]}", flush=True)
            else:
                print(f"{system} done in {time.perf_counter() - t:.0f}s", flush=True)
            (out.with_name("results.json")).write_text(json.dumps(results, indent=1, default=str))
            report(results, scale, out, plot, time.perf_counter() - started, skipped, args.note)
    if args.quick:
        print_ratios(results, scale)
    print(f"wrote {out} and {plot}")


if __name__ == "__main__":
    asyncio.run(main())
