"""Thread search by status and the inbox sort by time within a status: served by an index
instead of sorting every thread of that status.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("threads_status_created", "threads", ["status", "created_at"])
    op.create_index("threads_status_updated", "threads", ["status", "updated_at"])
