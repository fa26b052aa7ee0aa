"""Alembic environment: migrations run on the connection `waypoint.storage.migrations` passes."""

from alembic import context

from waypoint.storage.migrations import VERSION_TABLE

connection = context.config.attributes.get("connection")
if connection is None:  # the `alembic` command line: connect to WAYPOINT_DATABASE_URL
    import os

    import sqlalchemy as sa

    engine = sa.create_engine(os.environ["WAYPOINT_DATABASE_URL"])
    with engine.begin() as connection:
        context.configure(connection=connection, version_table=VERSION_TABLE)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()
