"""HTTP answers mapped to what the SDK does next, and delivery with retries.

The connector never retries by itself: it calls ``raise_for_status`` (or lets httpx errors
through ``transport_errors``) and the SDK decides. 408, 425, 429 and 5xx, timeouts and
refused connections are retryable; other 4xx are permanent. Retries back off exponentially
with jitter and honour Retry-After; the idempotency key is the same on every attempt, so an
app that took a delivery whose answer was lost does not get it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import httpx
import orjson
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from hub.errors import PermanentDeliveryError, RetryableDeliveryError
from hub.sdk.base import Connector, Delivered
from hub.sdk.guard import answer_failures

RETRYABLE_STATUS = {408, 425, 429}
T = TypeVar("T")


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (it may be a number of seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    with contextlib.suppress(TypeError, ValueError):
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    return None


def raise_for_status(response: httpx.Response, what: str = "the app") -> None:
    if response.is_success:
        return
    status = response.status_code
    detail = response.text[:200].strip()
    message = f"{what} answered HTTP {status} {response.reason_phrase}: {detail}"
    if status in RETRYABLE_STATUS or status >= 500:
        raise RetryableDeliveryError(
            message, retry_after_seconds(response.headers.get("Retry-After"))
        )
    raise PermanentDeliveryError(message, status)


def json_body(value: Any) -> bytes:
    """``value`` as a request's JSON body: UTF-8, characters unescaped, compact (as httpx's
    ``json=`` sends it); what JSON has no type for (a datetime, a Decimal) as its str(). A
    tenth of json.dumps's CPU on a report's payload (orjson), once per delivery."""
    return orjson.dumps(value, default=str, option=_JSON_BODY)


_JSON_BODY = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


async def post_to_app(
    client: httpx.AsyncClient, url: str, content: bytes, headers: dict[str, str]
) -> httpx.Response:
    """POST ``content``: straight through aiohttp when the client is the hub's own
    (hub.sdk.access.AppClient: a third of the CPU), else through httpx. Same answer,
    same errors."""
    direct = getattr(client, "post_direct", None)
    if direct is not None:
        return await direct(url, content, headers)
    return await client.post(url, content=content, headers=headers)


async def post_delivery(
    client: httpx.AsyncClient,
    url: str,
    content: bytes,
    idempotency_key: str,
    what: str,
    content_type: str = "application/json",
) -> httpx.Response:
    """POST a delivery with its idempotency key; a failed answer raises the SDK's errors."""
    headers = {"Content-Type": content_type, "Idempotency-Key": idempotency_key}
    response = await post_to_app(client, url, content, headers)
    raise_for_status(response, what)
    return response


@contextlib.contextmanager
def transport_errors(what: str = "the app") -> Iterator[None]:
    """httpx's network errors, as retryable delivery errors."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise RetryableDeliveryError(
            f"{what} did not answer in time ({type(exc).__name__})"
        ) from exc
    except httpx.TransportError as exc:
        raise RetryableDeliveryError(f"{what} could not be reached: {exc}") from exc


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    max_seconds: float = 60.0
    initial_wait: float = 0.5
    max_wait: float = 20.0


DEFAULT_POLICY = RetryPolicy()


def _wait(policy: RetryPolicy, earlier_attempts: int = 0):
    backoff = wait_exponential_jitter(multiplier=policy.initial_wait, max=policy.max_wait)

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        asked = getattr(error, "retry_after", None)
        if asked is not None:
            return min(asked, policy.max_wait)
        return backoff(_Attempt(state.attempt_number + earlier_attempts))

    return wait


@dataclass(frozen=True)
class _Attempt:
    """What the backoff reads of tenacity's call state: the attempt's number."""

    attempt_number: int


async def deliver_with_retries(
    connector: Connector,
    client: httpx.AsyncClient,
    routed: dict[str, Any],
    idempotency_key: str,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> Delivered:
    """Deliver once, retrying what is retryable; raises the last error when it gives up."""
    return await with_retries(
        connector, policy, lambda: connector.deliver(client, routed, idempotency_key)
    )


async def send_status_with_retries(
    connector: Connector,
    client: httpx.AsyncClient,
    update: dict[str, Any],
    source_id: str,
    policy: RetryPolicy = DEFAULT_POLICY,
) -> None:
    """Tell the origin app a status once, retrying what is retryable."""
    await with_retries(
        connector,
        policy,
        lambda: connector.send_status(client, update, source_id, update["update_id"]),
    )


async def with_retries(
    connector: Connector, policy: RetryPolicy, call: Callable[[], Awaitable[T]]
) -> T:
    """The first attempt is made directly: almost every delivery succeeds at once, and
    tenacity's bookkeeping cost a tenth of a delivery's CPU. Only a retryable failure
    starts the retry loop, which counts that first attempt and its time."""
    started = time.monotonic()
    try:
        with answer_failures(connector.instance), transport_errors(connector.instance):
            return await call()
    except RetryableDeliveryError as error:
        if policy.attempts < 2:
            raise
        first = RetryCallState(None, None, (), {})
        first.set_exception((type(error), error, error.__traceback__))
        await asyncio.sleep(_wait(policy)(first))
    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.attempts - 1)
        | stop_after_delay(max(0.0, policy.max_seconds - (time.monotonic() - started))),
        wait=_wait(policy, earlier_attempts=1),
        retry=retry_if_exception_type(RetryableDeliveryError),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt, answer_failures(connector.instance), transport_errors(connector.instance):
            return await call()
    raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover
