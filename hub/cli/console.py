"""``lapor-hub console``: the operator console in a browser; its local accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hub.cli.common import console, kafka_bootstrap
from hub.errors import HubError

console_app = typer.Typer(
    help="The operator console: serve it (no subcommand), or manage its local accounts.",
    invoke_without_command=True,
)
user_app = typer.Typer(help="The console's local accounts.", no_args_is_help=True)
console_app.add_typer(user_app, name="user")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="The hub's configuration file.")
]


def _accounts_file(config: Path | None) -> Path:
    from hub.config import load_config
    from hub.settings import load_settings

    configured = load_config(config).console.accounts if config else None
    return configured or load_settings().home / "console-accounts.yaml"


@console_app.callback()
def console_serve(
    ctx: typer.Context,
    config: ConfigOption = None,
    host: Annotated[
        str | None, typer.Option(help="Address to serve on (default: console.host, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: console.port, 8400).")] = None,
) -> None:
    """Serve the console: the network, SLA, reports, dead letters, routing and the audit
    trail, for operators who log in (docs/console.md)."""
    if ctx.invoked_subcommand is not None:
        return
    from hub.config import load_config
    from hub.console import open_console, serve
    from hub.console.accounts import load_accounts
    from hub.settings import load_settings

    if config is None:
        raise HubError(
            "the console needs the hub's configuration",
            fix="run `lapor-hub console --config hub.yaml`.",
        )
    loaded = load_config(config)
    settings = loaded.console
    accounts = settings.accounts or load_settings().home / "console-accounts.yaml"
    if not load_accounts(accounts).users and settings.oidc is None:
        console.print(
            f"[yellow]no console accounts in {accounts}[/]: add one with `lapor-hub console "
            "user add NAME --role national`",
            highlight=False,
        )
    running = open_console(loaded, kafka_bootstrap(config))
    host, port = host or settings.host, port or settings.port
    console.print(f"console on http://{host}:{port}/ (Ctrl-C stops)")
    try:
        serve(running, host, port, load_settings().home)
    finally:
        running.stop()


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The login name.")],
    role: Annotated[
        str, typer.Option(help="viewer, agency (an agency's operator) or national.")
    ] = "viewer",
    agency: Annotated[
        str | None, typer.Option(help="The agency of an agency operator (a directory id).")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Add a user, or set a user's password and role: the password is asked twice
    (LAPOR_HUB_CONSOLE_PASSWORD gives it to a script) and stored as an Argon2id hash."""
    import os

    from hub.console.accounts import ROLES, add_user

    if role not in ROLES:
        raise typer.BadParameter(f"one of {', '.join(ROLES)}", param_hint="--role")
    if config is not None and agency is not None:
        from hub.config import load_config
        from hub.ops.assign import directory_of

        if agency not in directory_of(load_config(config).rules):
            raise typer.BadParameter(f"{agency} is not in the directory", param_hint="--agency")
    password = os.environ.get("LAPOR_HUB_CONSOLE_PASSWORD") or typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    path = _accounts_file(config)
    try:
        add_user(path, name, password, role, agency)  # type: ignore[arg-type]
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    console.print(f"{name} ({role}{': ' + agency if agency else ''}) in {path}", highlight=False)


@user_app.command("remove")
def user_remove(
    name: Annotated[str, typer.Argument(help="The login name.")], config: ConfigOption = None
) -> None:
    """Remove a user: their sessions end at their next request."""
    from hub.console.accounts import remove_user

    if not remove_user(_accounts_file(config), name):
        raise HubError(f"no console user {name}", fix="`lapor-hub console user list` names them.")
    console.print(f"{name} removed")


@user_app.command("list")
def user_list(config: ConfigOption = None) -> None:
    """The local accounts and their roles (never their hashes)."""
    from hub.console.accounts import load_accounts

    path = _accounts_file(config)
    table = Table(title=str(path))
    for column in ("user", "role", "agency"):
        table.add_column(column)
    for name, account in sorted(load_accounts(path).users.items()):
        table.add_row(name, account.role, account.agency or "")
    console.print(table)
