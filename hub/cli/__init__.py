"""The ``lapor-hub`` command. It only wires things together: each command group is a module
here that parses, calls the component that does the work, and prints.

    lapor-hub up | connect | tracker | worker route | import | demo | version
    lapor-hub broker | schemas | rules | connectors        (set-up and integrators)
    lapor-hub dlq | retries | reports | audit | security | keys   (operators)
    lapor-hub console                                         (operators, in a browser)
    lapor-hub deploy render                                   (Kubernetes)
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hub.cli import (
    audit,
    broker,
    connectors,
    console,
    deploy,
    dlq,
    reports,
    retries,
    rules,
    run,
    schemas,
    security,
)
from hub.cli.common import err_console, use_kafka_of
from hub.errors import HubError

app = typer.Typer(
    help="lapor-hub: the federated integration hub of SP4N-LAPOR!.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


# commands that never talk to Kafka: a configuration's kafka: section is not theirs to need
WITHOUT_KAFKA = {"version", "deploy", "connectors", "schemas", "broker"}


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="LAPOR_HUB_CONFIG",
            help="A hub configuration whose kafka: section every command uses (where Kafka "
            "is, as whom); commands that take --config of their own use theirs.",
        ),
    ] = None,
) -> None:
    if ctx.invoked_subcommand not in WITHOUT_KAFKA:
        use_kafka_of(config)


app.command()(run.version)
app.add_typer(broker.broker_app, name="broker")
app.add_typer(schemas.schemas_app, name="schemas")
app.add_typer(rules.rules_app, name="rules")
app.add_typer(connectors.connectors_app, name="connectors")
app.add_typer(run.worker_app, name="worker")
app.add_typer(security.security_app, name="security")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(security.keys_app, name="keys")
app.command()(run.tracker)
app.add_typer(dlq.dlq_app, name="dlq")
app.add_typer(retries.retries_app, name="retries")
app.add_typer(reports.reports_app, name="reports")
app.add_typer(deploy.deploy_app, name="deploy")
app.add_typer(console.console_app, name="console")
app.command()(run.demo)
app.command()(run.up)
app.command()(run.connect)
app.command("import")(run.import_)


def main() -> None:
    """Entry point: HubErrors become a two-line message (cause, fix) and exit code 2."""
    import faulthandler
    import signal

    from hub.logs import configure_logging

    configure_logging()
    if hasattr(signal, "SIGUSR1"):  # `kill -USR1 <pid>`: every thread's stack, on stderr
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        app()
    except HubError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}")
        if exc.fix:
            err_console.print(f"[bold]fix:[/] {exc.fix}")
        raise SystemExit(2) from None
