"""``lapor-hub deploy render``: the hub on Kubernetes, from its configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hub.cli.common import console

deploy_app = typer.Typer(help="Deploying the hub (Kubernetes, Strimzi).", no_args_is_help=True)


@deploy_app.command("render")
def deploy_render(
    config: Annotated[Path, typer.Option("--config", help="The hub's configuration file.")],
    out: Annotated[Path, typer.Option("--out", help="The folder to write the manifests to.")],
    image: Annotated[str, typer.Option(help="The hub's image (make image builds one).")] = (
        "lapor-hub:latest"
    ),
    namespace: Annotated[str, typer.Option(help="The Kubernetes namespace.")] = "lapor",
    cluster: Annotated[str, typer.Option(help="The Strimzi Kafka cluster's name.")] = "lapor",
    brokers: Annotated[
        int, typer.Option(min=1, help="Brokers of that cluster (the kept topics' replication).")
    ] = 3,
    hubs: Annotated[int, typer.Option(min=1, help="lapor-hub pods.")] = 2,
    trackers: Annotated[int, typer.Option(min=1, help="Tracker pods.")] = 2,
    agency_side: Annotated[
        list[str] | None,
        typer.Option(
            "--agency-side",
            help="A connector run at its agency (`lapor-hub connect`, a Deployment of its "
            "own with its own principal), not in the hub's pods (repeatable).",
        ),
    ] = None,
    strimzi: Annotated[
        bool,
        typer.Option(
            "--strimzi/--no-strimzi",
            help="Also the KafkaTopics (from the hub's topic specs) and KafkaUsers (from "
            "`security plan`, with their ACLs).",
        ),
    ] = False,
) -> None:
    """Write the hub's Kubernetes manifests (StatefulSets for the hub and the tracker, one
    Deployment per agency-side connector, Services, probes on /healthz and /readyz, a
    ServiceMonitor, a PodDisruptionBudget) and a kustomization.yaml listing them. Secrets
    are read by the pods, never rendered: see docs/kubernetes.md for the ones to create."""
    import yaml

    from hub.config import load_config
    from hub.ops.kubernetes import (
        Placement,
        file_name,
        kustomization,
        render,
        secret_variables,
        secrets_readme,
    )
    from hub.ops.security import make_plan
    from hub.ops.strimzi import strimzi_resources
    from hub.yamlfile import load_yaml

    loaded = load_config(config)  # refused here if invalid, before anything is written
    placement = Placement(image, namespace, cluster, hubs, trackers, list(agency_side or []))
    objects = render(load_yaml(config).data or {}, placement)
    if strimzi:
        plan = make_plan(loaded)
        objects = strimzi_resources(loaded, plan, cluster, namespace, brokers) + objects
    out.mkdir(parents=True, exist_ok=True)
    written = []
    table = Table("file", "kind", "name")
    for number, obj in enumerate(objects, 1):
        name = file_name(number, obj)
        (out / name).write_text(yaml.safe_dump(obj, sort_keys=False, allow_unicode=True))
        written.append(name)
        table.add_row(name, obj["kind"], obj["metadata"]["name"])
    app_secrets = secret_variables(load_yaml(config).data.get("connectors") or {})
    (out / "kustomization.yaml").write_text(
        yaml.safe_dump(
            kustomization(written, namespace, app_secrets, placement.agency_side),
            sort_keys=False,
        )
    )
    (out / "secrets").mkdir(exist_ok=True)
    (out / "secrets" / "README.md").write_text(secrets_readme(app_secrets, placement.agency_side))
    (out / "secrets" / ".gitignore").write_text("*\n!README.md\n!.gitignore\n")
    console.print(table)
    console.print(
        f"{len(written)} objects in {out}; put the secrets {out / 'secrets'}/README.md names, "
        f"then kubectl apply -k {out}"
    )
