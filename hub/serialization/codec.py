"""Avro on the wire, in one of two formats, with the same interface.

- ``SingleObjectCodec`` (no registry): Avro single-object encoding, ``C3 01`` + the writer
  schema's 8-byte CRC-64-AVRO fingerprint + the Avro body. The reader finds the writer's
  version on disk by fingerprint and resolves it to its own (latest) version.
- ``ConfluentCodec`` (``SCHEMA_REGISTRY_URL``): ``00`` + 4-byte schema id + body, ids from
  a Confluent Schema Registry through confluent-kafka's client. Subjects are named after the
  record (RecordNameStrategy), since several topics carry the same record.

Both refuse a value that does not fit its schema before writing a byte, naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from io import BytesIO
from typing import Any, Protocol

from fastavro import schemaless_reader, schemaless_writer
from fastavro.validation import ValidationError, validate

from hub.errors import DeserializationError, SchemaNotFound, SerializationError
from hub.serialization.store import SINGLE_OBJECT_MARKER, SchemaStore, SchemaVersion

CONFLUENT_MAGIC = b"\x00"


class Codec(Protocol):
    wire_format: str

    def encode(self, schema: str, value: Mapping[str, Any]) -> bytes: ...

    def decode(self, schema: str, data: bytes) -> dict[str, Any]: ...


def _write(header: bytes, writer: SchemaVersion, value: Mapping[str, Any]) -> bytes:
    fast = writer.fast
    if fast is not None:
        try:
            return header + fast.binary_encode(value)
        except Exception:  # fastavro, below, refuses it and names the field
            pass
    out = BytesIO()
    out.write(header)
    try:
        schemaless_writer(out, writer.parsed, value, strict_allow_default=True)
    except Exception as exc:  # fastavro raises ValueError, TypeError, AttributeError, ...
        raise _refused(writer, value, exc) from exc
    return out.getvalue()


def _refused(writer: SchemaVersion, value: Any, exc: Exception) -> SerializationError:
    """Explain which field does not fit; the writer's own error rarely names it."""
    if not isinstance(value, Mapping):
        details = f"expected a mapping of fields, got {type(value).__name__}"
    else:
        try:
            validate(value, writer.parsed, raise_errors=True, strict=True)
            details = str(exc)
        except ValidationError as invalid:
            details = "; ".join(str(e) for e in invalid.errors)
    return SerializationError(
        f"A {writer.name} value was refused (schema v{writer.version}): {details}.",
        fix=f"make the value match {writer.path}; nothing was written.",
    )


def _read(data: bytes, offset: int, writer: SchemaVersion, reader: SchemaVersion) -> dict:
    fast = writer.fast if writer is reader else None
    if fast is not None:
        try:
            return fast.binary_decode(data[offset:])
        except Exception:  # fastavro, below, says what is wrong with the bytes
            pass
    buffer = BytesIO(data)
    buffer.seek(offset)
    try:
        return schemaless_reader(  # type: ignore[return-value]
            buffer, writer.parsed, None if writer is reader else reader.parsed
        )
    except Exception as exc:  # EOFError, StopIteration, SchemaResolutionError, UnicodeError...
        raise DeserializationError(
            f"{len(data)} bytes claiming {writer.name} v{writer.version} could not be read as "
            f"{reader.name} v{reader.version}: {type(exc).__name__}: {exc or 'truncated data'}.",
            fix="the message is corrupt or was written by an incompatible schema; inspect it "
            "in the dead-letter topic.",
        ) from exc


