"""Who is told about paused threads: `langgraph.json` → `waypoint.notifications`.

```json
{"waypoint": {"notifications": {
    "graphs": {"support_agent": {"urls": ["mailtos://bot:${SMTP_PASSWORD}@smtp.example.com?to=team@example.com"],
                                 "events": ["interrupt", "reminder", "escalation"],
                                 "remind_before_seconds": [600]},
               "*": {"urls": ["env:SLACK_WEBHOOK_URL"]}},
    "assistants": {"<assistant_id or name>": {"urls": ["ntfy://ntfy.example.com/reviews"]}},
    "attempts": 6, "retry_delay_seconds": 5, "timeout_seconds": 30}}}
```

A *channel* is `urls` (Apprise URLs, https://github.com/caronc/apprise/wiki) with the
`events` it is told of (default all three) and, for `reminder`, the seconds before an
interrupt deadline (service/deadlines.py) at which to remind (default `[600]`; a reminder
that would come before the pause itself is dropped). A thread's channel is its assistant's
(by id, then by name), else its graph's, else `"*"`'s. Secrets stay in the environment:
`${VAR}` in a URL is replaced by the variable's value, percent-encoded (a password may hold
`@` or `/`), and a URL `env:VAR` is the variable's whole value. Expanded values are never
logged, stored or shown: deliveries name their target by its place in this file
(`graphs.support_agent.urls[0]`) and by Apprise's privacy-masked URL. A missing variable,
an unknown key or a URL Apprise does not support stops the server at start-up with a
message naming the key (never the value).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote


#: What a channel can be told of: a new pending interrupt, a reminder before its deadline
#: expires, and its escalation (`on_expire: escalate`).
EVENTS = ("interrupt", "reminder", "escalation")
_CHANNEL_KEYS = {"urls", "events", "remind_before_seconds"}
_TOP_KEYS = {"graphs", "assistants", "attempts", "retry_delay_seconds", "timeout_seconds"}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class NotificationConfigError(ValueError):
    """`waypoint.notifications` in langgraph.json is malformed; the message names the key."""


@dataclass
class Target:
    """One Apprise URL of a channel: `key` is its place in langgraph.json, `masked` the URL
    with secrets hidden (what deliveries show), `url` the expanded URL (never shown)."""

    key: str
    url: str
    masked: str


@dataclass
class Channel:
    targets: list[Target]
    events: tuple[str, ...] = EVENTS
    remind_before_seconds: tuple[float, ...] = (600.0,)


@dataclass
class NotificationTargets:
    """The parsed `waypoint.notifications` settings (empty: nothing is sent)."""

    graphs: dict[str, Channel] = field(default_factory=dict)
    assistants: dict[str, Channel] = field(default_factory=dict)
    attempts: int = 6
    retry_delay_seconds: float = 5.0
    timeout_seconds: float = 30.0
    secrets: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.graphs or self.assistants)

    def channel(self, assistant: dict | None, graph_id: str | None) -> Channel | None:
        """The channel for a thread run by `assistant` (a record) on `graph_id`, or None."""
        assistant = assistant or {}
        for key in (assistant.get("assistant_id"), assistant.get("name")):
            if key is not None and str(key) in self.assistants:
                return self.assistants[str(key)]
        return self.graphs.get(graph_id or "") or self.graphs.get("*")

    def target(self, key: str) -> Target | None:
        """The target recorded as `key` (None when the config no longer has it)."""
        for channel in (*self.graphs.values(), *self.assistants.values()):
            for target in channel.targets:
                if target.key == key:
                    return target
        return None

    def redact(self, text: str) -> str:
        """`text` with every expanded secret replaced by `***` (for errors Apprise reports)."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    @classmethod
    def from_config(cls, raw: Any, environ: dict[str, str] | None = None) -> NotificationTargets:
        """Parse langgraph.json's `waypoint` section (None: no notifications). Raises
        `NotificationConfigError` naming the offending key."""
        env = os.environ if environ is None else environ
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise NotificationConfigError("langgraph.json 'waypoint' must be an object")
        section = raw.get("notifications")
        if section is None:
            return cls()
        if not isinstance(section, dict):
            raise NotificationConfigError("langgraph.json waypoint.notifications must be an object")
        if unknown := set(section) - _TOP_KEYS:
            raise NotificationConfigError(f"waypoint.notifications.{sorted(unknown)[0]} is not a known setting")
        out = cls(secrets=())
        secrets: list[str] = []
        for group in ("graphs", "assistants"):
            entries = section.get(group) or {}
            if not isinstance(entries, dict):
                raise NotificationConfigError(f"waypoint.notifications.{group} must be an object")
            for name, spec in entries.items():
                getattr(out, group)[name] = _channel(f"waypoint.notifications.{group}.{name}", spec, env, secrets)
        for key, kind, low in (("attempts", int, 1), ("retry_delay_seconds", float, 0), ("timeout_seconds", float, 0)):
            if key in section:
                value = section[key]
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (
                        kind is int and int(value) != value) or (key == "timeout_seconds" and value == 0):
                    raise NotificationConfigError(f"waypoint.notifications.{key} must be a number >= {low}")
                setattr(out, key, kind(value))
        out.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        return out


def _channel(where: str, spec: Any, env: dict[str, str], secrets: list[str]) -> Channel:
    if not isinstance(spec, dict):
        raise NotificationConfigError(f"{where} must be an object with 'urls'")
    if unknown := set(spec) - _CHANNEL_KEYS:
        raise NotificationConfigError(f"{where}.{sorted(unknown)[0]} is not a known setting")
    urls = spec.get("urls")
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise NotificationConfigError(f"{where}.urls must be a non-empty list of Apprise URLs")
    events = spec.get("events", list(EVENTS))
    if not isinstance(events, list) or any(e not in EVENTS for e in events):
        raise NotificationConfigError(f"{where}.events must be a list of {', '.join(EVENTS)}")
    before = spec.get("remind_before_seconds", [600])
    if not isinstance(before, list) or any(isinstance(b, bool) or not isinstance(b, (int, float)) or b <= 0 for b in before):
        raise NotificationConfigError(f"{where}.remind_before_seconds must be a list of positive numbers")
    import apprise  # imported only when notifications are configured (it is slow to load)

    targets = []
    for i, template in enumerate(urls):
        key = f"{where}.urls[{i}]"
        url = _expand(key, template, env, secrets)
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            raise NotificationConfigError(f"{key} is not a URL Apprise supports (see its wiki for the schemes)")
        masked = plugin.url(privacy=True)
        for secret in secrets:  # where a plugin does not mask a secret (a query parameter), we do
            masked = masked.replace(secret, "***") if secret else masked
        targets.append(Target(key, url, masked))
    return Channel(targets, tuple(events), tuple(float(b) for b in before))


def _expand(key: str, template: str, env: dict[str, str], secrets: list[str]) -> str:
    """`template` with `${VAR}` (percent-encoded) or a whole `env:VAR` from `env`."""
    def value(var: str) -> str:
        if var not in env:
            raise NotificationConfigError(f"{key}: environment variable {var} is not set")
        secrets.append(env[var])
        return env[var]

    def encoded(match: re.Match) -> str:
        text = quote(value(match.group(1)), safe="")
        secrets.append(text)  # its encoded form may appear in errors too
        return text

    if template.startswith("env:"):
        return value(template[4:].strip())
    return _VAR.sub(encoded, template)
