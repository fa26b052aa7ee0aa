"""How many times a worker picked the run up (1 on its first execution); crash recovery
re-queues a run until it reaches the server's --max-run-attempts.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("attempt", sa.Integer, nullable=False, server_default="0"))
