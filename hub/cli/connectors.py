"""``lapor-hub connectors``: what plugs agency apps in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hub.cli.common import console, err_console

connectors_app = typer.Typer(
    help="Connectors that plug agency apps in: list, show, test a sample, scaffold a new one.",
    no_args_is_help=True,
)


@connectors_app.command("list")
def connectors_list() -> None:
    """Every installed connector (built-in or from another package) and what it can do."""
    from hub.sdk import available

    table = Table(title="connectors (entry-point group lapor_hub.connectors)")
    for column in ("name", "title", "capabilities", "class"):
        table.add_column(column)
    for name, cls in available().items():
        table.add_row(
            name,
            cls.title,
            ", ".join(sorted(c.value for c in cls.capabilities)),
            f"{cls.__module__}.{cls.__qualname__}",
        )
    console.print(table)


@connectors_app.command("show")
def connectors_show(name: Annotated[str, typer.Argument(help="Connector name.")]) -> None:
    """A connector's capabilities and the JSON schema of its configuration."""
    from hub.sdk import get_connector

    console.print_json(data=get_connector(name).describe())


def _load_config(path: Path | None, agency: str | None) -> dict:
    import yaml

    config = yaml.safe_load(path.read_text(encoding="utf-8")) if path else {}
    if agency:
        config["agency"] = agency
    config.setdefault("agency", "contoh")
    return config


@connectors_app.command("test")
def connectors_test(
    name: Annotated[str, typer.Argument(help="Connector name.")],
    sample: Annotated[Path, typer.Option("--sample", help="A message, push body or export file.")],
    config: Annotated[
        Path | None, typer.Option("--config", help="Connector settings (YAML or JSON).")
    ] = None,
    agency: Annotated[str | None, typer.Option(help="The agency the app belongs to.")] = None,
    show_identity: Annotated[
        bool, typer.Option("--show-identity", help="Print reporters' names and contacts.")
    ] = False,
) -> None:
    """Translate a sample both ways: print the canonical report and what the app would
    receive for it, or the exact reason it was refused. Exits 1 if anything was refused."""
    import json

    from hub.errors import BadInput
    from hub.privacy import redact_identity
    from hub.sdk import Capability, RawMessage, get_connector
    from hub.sdk.testing import DECISION

    connector = get_connector(name)(_load_config(config, agency))
    data = sample.read_bytes()
    content_type = {".xml": "application/xml", ".csv": "text/csv"}.get(
        sample.suffix.lower(), "application/json"
    )
    refused = 0
    try:
        if Capability.FILE in connector.capabilities:
            messages = list(connector.read_file(data))
        elif Capability.PUSH in connector.capabilities:
            messages = connector.parse_push(data, {})
        else:
            messages = [RawMessage(sample.stem, data, content_type)]
    except BadInput as exc:
        messages = [exc]
    for message in messages:
        if isinstance(message, BadInput):
            refused += 1
            err_console.print(f"[red]refused:[/] {message.reason}", highlight=False)
            continue
        try:
            report = connector.to_report(message)
        except BadInput as exc:
            refused += 1
            err_console.print(f"[red]refused {message.source_id}:[/] {exc.reason}", highlight=False)
            continue
        shown = report if show_identity else redact_identity(report)
        console.print(f"[bold]canonical report[/] (hub id {report['hub_id']})")
        console.print_json(json.dumps(shown, default=str, ensure_ascii=False))
        if Capability.DELIVER in connector.capabilities:
            payload = connector.from_routed({"report": report, "decision": DECISION})
            console.print("[bold]what the app receives for it[/]")
            console.print(payload.decode("utf-8", "replace"), highlight=False, soft_wrap=True)
    console.print(f"{len(messages) - refused} translated, {refused} refused")
    if refused:
        raise typer.Exit(1)


@connectors_app.command("new")
def connectors_new(
    name: Annotated[str, typer.Argument(help="The new connector's name, e.g. pemkot-contoh.")],
    directory: Annotated[Path, typer.Option("--dir", help="Where to create it.")] = Path("."),
) -> None:
    """Create a connector package that works and passes the contract kit, to edit."""
    from hub.sdk.scaffold import scaffold

    root = scaffold(name, directory)
    console.print(f"created {root}")
    console.print(f"next: cd {root} && pip install -e '.[dev]' && pytest")
