"""Two machines with different identity key rings cannot both run on one network: the second
is refused at start, with the key that differs and where it came from; a rotation is
published, and a machine still holding the old ring is refused until it has the new one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hub.keyshare import agree, fingerprint, known_keys
from hub.privacy import KeyRing, PrivacyError

pytestmark = [pytest.mark.kafka]


def test_the_first_ring_is_the_networks_and_another_is_refused(own_bootstrap: str) -> None:
    first, other = KeyRing.new(), KeyRing.new()
    agree(own_bootstrap, first, "machine A")
    agree(own_bootstrap, first, "machine A")  # again: nothing changes
    known = known_keys(own_bootstrap)
    assert set(known) == {first.active}
    assert known[first.active]["fingerprint"] == fingerprint(first.keys[first.active])
    assert first.keys[first.active].hex() not in str(known), "a fingerprint, never the key"

    with pytest.raises(PrivacyError) as refused:
        agree(own_bootstrap, other, "/etc/lapor-hub/identity-keys.json")
    message = refused.value.message
    assert f"key {first.active}" in message and "not in this ring" in message
    assert "/etc/lapor-hub/identity-keys.json" in message
    assert set(known_keys(own_bootstrap)) == {first.active}, "a refused ring publishes nothing"
    assert "copy the key ring" in refused.value.fix

    forged = KeyRing(first.active, {first.active: other.keys[other.active]})
    with pytest.raises(PrivacyError, match=f"key {first.active} differs"):
        agree(own_bootstrap, forged, "machine C")


def test_a_rotation_is_published_and_an_old_ring_refused(own_bootstrap: str) -> None:
    ring = KeyRing.new()
    agree(own_bootstrap, ring, "machine A")
    agree(own_bootstrap, ring, "machine B")
    rotated = ring.rotated()  # in a secret store, say: the first machine given it says so
    agree(own_bootstrap, rotated, "machine A")
    assert set(known_keys(own_bootstrap)) == set(rotated.keys)
    with pytest.raises(PrivacyError, match=f"key {rotated.active}"):
        agree(own_bootstrap, ring, "machine B")  # B has not been given the new ring


def test_a_hub_with_another_ring_does_not_start(own_bootstrap: str, tmp_path: Path) -> None:
    agree(own_bootstrap, KeyRing.new(), "machine A")
    config = tmp_path / "hub.yaml"
    config.write_text(
        yaml.safe_dump(
            {"connectors": {"lapor-nasional": {"type": "lapor-json", "agency": "admin-nasional"}}}
        )
    )
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": own_bootstrap,
        "LAPOR_HUB_IDENTITY_KEYS": KeyRing.new().to_json(),
        "COLUMNS": "300",
    }
    done = subprocess.run(
        [sys.executable, "-m", "hub", "up", "--config", str(config), "--no-tracker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "is not the network's" in done.stderr and "LAPOR_HUB_IDENTITY_KEYS" in done.stderr
