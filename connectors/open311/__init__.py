"""Open311 GeoReport v2, in JSON or XML: the interop standard of city systems.

Pull: ``GET /requests.{format}?updated_after=<cursor>`` (the FixMyStreet extension) lists
service requests citizens filed in the city's app. Deliver: ``POST /requests.{format}``
form-encoded (service_code, description, address_string, lat, long, attribute[...]) files a
routed report as a service request. Status: the same request list, read for ``status``
(open/closed) and ``status_notes``; the city's own ``extended_attributes.external_status_code``
is kept beside the canonical status when the city sends one; with ``not_responsible``, the
request's ``agency_responsible`` is the agency the city says is responsible (a suggestion the
tracker follows when the directory agrees).
"""

from __future__ import annotations

from typing import Any, Literal
from xml.etree.ElementTree import Element

import httpx
from pydantic import Field

from hub.errors import BadInput, UnusableAnswer
from hub.sdk import (
    Capability,
    Connector,
    ConnectorConfig,
    Delivered,
    JsonItem,
    JsonPage,
    PullPage,
    RawMessage,
    answer_id,
    answer_json,
    answer_xml,
    element_bytes,
    extra_fields,
    json_item_messages,
    new_report,
    new_status,
    page_messages,
    page_xml,
    parse_json,
    parse_time,
    parse_xml,
    post_to_app,
    raise_for_status,
    read_id,
    read_number,
    read_text,
    require,
    shown,
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

FORM = "application/x-www-form-urlencoded"


class Open311Config(ConnectorConfig):
    format: Literal["json", "xml"] = "json"
    jurisdiction_id: str | None = None
    # the city's service codes for the hub's categories, for deliveries
    service_codes: dict[str, str] = Field(default_factory=dict)
    default_service_code: str = "lainnya"


def _hub_id_of(request: Any) -> Any:
    """The hub's id for a request the hub filed itself (None: a citizen's request)."""
    if not isinstance(request, dict):
        return None
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


def _look(item: JsonItem) -> dict[str, Any]:
    """What of a pulled item says whose it is (the hub's own requests carry its id)."""
    return {key: item.get(key) for key in ("attributes", "extended_attributes")}


def _request_element(element: Element) -> dict[str, Any]:
    if element.tag != "request":
        raise BadInput(f"the element {shown(element.tag)} is no <request>")
    return request_from_xml(element)


def _xml_bytes(element: Element) -> bytes:
    """A <request> as the hub keeps it (its fields, re-encoded); any other element whole."""
    if element.tag == "request":
        return Open311._xml_of(request_from_xml(element))
    return element_bytes(element)


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
        names = (read_text(data, "first_name"), read_text(data, "last_name"))
        media = data.get("media_url")
        return new_report(
            connector=self.instance,
            agency=self.config.agency,
            source_id=read_id(data["service_request_id"], "service_request_id"),
            channel="OPEN311",
            kind="COMPLAINT",
            title=data.get("service_name"),
            body=data["description"],
            submitted_at=parse_time(data["requested_datetime"], "requested_datetime"),
            received_at=raw.received_at,
            source_category=data.get("service_code"),
            address=data.get("address") or data.get("address_string"),
            postal_code=data.get("zipcode"),
            latitude=read_number(data.get("lat"), "lat (the latitude)"),
            longitude=read_number(data.get("long"), "long (the longitude)"),
            reporter={
                "name": " ".join(p for p in names if p) or None,
                "phone": data.get("phone"),
                "email": data.get("email"),
            },
            attachments=[{"url": media}] if media else [],
            extra=extra_fields(data, USED),
        )

    def to_status(self, raw: RawMessage) -> dict[str, Any]:
        data = self._request(raw)
        require(data, "status", "updated_datetime")
        hub_id = _hub_id_of(data)
        if not hub_id:
            raise BadInput(
                "the request carries no attribute hub_id: it was not delivered by the hub"
            )
        attributes = data.get("attributes") or data.get("extended_attributes")
        external = (read_text(attributes, "external_status_code", "attributes.") or "").lower()
        status = read_text(data, "status")
        canonical = EXTERNAL_STATUS.get(external, "RESOLVED" if status == "closed" else "RECEIVED")
        return new_status(
            hub_id=hub_id,
            agency=self.config.agency,
            status=canonical,
            source_status=external or status,
            message=data.get("status_notes"),
            occurred_at=parse_time(data["updated_datetime"], "updated_datetime"),
            # GeoReport v2's own field: with not_responsible, who the city says is responsible
            suggested_agency=read_text(data, "agency_responsible"),
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
        return self.page_of(response, cursor, delivered_by_hub)

    def page_of(
        self, response: httpx.Response, cursor: str | None, delivered_by_hub: bool
    ) -> PullPage:
        """A list of requests (``<service_requests><request>`` in XML): those of one side,
        each a message or, with no usable service_request_id, a refusal of its own; items
        that are no request at all are refused on the citizens' side."""
        what = "Open311 endpoint"
        if self.config.format == "xml":
            root = page_xml(response, what)
            if root.tag != "service_requests":
                raise UnusableAnswer(
                    f"{what} answered the element {shown(root.tag)} where <service_requests> "
                    "was due"
                )
            requests = [request_from_xml(e) if e.tag == "request" else None for e in root]
            side = [
                e
                for e, request in zip(root, requests, strict=True)
                if (_hub_id_of(request) is not None) == delivered_by_hub
            ]
            messages = page_messages(
                side,
                "service_request_id",
                what,
                read=_request_element,
                encode=_xml_bytes,
                content_type=self.content_type,
            )
            times = [r.get("updated_datetime") for r in requests if r is not None]
        else:
            page = JsonPage(response, what)
            if not page.text.startswith("[", page.start):
                raise UnusableAnswer(
                    f"{what} answered {page.kind()} where a list of service requests was due"
                )
            listed = page.items()
            side = [i for i in listed if (_hub_id_of(_look(i)) is not None) == delivered_by_hub]
            messages = json_item_messages(side, "service_request_id", what, self.content_type)
            times = [i.get("updated_datetime") for i in listed]
        newest = max((t for t in times if isinstance(t, str)), default="")
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
        response = await post_to_app(
            client,
            f"{self.config.base_url}/requests.{self.config.format}",
            self.from_routed(routed),
            {"Content-Type": FORM, "Idempotency-Key": idempotency_key},
        )
        what = "Open311 endpoint"
        raise_for_status(response, what)
        if self.config.format == "xml":
            root = answer_xml(response, what)
            created: Any = request_from_xml(root[0]) if len(root) else None
        else:
            answer = answer_json(response, what)
            created = answer[0] if isinstance(answer, list) and answer else None
        found = created.get("service_request_id") if isinstance(created, dict) else None
        return Delivered(answer_id(response, found, "service_request_id", what))

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
        response = await post_to_app(
            client,
            f"{self.config.base_url}/servicerequestupdates.{self.config.format}",
            str(httpx.QueryParams(form)).encode(),
            {"Content-Type": FORM, "Idempotency-Key": idempotency_key},
        )
        raise_for_status(response, "Open311 endpoint")
