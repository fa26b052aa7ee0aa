"""Notifications to reviewers (service/notifications.py): one row per event and target, kept
after sending as the delivery record. The id is derived from (event, thread, interrupt,
target), so recording one twice is a no-op; `claimed_until` keeps one process on a row.
status: pending (due at next_attempt_at) | sent | failed (gave up) | skipped (answered first).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notification_deliveries",
        sa.Column("delivery_id", sa.Text, primary_key=True),
        sa.Column("thread_id", sa.Text, sa.ForeignKey("threads.thread_id", ondelete="CASCADE"), nullable=False),
        sa.Column("interrupt_id", sa.Text),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("target_url", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Text, nullable=False),
        sa.Column("claimed_until", sa.Text),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("sent_at", sa.Text),
    )
    op.create_index("notification_deliveries_due", "notification_deliveries", ["status", "next_attempt_at"])
    op.create_index("notification_deliveries_thread", "notification_deliveries", ["thread_id", "created_at"])
