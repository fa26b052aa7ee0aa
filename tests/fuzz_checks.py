"""Schemathesis hooks for the fuzz run (`SCHEMATHESIS_HOOKS=fuzz_checks`): every error
answer is JSON with a `detail` message (issue 9: "a clear 4xx with a JSON message")."""

from __future__ import annotations

import json

import schemathesis


@schemathesis.check
def json_error_bodies(ctx, response, case):
    """A 4xx/5xx answer is `application/json` and carries a `detail`."""
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    if not content_type.startswith("application/json"):
        raise AssertionError(f"{response.status_code} answered as {content_type or 'no content type'}, not JSON")
    body = json.loads(response.content)
    if not (isinstance(body, dict) and body.get("detail")):
        raise AssertionError(f"{response.status_code} JSON body has no `detail`: {body!r:.200}")
    return None
