"""The national LAPOR!-style JSON REST API: tracking ids, categories, dispositions, follow-ups.

Pull: ``GET /api/v1/laporan?setelah=<cursor>`` pages through reports in the order the app
received them. Deliver: ``POST /api/v1/laporan`` with an Idempotency-Key. Status:
``GET /api/v1/status?setelah=<cursor>`` lists follow-ups (tindak lanjut) of delivered reports,
each with the agency (``instansi``) that gave it; a ``bukan_wewenang`` (not our authority) may
name the agency it should go to (``instansi_tujuan``). Feedback: ``POST /api/v1/laporan/<tracking
id>/tanggapan`` tells the app what became of a report its citizens filed.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from hub.errors import BadInput, UnusableAnswer
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
    charset_of,
    extra_fields,
    json_body,
    new_report,
    new_status,
    page_cursor,
    parse_json,
    parse_time,
    post_delivery,
    raise_for_status,
    read_id,
    read_text,
    require,
)

KINDS = {
    "pengaduan": "COMPLAINT",
    "aspirasi": "ASPIRATION",
    "permintaan_informasi": "INFORMATION_REQUEST",
    "whistleblowing": "WHISTLEBLOWING",
}
APP_KINDS = {v: k for k, v in KINDS.items()}
CHANNELS = {
    "web": "WEB",
    "android": "MOBILE_APP",
    "ios": "MOBILE_APP",
    "sms": "SMS",
    "twitter": "SOCIAL_MEDIA",
    "instagram": "SOCIAL_MEDIA",
    "email": "EMAIL",
    "loket": "WALK_IN",
    "api": "API",
}
STATUSES = {
    "baru": "RECEIVED",
    "terverifikasi": "VERIFIED",
    "didisposisikan": "FORWARDED",
    "diproses": "IN_PROGRESS",
    "ditindaklanjuti": "IN_PROGRESS",
    "selesai": "RESOLVED",
    "bukan_wewenang": "NOT_AUTHORITY",
    "dilimpahkan": "NOT_AUTHORITY",
    "ditunda": "POSTPONED",
    "diarsipkan": "CLOSED",
    "ditutup": "CLOSED",
}
APP_STATUSES = {
    "RECEIVED": "baru",
    "VERIFIED": "terverifikasi",
    "FORWARDED": "didisposisikan",
    "IN_PROGRESS": "ditindaklanjuti",
    "RESOLVED": "selesai",
    "NOT_AUTHORITY": "dilimpahkan",
    "ESCALATED": "dieskalasi",
    "POSTPONED": "ditunda",
    "CLOSED": "ditutup",
}
USED = {
    "tracking_id",
    "judul",
    "isi",
    "jenis",
    "kategori",
    "lokasi",
    "pelapor",
    "lampiran",
    "dibuat_pada",
    "sumber",
    "tautan",
}


class LaporJsonConfig(ConnectorConfig):
    page_size: int = 100


class LaporJson(Connector):
    name = "lapor-json"
    title = "LAPOR!-style JSON REST API"
    capabilities = frozenset(
        {Capability.PULL, Capability.DELIVER, Capability.STATUS, Capability.FEEDBACK}
    )
    Config = LaporJsonConfig
    config: LaporJsonConfig

    def to_report(self, raw: RawMessage) -> dict[str, Any]:
        data = parse_json(raw.body, charset_of(raw.content_type))
        if not isinstance(data, dict):
            raise BadInput("a LAPOR! report must be a JSON object")
        require(data, "tracking_id", "isi", "dibuat_pada")
        kind = KINDS.get((read_text(data, "jenis") or "").lower(), "UNKNOWN")
        category = data.get("kategori") or {}
        location = data.get("lokasi") or {}
        person = data.get("pelapor") or {}
        if not all(isinstance(x, dict) for x in (category, location, person)):
            raise BadInput("kategori, lokasi and pelapor must be JSON objects")
        attachments = data.get("lampiran") or []
        if not isinstance(attachments, list):
            raise BadInput("lampiran must be a list of attachments")
        extra = extra_fields(data, USED)
        extra.update(
            extra_fields(location, {"kode_wilayah", "alamat", "kode_pos", "lat", "lng"}, "lokasi.")
        )
        # whatever else the app says of its reporter (a WhatsApp number, a NIK) is identity:
        # sealed with the rest, never in extra where it would travel in clear
        contacts = {
            kind: value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            for kind, value in person.items()
            if kind not in {"nama", "telepon", "email", "anonim", "rahasia"}
        }
        return new_report(
            connector=self.instance,
            agency=self.config.agency,
            source_id=read_id(data["tracking_id"], "tracking_id"),
            channel=CHANNELS.get((read_text(data, "sumber") or "").lower(), "OTHER"),
            kind=kind,
            title=data.get("judul"),
            body=data["isi"],
            submitted_at=parse_time(data["dibuat_pada"], "dibuat_pada"),
            received_at=raw.received_at,
            category=category.get("kode"),
            source_category=category.get("nama"),
            url=data.get("tautan"),
            region_code=location.get("kode_wilayah"),
            address=location.get("alamat"),
            postal_code=location.get("kode_pos"),
            latitude=location.get("lat"),
            longitude=location.get("lng"),
            reporter={
                "name": person.get("nama"),
                "phone": person.get("telepon"),
                "email": person.get("email"),
                "anonymous": person.get("anonim"),
                "confidential": person.get("rahasia"),
                "other_contacts": contacts,
            },
            attachments=[
                {
                    "url": a["url"],
                    "media_type": a.get("tipe"),
                    "size_bytes": a.get("ukuran"),
                    "sha256": a.get("sha256"),
                    "name": a.get("nama"),
                }
                for a in attachments
                if isinstance(a, dict) and a.get("url")
            ],
            extra=extra,
        )

    def from_routed(self, routed: dict[str, Any]) -> bytes:
        report, decision = routed["report"], routed["decision"]
        location, person = report["location"], report["reporter"]
        hidden = person["anonymous"]
        document = {
            "referensi_hub": report["hub_id"],
            "jenis": APP_KINDS.get(report["kind"], "pengaduan"),
            "judul": report["title"],
            "isi": report["body"],
            "kategori": {"kode": report["category"], "nama": report["source_category"]},
            "lokasi": {
                "kode_wilayah": location["region_code"],
                "alamat": location["address"],
                "kode_pos": location["postal_code"],
            },
            "pelapor": None
            if hidden
            else {
                "nama": person["name"],
                "telepon": person["phone"],
                "email": person["email"],
            },
            "anonim": hidden,
            "rahasia": person["confidential"],
            "dibuat_pada": report["submitted_at"].isoformat(),
            "sumber_asal": {
                "konektor": report["source"]["connector"],
                "id": report["source"]["source_id"],
            },
            "instansi_tujuan": [
                d["agency"] for d in decision["destinations"] if d["role"] == "HANDLER"
            ],
            "tembusan": [d["agency"] for d in decision["destinations"] if d["role"] == "COPY"],
            "alasan_rute": decision["reason"],
        }
        return json_body(document)

    def to_status(self, raw: RawMessage) -> dict[str, Any]:
        data = parse_json(raw.body, charset_of(raw.content_type))
        if not isinstance(data, dict):
            raise BadInput("a LAPOR! status must be a JSON object")
        require(data, "referensi_hub", "status", "waktu")
        app_status = (read_text(data, "status") or "").lower()
        return new_status(
            hub_id=data["referensi_hub"],
            # one LAPOR! app serves many agencies: its status says whose it is
            agency=read_text(data, "instansi") or self.config.agency,
            status=STATUSES.get(app_status, "UNKNOWN"),
            source_status=app_status,
            message=data.get("pesan"),
            actor=data.get("petugas"),
            occurred_at=parse_time(data["waktu"], "waktu"),
            # bukan_wewenang / dilimpahkan: the agency the officer says is responsible
            suggested_agency=read_text(data, "instansi_tujuan"),
        )

    async def pull(self, client: httpx.AsyncClient, cursor: str | None) -> PullPage:
        return await self._page(client, "/api/v1/laporan", cursor, "tracking_id")

    async def poll_status(self, client: httpx.AsyncClient, cursor: str | None) -> PullPage:
        return await self._page(client, "/api/v1/status", cursor, "id")

    async def _page(
        self, client: httpx.AsyncClient, path: str, cursor: str | None, id_field: str
    ) -> PullPage:
        params = {"batas": self.config.page_size, **({"setelah": cursor} if cursor else {})}
        response = await client.get(f"{self.config.base_url}{path}", params=params)
        raise_for_status(response, "LAPOR! API")
        return self.page_of(response, id_field)

    @staticmethod
    def page_of(response: httpx.Response, id_field: str) -> PullPage:
        """``{"data": [...], "kursor_berikut": ...}``: each item a message or, if it is no
        object with an id, a refusal of its own; any other answer is no page."""
        what = "LAPOR! API"
        page = JsonPage(response, what)
        if not page.text.startswith("{", page.start):
            raise UnusableAnswer(f"{what} answered {page.kind()} where a page object was due")
        messages = page.messages("data", id_field)
        return PullPage(messages, page_cursor(page.value("kursor_berikut"), "kursor_berikut", what))

    async def deliver(
        self, client: httpx.AsyncClient, routed: dict[str, Any], idempotency_key: str
    ) -> Delivered:
        url = f"{self.config.base_url}/api/v1/laporan"
        what = "LAPOR! API"
        response = await post_delivery(client, url, self.from_routed(routed), idempotency_key, what)
        answer = answer_json(response, what)
        found = answer.get("tracking_id") if isinstance(answer, dict) else None
        return Delivered(answer_id(response, found, "tracking_id", what))

    async def send_status(
        self,
        client: httpx.AsyncClient,
        update: dict[str, Any],
        source_id: str,
        idempotency_key: str,
    ) -> None:
        """``POST /api/v1/laporan/<tracking id>/tanggapan``: the follow-up the citizen sees."""
        document = {
            "status": APP_STATUSES.get(update["status"], "diproses"),
            "instansi": update["agency"],
            "pesan": update.get("message"),
            "status_instansi": update.get("source_status"),
            "waktu": update["occurred_at"].isoformat(),
        }
        await post_delivery(
            client,
            f"{self.config.base_url}/api/v1/laporan/{source_id}/tanggapan",
            json_body(document),
            idempotency_key,
            "LAPOR! app",
        )
