"""Per-agency access to Kafka: one principal per connector, ACLs on its own topics only
(``lapor-hub security plan|apply``).

A connector's principal ``connector-<instance>`` gets LITERAL ACLs on its own topics only,
as its capabilities need them: ``lapor.in.<instance>`` (write), ``lapor.out.<instance>``
(read), ``lapor.status.<instance>`` (write), ``lapor.feedback.<instance>`` (read), its own
cursors and ledger (``lapor.cursors.<instance>``, ``lapor.ledger.<instance>``), and
``lapor.failed.<instance>`` (write: its retries and dead letters, which the hub checks and
moves on), with its consumer groups. It can read no other agency's topic and write none of
the hub's: not the retry, dead-letter, audit or report topics. The hub's processes get their
own principals: ``hub-runtime`` (`lapor-hub up`: translate and route, and the sides of
connectors run centrally), ``hub-tracker``, and ``hub-audit``, the only principal that may
append to the audit trail (``hub-runtime`` is denied it explicitly). Users are SCRAM-SHA-512
on the SASL_SSL listener; their passwords are written, mode 0600, to one file per principal
for the operator to hand over.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
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
from hub.kafka import ENFORCED_CONFIGS, make_admin
from hub.sdk import Capability
from hub.topic_specs import hub_topics

READ, WRITE, DESCRIBE, CREATE = "READ", "WRITE", "DESCRIBE", "CREATE"
DESCRIBE_CONFIGS, ALTER_CONFIGS = "DESCRIBE_CONFIGS", "ALTER_CONFIGS"


@dataclass(frozen=True)
class Grant:
    principal: str
    resource: str  # TOPIC, GROUP or TRANSACTIONAL_ID
    name: str
    pattern: str  # PREFIXED or LITERAL
    operations: tuple[str, ...]
    permission: str = "ALLOW"  # or DENY, which Kafka weighs before any ALLOW


@dataclass
class Plan:
    principals: dict[str, str] = field(default_factory=dict)  # principal -> what it is
    grants: list[Grant] = field(default_factory=list)

    def grant(self, principal: str, resource: str, name: str, pattern: str, *ops: str) -> None:
        self.grants.append(Grant(principal, resource, name, pattern, tuple(ops)))

    def deny(self, principal: str, resource: str, name: str, *ops: str) -> None:
        """Refuse what a broader grant of the principal's would otherwise allow."""
        self.grants.append(Grant(principal, resource, name, "LITERAL", tuple(ops), "DENY"))

    def of(self, principal: str) -> list[Grant]:
        return [g for g in self.grants if g.principal == principal]


def _connector_grants(plan: Plan, principal: str, instance: str, caps, prefix: str) -> None:
    """LITERAL grants on the connector's own topics only: a PREFIXED one on
    ``lapor.out.open311`` would also reach ``lapor.out.open311-surabaya``."""

    def topic(name: str, *operations: str) -> None:
        plan.grant(principal, "TOPIC", name, "LITERAL", *operations, DESCRIBE)

    def group(name: str) -> None:
        plan.grant(principal, "GROUP", name, "LITERAL", READ)

    if caps & {Capability.PULL, Capability.PUSH, Capability.FILE}:
        topic(topics.inbound(instance), WRITE)
    if Capability.DELIVER in caps:
        topic(topics.outbound(instance), READ)
        group(topics.deliver_group(prefix, instance))
        topic(topics.ledger(instance), READ, WRITE)
    if caps & {Capability.DELIVER, Capability.STATUS}:
        topic(topics.status(instance), WRITE)
    if Capability.FEEDBACK in caps:
        topic(topics.feedback(instance), READ)
        group(topics.feedback_group(prefix, instance))
    if caps & {Capability.PULL, Capability.STATUS}:
        topic(topics.cursors(instance), READ, WRITE)
        topic(topics.LEASES, READ)
        group(topics.lease_group(prefix, f"connector-{instance}"))
    # its retries and dead letters, which the hub checks and moves on (hub.dataplane.failures)
    topic(topics.failed(instance), WRITE)
    # short-lived readers (cursors, ledger, the key ring) assign partitions themselves
    for reader in (topics.CURSOR_READER_GROUP, topics.LEDGER_READER_GROUP, topics.READER_GROUP):
        plan.grant(principal, "GROUP", f"{reader}-", "PREFIXED", READ)
    # the network's identity key fingerprints, compared at start (hub.keyshare)
    topic(topics.KEYRING, READ)


