"""Redis broker: run streams, cancel signals and wake-ups shared by every process.

- A run's stream is a Redis Stream `waypoint:run:{run_id}` (XADD / XREAD BLOCK); its SSE
  event ids are the Redis entry ids, so `Last-Event-ID` resumes in any process. `end()`
  appends an end marker, stores the run's result and lets both expire after `retain_seconds`.
- A cancel is a key `waypoint:cancel:{run_id}` (so one sent before the worker listens is
  not lost) plus a message on the `waypoint:cancel` channel.
- Wake-ups are messages on the `waypoint:wake` channel.
- A thread's event log is a Redis Stream `waypoint:thread:{thread_id}:events` whose entry
  ids are `{seq}-0`, so replay after a `seq` is an XREAD from `{seq}-0` in any process; the
  counter `waypoint:thread:{thread_id}:seq` and the append are one Lua script (atomic, so
  appenders in several processes never interleave or reuse a seq). The log is trimmed to
  `thread_max_events` and expires `thread_retention_seconds` after its last append; the
  counter outlives it (30 days more), so a seq is never handed out twice.
One pub/sub connection per process listens to both channels and wakes local waiters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import redis.asyncio as aioredis

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
#: Seconds of idleness after which a pooled connection is health-checked before use.
HEALTH_CHECK_SECONDS = 2
#: Milliseconds a subscriber blocks on XREAD before re-checking `is_finished`.
BLOCK_MS = 500


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
#: then one body per event. Returns the last seq. A missing counter starts from the Redis
#: clock in microseconds (see `streams/base.py`).
_APPEND_THREAD_EVENTS = """
local n = #ARGV - 3
if redis.call('EXISTS', KEYS[2]) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[2], string.format('%d', tonumber(t[1]) * 1000000 + tonumber(t[2]) - 1))
end
local last = redis.call('INCRBY', KEYS[2], n)
for i = 1, n do
  redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], string.format('%d-0', last - n + i), 'b', ARGV[i + 3])
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return last
"""
#: Seconds the seq counter outlives a thread's last event.
SEQ_COUNTER_EXTRA_SECONDS = 30 * 24 * 3600


class RedisBroker(Broker):
    """Broker on the Redis server at `uri` (`redis://host:port/db`)."""

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

    async def open(self) -> None:
        pool = aioredis.BlockingConnectionPool.from_url(self.uri, max_connections=self.max_connections, timeout=None,
            # PING a connection idle this many seconds before using it: connections broken
            # while Redis was down are replaced instead of failing the first calls after.
            health_check_interval=HEALTH_CHECK_SECONDS,
        )
        self._redis = aioredis.Redis(connection_pool=pool)
        await self._redis.ping()
        self._append_script = self._redis.register_script(_APPEND_THREAD_EVENTS)
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(CANCEL_CHANNEL, WAKE_CHANNEL)
        self._listener = asyncio.create_task(self._listen(pubsub), name="waypoint-redis-listener")

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
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
                    self._wake.set()
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
        await self._redis.xadd(_stream_key(run_id), {"event": event, "data": data})

    async def end(self, run_id: str, result: bytes | None = None) -> None:
        key = _stream_key(run_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(key, {"event": _END, "data": b""})
            pipe.expire(key, self.retain_seconds)
            if result is not None:
                pipe.set(_result_key(run_id), result, ex=self.retain_seconds)
            pipe.delete(_cancel_key(run_id))
            await pipe.execute()
        self._cancels.pop(run_id, None)

    async def result(self, run_id: str) -> bytes | None:
        return await self._redis.get(_result_key(run_id))

    async def subscribe(
        self,
        run_id: str,
        *,
        last_event_id: str | None = None,
        is_finished: Callable[[], Awaitable[bool]] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        key = _stream_key(run_id)
        cursor = last_event_id or "0-0"
        while True:
            batches = await self._redis.xread({key: cursor}, block=BLOCK_MS, count=512)
            entries = batches[0][1] if batches else []
            for entry_id, fields in entries:
                cursor = entry_id.decode()
                event = fields[b"event"].decode()
                if event == _END:
                    return
                yield StreamEvent(cursor, event, fields[b"data"])
            if not entries and is_finished is not None and not await self._redis.exists(key):
                if await is_finished():
                    return

    # -- thread event logs ---------------------------------------------------
    async def append_thread_events(self, thread_id: str, bodies: list[bytes]) -> int:
        if not bodies:
            return await self.thread_seq(thread_id)
        retention = max(1, int(self.thread_retention_seconds))
        return int(await self._append_script(
            keys=[_thread_events_key(thread_id), _thread_seq_key(thread_id)],
            args=[self.thread_max_events, retention, retention + SEQ_COUNTER_EXTRA_SECONDS, *bodies],
        ))

    async def thread_seq(self, thread_id: str) -> int:
        value = await self._redis.get(_thread_seq_key(thread_id))
        return int(value) if value is not None else 0

    async def read_thread_events(self, thread_id: str, *, since: int = 0) -> list[ThreadEvent]:
        entries = await self._redis.xrange(_thread_events_key(thread_id), min=f"({since}-0", max="+")
        return [ThreadEvent(int(eid.decode().partition("-")[0]), fields[b"b"]) for eid, fields in entries]

    async def follow_thread(self, thread_id: str, *, since: int = 0) -> AsyncIterator[ThreadEvent]:
        key = _thread_events_key(thread_id)
        cursor = f"{since}-0"
        while True:
            batches = await self._redis.xread({key: cursor}, block=BLOCK_MS, count=512)
            for entry_id, fields in (batches[0][1] if batches else []):
                cursor = entry_id.decode()
                yield ThreadEvent(int(cursor.partition("-")[0]), fields[b"b"])

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
            task = asyncio.get_running_loop().create_task(self._redis.publish(WAKE_CHANNEL, b"1"))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def wait_runs_available(self, timeout: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        self._wake.clear()
