"""Property tests: any Report the schema allows survives both wire formats unchanged."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from io import BytesIO

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from fastavro import schemaless_reader, schemaless_writer
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hub.errors import SerializationError
from hub.samples import sample_report
from hub.sdk.reports import uuid5_text
from hub.serialization import ConfluentCodec, SchemaStore, SingleObjectCodec
from hub.serialization.store import default_schema_dir

STORE = SchemaStore(default_schema_dir())
CODECS = [
    SingleObjectCodec(STORE),
    ConfluentCodec(
        STORE, SchemaRegistryClient.new_client({"url": "mock://props"}), auto_register=True
    ),
]

texts = st.text(max_size=300)  # any Unicode but surrogates, the empty string included
optional = st.none().__or__
millis = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
longs = st.integers(-(2**63), 2**63 - 1)
string_maps = st.dictionaries(texts, texts, max_size=5)


def enum(*symbols: str):
    return st.sampled_from(symbols)


reports = st.fixed_dictionaries(
    {
        "hub_id": texts,
        "source": st.fixed_dictionaries(
            {
                "connector": texts,
                "agency": texts,
                "source_id": texts,
                "channel": enum(
                    "WEB",
                    "MOBILE_APP",
                    "SMS",
                    "SOCIAL_MEDIA",
                    "EMAIL",
                    "WALK_IN",
                    "API",
                    "OPEN311",
                    "OTHER",
                ),
                "url": optional(texts),
            }
        ),
        "kind": enum("COMPLAINT", "ASPIRATION", "INFORMATION_REQUEST", "WHISTLEBLOWING", "UNKNOWN"),
        "title": texts,
        "body": st.text(max_size=5000),
        "language": texts,
        "category": optional(texts),
        "source_category": optional(texts),
        "location": st.fixed_dictionaries(
            {
                "region_code": optional(texts),
                "region_confidence": optional(st.floats(width=32, allow_nan=False)),
                "address": optional(texts),
                "postal_code": optional(texts),
                "latitude": optional(st.floats(allow_nan=False)),
                "longitude": optional(st.floats(allow_nan=False)),
            }
        ),
        "submitted_at": millis,
        "received_at": millis,
        "reporter": st.fixed_dictionaries(
            {
                "name": optional(texts),
                "phone": optional(texts),
                "email": optional(texts),
                "other_contacts": string_maps,
                "anonymous": st.booleans(),
                "confidential": st.booleans(),
            }
        ),
        "attachments": st.lists(
            st.fixed_dictionaries(
                {
                    "url": texts,
                    "media_type": optional(texts),
                    "size_bytes": optional(longs),
                    "sha256": optional(texts),
                    "name": optional(texts),
                }
            ),
            max_size=4,
        ),
        "extra": string_maps,
    }
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
MAXIMAL = {
    "hub_id": "f" * 36,
    "source": {
        "connector": "k" * 200,
        "agency": "a" * 200,
        "source_id": "9" * 500,
        "channel": "OTHER",
        "url": "https://lapor.example.go.id/" + "x" * 4000,
    },
    "kind": "WHISTLEBLOWING",
    "title": "Judul " * 2000,
    "body": "Laporan panjang — ꦲꦏ꧀ꦱꦫ ꦗꦮ, 中文, emoji 🙏🏽, RTL العربية. " * 20000,
    "language": "jv-Java",
    "category": "c" * 1000,
    "source_category": "s" * 1000,
    "location": {
        "region_code": "99.99.99.9999",
        "region_confidence": 1.0,
        "address": "Alamat " * 5000,
        "postal_code": "99999",
        "latitude": 1.7976931348623157e308,
        "longitude": -5e-324,
    },
    "submitted_at": END_OF_TIME,
    "received_at": END_OF_TIME,
    "reporter": {
        "name": "N" * 10000,
        "phone": "+62" + "8" * 100,
        "email": "e" * 1000 + "@x.id",
        "other_contacts": {f"kontak-{n}": "v" * 100 for n in range(500)},
        "anonymous": True,
        "confidential": True,
    },
    "attachments": [
        {
            "url": f"https://x/{n}",
            "media_type": "image/jpeg",
            "size_bytes": 2**63 - 1,
            "sha256": "0" * 64,
            "name": "foto.jpg",
        }
        for n in range(1000)
    ],
    "extra": {f"source.field{n}": '{"nested": [1, 2, 3]}' * 10 for n in range(2000)},
}
EMPTY = {
    "hub_id": "",
    "source": {"connector": "", "agency": "", "source_id": "", "channel": "WEB", "url": None},
    "kind": "UNKNOWN",
    "title": "",
    "body": "",
    "language": "",
    "category": None,
    "source_category": None,
    "location": {
        "region_code": None,
        "region_confidence": None,
        "address": None,
        "postal_code": None,
        "latitude": None,
        "longitude": None,
    },
    "submitted_at": EPOCH,
    "received_at": EPOCH,
    "reporter": {
        "name": None,
        "phone": None,
        "email": None,
        "other_contacts": {},
        "anonymous": False,
        "confidential": False,
    },
    "attachments": [],
    "extra": {},
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(report=reports, codec_index=st.sampled_from(range(len(CODECS))))
@example(report=MAXIMAL, codec_index=0)
@example(report=MAXIMAL, codec_index=1)
@example(report=EMPTY, codec_index=0)
@example(report=EMPTY, codec_index=1)
def test_any_report_round_trips(report: dict, codec_index: int) -> None:
    codec = CODECS[codec_index]
    assert codec.decode("Report", codec.encode("Report", report)) == report


def test_the_sample_reports_span_300_to_2000_bytes() -> None:
    """The demo's and benchmark's reports are the sizes citizens' reports have."""
    rng = random.Random(3)
    sizes = [len(CODECS[0].encode("Report", sample_report(rng))) for _ in range(2000)]
    assert 300 <= min(sizes) < 500 and 1800 < max(sizes) <= 2000


