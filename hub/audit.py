"""The audit trail: every operator action, appended to ``lapor.audit`` (``lapor-hub audit``).

Dead-letter replays, rules reloads, key rotations and every reveal of a reporter's identity
are recorded with who (``LAPOR_HUB_OPERATOR``, else the login name), where (the host), when,
what (ids and counts, never a reporter's identity) and the outcome. The topic keeps its
records forever and is only appended to.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hub.kafka import ensure_topics, make_admin, make_producer, read_to_end
from hub.topic_specs import AUDIT_TOPIC
from hub.topics import AUDIT


@dataclass(frozen=True)
class Entry:
    at: datetime
    who: str
    host: str
    action: str
    what: dict[str, Any]
    outcome: str

    def to_json(self) -> bytes:
        return json.dumps(
            {**self.__dict__, "at": self.at.isoformat()}, ensure_ascii=False, default=str
        ).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Entry:
        fields = json.loads(data)
        return cls(**{**fields, "at": datetime.fromisoformat(fields["at"])})


def operator() -> str:
    try:
        login = getpass.getuser()
    except (KeyError, OSError):  # no such user in a container
        login = f"uid {os.getuid()}"
    return os.environ.get("LAPOR_HUB_OPERATOR") or login


def record(bootstrap: str, action: str, what: dict[str, Any], outcome: str = "ok") -> Entry:
    """Append one action; returns once Kafka has it (acks=all)."""
    ensure_topics(make_admin(bootstrap), [AUDIT_TOPIC])
    entry = Entry(datetime.now(UTC), operator(), socket.gethostname(), action, what, outcome)
    producer = make_producer(bootstrap)
    producer.produce(AUDIT, key=action.encode(), value=entry.to_json())
    if producer.flush(30):
        raise RuntimeError("the audit record was not acknowledged by Kafka in 30 s")
    return entry


def entries(
    bootstrap: str,
    action: str | None = None,
    who: str | None = None,
    since: datetime | None = None,
) -> list[Entry]:
    found = []
    for message in read_to_end(bootstrap, AUDIT):
        entry = Entry.from_json(message.value())
        if action and not entry.action.startswith(action):
            continue
        if who and entry.who != who:
            continue
        if since and entry.at < since:
            continue
        found.append(entry)
    return found
