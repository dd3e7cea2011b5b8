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


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing X-Lapor-Signature"),
        ("v1=abc", "malformed X-Lapor-Signature"),
        (sign("kunci-lain", BODY), "signature does not match"),
        (sign("kunci-baru", BODY, timestamp=int(time.time()) - 3600), "stale or replayed"),
        (sign("kunci-baru", BODY, timestamp=int(time.time()) + 3600), "stale or replayed"),
    ],
)
def test_refusals_are_401_with_the_reason(header: str | None, reason: str) -> None:
    with pytest.raises(BadInput) as refused:
        verify(header, BODY, SECRETS)
    assert refused.value.status == 401 and reason in refused.value.reason


def test_a_changed_body_does_not_verify() -> None:
    with pytest.raises(BadInput, match="body was changed"):
        verify(sign("kunci-baru", BODY), BODY + b" ", SECRETS)


def test_secrets_never_appear_in_the_reason() -> None:
    with pytest.raises(BadInput) as refused:
        verify(sign("kunci-lain", BODY), BODY, SECRETS)
    assert "kunci" not in str(refused.value)
