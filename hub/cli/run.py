"""Commands that run the hub: ``up``, ``connect``, ``tracker``, ``worker route``, ``demo``,
``version``."""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer

from hub import __version__
from hub.cli.common import Cpus, console, kafka_bootstrap
from hub.errors import HubError
from hub.settings import load_settings

MetricsPort = Annotated[
    int | None,
    typer.Option(
        help="Serve /metrics, /healthz and /readyz on this port (default: the "
        "configuration's metrics.port; none)."
    ),
]
MetricsHost = Annotated[
    str | None,
    typer.Option(
        help="The address to serve them on (default: the configuration's metrics.host, "
        "127.0.0.1; 0.0.0.0 for a pod)."
    ),
]


def _serve_metrics(
    config: Path, port: int | None, host: str | None, who: str = ""
) -> tuple[str, int] | None:
    """Serve metrics and health where the options, else the configuration, say."""
    from hub.config import load_config
    from hub.metrics import serve_metrics

    wanted = load_config(config).metrics
    port, host = port or wanted.port, host or wanted.host
    if not port:
        return None
    serve_metrics(port, host)
    console.print(f"{who}metrics and health on http://{host}:{port}/ (metrics, healthz, readyz)")
    return host, port


# `up` runs its tracker so much nicer than its data plane: at 200 reports/s on 2 cores that
# could not keep up, p99 ingest-to-2xx 1.9 s and 1.0 s against 13.3 s and 1.2 s alike, a
# status's p99 to its origin 64 s and 26 s against 50 s and 12 s (docs/operations.md)
TRACKER_NICE = 10

worker_app = typer.Typer(
    help="Data-plane workers (start several to share partitions).", no_args_is_help=True
)


def version() -> None:
    """Print lapor-hub's version and the Kafka version of the local broker."""
    kafka = load_settings().kafka_version
    console.print(f"lapor-hub {__version__} (local broker: Apache Kafka {kafka})")


@worker_app.command("route")
def worker_route(
    config: Annotated[Path, typer.Option("--config", help="The hub's configuration file.")],
    name: Annotated[str, typer.Option(help="This worker's name, stable across restarts.")] = "1",
    cpus: Cpus = None,
) -> None:
    """Translate and route: lapor.in.* -> lapor.reports, lapor.routed, lapor.out.*, in
    Kafka transactions (a worker killed at any moment loses and duplicates nothing)."""
    from hub.dataplane.route import run_route

    _pin(cpus)
    stats = run_route(config, name, kafka_bootstrap(config), tune_memory=True)
    console.print(
        f"route worker {name} stopped: {stats.consumed} consumed, "
        f"{stats.produced} produced in {stats.transactions} transactions"
    )


# the name this worker had before "ingest" came to mean only the writes to lapor.in.*
worker_app.command("ingest", hidden=True)(worker_route)


def tracker(
    config: Annotated[Path, typer.Option("--config", help="The hub's configuration file.")],
    name: Annotated[str, typer.Option(help="This tracker's name, stable across restarts.")] = "1",
    tick_seconds: Annotated[
        float, typer.Option(help="How often SLA clocks are checked.", min=0.5)
    ] = 5.0,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = None,
    cpus: Cpus = None,
    nice: Annotated[
        int,
        typer.Option(
            "--nice",
            min=0,
            max=19,
            help="Run this many steps nicer than the process that starts it (as nice: "
            "0-19): on cores it shares with the data plane, a delivery then waits less "
            "for CPU and a status more (docs/operations.md, Sizing).",
        ),
    ] = 0,
) -> None:
    """The state plane: each report's lifecycle, SLA clocks (working days), re-routing,
    escalation, and statuses back to the app the report came from. Start several to share
    partitions; the tables recover from their changelogs after a crash. Exits with code 3
    when it cannot go on (faust stopped, a stalled table recovery): restart it. /readyz
    says ready once its tables are recovered."""
    from hub.tracker.app import run_tracker

    _pin(cpus)
    if nice:
        from hub.affinity import lower_priority

        lower_priority(nice)
    bootstrap = kafka_bootstrap(config)
    _serve_metrics(config, metrics_port, metrics_host, "tracker ")
    applied = run_tracker(config, bootstrap, name, tick_seconds)
    console.print(f"tracker {name} stopped: applied {applied}")


