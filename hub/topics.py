"""Every name the hub gives a topic or a consumer group, and the one list of stages.

Nothing else in the hub spells a topic name: the data plane, the tracker, the operator
commands and the security plan all ask here. Names carry the connector so Kafka ACLs can
confine an agency's connector to its own topics. Values on ``lapor.in.*``,
``lapor.retry.*`` and ``lapor.dlq.*`` are raw bytes (what the app sent, or the original
message kept byte for byte); the per-report topics carry one Avro record each. How each
topic is made (partitions, replication, retention) is hub.topic_specs.
"""

from __future__ import annotations

import re

PREFIX = "lapor."

# topics of the whole hub
REPORTS = "lapor.reports"  # canonical Report, key = hub id
ROUTED = "lapor.routed"  # Report + RoutingDecision, key = hub id
TICKS = "lapor.tracker.ticks"  # the tracker's clock: one tick per partition, every few seconds
AUDIT = "lapor.audit"  # every operator action, kept forever
LEASES = "lapor.leases"  # one partition, never written: its holder pulls (hub.dataplane.lease)
REPLAYS = "lapor.replays"  # every dead-letter replay, kept forever
KEYRING = "lapor.keyring"  # compacted: each identity key's fingerprint, key = key id (hub.keyshare)

# families: a prefix, then the connector instance or the stage
INBOUND = "lapor.in."
OUTBOUND = "lapor.out."
STATUS = "lapor.status."
FEEDBACK = "lapor.feedback."
# a connector's own state and failures: only that connector's principal (and the hub's)
# reaches them, so no agency can move another's cursors, suppress its deliveries through
# ledger entries or aim a retry at another agency's topic (docs/security.md)
CURSORS = "lapor.cursors."  # compacted: each side's cursor, key [<namespace>/]<instance>/<side>
LEDGER = "lapor.ledger."  # compacted: what its destinations acknowledged, key <hub id>:<agency>
FAILED = "lapor.failed."  # its retries and dead letters, checked and moved on by the hub
RETRY = "lapor.retry."
DEAD_LETTER = "lapor.dlq."
TRACKER = "lapor.tracker."

# Where a record can fail, each with its dead-letter topic: ingest (an app's input refused
# at the door), translate, route, deliver, status (an app's status refused), feedback (a
# status the origin app did not take), tracker (an event the tracker could not apply).
# Deliveries and feedback are retried first.
STAGES = ("ingest", "translate", "route", "deliver", "status", "feedback", "tracker")
RETRIED_STAGES = ("deliver", "feedback")


# Where a record that failed at each stage may be sent back (by the retry worker or a
# replay): the stage's own input, never a topic a header names unchecked.
_RETURNS: dict[str, tuple[str, ...]] = {
    "ingest": (INBOUND,),
    "translate": (INBOUND,),
    "route": (INBOUND,),
    "deliver": (OUTBOUND,),
    "status": (STATUS,),
    "feedback": (FEEDBACK,),
    "tracker": (ROUTED, STATUS),
}


# a connector instance's name as it may end a topic's name (Kafka allows 249 characters)
_INSTANCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


# the stages a connector's own sides fail at, and each stage's topic of that connector: what
# its failures may name as where they came from (hub.dataplane.failures)
CONNECTOR_STAGES = ("ingest", "deliver", "status", "feedback")


def own_topic(stage: str, connector: str) -> str:
    """The topic of ``connector`` a record that failed at ``stage`` belongs to."""
    family = {"ingest": INBOUND, "deliver": OUTBOUND, "status": STATUS, "feedback": FEEDBACK}
    return family[stage] + connector


def may_return_to(stage: str, topic: str) -> bool:
    """Whether a record that failed at ``stage`` may be sent back to ``topic``: its stage's
    own input, a family's name completed by an instance name Kafka accepts."""
    for allowed in _RETURNS.get(stage, ()):
        if not allowed.endswith("."):
            if topic == allowed:
                return True
        elif topic.startswith(allowed) and _INSTANCE.fullmatch(topic[len(allowed) :]):
            return True
    return False


def returns_of(stage: str) -> str:
    """The topics ``stage``'s records may go back to, for a message."""
    return ", ".join(a + ("*" if a.endswith(".") else "") for a in _RETURNS.get(stage, ()))


def inbound(connector: str) -> str:
    return INBOUND + connector


def outbound(connector: str) -> str:
    return OUTBOUND + connector


def status(connector: str) -> str:
    return STATUS + connector


