"""The schemas on disk: documented, loadable, and every version compatible with earlier ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hub.errors import SchemaError, SchemaNotFound
from hub.serialization import SchemaStore, check_schemas
from hub.serialization.store import default_schema_dir


def test_the_shipped_schemas_pass_the_check() -> None:
    store = SchemaStore(default_schema_dir())
    assert store.names() == ["Report", "RoutedReport", "RoutingDecision", "StatusUpdate"]
    assert check_schemas(store) == []


def test_fingerprints_follow_the_avro_specification() -> None:
    store = SchemaStore(default_schema_dir())
    report = store.latest("Report")
    assert report.header[:2] == b"\xc3\x01" and len(report.header) == 10
    assert store.by_fingerprint(report.fingerprint) is report
    # RoutedReport inlines Report: its canonical form carries Report's fields
    assert '"name":"lapor.hub.Report"' in store.latest("RoutedReport").canonical


@pytest.fixture
def schemas(tmp_path: Path) -> Path:
    """A writable copy of the shipped schemas, for adding versions."""
    return Path(shutil.copytree(default_schema_dir(), tmp_path / "schemas"))


def add_version(schemas: Path, name: str, version: int, change) -> Path:
    """Write version ``version`` of ``name``: its newest version so far, changed."""
    newest = max(int(p.stem[1:]) for p in (schemas / name).glob("v*.avsc"))
    schema = json.loads((schemas / name / f"v{newest}.avsc").read_text())
    change(schema)
    path = schemas / name / f"v{version}.avsc"
    path.write_text(json.dumps(schema, indent=2))
    return path


def fields(schema: dict) -> list[dict]:
    return schema["fields"]


def reporter_fields(schema: dict) -> list[dict]:
    return next(f for f in schema["fields"] if f["name"] == "reporter")["type"]["fields"]


def test_a_required_field_added_without_default_breaks_backward_compatibility(
    schemas: Path,
) -> None:
    add_version(
        schemas,
        "Report",
        2,
        lambda s: fields(s).append({"name": "urgency", "type": "int", "doc": "1 to 5."}),
    )
    problems = check_schemas(SchemaStore(schemas))
    assert any(
        "Report v2 breaks backward compatibility with v1" in p and "urgency" in p for p in problems
    ), problems


def test_a_field_removed_without_default_breaks_forward_compatibility(schemas: Path) -> None:
    add_version(
        schemas,
        "Report",
        2,
        lambda s: s.update(fields=[f for f in fields(s) if f["name"] != "body"]),
    )
    problems = check_schemas(SchemaStore(schemas))
    assert any(
        "Report v2 breaks forward compatibility with v1" in p and "body" in p for p in problems
    ), problems


def test_a_nested_field_changing_type_is_named(schemas: Path) -> None:
    def phone_becomes_long(schema: dict) -> None:
        for field in reporter_fields(schema):
            if field["name"] == "phone":
                field["type"] = ["null", "long"]

    add_version(schemas, "Report", 2, phone_becomes_long)
    problems = [p for p in check_schemas(SchemaStore(schemas)) if "Report v2 breaks" in p]
    assert len(problems) == 2  # backward and forward
    assert all(
        """reporter.phone type ["null","string"] -> ["null","long"]""" in p for p in problems
    )


def test_an_optional_field_with_a_default_is_compatible_but_embedders_must_follow(
    schemas: Path,
) -> None:
    add_version(
        schemas,
        "Report",
        2,
        lambda s: fields(s).append(
            {"name": "urgency", "type": ["null", "int"], "default": None, "doc": "1 to 5."}
        ),
    )
    problems = check_schemas(SchemaStore(schemas))
    assert len(problems) == 1
    assert "RoutedReport v2 embeds Report v1, but Report is at v2" in problems[0]

    def embed_report_v2(schema: dict) -> None:
        schema["references"][0]["version"] = 2

    add_version(schemas, "RoutedReport", 3, embed_report_v2)
    assert check_schemas(SchemaStore(schemas)) == []


def test_an_undocumented_field_is_reported(schemas: Path) -> None:
    add_version(
        schemas,
        "StatusUpdate",
        2,
        lambda s: fields(s).append({"name": "channel", "type": "string", "default": ""}),
    )
    problems = check_schemas(SchemaStore(schemas))
    assert problems == [f"{schemas / 'StatusUpdate' / 'v2.avsc'}: field channel has no doc"]


def test_bad_files_are_refused_with_their_path(schemas: Path) -> None:
    (schemas / "Report" / "v2.avsc").write_text('{"type": "record", "name": "Report",')
    with pytest.raises(SchemaError) as caught:
        SchemaStore(schemas)
    assert "Report/v2.avsc:1:" in caught.value.message and "not valid JSON" in caught.value.message

    (schemas / "Report" / "v2.avsc").write_text(
        json.dumps({"type": "record", "name": "Report", "fields": [{"name": "x", "type": "nope"}]})
    )
    with pytest.raises(SchemaError) as caught:
        SchemaStore(schemas)
    assert "not a valid Avro schema" in caught.value.message


def test_a_reference_to_a_missing_version_is_refused(schemas: Path) -> None:
    def embed_report_v9(schema: dict) -> None:
        schema["references"][0]["version"] = 9

    add_version(schemas, "RoutedReport", 3, embed_report_v9)
    with pytest.raises(SchemaNotFound) as caught:
        SchemaStore(schemas)
    assert "RoutedReport v3 references Report v9" in caught.value.message
