"""What a connector raises, classified by the SDK, so that no connector's mistake on one
input stops the hub (the connector author need not have thought of every input).

Three kinds of failure, each with its own way out:
- the record's: it becomes that record's BadInput (then its dead letter, or a 4xx to a
  pushing app), with the exception's class and message, and the stage moves on;
- the app's, for a whole page or answer: UnusableAnswer for a pull or status page (the
  side backs off, its cursor unmoved), RetryableDeliveryError for a delivery or a status
  told (retried with the same idempotency key, then a dead letter);
- the hub's own (Kafka, the event loop): not contained here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Iterator
from typing import TypeVar

from hub.errors import BadInput, HubError, RetryableDeliveryError, UnusableAnswer

T = TypeVar("T")


def described(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:500]}" if text else type(exc).__name__


@contextlib.contextmanager
def record_failures(what: str) -> Iterator[None]:
    """Around a connector's work on one record: what it raises other than the hub's own
    errors is that record's BadInput."""
    try:
        yield
    except HubError:
        raise
    except Exception as exc:
        raise BadInput(f"{what} failed on this input: {described(exc)}") from exc


async def page_of(call: Awaitable[T], connector: str, side: str) -> T:
    """A pull or status page: a BadInput for the whole page, or anything else a connector
    raises but the hub's own errors, is the app's UnusableAnswer (the side backs off)."""
    try:
        return await call
    except BadInput as exc:
        reason = f"{connector} could not read its app's {side} page: {exc.reason}"
        raise UnusableAnswer(reason) from exc
    except HubError:
        raise
    except Exception as exc:
        raise UnusableAnswer(
            f"{connector} could not read its app's {side} page: {described(exc)}"
        ) from exc


@contextlib.contextmanager
def answer_failures(connector: str) -> Iterator[None]:
    """Around a delivery or a status told: an answer the connector could not read (a 200
    without the id it expects, a body that is not what it parses) is retried with the same
    idempotency key, so an app that took it once does not take it twice."""
    try:
        yield
    except HubError:
        raise
    except Exception as exc:
        raise RetryableDeliveryError(
            f"{connector}: the app's answer could not be read ({described(exc)})"
        ) from exc
