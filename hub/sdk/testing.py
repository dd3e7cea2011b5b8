"""The connector contract kit: the standard tests every connector passes, ours and yours.

    from hub.sdk.testing import ConnectorContract

    class TestMyApp(ConnectorContract):
        connector_class = MyAppConnector
        config = {"agency": "pemkot-contoh", "base_url": "http://127.0.0.1:1"}
        samples = [RawMessage("A-1", b'{"id": "A-1", ...}')]        # as the app sends them
        bad_samples = [(RawMessage("A-2", b"{not json"), "malformed JSON")]
        unknown_field = (RawMessage("A-3", b'{..., "rt_rw": "03/05"}'), "rt_rw")

pytest collects the subclass and runs: the connector declares itself and is registered,
samples become valid canonical Reports, ingest is idempotent, unknown fields are kept, bad
input is refused with its reason (and nothing else goes wrong), a routed report reaches the
app's format with its text intact and without an anonymous reporter's identity.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import pytest

from hub.errors import BadInput
from hub.sdk.base import Capability, Connector, ConnectorConfig, RawMessage
from hub.sdk.registry import available

DECISION = {
    "hub_id": "",
    "destinations": [
        {"agency": "pemkot-surabaya", "role": "HANDLER"},
        {"agency": "ombudsman-ri", "role": "COPY"},
    ],
    "matched_rules": ["contract-kit"],
    "rules_version": "contract",
    "reason": "contract kit",
    "decided_at": datetime(2026, 11, 26, tzinfo=UTC),
}
IDENTITY = {
    "name": "Kanari Uji Identitas",
    "phone": "+6281299990000",
    "email": "kanari.uji@contoh.id",
}


def _codec():
    from hub.serialization import SchemaStore, SingleObjectCodec
    from hub.serialization.store import default_schema_dir

    return SingleObjectCodec(SchemaStore(default_schema_dir()))


def strings_in(data: bytes) -> set[str]:
    """Every text value in an app's payload, whether JSON, XML or a form."""
    text = data.decode("utf-8", "replace")
    try:
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, dict):
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)
            elif node is not None:
                found.add(str(node))

        walk(json.loads(text))
        return found
    except json.JSONDecodeError:
        pass
    if text.lstrip().startswith("<"):
        from hub.sdk.inputs import parse_xml

        return {(e.text or "").strip() for e in parse_xml(data).iter() if (e.text or "").strip()}
    return {value for _, value in parse_qsl(text)} | {text}


class ConnectorContract:
    connector_class: ClassVar[type[Connector]]
    config: ClassVar[dict[str, Any]]
    samples: ClassVar[list[RawMessage]]
    bad_samples: ClassVar[list[tuple[RawMessage, str]]] = []
    unknown_field: ClassVar[tuple[RawMessage, str] | None] = None

    def connector(self) -> Connector:
        return self.connector_class(self.config)

    def test_declares_itself(self) -> None:
        cls = self.connector_class
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", cls.name), "name: lowercase, digits, dashes"
        assert cls.title and cls.capabilities, "a title and at least one capability"
        assert issubclass(cls.Config, ConnectorConfig)
        assert available().get(cls.name) is cls, (
            f"{cls.name} is not registered under the 'lapor_hub.connectors' entry-point group"
        )

    def test_samples_become_valid_canonical_reports(self) -> None:
        codec = _codec()
        assert self.samples, "give at least one sample message"
        for raw in self.samples:
            report = self.connector().to_report(raw)
            assert codec.decode("Report", codec.encode("Report", report)) == report
            assert report["source"]["source_id"], "the source's own id is kept"
            assert report["body"].strip(), "the body is not empty"

    def test_ingest_is_idempotent(self) -> None:
        for raw in self.samples:
            later = RawMessage(
                raw.source_id,
                raw.body,
                raw.content_type,
                raw.received_at + timedelta(minutes=5),
                raw.headers,
            )
            first, second = self.connector().to_report(raw), self.connector().to_report(later)
            assert first["hub_id"] == second["hub_id"], "the same report gets the same hub id"
            assert {**first, "received_at": None} == {**second, "received_at": None}

    def test_unknown_fields_are_kept(self) -> None:
        if self.unknown_field is None:
            pytest.skip("the app's format has no place for unknown fields")
        raw, field = self.unknown_field
        report = self.connector().to_report(raw)
        assert any(key.split(".")[-1] == field for key in report["extra"]), (
            f"{field} is not in the report's extra: {sorted(report['extra'])}"
        )

    def test_bad_input_is_refused_with_a_reason(self) -> None:
        for raw, reason in self.bad_samples:
            with pytest.raises(BadInput) as refused:
                if Capability.PUSH in self.connector_class.capabilities:
                    for message in self.connector().parse_push(raw.body, {}):
                        if isinstance(message, BadInput):
                            raise message
                        self.connector().to_report(message)
                else:
                    self.connector().to_report(raw)
            assert reason in refused.value.reason, refused.value.reason

    def test_a_routed_report_reaches_the_app_intact_and_private(self) -> None:
        if Capability.DELIVER not in self.connector_class.capabilities:
            pytest.skip("this connector does not deliver")
        connector = self.connector()
        report = connector.to_report(self.samples[0])
        report["reporter"].update(IDENTITY, anonymous=False)
        payload = connector.from_routed({"report": report, "decision": DECISION})
        values = strings_in(payload)
        assert any(report["body"] in v for v in values), "the body reaches the app"
        hidden = {**report, "reporter": {**report["reporter"], "anonymous": True}}
        private = connector.from_routed({"report": hidden, "decision": DECISION})
        for secret in IDENTITY.values():
            assert secret.encode() not in private, "an anonymous reporter's identity leaked"
