"""Both wire formats: round trips, resolution across versions, refusals that name the field."""

from __future__ import annotations

import copy
import json
import random
import shutil
from pathlib import Path

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from hub.errors import DeserializationError, SchemaNotFound, SerializationError
from hub.samples import sample_report
from hub.serialization import ConfluentCodec, SchemaStore, SingleObjectCodec, TopicSerializer
from hub.serialization.store import default_schema_dir


@pytest.fixture(scope="module")
def store() -> SchemaStore:
    return SchemaStore(default_schema_dir())


def mock_registry() -> SchemaRegistryClient:
    """confluent-kafka's in-process registry: no Confluent-compatible server runs here."""
    return SchemaRegistryClient.new_client({"url": f"mock://{random.random()}"})


@pytest.fixture(params=["single-object", "confluent"])
def codec(request, store: SchemaStore):
    if request.param == "single-object":
        return SingleObjectCodec(store)
    return ConfluentCodec(store, mock_registry(), auto_register=True)


def report(seed: int = 7) -> dict:
    return sample_report(random.Random(seed))


def test_every_record_round_trips(codec) -> None:
    original = report()
    assert codec.decode("Report", codec.encode("Report", original)) == original

    decision = {
        "hub_id": original["hub_id"],
        "destinations": [
            {"agency": "pemkot-surabaya", "role": "HANDLER"},
            {"agency": "ombudsman", "role": "COPY"},
        ],
        "matched_rules": ["jalan-kota", "pungli-ombudsman"],
        "rules_version": "2026.11.1",
        "reason": "kategori infrastruktur.jalan di 35.78",
        "decided_at": original["received_at"],
        "priority": "HIGH",
        "sla_working_days": 5,
        "fallback": False,
        "escalated": False,
        "excluded_agencies": ["pemprov-jawa-timur"],
        "location_note": "region code given by the source",
    }
    routed = {"report": original, "decision": decision}
    assert codec.decode("RoutedReport", codec.encode("RoutedReport", routed)) == routed

    update = {
        "update_id": "u-1",
        "hub_id": original["hub_id"],
        "agency": "pemkot-surabaya",
        "status": "NOT_AUTHORITY",
        "source_status": "bukan_wewenang",
        "message": "Jalan nasional, wewenang Kementerian PU.",
        "actor": "admin.dinas-pu",
        "occurred_at": original["received_at"],
        "suggested_agency": "kemen-pu",
        "designated_agency": None,
    }
    assert codec.decode("StatusUpdate", codec.encode("StatusUpdate", update)) == update


def test_single_object_framing(store: SchemaStore) -> None:
    data = SingleObjectCodec(store).encode("Report", report())
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == store.latest("Report").fingerprint


def test_confluent_framing_uses_the_registered_id(store: SchemaStore) -> None:
    client = mock_registry()
    codec = ConfluentCodec(store, client, auto_register=True)
    data = codec.encode("Report", report())
    registered = client.get_latest_version("lapor.hub.Report")
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == registered.schema_id


def test_confluent_codec_refuses_an_unregistered_schema(store: SchemaStore) -> None:
    codec = ConfluentCodec(store, mock_registry())
    with pytest.raises(SchemaNotFound) as caught:
        codec.encode("Report", report())
    assert "not registered" in caught.value.message
    assert "lapor-hub schemas register" in caught.value.fix


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda r: r.update(title=123), "title"),
        (lambda r: r.update(titel="typo"), "titel"),
        (lambda r: r.pop("body"), "body"),
        (lambda r: r["location"].update(latitude="enam derajat"), "latitude"),
        (lambda r: r.update(kind="KELUHAN"), "kind"),
        (lambda r: r["attachments"].append({"media_type": "image/png"}), "url"),
    ],
    ids=["wrong-type", "unknown-field", "missing-field", "nested", "enum", "array-item"],
)
def test_a_value_that_does_not_fit_is_refused_naming_the_field(codec, change, named) -> None:
    bad = copy.deepcopy(report())
    change(bad)
    with pytest.raises(SerializationError) as caught:
        codec.encode("Report", bad)
    assert named in caught.value.message
    assert "nothing was written" in caught.value.fix
    assert codec.decode("Report", codec.encode("Report", report())) == report()


def test_garbage_and_truncated_bytes_are_refused(codec) -> None:
    for data in (b"", b'{"title": "json"}', codec.encode("Report", report())[:40]):
        with pytest.raises(DeserializationError):
            codec.decode("Report", data)


def test_a_record_of_another_schema_is_refused(store: SchemaStore) -> None:
    codec = SingleObjectCodec(store)
    update = {
        "update_id": "u",
        "hub_id": "h",
        "agency": "a",
        "status": "RECEIVED",
        "occurred_at": report()["received_at"],
    }
    with pytest.raises(DeserializationError) as caught:
        codec.decode("Report", codec.encode("StatusUpdate", update))
    assert "Expected a Report but the bytes hold a StatusUpdate v2" in caught.value.message


@pytest.fixture
def two_versions(tmp_path: Path) -> tuple[SchemaStore, SchemaStore]:
    """(a store with Report v1 only, a store with Report v1 and v2): an old and a new hub."""
    old = Path(shutil.copytree(default_schema_dir(), tmp_path / "old"))
    new = Path(shutil.copytree(default_schema_dir(), tmp_path / "new"))
    schema = json.loads((new / "Report" / "v1.avsc").read_text())
    schema["fields"].append(
        {"name": "urgency", "type": "int", "default": 3, "doc": "1 (low) to 5 (urgent)."}
    )
    (new / "Report" / "v2.avsc").write_text(json.dumps(schema))
    routed = json.loads((new / "RoutedReport" / "v2.avsc").read_text())
    routed["references"][0]["version"] = 2
    (new / "RoutedReport" / "v3.avsc").write_text(json.dumps(routed))
    return SchemaStore(old), SchemaStore(new)


