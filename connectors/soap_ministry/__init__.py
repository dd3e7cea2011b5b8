"""A legacy ministry system speaking SOAP-style XML over one endpoint.

``POST /soap`` with a ``SOAPAction`` header: ``AmbilPengaduan`` (reports after a sequence
number), ``KirimPengaduan`` (deliver; the hub's id travels as ``ReferensiHub`` and the system
answers the same ``NomorAgenda`` for it twice), ``AmbilStatus`` (status changes after a
sequence number; a ``BUKAN_KEWENANGAN`` may name the agency it belongs to in
``InstansiTujuan``). Everything it sends is read with defusedxml.
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

import httpx

from hub.errors import BadInput, PermanentDeliveryError, UnusableAnswer
from hub.sdk import (
    Capability,
    Connector,
    Delivered,
    PullPage,
    RawMessage,
    answer_id,
    answer_xml,
    element_bytes,
    new_report,
    new_status,
    page_messages,
    page_xml,
    parse_time,
    parse_xml,
    post_to_app,
    raise_for_status,
    shown,
)

NS = "urn:kementerian:pengaduan:v1"
ENVELOPE = "http://schemas.xmlsoap.org/soap/envelope/"
KINDS = {"PENGADUAN": "COMPLAINT", "ASPIRASI": "ASPIRATION", "INFORMASI": "INFORMATION_REQUEST"}
STATUSES = {
    "DITERIMA": "RECEIVED",
    "DIVERIFIKASI": "VERIFIED",
    "DIDISPOSISI": "FORWARDED",
    "DIPROSES": "IN_PROGRESS",
    "SELESAI": "RESOLVED",
    "BUKAN_KEWENANGAN": "NOT_AUTHORITY",
    "DITUNDA": "POSTPONED",
    "DITUTUP": "CLOSED",
}
APP_STATUSES = {v: k for k, v in STATUSES.items()} | {"ESCALATED": "DIESKALASI"}
USED = {
    "NomorAgenda",
    "Jenis",
    "Perihal",
    "Uraian",
    "TanggalSurat",
    "KodeWilayah",
    "Alamat",
    "NamaPelapor",
    "TeleponPelapor",
    "EmailPelapor",
    "Rahasia",
    "Urutan",
}


def envelope(action: str, body: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{ENVELOPE}">'
        f'<soap:Body><{action} xmlns="{NS}">{body}</{action}></soap:Body></soap:Envelope>'
    ).encode()


def fields_of(element: Element) -> dict[str, str]:
    """Child elements as {local name: text}, namespaces dropped."""
    return {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in element}


def records(document: Element, tag: str) -> list[Element]:
    return [e for e in document.iter() if e.tag.rsplit("}", 1)[-1] == tag]


SEQUENCE = re.compile(r"[0-9]{1,18}")  # Urutan: a sequence number that fits a long


def _fault(document: Element) -> str | None:
    """A SOAP fault's fields as text for a reason, cut; None if the answer has none."""
    faults = records(document, "Fault")
    return shown(str(fields_of(faults[0])), 300) if faults else None


