"""SMS 1708: short free-text messages pushed by the SMS gateway with the sender's number.

The gateway posts signed JSON to the hub's webhook: one message or a list of them,
``{"id": "...", "dari": "+62812...", "pesan": "...", "diterima_pada": "..."}``. The text is
parsed for what can be parsed (a kind keyword, a place, category hints) and kept whole as
the report's body.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import Any

import httpx

from hub.errors import BadInput
from hub.sdk import (
    Capability,
    Connector,
    ConnectorConfig,
    RawMessage,
    check_control_characters,
    extra_fields,
    json_body,
    json_bytes,
    new_report,
    parse_json,
    parse_time,
    post_delivery,
    read_id,
    read_text,
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
# A place: a keyword (kelurahan, kecamatan, kabupaten, kota, desa and their short forms),
# a name starting with a letter, up to punctuation, a word such as "sudah" or "tolong" that
# starts the rest of the message, or the end. Found in one pass (see _places): the same
# words as a lazy regex with a look-ahead matched, which took seconds on a long SMS.
PLACE_START = re.compile(
    r"\b(?:kel(?:urahan)?|kec(?:amatan)?|kab(?:upaten)?|kota|desa|ds)\.?\s++[a-z]", re.I
)
PLACE_END = re.compile(r"[,.;!?]|\n\Z|\Z")
STOP_WORD = re.compile(r"(?:sudah|udah|udh|sdh|tolong|tlg|mohon|pak|bu)\b", re.I)
WHITESPACE = re.compile(r"\s++")
NOT_IN_PLACE = re.compile(r"[^\w .'-]")
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


MAX_SMS_CHARS = 4096  # a long SMS is ~10 parts of 153 characters: this is room to spare
MAX_PLACE_CHARS = 1000  # the places read from an SMS, as its report's address


def read_sms(data: dict[str, Any]) -> str:
    """An SMS's text, stripped: text a phone can send (no control characters, at most
    MAX_SMS_CHARS), refused with the reason otherwise."""
    text = read_text(data, "pesan") or ""
    if len(text) > MAX_SMS_CHARS:
        raise BadInput(
            f"pesan is {len(text):,} characters long, over the {MAX_SMS_CHARS:,}-character "
            "limit for an SMS"
        )
    check_control_characters(read_text(data, "dari") or "", "dari")
    return check_control_characters(text, "pesan").strip()


class Sms1708Config(ConnectorConfig):
    agency: str = "admin-nasional"


def _places(text: str) -> list[str]:
    """Every place named in ``text``, in linear time: the ends a place may stop at and the
    characters no place holds are listed once, and each keyword looks its end up in them. A
    keyword whose name meets such a character before its end names no place."""
    ends = [m.start() for m in PLACE_END.finditer(text)]
    for gap in WHITESPACE.finditer(text):
        if STOP_WORD.match(text, gap.end()):
            ends.extend(range(gap.start(), gap.end()))
    ends.sort()
    breaks = [m.start() for m in NOT_IN_PLACE.finditer(text)]
    places, position = [], 0
    while found := PLACE_START.search(text, position):
        name = found.end()
        end = ends[bisect_left(ends, name)]  # the text's end is always one
        stop = bisect_left(breaks, name)
        if stop < len(breaks) and breaks[stop] < end:
            position = found.start() + 1
            continue
        places.append(text[found.start() : end].strip())
        position = end
    return places


def parse_sms(text: str) -> dict[str, Any]:
    """Kind, place and category hints read from an SMS; the text itself is kept as is."""
    found: dict[str, Any] = {"kind": "COMPLAINT", "place": None, "category": None}
    text = ABBREVIATION_DOT.sub(r"\1", text)  # "Kab. Bogor" reads as one place, "Kab Bogor"
    prefix = PREFIX.match(text)
    if prefix:
        found["kind"] = PREFIX_KINDS[prefix.group(1).lower()]
    places = _places(text)
    if not places:
        places = [m.group(1).strip() for m in AT_PLACE.finditer(text)]
    kept, size = [], 0  # places as far as an address has room (MAX_PLACE_CHARS)
    for place in places:
        size += len(place) + 2
        if size > MAX_PLACE_CHARS:
            break
        kept.append(place)
    found["place"] = ", ".join(kept) or None
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
        data = parse_json(body, limit=self.max_body_bytes)
        items = data if isinstance(data, list) else [data]
        if not items:
            raise BadInput("expected a JSON object or a list of objects, one per SMS")
        parsed: list[RawMessage | BadInput] = []
        for number, item in enumerate(items):
            kept = json_bytes(item)
            try:
                if not isinstance(item, dict):
                    raise BadInput("not a JSON object")
                require(item, "id", "dari", "pesan")
                source_id = read_id(item["id"], "id")
                read_sms(item)
                parsed.append(RawMessage(source_id, kept))
            except BadInput as refused:
                parsed.append(BadInput(f"SMS #{number + 1}: {refused.reason}", body=kept))
        return parsed

    def to_report(self, raw: RawMessage) -> dict[str, Any]:
        data = parse_json(raw.body, limit=self.max_body_bytes)
        if not isinstance(data, dict):
            raise BadInput("an SMS must be a JSON object")
        require(data, "id", "dari", "pesan")
        text = read_sms(data)
        if not text:
            raise BadInput("empty SMS")
        hints = parse_sms(text)
        body = PREFIX.sub("", text, count=1)
        received = data.get("diterima_pada")
        return new_report(
            connector=self.instance,
            agency=self.config.agency,
            source_id=read_id(data["id"], "id"),
            channel="SMS",
            kind=hints["kind"],
            title=body[:60],
            body=body,
            submitted_at=parse_time(received, "diterima_pada") if received else raw.received_at,
            received_at=raw.received_at,
            category=hints["category"],
            address=hints["place"],
            reporter={"phone": read_text(data, "dari")},
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
            json_body(document),
            idempotency_key,
            "SMS gateway",
        )