def demo() -> None:
    """The whole hub with simulated agency apps: reports in from every built-in connector,
    routed, delivered, answered; ends with a summary. Exits 1 if a report was lost."""
    from hub.demo import run_demo
    from hub.demo_summary import print_summary

    summary = run_demo(console)
    print_summary(console, summary)
    if summary.lost:
        raise typer.Exit(1)


def up(
    config: Annotated[Path, typer.Option("--config", help="The hub's configuration file.")],
    name: Annotated[str, typer.Option(help="This process's name, stable across restarts.")] = "1",
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = None,
    primary: Annotated[
        bool | None,
        typer.Option(
            "--primary/--secondary",
            help="Pulls and status polls always here (--primary), or none of them and no "
            "webhooks (--secondary); by default pulls and polls run in whichever process "
            "holds the lease, and webhooks in every process.",
        ),
    ] = None,
    with_tracker: Annotated[
        bool, typer.Option("--tracker/--no-tracker", help="Run a tracker process beside.")
    ] = True,
    agency_side: Annotated[
        list[str] | None,
        typer.Option(
            "--agency-side",
            help="A connector its agency runs (`lapor-hub connect`): routed to and tracked "
            "here, its pulls, webhook and deliveries not run here (repeatable).",
        ),
    ] = None,
    with_console: Annotated[
        bool,
        typer.Option(
            "--console/--no-console",
            help="Serve the operator console from this process too, on the configuration's "
            "console.host and console.port (docs/console.md).",
        ),
    ] = False,
    cpus: Annotated[
        str | None,
        typer.Option(
            "--cpus",
            help="Run the hub's own work on these cores only (as taskset -c: 1, 0,2, 2-3); "
            "its tracker keeps the cores this process was given. A hub process on a core "
            "of its own spends ~10% less CPU a report (docs/operations.md, Sizing).",
        ),
    ] = None,
    tracker_nice: Annotated[
        int,
        typer.Option(
            "--tracker-nice",
            min=0,
            max=19,
            help="Run the tracker this many steps nicer than the data plane (as nice: "
            "0-19; 0: alike). When the machine's cores are short, deliveries go first and "
            "statuses wait: a report reaches its agency in time and its status follows "
            "when the load eases (docs/operations.md, Sizing).",
        ),
    ] = TRACKER_NICE,
) -> None:
    """Run the hub from one configuration file: every side of every connector and the
    translate-and-route worker. Start more with another --name (on this machine or
    others) to share the work: pulls and status polls run in one process at a time, under
    a lease another process takes over within seconds when the holder dies."""
    from hub.eventloop import stop_on_signals
    from hub.runtime import HubRuntime, tracker_process

    # before any thread starts, so every one inherits it; the tracker is given back the
    # cores this process had (it widens itself before its own threads start)
    original = os.sched_getaffinity(0)
    _pin(cpus)
    bootstrap = kafka_bootstrap(config)
    served = _serve_metrics(config, metrics_port, metrics_host)
    runtime = HubRuntime(
        config, bootstrap, name, primary, elsewhere=agency_side or (), tune_memory=True
    )
    console.print(f"lapor-hub {name} up: {', '.join(runtime.connectors)} (Ctrl-C stops)")
    tracker_address = (served[0], served[1] + 1) if served else None
    if with_tracker and tracker_address:
        host, port = tracker_address
        console.print(f"tracker metrics and health on http://{host}:{port}/ (+1)")
    tracking = tracker_process(
        config,
        bootstrap,
        name,
        metrics_address=tracker_address,
        cpus=original if cpus is not None else None,
        nice=tracker_nice,
    )
    stop_console = _console_beside(config, bootstrap) if with_console else None
    try:
        with tracking if with_tracker else nullcontext():
            counters = runtime.run(stop_on_signals())
    finally:
        if stop_console is not None:
            stop_console()
    console.print(
        f"stopped: pulled {counters.pulled}, pushed {counters.pushed}, "
        f"delivered {counters.delivered}, statuses {counters.statuses}"
    )
    if runtime.failure:  # non-zero, for a supervisor to start it again (Restart=on-failure)
        raise HubError(f"lapor-hub {name} stopped: {runtime.failure}")