def test_a_new_reader_decodes_what_an_old_writer_wrote(two_versions) -> None:
    old_store, new_store = two_versions
    written_by_old = SingleObjectCodec(old_store).encode("Report", report())
    decoded = SingleObjectCodec(new_store).decode("Report", written_by_old)
    assert decoded == {**report(), "urgency": 3}


def test_an_old_reader_is_told_it_lacks_the_newer_version(two_versions) -> None:
    old_store, new_store = two_versions
    written_by_new = SingleObjectCodec(new_store).encode("Report", {**report(), "urgency": 5})
    with pytest.raises(DeserializationError) as caught:
        SingleObjectCodec(old_store).decode("Report", written_by_new)
    assert "matches no version" in caught.value.message


def test_registry_readers_resolve_a_version_they_do_not_have_on_disk(two_versions) -> None:
    old_store, new_store = two_versions
    client = mock_registry()
    new_writer = ConfluentCodec(new_store, client, auto_register=True)
    data = new_writer.encode("Report", {**report(), "urgency": 5})
    old_reader = ConfluentCodec(old_store, client)  # v2 comes from the registry
    assert old_reader.decode("Report", data) == report()  # urgency dropped, rest intact


def test_registering_twice_is_a_no_op(store: SchemaStore) -> None:
    client = mock_registry()
    codec = ConfluentCodec(store, client, auto_register=True)
    first = codec.registry.register("RoutedReport")
    assert codec.registry.register("RoutedReport") == first
    assert client.get_subjects() == [
        "lapor.hub.Report",
        "lapor.hub.RoutingDecision",
        "lapor.hub.RoutedReport",
    ]
    routed = client.get_latest_version("lapor.hub.RoutedReport").schema
    assert isinstance(routed, Schema)
    assert {r.subject for r in routed.references} == {
        "lapor.hub.Report",
        "lapor.hub.RoutingDecision",
    }


def test_topic_serializer_knows_each_hub_topic(store: SchemaStore) -> None:
    serializer = TopicSerializer(SingleObjectCodec(store))
    raw = b'{"id": 1, "judul": "Jalan rusak"}'
    assert serializer.serialize("lapor.in.open311-surabaya", raw) == raw
    assert serializer.serialize("lapor.dlq.translate", raw) == raw
    data = serializer.serialize("lapor.reports", report())
    assert data[:2] == b"\xc3\x01"
    assert serializer.deserialize("lapor.reports", data) == report()
    with pytest.raises(ValueError, match="not a lapor-hub topic"):
        serializer.serialize("reports", report())
    with pytest.raises(TypeError):
        serializer.serialize("lapor.in.x", report())


def test_a_routed_report_joined_from_encoded_parts_is_the_same_bytes():
    """The data plane writes a RoutedReport by joining the encoded Report and decision
    (Avro's record encoding is its fields' encodings in order): byte for byte what encoding
    it whole gives, and readable as one."""
    import random

    from hub.errors import SerializationError
    from hub.samples import sample_report
    from hub.serialization import SchemaStore, SingleObjectCodec
    from hub.serialization.store import default_schema_dir

    codec = SingleObjectCodec(SchemaStore(default_schema_dir()))
    rng = random.Random(11)
    for _ in range(200):
        report = sample_report(rng)
        decision = {
            "hub_id": report["hub_id"],
            "destinations": [{"agency": "kemenkes", "role": "HANDLER"}],
            "matched_rules": ["r1"],
            "rules_version": "v",
            "reason": "test",
            "decided_at": report["received_at"],
            "priority": rng.choice([None, "HIGH"]),
            "sla_working_days": rng.choice([None, 5]),
            "fallback": False,
            "escalated": False,
            "excluded_agencies": [],
            "location_note": None,
        }
        parts = [codec.encode("Report", report), codec.encode("RoutingDecision", decision)]
        joined = codec.encode_joined("RoutedReport", parts)
        assert joined == codec.encode("RoutedReport", {"report": report, "decision": decision})
        assert codec.decode("RoutedReport", joined)["report"]["hub_id"] == report["hub_id"]
    with pytest.raises(SerializationError, match="embeds"):
        codec.encode_joined("RoutedReport", list(reversed(parts)))


def test_a_fan_out_encodes_each_destinations_view_as_a_whole_encoding_would(codec) -> None:
    """hub.fanout.routed_encoder joins each view's Report to the decision encoded once;
    the bytes are what encoding the whole RoutedReport gives, on either wire format."""
    from hub import topics
    from hub.fanout import routed_encoder
    from tests.helpers import routed

    serializer = TopicSerializer(codec)
    whole = routed(report(3), "kemenkes")
    encode = routed_encoder(serializer, whole["decision"])
    hidden = {**whole["report"], "reporter": {**whole["report"]["reporter"], "name": None}}
    for view in (whole, {**whole, "report": hidden}):
        assert encode(view) == serializer.serialize(topics.ROUTED, view)
        assert serializer.deserialize(topics.ROUTED, encode(view)) == serializer.deserialize(
            topics.ROUTED, serializer.serialize(topics.ROUTED, view)
        )
