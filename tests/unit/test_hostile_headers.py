"""What an attacker can put in a record's headers, a webhook's signature, an XML declaration
or an address, refused or read safely: nothing here may raise anything but the hub's own
errors, stop a worker, or take seconds."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import SecretStr

from connectors.lapor_json import LaporJson
from hub import records
from hub.audit import Entry, Listed, verify
from hub.errors import BadInput
from hub.routing import build_router, default_rules_dir
from hub.sdk.base import RawMessage
from hub.sdk.inputs import check_control_characters, parse_xml
from hub.sdk.webhook import verify as verify_signature
from hub.topics import may_return_to


def test_a_retry_target_must_be_a_whole_topic_of_its_stage():
    assert may_return_to("deliver", "lapor.out.lapor-nasional")
    assert not may_return_to("deliver", "lapor.out.")  # the family alone is no topic
    assert not may_return_to("deliver", "lapor.out." + "x" * 600)  # Kafka refuses it
    assert not may_return_to("deliver", "lapor.out.a b")
    assert not may_return_to("deliver", "lapor.reports")
    assert may_return_to("tracker", "lapor.routed")


def test_numbers_in_headers_are_bounded_before_they_are_read():
    assert records.attempts({records.ATTEMPTS: b"1" * 5000}) == 0
    assert records.attempts({records.ATTEMPTS: b"3"}) == 3
    assert records.due_millis({records.NOT_BEFORE: b"9" * 400}) is None
    assert records.due_millis({records.NOT_BEFORE: "١٢٣".encode()}) is None
    assert records.due_millis({records.NOT_BEFORE: b"1764112345000"}) == 1764112345000


def test_a_signature_time_too_long_to_be_a_time_is_a_401():
    with pytest.raises(BadInput) as refused:
        verify_signature(f"t={'9' * 400},v1=ab", b"{}", [SecretStr("s")])
    assert refused.value.status == 401


@pytest.mark.parametrize("encoding", ["bogus", "rot13", "base64", "utf-32", "idna"])
def test_an_xml_encoding_the_hub_does_not_read_is_refused(encoding: str):
    with pytest.raises(BadInput, match="encoding"):
        parse_xml(f'<?xml version="1.0" encoding="{encoding}"?><a/>'.encode())


@pytest.mark.parametrize("hidden", ["\u202e", "\u2066", "\x85", "\x9b", "\u2028"])
def test_characters_that_make_a_screen_lie_are_refused(hidden: str):
    with pytest.raises(BadInput, match="control"):
        check_control_characters(f"jalan {hidden}rusak", "body")


def test_audit_records_of_the_wrong_types_are_listed_as_malformed_not_a_crash():
    good = Entry.from_json(
        json.dumps(
            {
                "at": "2026-12-01T00:00:00+00:00",
                "who": "w",
                "host": "h",
                "action": "a",
                "what": {},
                "outcome": "ok",
            }
        ).encode()
    )
    assert good.seq == 0
    for wrong in ({"sig": 1}, {"seq": None}, {"seq": "x"}, {"what": []}):
        raw = json.dumps({**good.__dict__, "at": good.at.isoformat(), **wrong}).encode()
        with pytest.raises(ValueError):
            Entry.from_json(raw)
    trail = [Listed(0, b"[" * 100_000 + b"]" * 100_000, malformed="RecursionError")]
    verdict = verify(trail, "A" * 43 + "=")
    assert not verdict.intact and "not an audit record" in verdict.first_break


def test_whatever_an_app_says_of_its_reporter_is_sealed_identity_not_extra():
    connector = LaporJson({"agency": "admin-nasional"}, instance="w")
    report = connector.to_report(
        RawMessage(
            "1",
            json.dumps(
                {
                    "tracking_id": "1",
                    "isi": "jalan rusak",
                    "dibuat_pada": "2026-12-01T00:00:00Z",
                    "pelapor": {"nama": "A", "whatsapp": "0812", "nik": 3578},
                }
            ).encode(),
        )
    )
    assert report["reporter"]["other_contacts"] == {"whatsapp": "0812", "nik": "3578"}
    assert not any("pelapor" in key for key in report["extra"])


def test_a_long_address_is_read_in_bounded_time():
    router = build_router(default_rules_dir())
    report = {
        "hub_id": "h",
        "kind": "COMPLAINT",
        "title": "",
        "body": "jalan rusak",
        "category": None,
        "source": {"connector": "sms-1708", "agency": "admin-nasional", "channel": "SMS"},
        "location": {"region_code": None, "address": "desa " + "Sidomulyo " * 400},
    }
    started = time.monotonic()
    router.decide(report)
    assert time.monotonic() - started < 5, "the address parser must not run away"