class SoapMinistry(Connector):
    name = "soap-ministry"
    title = "Legacy XML/SOAP ministry system"
    capabilities = frozenset(
        {Capability.PULL, Capability.DELIVER, Capability.STATUS, Capability.FEEDBACK}
    )
    content_type = "application/xml"

    def to_report(self, raw: RawMessage) -> dict[str, Any]:
        data = fields_of(parse_xml(raw.body))
        missing = [f for f in ("NomorAgenda", "Uraian", "TanggalSurat") if not data.get(f)]
        if missing:
            raise BadInput(f"Pengaduan without {', '.join(missing)}")
        return new_report(
            connector=self.instance,
            agency=self.config.agency,
            source_id=data["NomorAgenda"],
            channel="API",
            kind=KINDS.get(data.get("Jenis", "").upper(), "UNKNOWN"),
            title=data.get("Perihal", ""),
            body=data["Uraian"],
            submitted_at=parse_time(data["TanggalSurat"], "TanggalSurat"),
            received_at=raw.received_at,
            region_code=data.get("KodeWilayah") or None,
            address=data.get("Alamat") or None,
            reporter={
                "name": data.get("NamaPelapor") or None,
                "phone": data.get("TeleponPelapor") or None,
                "email": data.get("EmailPelapor") or None,
                "confidential": data.get("Rahasia", "").lower() == "true",
            },
            extra={k: f'"{v}"' for k, v in data.items() if k not in USED},
        )

    def to_status(self, raw: RawMessage) -> dict[str, Any]:
        data = fields_of(parse_xml(raw.body))
        if not data.get("ReferensiHub") or not data.get("Status"):
            raise BadInput("StatusPengaduan without ReferensiHub or Status")
        return new_status(
            hub_id=data["ReferensiHub"],
            agency=self.config.agency,
            status=STATUSES.get(data["Status"].upper(), "UNKNOWN"),
            source_status=data["Status"],
            message=data.get("Keterangan") or None,
            actor=data.get("Pejabat") or None,
            occurred_at=parse_time(data.get("Waktu"), "Waktu"),
            # BUKAN_KEWENANGAN: the agency the ministry says the letter belongs to
            suggested_agency=data.get("InstansiTujuan") or None,
        )

    def from_routed(self, routed: dict[str, Any]) -> bytes:
        report = routed["report"]
        person = report["reporter"]
        kind = {v: k for k, v in KINDS.items()}.get(report["kind"], "PENGADUAN")
        values = {
            "ReferensiHub": report["hub_id"],
            "Jenis": kind,
            "Perihal": report["title"],
            "Uraian": report["body"],
            "TanggalSurat": report["submitted_at"].isoformat(),
            "KodeWilayah": report["location"]["region_code"] or "",
            "Alamat": report["location"]["address"] or "",
            "Rahasia": str(person["confidential"]).lower(),
        }
        if not person["anonymous"]:
            values.update(NamaPelapor=person["name"] or "", TeleponPelapor=person["phone"] or "")
        body = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in values.items())
        return envelope("KirimPengaduan", f"<Pengaduan>{body}</Pengaduan>")

    async def _call(self, client: httpx.AsyncClient, action: str, body: bytes) -> httpx.Response:
        response = await post_to_app(
            client,
            f"{self.config.base_url}/soap",
            body,
            {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action},
        )
        raise_for_status(response, "ministry SOAP service")
        return response

    async def _page(
        self, client: httpx.AsyncClient, action: str, tag: str, cursor: str | None
    ) -> PullPage:
        after = int(cursor or 0)
        response = await self._call(client, action, envelope(action, f"<Setelah>{after}</Setelah>"))
        return self.page_of(response, action, tag, after)

    def page_of(self, response: httpx.Response, action: str, tag: str, after: int) -> PullPage:
        """The ``<tag>`` records of an ``<action>Response``, each a message or, without a
        usable NomorAgenda or Urutan (a sequence number), a refusal of its own; the cursor
        is the highest good Urutan. An answer that is no such response is no page."""
        what = "ministry SOAP service"
        document = page_xml(response, what)
        fault = _fault(document)
        if fault is not None:
            raise UnusableAnswer(f"{what} answered {action} with a SOAP fault: {fault}")
        if not records(document, f"{action}Response"):
            raise UnusableAnswer(
                f"{what} answered without an {action}Response: the element "
                f"{shown(document.tag)} came instead"
            )
        last = after

        def read(item: Element) -> dict[str, Any]:
            nonlocal last
            data = fields_of(item)
            sequence = data.get("Urutan", "")
            if sequence and not SEQUENCE.fullmatch(sequence):
                raise BadInput(f"Urutan must be a sequence number, not {shown(sequence)}")
            if sequence:
                last = max(last, int(sequence))
            return {"id": data.get("NomorAgenda") or sequence}

        messages = page_messages(
            records(document, tag),
            "NomorAgenda or Urutan",
            what,
            id_of=lambda data: data["id"],
            read=read,
            encode=element_bytes,
            content_type=self.content_type,
        )
        return PullPage(messages, str(last))

    async def pull(self, client: httpx.AsyncClient, cursor: str | None) -> PullPage:
        return await self._page(client, "AmbilPengaduan", "Pengaduan", cursor)

    async def poll_status(self, client: httpx.AsyncClient, cursor: str | None) -> PullPage:
        return await self._page(client, "AmbilStatus", "StatusPengaduan", cursor)

    async def deliver(
        self, client: httpx.AsyncClient, routed: dict[str, Any], idempotency_key: str
    ) -> Delivered:
        what = "ministry SOAP service"
        response = await self._call(client, "KirimPengaduan", self.from_routed(routed))
        document = answer_xml(response, what)
        fault = _fault(document)
        if fault is not None:
            raise PermanentDeliveryError(f"ministry SOAP fault: {fault}")
        numbers = records(document, "NomorAgenda")
        found = (numbers[0].text or "").strip() if numbers else None
        return Delivered(answer_id(response, found, "NomorAgenda", what))

    async def send_status(
        self,
        client: httpx.AsyncClient,
        update: dict[str, Any],
        source_id: str,
        idempotency_key: str,
    ) -> None:
        """``KirimStatus``: the status of a report the ministry's system sent in; the
        update id makes a repeated call harmless."""
        fields = {
            "IdPembaruan": idempotency_key,
            "NomorAgenda": source_id,
            "Status": APP_STATUSES.get(update["status"], "DIPROSES"),
            "Instansi": update["agency"],
            "Keterangan": update.get("message") or "",
            "Waktu": update["occurred_at"].isoformat(),
        }
        body = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in fields.items())
        response = await self._call(
            client,
            "KirimStatus",
            envelope("KirimStatus", f"<StatusPengaduan>{body}</StatusPengaduan>"),
        )
        fault = _fault(answer_xml(response, "ministry SOAP service"))
        if fault is not None:
            raise PermanentDeliveryError(f"ministry SOAP fault: {fault}")