def feedback(connector: str) -> str:
    """Status updates the hub sends back to the app a report came from."""
    return FEEDBACK + connector


def cursors(connector: str) -> str:
    return CURSORS + connector


def ledger(connector: str) -> str:
    return LEDGER + connector


def failed(connector: str) -> str:
    """Where a connector's sides write what they could not handle (hub.dataplane.failures)."""
    return FAILED + connector


def retry(stage: str) -> str:
    return RETRY + stage


def dead_letter(stage: str) -> str:
    return DEAD_LETTER + stage


def connector_of_inbound(topic: str) -> str:
    """The connector instance whose inbound topic ``topic`` is."""
    return topic.removeprefix(INBOUND)


def connector_of_status(topic: str) -> str:
    """The connector instance whose status topic ``topic`` is."""
    return topic.removeprefix(STATUS)


def connector_of_failed(topic: str) -> str:
    return topic.removeprefix(FAILED)


def stage_of(topic: str) -> str:
    """The stage of a retry or dead-letter topic (``lapor.dlq.deliver`` -> ``deliver``)."""
    return topic.removeprefix(DEAD_LETTER).removeprefix(RETRY)


def tracker_changelog(group_prefix: str) -> str:
    """The tracker table's compacted changelog (faust's name for it): each report's state."""
    return f"{group_prefix}-tracker-reports-changelog"


def tracker_assignor(group_prefix: str) -> str:
    """faust's assignor leader topic of the tracker app."""
    return f"{tracker_app(group_prefix)}-__assignor-__leader"


# consumer groups and transactional ids (their names are part of what an ACL grants)


def tracker_app(group_prefix: str) -> str:
    """The tracker's faust app id, which is also its consumer group."""
    return f"{group_prefix}-tracker"


def route_group(group_prefix: str) -> str:
    """The translate-and-route hop's consumer group (named "ingest" since the first
    release: renaming it would make a running hub read its inbound topics from the start)."""
    return f"{group_prefix}-ingest"


def route_transactional_id(group_prefix: str, name: str) -> str:
    return f"{route_group(group_prefix)}-{name}"


def deliver_group(group_prefix: str, connector: str) -> str:
    return f"{group_prefix}-deliver-{connector}"


def feedback_group(group_prefix: str, connector: str) -> str:
    return f"{group_prefix}-feedback-{connector}"


def lease_group(group_prefix: str, scope: str) -> str:
    """The lease group of the pulls and status polls of ``scope``: "hub" for `lapor-hub up`,
    "connector-<instance>" for `lapor-hub connect` (a connector named "hub" cannot reach the
    hub's)."""
    return f"{group_prefix}-lease-{scope}"


def retry_group(group_prefix: str, stage: str) -> str:
    """The consumer group of a stage's retry worker (its committed offsets: what is sent back)."""
    return f"{group_prefix}-retry-{stage}"


AUDIT_WRITER = "lapor-audit-writer"  # the audit trail's one transactional id (hub.audit)

# groups of short-lived readers that assign partitions themselves (a principal needs READ)
READER_GROUP = "lapor-reader"
CURSOR_READER_GROUP = "lapor-cursor-reader"
LEDGER_READER_GROUP = "lapor-ledger-reader"


# (exact name or family prefix, record schema or None for raw bytes)
_VALUE_SCHEMAS: list[tuple[str, str | None]] = [
    (REPORTS, "Report"),
    (ROUTED, "RoutedReport"),
    (OUTBOUND, "RoutedReport"),
    (STATUS, "StatusUpdate"),
    (FEEDBACK, "StatusUpdate"),
    (TICKS, None),
    (INBOUND, None),
    (CURSORS, None),
    (LEDGER, None),
    (FAILED, None),
    (RETRY, None),
    (DEAD_LETTER, None),
]


def value_schema(topic: str) -> str | None:
    """The record schema of ``topic``'s values, or None for a raw-bytes topic.

    Raises ValueError for a name outside the hub's topic scheme.
    """
    for pattern, schema in _VALUE_SCHEMAS:
        if topic == pattern or (pattern.endswith(".") and topic.startswith(pattern)):
            return schema
    known = ", ".join(p + ("*" if p.endswith(".") else "") for p, _ in _VALUE_SCHEMAS)
    raise ValueError(f"{topic!r} is not a lapor-hub topic; the hub's topics are {known}")


def topics_carrying(schema: str) -> list[str]:
    """The topic names (``*`` for a family) whose values are ``schema`` records."""
    return [p + ("*" if p.endswith(".") else "") for p, s in _VALUE_SCHEMAS if s == schema]
