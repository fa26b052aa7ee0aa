"""The tables Waypoint queries, as SQLAlchemy Core objects shared by every database.

The schema itself is created and evolved by the migrations (`storage/migrations/`); these
objects only name tables and columns for queries. JSON columns are `JSONB` on PostgreSQL and
JSON text on SQLite; timestamps are ISO-8601 text in UTC on both. Columns one database has
and the other lacks (PostgreSQL's `seq`, SQLite's `rowid`) stay out of these objects: the
dialect names them (`Dialect.insertion_order`). The checkpointer's and the store's tables
belong to langgraph and are not described here.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from waypoint.storage.base import THREAD_TTL_COLUMNS

metadata = sa.MetaData()

#: A JSON document: `JSONB` on PostgreSQL, text on SQLite; Python None is SQL NULL.
Json = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
#: A JSON answer where `null` is a value of its own (stored as JSON `null`, not SQL NULL).
JsonValue = sa.JSON(none_as_null=False).with_variant(JSONB(none_as_null=False), "postgresql")


def _assistant_fields() -> list[sa.Column]:
    """What an assistant is, and each of its versions keeps (new Column objects per table)."""
    return [
        sa.Column("graph_id", sa.Text, nullable=False),
        sa.Column("config", Json, nullable=False),
        sa.Column("context", Json, nullable=False),
        sa.Column("metadata", Json, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
    ]


assistants = sa.Table(
    "assistants", metadata,
    sa.Column("assistant_id", sa.Text, primary_key=True),
    *_assistant_fields(),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
)

threads = sa.Table(
    "threads", metadata,
    sa.Column("thread_id", sa.Text, primary_key=True),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Column("state_updated_at", sa.Text, nullable=False),
    sa.Column("metadata", Json, nullable=False),
    sa.Column("config", Json, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("values", Json),
    sa.Column("interrupts", Json, nullable=False),
    sa.Column("error", Json),
    # Retention (storage/base.py THREAD_TTL_COLUMNS): kept out of thread records.
    sa.Column("ttl_minutes", sa.Float),
    sa.Column("ttl_strategy", sa.Text),
    sa.Column("ttl_pruned_at", sa.Text),
)
#: The columns of a thread record (the API's `Thread`; TTL columns apart).
thread_columns = tuple(c for c in threads.c if c.name not in THREAD_TTL_COLUMNS)

runs = sa.Table(
    "runs", metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("thread_id", sa.Text, nullable=False),
    sa.Column("assistant_id", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
    sa.Column("available_at", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("metadata", Json, nullable=False),
    sa.Column("kwargs", Json, nullable=False),
    sa.Column("multitask_strategy", sa.Text, nullable=False),
    sa.Column("worker_id", sa.Text),
    sa.Column("output", Json),
    sa.Column("error", Json),
    sa.Column("started_at", sa.Text),
    sa.Column("lease_expires_at", sa.Text),
    sa.Column("attempt", sa.Integer, nullable=False),
)

decisions = sa.Table(
    "decisions", metadata,
    sa.Column("decision_id", sa.Text, primary_key=True),
    sa.Column("thread_id", sa.Text, nullable=False),
    sa.Column("interrupt_id", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text),
    sa.Column("reviewer", sa.Text),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("value", JsonValue),
    sa.Column("closes", sa.Boolean, nullable=False),
    sa.Column("decided_at", sa.Text, nullable=False),
)

interrupt_deadlines = sa.Table(
    "interrupt_deadlines", metadata,
    sa.Column("thread_id", sa.Text, primary_key=True),
    sa.Column("interrupt_id", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("assistant_id", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Text, nullable=False),
    sa.Column("on_expire", sa.Text, nullable=False),
    sa.Column("default_value", JsonValue),
    sa.Column("fired_at", sa.Text),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries", metadata,
    sa.Column("delivery_id", sa.Text, primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.Text, nullable=False),
    sa.Column("claimed_until", sa.Text),
    sa.Column("expires_at", sa.Text, nullable=False),
    sa.Column("last_error", sa.Text),
)

notification_deliveries = sa.Table(
    "notification_deliveries", metadata,
    sa.Column("delivery_id", sa.Text, primary_key=True),
    sa.Column("thread_id", sa.Text, nullable=False),
    sa.Column("interrupt_id", sa.Text),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("target_url", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.Text, nullable=False),
    sa.Column("claimed_until", sa.Text),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("sent_at", sa.Text),
)

crons = sa.Table(
    "crons", metadata,
    sa.Column("cron_id", sa.Text, primary_key=True),
    sa.Column("assistant_id", sa.Text, nullable=False),
    sa.Column("thread_id", sa.Text),
    sa.Column("user_id", sa.Text),
    sa.Column("schedule", sa.Text, nullable=False),
    sa.Column("timezone", sa.Text),
    sa.Column("end_time", sa.Text),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("on_run_completed", sa.Text),
    sa.Column("payload", Json, nullable=False),
    sa.Column("metadata", Json, nullable=False),
    sa.Column("next_run_date", sa.Text),
    sa.Column("created_at", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Text, nullable=False),
)

assistant_versions = sa.Table(
    "assistant_versions", metadata,
    sa.Column("assistant_id", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    *_assistant_fields(),
)

#: The thread streaming protocol's event log, when the in-process broker keeps it durable
#: (streams/memory.py): `body` is the event's JSON object as text, without `seq`/`event_id`.
thread_events = sa.Table(
    "thread_events", metadata,
    sa.Column("thread_id", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.Text, nullable=False),
)

#: langgraph's checkpoint table, as far as Waypoint reads it (both checkpointers name it so).
checkpoints = sa.table("checkpoints", sa.column("thread_id"), sa.column("checkpoint_id"), sa.column("metadata"))
