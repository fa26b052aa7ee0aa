"""The decision audit trail and interrupt deadlines.

A decision that closes its interrupt (a resume, a deadline's resume or cancel) is unique per
interrupt; a deadline's `fired_at` is set exactly once, by the sweep that acts.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.Text().with_variant(postgresql.JSONB(), "postgresql")  # TEXT affinity on SQLite


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    seq = [sa.Column("seq", sa.BigInteger, sa.Identity(), unique=True)] if pg else []
    op.create_table(
        "decisions",
        *seq,
        sa.Column("decision_id", sa.Text, primary_key=True),
        sa.Column("thread_id", sa.Text, sa.ForeignKey("threads.thread_id", ondelete="CASCADE"), nullable=False),
        sa.Column("interrupt_id", sa.Text, nullable=False),
        sa.Column("run_id", sa.Text),
        sa.Column("reviewer", sa.Text),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("value", JSON),
        sa.Column("closes", sa.Integer().with_variant(sa.Boolean(), "postgresql"), nullable=False),
        sa.Column("decided_at", sa.Text, nullable=False),
    )
    op.create_index("decisions_closing", "decisions", ["thread_id", "interrupt_id"], unique=True,
                    sqlite_where=sa.text("closes = 1"), postgresql_where=sa.text("closes"))
    op.create_index("decisions_thread", "decisions", ["thread_id", "seq" if pg else "decided_at"])

    op.create_table(
        "interrupt_deadlines",
        sa.Column("thread_id", sa.Text, sa.ForeignKey("threads.thread_id", ondelete="CASCADE"), nullable=False),
        sa.Column("interrupt_id", sa.Text, nullable=False),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("assistant_id", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Text, nullable=False),
        sa.Column("on_expire", sa.Text, nullable=False),
        sa.Column("default_value", JSON),
        sa.Column("fired_at", sa.Text),
        sa.PrimaryKeyConstraint("thread_id", "interrupt_id"),
    )
    if pg:
        op.create_index("interrupt_deadlines_due", "interrupt_deadlines", ["expires_at"],
                        postgresql_where=sa.text("fired_at IS NULL"))
    else:
        op.create_index("interrupt_deadlines_due", "interrupt_deadlines", ["fired_at", "expires_at"])
