"""The hub's configuration file: its connectors, its rules, its topics (``lapor-hub up``).

rules: routing_rules            # the rules folder (default: the checkout's)
connectors:                     # instance name -> its type and the type's settings
  lapor-nasional: {type: lapor-json, agency: admin-nasional, base_url: http://...}
  open311-surabaya: {type: open311, agency: pemkot-surabaya, base_url: http://...}
topics: {partitions: 3, replication: 1, retention_days: 7}
group_prefix: lapor             # consumer groups and transactional ids start with it
kafka: {bootstrap: broker-1.lapor.go.id:9093, username: hub, password_env: LAPOR_KAFKA_PASSWORD,
        ca: /etc/lapor-hub/ca.pem,   # every command, when absent: KAFKA_* variables
        audit_username: hub-audit, audit_password_env: LAPOR_AUDIT_PASSWORD}  # the audit
                                     # writer's, for the hub's processes that record actions
metrics: {host: 0.0.0.0, port: 9400}  # /metrics, /healthz, /readyz (tracker: port + 1)
console: {host: 127.0.0.1, port: 8400}  # the operator console (docs/console.md)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hub.errors import ConnectorError, HubError
from hub.routing import default_rules_dir
from hub.sdk import Connector, get_connector
from hub.yamlfile import load_yaml, validate


class TopicSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    partitions: int = Field(default=3, ge=1, le=256)
    replication: int = Field(default=1, ge=1, le=5)
    retention_days: int = Field(default=7, ge=1, le=3650)


class KafkaAccess(BaseModel):
    """Where and as whom every command reaches Kafka: with ``username``, over SASL_SSL
    (``ca``: the CA the listener's certificate is signed by); with ``ca`` only, over TLS;
    with neither, in plain text (a loopback or private listener). The password is never in
    the file: ``password_env`` names the variable holding it."""

    model_config = ConfigDict(extra="forbid")

    bootstrap: str = Field(min_length=1)
    username: str | None = None
    password_env: str | None = None
    mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    ca: Path | None = None
    # the audit writer's (hub-audit), held beside this process's own by the hub's processes
    # that record actions: it alone may append to lapor.audit
    audit_username: str | None = None
    audit_password_env: str | None = None

    @model_validator(mode="after")
    def _credentials_whole(self) -> KafkaAccess:
        if (self.username is None) != (self.password_env is None):
            raise ValueError("username and password_env go together")
        if (self.audit_username is None) != (self.audit_password_env is None):
            raise ValueError("audit_username and audit_password_env go together")
        return self

    @staticmethod
    def _password(variable: str) -> str:
        password = os.environ.get(variable)
        if not password:
            raise HubError(
                f"the kafka section names {variable}, which is not set",
                fix=f"export {variable}=<the password `lapor-hub security apply` wrote for "
                "this principal>.",
            )
        return password

    @property
    def protocol(self) -> str:
        if self.username:
            return "SASL_SSL"
        return "SSL" if self.ca else "PLAINTEXT"

    def environment(self) -> dict[str, str]:
        """The variables hub.kafka.client_security and kafka_bootstrap read."""
        found = {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap}
        if self.protocol != "PLAINTEXT":
            found["KAFKA_SECURITY_PROTOCOL"] = self.protocol
        if self.ca is not None:
            found["KAFKA_SSL_CA_LOCATION"] = str(self.ca)
        if self.username and self.password_env:
            found |= {
                "KAFKA_SASL_MECHANISM": self.mechanism,
                "KAFKA_SASL_USERNAME": self.username,
                "KAFKA_SASL_PASSWORD": self._password(self.password_env),
            }
        if self.audit_username and self.audit_password_env:
            found |= {
                "LAPOR_HUB_AUDIT_SASL_USERNAME": self.audit_username,
                "LAPOR_HUB_AUDIT_SASL_PASSWORD": self._password(self.audit_password_env),
            }
        return found


class MetricsAddress(BaseModel):
    """Where /metrics, /healthz and /readyz are served (the tracker's on ``port`` + 1).
    Loopback unless told otherwise: a pod or a scraper elsewhere needs host 0.0.0.0."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int | None = Field(default=None, ge=1, le=65534)


class OidcSettings(BaseModel):
    """Log in through a government identity provider (OpenID Connect, authorization code).
    The provider says each user's role and agency in claims of its ID token."""

    model_config = ConfigDict(extra="forbid")

    metadata_url: str = Field(pattern=r"^https?://")  # .../.well-known/openid-configuration
    client_id: str
    client_secret_env: str  # the variable holding the client secret
    label: str = "SSO"  # the login button's name
    role_claim: str = "lapor_role"  # viewer, agency or national
    agency_claim: str = "lapor_agency"
    default_role: Literal["viewer", "none"] = "none"  # none: a user without the claim is refused
    scope: str = "openid profile email"


class ConsoleSettings(BaseModel):
    """The operator console (``lapor-hub console``, or beside ``up``)."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8400, ge=1, le=65535)
    accounts: Path | None = None  # default: <LAPOR_HUB_HOME>/console-accounts.yaml
    # signs the session cookies; default: <LAPOR_HUB_HOME>/console-secret (made on first use)
    secret_env: str = "LAPOR_HUB_CONSOLE_SECRET"
    # cookies only over HTTPS: turn off only on loopback or behind nothing (development)
    secure_cookies: bool = True
    scrape: list[str] | None = None  # host:port of each process's /metrics; default: this hub's
    # the ingress or load balancer in front: its X-Forwarded-For names the client (the
    # login limits count per client); nobody else's is believed
    trusted_proxies: list[str] = []
    language: Literal["id", "en"] = "id"
    session_hours: float = Field(default=8.0, gt=0, le=24)
    oidc: OidcSettings | None = None


class HubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: Path = Field(default_factory=default_rules_dir)
    kafka: KafkaAccess | None = None
    metrics: MetricsAddress = MetricsAddress()
    console: ConsoleSettings = ConsoleSettings()
    connectors: dict[str, dict[str, Any]]
    topics: TopicSettings = TopicSettings()
    group_prefix: str = Field(default="lapor", pattern=r"^[a-z0-9][a-z0-9.-]*$")

    @model_validator(mode="after")
    def _one_webhook_per_port(self) -> HubConfig:
        """Webhooks share their port between the hub's processes (SO_REUSEPORT): two
        connectors on one port would share their pushes, silently."""
        taken: dict[int, str] = {}
        for instance, entry in self.connectors.items():
            webhook = entry.get("webhook") if isinstance(entry, dict) else None
            if isinstance(webhook, dict) and "port" in webhook:
                port = webhook["port"]
                if port in taken:
                    raise ValueError(
                        f"connectors {taken[port]!r} and {instance!r} both take webhooks on "
                        f"port {port}: give each its own"
                    )
                taken[port] = instance
        return self


def load_config(path: Path) -> HubConfig:
    document = load_yaml(path)
    config, errors = validate(document, HubConfig)
    if errors:
        raise HubError(
            "The hub configuration has errors:\n  " + "\n  ".join(errors),
            fix="fix the places named above.",
        )
    assert config is not None
    if not config.rules.is_absolute():
        config.rules = (path.parent / config.rules).resolve()
    accounts = config.console.accounts
    if accounts is not None and not accounts.is_absolute():
        config.console.accounts = (path.parent / accounts).resolve()
    return config


HUB_SIDE = ("webhook", "poll_interval_s")  # settings of the hub's side, not the connector's


def hub_side(config: HubConfig, instance: str) -> dict[str, Any]:
    return {k: v for k, v in config.connectors[instance].items() if k in HUB_SIDE}


def build_connectors(config: HubConfig) -> dict[str, Connector]:
    """Every configured connector instance, its settings validated by its own model."""
    built: dict[str, Connector] = {}
    for instance, entry in config.connectors.items():
        settings = {k: v for k, v in entry.items() if k not in HUB_SIDE}
        kind = settings.pop("type", None)
        if not kind:
            raise ConnectorError(
                f"connector {instance!r} has no type",
                fix="add `type:` (see `lapor-hub connectors list`).",
            )
        cls = get_connector(kind)
        try:
            built[instance] = cls(settings, instance=instance)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ConnectorError(
                f"connector {instance!r} ({kind}) is misconfigured: {problems}",
                fix=f"see `lapor-hub connectors show {kind}`.",
            ) from exc
    return built
