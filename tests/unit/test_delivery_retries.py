"""The SDK's retry loop: the first attempt goes without tenacity, the rest through it, and
the policy's attempts, waits and Retry-After hold across the two."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from hub.config import HubConfig, build_connectors
from hub.errors import PermanentDeliveryError, RetryableDeliveryError
from hub.sdk.http import RetryPolicy, with_retries

CONNECTOR = build_connectors(
    HubConfig(connectors={"lapor-nasional": {"type": "lapor-json", "agency": "admin-nasional"}})
)["lapor-nasional"]
QUICK = RetryPolicy(attempts=4, max_seconds=10, initial_wait=0.01, max_wait=0.05)


class Flaky:
    """Fails with ``errors`` in turn, then answers "ok"; counts its calls."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def run(policy: RetryPolicy, call: Flaky) -> str:
    return asyncio.run(with_retries(CONNECTOR, policy, call))


def test_a_first_success_is_one_call() -> None:
    call = Flaky()
    assert run(QUICK, call) == "ok"
    assert call.calls == 1


def test_retryable_failures_are_retried_until_success() -> None:
    call = Flaky(RetryableDeliveryError("503"), RetryableDeliveryError("429"))
    assert run(QUICK, call) == "ok"
    assert call.calls == 3


def test_the_policy_attempts_count_the_first_one() -> None:
    call = Flaky(*(RetryableDeliveryError(f"503 #{n}") for n in range(10)))
    with pytest.raises(RetryableDeliveryError, match="503 #3"):
        run(QUICK, call)
    assert call.calls == QUICK.attempts


def test_one_attempt_means_no_retry() -> None:
    call = Flaky(RetryableDeliveryError("503"))
    with pytest.raises(RetryableDeliveryError):
        run(RetryPolicy(attempts=1), call)
    assert call.calls == 1


def test_a_permanent_failure_is_not_retried() -> None:
    call = Flaky(PermanentDeliveryError("422 isi wajib diisi", 422))
    with pytest.raises(PermanentDeliveryError):
        run(QUICK, call)
    assert call.calls == 1


def test_network_errors_count_as_retryable() -> None:
    call = Flaky(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"))
    assert run(QUICK, call) == "ok"
    assert call.calls == 3


def test_retry_after_is_honoured_on_the_first_and_later_failures() -> None:
    policy = RetryPolicy(attempts=3, max_seconds=10, initial_wait=0.001, max_wait=1.0)
    call = Flaky(RetryableDeliveryError("429", 0.3), RetryableDeliveryError("429", 0.2))
    started = time.monotonic()
    assert run(policy, call) == "ok"
    assert time.monotonic() - started >= 0.5


def test_the_time_limit_includes_the_first_attempt() -> None:
    policy = RetryPolicy(attempts=100, max_seconds=0.6, initial_wait=0.1, max_wait=0.1)
    call = Flaky(*(RetryableDeliveryError("503") for _ in range(100)))
    started = time.monotonic()
    with pytest.raises(RetryableDeliveryError):
        run(policy, call)
    assert time.monotonic() - started < 1.5
    assert 3 <= call.calls <= 8
