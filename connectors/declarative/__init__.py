"""A connector written as YAML: an agency with a plain JSON API plugs in without Python.

The mapping names paths into the app's JSON (``citizen.phone``, ``items.0.id``), value maps
and defaults; it is validated whole when loaded, every error with file and line. See
``connectors/declarative/examples/dinas-json.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from hub.errors import BadInput, ConnectorError
from hub.sdk import (
    Capability,
    Connector,
    ConnectorConfig,
    Delivered,
    JsonPage,
    PullPage,
    RawMessage,
    answer_id,
    answer_json,
    describe,
    extra_fields,
    json_body,
    new_report,
    page_cursor,
    parse_json,
    parse_time,
    post_delivery,
    raise_for_status,
    read_number,
)
from hub.yamlfile import load_yaml, validate

MISSING = object()


def get_path(data: Any, path: str) -> Any:
    """``a.b.0.c`` into nested dicts and lists; MISSING where it leads nowhere."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdecimal() and int(part) < len(current):
            current = current[int(part)]
        else:
            return MISSING
    return current


def _value(found: Any) -> Any:
    """What a path found, None where it led nowhere."""
    return None if found is MISSING else found


class Field_(BaseModel):
    """One canonical field: from a path (through a value map), or a fixed value."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    map: dict[str, Any] | None = None
    value: Any = None
    default: Any = None
    required: bool = False

    def read(self, item: dict[str, Any], name: str) -> Any:
        if self.path is None:
            return self.value
        found = get_path(item, self.path)
        if found is MISSING or found in (None, ""):
            if self.required:
                raise BadInput(f"missing required field {self.path} (for {name})")
            return self.default
        if self.map is not None:
            if isinstance(found, dict | list):
                raise BadInput(f"{self.path} (for {name}) must be one value, not {describe(found)}")
            return self.map.get(str(found).lower(), self.default)
        return found


class PullSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    items: str
    id: str
    cursor_param: str | None = None
    next_cursor: str | None = None


class DeliverSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str
    body: dict[str, str]  # app field -> path into the RoutedReport
    id: str  # path in the app's answer to its id for the report


class FeedbackSpec(BaseModel):
    """Where the app takes statuses of its own reports: ``{source_id}`` in the path is its
    id for the report; the body maps app fields to paths into the StatusUpdate."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(pattern=r"\{source_id\}")
    body: dict[str, str]
    statuses: dict[str, str] = {}  # canonical status -> the app's word for it


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str = "Declarative JSON connector"
    pull: PullSpec | None = None
    deliver: DeliverSpec | None = None
    feedback: FeedbackSpec | None = None
    report: dict[str, Field_]


REQUIRED = {"title", "body", "submitted_at"}
KNOWN = REQUIRED | {
    "kind",
    "channel",
    "category",
    "source_category",
    "region_code",
    "address",
    "postal_code",
    "latitude",
    "longitude",
    "url",
    "reporter.name",
    "reporter.phone",
    "reporter.email",
    "reporter.anonymous",
    "reporter.confidential",
}


def load_mapping(path: Path) -> Mapping:
    document = load_yaml(path)
    mapping, errors = validate(document, Mapping)
    if mapping is not None:
        unknown = sorted(set(mapping.report) - KNOWN)
        errors += [
            f"{document.where(('report', k))}: report.{k}: not a canonical field "
            f"(use one of {', '.join(sorted(KNOWN))})"
            for k in unknown
        ]
        errors += [
            f"{path}: report: {k} must be mapped" for k in sorted(REQUIRED - set(mapping.report))
        ]
    if errors:
        raise ConnectorError(
            "The connector mapping has errors:\n  " + "\n  ".join(errors),
            fix="fix the places named above.",
        )
    assert mapping is not None
    return mapping


class DeclarativeConfig(ConnectorConfig):
    mapping: Path


