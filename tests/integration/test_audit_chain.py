"""The audit trail cannot be rewritten unnoticed: each record is signed by the hub's audit
key and chained to the one before it; `lapor-hub audit verify` names the first record that
was edited, removed or inserted, and a malformed record is listed as such."""

from __future__ import annotations

import base64
import json
import os
import threading
from dataclasses import replace

import pytest

from hub import audit
from hub.errors import HubError
from hub.kafka import make_producer
from hub.ops.reveal import revealed
from hub.topics import AUDIT
from tests.conftest import hub_cli

pytestmark = [pytest.mark.kafka]


@pytest.fixture
def bootstrap(own_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A broker of its own (the trail on it is this test's alone), an audit key of its own."""
    monkeypatch.setenv("LAPOR_HUB_AUDIT_KEY", base64.b64encode(os.urandom(32)).decode())
    return own_bootstrap


def public() -> str:
    return audit.public_key_text(audit.signing_key(create=False))


def test_a_record_edited_removed_or_inserted_is_found(bootstrap: str) -> None:
    for number in range(4):
        audit.record(bootstrap, "dlq.replay", {"replayed": number})
    trail = audit.read_trail(bootstrap)
    assert [item.entry.seq for item in trail] == [0, 1, 2, 3]
    assert audit.verify(trail, public()).intact
    assert all(item.entry.who.startswith("ANONYMOUS") and item.entry.login for item in trail)
    done = hub_cli(bootstrap, "audit", "verify")
    assert done.returncode == 0, done.stderr
    assert "intact: 4 records" in done.stdout

    edited = list(trail)
    changed = replace(trail[1].entry, outcome="failed: nothing replayed")
    edited[1] = replace(trail[1], raw=changed.to_json(), entry=changed)
    verdict = audit.verify(edited, public())
    assert verdict.first_break.startswith(f"offset {trail[1].offset}")
    assert "signature does not match" in verdict.first_break

    removed = [trail[0], trail[2], trail[3]]
    verdict = audit.verify(removed, public())
    assert verdict.first_break.startswith(f"offset {trail[2].offset}")
    assert "does not follow the record before it" in verdict.first_break

    # inserted by hand, with write access to the topic but not the hub's key
    forger = audit._key_of(base64.b64encode(os.urandom(32)).decode(), "a forger's key")
    forged = audit.Entry(
        **{
            **trail[3].entry.__dict__,
            "action": "identity.reveal",
            "seq": 4,
            "prev": audit.hashlib.sha256(trail[3].raw).hexdigest(),
            "sig": "",
        }
    )
    signed = replace(forged, sig=base64.b64encode(forger.sign(forged.signed_part())).decode())
    producer = make_producer(bootstrap)
    producer.produce(AUDIT, key=b"identity.reveal", value=signed.to_json())
    producer.produce(AUDIT, key=b"x", value=b"<html>not an audit record</html>")
    assert producer.flush(30) == 0

    done = hub_cli(bootstrap, "audit", "verify")
    assert done.returncode == 1
    assert "signature does not match" in done.stderr and "identity.reveal" in done.stderr
    listed = hub_cli(bootstrap, "audit")
    assert listed.returncode == 0, listed.stderr
    assert "malformed" in listed.stdout and "dlq.replay" in listed.stdout, listed.stdout
    # what comes after the break is still chained to it, and still listed
    audit.record(bootstrap, "keys.rotate", {"active": "k2"})
    assert "keys.rotate" in hub_cli(bootstrap, "audit").stdout


def test_writers_at_once_still_make_one_chain(bootstrap: str) -> None:
    audit.record(bootstrap, "security.apply", {"first": True})
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            for number in range(3):
                audit.record(bootstrap, "rules.reload", {"worker": name, "n": number})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f"w{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    trail = audit.read_trail(bootstrap)
    assert len(trail) == 10
    verdict = audit.verify(trail, public())
    assert verdict.intact, verdict.breaks
    assert sorted(item.entry.seq for item in trail) == list(range(10))


def test_a_reveal_fails_closed_when_its_record_cannot_be_written() -> None:
    report = {"hub_id": "h-1", "reporter": {"name": "lapor-enc:1:k:AAAA"}}
    with pytest.raises(HubError):
        revealed("127.0.0.1:1", report, "a test")  # no broker: no record, no reveal


def test_the_record_is_json_an_auditor_can_read_without_the_hub(bootstrap: str) -> None:
    entry = audit.record(bootstrap, "dlq.replay", {"replayed": 3})
    fields = json.loads(audit.read_trail(bootstrap)[0].raw)
    assert fields["action"] == "dlq.replay" and fields["seq"] == 0
    assert fields["prev"] == audit.GENESIS and fields["sig"] == entry.sig
