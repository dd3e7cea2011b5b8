"""Our schemas in a Confluent Schema Registry, through confluent-kafka's client.

Subjects follow the record's full name (``lapor.hub.Report``). A schema that uses another
record is registered with a schema reference to it, the registry's own mechanism, so the
registry holds the same versions as ``schemas/`` on disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka.schema_registry import Schema, SchemaReference
from confluent_kafka.schema_registry.error import SchemaRegistryError

from hub.errors import SchemaError
from hub.serialization.store import SchemaStore, SchemaVersion, strip_fastavro_keys

_NOT_FOUND = {40400, 40401, 40403}  # not found: (mock), subject, schema


class RegistrySchemas:
    def __init__(self, store: SchemaStore, client: Any) -> None:
        self.store = store
        self.client = client
        self._by_id: dict[int, SchemaVersion] = {}

    def _as_registry_schema(self, version: SchemaVersion) -> Schema | None:
        """The registry's form of ``version``; None while a reference is unregistered."""
        references = []
        for ref in version.references:
            target = self.store.get(ref["schema"], int(ref["version"]))
            registered = self._lookup(target)
            if registered is None:
                return None
            references.append(SchemaReference(ref["name"], target.fullname, registered.version))
        return Schema(version.registry_text(), "AVRO", references)

    def _lookup(self, version: SchemaVersion) -> Any | None:
        schema = self._as_registry_schema(version)
        if schema is None:
            return None
        try:
            return self.client.lookup_schema(version.fullname, schema)
        except SchemaRegistryError as exc:
            if exc.error_code in _NOT_FOUND:
                return None
            raise _translated(exc) from exc

    def id_of(self, version: SchemaVersion) -> int | None:
        registered = self._lookup(version)
        return None if registered is None else registered.schema_id

    def register(self, name: str) -> list[tuple[int, int]]:
        """Register every version of ``name`` in order, references first.

        Returns (local version, schema id) pairs. Registering what is there already is a no-op.
        """
        done = []
        for version in self.store.versions(name):
            for ref in version.references:
                self.register(ref["schema"])
            schema = self._as_registry_schema(version)
            assert schema is not None, "references are registered just above"
            try:
                schema_id = self.client.register_schema(version.fullname, schema)
            except SchemaRegistryError as exc:
                raise _translated(exc) from exc
            self._by_id[schema_id] = version
            done.append((version.version, schema_id))
        return done

    def version_of_id(self, schema_id: int) -> SchemaVersion:
        """The writer schema behind ``schema_id``: our own version when it matches one on
        disk, otherwise the registry's text (a version this hub does not have yet)."""
        if schema_id not in self._by_id:
            try:
                schema = self.client.get_schema(schema_id)
            except SchemaRegistryError as exc:
                raise _translated(exc) from exc
            expanded = self._expand(schema)
            probe = SchemaVersion(
                name=expanded["name"].rsplit(".", 1)[-1],
                version=0,
                path=Path(f"registry schema id {schema_id}"),
                declared=json.loads(schema.schema_str),
                expanded=expanded,
            )
            self._by_id[schema_id] = self.store.by_fingerprint(probe.fingerprint) or probe
        return self._by_id[schema_id]

    def _expand(self, schema: Schema) -> dict[str, Any]:
        named: dict[str, Any] = {}
        for ref in schema.references or []:
            registered = self.client.get_version(ref.subject, ref.version)
            fastavro.parse_schema(self._expand(registered.schema), named_schemas=named)
        expanded = fastavro.parse_schema(
            json.loads(schema.schema_str), named_schemas=named, expand=True
        )
        return strip_fastavro_keys(expanded)


def _translated(exc: SchemaRegistryError) -> SchemaError:
    return SchemaError(
        f"The schema registry refused the request: {exc.error_message} "
        f"(HTTP {exc.http_status_code}, code {exc.error_code}).",
        fix="check SCHEMA_REGISTRY_URL and the registry's compatibility settings.",
    )
