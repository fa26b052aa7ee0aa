"""Thread retention: a thread's TTL (minutes after its last update, `updated_at`) and what
its expiry does (`delete` or `keep_latest`); `ttl_pruned_at` is when `keep_latest` last
pruned it, so an unchanged thread is not pruned again.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("threads", sa.Column("ttl_minutes", sa.Float().with_variant(sa.REAL(), "sqlite")))
    op.add_column("threads", sa.Column("ttl_strategy", sa.Text))
    op.add_column("threads", sa.Column("ttl_pruned_at", sa.Text))
    op.create_index("threads_ttl", "threads", ["updated_at"], sqlite_where=sa.text("ttl_minutes IS NOT NULL"),
                    postgresql_where=sa.text("ttl_minutes IS NOT NULL"))
