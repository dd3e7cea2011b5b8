"""``lapor-hub audit``: the trail of operator actions."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hub.cli.common import Since, console, kafka_bootstrap


def audit_list(
    action: Annotated[
        str | None, typer.Option(help="Only actions starting with this (dlq, identity...).")
    ] = None,
    who: Annotated[str | None, typer.Option(help="Only this operator.")] = None,
    since: Since = None,
) -> None:
    """The audit trail: every replay, rules reload, key rotation and identity reveal, with
    who, where, when, what and the outcome."""
    from hub import audit
    from hub.sdk.reports import parse_time

    found = audit.entries(
        kafka_bootstrap(), action, who, parse_time(since, "--since") if since else None
    )
    table = Table(title=f"audit trail ({len(found)} entries)")
    for column in ("when (UTC)", "who", "host", "action", "what", "outcome"):
        table.add_column(column)
    for entry in found:
        what = ", ".join(f"{k}={v}" for k, v in entry.what.items() if v not in (None, [], ()))
        table.add_row(
            f"{entry.at:%Y-%m-%d %H:%M:%S}",
            entry.who,
            entry.host,
            entry.action,
            what[:120],
            entry.outcome,
        )
    console.print(table)
