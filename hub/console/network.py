"""The network page's numbers: the same ones Prometheus scrapes, read by the console from
each hub process's /metrics and /healthz every few seconds (hub.metrics.serve_metrics).

The console scrapes the processes its configuration names (``console.scrape``; by default
the hub's own metrics address and its tracker's, port + 1), so what an operator sees here
and what an alert fires on cannot disagree. Rates are the counters' change between two
scrapes.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

SCRAPE_SECONDS = 5.0
TRACKER_GAUGES = {
    "lapor_agency_open_reports": "open",
    "lapor_agency_overdue_reports": "overdue",
    "lapor_reports_awaiting_designation": "awaiting_designation",
    "lapor_tracker_clocks_waiting_for_calendar": "clocks_waiting_for_calendar",
}


@dataclass
class Side:
    connector: str
    side: str
    state: str
    failures: int
    failing_since: float | None
    last_success: float | None
    process: str
    app_failures: float = 0.0  # failed steps so far, the app's fault
    hub_failures: float = 0.0  # and the hub's own


@dataclass
class Process:
    """One scraped process, as last seen."""

    address: str
    reachable: bool = False
    error: str | None = None
    alive: str | None = None  # /healthz's status
    scraped_at: float | None = None  # epoch seconds
    leases: list[str] = field(default_factory=list)  # the lease groups it holds
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)


@dataclass
class Snapshot:
    processes: list[Process]
    sides: list[Side]
    rates: dict[tuple[str, str], float]  # (stage, outcome) -> records per second
    totals: dict[tuple[str, str], float]  # (stage, outcome) -> records so far
    lag: dict[tuple[str, str], float]  # (stage, topic) -> records behind
    tracker: dict[str, float]  # open, overdue, awaiting designation... summed
    taken_at: float


def _labels(sample: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(sample.labels.items()))


def parse_metrics(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name, _labels(sample)] = sample.value
    return samples


class Scraper:
    """Scrapes ``addresses`` (host:port) from a thread; ``snapshot()`` is the latest."""

    def __init__(self, addresses: list[str]) -> None:
        self.addresses = addresses
        self.processes = {a: Process(a) for a in addresses}
        self._before: dict[str, tuple[float, dict]] = {}
        self._rates: dict[tuple[str, str], float] = {}
        self._sides: list[Side] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="console-scrape")

    def start(self) -> Scraper:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(timeout=3.0) as client:
            while not self._stop.is_set():
                self.scrape_once(client)
                self._stop.wait(SCRAPE_SECONDS)

    def scrape_once(self, client: httpx.Client) -> None:
        sides: list[Side] = []
        rates: dict[tuple[str, str], float] = defaultdict(float)
        for address in self.addresses:
            process = Process(address)
            try:
                metrics = client.get(f"http://{address}/metrics")
                health = client.get(f"http://{address}/healthz")
                samples = parse_metrics(metrics.text)
                body = health.json()
            except (httpx.HTTPError, ValueError) as exc:
                process.error = f"{type(exc).__name__}: {exc}"[:200]
                with self._lock:
                    self.processes[address] = process
                continue
            now = time.time()
            process.reachable, process.scraped_at, process.samples = True, now, samples
            process.alive = body.get("status")
            process.leases = [
                dict(labels)["group"]
                for (name, labels), value in samples.items()
                if name == "lapor_lease_held" and value == 1
            ]
            failures = {
                (dict(labels)["connector"], dict(labels)["side"], dict(labels)["kind"]): value
                for (name, labels), value in samples.items()
                if name == "lapor_side_failures_total"
            }
            for entry in body.get("sides", []):
                connector, side = entry["connector"], entry["side"]
                sides.append(
                    Side(
                        connector,
                        side,
                        entry.get("state", "?"),
                        int(entry.get("failures") or 0),
                        entry.get("failing_since"),
                        entry.get("last_success"),
                        address,
                        failures.get((connector, side, "app"), 0.0),
                        failures.get((connector, side, "hub"), 0.0),
                    )
                )
            before = self._before.get(address)
            if before is not None and now > before[0]:
                earlier = _stage_totals(before[1])
                for key, value in _stage_totals(samples).items():
                    rates[key] += max(0.0, value - earlier.get(key, 0.0)) / (now - before[0])
            self._before[address] = (now, samples)
            with self._lock:
                self.processes[address] = process
        with self._lock:
            self._sides, self._rates = sides, dict(rates)

    def snapshot(self) -> Snapshot:
        with self._lock:
            processes = [self.processes[a] for a in self.addresses]
            sides, rates = list(self._sides), dict(self._rates)
        totals: dict[tuple[str, str], float] = defaultdict(float)
        lag: dict[tuple[str, str], float] = defaultdict(float)
        tracker: dict[str, float] = defaultdict(float)
        for process in processes:
            for key, value in _stage_totals(process.samples).items():
                totals[key] += value
            for (name, labels), value in process.samples.items():
                named = dict(labels)
                if name == "lapor_consumer_lag":
                    lag[named["stage"], named["topic"]] += value
                elif name in TRACKER_GAUGES:
                    tracker[TRACKER_GAUGES[name]] += value
        return Snapshot(
            processes, sides, rates, dict(totals), dict(lag), dict(tracker), time.time()
        )


def _stage_totals(samples: dict) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["stage"], dict(labels)["outcome"]): value
        for (name, labels), value in samples.items()
        if name == "lapor_stage_records_total"
    }
