"""Reporters' identities sealed with authenticated encryption, keys rotated, opened only for
a destination allowed to see them."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from hub.privacy import (
    FIELD_PREFIX,
    HIDDEN,
    KeyRing,
    PrivacyError,
    for_destination,
    for_outbound,
    hide_identity,
    load_keyring,
    open_body,
    open_identity,
    redact_identity,
    seal_body,
    seal_identity,
)
from hub.samples import sample_report
from hub.serialization import SchemaStore, SingleObjectCodec
from hub.serialization.store import default_schema_dir


def report(anonymous: bool = False) -> dict:
    made = sample_report(random.Random(4))
    made["reporter"].update(
        name="Siti Canary",
        phone="+62811000111",
        email="siti@contoh.id",
        anonymous=anonymous,
        other_contacts={"whatsapp": "+62811000222"},
    )
    return made


def test_sealed_identity_holds_no_clear_value_and_opens_again():
    ring = KeyRing.new()
    sealed = seal_identity(report(), ring)
    person = sealed["reporter"]
    assert all(person[f].startswith(FIELD_PREFIX) for f in ("name", "phone", "email"))
    assert person["other_contacts"]["whatsapp"].startswith(FIELD_PREFIX)
    encoded = SingleObjectCodec(SchemaStore(default_schema_dir())).encode("Report", sealed)
    for clear in (b"Siti Canary", b"+62811000111", b"siti@contoh.id", b"+62811000222"):
        assert clear not in encoded, "the Avro record holds no identity in clear"
    assert open_identity(sealed, ring)["reporter"] == report()["reporter"]


def test_a_value_from_the_app_that_looks_sealed_is_sealed_too():
    ring = KeyRing.new()
    forged = report()
    forged["reporter"] = {**forged["reporter"], "name": f"{FIELD_PREFIX}x:A"}
    sealed = seal_identity(forged, ring)
    assert sealed["reporter"]["name"] != f"{FIELD_PREFIX}x:A", "never passed on in clear"
    assert open_identity(sealed, ring)["reporter"]["name"] == f"{FIELD_PREFIX}x:A"
    with pytest.raises(PrivacyError, match="looks sealed but is not"):
        open_identity(forged, ring)  # a report kept in clear by a tool that does not seal


def test_rotation_new_writes_use_the_new_key_old_values_still_open():
    old = KeyRing.new()
    before = seal_identity(report(), old)
    new = old.rotated()
    after = seal_identity(report(), new)
    assert f":{new.active}:" in after["reporter"]["name"]
    assert f":{old.active}:" in before["reporter"]["name"]
    assert open_identity(before, new)["reporter"]["name"] == "Siti Canary"
    with pytest.raises(PrivacyError, match="not in the key ring"):
        open_identity(after, old)


def test_a_value_moved_to_another_report_or_changed_does_not_open():
    ring = KeyRing.new()
    sealed = seal_identity(report(), ring)
    other = {**report(), "hub_id": "another-report"}
    other["reporter"] = sealed["reporter"]
    with pytest.raises(PrivacyError, match="moved from another report"):
        open_identity(other, ring)
    tampered = json.loads(json.dumps(sealed, default=str))
    value = tampered["reporter"]["name"]
    tampered["reporter"]["name"] = value[:-4] + ("AAAA" if value[-4:] != "AAAA" else "BBBB")
    with pytest.raises(PrivacyError):
        open_identity({**sealed, "reporter": tampered["reporter"]}, ring)


def test_only_a_handler_of_a_named_report_sees_the_identity():
    ring = KeyRing.new()
    named = {"report": seal_identity(report(), ring), "decision": {}}
    hidden = {"report": seal_identity(report(anonymous=True), ring), "decision": {}}
    assert for_destination(named, "HANDLER", ring)["report"]["reporter"]["name"] == "Siti Canary"
    assert for_destination(named, "COPY", ring)["report"]["reporter"]["name"] is None
    anonymous = for_destination(hidden, "HANDLER", ring)["report"]["reporter"]
    assert anonymous["name"] is None and anonymous["other_contacts"] == {}
    assert anonymous["anonymous"] is True, "the privacy choice itself stays"
    assert hide_identity(report())["reporter"]["phone"] is None
    assert redact_identity(report())["reporter"]["email"] == HIDDEN


def test_a_connector_key_opens_what_was_sealed_for_it_and_nothing_else():
    network = KeyRing.new()
    mine, theirs = network.for_connector("kota-a"), network.for_connector("kota-b")
    assert mine.connector == "kota-a" and network.connector is None
    assert network.keys[network.active] not in mine.keys.values(), "the network key stays home"
    sealed = seal_identity(report(), network)
    handed = for_outbound(sealed, "HANDLER", network, "kota-a")
    assert handed["reporter"]["name"].startswith(f"{FIELD_PREFIX}{mine.active}:")
    assert open_identity(handed, mine)["reporter"]["name"] == "Siti Canary"
    assert open_identity(handed, network)["reporter"]["phone"] == "+62811000111", "the hub opens"
    with pytest.raises(PrivacyError, match="not connector kota-b's"):
        open_identity(handed, theirs)
    with pytest.raises(PrivacyError, match="not connector kota-a's"):
        open_identity(sealed, mine)  # the network's sealing: not an agency's to open
    with pytest.raises(PrivacyError, match="holds no key of kota-b"):
        mine.for_connector("kota-b")
    # a ring made by name (kid "k1@kota-b") is still no key: it does not open
    forged = KeyRing(f"{network.active}@kota-a", {f"{network.active}@kota-a": b"x" * 32})
    with pytest.raises(PrivacyError, match="did not open"):
        open_identity(handed, forged)
    # raw messages an agency's connector seals open at the hub
    body, kid = seal_body(b'{"nama": "Siti"}', b"K1", mine)
    assert open_body(body, b"K1", kid.decode(), network) == b'{"nama": "Siti"}'


def test_a_ring_is_the_networks_or_one_connectors_never_both():
    import base64 as b64

    key = b64.b64encode(b"k" * 32).decode()
    for keys in ({"k1": key, "k1@a": key}, {"k1@a": key, "k1@b": key}, {"ops@2024@a": key}):
        text = json.dumps({"active": next(iter(keys)), "keys": keys})
        with pytest.raises(PrivacyError, match="mix the network's keys"):
            KeyRing.from_json(text, "test")
    mine = KeyRing.new().for_connector("kota-a")
    assert KeyRing.from_json(mine.to_json(), "test").connector == "kota-a"
    with pytest.raises(PrivacyError, match="not a connector's name"):
        KeyRing.new().for_connector("")


def test_copies_and_anonymous_reports_reach_no_outbound_topic_with_an_identity():
    network = KeyRing.new()
    for made, role in ((report(), "COPY"), (report(anonymous=True), "HANDLER")):
        shown = for_outbound(seal_identity(made, network), role, network, "kota-a")
        person = shown["reporter"]
        assert (person["name"], person["phone"], person["email"]) == (None, None, None)
        assert person["other_contacts"] == {}


def test_raw_messages_are_sealed_whole():
    ring = KeyRing.new()
    body = b'{"pelapor": {"nama": "Siti Canary"}}'
    sealed, kid = seal_body(body, b"LPR-1", ring)
    assert b"Siti" not in sealed
    assert open_body(sealed, b"LPR-1", kid.decode(), ring) == body
    with pytest.raises(PrivacyError):
        open_body(sealed, b"LPR-2", kid.decode(), ring)  # the key is the associated data


def test_the_key_file_is_made_once_private_and_bad_keys_are_refused(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("LAPOR_HUB_IDENTITY_KEYS", raising=False)
    monkeypatch.delenv("LAPOR_HUB_IDENTITY_KEYS_FILE", raising=False)
    first = load_keyring(tmp_path)
    assert load_keyring(tmp_path) == first, "made once, then read"
    assert (tmp_path / "identity-keys.json").stat().st_mode & 0o077 == 0, "mode 0600"
    monkeypatch.setenv("LAPOR_HUB_IDENTITY_KEYS", '{"active": "k9", "keys": {"k1": "AAAA"}}')
    with pytest.raises(PrivacyError, match="not usable"):
        load_keyring(tmp_path)
    monkeypatch.setenv("LAPOR_HUB_IDENTITY_KEYS", "not json")
    with pytest.raises(PrivacyError, match="cannot be read"):
        load_keyring(tmp_path)
    assert os.environ["LAPOR_HUB_IDENTITY_KEYS"] == "not json"


def test_an_identity_sent_as_a_number_is_sealed_too():
    ring = KeyRing.new()
    made = report()
    made["reporter"]["phone"] = 62811000111  # an app that sends JSON numbers
    sealed = seal_identity(made, ring)
    assert sealed["reporter"]["phone"].startswith(FIELD_PREFIX)
    assert open_identity(sealed, ring)["reporter"]["phone"] == "62811000111"
