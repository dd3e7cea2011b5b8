"""``lapor-hub broker``: a real Apache Kafka broker on loopback, fetched from Maven Central."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from hub.broker import LocalCluster, ensure_kafka, require_java
from hub.cli.common import NodesOption, console, local_cluster, local_clusters
from hub.settings import jar_cache, load_settings

broker_app = typer.Typer(
    help="Run a real Apache Kafka broker on loopback (fetched from Maven Central, no Docker).",
    no_args_is_help=True,
)


@broker_app.command("install")
def broker_install() -> None:
    """Fetch the pinned Kafka broker from Maven Central into the cache (start does this too)."""
    settings = load_settings()
    require_java()
    with console.status(f"fetching Apache Kafka {settings.kafka_version} from Maven Central"):
        install = ensure_kafka(jar_cache(settings), settings.kafka_version)
    jars = len(list(install.libs.glob("*.jar")))
    console.print(f"Apache Kafka {install.version}: {jars} jars in {install.libs}")


@broker_app.command("start")
def broker_start(
    nodes: NodesOption = 1,
    port: Annotated[
        int | None,
        typer.Option(
            help="First client port (default 9092; 9192 for a cluster). Node i "
            "uses PORT+2(i-1) for clients and the port after it for its controller."
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for metadata answers.")] = 120,
) -> None:
    """Start the local broker (or --nodes 3 cluster); returns once it answers metadata."""
    settings = load_settings()
    cluster = local_cluster(settings, nodes, port)
    if cluster.status().running and cluster.status().brokers_answering == len(cluster.nodes):
        console.print(f"already running on {cluster.bootstrap}")
        return
    with console.status(f"starting Apache Kafka {settings.kafka_version} on {cluster.bootstrap}"):
        cluster.start(timeout=timeout)
    _print_status(cluster)
    console.print(
        f"\nPLAINTEXT {cluster.bootstrap} is for development on this machine only: no "
        "authentication, full access. Agencies' connectors use SASL_SSL "
        f"{cluster.secure_bootstrap} (CA {cluster.ca_file}) with the principals "
        "`lapor-hub security apply` makes."
    )
    console.print(f"\nexport KAFKA_BOOTSTRAP_SERVERS={cluster.bootstrap}")


@broker_app.command("stop")
def broker_stop(
    nodes: Annotated[
        int | None, typer.Option("--nodes", help="Stop only this cluster (default: all).")
    ] = None,
) -> None:
    """Stop local brokers cleanly (all nodes of a cluster together)."""
    settings = load_settings()
    running = [c for c in local_clusters(settings, nodes) if c.status().running]
    if not running:
        console.print("no local broker is running")
        return
    for cluster in running:
        with console.status(f"stopping {cluster.bootstrap}"):
            killed = cluster.stop()
        note = f" (node(s) {killed} did not stop in time and were killed)" if killed else ""
        console.print(f"stopped {cluster.bootstrap}{note}; data kept in {cluster.root}")


@broker_app.command("status")
def broker_status(
    nodes: Annotated[
        int | None, typer.Option("--nodes", help="Show only this cluster (default: all).")
    ] = None,
    bootstrap: Annotated[
        bool, typer.Option("--bootstrap", help="Print only the running clusters' addresses.")
    ] = False,
    secure: Annotated[
        bool,
        typer.Option(
            "--secure", help="Print only the SASL_SSL address and the CA file clients trust."
        ),
    ] = False,
) -> None:
    """Print each local cluster's listener address, Kafka version and data directory.

    Exits 1 when no local broker is running.
    """
    settings = load_settings()
    clusters = local_clusters(settings, nodes)
    if not clusters:
        console.print("no local broker has been started yet: run `lapor-hub broker start`")
        raise typer.Exit(1)
    if bootstrap or secure:
        running = [c for c in clusters if c.status().running]
        for cluster in running:
            print(f"{cluster.secure_bootstrap} {cluster.ca_file}" if secure else cluster.bootstrap)
        raise typer.Exit(0 if running else 1)
    any_running = False
    for cluster in clusters:
        any_running |= _print_status(cluster)
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        console.print(
            f"\nKAFKA_BOOTSTRAP_SERVERS={os.environ['KAFKA_BOOTSTRAP_SERVERS']} "
            "(the hub uses that cluster, not the local one)"
        )
    if not any_running:
        raise typer.Exit(1)


@broker_app.command("reset")
def broker_reset(
    nodes: NodesOption = 1,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Stop a local cluster and delete its data (the downloaded jars stay cached)."""
    settings = load_settings()
    cluster = local_cluster(settings, nodes)
    if not yes:
        typer.confirm(f"Delete every topic and message in {cluster.root}?", abort=True)
    cluster.reset()
    console.print(f"deleted {cluster.root}")


def _print_status(cluster: LocalCluster) -> bool:
    status = cluster.status()
    state = (
        f"[green]running[/], {status.brokers_answering}/{len(status.nodes)} node(s) answering"
        if status.running
        else "[yellow]stopped[/]"
    )
    console.print(
        f"[bold]{status.root.name}[/]: Apache Kafka {status.kafka_version or '?'}, "
        f"cluster id {status.cluster_id or '(not formatted)'}, {state}"
    )
    for node in status.nodes:
        pid = f"pid {node.pid}" if node.pid else "not running"
        console.print(f"  node {node.node_id}  listener {node.address}  {pid}", soft_wrap=True)
        console.print(f"          data  {node.data_dir}", soft_wrap=True, highlight=False)
        console.print(f"          log   {node.log}", soft_wrap=True, highlight=False)
    return status.running
