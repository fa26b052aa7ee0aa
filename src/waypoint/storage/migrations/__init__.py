"""Schema migrations: one Alembic history for every database (`versions/`).

`upgrade(connection)` brings a database to the newest revision inside the caller's
transaction; `SqlStorage.open` calls it under the dialect's migration lock. A revision
branches on `op.get_bind().dialect.name` only where the databases differ (JSONB and
identity columns, GIN and partial indexes on PostgreSQL).

Databases made before Alembic (Waypoint up to main 744046b) recorded their versioned `.sql` files in
`waypoint_migrations`; `adopt_legacy` stamps them with the matching revision, so they
upgrade from there. Add a revision: a new `versions/NNNN_name.py` (or
`alembic -c src/waypoint/storage/migrations/alembic.ini revision -m "what"`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

#: Alembic's version table (a name of our own: the database also holds langgraph's tables).
VERSION_TABLE = "waypoint_alembic_version"
#: The newest revision in `versions/` (tests/test_migrations.py checks it): a database at it
#: opens without importing Alembic.
HEAD = "0010"

#: Newest `waypoint_migrations` version of a pre-Alembic database → the revision it equals.
LEGACY_REVISIONS = {
    "sqlite": {2: "0001", 3: "0002", 4: "0003", 5: "0004", 6: "0005", 7: "0006", 8: "0007", 9: "0008",
               10: "0009"},
    "postgresql": {1: "0001", 2: "0002", 3: "0003", 4: "0004", 5: "0005", 6: "0006", 7: "0007", 8: "0008",
                   9: "0009"},
}


def config(connection: sa.Connection) -> Config:
    """Alembic configuration that runs on `connection` (no alembic.ini needed)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    cfg.attributes["connection"] = connection
    return cfg


def adopt_legacy(connection: sa.Connection, cfg: Config) -> None:
    """Stamp a database made by the pre-Alembic runner with the revision it is at."""
    inspector = sa.inspect(connection)
    if inspector.has_table(VERSION_TABLE) or not inspector.has_table("waypoint_migrations"):
        return
    dialect = connection.dialect.name
    done = connection.execute(sa.text("SELECT max(version) FROM waypoint_migrations")).scalar()
    if done is None:
        return
    if dialect == "sqlite" and done == 1:  # before run leases (sqlite/0002_run_leases.sql)
        connection.exec_driver_sql("ALTER TABLE runs ADD COLUMN started_at TEXT")
        connection.exec_driver_sql("ALTER TABLE runs ADD COLUMN lease_expires_at TEXT")
        connection.exec_driver_sql("CREATE INDEX runs_running_lease ON runs (status, lease_expires_at)")
        done = 2
    revision = LEGACY_REVISIONS[dialect].get(done)
    if revision is None:
        raise RuntimeError(f"Database schema version {done} ({dialect}) is newer than this Waypoint knows")
    from alembic import command

    command.stamp(cfg, revision)


def upgrade(connection: sa.Connection) -> None:
    """Apply every pending revision on `connection`, in the caller's transaction. A database
    already at `HEAD` costs two queries (Alembic is not even imported)."""
    if sa.inspect(connection).has_table(VERSION_TABLE):
        current = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
        if current == HEAD:
            return
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # one line per plugin at import
    from alembic import command

    cfg = config(connection)
    adopt_legacy(connection, cfg)
    command.upgrade(cfg, "head")
