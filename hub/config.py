"""The hub's configuration file: its connectors, its rules, its topics (``lapor-hub up``).

rules: routing_rules            # the rules folder (default: the checkout's)
connectors:                     # instance name -> its type and the type's settings
  lapor-nasional: {type: lapor-json, agency: admin-nasional, base_url: http://...}
  open311-surabaya: {type: open311, agency: pemkot-surabaya, base_url: http://...}
topics: {partitions: 3, replication: 1, retention_days: 7}
group_prefix: lapor             # consumer groups and transactional ids start with it
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

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
    """How a process reaches Kafka with credentials of its own (``lapor-hub connect``)."""

    model_config = ConfigDict(extra="forbid")

    bootstrap: str
    username: str
    password_env: str  # the variable holding the password (never the file)
    ca: Path  # the CA certificate the broker's TLS listener is signed by

    def environment(self) -> dict[str, str]:
        import os

        password = os.environ.get(self.password_env)
        if not password:
            raise HubError(
                f"kafka.password_env names {self.password_env}, which is not set",
                fix=f"export {self.password_env}=<the password `lapor-hub security apply` "
                "wrote for this principal>.",
            )
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": self.username,
            "KAFKA_SASL_PASSWORD": password,
            "KAFKA_SSL_CA_LOCATION": str(self.ca),
        }


class HubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: Path = Field(default_factory=default_rules_dir)
    kafka: KafkaAccess | None = None
    connectors: dict[str, dict[str, Any]]
    topics: TopicSettings = TopicSettings()
    group_prefix: str = Field(default="lapor", pattern=r"^[a-z0-9][a-z0-9.-]*$")


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
