"""``lapor-hub security`` and ``lapor-hub keys``: who may reach what in Kafka, and the
keys that seal reporters' identities."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hub.cli.common import console, kafka_bootstrap
from hub.settings import load_settings

security_app = typer.Typer(
    help="Per-agency access to Kafka: principals and ACLs (see SECURITY.md).",
    no_args_is_help=True,
)
keys_app = typer.Typer(
    help="The keys that seal reporters' identities (ids only; key material is never shown).",
    no_args_is_help=True,
)


@security_app.command("plan")
def security_plan(
    config: Annotated[Path, typer.Option("--config", help="The hub's configuration file.")],
) -> None:
    """The principals the configuration needs (one per connector, the hub's own) and the
    ACLs each gets: a connector reaches its own topics only."""
    from hub.config import load_config
    from hub.ops.security import make_plan

    plan = make_plan(load_config(config))
    table = Table(title=f"{len(plan.principals)} principals, {len(plan.grants)} grants")
    for column in ("principal", "resource", "name", "pattern", "operations"):
        table.add_column(column)
    for principal, what in plan.principals.items():
        table.add_row(f"[bold]{principal}[/]", "", what, "", "")
        for grant in plan.of(principal):
            operations = ", ".join(grant.operations)
            if grant.permission == "DENY":
                operations = f"[red]DENY {operations}[/]"
            table.add_row("", grant.resource, grant.name, grant.pattern, operations)
    console.print(table)


@security_app.command("apply")
def security_apply(
    config: Annotated[Path, typer.Option("--config", help="The hub's configuration file.")],
    credentials: Annotated[
        Path | None,
        typer.Option(help="Where each principal's password is written (default: home)."),
    ] = None,
) -> None:
    """Create the plan's SCRAM users and ACLs (again: nothing changes). Passwords go to one
    file per principal, mode 0600. Recorded in the audit trail."""
    from hub.config import load_config
    from hub.ops.security import apply_plan_audited, make_plan

    plan = make_plan(load_config(config))
    folder = credentials or load_settings().home / "credentials"
    users, acls = apply_plan_audited(kafka_bootstrap(), plan, folder, {"config": str(config)})
    console.print(f"{users} users and {acls} ACLs in place; passwords in {folder}")


@keys_app.command("show")
def keys_show() -> None:
    """Where the key ring is, its key ids and the active one."""
    from hub.privacy import hub_keyring, keys_file

    ring = hub_keyring()
    source = (
        "LAPOR_HUB_IDENTITY_KEYS"
        if os.environ.get("LAPOR_HUB_IDENTITY_KEYS")
        else keys_file(load_settings().home)
    )
    console.print(f"identity keys from {source}: {', '.join(ring.keys)}; active {ring.active}")


@keys_app.command("export")
def keys_export(
    connector: Annotated[str, typer.Argument(help="The connector instance, as configured.")],
    file: Annotated[Path, typer.Option("--file", help="Where to write its key ring (0600).")],
) -> None:
    """Write one connector's own identity key ring, for `lapor-hub connect` at its agency:
    keys derived from the network's for that connector only. It opens the identities the hub
    seals for that connector and nothing else; the network's ring never leaves the hub.
    Export again after `lapor-hub keys rotate`. Recorded in the audit trail."""
    from hub import audit
    from hub.keyshare import agree, publish_connector_keys
    from hub.privacy import PrivacyError, hub_keyring, keyring_source, write_keyring

    ring = hub_keyring()
    if ring.connector is not None:
        raise PrivacyError(
            f"this machine holds connector {ring.connector}'s ring, not the network's",
            fix="export on the hub, where the network's ring is.",
        )
    bootstrap = kafka_bootstrap()
    agree(bootstrap, ring, keyring_source(load_settings().home))
    theirs = ring.for_connector(connector)
    publish_connector_keys(bootstrap, ring, [connector])
    write_keyring(theirs, file)
    audit.record(bootstrap, "keys.export", {"connector": connector, "file": str(file)})
    console.print(
        f"connector {connector}'s key ring ({', '.join(theirs.keys)}) in {file}: give it to "
        f"the agency as LAPOR_HUB_IDENTITY_KEYS_FILE for `lapor-hub connect {connector}`"
    )


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Make a new active key; the old ones stay so what they sealed still opens. Copy the new
    ring to every machine and restart the hub's processes to write with it (one still holding
    the old ring is refused at start). Recorded in the audit trail."""
    from hub import audit
    from hub.keyshare import agree, publish
    from hub.privacy import PrivacyError, hub_keyring, keys_file, write_keyring

    if os.environ.get("LAPOR_HUB_IDENTITY_KEYS"):
        raise PrivacyError(
            "the keys come from LAPOR_HUB_IDENTITY_KEYS, which this command cannot change",
            fix="rotate in the secret store that fills the variable, or use a key file.",
        )
    path = keys_file(load_settings().home)
    if not path.exists():
        raise PrivacyError(
            f"there is no key ring at {path} to rotate (a new one would not be the network's)",
            fix="rotate on a machine that holds the network's ring, or point "
            "LAPOR_HUB_IDENTITY_KEYS_FILE at a copy of it.",
        )
    bootstrap = kafka_bootstrap()
    agree(bootstrap, hub_keyring(), str(path))  # only the network's ring is rotated
    ring = hub_keyring().rotated()
    write_keyring(ring, path)
    audit.record(bootstrap, "keys.rotate", {"file": str(path), "active": ring.active})
    publish(bootstrap, ring, [ring.active])  # machines starting with the old ring are refused
    console.print(f"new active key {ring.active} in {path} (keys kept: {', '.join(ring.keys)})")
