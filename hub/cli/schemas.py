"""``lapor-hub schemas``: the canonical Avro schemas in schemas/."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hub.cli.common import console, err_console
from hub.settings import load_settings

schemas_app = typer.Typer(
    help="The canonical Avro schemas in schemas/: list, show, check, register.",
    no_args_is_help=True,
)


@schemas_app.command("list")
def schemas_list() -> None:
    """Every record schema, its versions, the newest one's fingerprint and its topics."""
    from hub.serialization import load_store
    from hub.topics import topics_carrying

    store = load_store(load_settings())
    table = Table(title=f"schemas in {store.root}")
    for column in ("name", "versions", "latest fingerprint", "topics"):
        table.add_column(column)
    for name in store.names():
        latest = store.latest(name)
        topics = topics_carrying(name)
        versions = ", ".join(f"v{v.version}" for v in store.versions(name))
        table.add_row(name, versions, latest.fingerprint.hex(), ", ".join(topics) or "-")
    console.print(table)


@schemas_app.command("show")
def schemas_show(
    name: Annotated[str, typer.Argument(help="Record name, e.g. Report.")],
    version: Annotated[int | None, typer.Option(help="Version (default: the newest).")] = None,
    expanded: Annotated[
        bool, typer.Option("--expanded", help="Inline referenced records.")
    ] = False,
) -> None:
    """Print one schema version as JSON."""
    from hub.serialization import load_store

    store = load_store(load_settings())
    schema = store.get(name, version) if version else store.latest(name)
    console.print(f"# {schema.path} (fingerprint {schema.fingerprint.hex()})", highlight=False)
    console.print_json(data=schema.expanded if expanded else schema.declared)


@schemas_app.command("check")
def schemas_check() -> None:
    """Prove each version documented and compatible both ways with every earlier one.

    Exits 1 and names the schema, versions and field of every problem found.
    """
    from hub.serialization import check_schemas, load_store

    store = load_store(load_settings())
    problems = check_schemas(store)
    versions = sum(len(store.versions(n)) for n in store.names())
    if problems:
        for problem in problems:
            err_console.print(f"[red]x[/] {problem}", highlight=False)
        err_console.print(f"{len(problems)} problem(s) in {store.root}")
        raise typer.Exit(1)
    console.print(
        f"{len(store.names())} schemas, {versions} versions: every field documented, every "
        "version backward and forward compatible with every earlier one"
    )


@schemas_app.command("register")
def schemas_register() -> None:
    """Register every schema version, in order, in the registry at SCHEMA_REGISTRY_URL."""
    from hub.errors import SchemaError
    from hub.serialization import load_store, registry_client
    from hub.serialization.registry import RegistrySchemas

    settings = load_settings()
    if not settings.schema_registry_url:
        raise SchemaError(
            "No schema registry is configured, so there is nothing to register in.",
            fix="set SCHEMA_REGISTRY_URL (without it the hub uses schemas/ on disk directly).",
        )
    store = load_store(settings)
    registry = RegistrySchemas(store, registry_client(settings))
    table = Table(title=f"registered in {settings.schema_registry_url}")
    for column in ("subject", "version", "schema id"):
        table.add_column(column)
    for name in store.names():
        subject = store.latest(name).fullname
        for version, schema_id in registry.register(name):
            table.add_row(subject, f"v{version}", str(schema_id))
    console.print(table)
