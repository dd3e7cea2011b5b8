"""The national administrator designates a report's handler (``lapor-hub reports assign``).

A designation reaches the tracker the way the hub's other own actions do (a delivery's
RECEIVED, an escalation's ESCALATED): as a StatusUpdate on a status topic the tracker reads.
It is the status of the directory's fallback agency (the national administrator), on the
status topic of the connector that serves it, FORWARDED (disposisi) with source status
``assigned``, the operator as actor, the reason as message, and ``designated_agency`` set
(StatusUpdate v2). The tracker takes a designation from no other agency; it routes the
report to the designated agency as its handler (reason "assigned by <operator>:
<reason>"), relieves the handlers before it and tells the origin app (hub.tracker.lifecycle).

Before anything is sent the request is checked against the directory (an agency of it, not
the fallback itself, reached through a connector the hub configures) and against the
tracker's state of the report (tracked, not closed, not handled by that agency already),
and it is recorded in the audit trail: no designation goes out unrecorded. The command then
waits for the tracker to apply it.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition

from hub import audit, topics
from hub.errors import HubError
from hub.kafka import make_consumer, make_producer, read_to_end, watermarks
from hub.routing import Directory, load_directory
from hub.sdk.reports import new_status
from hub.serialization import TopicSerializer
from hub.tracker.lifecycle import DONE, FINISHED, HANDLER, ms

ACTION = "report.assign"


class AssignRefused(HubError):
    """A designation the hub will not send: the agency, the report or the hub says no."""


@dataclass
class Assignment:
    """A designation sent: what, through which topic, its audit record, and what the
    tracker made of it (None: not applied within the wait)."""

    hub_id: str
    agency: str
    reason: str
    operator: str
    topic: str
    update: dict[str, Any]
    previous: list[str] = field(default_factory=list)  # the handlers it relieves
    audit_seq: int | None = None
    applied: dict[str, Any] | None = None  # the tracker's note of it (its outcome)
    decision: str | None = None  # the decision the tracker made, as `reports show` says it


def tracked_state(
    bootstrap: str, hub_id: str, group_prefix: str, starts: dict[int, int] | None = None
) -> dict[str, Any] | None:
    """The tracker's last state of the report, from its table's changelog (read whole, as
    `reports show` does: the record may sit on any partition), or None."""
    import json

    key, found = hub_id.encode(), None
    for msg in read_to_end(bootstrap, topics.tracker_changelog(group_prefix), starts=starts):
        if msg.key() == key:
            found = json.loads(msg.value()) if msg.value() else None
    return found


def directory_of(rules: Path) -> Directory:
    return load_directory(rules / "directory")


def check_assignment(
    directory: Directory,
    state: dict[str, Any] | None,
    hub_id: str,
    agency: str,
    connectors: Collection[str] | None = None,
    group_prefix: str = "lapor",
) -> list[str]:
    """Refuse (AssignRefused) what the tracker could not or should not carry out; return the
    handlers the designation relieves. ``connectors``: the hub's configured connector
    instances, when known (then the agency and the fallback must be reached through one)."""
    if agency not in directory:
        named = directory.named(agency)
        close = difflib.get_close_matches(agency, list(directory.agencies), n=3, cutoff=0.75)
        hint = (
            f"{agency!r} names {named.id} ({named.name}): give its id"
            if named is not None
            else f"did you mean {', '.join(close)}?"
            if close
            else "agency ids are in the rules' directory/ (national.yaml, regions.yaml)"
        )
        raise AssignRefused(
            f"no agency {agency!r} in the directory ({len(directory.agencies)} agencies): the "
            "report was not assigned",
            fix=hint,
        )
    fallback = directory.fallback
    if agency == fallback:
        raise AssignRefused(
            f"{agency} is the national administrator (the directory's fallback): it designates "
            "the handler, it is not designated",
            fix="name the agency that must handle the report.",
        )
    if connectors is not None:
        for needed, what in ((agency, f"{agency} is reached"), (fallback, "designations go")):
            connector = directory.connector_of(needed)
            if connector not in connectors:
                raise AssignRefused(
                    f"{what} through connector {connector!r}, which this hub does not configure",
                    fix=f"add connector {connector} to the hub's configuration, or check --config.",
                )
    if state is None:
        raise AssignRefused(
            f"no report {hub_id} is tracked on this cluster: the tracker (group prefix "
            f"{group_prefix!r}) has no state for it",
            fix="check the id (`lapor-hub reports show ID`) and --config (the hub's group prefix).",
        )
    if state["state"] == DONE:
        raise AssignRefused(
            f"report {hub_id} is closed: every agency handling it finished it",
            fix="`lapor-hub reports show ID` shows who closed it and when.",
        )
    current = state["agencies"].get(agency)
    if current and current["role"] == HANDLER and current["status"] not in FINISHED:
        raise AssignRefused(
            f"{agency} handles report {hub_id} already (status {current['status'] or 'none yet'})",
            fix="`lapor-hub reports show ID` shows its handlers.",
        )
    return [
        name
        for name, entry in state["agencies"].items()
        if name != agency and entry["role"] == HANDLER and entry["status"] not in FINISHED
    ]


def designation(
    hub_id: str, fallback: str, agency: str, reason: str, operator: str, now: datetime
) -> dict[str, Any]:
    """The StatusUpdate that carries a designation (its fields checked as any status's)."""
    update = new_status(
        hub_id=hub_id,
        agency=fallback,
        status="FORWARDED",
        source_status="assigned",
        message=reason,
        actor=operator,
        occurred_at=now,
    )
    update["designated_agency"] = agency
    return update


def assign(
    bootstrap: str,
    hub_id: str,
    agency: str,
    reason: str,
    serializer: TopicSerializer,
    *,
    operator: str | None = None,
    rules: Path,
    group_prefix: str = "lapor",
    connectors: Collection[str] | None = None,
    wait: float = 30.0,
) -> Assignment:
    """Check, record in the audit trail, send; then wait up to ``wait`` seconds for the
    tracker to apply it."""
    reason = reason.strip()
    if not reason:
        raise AssignRefused(
            "a designation needs its reason", fix="say why with --reason (it is recorded)."
        )
    operator = (operator or "").strip() or audit.operator()
    directory = directory_of(rules)
    changelog = topics.tracker_changelog(group_prefix)
    state = tracked_state(bootstrap, hub_id, group_prefix)
    previous = check_assignment(directory, state, hub_id, agency, connectors, group_prefix)
    topic = topics.status(directory.connector_of(directory.fallback))
    update = designation(hub_id, directory.fallback, agency, reason, operator, datetime.now(UTC))
    value = serializer.serialize(topic, update)  # refused before anything is recorded
    done = Assignment(hub_id, agency, reason, operator, topic, update, previous)
    what = {
        "hub_id": hub_id,
        "agency": agency,
        "reason": reason,
        "operator": operator,
        "previous": previous,
        "update_id": update["update_id"],
        "topic": topic,
    }
    done.audit_seq = audit.record(bootstrap, ACTION, what).seq  # fails closed
    ends = _ends(bootstrap, changelog)
    try:
        _send(bootstrap, topic, hub_id.encode(), value)
    except HubError as exc:
        audit.record(bootstrap, ACTION, what, f"failed: {exc.message}")
        raise
    done.applied, done.decision = _applied(bootstrap, done, group_prefix, ends, wait)
    return done


def _send(bootstrap: str, topic: str, key: bytes, value: bytes) -> None:
    errors: list[str] = []

    def delivered(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    producer = make_producer(bootstrap, acks="all")
    producer.produce(topic, key=key, value=value, on_delivery=delivered)
    left = producer.flush(30)
    if left or errors:
        raise HubError(
            f"the designation was not acknowledged by Kafka on {topic}: "
            f"{errors[0] if errors else 'no answer in 30 s'}",
            fix="check the broker and this principal's right to write the topic; run the "
            "command again (the audit trail records both attempts).",
        )


def _ends(bootstrap: str, topic: str) -> dict[int, int]:
    """Each partition's end, to read only what the tracker writes from now."""
    consumer = make_consumer(bootstrap, f"{topics.READER_GROUP}-assign-{time.time_ns()}")
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None:
            return {}
        return {
            number: watermarks(consumer, TopicPartition(topic, number), 10)[1]
            for number in metadata.partitions
        }
    finally:
        consumer.close()


def _applied(
    bootstrap: str,
    done: Assignment,
    group_prefix: str,
    ends: dict[int, int],
    wait: float,
) -> tuple[dict[str, Any] | None, str | None]:
    """The tracker's note of this designation and its decision, once its changelog has
    them; (None, None) if it has not within ``wait`` seconds."""
    at = ms(done.update["occurred_at"])
    deadline = time.monotonic() + wait
    while wait > 0:
        state = tracked_state(bootstrap, done.hub_id, group_prefix, starts=ends)
        for note in (state or {}).get("assignments", []):
            # times are compared to the millisecond Avro keeps them in, give or take one
            if abs(note["at"] - at) <= 1 and note["agency"] == done.agency:
                decisions = [d for d in state["decisions"] if abs(d["at"] - at) <= 1]
                decision = decisions[-1]["reason"] if decisions else None
                if note["outcome"] != "assigned" or decision is not None:
                    return note, decision
        if time.monotonic() >= deadline:
            return None, None
        time.sleep(1.0)
    return None, None
