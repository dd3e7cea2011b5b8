"""Per-agency access to Kafka: one principal per connector, ACLs on its own topics only
(``lapor-hub security plan|apply``).

A connector's principal ``connector-<instance>`` gets PREFIXED ACLs on
``lapor.in.<instance>`` (write), ``lapor.out.<instance>`` (read), ``lapor.status.<instance>``
(write) and ``lapor.feedback.<instance>`` (read), as its capabilities need them, its consumer
groups, and write-only access to the shared dead-letter and retry topics; with the cursor
and ledger topics it needs. It can read no other agency's topic and write none of the hub's
own (``lapor.reports``, ``lapor.routed``). The hub's processes get their own principals:
``hub-runtime`` (`lapor-hub up`: translate and route, and the sides of connectors run
centrally) and ``hub-tracker``. Users are SCRAM-SHA-512 on the SASL_SSL listener; their
passwords are written, mode 0600, to one file per principal for the operator to hand over.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from hub import topics
from hub.config import HubConfig, build_connectors
from hub.errors import HubError
from hub.kafka import make_admin
from hub.sdk import Capability

READ, WRITE, DESCRIBE, CREATE = "READ", "WRITE", "DESCRIBE", "CREATE"


@dataclass(frozen=True)
class Grant:
    principal: str
    resource: str  # TOPIC, GROUP or TRANSACTIONAL_ID
    name: str
    pattern: str  # PREFIXED or LITERAL
    operations: tuple[str, ...]


@dataclass
class Plan:
    principals: dict[str, str] = field(default_factory=dict)  # principal -> what it is
    grants: list[Grant] = field(default_factory=list)

    def grant(self, principal: str, resource: str, name: str, pattern: str, *ops: str) -> None:
        self.grants.append(Grant(principal, resource, name, pattern, tuple(ops)))

    def of(self, principal: str) -> list[Grant]:
        return [g for g in self.grants if g.principal == principal]


def _connector_grants(plan: Plan, principal: str, instance: str, caps, prefix: str) -> None:
    if caps & {Capability.PULL, Capability.PUSH, Capability.FILE}:
        plan.grant(principal, "TOPIC", topics.inbound(instance), "PREFIXED", WRITE, DESCRIBE)
    if Capability.DELIVER in caps:
        plan.grant(principal, "TOPIC", topics.outbound(instance), "PREFIXED", READ, DESCRIBE)
        plan.grant(principal, "GROUP", topics.deliver_group(prefix, instance), "PREFIXED", READ)
        plan.grant(principal, "TOPIC", topics.LEDGER, "LITERAL", READ, WRITE, DESCRIBE)
    if caps & {Capability.DELIVER, Capability.STATUS}:
        plan.grant(principal, "TOPIC", topics.status(instance), "PREFIXED", WRITE, DESCRIBE)
    if Capability.FEEDBACK in caps:
        plan.grant(principal, "TOPIC", topics.feedback(instance), "PREFIXED", READ, DESCRIBE)
        plan.grant(principal, "GROUP", topics.feedback_group(prefix, instance), "PREFIXED", READ)
    if caps & {Capability.PULL, Capability.STATUS}:
        plan.grant(principal, "TOPIC", topics.CURSORS, "LITERAL", READ, WRITE, DESCRIBE)
        plan.grant(principal, "TOPIC", topics.LEASES, "LITERAL", READ, DESCRIBE)
        lease = topics.lease_group(prefix, f"connector-{instance}")
        plan.grant(principal, "GROUP", lease, "LITERAL", READ)
    plan.grant(principal, "TOPIC", topics.DEAD_LETTER, "PREFIXED", WRITE, DESCRIBE)
    plan.grant(principal, "TOPIC", topics.RETRY, "PREFIXED", WRITE, DESCRIBE)
    plan.grant(principal, "GROUP", f"{topics.CURSOR_READER_GROUP}-", "PREFIXED", READ)
    plan.grant(principal, "GROUP", f"{topics.LEDGER_READER_GROUP}-", "PREFIXED", READ)
    # the network's identity key fingerprints, compared at start (hub.keyshare)
    plan.grant(principal, "TOPIC", topics.KEYRING, "LITERAL", READ, DESCRIBE)
    plan.grant(principal, "GROUP", f"{topics.READER_GROUP}-", "PREFIXED", READ)


def make_plan(config: HubConfig) -> Plan:
    """The principals and ACLs a configuration needs."""
    connectors = build_connectors(config)
    names = sorted(connectors)
    clashes = [(a, b) for a in names for b in names if a != b and b.startswith(a)]
    if clashes:
        a, b = clashes[0]
        raise HubError(
            f"connector {a!r} is a prefix of {b!r}: a PREFIXED ACL on {topics.inbound(a)} would "
            f"also reach {topics.inbound(b)}",
            fix=f"rename one of them (e.g. {a}-1).",
        )
    prefix = config.group_prefix
    plan = Plan()
    for instance, connector in connectors.items():
        principal = f"connector-{instance}"
        plan.principals[principal] = f"the {connector.name} connector of {connector.config.agency}"
        _connector_grants(plan, principal, instance, connector.capabilities, prefix)
    runtime = "hub-runtime"
    plan.principals[runtime] = "lapor-hub up: translate and route, central connector sides"
    plan.grant(runtime, "TOPIC", topics.PREFIX, "PREFIXED", READ, WRITE, DESCRIBE)
    plan.grant(runtime, "GROUP", f"{prefix}-", "PREFIXED", READ)
    plan.grant(runtime, "GROUP", "lapor-", "PREFIXED", READ)
    route_ids = f"{topics.route_group(prefix)}-"
    plan.grant(runtime, "TRANSACTIONAL_ID", route_ids, "PREFIXED", WRITE, DESCRIBE)
    # rules reloads are audited: the audit trail is appended under its one transactional id
    plan.grant(runtime, "TRANSACTIONAL_ID", topics.AUDIT_WRITER, "LITERAL", WRITE, DESCRIBE)
    tracker = "hub-tracker"
    plan.principals[tracker] = "lapor-hub tracker: lifecycle, clocks, statuses back"
    plan.grant(tracker, "TOPIC", topics.ROUTED, "LITERAL", READ, WRITE, DESCRIBE)
    for name in (topics.STATUS, topics.TRACKER, topics.OUTBOUND, topics.FEEDBACK):
        plan.grant(tracker, "TOPIC", name, "PREFIXED", READ, WRITE, DESCRIBE)
    plan.grant(tracker, "TOPIC", topics.dead_letter("tracker"), "LITERAL", WRITE, DESCRIBE)
    # faust declares its own topics (changelog, leader) at start: they are the tracker's
    app_id = topics.tracker_app(prefix)
    plan.grant(tracker, "TOPIC", app_id, "PREFIXED", READ, WRITE, DESCRIBE, CREATE)
    plan.grant(tracker, "GROUP", app_id, "PREFIXED", READ)
    return plan


def credentials_file(folder: Path, principal: str) -> Path:
    return folder / f"{principal}.json"


def apply_plan(bootstrap: str, plan: Plan, folder: Path) -> tuple[int, int]:
    """Create (or keep) each principal's SCRAM user and every ACL; returns (users, ACLs).

    ``bootstrap`` must let this process administer the cluster (the loopback development
    listener, or a super user's connection). A principal's password is kept from its file
    if it has one, so applying twice changes nothing."""
    admin = make_admin(bootstrap)
    folder.mkdir(parents=True, exist_ok=True)
    upserts = []
    for principal in plan.principals:
        path = credentials_file(folder, principal)
        if path.exists():
            password = json.loads(path.read_text())["password"]
        else:
            password = secrets.token_urlsafe(24)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as out:
                json.dump({"username": principal, "password": password}, out)
        info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
        upserts.append(UserScramCredentialUpsertion(principal, info, password.encode()))
    for future in admin.alter_user_scram_credentials(upserts).values():
        future.result()
    wanted = dict.fromkeys(  # one binding per grant, once (two grants may coincide)
        (g.resource, g.name, g.pattern, g.principal, operation)
        for g in plan.grants
        for operation in g.operations
    )
    bindings = [
        AclBinding(
            ResourceType[resource],
            name,
            ResourcePatternType[pattern],
            f"User:{principal}",
            "*",
            AclOperation[operation],
            AclPermissionType.ALLOW,
        )
        for resource, name, pattern, principal, operation in wanted
    ]
    for future in admin.create_acls(bindings).values():
        future.result()
    return len(upserts), len(bindings)


def apply_plan_audited(
    bootstrap: str, plan: Plan, folder: Path, what: dict[str, str]
) -> tuple[int, int]:
    """``apply_plan``, recorded in the audit trail whether it worked or not."""
    from hub import audit

    try:
        users, acls = apply_plan(bootstrap, plan, folder)
    except Exception as exc:
        audit.record(bootstrap, "security.apply", what, f"failed: {exc}")
        raise
    audit.record(bootstrap, "security.apply", {**what, "users": users, "acls": acls})
    return users, acls
