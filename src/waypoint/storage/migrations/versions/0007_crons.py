"""Crons: a run payload fired on a schedule (croniter syntax, in `timezone`). `next_run_date`
is the next tick (NULL once past `end_time`); firing a tick compare-and-sets it in the
transaction that queues the tick's run, so each tick fires once across all processes.
A thread cron (thread_id set) goes with its thread, any cron with its assistant.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.Text().with_variant(postgresql.JSONB(), "postgresql")  # TEXT affinity on SQLite
EMPTY = sa.text("'{}'")


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "crons",
        sa.Column("cron_id", sa.Text, primary_key=True),
        sa.Column("assistant_id", sa.Text, sa.ForeignKey("assistants.assistant_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("thread_id", sa.Text, sa.ForeignKey("threads.thread_id", ondelete="CASCADE")),
        sa.Column("user_id", sa.Text),
        sa.Column("schedule", sa.Text, nullable=False),
        sa.Column("timezone", sa.Text),
        sa.Column("end_time", sa.Text),
        sa.Column("enabled", sa.Integer().with_variant(sa.Boolean(), "postgresql"), nullable=False,
                  server_default=sa.true() if pg else "1"),
        sa.Column("on_run_completed", sa.Text),
        sa.Column("payload", JSON, nullable=False, server_default=EMPTY),
        sa.Column("metadata", JSON, nullable=False, server_default=EMPTY),
        sa.Column("next_run_date", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.create_index("crons_due", "crons", ["next_run_date"], sqlite_where=sa.text("enabled"),
                    postgresql_where=sa.text("enabled"))
    op.create_index("crons_thread", "crons", ["thread_id"])
    op.create_index("crons_assistant", "crons", ["assistant_id"])
