"""Server rows: assistants, threads, runs (with leases).

Checkpoints and store items live in langgraph's own tables, created by its setup().

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.Text().with_variant(postgresql.JSONB(), "postgresql")  # TEXT affinity on SQLite
EMPTY = sa.text("'{}'")


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    # PostgreSQL orders rows by an identity column; SQLite by its implicit rowid.
    seq = [sa.Column("seq", sa.BigInteger, sa.Identity(), unique=True)] if pg else []
    order = "seq" if pg else "created_at"

    op.create_table(
        "assistants",
        sa.Column("assistant_id", sa.Text, primary_key=True),
        sa.Column("graph_id", sa.Text, nullable=False),
        sa.Column("config", JSON, nullable=False, server_default=EMPTY),
        sa.Column("context", JSON, nullable=False, server_default=EMPTY),
        sa.Column("metadata", JSON, nullable=False, server_default=EMPTY),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.create_index("assistants_graph_id", "assistants", ["graph_id"])

    op.create_table(
        "threads",
        sa.Column("thread_id", sa.Text, primary_key=True),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("state_updated_at", sa.Text, nullable=False),
        sa.Column("metadata", JSON, nullable=False, server_default=EMPTY),
        sa.Column("config", JSON, nullable=False, server_default=EMPTY),
        sa.Column("status", sa.Text, nullable=False, server_default="idle"),
        sa.Column("values", JSON),
        sa.Column("interrupts", JSON, nullable=False, server_default=EMPTY),
        sa.Column("error", JSON),
    )
    op.create_index("threads_status", "threads", ["status"])
    op.create_index("threads_created_at", "threads", ["created_at"])
    if pg:  # containment searches (`@>`)
        for table in ("assistants", "threads"):
            op.create_index(f"{table}_metadata", table, ["metadata"], postgresql_using="gin",
                            postgresql_ops={"metadata": "jsonb_path_ops"})

    op.create_table(
        "runs",
        *seq,
        sa.Column("run_id", sa.Text, primary_key=True),
        sa.Column("thread_id", sa.Text, sa.ForeignKey("threads.thread_id", ondelete="CASCADE"), nullable=False),
        sa.Column("assistant_id", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("available_at", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="pending"),
        sa.Column("metadata", JSON, nullable=False, server_default=EMPTY),
        sa.Column("kwargs", JSON, nullable=False, server_default=EMPTY),
        sa.Column("multitask_strategy", sa.Text, nullable=False, server_default="enqueue"),
        sa.Column("worker_id", sa.Text),
        sa.Column("output", JSON),
        sa.Column("error", JSON),
        sa.Column("started_at", sa.Text),
        sa.Column("lease_expires_at", sa.Text),
    )
    op.create_index("runs_thread", "runs", ["thread_id", order])
    op.create_index("runs_pending", "runs", ["status", "available_at", order])
    op.create_index("runs_running_lease", "runs", ["status", "lease_expires_at"])
