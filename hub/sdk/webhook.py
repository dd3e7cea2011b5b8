"""Webhooks: apps that push sign each request; the hub answers 2xx only once it is in Kafka.

Signature header, as Stripe and others do it::

    X-Lapor-Signature: t=1764112345,v1=<hex HMAC-SHA256(secret, "<t>." + body)>

Several secrets may be valid at once (a rotation), comparison is constant-time, and a
timestamp outside the window (default 5 minutes) is refused, so a captured request cannot
be replayed later. Every refusal is a 401 with the reason.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable, Sequence

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub.errors import BadInput
from hub.sdk.base import Connector, RawMessage
from hub.sdk.guard import record_failures

SIGNATURE_HEADER = "X-Lapor-Signature"
WINDOW_SECONDS = 300

Sink = Callable[[list[RawMessage]], Awaitable[object]]
Refuse = Callable[[bytes, str, str], Awaitable[None]]


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value an app sends (used by the simulators and tests)."""
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def verify(
    header: str | None,
    body: bytes,
    secrets: Sequence[SecretStr],
    now: float | None = None,
    window: int = WINDOW_SECONDS,
) -> None:
    if not header:
        raise BadInput(f"missing {SIGNATURE_HEADER} header: sign each request", status=401)
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        if len(parts["t"]) > 12:
            raise ValueError("not a Unix time")
        moment = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError) as exc:
        raise BadInput(
            f"malformed {SIGNATURE_HEADER}: expected t=<unix time>,v1=<hex>", status=401
        ) from exc
    age = (time.time() if now is None else now) - moment
    if abs(age) > window:
        raise BadInput(
            f"signature timestamp is {abs(age):.0f} s away from now (window "
            f"{window} s): stale or replayed request",
            status=401,
        )
    for secret in secrets:
        expected = hmac.new(
            secret.get_secret_value().encode(), f"{moment}.".encode() + body, hashlib.sha256
        ).hexdigest()
        if hmac.compare_digest(expected, given):
            return
    raise BadInput("signature does not match: wrong secret, or the body was changed", status=401)


async def bounded_body(request: Request, limit: int) -> bytes:
    """The request's body, never more than ``limit`` bytes of it read: a declared length
    over the limit is refused before reading, and the body is read in chunks, refused as
    soon as it passes the limit (a sender may declare less than it sends, or nothing)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.strip().isascii() and declared.strip().isdigit()) or len(declared) > 12:
            raise BadInput(f"Content-Length {declared[:40]!r} is not a number", status=400)
        check_size_declared(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        check_size_declared(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def check_size_declared(size: int, limit: int) -> None:
    if size > limit:
        raise BadInput(f"body of {size:,} bytes or more is over the {limit:,}-byte limit", 413)


def webhook_app(
    connector: Connector, secrets: Sequence[SecretStr], sink: Sink, refuse: Refuse | None = None
) -> Starlette:
    """POST / takes one signed request of ``connector``'s app and answers 2xx only after
    ``sink`` has written its messages durably. In a batch, a bad message is refused on its
    own (to ``refuse``, the dead letters, with its reason) and the good ones go on."""

    async def receive(request: Request) -> JSONResponse:
        try:
            body = await bounded_body(request, connector.max_body_bytes)
            verify(request.headers.get(SIGNATURE_HEADER), body, secrets)
            with record_failures(f"{connector.instance} reading a push"):
                parsed = connector.parse_push(body, dict(request.headers))
        except BadInput as refused:
            return JSONResponse({"error": refused.reason}, status_code=refused.status)
        good = [m for m in parsed if isinstance(m, RawMessage)]
        bad = [m for m in parsed if isinstance(m, BadInput)]
        if bad and not good:
            return JSONResponse({"error": "; ".join(b.reason for b in bad)}, status_code=400)
        await sink(good)
        for refused in bad:
            if refuse is not None:
                await refuse(refused.body or body, refused.reason, "webhook")
        return JSONResponse(
            {"accepted": [m.source_id for m in good], "refused": [b.reason for b in bad]},
            status_code=202,
        )

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"connector": connector.instance, "ok": True})

    return Starlette(routes=[Route("/", receive, methods=["POST"]), Route("/health", health)])
