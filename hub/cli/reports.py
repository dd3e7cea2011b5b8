"""``lapor-hub reports``: one report's whole history."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hub.cli.common import HubConfigOption, console, group_prefix, kafka_bootstrap
from hub.settings import load_settings

reports_app = typer.Typer(
    help="Look at reports as they went through the hub.", no_args_is_help=True
)


@reports_app.command("show")
def reports_show(
    hub_id: Annotated[str, typer.Argument(help="The report's hub id.")],
    show_identity: Annotated[
        bool, typer.Option("--show-identity", help="Print the reporter's name and contacts.")
    ] = False,
    config: HubConfigOption = None,
) -> None:
    """A report's whole history: source, each routing decision with its rules version,
    deliveries and failed attempts, status changes, the SLA clocks of each agency (from the
    tracker), dead letters. The reporter is hidden unless asked (a reveal is audited)."""
    from hub.ops.history import report_history
    from hub.ops.reveal import hidden, revealed
    from hub.serialization import TopicSerializer, load_store, make_codec

    settings = load_settings()
    serializer = TopicSerializer(make_codec(settings, load_store(settings)))
    bootstrap = kafka_bootstrap()
    history = report_history(bootstrap, hub_id, serializer, group_prefix(config))
    if not history.found:
        console.print(f"no report {hub_id} on this cluster")
        raise typer.Exit(1)
    if history.report:
        report = history.report
        shown = revealed(bootstrap, report, "reports show") if show_identity else hidden(report)
        _print_report(report, shown["reporter"])
    _print_route(history)
    if history.statuses:
        console.print(_statuses_table(history.statuses))
    if history.tracked:
        console.print(_clocks_table(history.tracked))
    for stage, reason in history.dead_letters:
        console.print(f"[bold red]dead letter[/] ({stage}): {reason}", highlight=False)


def _print_report(report: dict, reporter: dict) -> None:
    source, location = report["source"], report["location"]
    console.print(
        f"[bold]{report['kind']}[/] {report['title']!r} from {source['connector']} "
        f"({source['agency']}, {source['channel']}) id {source['source_id']}, "
        f"received {report['received_at']:%Y-%m-%d %H:%M:%S}",
        highlight=False,
    )
    console.print(
        f"  location {location['region_code'] or '-'} {location['address'] or ''}",
        highlight=False,
    )
    console.print(
        f"  reporter {reporter['name'] or '-'} {reporter['phone'] or ''} "
        f"{reporter['email'] or ''} anonymous={reporter['anonymous']} "
        f"confidential={reporter['confidential']}",
        highlight=False,
    )
    console.print(f"  {report['body'][:300]}", highlight=False, soft_wrap=True)


def _print_route(history) -> None:
    """Each decision, each failed attempt, each delivery acknowledged."""
    for decision in history.decisions:
        targets = ", ".join(
            f"{d['agency']} ({d['role'].lower()})" for d in decision["destinations"]
        )
        console.print(
            f"[bold]routed[/] {decision['decided_at']:%Y-%m-%d %H:%M:%S} rules "
            f"{decision['rules_version']}: {targets}; {decision['reason']}",
            highlight=False,
        )
        if decision.get("location_note"):
            console.print(f"  location: {decision['location_note']}", highlight=False)
    for when, agency, why in history.attempts:
        console.print(f"[bold]attempt failed[/] {when} {agency}: {why}", highlight=False)
    for agency, remote in sorted(history.deliveries.items()):
        console.print(f"[bold]delivered[/] to {agency}: their id {remote}", highlight=False)


def _statuses_table(statuses: list[dict]) -> Table:
    table = Table(title="status")
    for column in ("when", "agency", "status", "app's status", "by", "message"):
        table.add_column(column)
    for update in statuses:
        table.add_row(
            f"{update['occurred_at']:%Y-%m-%d %H:%M:%S}",
            update["agency"],
            update["status"],
            update["source_status"] or "",
            update["actor"] or "",
            (update["message"] or "")[:60],
        )
    return table


def _clocks_table(state: dict) -> Table:
    """The tracker's view: each agency's lifecycle and its SLA clocks (working days)."""
    from datetime import UTC, datetime

    def moment(ms: int | None) -> str:
        return "" if ms is None else f"{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d %H:%M}"

    chain = " -> ".join(state["chain"]) or "none"
    table = Table(title=f"tracker: {state['state']}, re-routing chain: {chain} (times UTC)")
    for column in ("agency", "role", "status", "clock", "started", "due", "clock state"):
        table.add_column(column)
    for agency, entry in state["agencies"].items():
        clocks = entry["clocks"] or {"-": None}
        for name, clock in clocks.items():
            if clock is None:
                started = due = condition = ""
            else:
                started, due = moment(clock["started"]), moment(clock["due"])
                condition = (
                    "stopped"
                    if clock.get("stopped") is not None
                    else "paused (tunda)"
                    if clock.get("paused_at") is not None
                    else "OVERDUE"
                    if clock.get("overdue")
                    else "running"
                )
                if clock.get("paused_days"):
                    condition += f", {clock['paused_days']} working days paused"
            table.add_row(
                agency,
                entry["role"].lower(),
                entry["status"] or "",
                name,
                started,
                due,
                condition,
            )
    return table
