"""The canonical vocabulary in code is the Avro schemas' enums, symbol for symbol."""

from hub.serialization import SchemaStore
from hub.serialization.store import default_schema_dir
from hub.vocabulary import CHANNELS, KINDS, STATUSES


def enum_symbols(schema: object, name: str) -> set[str]:
    if isinstance(schema, dict):
        if schema.get("type") == "enum" and str(schema.get("name")).rsplit(".", 1)[-1] == name:
            return set(schema["symbols"])
        return set().union(*(enum_symbols(v, name) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(enum_symbols(v, name) for v in schema))
    return set()


def test_vocabulary_matches_the_schemas() -> None:
    store = SchemaStore(default_schema_dir())
    assert enum_symbols(store.latest("Report").expanded, "ReportKind") == KINDS
    assert enum_symbols(store.latest("Report").expanded, "Channel") == CHANNELS
    assert enum_symbols(store.latest("StatusUpdate").expanded, "ReportStatus") == STATUSES
