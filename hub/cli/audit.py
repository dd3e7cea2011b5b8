"""``lapor-hub audit``: the trail of operator actions, and its chain verified."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hub.cli.common import Since, console, err_console, kafka_bootstrap

audit_app = typer.Typer(
    help="The audit trail: every replay, rules reload, key rotation, security change and "
    "identity reveal. Without a subcommand, list it.",
    invoke_without_command=True,
)


@audit_app.callback()
def audit_list(
    ctx: typer.Context,
    action: Annotated[
        str | None, typer.Option(help="Only actions starting with this (dlq, identity...).")
    ] = None,
    who: Annotated[str | None, typer.Option(help="Only this principal or login.")] = None,
    since: Since = None,
) -> None:
    """The audit trail: every replay, rules reload, key rotation and identity reveal, with
    who (the Kafka principal, and the operator's login), where, when, what and the outcome.
    A record that is not an audit record is listed as such."""
    if ctx.invoked_subcommand is not None:
        return
    from hub import audit
    from hub.sdk.reports import parse_time

    found = audit.entries(
        kafka_bootstrap(), action, who, parse_time(since, "--since") if since else None
    )
    table = Table(title=f"audit trail ({len(found)} entries)")
    for column in ("#", "when (UTC)", "who", "login", "host", "action", "what", "outcome"):
        table.add_column(column)
    for item in found:
        entry = item.entry
        if entry is None:
            table.add_row(str(item.offset), "", "", "", "", "[red]malformed[/]", item.malformed)
            continue
        what = ", ".join(f"{k}={v}" for k, v in entry.what.items() if v not in (None, [], ()))
        table.add_row(
            str(item.offset),
            f"{entry.at:%Y-%m-%d %H:%M:%S}",
            entry.who,
            entry.login,
            entry.host,
            entry.action,
            what[:120],
            entry.outcome,
        )
    console.print(table)


@audit_app.command("verify")
def audit_verify(
    public_key: Annotated[
        str | None,
        typer.Option(help="The audit key's public half (default: from the hub's audit key)."),
    ] = None,
) -> None:
    """Check the whole chain: every record signed by the hub's audit key and chained to the
    one before it. Names the first record edited, removed or inserted; exits 1 if any."""
    from hub import audit

    key = public_key or audit.public_key_text(audit.signing_key(create=False))
    verdict = audit.verify(audit.read_trail(kafka_bootstrap()), key)
    if not verdict.intact:
        err_console.print(f"[bold red]the audit trail is broken[/]: {verdict.first_break}")
        for more in verdict.breaks[1:10]:
            err_console.print(f"  also: {more}", highlight=False)
        raise typer.Exit(1)
    note = f" ({verdict.unchained} from before the chain began)" if verdict.unchained else ""
    console.print(f"audit trail intact: {verdict.checked} records{note}")


@audit_app.command("key")
def audit_key() -> None:
    """The public half of the hub's audit key, for whoever verifies the trail elsewhere."""
    from hub import audit

    console.print(audit.public_key_text(audit.signing_key(create=False)))
