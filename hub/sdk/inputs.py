"""Untrusted bytes from agency apps, read safely: size, encoding, JSON, XML.

Each refusal is a BadInput whose reason tells the app what was wrong: a pushing app gets it
in a 4xx answer, a pulled or batch message carries it into the dead-letter topic.
"""

from __future__ import annotations

import json
from typing import Any

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml import ElementTree as SafeET

from hub.errors import BadInput

LEGACY_CHARSETS = ("windows-1252", "iso-8859-1", "latin-1")


def check_size(body: bytes, limit: int) -> None:
    if len(body) > limit:
        raise BadInput(f"body of {len(body):,} bytes is over the {limit:,}-byte limit", status=413)


def decode_text(body: bytes, charset: str | None = None) -> str:
    """UTF-8, or a legacy charset the app declared; anything else is refused, not guessed."""
    declared = (charset or "utf-8").strip().lower()
    try:
        return body.decode(declared if declared in LEGACY_CHARSETS else "utf-8")
    except UnicodeDecodeError as exc:
        bad = body[exc.start : exc.start + 1].hex()
        raise BadInput(
            f"body is not valid {declared.upper()}: byte 0x{bad} at position {exc.start}; "
            "send UTF-8 or declare the charset (windows-1252 and iso-8859-1 are accepted)",
            status=415,
        ) from exc
    except LookupError as exc:
        raise BadInput(f"unknown charset {declared!r}", status=415) from exc


def charset_of(content_type: str | None) -> str | None:
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset":
            return value.strip('"')
    return None


def parse_json(body: bytes, charset: str | None = None) -> Any:
    text = decode_text(body, charset)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc


def parse_xml(body: bytes) -> SafeET.Element:
    """XML without DTDs, entities or external references (billion laughs, XXE)."""
    try:
        return SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden) as exc:
        raise BadInput(
            f"XML with a DTD, entity declarations or external references is refused "
            f"({type(exc).__name__}): they are how billion-laughs and XXE attacks work"
        ) from exc
    except SafeET.ParseError as exc:
        line, column = exc.position
        raise BadInput(f"malformed XML at line {line} column {column}: {exc}") from exc


def require(data: dict[str, Any], *fields: str, where: str = "") -> None:
    missing = [f for f in fields if data.get(f) in (None, "")]
    if missing:
        raise BadInput(
            f"missing required field{'s' if len(missing) > 1 else ''} "
            f"{', '.join(where + f for f in missing)}"
        )
