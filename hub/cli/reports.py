"""``lapor-hub reports``: one report's whole history; the national administrator's
designation of its handler."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hub.cli.common import HubConfigOption, console, err_console, group_prefix, kafka_bootstrap
from hub.settings import load_settings

reports_app = typer.Typer(
    help="Look at reports as they went through the hub; designate a report's handler.",
    no_args_is_help=True,
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
    bootstrap = kafka_bootstrap(config)
    from hub.config import load_config

    configured = list(load_config(config).connectors) if config else None
    history = report_history(bootstrap, hub_id, serializer, group_prefix(config), configured)
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
        _print_designations(history.tracked)
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
    for column in ("when", "agency", "status", "app's status", "by", "message", "names"):
        table.add_column(column)
    for update in statuses:
        named = (
            f"designates {update['designated_agency']}"
            if update.get("designated_agency")
            else f"suggests {update['suggested_agency']}"
            if update.get("suggested_agency")
            else ""
        )
        table.add_row(
            f"{update['occurred_at']:%Y-%m-%d %H:%M:%S}",
            update["agency"],
            update["status"],
            update["source_status"] or "",
            update["actor"] or "",
            (update["message"] or "")[:60],
            named,
        )
    return table


def _clocks_table(state: dict) -> Table:
    """The tracker's view: each agency's lifecycle and its SLA clocks (working days)."""
    from datetime import UTC, datetime

    from hub.tracker.lifecycle import clock_condition

    def moment(ms: int | None) -> str:
        return "" if ms is None else f"{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d %H:%M}"

    chain = " -> ".join(state["chain"]) or "none"
    condition = state["state"]
    if state.get("awaiting_designation") and state["state"] == "open":
        condition += (
            f", AWAITING DESIGNATION since {moment(state['awaiting_designation']['since'])}"
        )
    table = Table(title=f"tracker: {condition}, re-routing chain: {chain} (times UTC)")
    for column in ("agency", "role", "status", "clock", "started", "due", "clock state"):
        table.add_column(column)
    for agency, entry in state["agencies"].items():
        clocks = entry["clocks"] or {"-": None}
        for name, clock in clocks.items():
            if clock is None:
                started = due = condition = ""
            else:
                started, due = moment(clock["started"]), moment(clock["due"])
                said = clock_condition(clock)
                condition = {"paused": "paused (tunda)", "overdue": "OVERDUE"}.get(said, said)
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


def _print_designations(state: dict) -> None:
    """Designations by the national administrator, agencies named by refusals, and why a
    report waits for a designation."""
    from datetime import UTC, datetime

    def moment(ms: int) -> str:
        return f"{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d %H:%M:%S}"

    waiting = state.get("awaiting_designation")
    if waiting and state["state"] == "open":
        console.print(
            f"[bold yellow]awaiting designation[/] since {moment(waiting['since'])}: "
            f"{waiting['why']}",
            highlight=False,
        )
    for note in state.get("assignments", []):
        relieved = f"; relieved {', '.join(note['relieved'])}" if note["relieved"] else ""
        console.print(
            f"[bold]assignment[/] {moment(note['at'])} to {note['agency']} by {note['by']}: "
            f"{note['reason']} ({note['outcome']}{relieved})",
            highlight=False,
        )
    for note in state.get("suggestions", []):
        console.print(
            f"[bold]suggested[/] {moment(note['at'])} by {note['by']}: {note['named']} "
            f"({note['outcome']})",
            highlight=False,
        )


@reports_app.command("assign")
def reports_assign(
    hub_id: Annotated[str, typer.Argument(help="The report's hub id.")],
    agency: Annotated[str, typer.Argument(help="The agency's id in the directory.")],
    reason: Annotated[
        str,
        typer.Option(
            "--reason",
            help="Why this agency (recorded in the audit trail and the routing decision, and "
            "sent to the reporter's app with the designation).",
        ),
    ],
    operator: Annotated[
        str | None,
        typer.Option(
            "--as",
            help="Who designates, as the decision names it (default: LAPOR_HUB_OPERATOR or "
            "your login; the audit trail records your login beside it).",
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(help="Seconds to wait for the tracker to apply it (0: do not wait)."),
    ] = 30.0,
    config: HubConfigOption = None,
) -> None:
    """The national administrator designates the report's handler: the tracker routes the
    report to AGENCY as its handler, relieves the handlers before it (the origin app is
    told) and ends a wait for a designation. Refused for an agency the directory does not
    have, the national administrator itself, an agency already handling the report, a
    report the tracker does not know or has closed. Recorded in the audit trail first."""
    from hub.config import load_config
    from hub.ops.assign import assign
    from hub.routing import default_rules_dir
    from hub.serialization import TopicSerializer, load_store, make_codec

    settings = load_settings()
    serializer = TopicSerializer(make_codec(settings, load_store(settings)))
    loaded = load_config(config) if config else None
    done = assign(
        kafka_bootstrap(config),
        hub_id,
        agency,
        reason,
        serializer,
        operator=operator,
        rules=loaded.rules if loaded else default_rules_dir(),
        group_prefix=group_prefix(config),
        connectors=set(loaded.connectors) if loaded else None,
        wait=wait,
    )
    relieved = f"; relieves {', '.join(done.previous)}" if done.previous else ""
    console.print(
        f"designation of {done.agency} for {done.hub_id} by {done.operator} recorded (audit "
        f"#{done.audit_seq}) and sent on {done.topic}{relieved}",
        highlight=False,
    )
    if done.applied is None:
        if wait > 0:
            console.print(
                f"the tracker has not applied it within {wait:.0f} s (is it running?); "
                "`lapor-hub reports show ID` shows it once it has",
                highlight=False,
            )
        return
    if done.applied["outcome"] != "assigned":
        err_console.print(
            f"[bold red]the tracker did not assign it:[/] {done.applied['outcome']}",
            highlight=False,
        )
        raise typer.Exit(1)
    console.print(f"routed: {done.agency} (handler); {done.decision}", highlight=False)
