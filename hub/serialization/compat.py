"""Prove every schema version compatible with every earlier one, by actually reading data.

For each pair of versions (old, new) of a record, generated records are written with one
and read with the other through fastavro's schema resolution, both ways:

- backward: a reader on ``new`` reads what ``old`` wrote (consumers upgrade first);
- forward: a reader on ``old`` reads what ``new`` wrote (producers upgrade first).

A failure names the schema, both versions, the direction and fastavro's reason, which
names the field. The data is seeded, so a run is repeatable; 200 records per pair exercise
every enum symbol and union branch of schemas of this size.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from io import BytesIO
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.utils import generate_many

from hub.serialization.store import SchemaStore, SchemaVersion

SAMPLES = 200


def check_schemas(store: SchemaStore) -> list[str]:
    """Every problem found, as sentences; an empty list means all versions are fine."""
    problems: list[str] = []
    for name in store.names():
        versions = store.versions(name)
        for version in versions:
            problems += [f"{version.path}: {p}" for p in undocumented_fields(version)]
        for index, new in enumerate(versions):
            for old in versions[:index]:
                problems += compatibility_problems(old, new)
        problems += stale_references(store, versions[-1])
    return problems


def compatibility_problems(old: SchemaVersion, new: SchemaVersion) -> list[str]:
    found = []
    for writer, reader, direction in ((old, new, "backward"), (new, old, "forward")):
        error = _first_read_error(writer, reader)
        if error:
            changes = "; ".join(schema_changes(old.expanded, new.expanded)) or "none found"
            found.append(
                f"{new.name} v{new.version} breaks {direction} compatibility with "
                f"v{old.version}: a v{reader.version} reader cannot read what "
                f"v{writer.version} wrote: {error} (fields changed from v{old.version} to "
                f"v{new.version}: {changes})"
            )
    return found


def schema_changes(old: Any, new: Any, path: str = "") -> list[str]:
    """What changed between two schemas, field by field, so an error can name the field
    even where fastavro's reason only names the types."""
    old_record, new_record = _record_of(old), _record_of(new)
    if old_record is not None and new_record is not None:
        changes = []
        old_fields = {f["name"]: f for f in old_record["fields"]}
        new_fields = {f["name"]: f for f in new_record["fields"]}
        for name, field in new_fields.items():
            where = f"{path}.{name}" if path else name
            if name not in old_fields:
                has_default = "default" in field
                changes.append(f"{where} added{'' if has_default else ' without a default'}")
            else:
                changes += schema_changes(old_fields[name]["type"], field["type"], where)
        for name, field in old_fields.items():
            if name not in new_fields:
                where = f"{path}.{name}" if path else name
                changes.append(
                    f"{where} removed{'' if 'default' in field else ' (it had no default)'}"
                )
        return changes
    if _shape(old) != _shape(new):
        return [f"{path or '(top)'} type {_shape(old)} -> {_shape(new)}"]
    return []


def _record_of(schema: Any) -> dict | None:
    """The record in a record type or in a union of null and one record."""
    if isinstance(schema, dict) and schema.get("type") == "record":
        return schema
    if isinstance(schema, list):
        records = [b for b in schema if isinstance(b, dict) and b.get("type") == "record"]
        if len(records) == 1 and len(schema) <= 2:
            return records[0]
    return None


def _shape(schema: Any) -> str:
    """A type without docs and defaults, as compact JSON."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k not in ("doc", "default", "aliases")}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return json.dumps(strip(schema), separators=(",", ":"), ensure_ascii=False)


def _first_read_error(writer: SchemaVersion, reader: SchemaVersion) -> str | None:
    for record in sample_records(writer):
        buffer = BytesIO()
        schemaless_writer(buffer, writer.parsed, record)
        buffer.seek(0)
        try:
            schemaless_reader(buffer, writer.parsed, reader.parsed)
        except Exception as exc:  # SchemaResolutionError and friends name the field
            return f"{type(exc).__name__}: {exc}"
    return None


def sample_records(version: SchemaVersion, count: int = SAMPLES, seed: int = 1708) -> Iterator[Any]:
    """Generated records for ``version``; the same ones on every run."""
    saved = random.getstate()
    random.seed(seed)
    try:
        records = list(generate_many(version.parsed, count))
    finally:
        random.setstate(saved)
    return iter(records)


def undocumented_fields(version: SchemaVersion) -> list[str]:
    """Fields and named types without a ``doc``: every field is documented."""
    missing: list[str] = []

    def walk(schema: Any, path: str) -> None:
        if isinstance(schema, list):
            for branch in schema:
                walk(branch, path)
        elif isinstance(schema, dict):
            kind = schema.get("type")
            if kind in ("record", "enum") and not schema.get("doc"):
                missing.append(f"{kind} {schema.get('name')} has no doc")
            if kind == "record":
                for field in schema["fields"]:
                    where = f"{path}.{field['name']}" if path else field["name"]
                    if not field.get("doc"):
                        missing.append(f"field {where} has no doc")
                    walk(field["type"], where)
            elif kind == "array":
                walk(schema["items"], path + "[]")
            elif kind == "map":
                walk(schema["values"], path + "{}")

    walk(version.declared, "")
    return missing


def stale_references(store: SchemaStore, latest: SchemaVersion) -> list[str]:
    """The newest version of a record must carry the newest version of what it embeds,
    or the newer fields would be lost on every topic that carries the embedding record."""
    problems = []
    for ref in latest.references:
        newest = store.latest(ref["schema"])
        if int(ref["version"]) != newest.version:
            problems.append(
                f"{latest.path}: {latest.name} v{latest.version} embeds {ref['schema']} "
                f"v{ref['version']}, but {ref['schema']} is at v{newest.version}; add "
                f"{latest.name} v{latest.version + 1} referencing v{newest.version}."
            )
    return problems
