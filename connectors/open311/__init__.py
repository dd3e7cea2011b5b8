"""Open311 GeoReport v2, in JSON or XML: the interop standard of city systems.

Pull: ``GET /requests.{format}?updated_after=<cursor>`` (the FixMyStreet extension) lists
service requests citizens filed in the city's app. Deliver: ``POST /requests.{format}``
form-encoded (service_code, description, address_string, lat, long, attribute[...]) files a
routed report as a service request. Status: the same request list, read for ``status``
(open/closed) and ``status_notes``; the city's own ``extended_attributes.external_status_code``
is kept beside the canonical status when the city sends one.
"""

from __future__ import annotations

import json
from typing import Any, Literal
from xml.etree.ElementTree import Element

import httpx
from pydantic import Field

from hub.errors import BadInput
from hub.sdk import (
    Capability,
    Connector,
    ConnectorConfig,
    Delivered,
    PullPage,
    RawMessage,
    extra_fields,
    new_report,
    new_status,
    parse_json,
    parse_time,
    parse_xml,
    raise_for_status,
    require,
)

EXTERNAL_STATUS = {
    "acknowledged": "VERIFIED",
    "action_scheduled": "FORWARDED",
    "investigating": "IN_PROGRESS",
    "in_progress": "IN_PROGRESS",
    "fixed": "RESOLVED",
    "not_responsible": "NOT_AUTHORITY",
    "duplicate": "CLOSED",
    "unable_to_fix": "CLOSED",
    "closed": "CLOSED",
}
USED = {
    "service_request_id",
    "service_code",
    "service_name",
    "description",
    "address",
    "address_string",
    "zipcode",
    "lat",
    "long",
    "requested_datetime",
    "media_url",
    "status",
    "status_notes",
    "updated_datetime",
    "first_name",
    "last_name",
    "email",
    "phone",
    "token",
}


class Open311Config(ConnectorConfig):
    format: Literal["json", "xml"] = "json"
    jurisdiction_id: str | None = None
    # the city's service codes for the hub's categories, for deliveries
    service_codes: dict[str, str] = Field(default_factory=dict)
    default_service_code: str = "lainnya"


def _hub_id_of(request: dict[str, Any]) -> str | None:
    attributes = request.get("attributes") or request.get("extended_attributes") or {}
    return attributes.get("hub_id") if isinstance(attributes, dict) else None


def request_from_xml(element: Element) -> dict[str, Any]:
    """One <request> element as the dict the JSON format gives."""
    data: dict[str, Any] = {}
    for child in element:
        if len(child):
            data[child.tag] = {grand.tag: grand.text for grand in child}
        else:
            data[child.tag] = child.text
    return data