def make_plan(config: HubConfig) -> Plan:
    """The principals and ACLs a configuration needs."""
    connectors = build_connectors(config)
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
    # the settings `up` brings existing topics to at start (hub.kafka._bring_configs: the
    # broker's time on statuses and decisions, dead letters' size limits), on those topics
    # only: a principal that may alter the audit trail's settings could shorten its retention
    for spec in hub_topics(config):
        if ENFORCED_CONFIGS & set(spec.config):
            plan.grant(runtime, "TOPIC", spec.name, "LITERAL", DESCRIBE_CONFIGS, ALTER_CONFIGS)
    # the audit trail is the audit writer's alone, whatever the prefix grant above says
    plan.deny(runtime, "TOPIC", topics.AUDIT, WRITE)
    _audit_writer_grants(plan)
    tracker = "hub-tracker"
    plan.principals[tracker] = "lapor-hub tracker: lifecycle, clocks, statuses back"
    plan.grant(tracker, "TOPIC", topics.ROUTED, "LITERAL", READ, WRITE, DESCRIBE)
    for name in (topics.STATUS, topics.TRACKER, topics.OUTBOUND, topics.FEEDBACK):
        plan.grant(tracker, "TOPIC", name, "PREFIXED", READ, WRITE, DESCRIBE)
    plan.grant(tracker, "TOPIC", topics.dead_letter("tracker"), "LITERAL", WRITE, DESCRIBE)
    # its identity key ring checked against the network's at start (hub.keyshare)
    plan.grant(tracker, "TOPIC", topics.KEYRING, "LITERAL", READ, DESCRIBE)
    plan.grant(tracker, "GROUP", f"{topics.READER_GROUP}-", "PREFIXED", READ)
    # faust declares its own topics (changelog, leader) at start: they are the tracker's
    app_id = topics.tracker_app(prefix)
    plan.grant(tracker, "TOPIC", app_id, "PREFIXED", READ, WRITE, DESCRIBE, CREATE)
    plan.grant(tracker, "GROUP", app_id, "PREFIXED", READ)
    return plan


AUDIT_WRITER_PRINCIPAL = "hub-audit"


def _audit_writer_grants(plan: Plan) -> None:
    """The one principal that may append to ``lapor.audit``. The processes that record
    actions (``up`` for rules reloads, the operator's commands) hold its credentials beside
    their own (hub.audit); no agency's process ever does."""
    writer = AUDIT_WRITER_PRINCIPAL
    plan.principals[writer] = "the audit writer: the only principal that appends to lapor.audit"
    plan.grant(writer, "TOPIC", topics.AUDIT, "LITERAL", READ, WRITE, DESCRIBE, CREATE)
    plan.grant(writer, "TRANSACTIONAL_ID", topics.AUDIT_WRITER, "LITERAL", WRITE, DESCRIBE)
    plan.grant(writer, "GROUP", f"{topics.READER_GROUP}-", "PREFIXED", READ)


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
        (g.resource, g.name, g.pattern, g.principal, operation, g.permission)
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
            AclPermissionType[permission],
        )
        for resource, name, pattern, principal, operation, permission in wanted
    ]
    for future in admin.create_acls(bindings).values():
        future.result()
    _remove_stale(admin, plan, set(wanted))
    return len(upserts), len(bindings)


def _remove_stale(admin, plan: Plan, wanted: set[tuple]) -> int:
    """Delete what the plan's principals were granted before and the plan no longer gives
    (an older release's PREFIXED grants on the shared retry and dead-letter topics would
    otherwise stay, and with them a way to another agency's topics). Only the principals of
    the plan are touched; the number of bindings removed."""
    stale = []
    for principal in plan.principals:
        found = admin.describe_acls(
            AclBindingFilter(
                ResourceType.ANY,
                None,
                ResourcePatternType.ANY,
                f"User:{principal}",
                None,
                AclOperation.ANY,
                AclPermissionType.ANY,
            )
        ).result()
        for binding in found:
            key = (
                binding.restype.name,
                binding.name,
                binding.resource_pattern_type.name,
                principal,
                binding.operation.name,
                binding.permission_type.name,
            )
            if key not in wanted:
                stale.append(binding)
    if stale:
        filters = [
            AclBindingFilter(
                b.restype,
                b.name,
                b.resource_pattern_type,
                b.principal,
                b.host,
                b.operation,
                b.permission_type,
            )
            for b in stale
        ]
        for future in admin.delete_acls(filters).values():
            future.result()
    return len(stale)


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
