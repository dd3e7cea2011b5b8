"""``lapor-hub connectors new NAME``: a connector package that works and passes the kit.

The package is a plain JSON-API connector (pull and deliver) with its own pyproject.toml,
registered under the ``lapor_hub.connectors`` entry-point group, and a test module running
the contract kit on sample messages. An integrator edits the translation to their app's
format and keeps the tests green.
"""

from __future__ import annotations

import re
from pathlib import Path

from hub import __version__
from hub.errors import ConnectorError

PYPROJECT = """[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "lapor-connector-{name}"
version = "0.1.0"
description = "lapor-hub connector for {name}"
requires-python = ">=3.11"
dependencies = ["lapor-hub>={hub_version}"]

[project.optional-dependencies]
dev = ["pytest>=9"]

[project.entry-points."lapor_hub.connectors"]
{name} = "{module}:{cls}"

[tool.hatch.build.targets.wheel]
packages = ["src/{module}"]
"""

MODULE = '''"""lapor-hub connector for {name}: the app's JSON API, pulled and delivered to.

The app lists reports at GET /reports?after=<cursor> as {{"items": [...], "next": "..."}}
and takes routed reports at POST /inbox. Change the field names below to your app's.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from hub.sdk import (
    BadInput,
    Capability,
    Connector,
    ConnectorConfig,
    Delivered,
    PullPage,
    RawMessage,
    extra_fields,
    json_body,
    new_report,
    parse_json,
    parse_time,
    post_delivery,
    raise_for_status,
    require,
)

KINDS = {{"pengaduan": "COMPLAINT", "aspirasi": "ASPIRATION", "informasi": "INFORMATION_REQUEST"}}
USED = {{"id", "kind", "title", "text", "created_at", "category", "region", "address", "name",
        "phone", "email", "anonymous"}}


class {cls}Config(ConnectorConfig):
    pass


class {cls}(Connector):
    name = "{name}"
    title = "{name} complaint app"
    capabilities = frozenset({{Capability.PULL, Capability.DELIVER}})
    Config = {cls}Config

    def to_report(self, raw: RawMessage) -> dict[str, Any]:
        item = parse_json(raw.body)
        if not isinstance(item, dict):
            raise BadInput("a report must be a JSON object")
        require(item, "id", "text", "created_at")
        return new_report(
            connector=self.instance,
            agency=self.config.agency,
            source_id=str(item["id"]),
            channel="API",
            kind=KINDS.get(str(item.get("kind", "")).lower(), "COMPLAINT"),
            title=str(item.get("title") or ""),
            body=str(item["text"]),
            submitted_at=parse_time(item["created_at"], "created_at"),
            received_at=raw.received_at,
            source_category=item.get("category"),
            region_code=item.get("region"),
            address=item.get("address"),
            reporter={{"name": item.get("name"), "phone": item.get("phone"),
                      "email": item.get("email"), "anonymous": item.get("anonymous")}},
            extra=extra_fields(item, USED),
        )

    def from_routed(self, routed: dict[str, Any]) -> bytes:
        report = routed["report"]
        person = report["reporter"]
        document = {{
            "hub_id": report["hub_id"],
            "title": report["title"],
            "text": report["body"],
            "region": report["location"]["region_code"],
            "address": report["location"]["address"],
            "reporter": None if person["anonymous"] else {{
                "name": person["name"], "phone": person["phone"], "email": person["email"]}},
        }}
        return json_body(document)

    async def pull(self, client: httpx.AsyncClient, cursor: str | None) -> PullPage:
        response = await client.get(f"{{self.config.base_url}}/reports",
                                    params={{"after": cursor}} if cursor else {{}})
        raise_for_status(response, "{name}")
        page = response.json()
        messages = [RawMessage(str(i["id"]), json.dumps(i, ensure_ascii=False).encode())
                    for i in page.get("items", [])]
        return PullPage(messages, page.get("next"))

    async def deliver(self, client: httpx.AsyncClient, routed: dict[str, Any],
                      idempotency_key: str) -> Delivered:
        # post_delivery: the SDK's POST (straight through aiohttp on the hub's client)
        response = await post_delivery(client, f"{{self.config.base_url}}/inbox",
                                       self.from_routed(routed), idempotency_key, "{name}")
        return Delivered(str(response.json()["id"]))
'''

TESTS = '''"""The lapor-hub contract kit, run on this connector."""

import json

from hub.sdk import RawMessage
from hub.sdk.testing import ConnectorContract

from {module} import {cls}

SAMPLE = {{"id": "A-1", "kind": "pengaduan", "title": "Jalan rusak",
          "text": "Jalan berlubang di depan pasar.", "created_at": "2026-11-20T08:00:00+07:00",
          "region": "35.78", "name": "Siti", "phone": "0812"}}


def raw(data: dict) -> RawMessage:
    return RawMessage(str(data.get("id", "")), json.dumps(data).encode())


class Test{cls}(ConnectorContract):
    connector_class = {cls}
    config = {{"agency": "pemkot-contoh", "base_url": "http://127.0.0.1:9"}}
    samples = [raw(SAMPLE)]
    bad_samples = [(RawMessage("x", b"{{not json"), "malformed JSON"),
                   (raw({{"id": "A-2", "text": "x"}}), "missing required field created_at")]
    unknown_field = (raw({{**SAMPLE, "rt_rw": "03/05"}}), "rt_rw")
'''

README = """# lapor-connector-{name}

A [lapor-hub](https://github.com) connector for {name}. Install it beside lapor-hub and the
hub finds it (`lapor-hub connectors list`):

    pip install -e '.[dev]'
    pytest              # the lapor-hub contract kit
    lapor-hub connectors test {name} --sample samples/report.json
"""


def scaffold(name: str, parent: Path) -> Path:
    """Write the package ``lapor-connector-<name>`` under ``parent``; return its folder."""
    if not re.fullmatch(r"[a-z][a-z0-9-]*", name):
        raise ConnectorError(
            f"{name!r} is not a connector name: use lowercase letters, digits and dashes.",
            fix="e.g. `lapor-hub connectors new pemkot-contoh`.",
        )
    module = "lapor_connector_" + name.replace("-", "_")
    cls = "".join(part.capitalize() for part in name.split("-")) + "Connector"
    root = parent / f"lapor-connector-{name}"
    if root.exists():
        raise ConnectorError(f"{root} already exists.", fix="choose another name or folder.")
    values = {"name": name, "module": module, "cls": cls, "hub_version": __version__}
    files = {
        "pyproject.toml": PYPROJECT,
        f"src/{module}/__init__.py": MODULE,
        "tests/test_contract.py": TESTS,
        "README.md": README,
        "samples/report.json": (
            '{{"id": "A-1", "kind": "pengaduan", "title": "Jalan rusak", '
            '"text": "Jalan berlubang di depan pasar.", '
            '"created_at": "2026-11-20T08:00:00+07:00", "region": "35.78"}}\n'
        ),
    }
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values), encoding="utf-8")
    return root
