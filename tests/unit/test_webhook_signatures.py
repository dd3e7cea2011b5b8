"""Webhook signatures: rotation, constant-time comparison, replay window, clear reasons."""

from __future__ import annotations

import time

import pytest
from pydantic import SecretStr

from hub.errors import BadInput
from hub.sdk.webhook import sign, verify

BODY = b'{"id": "SMS-1", "dari": "+62812", "pesan": "LAPOR jalan rusak"}'
SECRETS = [SecretStr("kunci-lama"), SecretStr("kunci-baru")]


def test_both_secrets_of_a_rotation_are_accepted() -> None:
    verify(sign("kunci-lama", BODY), BODY, SECRETS)
    verify(sign("kunci-baru", BODY), BODY, SECRETS)


def header_for(case: str) -> str | None:
    """Made when the test runs: a signature made at collection time would be stale by then."""
    now = int(time.time())
    return {
        "missing": None,
        "malformed": "v1=abc",
        "wrong secret": sign("kunci-lain", BODY),
        "an hour old": sign("kunci-baru", BODY, timestamp=now - 3600),
        "an hour ahead": sign("kunci-baru", BODY, timestamp=now + 3600),
    }[case]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("missing", "missing X-Lapor-Signature"),
        ("malformed", "malformed X-Lapor-Signature"),
        ("wrong secret", "signature does not match"),
        ("an hour old", "stale or replayed"),
        ("an hour ahead", "stale or replayed"),
    ],
)
def test_refusals_are_401_with_the_reason(case: str, reason: str) -> None:
    with pytest.raises(BadInput) as refused:
        verify(header_for(case), BODY, SECRETS)
    assert refused.value.status == 401 and reason in refused.value.reason


def test_a_changed_body_does_not_verify() -> None:
    with pytest.raises(BadInput, match="body was changed"):
        verify(sign("kunci-baru", BODY), BODY + b" ", SECRETS)


def test_secrets_never_appear_in_the_reason() -> None:
    with pytest.raises(BadInput) as refused:
        verify(sign("kunci-lain", BODY), BODY, SECRETS)
    assert "kunci" not in str(refused.value)
