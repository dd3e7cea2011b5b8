"""Simulated agency apps: real HTTP servers on loopback, for tests and the demo.

Each simulator keeps its app's state in memory (citizens' reports, reports delivered to it,
status changes) and can be told to fail (``fail_next``) the way real apps do: 5xx, 429 with
Retry-After, slow answers. ``serve`` runs one under uvicorn in a thread and gives its URL.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse


@dataclass
class Fault:
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0
    method: str | None = None  # only requests of this method (POST: deliveries, not polls)


@dataclass
class AppState:
    """What every simulated app remembers."""

    reports: list[dict[str, Any]] = field(default_factory=list)  # citizens' reports, in order
    delivered: dict[str, dict[str, Any]] = field(default_factory=dict)  # by the app's id
    idempotency: dict[str, str] = field(default_factory=dict)  # key -> the app's first id
    # every arrival of a delivery, by idempotency key: what the hub sent more than once
    # shows here even where the app kept one record of it
    arrived: Counter[str] = field(default_factory=Counter)
    # False: the app ignores Idempotency-Key, as many agency apps do, and makes a record of
    # every arrival; what the hub sends twice, it then holds twice
    honours_keys: bool = True
    statuses: list[dict[str, Any]] = field(default_factory=list)  # status changes, in order
    # statuses the hub sent back about the app's own reports, by idempotency key, and how
    # many times a key came again (the hub may send twice; the app keeps one)
    feedback: dict[str, dict[str, Any]] = field(default_factory=dict)
    feedback_repeats: int = 0
    feedback_arrived: Counter[str] = field(default_factory=Counter)  # every arrival, by key
    feedback_at: dict[str, float] = field(default_factory=dict)  # key -> first arrival (epoch s)
    arrivals: dict[str, float] = field(default_factory=dict)  # key -> first arrival (epoch s)
    faults: list[Fault] = field(default_factory=list)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # the text values of every report as filed: finds a report by its id without scanning
    # them all (a fault test's origin takes ~15,000 statuses about 5,000 reports)
    _filed_values: set[str] = field(default_factory=set)

    def fail_next(
        self,
        count: int = 1,
        status: int = 503,
        retry_after: float | None = None,
        delay: float = 0.0,
        method: str | None = None,
    ) -> None:
        with self.lock:
            self.faults.extend(Fault(status, retry_after, delay, method) for _ in range(count))

    def file(self, report: dict[str, Any]) -> dict[str, Any]:
        """A citizen's report, as the app lists it from now on."""
        with self.lock:
            self.reports.append(report)
            self._filed_values.update(v for v in report.values() if isinstance(v, str))
        return report

    def remember(self, key: str, document: dict[str, Any], prefix: str) -> tuple[str, bool]:
        """The app's id for a delivery, made once per idempotency key (on every arrival if
        the app ignores keys): (id, created now)."""
        with self.lock:
            known = self.arrive(key)
            if known is not None:
                return known, False
            made = f"{prefix}{len(self.delivered) + 1:06d}"
            self.keep(key, made, document)
            return made, True

    def arrive(self, key: str) -> str | None:
        """Count one arrival of a delivery; the app's id for it if the app already holds its
        key and honours keys, else None (the caller makes a record). Call under ``lock``."""
        self.arrived[key] += 1
        return self.idempotency.get(key) if self.honours_keys else None

    def keep(self, key: str, made: str, document: dict[str, Any]) -> None:
        """Hold a delivery the app made a record of. Call under ``lock``."""
        self.idempotency.setdefault(key, made)
        self.arrivals.setdefault(key, time.time())
        self.delivered[made] = document

    def sent_again(self) -> int:
        """Arrivals of a delivery after its first: the hub sent it again (same key)."""
        with self.lock:
            return sum(self.arrived.values()) - len(self.arrived)

    def held_twice(self) -> int:
        """Records beyond one per idempotency key: deliveries the app holds twice."""
        with self.lock:
            return len(self.delivered) - len(self.idempotency)

    def take_feedback(self, key: str, source_id: str, status: dict[str, Any]) -> bool | None:
        """Record a status the hub sent about report ``source_id``: True if new, False if
        its key came before, None if the app has no such report."""
        with self.lock:
            known = source_id in self._filed_values
            if not known and not any(source_id in r.values() for r in self.reports):
                return None
            self.feedback_arrived[key] += 1
            if key in self.feedback:
                self.feedback_repeats += 1
                return False
            self.feedback[key] = {"source_id": source_id, **status}
            self.feedback_at[key] = time.time()
            return True

    def next_fault(self, method: str = "GET") -> Fault | None:
        with self.lock:
            self.requests += 1
            for number, fault in enumerate(self.faults):
                if fault.method in (None, method):
                    return self.faults.pop(number)
            return None


class _Faults:
    """Answers the next planned fault instead of the app (after its delay). Plain ASGI:
    starlette's BaseHTTPMiddleware would cost a third of the app's speed."""

    def __init__(self, app: Any, state: AppState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        fault = self.state.next_fault(scope.get("method", "GET"))
        if fault is not None and fault.delay:
            await asyncio.sleep(fault.delay)
        if fault is None or fault.status < 400:
            await self.app(scope, receive, send)
            return
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        response = JSONResponse(
            {"error": "simulated failure"}, status_code=fault.status, headers=headers
        )
        await response(scope, receive, send)


def with_faults(app: Starlette, state: AppState) -> Starlette:
    app.add_middleware(_Faults, state=state)
    return app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(app: Any, port: int | None = None) -> Iterator[str]:
    """Run ``app`` on 127.0.0.1 in a background thread; yields its base URL."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"simulator did not start on 127.0.0.1:{port}")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
