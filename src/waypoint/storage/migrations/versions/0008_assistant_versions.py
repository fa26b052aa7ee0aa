"""Every version of every assistant (create and each update make one); the assistants row
holds the current one (`POST /assistants/{id}/latest` pins any recorded version). Existing
assistants get their current version recorded.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.Text().with_variant(postgresql.JSONB(), "postgresql")  # TEXT affinity on SQLite
EMPTY = sa.text("'{}'")
COLUMNS = "assistant_id, version, graph_id, config, context, metadata, name, description"


def upgrade() -> None:
    op.create_table(
        "assistant_versions",
        sa.Column("assistant_id", sa.Text, sa.ForeignKey("assistants.assistant_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("graph_id", sa.Text, nullable=False),
        sa.Column("config", JSON, nullable=False, server_default=EMPTY),
        sa.Column("context", JSON, nullable=False, server_default=EMPTY),
        sa.Column("metadata", JSON, nullable=False, server_default=EMPTY),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("assistant_id", "version"),
    )
    op.execute(f"INSERT INTO assistant_versions ({COLUMNS}, created_at) SELECT {COLUMNS}, updated_at FROM assistants")
