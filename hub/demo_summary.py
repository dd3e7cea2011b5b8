"""The demo's summary: what it counted at every app and topic, and how it is printed."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table


@dataclass
class DemoSummary:
    filed: Counter = field(default_factory=Counter)  # per origin connector
    malformed: int = 0
    routed: int = 0
    destinations: Counter = field(default_factory=Counter)
    unmatched: int = 0
    delivered: Counter = field(default_factory=Counter)  # per destination app, counted there
    statuses: Counter = field(default_factory=Counter)
    told: Counter = field(default_factory=Counter)  # statuses received by each origin app
    to_tell: Counter = field(default_factory=Counter)  # handlers' statuses, per origin
    dead_letters: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def lost(self) -> int:
        return sum(self.filed.values()) - self.malformed - self.routed


def _counts_table(title: str, what: str, unit: str, rows: list[tuple[str, int]]) -> Table:
    table = Table(title=title)
    table.add_column(what)
    table.add_column(unit, justify="right")
    for name, count in rows:
        table.add_row(name, str(count))
    return table


def print_summary(console: Console, summary: DemoSummary) -> None:
    filed = _counts_table(
        "reports in, per origin app", "connector", "filed", sorted(summary.filed.items())
    )
    filed.add_row("[bold]all[/]", f"[bold]{sum(summary.filed.values())}[/]")
    console.print(filed)
    console.print(
        _counts_table(
            f"routed: {summary.routed} reports, {summary.unmatched} to the fallback",
            "destination kind",
            "destinations",
            summary.destinations.most_common(),
        )
    )
    console.print(
        _counts_table(
            "delivered (counted at the destination apps)",
            "app",
            "reports",
            sorted(summary.delivered.items()),
        )
    )
    console.print(
        _counts_table(
            "status updates read back from the apps",
            "status",
            "updates",
            summary.statuses.most_common(),
        )
    )
    told = Table(title="statuses returned to the origin apps (counted there, once each)")
    for column in ("origin app", "handlers' statuses", "received"):
        told.add_column(column, justify="left" if column == "origin app" else "right")
    for origin in sorted(summary.filed):
        told.add_row(origin, str(summary.to_tell[origin]), str(summary.told[origin]))
    console.print(told)
    console.print(
        _counts_table(
            "dead letters (refused, with the reason)",
            "stage: reason",
            "messages",
            summary.dead_letters.most_common(),
        )
    )
    latencies = sorted(summary.latencies_ms)
    if latencies:
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        console.print(
            f"latency from the hub receiving a report to the app's 2xx: "
            f"p50 {p50:.0f} ms, p99 {p99:.0f} ms ({len(latencies)} deliveries, in one burst "
            "on a broker and a hub just started, whose first transactions take 0.3-0.5 s "
            "each; steady figures in bench/README.md: p50 ~100 ms at 200 reports/s)"
        )
    rate = summary.routed / summary.seconds if summary.seconds else 0
    console.print(
        f"throughput: {summary.routed} reports routed in {summary.seconds:.1f} s "
        f"({rate:.0f}/s; the demo's pace is set by the apps' polling, not the hub)"
    )
    console.print(
        f"\n[bold]demo: filed={sum(summary.filed.values())} malformed={summary.malformed} "
        f"routed={summary.routed} delivered={sum(summary.delivered.values())} "
        f"statuses={sum(summary.statuses.values())} "
        f"told_origins={sum(summary.told.values())}/{sum(summary.to_tell.values())} "
        f"lost={summary.lost}[/]"
    )
