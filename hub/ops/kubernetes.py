"""The hub on Kubernetes, rendered from its own configuration (``lapor-hub deploy render``).

Rendered rather than templated: the objects follow from what the configuration says (which
connectors push and on which ports, which secrets they name, which run at an agency), so the
hub writes them itself, and an operator adjusts them per environment with Kustomize patches
over the rendered folder (a kustomization.yaml lists every file). Nothing secret is
rendered: pods read secrets that already exist.

- ``lapor-hub`` (StatefulSet: its stable pod names are the processes' ``--name``, which make
  their transactional ids): `lapor-hub up --no-tracker`, pulls and polls under the lease,
  webhooks in every pod behind the Service ``lapor-hub-webhooks``.
- ``lapor-hub-tracker`` (StatefulSet): `lapor-hub tracker`.
- ``lapor-connect-<connector>`` (Deployment), one per connector run on the agency's side:
  `lapor-hub connect`, with its own Kafka principal.
- Probes on /healthz and /readyz, a ServiceMonitor for /metrics, a PodDisruptionBudget.
- Secrets read, never written: the Kafka users' passwords (Strimzi's User Operator writes a
  Secret per KafkaUser), the cluster CA (``<cluster>-cluster-ca-cert``), the identity key
  ring (``lapor-hub-identity-keys``, one for every pod: hub.keyshare refuses another), the
  audit signing key (``lapor-hub-audit-key``: a pod's own would sign records `audit verify`
  calls forged; the hub's pods only, with the audit writer ``hub-audit``'s password), and
  the agency apps' secrets (``lapor-hub-app-secrets``, one key per variable the
  configuration names).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import yaml

METRICS_PORT = 9400
PART_OF = {"app.kubernetes.io/part-of": "lapor-hub"}
CONFIG_DIR = "/etc/lapor-hub"
IDENTITY_SECRET = "lapor-hub-identity-keys"
AUDIT_SECRET = "lapor-hub-audit-key"  # one signing key for every pod's audit records
APP_SECRETS = "lapor-hub-app-secrets"


@dataclass
class Placement:
    """Where and how the hub runs: the rendering's options."""

    image: str = "lapor-hub:latest"
    namespace: str = "lapor"
    cluster: str = "lapor"  # the Strimzi Kafka cluster's name
    hubs: int = 2
    trackers: int = 2
    agency_side: list[str] = field(default_factory=list)  # connectors run with `connect`

    @property
    def bootstrap(self) -> str:
        return f"{self.cluster}-kafka-bootstrap.{self.namespace}.svc:9093"


def secret_variables(entry: Any) -> list[str]:
    """The environment variables a connector's settings name for its secrets (``*_env``)."""
    found: list[str] = []
    if isinstance(entry, dict):
        for key, value in entry.items():
            if key.endswith("_env") and isinstance(value, str):
                found.append(value)
            else:
                found += secret_variables(value)
    elif isinstance(entry, list):
        for value in entry:
            found += secret_variables(value)
    return list(dict.fromkeys(found))


AUDIT_PASSWORD = "AUDIT_KAFKA_PASSWORD"  # the audit writer's (hub-audit) password, hub pods only


def pod_config(
    raw: dict, connectors: dict, principal: str, placement: Placement, records_audit: bool = False
) -> str:
    """The configuration file a pod reads: the operator's, with Kafka and metrics as the
    cluster has them, and the rules the image holds. A pod that records actions in the
    audit trail (``records_audit``) appends them as the audit writer."""
    config = {k: copy.deepcopy(v) for k, v in raw.items() if k not in ("rules", "kafka")}
    config["connectors"] = copy.deepcopy(connectors)
    for entry in config["connectors"].values():
        if isinstance(entry, dict) and isinstance(entry.get("webhook"), dict):
            entry["webhook"]["host"] = "0.0.0.0"  # the Service reaches the pod's address
    config["kafka"] = {
        "bootstrap": placement.bootstrap,
        "username": principal,
        "password_env": "KAFKA_PASSWORD",
        "ca": f"{CONFIG_DIR}/kafka-ca/ca.crt",
    }
    if records_audit:
        config["kafka"] |= {"audit_username": "hub-audit", "audit_password_env": AUDIT_PASSWORD}
    config["metrics"] = {"host": "0.0.0.0", "port": METRICS_PORT}
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def meta(name: str, placement: Placement, component: str) -> dict:
    labels = {**PART_OF, "app.kubernetes.io/name": name, "app.kubernetes.io/component": component}
    return {"name": name, "namespace": placement.namespace, "labels": labels}


