"""The thread event log of the streaming protocol, kept durable when the in-process broker
serves it (SQLite, one process): events of every run of a thread, numbered by a per-thread
`seq`, replayable after a restart within the retention window (`--stream-retention-seconds`
after the thread's last event, at most `--stream-max-events` per thread).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "thread_events",
        sa.Column("thread_id", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("body", sa.Text, nullable=False),  # the event's JSON object, without seq/event_id
        sa.Column("created_at", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("thread_id", "seq"),
    )
    # The retention sweep looks for logs with old events.
    op.create_index("thread_events_created_at", "thread_events", ["created_at"])
