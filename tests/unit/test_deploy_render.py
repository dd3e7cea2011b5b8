"""`lapor-hub deploy render` writes objects a cluster accepts: every one valid against the
Kubernetes, Strimzi and Prometheus Operator schemas vendored in deploy/k8s/schemas (strictly:
a field the schema does not know is an error, where the API server would drop it silently),
and what it says about Kafka is exactly what the hub's topic specs and `security plan` say."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from hub.config import load_config
from hub.errors import HubError
from hub.ops.security import make_plan
from hub.ops.strimzi import PATTERN, RESOURCE, all_topics, on_cluster, strimzi_operation

SCHEMAS = Path(__file__).resolve().parents[2] / "deploy/k8s/schemas"
KUBERNETES = SCHEMAS / "kubernetes-v1.34.0"
CORE_KINDS = {
    ("apps/v1", "StatefulSet"): "statefulset-apps-v1.json",
    ("apps/v1", "Deployment"): "deployment-apps-v1.json",
    ("v1", "Service"): "service-v1.json",
    ("v1", "ConfigMap"): "configmap-v1.json",
    ("policy/v1", "PodDisruptionBudget"): "poddisruptionbudget-policy-v1.json",
}
CRDS = {
    ("kafka.strimzi.io/v1", "KafkaTopic"): "strimzi-1.2.0/043-Crd-kafkatopic.yaml",
    ("kafka.strimzi.io/v1", "KafkaUser"): "strimzi-1.2.0/044-Crd-kafkauser.yaml",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): (
        "prometheus-operator/monitoring.coreos.com_servicemonitors.yaml"
    ),
}
CONFIG = {
    "group_prefix": "lapor",
    "connectors": {
        "lapor-nasional": {
            "type": "lapor-json",
            "agency": "admin-nasional",
            "base_url": "https://lapor.go.id/api",
            "auth": {"type": "bearer", "token_env": "LAPOR_API_TOKEN"},
        },
        "sms-1708": {
            "type": "sms-1708",
            "agency": "admin-nasional",
            "webhook": {"port": 8104, "secrets_env": "SMS_1708_SECRETS"},
        },
        "open311-surabaya": {
            "type": "open311",
            "agency": "pemkot-surabaya",
            "base_url": "https://wadul.surabaya.go.id/open311",
            "auth": {"type": "header", "name": "X-API-Key", "value_env": "SURABAYA_KEY"},
        },
    },
}


def strict(schema):
    """A CRD schema as the API server applies it, with pruning made an error: an object
    whose properties are listed takes no others (unless it keeps unknown fields)."""
    if isinstance(schema, dict):
        schema = {key: strict(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


def validator_for(api: str, kind: str) -> Draft202012Validator:
    if (api, kind) in CORE_KINDS:
        definitions = json.loads((KUBERNETES / "_definitions.json").read_text())
        registry = Registry().with_resource(
            # the kinds' $id is https://kubernetes.io/api/<kind>/...; their $refs name this
            "https://kubernetes.io/api/_definitions.json",
            Resource(definitions, DRAFT202012),
        )
        schema = json.loads((KUBERNETES / CORE_KINDS[api, kind]).read_text())
        return Draft202012Validator(schema, registry=registry)
    crd = yaml.safe_load((SCHEMAS / CRDS[api, kind]).read_text())
    version = api.split("/")[1]
    found = [v for v in crd["spec"]["versions"] if v["name"] == version]
    assert found, f"{CRDS[api, kind]} has no version {version}"
    return Draft202012Validator(strict(found[0]["schema"]["openAPIV3Schema"]))


def render_command(config: Path, out: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "deploy",
            "render",
            "--config",
            str(config),
            "--out",
            str(out),
            *args,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Path, list[dict], Path]:
    folder = tmp_path_factory.mktemp("render")
    config = folder / "hub.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    out = folder / "manifests"
    done = render_command(
        config,
        out,
        "--strimzi",
        "--agency-side",
        "open311-surabaya",
        "--image",
        "registry.lapor.go.id/lapor-hub:1.0",
    )
    assert done.returncode == 0, done.stderr
    files = yaml.safe_load((out / "kustomization.yaml").read_text())["resources"]
    assert sorted(files) == sorted(p.name for p in out.glob("*.yaml") if p.name[0].isdigit())
    return config, [yaml.safe_load((out / name).read_text()) for name in files], out


def test_every_object_is_valid_against_its_schema(rendered) -> None:
    _, objects, _ = rendered
    kinds = {(o["apiVersion"], o["kind"]) for o in objects}
    assert kinds == set(CORE_KINDS) | set(CRDS), kinds
    for obj in objects:
        errors = sorted(validator_for(obj["apiVersion"], obj["kind"]).iter_errors(obj), key=str)
        assert not errors, f"{obj['kind']} {obj['metadata']['name']}: " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]
        )


def test_a_field_the_schema_does_not_know_is_caught() -> None:
    """The check bites: an ACL with a misspelt field, a pod with an unknown one."""
    user = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaUser",
        "metadata": {"name": "x"},
        "spec": {
            "authentication": {"type": "scram-sha-512"},
            "authorization": {
                "type": "simple",
                "acls": [{"resource": {"type": "topic", "name": "a"}, "operation": "Read"}],
            },
        },
    }
    assert list(validator_for("kafka.strimzi.io/v1", "KafkaUser").iter_errors(user))
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "dat": {}}
    assert list(validator_for("v1", "ConfigMap").iter_errors(config))


def test_topics_and_users_are_what_the_specs_and_the_plan_say(rendered) -> None:
    config_path, objects, _ = rendered
    config = load_config(config_path)
    topics = {o["spec"]["topicName"]: o["spec"] for o in objects if o["kind"] == "KafkaTopic"}
    wanted = {spec.name: on_cluster(spec, 3) for spec in all_topics(config, 3)}
    assert set(topics) == set(wanted)
    for name, spec in wanted.items():
        assert topics[name]["partitions"] == spec.partitions, name
        assert topics[name]["replicas"] == spec.replication, name
        assert topics[name]["config"] == dict(spec.config), name
    # every topic as durable as the three-broker cluster, whatever a local file said
    assert {t["replicas"] for t in topics.values()} == {3}
    assert all(t["config"]["min.insync.replicas"] == "2" for t in topics.values())

    plan = make_plan(config)
    users = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "KafkaUser"}
    assert set(users) == set(plan.principals)
    for principal, spec in users.items():
        assert spec["authentication"] == {"type": "scram-sha-512"}
        said = {
            (
                a["type"],
                resource["type"],
                resource["name"],
                resource["patternType"],
                *sorted(a["operations"]),
            )
            for a in spec["authorization"]["acls"]
            for resource in [a["resource"]]
        }
        planned = {
            (
                g.permission.lower(),
                RESOURCE[g.resource],
                g.name,
                PATTERN[g.pattern],
                *sorted(map(strimzi_operation, g.operations)),
            )
            for g in plan.of(principal)
        }
        assert said == planned, principal
    # the audit trail: written by its writer alone, the hub's own principal denied it
    assert ("deny", "topic", "lapor.audit", "literal", "Write") in {
        (a["type"], *a["resource"].values(), *a["operations"])
        for a in users["hub-runtime"]["authorization"]["acls"]
    }
    writers = {
        name
        for name, spec in users.items()
        for a in spec["authorization"]["acls"]
        if a["type"] == "allow"
        and a["resource"]["name"] in ("lapor.audit", "lapor-audit-writer")
        and "Write" in a["operations"]
    }
    assert writers == {"hub-audit"}


def test_the_pods_run_the_hub_as_the_configuration_says(rendered, tmp_path: Path) -> None:
    _, objects, out = rendered
    by = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    hub = by["StatefulSet", "lapor-hub"]["spec"]["template"]["spec"]
    container = hub["containers"][0]
    assert container["image"] == "registry.lapor.go.id/lapor-hub:1.0"
    assert container["args"][:1] == ["up"] and "$(POD_NAME)" in container["args"]
    # routed to and tracked here, its sides run at the agency
    assert container["args"][-2:] == ["--agency-side", "open311-surabaya"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert hub["securityContext"]["runAsNonRoot"] is True
    secrets = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]
    }
    assert secrets["KAFKA_PASSWORD"] == {"name": "hub-runtime", "key": "password"}
    assert {"LAPOR_API_TOKEN", "SMS_1708_SECRETS"} <= set(secrets)
    assert "SURABAYA_KEY" not in secrets  # the agency's secret stays with its own pod
    # the hub's pods record actions: the audit signing key and the audit writer's password
    assert secrets["AUDIT_KAFKA_PASSWORD"] == {"name": "hub-audit", "key": "password"}
    assert "LAPOR_HUB_AUDIT_KEY" in secrets
    webhooks = by["Service", "lapor-hub-webhooks"]["spec"]["ports"]
    assert [p["port"] for p in webhooks] == [8104]

    connect = by["Deployment", "lapor-connect-open311-surabaya"]["spec"]["template"]["spec"]
    args = connect["containers"][0]["args"]
    assert args[:2] == ["connect", "open311-surabaya"]
    env = {e["name"]: e for e in connect["containers"][0]["env"]}
    assert not {"LAPOR_HUB_AUDIT_KEY", "AUDIT_KAFKA_PASSWORD"} & set(env), "never an agency's"
    assert (
        env["KAFKA_PASSWORD"]["valueFrom"]["secretKeyRef"]["name"] == "connector-open311-surabaya"
    )
    # the agency's pod holds its connector's own key ring, never the network's
    keys = {v["name"]: v for v in connect["volumes"]}["identity"]["secret"]["secretName"]
    assert keys == "lapor-hub-identity-keys-open311-surabaya"
    central = {v["name"]: v for v in hub["volumes"]}["identity"]["secret"]["secretName"]
    assert central == "lapor-hub-identity-keys"

    # the configuration each pod reads is one the hub accepts, with its own principal
    everything = {"lapor-nasional", "sms-1708", "open311-surabaya"}
    for name, principal, connectors in (
        ("lapor-hub", "hub-runtime", everything),
        ("lapor-hub-tracker", "hub-tracker", everything),
        ("lapor-connect-open311-surabaya", "connector-open311-surabaya", {"open311-surabaya"}),
    ):
        path = tmp_path / f"{name}.yaml"
        path.write_text(by["ConfigMap", name]["data"]["hub.yaml"])
        loaded = load_config(path)
        assert set(loaded.connectors) == connectors
        assert loaded.kafka is not None and loaded.kafka.username == principal
        assert loaded.kafka.audit_username == ("hub-audit" if name == "lapor-hub" else None)
        assert loaded.metrics.host == "0.0.0.0"
        for entry in loaded.connectors.values():
            if "webhook" in entry:  # the Service reaches the pod's address, not its loopback
                assert entry["webhook"]["host"] == "0.0.0.0"
    assert not any(o["kind"] == "Secret" for o in objects), "nothing secret is rendered"
    assert "s3cret" not in "".join(p.read_text() for p in out.glob("*.yaml"))


def test_an_unknown_agency_side_connector_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    done = render_command(config, tmp_path / "out", "--agency-side", "pemkot-atlantis")
    assert done.returncode == 2
    assert "pemkot-atlantis" in done.stderr and "lapor-nasional" in done.stderr
    assert not (tmp_path / "out").exists(), "nothing is written for a refused rendering"


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"rules": "my_rules"}, "its own rules"),
        (
            {
                "connectors": {
                    "sms": {
                        **CONFIG["connectors"]["sms-1708"],
                        "webhook": {"port": 1, "secrets": ["x"]},
                    }
                }
            },
            "ConfigMap",
        ),
        (
            {
                "connectors": {
                    "a": {**CONFIG["connectors"]["lapor-nasional"], "tls": {"ca": "/etc/ca.pem"}}
                }
            },
            "TLS files",
        ),
    ],
)
def test_what_a_pod_could_not_run_is_refused(tmp_path: Path, change: dict, said: str) -> None:
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump({**CONFIG, **change}))
    done = render_command(config, tmp_path / "out")
    assert done.returncode == 2 and said in " ".join(done.stderr.split()), done.stderr


def test_two_connectors_on_one_webhook_port_are_refused(tmp_path: Path) -> None:
    """Processes share a webhook port (SO_REUSEPORT): two connectors on it would silently
    split their pushes, so the configuration is refused."""
    config = tmp_path / "hub.yaml"
    twin = {**CONFIG["connectors"]["sms-1708"]}
    config.write_text(yaml.safe_dump({"connectors": {"sms-a": twin, "sms-b": twin}}))
    with pytest.raises(HubError) as refused:
        load_config(config)
    assert "'sms-a' and 'sms-b' both take webhooks on port 8104" in refused.value.message


def test_every_secret_a_pod_reads_is_made_by_strimzi_or_by_kustomize(rendered) -> None:
    """No pod waits for a Secret nobody makes: the Kafka users' (Strimzi's User Operator),
    the cluster CA (Strimzi), or one Kustomize makes from a file in secrets/."""
    _, objects, out = rendered
    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
    generated = {g["name"]: g for g in kustomization["secretGenerator"]}
    made = set(generated) | {o["metadata"]["name"] for o in objects if o["kind"] == "KafkaUser"}
    made.add("lapor-cluster-ca-cert")
    for obj in objects:
        if obj["kind"] not in ("StatefulSet", "Deployment"):
            continue
        pod = obj["spec"]["template"]["spec"]
        for container in pod["containers"]:
            for env in container["env"]:
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in made, (obj["metadata"]["name"], ref)
                    if ref["name"] in generated:  # the key the pod reads is the one made
                        made_keys = [
                            f.split("=")[0] for f in generated[ref["name"]].get("files", [])
                        ]
                        assert made_keys == [] or ref["key"] in made_keys, ref
        for volume in pod["volumes"]:
            if "secret" in volume:
                assert volume["secret"]["secretName"] in made, volume
    readme = (out / "secrets" / "README.md").read_text()
    assert "LAPOR_API_TOKEN" in readme and "SMS_1708_SECRETS" in readme
    assert "identity-keys-open311-surabaya.json" in readme and "keys export" in readme
    assert kustomization["generatorOptions"] == {"disableNameSuffixHash": True}
