"""The hub's topic names and what each carries (see DESIGN.md, "Topics").

Names carry the connector so Kafka ACLs with PREFIXED patterns can confine an agency's
connector to its own topics. Values on ``lapor.in.*``, ``lapor.retry.*`` and ``lapor.dlq.*``
are raw bytes (what the app sent, or the original message kept byte for byte); the others
carry one Avro record each.
"""

from __future__ import annotations

REPORTS = "lapor.reports"
ROUTED = "lapor.routed"
TICKS = "lapor.tracker.ticks"  # the tracker's clock: one tick per partition, every few seconds


def inbound(connector: str) -> str:
    return f"lapor.in.{connector}"


def outbound(connector: str) -> str:
    return f"lapor.out.{connector}"


def status(connector: str) -> str:
    return f"lapor.status.{connector}"


def feedback(connector: str) -> str:
    """Status updates the hub sends back to the app a report came from."""
    return f"lapor.feedback.{connector}"


def tracker_changelog(group_prefix: str) -> str:
    """The tracker table's compacted changelog (faust's name for it): each report's state."""
    return f"{group_prefix}-tracker-reports-changelog"


def retry(stage: str) -> str:
    return f"lapor.retry.{stage}"


def dead_letter(stage: str) -> str:
    return f"lapor.dlq.{stage}"


# (exact name or prefix ending in ".", record schema or None for raw bytes)
_VALUE_SCHEMAS: list[tuple[str, str | None]] = [
    (REPORTS, "Report"),
    (ROUTED, "RoutedReport"),
    ("lapor.out.", "RoutedReport"),
    ("lapor.status.", "StatusUpdate"),
    ("lapor.feedback.", "StatusUpdate"),
    (TICKS, None),
    ("lapor.in.", None),
    ("lapor.retry.", None),
    ("lapor.dlq.", None),
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