REPORT = STORE.latest("Report")


def fastavro_bytes(value: dict) -> bytes:
    out = BytesIO()
    schemaless_writer(out, REPORT.parsed, value, strict_allow_default=True)
    return out.getvalue()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(report=reports)
@example(report=MAXIMAL)
@example(report=EMPTY)
def test_the_fast_path_writes_and_reads_what_fastavro_does(report: dict) -> None:
    """cavro (the codec's fast path) is held to fastavro's bytes and values."""
    if REPORT.fast is None:
        pytest.skip("cavro is not installed for this Python")
    written = fastavro_bytes(report)
    assert REPORT.fast.binary_encode(report) == written
    assert REPORT.fast.binary_decode(written) == schemaless_reader(
        BytesIO(written), REPORT.parsed, None
    )


def test_a_misspelt_field_is_still_refused_by_name() -> None:
    wrong = {**EMPTY, "titel": "salah ketik"}
    with pytest.raises(SerializationError, match="titel"):
        CODECS[0].encode("Report", wrong)


@settings(max_examples=300, deadline=None)
@given(namespace=st.uuids(), name=st.text(max_size=200))
def test_hub_ids_are_uuid5(namespace, name: str) -> None:
    assert uuid5_text(namespace, name) == str(uuid.uuid5(namespace, name))


def test_the_fast_path_agrees_on_every_record_the_hub_writes() -> None:
    """Decisions, routed reports and status updates, as the router and connectors make
    them: cavro writes fastavro's bytes and reads back fastavro's values."""
    from datetime import datetime

    from hub.routing import ReloadingRouter, default_rules_dir
    from hub.sdk.reports import new_status

    router = ReloadingRouter(default_rules_dir()).router
    rng = random.Random(11)
    values: list[tuple[str, dict]] = []
    for _ in range(200):
        sample = sample_report(rng)
        decision = router.decide(sample).to_record()
        values += [
            ("RoutingDecision", decision),
            ("RoutedReport", {"report": sample, "decision": decision}),
            (
                "StatusUpdate",
                new_status(
                    hub_id=sample["hub_id"],
                    agency=decision["destinations"][0]["agency"],
                    status=rng.choice(["RECEIVED", "IN_PROGRESS", "RESOLVED"]),
                    source_status=rng.choice([None, "diproses", "selesai"]),
                    message=rng.choice([None, "Sedang ditindaklanjuti"]),
                    actor="lapor-hub",
                    occurred_at=datetime.now(UTC),
                ),
            ),
        ]
    for name, value in values:
        version = STORE.latest(name)
        if version.fast is None:
            pytest.skip("cavro is not installed for this Python")
        out = BytesIO()
        schemaless_writer(out, version.parsed, value, strict_allow_default=True)
        assert version.fast.binary_encode(value) == out.getvalue(), name
        assert version.fast.binary_decode(out.getvalue()) == schemaless_reader(
            BytesIO(out.getvalue()), version.parsed, None
        ), name
