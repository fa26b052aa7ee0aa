"""Redis broker: run streams, cancel signals and wake-ups shared by every process.

- A run's stream is a Redis Stream `waypoint:run:{run_id}` (XADD / XREAD BLOCK). An entry
  holds the events a process published meanwhile for that run, in order (field `b`, see
  `_pack`): one XADD and one entry to read per batch, not per event. An event's SSE id is
  `{entry id}.{index in the entry}`, so `Last-Event-ID` resumes in any process. `end()`
  appends an end marker (holding the run's result when small, so a waiter that reads it
  needs no `GET`), stores the result and lets both expire after `retain_seconds`.
- A cancel is a key `waypoint:cancel:{run_id}` (so one sent before the worker listens is
  not lost) plus a message on the `waypoint:cancel` channel.
- Wake-ups are messages on the `waypoint:wake` channel.
- A thread's event log is a Redis Stream `waypoint:thread:{thread_id}:events`. An append
  of several events is one entry (field `p`, see `_pack_bodies`) whose id is `{seq}-0` of
  its last event, so replay after a `seq` is an XREAD from `{seq}-0` in any process
  (skipping, in the first entry, the events up to `seq`); entries written one event each
  (field `b`, before appends were packed) are read as well. The counter
  `waypoint:thread:{thread_id}:seq` and the append are one Lua script (atomic, so appenders
  in several processes never interleave or reuse a seq). The log is trimmed to the entries
  holding its last `thread_max_events` events (MINID) and expires
  `thread_retention_seconds` after its last append; the counter outlives it (30 days
  more), so a seq is never handed out twice.
- A run's end is also announced on the `waypoint:ended` channel (with its result when
  small), so a waiter (`wait_ended`: `runs.wait`, `runs.join`) needs no read of the stream:
  a waiter in the process that ran the run is woken by its `end`, others by the message.
One pub/sub connection per process listens to the channels and wakes local waiters.

Round trips are shared (`batching.Batcher`, `_Reader`): a process sends the events its runs
publish within `SEND_LINGER_SECONDS` or while a send is in flight, and the thread log
events they queue (`queue_thread_events`), in one pipeline (one `XADD` per run, one append
per thread), and one blocking `XREAD` per process, on its own connection, reads every
stream its subscribers follow.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import struct
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError

from waypoint.streams.batching import Batcher
from waypoint.streams.base import (
    THREAD_MAX_EVENTS,
    THREAD_RETENTION_SECONDS,
    Broker,
    CancelAction,
    StreamEvent,
    ThreadEvent,
)

log = logging.getLogger(__name__)

_END = "__end__"
CANCEL_CHANNEL = "waypoint:cancel"
WAKE_CHANNEL = "waypoint:wake"
#: A run's end, for the waiters of other processes (`wait_ended`): `{origin} {run_id}`,
#: then ` {result}` when the result is at most `PUBLISHED_RESULT_BYTES`.
ENDED_CHANNEL = "waypoint:ended"
PUBLISHED_RESULT_BYTES = 4096
#: Seconds a waiter of a run whose stream has begun waits for the end's message before it
#: reads the stream's last entry again (a message lost while the pub/sub connection was down).
OPEN_STREAM_CHECK_SECONDS = 5.0
#: Seconds of idleness after which a pooled connection is health-checked before use.
HEALTH_CHECK_SECONDS = 2
#: Milliseconds a subscriber blocks on XREAD before re-checking `is_finished`.
BLOCK_MS = 500
#: Entries one XREAD returns per stream.
READ_COUNT = 512
#: Bytes of events packed in one run stream entry at most (a larger batch takes several).
ENTRY_BYTES = 1 << 20
#: The last sequence number of a Redis stream entry id (`ms-seq`).
_MAX_SEQ = 2**64 - 1
#: Results up to this many bytes also ride in the end marker, so a `runs.wait`/`join` that
#: read the stream to its end has the result without a `GET` (a round trip per run).
END_RESULT_BYTES = 64 * 1024
#: Bytes of results taken from end markers that a process keeps until `result` asks for
#: them (the oldest go first: a wait that never asks, e.g. a cancel's, leaves its own).
END_RESULTS_KEPT_BYTES = 4 << 20


#: Seconds the first of a batch of sends waits for more to join it: a run's events come a
#: fraction of a millisecond to a few apart, and each send is a round trip (and a read of
#: the stream by each process following it). `end` and `flush` send at once.
SEND_LINGER_SECONDS = 0.001


def _stream_key(run_id: str) -> str:
    return f"waypoint:run:{run_id}"


def _result_key(run_id: str) -> str:
    return f"waypoint:result:{run_id}"


def _cancel_key(run_id: str) -> str:
    return f"waypoint:cancel:{run_id}"


def _thread_events_key(thread_id: str) -> str:
    return f"waypoint:thread:{{{thread_id}}}:events"  # one hash slot per thread


def _thread_seq_key(thread_id: str) -> str:
    return f"waypoint:thread:{{{thread_id}}}:seq"


#: KEYS: events stream, seq counter. ARGV: max events, retention seconds, counter seconds,
#: number of events, the events packed (`_pack_bodies`). Returns the last seq. One entry
#: per append, not per event (a stream of 2,000 events cost Redis ~10 ms of CPU as one
#: XADD each). A missing counter starts from the Redis clock in microseconds (see
#: `streams/base.py`).
_APPEND_THREAD_EVENTS = """
local n = tonumber(ARGV[4])
if redis.call('EXISTS', KEYS[2]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[2], string.format('%d', tonumber(t[1]) * 1000000 + tonumber(t[2]) - 1))
end
local last = redis.call('INCRBY', KEYS[2], n)
local keep_from = math.max(0, last - tonumber(ARGV[1]) + 1)
redis.call('XADD', KEYS[1], 'MINID', string.format('%d-0', keep_from), string.format('%d-0', last), 'p', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return last
"""
#: Seconds the seq counter outlives a thread's last event.
SEQ_COUNTER_EXTRA_SECONDS = 30 * 24 * 3600


def _entry_id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


#: A record's header in a run stream entry: the event name's and the data's byte lengths.
_RECORD = struct.Struct("<II")


def _pack(event: str, data: bytes) -> bytes:
    """One event as a run stream entry holds it: `_RECORD` header, name, data (lengths, so
    names and data may hold any byte); an entry is such records back to back."""
    name = event.encode()
    return _RECORD.pack(len(name), len(data)) + name + data


def _unpack(blob: bytes) -> list[tuple[str, bytes]]:
    """The `(event, data)` records of a run stream entry (`_pack`), in order."""
    out = []
    pos, size, header, read = 0, len(blob), _RECORD.size, _RECORD.unpack_from
    while pos < size:
        name_len, data_len = read(blob, pos)
        pos += header
        start = pos + name_len
        out.append((blob[pos:start].decode(), blob[start:start + data_len]))
        pos = start + data_len
    return out


#: A body's header in a packed thread log entry: its byte length.
_BODY = struct.Struct("<I")


def _pack_bodies(bodies: list[bytes]) -> bytes:
    """Thread log events as one entry holds them: each body after its `_BODY` length."""
    pack = _BODY.pack
    return b"".join(part for body in bodies for part in (pack(len(body)), body))


def _thread_entry_events(entry_id: bytes | str, fields: dict, since: int) -> list[ThreadEvent]:
    """The events of a thread log entry with `seq > since`: a packed entry (`p`) ends
    with the seq of its id; an entry of one event (`b`) is that seq."""
    last = int((entry_id.decode() if isinstance(entry_id, bytes) else entry_id).partition("-")[0])
    if b"p" not in fields:
        return [ThreadEvent(last, fields[b"b"])] if last > since else []
    blob = fields[b"p"]
    bodies, pos, size, header, read = [], 0, len(blob), _BODY.size, _BODY.unpack_from
    while pos < size:
        (length,) = read(blob, pos)
        pos += header
        bodies.append(blob[pos:pos + length])
        pos += length
    first = last - len(bodies) + 1
    return [ThreadEvent(first + i, body) for i, body in enumerate(bodies) if first + i > since]


def _resume_point(last_event_id: str | None) -> tuple[str, tuple[str, int] | None]:
    """Where a subscription resumes: the entry id to read after, and the `(entry id,
    index)` of the last event already delivered when that entry is read again (an event
    id is `{entry id}.{index}`). Raises `ResponseError` (as `XREAD` does) for an id that is
    not one of a run stream's, e.g. a client's bad `Last-Event-ID`."""
    if not last_event_id:
        return "0-0", None
    entry, dot, index = last_event_id.rpartition(".")
    try:
        if not dot:  # a whole entry (the end marker's predecessor, or an id of one entry)
            _entry_id(last_event_id)
            return last_event_id, None
        ms, seq = _entry_id(entry)
        skip = (entry, int(index))
    except ValueError:
        raise aioredis.ResponseError(
            f"Invalid stream ID {last_event_id!r}: not an event id of a run stream"
        ) from None
    before = f"{ms}-{seq - 1}" if seq else f"{ms - 1}-{_MAX_SEQ}" if ms else "0-0"
    return before, skip


class _Follower:
    """One subscriber of `_Reader`: the entries of its stream after `cursor`, in batches.
    A batch wakes the waiting subscriber through one future (`put`): it runs in the next
    loop turn (an `asyncio.Queue` read under `wait_for` took three: its task, the
    callback, the subscriber), a hop of every batch to the client."""

    def __init__(self, key: str, cursor: str):
        self.key = key
        self.cursor = cursor
        self.batches: collections.deque[list | BaseException] = collections.deque()
        self.waiter: asyncio.Future | None = None
        self.included = asyncio.Event()  # the reader's XREAD covers this stream

    def put(self, batch: list | BaseException) -> None:
        self.batches.append(batch)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class _Reader:
    """One blocking `XREAD` per process over every followed stream (instead of one
    connection blocked per subscriber). A new follower interrupts the blocked read with
    `CLIENT UNBLOCK` so its stream is read at once."""

    def __init__(self, uri: str, control: aioredis.Redis):
        self.conn = aioredis.Redis(connection_pool=aioredis.ConnectionPool.from_url(uri, max_connections=1))
        self.control = control
        self.followers: dict[str, set[_Follower]] = {}
        self.changed = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.client_id: int | None = None
        self.blocked = False
        self.failed_at = 0.0  # time.monotonic() of the last failed XREAD

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        await self.conn.aclose(close_connection_pool=True)

    async def follow(self, key: str, cursor: str) -> _Follower:
        """Start following `key` after entry `cursor` (a valid entry id)."""
        follower = _Follower(key, cursor)
        self.followers.setdefault(key, set()).add(follower)
        self.changed.set()
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run(), name="waypoint-redis-reader")
        for _ in range(100):  # until the reader's XREAD covers the new stream
            if follower.included.is_set():
                break
            if self.blocked and self.client_id is not None:
                with contextlib.suppress(aioredis.RedisError):
                    if await self.control.client_unblock(self.client_id):
                        break
            await asyncio.sleep(0.001)
        return follower

    def unfollow(self, follower: _Follower) -> None:
        group = self.followers.get(follower.key)
        if group is not None:
            group.discard(follower)
            if not group:
                del self.followers[follower.key]

    async def _run(self) -> None:
        while True:
            if not self.followers:
                self.changed.clear()
                await self.changed.wait()
                continue
            streams = {key: min((f.cursor for f in group), key=_entry_id) for key, group in self.followers.items()}
            for group in self.followers.values():
                for f in group:
                    f.included.set()
            self.changed.clear()
            try:  # any failure goes to the followers of these streams; the reader lives on
                if self.client_id is None:
                    self.client_id = await self.conn.client_id()
                self.blocked = True
                try:
                    batches = await self.conn.xread(streams, block=BLOCK_MS, count=READ_COUNT)
                finally:
                    self.blocked = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - every follower of these streams gets it
                self.failed_at = time.monotonic()
                self.client_id = None
                for key in streams:
                    for f in self.followers.pop(key, ()):
                        f.put(exc)
                await asyncio.sleep(0.05)
                continue
            for raw_key, entries in batches or []:
                key = raw_key.decode()
                for f in list(self.followers.get(key, ())):
                    after = _entry_id(f.cursor)
                    mine = [(eid.decode(), fields) for eid, fields in entries if _entry_id(eid.decode()) > after]
                    if mine:
                        f.cursor = mine[-1][0]
                        f.put(mine)

    async def read(self, follower: _Follower, timeout: float) -> list[tuple[str, dict]]:
        """The follower's next entries (`(id, fields)`), [] after `timeout` seconds without any."""
        if not follower.batches:
            loop = asyncio.get_running_loop()
            waiter = follower.waiter = loop.create_future()
            timer = loop.call_later(timeout, lambda: waiter.done() or waiter.set_result(None))
            try:
                await waiter
            finally:
                timer.cancel()
                follower.waiter = None
            if not follower.batches:
                return []
        batch = follower.batches.popleft()
        if isinstance(batch, BaseException):
            raise batch
        return batch


class RedisBroker(Broker):
    """Broker on the Redis server at `uri` (`redis://host:port/db`)."""

    remote = True

    def __init__(
        self,
        uri: str,
        *,
        retain_seconds: int = 300,
        max_connections: int = 2000,
        thread_retention_seconds: float = THREAD_RETENTION_SECONDS,
        thread_max_events: int = THREAD_MAX_EVENTS,
    ):
        self.uri = uri
        self.retain_seconds = retain_seconds
        self.thread_retention_seconds = thread_retention_seconds
        self.thread_max_events = thread_max_events
        self._append_script = None
        #: Each waiting subscriber holds a connection in XREAD BLOCK; callers beyond this
        #: many wait for a free one rather than fail.
        self.max_connections = max_connections
        self._redis: aioredis.Redis | None = None
        self._listener: asyncio.Task | None = None
        self._cancels: dict[str, asyncio.Future[CancelAction]] = {}
        self._wake = asyncio.Event()
        #: Run stream records (`_stream_key`, `_pack`ed event) and thread log appends
        #: (thread id, bodies) on their way to Redis, in the order they were queued.
        self._outbox: Batcher[tuple[str, bytes | list[bytes]]] | None = None
        self._reader: _Reader | None = None
        #: Results read from end markers by this process's subscribers (`END_RESULT_BYTES`),
        #: oldest first, until `result` takes them.
        self._end_results: collections.OrderedDict[str, bytes] = collections.OrderedDict()
        self._end_results_bytes = 0
        #: This broker's wake-up and end messages carry it, so the listener skips its own
        #: (the local waiters were woken already): one claim pass per wake-up, not two.
        self._origin = uuid.uuid4().hex.encode()
        #: `wait_ended` futures by run id.
        self._end_waiters: dict[str, set[asyncio.Future]] = {}

    async def open(self) -> None:
        pool = aioredis.BlockingConnectionPool.from_url(self.uri, max_connections=self.max_connections, timeout=None,
            # PING a connection idle this many seconds before using it: connections broken
            # while Redis was down are replaced instead of failing the first calls after.
            health_check_interval=HEALTH_CHECK_SECONDS,
        )
        self._redis = aioredis.Redis(connection_pool=pool)
        await self._redis.ping()
        self._append_script = self._redis.register_script(_APPEND_THREAD_EVENTS)
        self._outbox = Batcher(self._send_all, linger=SEND_LINGER_SECONDS)
        self._reader = _Reader(self.uri, self._redis)
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(CANCEL_CHANNEL, WAKE_CHANNEL, ENDED_CHANNEL)
        self._listener = asyncio.create_task(self._listen(pubsub), name="waypoint-redis-listener")

    async def ping(self) -> None:
        await self._redis.ping()

    @property
    def last_failure(self) -> float:
        return self._reader.failed_at if self._reader is not None else 0.0

    async def close(self) -> None:
        if self._outbox is not None:
            with contextlib.suppress(Exception):
                await self._outbox.flush()
        if self._reader is not None:
            await self._reader.close()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._redis is not None:
            await self._redis.aclose(close_connection_pool=True)
            self._redis = None

    async def _listen(self, pubsub) -> None:
        try:
            while True:
                try:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                except (aioredis.ConnectionError, aioredis.TimeoutError):
                    log.warning("redis pub/sub connection lost; reconnecting")
                    await asyncio.sleep(0.5)
                    continue
                if message is None:
                    continue
                channel = message["channel"].decode()
                if channel == WAKE_CHANNEL:
                    if message["data"] != self._origin:
                        self._wake.set()
                elif channel == ENDED_CHANNEL:
                    origin, _, rest = message["data"].partition(b" ")
                    run_id, _, result = rest.partition(b" ")
                    if origin != self._origin and (ended := run_id.decode()) in self._end_waiters:
                        self._ended(ended, result or None)
                elif channel == CANCEL_CHANNEL:
                    run_id, _, action = message["data"].decode().partition(":")
                    fut = self._cancels.get(run_id)
                    if fut is not None and not fut.done():
                        fut.set_result(action)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    # -- streams -----------------------------------------------------------
    async def publish(self, run_id: str, event: str, data: bytes) -> None:
        await self._outbox.add([(_stream_key(run_id), _pack(event, data))])

    async def queue_thread_events(self, thread_id: str, bodies: list[bytes]) -> None:
        if bodies:
            await self._outbox.add([(thread_id, bodies)])

    async def flush(self) -> None:
        await self._outbox.flush()

    async def _send_all(self, records: list[tuple[str, bytes | list[bytes]]]) -> None:
        """One pipeline: per run, its stream records in order, packed into as few entries
        as `ENTRY_BYTES` allows; then per thread, its queued log events as one append."""
        entries: dict[str, list[list[bytes]]] = {}
        sizes: dict[str, int] = {}  # bytes in each run's last entry
        threads: dict[str, list[bytes]] = {}
        for key, record in records:
            if isinstance(record, list):  # a thread's log events
                threads.setdefault(key, []).extend(record)
                continue
            chunks = entries.setdefault(key, [[]])
            if chunks[-1] and sizes[key] + len(record) > ENTRY_BYTES:
                chunks.append([])
                sizes[key] = 0
            chunks[-1].append(record)
            sizes[key] = sizes.get(key, 0) + len(record)
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, chunks in entries.items():
                for chunk in chunks:
                    pipe.xadd(key, {"b": b"".join(chunk)})
            for thread_id, bodies in threads.items():
                pipe.evalsha(self._append_script.sha, 2, *self._append_args(thread_id, bodies))
            results = await pipe.execute(raise_on_error=False)
        appends = results[len(results) - len(threads):]
        for result in results[:len(results) - len(threads)]:
            if isinstance(result, Exception):
                raise result
        for (thread_id, bodies), result in zip(threads.items(), appends):
            if isinstance(result, NoScriptError):
                # Redis lost its scripts (a restart, SCRIPT FLUSH): the script object loads it.
                args = self._append_args(thread_id, bodies)
                await self._append_script(keys=args[:2], args=args[2:])
            elif isinstance(result, Exception):
                raise result

    async def end(self, run_id: str, result: bytes | None = None) -> None:
        key = _stream_key(run_id)
        await self._outbox.flush()  # the end marker after every event
        async with self._redis.pipeline(transaction=True) as pipe:
            small = result is not None and len(result) <= END_RESULT_BYTES
            pipe.xadd(key, {"b": _pack(_END, result if small else b"")})
            pipe.expire(key, self.retain_seconds)
            if result is not None:
                pipe.set(_result_key(run_id), result, ex=self.retain_seconds)
            pipe.delete(_cancel_key(run_id))
            published = result is not None and len(result) <= PUBLISHED_RESULT_BYTES
            pipe.publish(ENDED_CHANNEL, b" ".join([self._origin, run_id.encode(), *([result] if published else [])]))
            await pipe.execute()
        self._ended(run_id, result)
        self._cancels.pop(run_id, None)

    def _ended(self, run_id: str, result: bytes | None) -> None:
        """Wake this process's waiters of the ended run, keeping `result` for `result()`
        when one waits (a join asks for it next)."""
        waiters = self._end_waiters.pop(run_id, None)
        if not waiters:
            return
        if result is not None and len(result) <= END_RESULT_BYTES:
            self._keep_end_result(run_id, result)
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def result(self, run_id: str) -> bytes | None:
        kept = self._end_results.pop(run_id, None)
        if kept is not None:  # a subscriber here read it with the end marker
            self._end_results_bytes -= len(kept)
            return kept
        return await self._redis.get(_result_key(run_id))

    def _keep_end_result(self, run_id: str, result: bytes) -> None:
        self._end_results_bytes += len(result) - len(self._end_results.pop(run_id, b""))
        self._end_results[run_id] = result
        while self._end_results_bytes > END_RESULTS_KEPT_BYTES:
            self._end_results_bytes -= len(self._end_results.popitem(last=False)[1])

    async def subscribe_batches(
        self,
        run_id: str,
        *,
        last_event_id: str | None = None,
        is_finished: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[list[StreamEvent]]:
        key = _stream_key(run_id)
        after, delivered = _resume_point(last_event_id)
        follower = await self._reader.follow(key, after)
        try:
            while True:
                entries = await self._reader.read(follower, BLOCK_MS / 1000)
                batch: list[StreamEvent] = []
                for entry_id, fields in entries:
                    skip = delivered[1] if delivered is not None and delivered[0] == entry_id else -1
                    for index, (event, data) in enumerate(_unpack(fields[b"b"])):
                        if event == _END:
                            if data:  # the result rides along (an empty one is never stored)
                                self._keep_end_result(run_id, data)
                            if batch:
                                yield batch
                            return
                        if index > skip:
                            batch.append(StreamEvent(f"{entry_id}.{index}", event, data))
                if batch:
                    yield batch
                # `is_finished` first: it may answer without a round trip (a rate-limited check).
                if not entries and is_finished is not None and await is_finished() \
                        and not await self._redis.exists(key):
                    return
        finally:
            self._reader.unfollow(follower)

    async def wait_ended(
        self, run_id: str, *, is_finished: Callable[[], Awaitable[bool]] | None = None
    ) -> None:
        """Without reading the stream: a local future woken by this process's `end`, or by
        another's message on `ENDED_CHANNEL`. The stream's last entry is read first (a run
        that ended before the wait), then again every `BLOCK_MS` while the stream has not
        begun (asking `is_finished` too: a run that ends without a stream), and every
        `OPEN_STREAM_CHECK_SECONDS` once it has (a message lost while the pub/sub
        connection was down)."""
        ended = asyncio.get_running_loop().create_future()
        self._end_waiters.setdefault(run_id, set()).add(ended)
        try:
            state = await self._stream_end(run_id)
            while state is not True:
                timeout = OPEN_STREAM_CHECK_SECONDS if state is False else BLOCK_MS / 1000
                done, _ = await asyncio.wait({ended}, timeout=timeout)
                if done:
                    return
                state = await self._stream_end(run_id)
                if state is None and is_finished is not None and await is_finished():
                    return
        finally:
            waiters = self._end_waiters.get(run_id)
            if waiters is not None:
                waiters.discard(ended)
                if not waiters:
                    del self._end_waiters[run_id]

    async def _stream_end(self, run_id: str) -> bool | None:
        """Whether the run's stream holds its end marker (its result then kept for
        `result()`); None when the stream is not known (not begun, or expired)."""
        entries = await self._redis.xrevrange(_stream_key(run_id), "+", "-", count=1)
        if not entries:
            return None
        records = _unpack(entries[0][1][b"b"])
        if not records or records[-1][0] != _END:
            return False
        if records[-1][1]:
            self._keep_end_result(run_id, records[-1][1])
        return True

    # -- thread event logs ---------------------------------------------------
    def _append_args(self, thread_id: str, bodies: list[bytes]) -> list:
        """KEYS then ARGV of `_APPEND_THREAD_EVENTS` for appending `bodies`."""
        retention = max(1, int(self.thread_retention_seconds))
        return [_thread_events_key(thread_id), _thread_seq_key(thread_id), self.thread_max_events,
                retention, retention + SEQ_COUNTER_EXTRA_SECONDS, len(bodies), _pack_bodies(bodies)]

    async def thread_seq(self, thread_id: str) -> int:
        value = await self._redis.get(_thread_seq_key(thread_id))
        return int(value) if value is not None else 0

    def _after(self, entries: list, since: int) -> list[ThreadEvent]:
        """The events of consecutive thread log `entries` with `seq > since`, less those the
        log no longer keeps: an entry that MINID left holds events older than the last
        `thread_max_events` of the newest entry."""
        if not entries:
            return []
        newest = _entry_id(entries[-1][0].decode() if isinstance(entries[-1][0], bytes) else entries[-1][0])[0]
        floor = max(since, newest - self.thread_max_events)
        return [event for eid, fields in entries for event in _thread_entry_events(eid, fields, floor)]

    async def read_thread_events(self, thread_id: str, *, since: int = 0) -> list[ThreadEvent]:
        entries = await self._redis.xrange(_thread_events_key(thread_id), min=f"({since}-0", max="+")
        return self._after(entries, since)

    async def follow_thread(self, thread_id: str, *, since: int = 0) -> AsyncIterator[ThreadEvent]:
        follower = await self._reader.follow(_thread_events_key(thread_id), f"{since}-0")
        try:
            while True:
                for event in self._after(await self._reader.read(follower, BLOCK_MS / 1000), since):
                    yield event
        finally:
            self._reader.unfollow(follower)

    # -- signals -----------------------------------------------------------
    async def cancel(self, run_id: str, action: CancelAction) -> None:
        await self._redis.set(_cancel_key(run_id), action, ex=24 * 3600)
        await self._redis.publish(CANCEL_CHANNEL, f"{run_id}:{action}")

    async def wait_cancel(self, run_id: str) -> CancelAction:
        fut = self._cancels.get(run_id)
        if fut is None:
            fut = self._cancels[run_id] = asyncio.get_running_loop().create_future()
        # A cancel sent before this process listened is found in its key.
        stored = None if fut.done() else await self._redis.get(_cancel_key(run_id))
        if stored is not None and not fut.done():  # the listener may have set it meanwhile
            fut.set_result(stored.decode())
        return await asyncio.shield(fut)

    def notify_runs_available(self) -> None:
        self._wake.set()
        if self._redis is not None:
            task = asyncio.get_running_loop().create_task(self._redis.publish(WAKE_CHANNEL, self._origin))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def wait_runs_available(self, timeout: float) -> bool:
        woken = True
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except asyncio.TimeoutError:
            woken = False
        self._wake.clear()
        return woken
