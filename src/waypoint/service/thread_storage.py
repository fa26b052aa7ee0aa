"""What a thread occupies in the checkpointer (`GET /threads/{thread_id}/storage`).

The official API's `ThreadStorage`: checkpoints (count, bytes of checkpoint plus metadata),
channel values (one per channel version, with bytes per channel) and pending writes (task
writes not yet folded into a checkpoint), and their sum. Bytes are measured as the
checkpointer's serializer (`serde.dumps_typed`) writes each part, read through the
checkpointer's own `alist`, so one measure holds on every database: langgraph's PostgreSQL
saver keeps each channel version in a row of its own, its SQLite saver keeps the values
inside each checkpoint row; both count a channel version once here, however many
checkpoints refer to it.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver


def _size(serde: Any, value: Any) -> int:
    """Bytes of `value` as the checkpointer serializes it."""
    return len(serde.dumps_typed(value)[1])


async def thread_storage(checkpointer: BaseCheckpointSaver, thread_id: str) -> dict[str, Any]:
    """`ThreadStorage` of `thread_id`: `{"thread_id", "total_bytes", "checkpoints": {"count",
    "bytes"}, "channel_values": {"count", "bytes", "by_channel": {channel: {"versions",
    "bytes"}}}, "pending_writes": {"count", "bytes"}}`, over every checkpoint namespace of
    the thread (subgraphs included). A thread without checkpoints gives zeros."""
    serde = checkpointer.serde
    checkpoints = {"count": 0, "bytes": 0}
    writes = {"count": 0, "bytes": 0}
    by_channel: dict[str, dict[str, int]] = {}
    seen: set[tuple[str, str, Any]] = set()  # (namespace, channel, version)
    async for item in checkpointer.alist({"configurable": {"thread_id": thread_id}}):
        checkpoint = dict(item.checkpoint)
        values = checkpoint.pop("channel_values", None) or {}
        checkpoints["count"] += 1
        checkpoints["bytes"] += _size(serde, checkpoint) + _size(serde, item.metadata)
        namespace = item.config["configurable"].get("checkpoint_ns", "")
        versions = checkpoint.get("channel_versions") or {}
        for channel, value in values.items():
            key = (namespace, channel, versions.get(channel))
            if key in seen:
                continue
            seen.add(key)
            entry = by_channel.setdefault(channel, {"versions": 0, "bytes": 0})
            entry["versions"] += 1
            entry["bytes"] += _size(serde, value)
        for _task_id, _channel, value in item.pending_writes or ():
            writes["count"] += 1
            writes["bytes"] += _size(serde, value)
    channel_values = {
        "count": sum(e["versions"] for e in by_channel.values()),
        "bytes": sum(e["bytes"] for e in by_channel.values()),
        "by_channel": by_channel,
    }
    return {
        "thread_id": thread_id,
        "total_bytes": checkpoints["bytes"] + channel_values["bytes"] + writes["bytes"],
        "checkpoints": checkpoints,
        "channel_values": channel_values,
        "pending_writes": writes,
    }