class Open311(Connector):
    name = "open311"
    title = "Open311 GeoReport v2 (JSON and XML)"
    capabilities = frozenset(
        {Capability.PULL, Capability.DELIVER, Capability.STATUS, Capability.FEEDBACK}
    )
    Config = Open311Config
    config: Open311Config

    @property
    def content_type(self) -> str:  # type: ignore[override]
        return f"application/{self.config.format}"

    def _request(self, raw: RawMessage) -> dict[str, Any]:
        if raw.content_type.endswith("xml"):
            root = parse_xml(raw.body)
            return request_from_xml(root)
        data = parse_json(raw.body)
        if not isinstance(data, dict):
            raise BadInput("an Open311 service request must be a JSON object")
        return data

    def to_report(self, raw: RawMessage) -> dict[str, Any]:
        data = self._request(raw)
        require(data, "service_request_id", "description", "requested_datetime")
        name = " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p) or None
        media = data.get("media_url")
        return new_report(
            connector=self.instance,
            agency=self.config.agency,
            source_id=str(data["service_request_id"]),
            channel="OPEN311",
            kind="COMPLAINT",
            title=str(data.get("service_name") or ""),
            body=str(data["description"]),
            submitted_at=parse_time(data["requested_datetime"], "requested_datetime"),
            received_at=raw.received_at,
            source_category=data.get("service_code"),
            address=data.get("address") or data.get("address_string"),
            postal_code=data.get("zipcode"),
            latitude=float(data["lat"]) if data.get("lat") not in (None, "") else None,
            longitude=float(data["long"]) if data.get("long") not in (None, "") else None,
            reporter={"name": name, "phone": data.get("phone"), "email": data.get("email")},
            attachments=[{"url": media}] if media else [],
            extra=extra_fields(data, USED),
        )

    def to_status(self, raw: RawMessage) -> dict[str, Any]:
        data = self._request(raw)
        require(data, "status", "updated_datetime")
        attributes = data.get("attributes") or data.get("extended_attributes") or {}
        hub_id = attributes.get("hub_id") if isinstance(attributes, dict) else None
        if not hub_id:
            raise BadInput(
                "the request carries no attribute hub_id: it was not delivered by the hub"
            )
        external = (attributes.get("external_status_code") or "").lower() or None
        status = EXTERNAL_STATUS.get(
            external or "", "RESOLVED" if data["status"] == "closed" else "RECEIVED"
        )
        return new_status(
            hub_id=hub_id,
            agency=self.config.agency,
            status=status,
            source_status=external or data["status"],
            message=data.get("status_notes"),
            occurred_at=parse_time(data["updated_datetime"], "updated_datetime"),
        )

    def _form(self, routed: dict[str, Any]) -> dict[str, str]:
        report = routed["report"]
        location, person = report["location"], report["reporter"]
        code = self.config.service_codes.get(
            report["category"] or "", self.config.default_service_code
        )
        form = {
            "service_code": code,
            "description": f"{report['title']}\n\n{report['body']}".strip(),
            "address_string": location["address"] or location["region_code"] or "",
            "attribute[hub_id]": report["hub_id"],
            "attribute[kind]": report["kind"],
        }
        if location["latitude"] is not None:
            form.update(lat=str(location["latitude"]), long=str(location["longitude"]))
        if not person["anonymous"]:
            for field, value in (
                ("email", person["email"]),
                ("phone", person["phone"]),
                ("first_name", person["name"]),
            ):
                if value:
                    form[field] = value
        if self.config.jurisdiction_id:
            form["jurisdiction_id"] = self.config.jurisdiction_id
        return form

    def from_routed(self, routed: dict[str, Any]) -> bytes:
        return str(httpx.QueryParams(self._form(routed))).encode()

    async def pull(self, client: httpx.AsyncClient, cursor: str | None) -> PullPage:
        """Citizens' requests: those the hub filed itself (attribute hub_id) are skipped, or
        every delivery would come back as a new report."""
        return await self._requests(client, cursor, delivered_by_hub=False)

    async def poll_status(self, client: httpx.AsyncClient, cursor: str | None) -> PullPage:
        """Requests the hub filed, whose status the city changes."""
        return await self._requests(client, cursor, delivered_by_hub=True)

    async def _requests(
        self, client: httpx.AsyncClient, cursor: str | None, delivered_by_hub: bool
    ) -> PullPage:
        params = {"updated_after": cursor} if cursor else {}
        response = await client.get(
            f"{self.config.base_url}/requests.{self.config.format}", params=params
        )
        raise_for_status(response, "Open311 endpoint")
        if self.config.format == "xml":
            items = [request_from_xml(e) for e in parse_xml(response.content)]
            raw = [(i, self._xml_of(i)) for i in items]
        else:
            items = parse_json(response.content)
            raw = [(i, json.dumps(i, ensure_ascii=False).encode()) for i in items]
        messages = [
            RawMessage(str(i["service_request_id"]), body, self.content_type)
            for i, body in raw
            if (_hub_id_of(i) is not None) == delivered_by_hub
        ]
        newest = max((str(i.get("updated_datetime") or "") for i in items), default="")
        return PullPage(messages, newest or cursor)

    @staticmethod
    def _xml_of(item: dict[str, Any]) -> bytes:
        from xml.sax.saxutils import escape

        parts = []
        for key, value in item.items():
            if isinstance(value, dict):
                inner = "".join(
                    f"<{k}>{escape(str(v))}</{k}>" for k, v in value.items() if v is not None
                )
                parts.append(f"<{key}>{inner}</{key}>")
            elif value is not None:
                parts.append(f"<{key}>{escape(str(value))}</{key}>")
        return f"<request>{''.join(parts)}</request>".encode()

    async def deliver(
        self, client: httpx.AsyncClient, routed: dict[str, Any], idempotency_key: str
    ) -> Delivered:
        response = await client.post(
            f"{self.config.base_url}/requests.{self.config.format}",
            content=self.from_routed(routed),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Idempotency-Key": idempotency_key,
            },
        )
        raise_for_status(response, "Open311 endpoint")
        if self.config.format == "xml":
            created = request_from_xml(parse_xml(response.content)[0])
        else:
            created = parse_json(response.content)[0]
        return Delivered(str(created["service_request_id"]))

    async def send_status(
        self,
        client: httpx.AsyncClient,
        update: dict[str, Any],
        source_id: str,
        idempotency_key: str,
    ) -> None:
        """FixMyStreet's Open311 update extension: ``POST /servicerequestupdates``, with the
        agency's canonical status as ``external_status_code``."""
        finished = update["status"] in ("RESOLVED", "CLOSED")
        form = {
            "service_request_id": source_id,
            "update_id": idempotency_key,
            "status": "closed" if finished else "open",
            "external_status_code": update["status"].lower(),
            "description": update.get("message") or f"{update['agency']}: {update['status']}",
            "updated_datetime": update["occurred_at"].isoformat(),
        }
        response = await client.post(
            f"{self.config.base_url}/servicerequestupdates.{self.config.format}",
            content=str(httpx.QueryParams(form)).encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Idempotency-Key": idempotency_key,
            },
        )
        raise_for_status(response, "Open311 endpoint")
