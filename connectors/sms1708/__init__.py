"""SMS 1708: short free-text messages pushed by the SMS gateway with the sender's number.

The gateway posts signed JSON to the hub's webhook: one message or a list of them,
``{"id": "...", "dari": "+62812...", "pesan": "...", "diterima_pada": "..."}``. The text is
parsed for what can be parsed (a kind keyword, a place, category hints) and kept whole as
the report's body.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from hub.errors import BadInput
from hub.sdk import (
    Capability,
    Connector,
    ConnectorConfig,
    RawMessage,
    extra_fields,
    new_report,
    parse_json,
    parse_time,
    post_delivery,
    require,
)

STATUS_WORDS = {
    "RECEIVED": "diterima",
    "VERIFIED": "diverifikasi",
    "FORWARDED": "diteruskan",
    "IN_PROGRESS": "sedang ditindaklanjuti",
    "RESOLVED": "selesai ditindaklanjuti",
    "NOT_AUTHORITY": "dilimpahkan ke instansi lain",
    "ESCALATED": "dieskalasi ke instansi atasan",
    "POSTPONED": "ditunda",
    "CLOSED": "ditutup",
}
PREFIX = re.compile(r"^\s*(lapor|aduan|adu|aspirasi|usul|info|informasi|tanya)\s*[#:.\s]\s*", re.I)
PREFIX_KINDS = {
    "lapor": "COMPLAINT",
    "aduan": "COMPLAINT",
    "adu": "COMPLAINT",
    "aspirasi": "ASPIRATION",
    "usul": "ASPIRATION",
    "info": "INFORMATION_REQUEST",
    "informasi": "INFORMATION_REQUEST",
    "tanya": "INFORMATION_REQUEST",
}
PLACE = re.compile(
    r"\b((?:kel(?:urahan)?|kec(?:amatan)?|kab(?:upaten)?|kota|desa|ds)\.?\s+[a-z][\w .'-]*?)"
    r"(?=[,.;!?]|\s+(?:sudah|udah|udh|sdh|tolong|tlg|mohon|pak|bu)\b|$)",
    re.I,
)
ABBREVIATION_DOT = re.compile(r"\b(kel|kec|kab|ds|jl|jln)\.", re.I)
AT_PLACE = re.compile(r"\b(?:di|lokasi|alamat)[:\s]+([A-Z][\w .'-]{2,40}?)(?=[,.;!?]|$)")
CATEGORY_HINTS = {
    "infrastruktur.jalan": ("jalan", "jln", "aspal", "berlubang", "bolong"),
    "lingkungan.sampah": ("sampah", "smpah", "tps"),
    "sosial.bansos": ("bansos", "pkh", "bpnt", "blt"),
    "kependudukan.adminduk": ("ktp", "kk", "akta", "dukcapil"),
    "energi.listrik": ("listrik", "pln", "mati lampu"),
    "air.bersih": ("pdam", "air bersih"),
}


class Sms1708Config(ConnectorConfig):
    agency: str = "admin-nasional"


def parse_sms(text: str) -> dict[str, Any]:
    """Kind, place and category hints read from an SMS; the text itself is kept as is."""
    found: dict[str, Any] = {"kind": "COMPLAINT", "place": None, "category": None}
    text = ABBREVIATION_DOT.sub(r"\1", text)  # "Kab. Bogor" reads as one place, "Kab Bogor"
    prefix = PREFIX.match(text)
    if prefix:
        found["kind"] = PREFIX_KINDS[prefix.group(1).lower()]
    places = [m.group(1).strip() for m in PLACE.finditer(text)]
    if not places:
        places = [m.group(1).strip() for m in AT_PLACE.finditer(text)]
    found["place"] = ", ".join(places) or None
    lowered = f" {text.lower()} "
    for category, hints in CATEGORY_HINTS.items():
        if any(f" {hint} " in lowered or f" {hint}," in lowered for hint in hints):
            found["category"] = category
            break
    return found


class Sms1708(Connector):
    name = "sms-1708"
    title = "SMS 1708 gateway"
    capabilities = frozenset({Capability.PUSH, Capability.FEEDBACK})
    Config = Sms1708Config
    max_body_bytes = 64 * 1024

    def parse_push(self, body: bytes, headers: dict[str, str]) -> list[RawMessage | BadInput]:
        data = parse_json(body)
        items = data if isinstance(data, list) else [data]
        if not items:
            raise BadInput("expected a JSON object or a list of objects, one per SMS")
        parsed: list[RawMessage | BadInput] = []
        for number, item in enumerate(items):
            try:
                if not isinstance(item, dict):
                    raise BadInput("not a JSON object")
                require(item, "id", "dari", "pesan")
                parsed.append(
                    RawMessage(str(item["id"]), json.dumps(item, ensure_ascii=False).encode())
                )
            except BadInput as refused:
                parsed.append(BadInput(f"SMS #{number + 1}: {refused.reason}"))
        return parsed

    def to_report(self, raw: RawMessage) -> dict[str, Any]:
        data = parse_json(raw.body)
        if not isinstance(data, dict):
            raise BadInput("an SMS must be a JSON object")
        require(data, "id", "dari", "pesan")
        text = str(data["pesan"]).strip()
        if not text:
            raise BadInput("empty SMS")
        hints = parse_sms(text)
        body = PREFIX.sub("", text, count=1)
        received = data.get("diterima_pada")
        return new_report(
            connector=self.instance,
            agency=self.config.agency,
            source_id=str(data["id"]),
            channel="SMS",
            kind=hints["kind"],
            title=body[:60],
            body=body,
            submitted_at=parse_time(received, "diterima_pada") if received else raw.received_at,
            received_at=raw.received_at,
            category=hints["category"],
            address=hints["place"],
            reporter={"phone": str(data["dari"])},
            extra=extra_fields(data, {"id", "dari", "pesan", "diterima_pada"}),
        )

    async def send_status(
        self,
        client: httpx.AsyncClient,
        update: dict[str, Any],
        source_id: str,
        idempotency_key: str,
    ) -> None:
        """A reply SMS through the gateway, addressed by the citizen's message id: the
        gateway knows the number, so the hub never needs it to answer."""
        words = STATUS_WORDS.get(update["status"], "diperbarui")
        text = f"LAPOR 1708: aduan {source_id} {words} ({update['agency']})."
        if update.get("message"):
            text += f" {update['message']}"
        document = {"balasan_untuk": source_id, "pesan": text[:160]}
        await post_delivery(
            client,
            f"{self.config.base_url}/balas",
            json.dumps(document, ensure_ascii=False).encode(),
            idempotency_key,
            "SMS gateway",
        )