def config_map(name: str, text: str, placement: Placement) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(name, placement, "config"),
        "data": {"hub.yaml": text},
    }


def container(
    name: str,
    args: list[str],
    principal: str,
    secrets: list[str],
    ports: list[dict],
    image: str,
    records_audit: bool = False,
) -> dict:
    """A pod's one container. Only a pod that records actions (``records_audit``: the
    hub's) holds the audit signing key and the audit writer's password; no agency's does."""
    env = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {
            "name": "KAFKA_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": principal, "key": "password"}},
        },
        {"name": "LAPOR_HUB_HOME", "value": "/var/lib/lapor-hub"},
        {
            "name": "LAPOR_HUB_IDENTITY_KEYS_FILE",
            "value": f"{CONFIG_DIR}/identity/identity-keys.json",
        },
    ]
    if records_audit:
        env += [
            {
                "name": "LAPOR_HUB_AUDIT_KEY",
                "valueFrom": {"secretKeyRef": {"name": AUDIT_SECRET, "key": "key"}},
            },
            {
                "name": AUDIT_PASSWORD,
                "valueFrom": {"secretKeyRef": {"name": "hub-audit", "key": "password"}},
            },
        ]
    env += [
        {"name": variable, "valueFrom": {"secretKeyRef": {"name": APP_SECRETS, "key": variable}}}
        for variable in secrets
    ]
    probe = {
        "httpGet": {"path": "/healthz", "port": "metrics"},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
    }
    return {
        "name": name,
        "image": image,
        "args": args,
        "env": env,
        "ports": [{"name": "metrics", "containerPort": METRICS_PORT}, *ports],
        "livenessProbe": {**probe, "initialDelaySeconds": 30, "failureThreshold": 6},
        "readinessProbe": {
            "httpGet": {"path": "/readyz", "port": "metrics"},
            "periodSeconds": 5,
            "timeoutSeconds": 5,  # /readyz may ask the broker (up to 3 s)
            "failureThreshold": 3,
        },
        "resources": {
            "requests": {"cpu": "500m", "memory": "512Mi"},
            "limits": {"memory": "1536Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": f"{CONFIG_DIR}/hub.yaml", "subPath": "hub.yaml"},
            {"name": "identity", "mountPath": f"{CONFIG_DIR}/identity", "readOnly": True},
            {"name": "kafka-ca", "mountPath": f"{CONFIG_DIR}/kafka-ca", "readOnly": True},
            {"name": "home", "mountPath": "/var/lib/lapor-hub"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def connector_identity_secret(instance: str) -> str:
    """The Secret of an agency-side connector's own key ring (`lapor-hub keys export`)."""
    return f"{IDENTITY_SECRET}-{instance}"


def pod_spec(
    config_name: str, main: dict, placement: Placement, identity: str = IDENTITY_SECRET
) -> dict:
    return {
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": 60,
        "containers": [main],
        "volumes": [
            {"name": "config", "configMap": {"name": config_name}},
            {"name": "identity", "secret": {"secretName": identity}},
            {
                "name": "kafka-ca",
                "secret": {"secretName": f"{placement.cluster}-cluster-ca-cert"},
            },
            {"name": "home", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }


def stateful_set(name: str, replicas: int, pod: dict, placement: Placement, component: str):
    selector = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": meta(name, placement, component),
        "spec": {
            "serviceName": name,
            "replicas": replicas,
            # every pod starts at once: they share the work, none waits for another
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": meta(name, placement, component)["labels"]},
                "spec": pod,
            },
        },
    }


def service(name: str, selector: str, ports: list[dict], placement: Placement, headless: bool):
    spec: dict[str, Any] = {"selector": {"app.kubernetes.io/name": selector}, "ports": ports}
    if headless:
        spec["clusterIP"] = "None"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name, placement, "service"),
        "spec": spec,
    }


def metrics_port() -> dict:
    return {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics"}


def webhook_ports(connectors: dict) -> list[tuple[str, int]]:
    """(connector, port) of every connector that takes pushes on a webhook."""
    found = []
    for instance, entry in connectors.items():
        webhook = entry.get("webhook") if isinstance(entry, dict) else None
        if isinstance(webhook, dict) and "port" in webhook:
            found.append((instance, int(webhook["port"])))
    return found


def port_name(index: int) -> str:
    return f"webhook-{index}"  # a port name is at most 15 characters


def refuse_unrenderable(raw: dict, connectors: dict, placement: Placement) -> None:
    """What a pod could not run as the file says: refused before anything is written."""
    from hub.errors import HubError

    unknown = [name for name in placement.agency_side if name not in connectors]
    if unknown:
        raise HubError(
            f"--agency-side names connectors the configuration does not have: {unknown}",
            fix=f"choose among: {', '.join(connectors)}.",
        )
    if raw.get("rules"):
        raise HubError(
            f"the configuration routes with its own rules ({raw['rules']}), which the pods "
            "would not have: they route with the image's",
            fix="build an image with those rules in routing_rules/, then drop `rules:`.",
        )
    for name, entry in connectors.items():
        webhook = entry.get("webhook") if isinstance(entry, dict) else None
        if isinstance(webhook, dict) and webhook.get("secrets"):
            raise HubError(
                f"connector {name!r} writes its webhook secrets in the file: rendered, they "
                "would sit in a ConfigMap",
                fix="name a variable instead (webhook.secrets_env) and put the secrets in the "
                f"{APP_SECRETS} Secret.",
            )
        if isinstance(entry, dict) and entry.get("tls"):
            raise HubError(
                f"connector {name!r} names TLS files ({entry['tls']}) the pods do not have",
                fix="mount them into the pods with a Kustomize patch, then render a "
                "configuration whose paths are the mounted ones; or drop `tls:`.",
            )


def render(raw: dict, placement: Placement) -> list[dict]:
    """Every object, ConfigMaps first. ``raw``: the configuration file as read. Agency-side
    connectors stay in the hub's and the tracker's configuration (reports are routed to
    them, their statuses tracked); only their sides run elsewhere."""
    connectors = dict(raw.get("connectors") or {})
    refuse_unrenderable(raw, connectors, placement)
    central = {k: v for k, v in connectors.items() if k not in placement.agency_side}
    objects: list[dict] = []

    # the hub: up, without its tracker (that is a StatefulSet of its own)
    hooks = webhook_ports(central)
    objects.append(
        config_map(
            "lapor-hub",
            pod_config(raw, connectors, "hub-runtime", placement, records_audit=True),
            placement,
        )
    )
    elsewhere = [arg for name in placement.agency_side for arg in ("--agency-side", name)]
    hub = container(
        "lapor-hub",
        [
            *("up", "--config", f"{CONFIG_DIR}/hub.yaml", "--name", "$(POD_NAME)"),
            *("--no-tracker", *elsewhere),
        ],
        "hub-runtime",
        secret_variables(central),
        [{"name": port_name(i), "containerPort": port} for i, (_, port) in enumerate(hooks)],
        placement.image,
        records_audit=True,
    )
    objects.append(
        stateful_set(
            "lapor-hub", placement.hubs, pod_spec("lapor-hub", hub, placement), placement, "hub"
        )
    )
    objects.append(service("lapor-hub", "lapor-hub", [metrics_port()], placement, headless=True))
    if hooks:
        ports = [
            {"name": port_name(i), "port": port, "targetPort": port_name(i)}
            for i, (_, port) in enumerate(hooks)
        ]
        objects.append(service("lapor-hub-webhooks", "lapor-hub", ports, placement, headless=False))
    objects.append(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": meta("lapor-hub", placement, "hub"),
            "spec": {
                "minAvailable": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "lapor-hub"}},
            },
        }
    )

    # the tracker
    name = "lapor-hub-tracker"
    objects.append(
        config_map(name, pod_config(raw, connectors, "hub-tracker", placement), placement)
    )
    tracker = container(
        name,
        ["tracker", "--config", f"{CONFIG_DIR}/hub.yaml", "--name", "$(POD_NAME)"],
        "hub-tracker",
        [],
        [],
        placement.image,
    )
    objects.append(
        stateful_set(
            name, placement.trackers, pod_spec(name, tracker, placement), placement, "tracker"
        )
    )
    objects.append(service(name, name, [metrics_port()], placement, headless=True))

    # each connector run at its agency, as its own principal
    for instance in placement.agency_side:
        name = f"lapor-connect-{instance}"
        principal = f"connector-{instance}"
        own = {instance: connectors[instance]}
        objects.append(config_map(name, pod_config(raw, own, principal, placement), placement))
        connect = container(
            "connect",
            ["connect", instance, "--config", f"{CONFIG_DIR}/hub.yaml"],
            principal,
            secret_variables(own),
            [
                {"name": port_name(i), "containerPort": port}
                for i, (_, port) in enumerate(webhook_ports(own))
            ],
            placement.image,
        )
        selector = {"app.kubernetes.io/name": name}
        objects.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": meta(name, placement, "connector"),
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": selector},
                    "template": {
                        "metadata": {"labels": meta(name, placement, "connector")["labels"]},
                        # its own key ring: the network's never leaves the hub
                        "spec": pod_spec(
                            name, connect, placement, connector_identity_secret(instance)
                        ),
                    },
                },
            }
        )
        hooks_here = [
            {"name": port_name(i), "port": port, "targetPort": port_name(i)}
            for i, (_, port) in enumerate(webhook_ports(own))
        ]
        objects.append(
            service(name, name, [metrics_port(), *hooks_here], placement, headless=False)
        )

    objects.append(
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": meta("lapor-hub", placement, "monitoring"),
            "spec": {
                "selector": {"matchLabels": PART_OF},
                "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
            },
        }
    )
    return objects


