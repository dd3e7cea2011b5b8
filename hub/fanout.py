"""How a routed report fans out: one record per destination on its connector's outbound
topic. Both planes send reports this way (the data plane's route hop, the tracker's
re-routing and escalation), so it sits below them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hub import records, topics
from hub.errors import HubError
from hub.privacy import KeyRing, for_outbound, has_identity
from hub.records import Record
from hub.routing import Directory
from hub.sdk import Connector
from hub.serialization import TopicSerializer


def routed_encoder(
    serializer: TopicSerializer, decision: dict[str, Any], encoded_decision: bytes | None = None
) -> Callable[[dict[str, Any]], bytes]:
    """RoutedReport bytes for each destination's view of one report. The decision is the
    same in all of them: it is encoded once (or given encoded) and joined to each view's
    Report, where the codec can join (hub.serialization.TopicSerializer.serialize_joined)."""
    decided = encoded_decision or serializer.codec.encode("RoutingDecision", decision)

    def encode(routed: dict[str, Any]) -> bytes:
        report = serializer.serialize(topics.REPORTS, routed["report"])
        return serializer.serialize_joined(topics.ROUTED, [report, decided], routed)

    return encode


def destination_records(
    key: bytes,
    routed: dict[str, Any],
    directory: Directory,
    connectors: Mapping[str, Connector],
    encode: Callable[[dict[str, Any]], bytes],
    ring: KeyRing,
) -> list[Record]:
    """One record per destination on its connector's outbound topic, the agency and its
    role in headers (so each delivery has its own idempotency key). What each topic holds
    of the reporter's identity is what that destination may have (hub.privacy.for_outbound):
    a handler's connector gets it sealed with its own key, a copy or an anonymous report
    none of it. ``encode`` makes a RoutedReport's bytes. Raises HubError for an agency
    reached through a connector this hub does not configure."""
    report, decision = routed["report"], routed["decision"]
    found, hidden = [], None
    for destination in decision["destinations"]:
        agency, role = destination["agency"], destination["role"]
        connector = directory.connector_of(agency)
        if connector not in connectors:
            raise HubError(
                f"{agency} is reached through connector {connector!r}, "
                "which this hub does not configure"
            )
        shown = for_outbound(report, role, ring, connector)
        if not has_identity(shown):
            hidden = hidden or encode({**routed, "report": shown})  # the same for them all
            value = hidden
        else:
            value = encode({**routed, "report": shown})
        found.append(
            Record(
                topics.outbound(connector),
                key,
                value,
                {records.DESTINATION: agency.encode(), records.ROLE: role.encode()},
            )
        )
    return found
