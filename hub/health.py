"""What each side of each connector is doing, as an operator needs to see it: working,
backing off after an app answered garbage or was down (with the error and since when), or
failing on the hub's own account. One registry per process, exported as Prometheus metrics;
health endpoints and the console read the same registry."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prometheus_client import Counter, Gauge

SIDE_UP = Gauge(
    "lapor_side_up",
    "1 while a connector side (pull, status, deliver, feedback, webhook) works, 0 while it "
    "backs off after failures.",
    ["connector", "side"],
)
SIDE_FAILURES = Counter(
    "lapor_side_failures",
    "Failed steps of a connector side, by kind: app (the app was down or answered garbage) "
    "or hub (the hub's own failure; its log has the traceback).",
    ["connector", "side", "kind"],
)
MAX_BACKOFF_SECONDS = 60.0


@dataclass
class SideState:
    connector: str
    side: str
    failures: int = 0  # in a row
    error: str | None = None
    failing_since: float | None = None  # epoch seconds
    last_success: float | None = None

    @property
    def state(self) -> str:
        return "backing off" if self.failures else "working"

    def backoff(self, base: float) -> float:
        """Seconds to wait after the failures in a row: doubling from ``base``, capped."""
        return min(base * 2 ** (self.failures - 1), MAX_BACKOFF_SECONDS) if self.failures else 0


@dataclass
class Health:
    sides: dict[tuple[str, str], SideState] = field(default_factory=dict)

    def side(self, connector: str, side: str) -> SideState:
        key = (connector, side)
        if key not in self.sides:
            self.sides[key] = SideState(connector, side)
            SIDE_UP.labels(connector, side).set(1)
        return self.sides[key]

    def succeeded(self, connector: str, side: str) -> None:
        state = self.side(connector, side)
        if state.failures:
            SIDE_UP.labels(connector, side).set(1)
        state.failures, state.error, state.failing_since = 0, None, None
        state.last_success = time.time()

    def failed(self, connector: str, side: str, error: str, kind: str = "app") -> SideState:
        state = self.side(connector, side)
        state.failures += 1
        state.error = error
        state.failing_since = state.failing_since or time.time()
        SIDE_UP.labels(connector, side).set(0)
        SIDE_FAILURES.labels(connector, side, kind).inc()
        return state

    def snapshot(self) -> list[SideState]:
        return sorted(self.sides.values(), key=lambda s: (s.connector, s.side))


HEALTH = Health()  # this process's