def file_name(number: int, obj: dict) -> str:
    return f"{number:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


SECRET_FILES = {  # secrets/<file> beside the manifests -> the Secret Kustomize makes of it
    "identity-keys.json": (IDENTITY_SECRET, "identity-keys.json"),
    "audit-key": (AUDIT_SECRET, "key"),
}


def kustomization(
    files: list[str], namespace: str, app_secrets: list[str], agency_side: list[str] = ()
) -> dict:
    """The manifests, and the Secrets Kustomize makes from files the operator puts in
    secrets/ (never written by the hub, kept out of version control): `kubectl apply -k`
    fails while one is missing, rather than starting pods that cannot work."""
    generated = [
        {"name": name, "files": [f"{key}=secrets/{file}"]}
        for file, (name, key) in SECRET_FILES.items()
    ]
    generated += [
        {
            "name": connector_identity_secret(instance),
            "files": [f"identity-keys.json=secrets/identity-keys-{instance}.json"],
        }
        for instance in agency_side
    ]
    if app_secrets:  # one KEY=value line per variable the configuration names
        generated.append({"name": APP_SECRETS, "envs": ["secrets/app-secrets.env"]})
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        "resources": files,
        "secretGenerator": generated,
        "generatorOptions": {"disableNameSuffixHash": True},  # the names the pods read
    }


def secrets_readme(app_secrets: list[str], agency_side: list[str] = ()) -> str:
    lines = [
        "# Secrets for these manifests (never commit this folder's other files)",
        "",
        "kubectl apply -k .. makes a Secret of each file below; it fails while one is missing.",
        "",
        "- identity-keys.json: the network's identity key ring (the file LAPOR_HUB_HOME or",
        "  LAPOR_HUB_IDENTITY_KEYS_FILE holds on the machine that runs the hub today).",
        "- audit-key: the audit signing key, 32 bytes in base64 (LAPOR_HUB_AUDIT_KEY).",
    ]
    lines += [
        f"- identity-keys-{instance}.json: connector {instance}'s own key ring, for its "
        f"agency's pod (`lapor-hub keys export {instance} --file ...` on the hub)."
        for instance in agency_side
    ]
    if app_secrets:
        lines += [
            "- app-secrets.env: one VARIABLE=value line for each of "
            + ", ".join(app_secrets)
            + ".",
        ]
    lines += [
        "",
        "The Kafka users' passwords and the cluster CA come from Strimzi's own Secrets.",
    ]
    return "\n".join(lines) + "\n"