def _console_beside(config: Path, bootstrap: str):
    from hub.config import load_config
    from hub.console import open_console, serve_beside

    loaded = load_config(config)
    settings = loaded.console
    stop = serve_beside(
        open_console(loaded, bootstrap), settings.host, settings.port, load_settings().home
    )
    console.print(f"console on http://{settings.host}:{settings.port}/")
    return stop


def connect(
    name: Annotated[str, typer.Argument(help="The connector instance to run.")],
    config: Annotated[Path, typer.Option("--config", help="Its configuration file.")],
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = None,
    cpus: Cpus = None,
) -> None:
    """Run one connector as its own process, at the agency, with its own credentials: its
    pulls, webhook, deliveries, status polls and statuses back, nothing else. The file's
    `kafka:` section says where and as whom (the SASL_SSL listener, the principal `lapor-hub
    security apply` made for it, the variable holding its password)."""
    from hub.config import load_config
    from hub.eventloop import stop_on_signals
    from hub.runtime import HubRuntime

    loaded = load_config(config)
    if loaded.kafka is None or loaded.kafka.username is None:
        raise HubError(
            f"{config} has no kafka: section with a username, so the connector would reach "
            "Kafka without credentials",
            fix="add kafka: {bootstrap, username, password_env, ca} (see SECURITY.md).",
        )
    kafka_bootstrap(config)
    _pin(cpus)
    _serve_metrics(config, metrics_port, metrics_host)
    runtime = HubRuntime(config, loaded.kafka.bootstrap, name=name, only=name, tune_memory=True)
    console.print(f"connector {name} up as {loaded.kafka.username} (Ctrl-C stops)")
    counters = runtime.run(stop_on_signals())
    console.print(
        f"stopped: pulled {counters.pulled}, pushed {counters.pushed}, "
        f"delivered {counters.delivered}, statuses {counters.statuses}, told {counters.told}"
    )
    if runtime.failure:  # non-zero, for a supervisor to start it again (Restart=on-failure)
        raise HubError(f"connector {name} stopped: {runtime.failure}")


def import_(
    file: Annotated[Path, typer.Argument(help="The export file (CSV, as the connector reads).")],
    connector: Annotated[
        str, typer.Option("--connector", help="The configured connector instance it is for.")
    ],
    config: Annotated[Path, typer.Option("--config", help="The hub's configuration file.")],
) -> None:
    """Import an agency's export file through its connector: every good row into
    lapor.in.<connector> (sealed, keyed by its source id, so importing a file twice files
    nothing twice), every bad row into the ingest dead letters with its reason (the rest go
    on; `lapor-hub dlq list --stage ingest` shows them). Exits 1 if a row was refused."""
    import asyncio

    from hub.config import build_connectors, load_config
    from hub.dataplane.inbound import Inbound, import_file
    from hub.keyshare import agree
    from hub.privacy import hub_keyring, keyring_source
    from hub.sdk import Capability
    from hub.topic_specs import ensure_hub_topics

    bootstrap = kafka_bootstrap(config)
    loaded = load_config(config)
    connectors = build_connectors(loaded)
    chosen = connectors.get(connector)
    if chosen is None or Capability.FILE not in chosen.capabilities:
        takes = [n for n, c in connectors.items() if Capability.FILE in c.capabilities]
        raise HubError(
            f"{config} has no connector {connector!r} that imports files",
            fix=f"use one of: {', '.join(takes) or 'none configured (add a csv-export one)'}.",
        )
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise HubError(f"{file} cannot be read: {exc.strerror}", fix="check the path.") from exc
    agree(bootstrap, hub_keyring(), keyring_source(load_settings().home))
    ensure_hub_topics(bootstrap, loaded)
    with console.status(f"importing {file.name} through {connector}"):
        result = asyncio.run(import_file(chosen, data, Inbound(bootstrap, chosen), file.name))
    console.print(f"{file.name}: {result.accepted} rows in, {len(result.refused)} refused")
    for reason in result.refused[:20]:
        console.print(f"  refused: {reason}", highlight=False)
    if len(result.refused) > 20:
        console.print(f"  and {len(result.refused) - 20} more (lapor-hub dlq list --stage ingest)")
    if result.refused:
        raise typer.Exit(1)


def _pin(cpus: str | None) -> None:
    """This process on ``cpus`` (hub.affinity), before it starts a thread of its own."""
    if cpus is not None:
        from hub.affinity import parse_cpus, pin

        pin(parse_cpus(cpus))
