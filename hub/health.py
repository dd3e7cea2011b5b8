"""What each side of each connector is doing, as an operator needs to see it: working,
backing off after an app answered garbage or was down (with the error and since when), or
failing on the hub's own account. One registry per process, exported as Prometheus metrics;
health endpoints and the console read the same registry.

Beside it, what /healthz and /readyz answer (hub.metrics.serve_metrics): a process is alive
while its event loop beats (a loop stuck for STUCK_SECONDS is not; an orchestrator restarts
it), and ready while every readiness check it registered passes (the broker answers, its
consumers hold their assignments, the tracker's tables are recovered). An agency app that is
down makes a side back off, never the process unready: nothing a restart would mend."""

from __future__ import annotations

import time
from collections.abc import Callable
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
STUCK_SECONDS = 60.0

# a readiness check: None when ready, else why not (said on /readyz)
Probe = Callable[[], str | None]


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

    # -- /healthz and /readyz ------------------------------------------------------------

    checks: dict[str, Probe] = field(default_factory=dict)
    beaten_at: float | None = None  # monotonic; None until the process's loop beats

    def ready_when(self, name: str, probe: Probe) -> None:
        self.checks[name] = probe

    def beat(self) -> None:
        self.beaten_at = time.monotonic()

    def liveness(self) -> tuple[bool, dict]:
        quiet = None if self.beaten_at is None else time.monotonic() - self.beaten_at
        alive = quiet is None or quiet < STUCK_SECONDS
        body: dict = {"status": "alive" if alive else f"stuck: no beat for {quiet:.0f} s"}
        body["sides"] = [
            {
                "connector": s.connector,
                "side": s.side,
                "state": s.state,  # the error itself is in the log: an app's answer may
                "failures": s.failures,  # quote a report, and this is unguarded
                "failing_since": s.failing_since,
                "last_success": s.last_success,
            }
            for s in self.snapshot()
        ]
        return alive, body

    def readiness(self) -> tuple[bool, dict]:
        """Each check's verdict ("ok" or why not); ready when all say ok, and not before
        the process has registered its checks (it is still starting)."""
        if not self.checks:
            return False, {"status": "starting", "checks": {}}
        verdicts = {}
        for name, probe in list(self.checks.items()):
            try:
                why = probe()
            except Exception as exc:  # a check that fails says so; the endpoint answers
                why = f"the check failed: {type(exc).__name__}: {exc}"
            verdicts[name] = "ok" if why is None else why
        ready = all(v == "ok" for v in verdicts.values())
        return ready, {"status": "ready" if ready else "not ready", "checks": verdicts}


HEALTH = Health()  # this process's
