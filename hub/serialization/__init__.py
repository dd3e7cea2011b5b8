"""Avro for every hub topic: the schemas on disk, two wire formats, one serializer.

codec = make_codec(load_settings())
serializer = TopicSerializer(codec)
data = serializer.serialize("lapor.reports", report)
report = serializer.deserialize("lapor.reports", data)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hub.errors import HubError
from hub.serialization.codec import Codec, ConfluentCodec, SingleObjectCodec
from hub.serialization.compat import check_schemas
from hub.serialization.store import SchemaStore, SchemaVersion, default_schema_dir
from hub.settings import Settings
from hub.topics import value_schema

__all__ = [
    "Codec",
    "ConfluentCodec",
    "SchemaStore",
    "SchemaVersion",
    "SingleObjectCodec",
    "TopicSerializer",
    "check_schemas",
    "load_store",
    "make_codec",
]


def load_store(settings: Settings) -> SchemaStore:
    return SchemaStore(settings.schemas_dir or default_schema_dir())


def registry_client(settings: Settings) -> Any:
    from confluent_kafka.schema_registry import SchemaRegistryClient

    config = {"url": settings.schema_registry_url}
    if settings.schema_registry_username:
        if settings.schema_registry_password is None:
            raise HubError(
                "SCHEMA_REGISTRY_USERNAME is set without SCHEMA_REGISTRY_PASSWORD",
                fix="set both, or neither for a registry without authentication.",
            )
        password = settings.schema_registry_password.get_secret_value()
        config["basic.auth.user.info"] = f"{settings.schema_registry_username}:{password}"
    if settings.schema_registry_ca:
        config["ssl.ca.location"] = str(settings.schema_registry_ca)
    return SchemaRegistryClient.new_client(config)


def make_codec(settings: Settings, store: SchemaStore | None = None) -> Codec:
    """The Confluent format when SCHEMA_REGISTRY_URL is set, single-object encoding if not."""
    store = store or load_store(settings)
    if settings.schema_registry_url:
        return ConfluentCodec(store, registry_client(settings))
    return SingleObjectCodec(store)


class TopicSerializer:
    """Values for any hub topic: Avro where the topic carries a record, bytes where raw."""

    def __init__(self, codec: Codec) -> None:
        self.codec = codec
        self._schemas: dict[str, str | None] = {}

    def _schema(self, topic: str) -> str | None:
        if topic not in self._schemas:
            self._schemas[topic] = value_schema(topic)
        return self._schemas[topic]

    def serialize(self, topic: str, value: Mapping[str, Any] | bytes) -> bytes:
        schema = self._schema(topic)
        if schema is None:
            if not isinstance(value, bytes | bytearray):
                raise TypeError(f"{topic} carries raw bytes, got {type(value).__name__}")
            return bytes(value)
        return self.codec.encode(schema, value)  # type: ignore[arg-type]

    def serialize_joined(
        self, topic: str, parts: Sequence[bytes], value: Mapping[str, Any]
    ) -> bytes:
        """``value`` for ``topic``, by joining ``parts`` (its fields, already encoded) where
        the codec can, by encoding ``value`` whole where it cannot."""
        join = getattr(self.codec, "encode_joined", None)
        schema = self._schema(topic)
        if join is None or schema is None:
            return self.serialize(topic, value)
        return join(schema, parts)

    def deserialize(self, topic: str, data: bytes) -> dict[str, Any] | bytes:
        schema = self._schema(topic)
        return data if schema is None else self.codec.decode(schema, data)
