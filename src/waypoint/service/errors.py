"""Errors the service layer raises; the API maps each to one HTTP status."""

from __future__ import annotations

from waypoint.storage.base import NotFound


class ServiceError(Exception):
    """Base of service errors; `str(err)` is the message shown to the client."""


class Conflict(ServiceError):
    """The request clashes with the current state (HTTP 409)."""


class BadRequest(ServiceError):
    """The request is well-formed but cannot apply to this resource (HTTP 400)."""


class Invalid(ServiceError):
    """A field holds a value the server cannot accept (HTTP 422); `field` names it."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


__all__ = ["BadRequest", "Conflict", "Invalid", "NotFound", "ServiceError"]
