"""``lapor-hub retries``: what waits in lapor.retry.* to be tried again."""

from __future__ import annotations

import typer
from rich.table import Table

from hub.cli.common import HubConfigOption, console, group_prefix, kafka_bootstrap

retries_app = typer.Typer(
    help="Retries: what waits in lapor.retry.* to be tried again.", no_args_is_help=True
)


@retries_app.command("list")
def retries_list(config: HubConfigOption = None) -> None:
    """Deliveries and statuses waiting to be tried again, by stage and connector: how
    many, how many only held behind an earlier status of their report, the most attempts,
    when the oldest first failed, when the next and the last are due, the last reason."""
    from hub.dataplane.retries import DEFAULT_SCHEDULE
    from hub.ops.retries import overdue, pending_retries, waiting_groups

    prefix = group_prefix(config)
    pending = pending_retries(kafka_bootstrap(config), prefix)
    if not pending:
        console.print("nothing waits in retries")
        return
    table = Table(title=f"{len(pending)} records wait in retries (times in UTC)")
    columns = ("stage", "connector", "waiting", "held", "attempts", "first failed")
    for column in (*columns, "next due", "last due"):
        table.add_column(column, no_wrap=True)
    table.add_column("last reason", no_wrap=True, overflow="ellipsis", max_width=36)
    for group in waiting_groups(pending):
        table.add_row(
            group.stage,
            group.connector,
            str(group.waiting),
            str(group.held),
            str(group.attempts),
            group.first_failed,
            f"{group.next_due:%m-%d %H:%M:%S}",
            f"{group.last_due:%m-%d %H:%M:%S}",
            group.last_reason,
        )
    console.print(table)
    console.print(
        "held: waiting only behind an earlier status of their report. Each goes back where "
        "it failed when due (the retry workers of `lapor-hub up`); after "
        f"{DEFAULT_SCHEDULE.max_attempts} attempts it is a dead letter (`lapor-hub dlq list`)."
    )
    late = overdue(pending)
    if late:
        console.print(
            f"[bold red]{late} are more than a minute past due[/]: no retry worker sends "
            f"them back for group prefix {prefix!r} (is `lapor-hub up` running with it?)."
        )
