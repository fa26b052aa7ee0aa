"""Human-in-the-loop bookkeeping: which interrupts a resume answers (exactly once), the
decision audit trail, and interrupt deadlines.

A resume names the interrupts it answers: explicitly (`Command(resume={interrupt_id:
value})`) or implicitly (a plain value answers every pending interrupt). Each answered
interrupt becomes a *decision* written in the same transaction as the run; a second
decision closing the same interrupt is refused (`InterruptAnswered`, HTTP 409 naming the
run that won), on SQLite and on PostgreSQL with any number of processes.

Deadlines come from the keys below, looked up in the run's `metadata`, then the run's
`config.configurable`, then the assistant's `config.configurable`:
`interrupt_ttl_seconds` (> 0), `on_expire` (`resume-with-default` | `cancel` |
`escalate`, default `escalate`) and `interrupt_default` (the value a
`resume-with-default` resumes with; else the interrupt value's `"default"` key).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from waypoint.clock import now_iso
from waypoint.service.auth import current_user
from waypoint.service.errors import Invalid

#: LangGraph interrupt ids are xxh3-128 hex digests.
INTERRUPT_ID = re.compile(r"^[0-9a-f]{32}$")
#: The reviewer recorded for what a deadline decides.
DEADLINE_REVIEWER = "waypoint:deadline"
ON_EXPIRE = ("resume-with-default", "cancel", "escalate")
_KEYS = ("interrupt_ttl_seconds", "on_expire", "interrupt_default")


def resume_map(resume: Any) -> dict[str, Any] | None:
    """The `{interrupt_id: value}` mapping of a resume that names interrupts, else None."""
    if isinstance(resume, dict) and resume and all(isinstance(k, str) and INTERRUPT_ID.match(k) for k in resume):
        return resume
    return None


def new_decision(interrupt_id: str, action: str, *, value: Any = None, reviewer: str | None = None,
                 closes: bool = True) -> dict[str, Any]:
    """A decision record (its `decision_id` and `decided_at` set now)."""
    return {
        "decision_id": str(uuid.uuid4()),
        "interrupt_id": interrupt_id,
        "reviewer": reviewer,
        "action": action,
        "value": value,
        "closes": closes,
        "decided_at": now_iso(),
    }


def plan_decisions(
    resume: Any, pending: list[dict], *, reviewer: str | None, action: str = "resume"
) -> list[dict[str, Any]]:
    """The closing decisions of a resume against the thread's `pending` interrupts."""
    named = resume_map(resume)
    answers = named if named is not None else {i["id"]: resume for i in pending}
    return [
        new_decision(interrupt_id, action, value=value, reviewer=reviewer)
        for interrupt_id, value in answers.items()
    ]


def rollback_records(decisions: list[dict], run_id: str) -> list[dict[str, Any]]:
    """What a rollback of run `run_id` records instead of erasing its decisions once they
    took effect: one `rollback` decision per interrupt the run answered (not closing).
    The answer stays in effect: LangGraph keeps a resume's value as a pending write of the
    checkpoint it resumed, which precedes the run and survives the rollback, so the next
    run on the thread continues with it."""
    return [
        new_decision(d["interrupt_id"], "rollback", closes=False)
        for d in decisions if d.get("run_id") == run_id and d["closes"]
    ]


def update_state_records(cleared_ids: list[str], values: Any) -> list[dict[str, Any]]:
    """The decisions an `update_state` makes when it clears pending interrupts: one
    `update_state` decision per cleared interrupt, closing it, its value the update."""
    return [new_decision(interrupt_id, "update_state", value=values) for interrupt_id in cleared_ids]


def reviewer_of(metadata: dict | None) -> str | None:
    """Who decides: with custom auth on, the authenticated identity of the request (a
    client-supplied `metadata.reviewer` never impersonates); without, `metadata.reviewer`."""
    user = current_user.get()
    if user is not None:
        return user.identity
    reviewer = (metadata or {}).get("reviewer")
    return None if reviewer is None else str(reviewer)


def deadline_settings(assistant: dict, run: dict) -> dict[str, Any] | None:
    """`{"ttl", "on_expire", "default"}` for interrupts of `run`, or None without a TTL."""
    sources = [
        run.get("metadata") or {},
        ((run.get("kwargs") or {}).get("config") or {}).get("configurable") or {},
        ((assistant.get("config") or {}).get("configurable")) or {},
    ]
    found: dict[str, Any] = {}
    for key in _KEYS:
        for source in sources:
            if key in source:
                found[key] = source[key]
                break
    if found.get("interrupt_ttl_seconds") is None:
        return None
    return {
        "ttl": float(found["interrupt_ttl_seconds"]),
        "on_expire": found.get("on_expire") or "escalate",
        "default": found.get("interrupt_default"),
        "has_default": "interrupt_default" in found,
    }


def validate_deadline_fields(metadata: dict | None, config: dict | None) -> None:
    """Raise `Invalid` for a malformed `interrupt_ttl_seconds` or `on_expire` in a run's
    metadata or config.configurable."""
    for where, source in (("metadata", metadata or {}), ("config.configurable", (config or {}).get("configurable") or {})):
        ttl = source.get("interrupt_ttl_seconds")
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0):
            raise Invalid(f"{where}.interrupt_ttl_seconds", f"must be a positive number of seconds, got {ttl!r}")
        on_expire = source.get("on_expire")
        if on_expire is not None and on_expire not in ON_EXPIRE:
            raise Invalid(f"{where}.on_expire", f"must be one of {', '.join(ON_EXPIRE)}, got {on_expire!r}")


def default_for(interrupt: dict, settings: dict) -> Any:
    """The value a `resume-with-default` deadline resumes `interrupt` with."""
    if settings["has_default"]:
        return settings["default"]
    value = interrupt.get("value")
    return value.get("default") if isinstance(value, dict) else None