class Declarative(Connector):
    name = "declarative"
    title = "Declarative JSON connector (a YAML mapping, no Python)"
    capabilities = frozenset({Capability.PULL, Capability.DELIVER, Capability.FEEDBACK})
    Config = DeclarativeConfig
    config: DeclarativeConfig

    def __init__(
        self, config: DeclarativeConfig | dict[str, Any], instance: str | None = None
    ) -> None:
        super().__init__(config, instance)
        self.mapping = load_mapping(self.config.mapping)
        self.instance = instance or self.mapping.name
        sections = {
            Capability.PULL: self.mapping.pull,
            Capability.DELIVER: self.mapping.deliver,
            Capability.FEEDBACK: self.mapping.feedback,
        }
        # this instance can do what its mapping has a section for
        self.capabilities = frozenset(c for c, spec in sections.items() if spec is not None)

    def to_report(self, raw: RawMessage) -> dict[str, Any]:
        item = parse_json(raw.body)
        if not isinstance(item, dict):
            raise BadInput("each item must be a JSON object")
        values = {name: spec.read(item, name) for name, spec in self.mapping.report.items()}
        for name in REQUIRED:
            if values.get(name) in (None, ""):
                raise BadInput(f"missing {self.mapping.report[name].path or name} (for {name})")
        used = {spec.path.split(".")[0] for spec in self.mapping.report.values() if spec.path}
        used.add((self.mapping.pull.id if self.mapping.pull else "id").split(".")[0])
        return new_report(
            connector=self.instance,
            agency=self.config.agency,
            source_id=raw.source_id,
            channel=values.get("channel") or "API",
            kind=values.get("kind") or "UNKNOWN",
            title=values["title"],
            body=values["body"],
            submitted_at=parse_time(values["submitted_at"], "submitted_at"),
            received_at=raw.received_at,
            category=values.get("category"),
            source_category=values.get("source_category"),
            url=values.get("url"),
            region_code=values.get("region_code"),
            address=values.get("address"),
            postal_code=values.get("postal_code"),
            latitude=read_number(values.get("latitude"), self._named("latitude")),
            longitude=read_number(values.get("longitude"), self._named("longitude")),
            reporter={
                k.split(".", 1)[1]: v for k, v in values.items() if k.startswith("reporter.")
            },
            extra=extra_fields(item, used),
        )

    def _named(self, name: str) -> str:
        """A canonical field as the app knows it, for a reason: "where.lat (latitude)"."""
        spec = self.mapping.report.get(name)
        return f"{spec.path} ({name})" if spec is not None and spec.path else name

    def from_routed(self, routed: dict[str, Any]) -> bytes:
        if self.mapping.deliver is None:
            raise ConnectorError(f"mapping {self.mapping.name} has no deliver section")
        body = {}
        for field, path in self.mapping.deliver.body.items():
            value = get_path(routed, path)
            body[field] = None if value is MISSING else value
        return json_body(body)

    async def pull(self, client: httpx.AsyncClient, cursor: str | None) -> PullPage:
        spec = self.mapping.pull
        if spec is None:
            raise ConnectorError(f"mapping {self.mapping.name} has no pull section")
        params = {spec.cursor_param: cursor} if spec.cursor_param and cursor else {}
        response = await client.get(f"{self.config.base_url}{spec.path}", params=params)
        raise_for_status(response, f"{self.mapping.name} API")
        return self.page_of(response)

    def page_of(self, response: httpx.Response) -> PullPage:
        """The items at the mapping's path, each a message or, with no usable id at its
        id path, a refusal of its own; an answer without that list is no page."""
        spec = self.mapping.pull
        assert spec is not None
        what = f"{self.mapping.name} API"
        page = JsonPage(response, what)
        messages = page.messages(spec.items, spec.id)
        following = page.value(spec.next_cursor) if spec.next_cursor else None
        return PullPage(messages, page_cursor(following, spec.next_cursor or "", what))

    async def deliver(
        self, client: httpx.AsyncClient, routed: dict[str, Any], idempotency_key: str
    ) -> Delivered:
        spec = self.mapping.deliver
        if spec is None:
            raise ConnectorError(f"mapping {self.mapping.name} has no deliver section")
        url = f"{self.config.base_url}{spec.path}"
        what = f"{self.mapping.name} API"
        response = await post_delivery(client, url, self.from_routed(routed), idempotency_key, what)
        found = _value(get_path(answer_json(response, what), spec.id))
        return Delivered(answer_id(response, found, spec.id, what))

    async def send_status(
        self,
        client: httpx.AsyncClient,
        update: dict[str, Any],
        source_id: str,
        idempotency_key: str,
    ) -> None:
        spec = self.mapping.feedback
        if spec is None:
            raise ConnectorError(f"mapping {self.mapping.name} has no feedback section")
        status = {**update, "status": spec.statuses.get(update["status"], update["status"])}
        body = {}
        for field, path in spec.body.items():
            value = get_path(status, path.removeprefix("update."))
            body[field] = None if value is MISSING else value
        url = f"{self.config.base_url}{spec.path.replace('{source_id}', source_id)}"
        content = json_body(body)
        await post_delivery(client, url, content, idempotency_key, f"{self.mapping.name} API")