class SingleObjectCodec:
    """Avro single-object encoding resolved against the schemas on disk."""

    wire_format = "avro-single-object"

    def __init__(self, store: SchemaStore) -> None:
        self.store = store
        self._latest = {name: store.latest(name) for name in store.names()}
        self._embedded: dict[tuple[str, int], list[tuple[dict, bytes | None]]] = {}

    def _writer(self, schema: str) -> SchemaVersion:
        try:
            return self._latest[schema]
        except KeyError:
            return self.store.latest(schema)  # raises SchemaNotFound with the known names

    def encode(self, schema: str, value: Mapping[str, Any]) -> bytes:
        writer = self._writer(schema)
        return _write(writer.header, writer, value)

    def encode_joined(self, schema: str, parts: Sequence[bytes]) -> bytes:
        """A record whose fields are all records this codec encoded already, written
        without decoding or encoding them again: Avro's binary encoding of a record is its
        fields' encodings in order. Each part must be the version the record embeds."""
        writer = self._writer(schema)
        expected = self._embedded_headers(writer)
        if len(parts) != len(expected):
            raise SerializationError(
                f"{schema} has {len(expected)} fields; {len(parts)} encoded parts were given."
            )
        for (field, header), part in zip(expected, parts, strict=True):
            if header is None or part[:10] != header:
                raise SerializationError(
                    f"{schema}.{field['name']} takes {field['type']} as {schema} "
                    f"v{writer.version} embeds it; the part given is something else.",
                    fix="encode the field with the version the record embeds.",
                )
        return writer.header + b"".join(part[10:] for part in parts)

    def _embedded_headers(self, writer: SchemaVersion) -> list[tuple[dict, bytes | None]]:
        """Each field of ``writer`` with the header of the record version it embeds."""
        key = (writer.name, writer.version)
        if key not in self._embedded:
            embeds = {r["name"]: r for r in writer.references}
            expected = []
            for field in writer.declared["fields"]:
                embedded = embeds.get(field["type"]) if isinstance(field["type"], str) else None
                found = (
                    self.store.get(embedded["schema"], embedded["version"]) if embedded else None
                )
                expected.append((field, found.header if found is not None else None))
            self._embedded[key] = expected
        return self._embedded[key]

    def decode(self, schema: str, data: bytes) -> dict[str, Any]:
        reader = self._writer(schema)
        if data[:2] != SINGLE_OBJECT_MARKER or len(data) < 10:
            raise DeserializationError(
                f"Expected Avro single-object bytes for {schema} (they start with C3 01), got "
                f"{len(data)} bytes starting {data[:4].hex(' ') or '(empty)'}.",
                fix="check what wrote to this topic: a registry-encoded message starts with 00, "
                "and raw JSON with 7B.",
            )
        writer = self.store.by_fingerprint(data[2:10])
        if writer is None:
            raise DeserializationError(
                f"The bytes were written with a schema of fingerprint {data[2:10].hex()}, "
                f"which matches no version in {self.store.root}.",
                fix="add the writer's schema version to schemas/ (the writer runs a newer "
                "lapor-hub?).",
            )
        if writer.name != reader.name:
            raise DeserializationError(
                f"Expected a {schema} but the bytes hold a {writer.name} v{writer.version}.",
                fix="check that the producer writes the record this topic carries.",
            )
        return _read(data, 10, writer, reader)


class ConfluentCodec:
    """The Confluent wire format, schema ids from a Schema Registry."""

    wire_format = "confluent"

    def __init__(self, store: SchemaStore, client: Any, auto_register: bool = False) -> None:
        from hub.serialization.registry import RegistrySchemas

        self.store = store
        self._latest = {name: store.latest(name) for name in store.names()}
        self.registry = RegistrySchemas(store, client)
        self.auto_register = auto_register
        self._writers: dict[str, tuple[bytes, SchemaVersion]] = {}

    def _writer(self, schema: str) -> tuple[bytes, SchemaVersion]:
        cached = self._writers.get(schema)
        if cached is None:
            latest = self.store.latest(schema)
            schema_id = self.registry.id_of(latest)
            if schema_id is None and self.auto_register:
                schema_id = self.registry.register(schema)[-1][1]
            if schema_id is None:
                raise SchemaNotFound(
                    f"{schema} v{latest.version} is not registered in the schema registry "
                    f"(subject {latest.fullname}).",
                    fix="run `lapor-hub schemas register`.",
                )
            cached = CONFLUENT_MAGIC + schema_id.to_bytes(4, "big"), latest
            self._writers[schema] = cached
        return cached

    def encode(self, schema: str, value: Mapping[str, Any]) -> bytes:
        header, writer = self._writer(schema)
        return _write(header, writer, value)

    def decode(self, schema: str, data: bytes) -> dict[str, Any]:
        reader = self._latest.get(schema) or self.store.latest(schema)
        if data[:1] != CONFLUENT_MAGIC or len(data) < 5:
            raise DeserializationError(
                f"Expected Confluent-framed Avro for {schema} (magic byte 00 + schema id), got "
                f"{len(data)} bytes starting {data[:4].hex(' ') or '(empty)'}.",
                fix="check what wrote to this topic: single-object Avro starts with C3 01.",
            )
        writer = self.registry.version_of_id(int.from_bytes(data[1:5], "big"))
        if writer.fullname != reader.fullname:
            raise DeserializationError(
                f"Expected a {schema} but schema id {int.from_bytes(data[1:5], 'big')} is "
                f"{writer.fullname}.",
                fix="check that the producer writes the record this topic carries.",
            )
        return _read(data, 5, writer, reader)
