"""Building canonical records from what an app sent, without dropping anything."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hub.errors import BadInput
from hub.sdk.inputs import check_control_characters, describe, read_id, shown
from hub.vocabulary import CHANNELS, KINDS, STATUSES

HUB_NAMESPACE = uuid.UUID("5b1f4a43-4c41-504f-5221-4855422d4944")
WIB = timezone(timedelta(hours=7))


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))`` at a third of its cost (once per report and per
    status on the hot path): the same SHA-1, version and variant bits, no UUID object."""
    digest = bytearray(hashlib.sha1(namespace.bytes + name.encode()).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def hub_id(connector: str, source_id: str) -> str:
    """The same source report always gets the same hub id (UUIDv5 of connector/source id)."""
    return uuid5_text(HUB_NAMESPACE, f"{connector}/{source_id}")


def _millis(moment: datetime) -> datetime:
    """Times travel as Avro timestamp-millis, in UTC."""
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment.microsecond % 1000:
        moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    return moment


def parse_time(value: Any, field: str) -> datetime:
    """ISO 8601 (a trailing Z too) or Unix seconds; naive times are taken as WIB (UTC+7).
    A time no calendar has (year 10000, Unix seconds 1e20, NaN) is refused by name."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        try:
            moment = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise BadInput(
                f"{field}: {describe(value)} is not a time in Unix seconds between the years "
                "1 and 9999"
            ) from exc
    elif isinstance(value, str) and value.strip():
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise BadInput(f"{field}: {shown(value)} is not an ISO 8601 time") from exc
    elif value is None or value == "" or isinstance(value, str):
        raise BadInput(f"{field}: missing or empty time")
    else:
        raise BadInput(
            f"{field}: a time must be ISO 8601 text or Unix seconds, not {describe(value)}"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=WIB)
    try:
        return _millis(moment)
    except OverflowError as exc:
        raise BadInput(
            f"{field}: {moment.isoformat()} is outside the years 1 to 9999 in UTC"
        ) from exc


def extra_fields(data: dict[str, Any], used: set[str], prefix: str = "") -> dict[str, str]:
    """Every field the translation did not use, keyed by its path, values as JSON text."""
    return {
        f"{prefix}{key}": json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        for key, value in data.items()
        if key not in used
    }


# -- the canonical model's types and limits, checked here and nowhere else -----------------
#
# A connector passes what it read; what does not fit the canonical type is refused with the
# field's name, never converted behind its back (a list given as a title would become the
# text "['a']"). Sizes are bytes of UTF-8, refused with the field's name and size, never
# cut (a cut report says less than the citizen did), and they keep a Report, extra and all,
# well inside one Kafka record:
#
#     source_id                         256 characters (hub.sdk.inputs.MAX_ID_CHARS)
#     title                             1 KiB
#     body                              64 KiB
#     a status's message                16 KiB
#     any other text (ids, names, contacts, codes, addresses, URLs, extra's keys)   4 KiB
#     one value of extra                64 KiB
#     all of extra (keys and values)    256 KiB
#     attachments, other contacts       100 each
#
# Text is str (or None where optional), and what people read (title, body, address, the
# reporter's name, a status's message) has no control characters but tab, line feed and
# carriage return; numbers are int or float, finite, never bool or text (a connector
# converts "-7.28" itself, explicitly: hub.sdk.inputs.read_number); flags are bool (None
# is false).

KIB = 1024
MAX_TITLE_BYTES = 1 * KIB
MAX_BODY_BYTES = 64 * KIB
MAX_MESSAGE_BYTES = 16 * KIB
MAX_TEXT_BYTES = 4 * KIB
MAX_EXTRA_VALUE_BYTES = 64 * KIB
MAX_EXTRA_BYTES = 256 * KIB
MAX_ITEMS = 100


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _text(value: Any, field: str, limit: int = MAX_TEXT_BYTES, *, read: bool = False) -> str | None:
    """Optional text within its limit (its bytes are counted only when it may be over).
    Text people ``read`` (a title, a body, a name, an address, a status's message) is also
    without control characters, which would hide or rewrite what a screen or terminal shows."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadInput(f"{field} must be text, not {describe(value)}")
    if len(value) > limit // 4 and (size := _size(value)) > limit:
        raise BadInput(f"{field} is {size:,} bytes, over the {limit:,}-byte limit")
    return check_control_characters(value, field) if read else value


def _required_text(
    value: Any, field: str, limit: int = MAX_TEXT_BYTES, *, read: bool = False
) -> str:
    if value is None:
        raise BadInput(f"missing {field}")
    return _text(value, field, limit, read=read)  # type: ignore[return-value]


def _number(value: Any, field: str, bound: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInput(f"{field} must be a number, not {describe(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not -bound <= number <= bound:
        raise BadInput(f"{field} must be between -{bound:g} and {bound:g}, not {describe(value)}")
    return number


def _flag(value: Any, field: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadInput(f"{field} must be true or false, not {describe(value)}")
    return value


def _time(value: Any, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise BadInput(f"{field} must be a time, not {describe(value)}")
    try:
        return _millis(value)
    except OverflowError as exc:
        raise BadInput(f"{field}: {value.isoformat()} is outside the years 1 to 9999") from exc


def _text_map(value: Any, field: str, value_limit: int, total_limit: int | None) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadInput(f"{field} must be an object of texts, not {describe(value)}")
    total = 0
    for key, text in value.items():
        _required_text(key, f"a key of {field}")
        _required_text(text, f"{field}.{key}", value_limit)
        if total_limit is not None:
            total += len(key) + len(text)
    if total_limit is not None and total > total_limit // 4:
        total = sum(_size(k) + _size(v) for k, v in value.items())
        if total > total_limit:
            raise BadInput(
                f"{field} is {total:,} bytes all together, over the {total_limit:,}-byte limit"
            )
    return dict(value)


def _attachments(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadInput(f"attachments must be a list, not {describe(value)}")
    if len(value) > MAX_ITEMS:
        raise BadInput(f"{len(value):,} attachments are over the limit of {MAX_ITEMS}")
    kept = []
    for number, item in enumerate(value):
        where = f"attachments[{number}]"
        if not isinstance(item, dict):
            raise BadInput(f"{where} must be an object, not {describe(item)}")
        size = item.get("size_bytes")
        if size is not None and (
            isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 2**63
        ):
            raise BadInput(
                f"{where}.size_bytes must be a whole number of bytes, not {describe(size)}"
            )
        kept.append(
            {
                "url": _required_text(item.get("url"), f"{where}.url"),
                "media_type": _text(item.get("media_type"), f"{where}.media_type"),
                "size_bytes": size,
                "sha256": _text(item.get("sha256"), f"{where}.sha256"),
                "name": _text(item.get("name"), f"{where}.name"),
            }
        )
    return kept


def new_report(
    *,
    connector: str,
    agency: str,
    source_id: str,
    channel: str,
    kind: str,
    title: str | None,
    body: str,
    submitted_at: datetime,
    received_at: datetime,
    category: str | None = None,
    source_category: str | None = None,
    language: str | None = "id",
    url: str | None = None,
    region_code: str | None = None,
    address: str | None = None,
    postal_code: str | None = None,
    latitude: float | None = None,
    longitude: float | None = None,
    reporter: dict[str, Any] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A complete canonical Report (the Avro schema's shape), with its hub id; every field
    checked against its type and limit (above), a refusal naming the field."""
    if source_id is None or (isinstance(source_id, str) and not source_id.strip()):
        raise BadInput("missing the source's own id for the report")
    source_id = read_id(source_id, "source_id")
    if not isinstance(kind, str) or kind not in KINDS:
        raise BadInput(f"unknown kind {describe(kind)}")
    if not isinstance(channel, str) or channel not in CHANNELS:
        raise BadInput(f"unknown channel {describe(channel)}")
    if reporter is not None and not isinstance(reporter, dict):
        raise BadInput(f"reporter must be an object, not {describe(reporter)}")
    person = reporter or {}
    connector = _required_text(connector, "source.connector")
    return {
        "hub_id": hub_id(connector, source_id),
        "source": {
            "connector": connector,
            "agency": _required_text(agency, "source.agency"),
            "source_id": source_id,
            "channel": channel,
            "url": _text(url, "source.url"),
        },
        "kind": kind,
        "title": _text(title, "title", MAX_TITLE_BYTES, read=True) or "",
        "body": _required_text(body, "body", MAX_BODY_BYTES, read=True),
        "language": _text(language, "language") or "id",
        "category": _text(category, "category"),
        "source_category": _text(source_category, "source_category"),
        "location": {
            "region_code": _text(region_code, "location.region_code"),
            "region_confidence": 1.0 if region_code else None,
            "address": _text(address, "location.address", read=True),
            "postal_code": _text(postal_code, "location.postal_code"),
            "latitude": _number(latitude, "location.latitude", 90),
            "longitude": _number(longitude, "location.longitude", 180),
        },
        "submitted_at": _time(submitted_at, "submitted_at"),
        "received_at": _time(received_at, "received_at"),
        "reporter": {
            "name": _text(person.get("name"), "reporter.name", read=True),
            "phone": _text(person.get("phone"), "reporter.phone"),
            "email": _text(person.get("email"), "reporter.email"),
            "other_contacts": _other_contacts(person.get("other_contacts")),
            "anonymous": _flag(person.get("anonymous"), "reporter.anonymous"),
            "confidential": _flag(person.get("confidential"), "reporter.confidential"),
        },
        "attachments": _attachments(attachments),
        "extra": _text_map(extra, "extra", MAX_EXTRA_VALUE_BYTES, MAX_EXTRA_BYTES),
    }


def _other_contacts(value: Any) -> dict[str, str]:
    if isinstance(value, dict) and len(value) > MAX_ITEMS:
        raise BadInput(f"{len(value):,} other contacts are over the limit of {MAX_ITEMS}")
    return _text_map(value, "reporter.other_contacts", MAX_TEXT_BYTES, None)


def new_status(
    *,
    hub_id: str,
    agency: str,
    status: str,
    occurred_at: datetime,
    source_status: str | None,
    message: str | None = None,
    actor: str | None = None,
    update_id: str | None = None,
    suggested_agency: str | None = None,
) -> dict[str, Any]:
    """A StatusUpdate; its id is stable, so reading the same app status twice is one update.
    Its fields are checked as a Report's are (types, limits, the field named).

    ``suggested_agency``: with NOT_AUTHORITY, the agency the app says is responsible (a
    directory id, or the agency's name or alias as the app gives it); the tracker follows it
    when the directory agrees. It is dropped from any other status."""
    if not isinstance(status, str) or status not in STATUSES:
        raise BadInput(f"unknown canonical status {describe(status)}")
    hub_id = _required_text(hub_id, "hub_id")
    if not hub_id.strip():
        raise BadInput("missing hub_id: the status does not say which report it is for")
    agency = _required_text(agency, "agency")
    source_status = _text(source_status, "source_status")
    occurred_at = _time(occurred_at, "occurred_at")
    stable = _text(update_id, "update_id") or uuid5_text(
        HUB_NAMESPACE, f"{hub_id}/{agency}/{source_status}/{occurred_at.isoformat()}"
    )
    return {
        "update_id": stable,
        "hub_id": hub_id,
        "agency": agency,
        "status": status,
        "source_status": source_status,
        "message": _text(message, "message", MAX_MESSAGE_BYTES, read=True),
        "actor": _text(actor, "actor"),
        "occurred_at": occurred_at,
        "suggested_agency": _suggestion(suggested_agency) if status == "NOT_AUTHORITY" else None,
        "designated_agency": None,  # only `lapor-hub reports assign` designates (hub.ops.assign)
    }


def _suggestion(value: Any) -> str | None:
    text = _text(value, "suggested_agency", read=True)
    return (text.strip() or None) if text is not None else None
