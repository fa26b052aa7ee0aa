"""Versioned schema migrations, one folder of numbered `.sql` files per dialect.

A file `NNNN_name.sql` is applied once, in order, and recorded in `waypoint_migrations`.
"""

from __future__ import annotations

from importlib import resources


def load(dialect: str) -> list[tuple[int, str, str]]:
    """Return `(version, name, sql)` for every migration of `dialect`, ordered by version."""
    folder = resources.files(__package__) / dialect
    out = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            out.append((version, entry.name, entry.read_text()))
    return sorted(out)


def statements(sql: str) -> list[str]:
    """The statements of a migration file: `--` comment lines dropped, split on `;`."""
    code = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [stmt.strip() for stmt in code.split(";") if stmt.strip()]
