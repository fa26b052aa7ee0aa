"""Waypoint: a self-hosted LangGraph server built around human-in-the-loop."""

from importlib.metadata import PackageNotFoundError, version

#: The distribution's name on the package index (the import package is `waypoint`).
DISTRIBUTION = "waypoint-server"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
