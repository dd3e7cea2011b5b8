"""What every command group shares: the consoles, the options they have in common, and
where Kafka is."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hub.broker import LocalCluster, cluster_root, default_base_port, existing_clusters
from hub.settings import Settings, jar_cache, load_settings
from hub.topics import STAGES

console = Console()
err_console = Console(stderr=True)

RulesFolder = Annotated[
    Path, typer.Option("--rules", help="The routing_rules folder (default: the checkout's).")
]
NodesOption = Annotated[
    int, typer.Option("--nodes", min=1, max=9, help="1 broker, or a KRaft cluster of N nodes.")
]
Since = Annotated[str | None, typer.Option(help="From this time (ISO 8601; no zone = WIB).")]
Until = Annotated[str | None, typer.Option(help="Up to this time (ISO 8601; no zone = WIB).")]
Stage = Annotated[
    list[str] | None,
    typer.Option(
        "--stage",
        help=f"{', '.join(STAGES)} (repeatable).",
    ),
]
Cpus = Annotated[
    str | None,
    typer.Option(
        "--cpus",
        help="Run on these cores only (as taskset -c: 1, 0,2, 2-3). A hub process on a core "
        "of its own spends ~10% less CPU a report (docs/operations.md, Sizing).",
    ),
]
HubConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="The hub's configuration (for its group prefix)."),
]


def local_cluster(settings: Settings, nodes: int, port: int | None = None) -> LocalCluster:
    return LocalCluster(
        cluster_root(settings.home, nodes),
        cache=jar_cache(settings),
        nodes=nodes,
        base_port=port or default_base_port(nodes),
        kafka_version=settings.kafka_version,
    )


def local_clusters(settings: Settings, nodes: int | None) -> list[LocalCluster]:
    """The cluster of ``nodes`` nodes, or every local cluster when ``nodes`` is None."""
    if nodes:
        return [local_cluster(settings, nodes)]
    return existing_clusters(settings.home, jar_cache(settings), settings.kafka_version)


def use_kafka_of(config: Path | None) -> None:
    """Make the configuration file's ``kafka:`` section (where, as whom) what every Kafka
    client of this process and of the processes it starts uses; it takes the place of the
    KAFKA_* variables. Without the section, those variables (or the local broker) serve."""
    if config is None:
        return
    from hub.config import load_config
    from hub.kafka import SECURITY_ENVIRONMENT

    access = load_config(config).kafka
    if access is not None:
        for variable in SECURITY_ENVIRONMENT:
            os.environ.pop(variable, None)  # none left over from the shell's own access
        os.environ.update(access.environment())


def kafka_bootstrap(config: Path | None = None) -> str:
    """The bootstrap of ``config``'s kafka: section, else KAFKA_BOOTSTRAP_SERVERS, else the
    local broker if it runs."""
    use_kafka_of(config)
    settings = load_settings()
    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers
    cluster = local_cluster(settings, 1)
    if not cluster.status().running:
        from hub.errors import BrokerNotReachable

        raise BrokerNotReachable(
            "No Kafka to connect to: KAFKA_BOOTSTRAP_SERVERS is not set and the local broker "
            "is not running.",
            fix="run `lapor-hub broker start`, or set KAFKA_BOOTSTRAP_SERVERS.",
        )
    return cluster.bootstrap


def group_prefix(config: Path | None) -> str:
    """The configuration's group prefix, or the default one."""
    from hub.config import load_config

    return load_config(config).group_prefix if config else "lapor"
