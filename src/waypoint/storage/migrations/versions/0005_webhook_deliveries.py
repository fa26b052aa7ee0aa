"""Webhook deliveries not yet made: kept until delivered, refused or expired, so any process
retries them after a restart. `claimed_until` keeps one process on a delivery at a time.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.Text, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("run_id", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.Text, nullable=False),
        sa.Column("claimed_until", sa.Text),
        sa.Column("expires_at", sa.Text, nullable=False),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("webhook_deliveries_due", "webhook_deliveries", ["next_attempt_at"])
