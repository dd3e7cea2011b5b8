"""Settings read from the environment, in one place."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Newest Kafka release that confluent-kafka 2.16 and faust-streaming (aiokafka 0.14) both pass
# the integration suite against; see deploy/local/README.md for why.
KAFKA_VERSION = "4.4.0"

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def _default_home() -> Path:
    """A source checkout keeps its state beside the code (git-ignored); an install uses ~."""
    if (_SOURCE_ROOT / "pyproject.toml").is_file() and (_SOURCE_ROOT / "deploy").is_dir():
        return _SOURCE_ROOT / ".lapor-hub"
    return Path.home() / ".lapor-hub"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias="KAFKA_BOOTSTRAP_SERVERS",
        description="An existing Kafka cluster; when unset the hub uses its local broker.",
    )
    home: Path = Field(
        default_factory=_default_home,
        validation_alias="LAPOR_HUB_HOME",
        description="Where the local broker's jars, data and logs live.",
    )
    cache: Path | None = Field(
        default=None,
        validation_alias="LAPOR_HUB_CACHE",
        description="Where fetched Kafka jars are cached (default: the home folder).",
    )
    schema_registry_url: str | None = Field(
        default=None,
        validation_alias="SCHEMA_REGISTRY_URL",
        description="A Confluent Schema Registry; when unset, Avro single-object encoding "
        "resolved against schemas/ on disk.",
    )
    schema_registry_username: str | None = Field(
        default=None,
        validation_alias="SCHEMA_REGISTRY_USERNAME",
        description="HTTP Basic user of the Schema Registry (with SCHEMA_REGISTRY_PASSWORD).",
    )
    schema_registry_password: SecretStr | None = Field(
        default=None, validation_alias="SCHEMA_REGISTRY_PASSWORD"
    )
    schema_registry_ca: Path | None = Field(
        default=None,
        validation_alias="SCHEMA_REGISTRY_CA",
        description="The CA the registry's TLS certificate is signed by (a private CA).",
    )
    schemas_dir: Path | None = Field(
        default=None,
        validation_alias="LAPOR_HUB_SCHEMAS",
        description="The schemas/ folder (default: the checkout's or the installed copy).",
    )
    kafka_version: str = Field(
        default=KAFKA_VERSION,
        validation_alias="LAPOR_HUB_KAFKA_VERSION",
        description="Apache Kafka release the local broker fetches from Maven Central.",
    )


def load_settings() -> Settings:
    return Settings()


def jar_cache(settings: Settings) -> Path:
    return settings.cache or settings.home
