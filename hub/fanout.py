"""How a routed report fans out: one record per destination on its connector's outbound
topic. Both planes send reports this way (the data plane's route hop, the tracker's
re-routing and escalation), so it sits below them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub import records, topics
from hub.errors import HubError
from hub.records import Record
from hub.routing import Directory
from hub.sdk import Connector


def destination_records(
    key: bytes,
    encoded_routed: bytes,
    decision: dict[str, Any],
    directory: Directory,
    connectors: Mapping[str, Connector],
) -> list[Record]:
    """One record per destination on its connector's outbound topic, the agency and its
    role in headers (so each delivery has its own idempotency key). Raises HubError for an
    agency reached through a connector this hub does not configure."""
    found = []
    for destination in decision["destinations"]:
        agency, role = destination["agency"], destination["role"]
        connector = directory.connector_of(agency)
        if connector not in connectors:
            raise HubError(
                f"{agency} is reached through connector {connector!r}, "
                "which this hub does not configure"
            )
        found.append(
            Record(
                topics.outbound(connector),
                key,
                encoded_routed,
                {records.DESTINATION: agency.encode(), records.ROLE: role.encode()},
            )
        )
    return found
