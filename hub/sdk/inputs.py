"""Untrusted bytes from agency apps, read safely: size, depth, encoding, JSON, XML, pages.

Each refusal is a BadInput whose reason tells the app what was wrong: a pushing app gets it
in a 4xx answer, a pulled or batch message carries it into the dead-letter topic. A pulled
page that cannot be read at all is an UnusableAnswer (the side asks again later), and a
delivery's answer that cannot be read a RetryableDeliveryError (the idempotency key makes
sending again safe).

The limits on what is read, in one place (the canonical report's own field limits are in
hub.sdk.reports):

    MAX_JSON_BYTES   1 MiB      one message's JSON (callers may give their own limit)
    MAX_XML_BYTES    1 MiB      one message's XML
    MAX_PAGE_BYTES   16 MiB     one page an app answered to a pull or status poll
    MAX_DEPTH        64         nesting of JSON arrays/objects and of XML elements in one
                                message (a page's frame has none: JsonPage and page_xml
                                read it without recursion, and check its items one by one)
    MAX_ID_CHARS     256        an item's own id (it becomes a Kafka key)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from xml.etree.ElementTree import Element, tostring

import httpx
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml import ElementTree as SafeET

from hub.errors import BadInput, RetryableDeliveryError, UnusableAnswer
from hub.sdk.base import RawMessage

LEGACY_CHARSETS = ("windows-1252", "iso-8859-1", "latin-1")
MAX_JSON_BYTES = 1024 * 1024
MAX_XML_BYTES = 1024 * 1024
MAX_PAGE_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 64
MAX_ID_CHARS = 256


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
        raise BadInput(f"unknown charset {shown(declared)}", status=415) from exc


def charset_of(content_type: str | None) -> str | None:
    for part in (content_type or "").split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset":
            return value.strip('"')
    return None


# -- saying what a value is, in a reason (never the whole of an untrusted value) ----------


def shown(text: str, limit: int = 60) -> str:
    """A text quoted in a reason, cut: a reason travels in headers and HTTP answers."""
    return repr(text[:limit]) + ("…" if len(text) > limit else "")


def describe(value: Any) -> str:
    """What a JSON (or XML) value is, in the words of a reason: "a list of 2 items"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        try:
            number = repr(value)
        except ValueError:  # an int of more digits than Python prints
            return "a number of too many digits"
        return f"the number {number[:40]}{'…' if len(number) > 40 else ''}"
    if isinstance(value, str):
        return f"the text {shown(value, 40)}"
    if isinstance(value, list):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return f"an object of {len(value)} field{'' if len(value) == 1 else 's'}"
    return f"a {type(value).__name__}"


# -- JSON ------------------------------------------------------------------------------


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are each given once: with a key twice, which value counts is
    up to the parser (the last, here; the first, elsewhere), so the app's meaning is a guess."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise BadInput(
                    f"the JSON object has the key {shown(key)} more than once: which value "
                    "counts would be a guess"
                )
            seen.add(key)
    return data


def _constant(name: str) -> Any:
    raise BadInput(f"{name} is not a JSON number (RFC 8259): send a number or null")


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise BadInput(f"the number {shown(text, 40)} is too large for a 64-bit float")
    return value


_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_constant, parse_float=_float)
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _too_deep(what: str, limit: int) -> str:
    return f"{what} nested deeper than {limit} levels is refused: no report needs that"


def _json_deeper_than(text: str, limit: int) -> bool:
    """Nesting counted on valid JSON text, in one pass without recursion: strings dropped
    (a bracket in a string is text), then the brackets left counted."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for bracket in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _has_lone_surrogate(value: Any) -> bool:
    """A ``\\ud800`` escape without its pair decodes to no character: it cannot be written
    as UTF-8 later. Looked for iteratively (the value may be deep)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def parse_json(
    body: bytes,
    charset: str | None = None,
    *,
    limit: int = MAX_JSON_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """JSON as RFC 8259 means it, bounded: no NaN or Infinity, no key twice in an object,
    no lone surrogate, at most ``limit`` bytes and ``max_depth`` levels, so one body can
    neither exhaust the hub's stack or memory nor mean two things."""
    check_size(body, limit)
    text = decode_text(body, charset)
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except RecursionError:
        raise BadInput(_too_deep("JSON", max_depth)) from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise BadInput("a number in the JSON has too many digits to be read") from exc
    if _json_deeper_than(text, max_depth):
        raise BadInput(_too_deep("JSON", max_depth))
    if "\\u" in text and _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise BadInput(
            "the JSON has a \\uD800-\\uDFFF escape without its pair: it is no character; "
            "send the pair, or the character itself in UTF-8"
        )
    return value


def json_bytes(value: Any) -> bytes:
    """One item of a page as the bytes kept for it (UTF-8 JSON, characters unescaped)."""
    return json.dumps(value, ensure_ascii=False).encode()


# -- XML -------------------------------------------------------------------------------


def parse_xml(
    body: bytes, *, limit: int = MAX_XML_BYTES, max_depth: int | None = MAX_DEPTH
) -> SafeET.Element:
    """XML without DTDs, entities or external references (billion laughs, XXE), at most
    ``limit`` bytes and ``max_depth`` levels (serialising a deeper tree recurses). Parsing
    itself does not recurse: a page is parsed with no depth limit (None), its items are
    checked one by one (element_bytes)."""
    check_size(body, limit)
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden) as exc:
        raise BadInput(
            f"XML with a DTD, entity declarations or external references is refused "
            f"({type(exc).__name__}): they are how billion-laughs and XXE attacks work"
        ) from exc
    except SafeET.ParseError as exc:
        line, column = exc.position
        raise BadInput(f"malformed XML at line {line} column {column}: {exc}") from exc
    except (LookupError, ValueError, UnicodeError) as exc:  # an encoding it declares
        raise BadInput(f"XML in an encoding the hub does not read: {exc}") from exc
    if max_depth is not None and _xml_deeper_than(root, max_depth):
        raise BadInput(_too_deep("XML", max_depth))
    return root


def _xml_deeper_than(root: Element, limit: int) -> bool:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in element)
    return False


def element_bytes(element: Element) -> bytes:
    """One element of a page as the bytes kept for it. One nested deeper than MAX_DEPTH is
    refused (a BadInput for page_messages); its bytes are kept whole while serialising them
    is safe, its own fields only beyond that (serialising recurses once a level)."""
    if not _xml_deeper_than(element, MAX_DEPTH):
        return tostring(element)
    if not _xml_deeper_than(element, 5 * MAX_DEPTH):
        kept = tostring(element)
    else:
        shallow = Element(element.tag, element.attrib)
        shallow.text = element.text
        for child in element:
            copy = Element(child.tag, child.attrib)
            copy.text = child.text
            shallow.append(copy)
        kept = tostring(shallow)
    raise BadInput(_too_deep("XML", MAX_DEPTH), body=kept)


# -- fields ----------------------------------------------------------------------------


def require(data: dict[str, Any], *fields: str, where: str = "") -> None:
    missing = [f for f in fields if data.get(f) in (None, "")]
    if missing:
        raise BadInput(
            f"missing required field{'s' if len(missing) > 1 else ''} "
            f"{', '.join(where + f for f in missing)}"
        )


def read_text(data: dict[str, Any], field: str, where: str = "") -> str | None:
    """A field the connector reads as text itself (to map it, lower it, join it): text or
    absent; anything else is refused, never turned into its Python repr."""
    value = data.get(field)
    if value is None or isinstance(value, str):
        return value
    raise BadInput(f"{where}{field} must be text, not {describe(value)}")


def read_id(value: Any, field: str) -> str:
    """An app's own id for an item, as text: a non-empty string or a whole number. True,
    a fraction or an object would become a key no one can look up."""
    if value is None or value == "":
        raise BadInput(f"missing its id ({field})")
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise BadInput(f"{field} must be text or a whole number, not {describe(value)}")
    if not text.strip():
        raise BadInput(f"{field} is blank")
    if _SURROGATE.search(text):
        raise BadInput(f"{field} holds a \\uD800-\\uDFFF escape without its pair: no character")
    if found := _ID_CONTROL.search(text):
        raise BadInput(f"{field} holds the control character U+{ord(found.group()):04X}")
    if len(text) > MAX_ID_CHARS:
        raise BadInput(
            f"{field} is {len(text):,} characters long, over the {MAX_ID_CHARS}-character "
            "limit for an id"
        )
    return text


def read_number(value: Any, field: str) -> float | None:
    """A number an app sends as a JSON number or as text ("-7.28": XML and forms have
    nothing else), converted explicitly here; absent or empty is None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadInput(f"{field} must be a number, not {describe(value)}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError) as exc:
        raise BadInput(f"{field} must be a number, not {describe(value)}") from exc
    if not math.isfinite(number):
        raise BadInput(f"{field} must be a finite number, not {describe(value)}")
    return number


# C0 and C1 controls, and the bidirectional overrides and isolates that make a screen show
# other text than is stored (U+202A-U+202E, U+2066-U+2069), and line/paragraph separators
_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_ID_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def check_control_characters(text: str, field: str) -> str:
    """Text a person reads (an SMS, a reply) without control characters: they are no part
    of what a citizen typed, and in a terminal or an officer's screen they can hide or
    rewrite what is shown. Tab, line feed and carriage return are text."""
    found = _CONTROL.search(text)
    if found:
        raise BadInput(
            f"{field} has the control character U+{ord(found.group()):04X} at position "
            f"{found.start()}: only tab, line feed and carriage return are allowed in text "
            "(no control, direction-override or separator characters)"
        )
    return text


# -- pulled pages and delivery answers -------------------------------------------------


def _start_of(response: httpx.Response) -> str:
    kind = response.headers.get("content-type") or "no content type"
    return f"{kind}, starting {shown(response.content[:60].decode('utf-8', 'replace'))}"


class _Malformed(Exception):
    """Where a page's JSON stops being JSON, said for a reason."""


_SPACE = re.compile(r"[ \t\n\r]*+")
_TO_BRACKET = re.compile(r'(?:"(?:[^"\\]++|\\.)*+"|[^"\[\]{}]++)*+(?:([\[\]{}])|(")|\Z)')
_SCALAR = re.compile(r'[^ \t\n\r,:\[\]{}"]++')


def _skip(text: str, position: int) -> int:
    return _SPACE.match(text, position).end()  # type: ignore[union-attr]


def _value_end(text: str, position: int) -> int:
    """Where the JSON value starting at ``position`` ends: strings skipped and brackets
    counted in one pass, nothing built and no recursion, however deep the value."""
    if position >= len(text):
        raise _Malformed(f"a value was due at character {position}")
    first = text[position]
    if first == '"':
        found = _STRING.match(text, position)
        if found is None:
            raise _Malformed(f"the string at character {position} does not end")
        return found.end()
    if first in "[{":
        depth, start = 0, position
        while True:  # one step a bracket: strings and everything else are skipped in C
            found = _TO_BRACKET.match(text, position)
            assert found is not None  # it stops at a bracket, a quote or the end
            bracket, quote = found.group(1), found.group(2)
            if quote:
                raise _Malformed(f"the string at character {found.start(2)} does not end")
            if not bracket:
                raise _Malformed(f"the value at character {start} does not end")
            depth += 1 if bracket in "[{" else -1
            position = found.end()
            if depth == 0:
                return position
    found = _SCALAR.match(text, position)
    if found is None:
        raise _Malformed(f"{shown(first)} at character {position} starts no value")
    return found.end()


Listing = tuple[list[tuple[str | None, int, int]], int]


def _key(text: str, position: int) -> tuple[str, int]:
    """A member's key (decoded only when it holds an escape) and where it ends."""
    found = _STRING.match(text, position)
    if found is None:
        raise _Malformed(f"a key (a string) was due at character {position}")
    raw = found.group()
    if "\\" not in raw:
        return raw[1:-1], found.end()
    try:
        return json.loads(raw), found.end()
    except ValueError as exc:
        raise _Malformed(f"the key at character {position} is no JSON string") from exc


def _listing(text: str, position: int, end_of: Callable[[str, int], int] = _value_end) -> Listing:
    """The members of the object (key, start, end) or the elements of the list (None,
    start, end) at ``position``, and where it ends; ``end_of`` finds where each ends."""
    closing = "}" if text[position] == "{" else "]"
    children: list[tuple[str | None, int, int]] = []
    start, position = position, _skip(text, position + 1)
    if text.startswith(closing, position):
        return children, position + 1
    while True:
        key = None
        if closing == "}":
            key, position = _key(text, position)
            position = _skip(text, position)
            if not text.startswith(":", position):
                raise _Malformed(f"':' was due at character {position}")
            position = _skip(text, position + 1)
        end = end_of(text, position)
        children.append((key, position, end))
        position = _skip(text, end)
        if text.startswith(",", position):
            position = _skip(text, position + 1)
        elif text.startswith(closing, position):
            return children, position + 1
        elif position >= len(text):
            raise _Malformed(f"the value at character {start} does not end")
        else:
            raise _Malformed(f"',' or '{closing}' was due at character {position}")


def _find(
    text: str, start: int, path: str, listing: Callable[[str, int], Listing] = _listing
) -> tuple[int, int] | None:
    """The value at a dotted path (``meta.next``, ``items.0.id``; "" is the value itself),
    None where the path leads nowhere. A key given twice on the way is refused."""
    if not path:
        return start, _value_end(text, start)
    end = None
    for part in path.split("."):
        if text[start] not in "{[":
            return None
        children, _ = listing(text, start)
        if text[start] == "{":
            found = [(s, e) for key, s, e in children if key == part]
            if len(found) > 1:
                raise _Malformed(f"{part} is given {len(found)} times: which one counts is a guess")
        else:
            index = int(part) if part.isdecimal() else len(children)
            found = [children[index][1:]] if index < len(children) else []
        if not found:
            return None
        start, end = found[0]
    return start, end  # type: ignore[return-value]


def _kind(text: str) -> str:
    """What a JSON text is, as describe() says it, without trusting it to parse."""
    if text.startswith("["):
        try:
            return describe([None] * len(_listing(text, 0)[0]))
        except _Malformed:
            return "a list"
    try:
        return describe(_DECODER.decode(text))
    except (BadInput, ValueError, RecursionError):
        return f"the JSON text {shown(text, 40)}"


# a page's frame is read leniently: what is odd inside an item is for its translation to say
_LENIENT = json.JSONDecoder(strict=False)
_UNREAD = object()


class JsonPage:
    """A page of JSON an app answered, read shallowly: where each value starts and ends is
    found in one pass, without recursion and without building the items, so one odd item
    (NaN, a key twice, 5,000 levels deep, bytes that are no UTF-8) is refused on its own,
    with its own bytes, while the others go on. Only the page's frame must be JSON:
    otherwise (an HTML maintenance page, a cut answer) the page is an UnusableAnswer."""

    def __init__(self, response: httpx.Response, what: str, limit: int = MAX_PAGE_BYTES) -> None:
        self.what = what
        content = response.content
        if len(content) > limit:
            raise UnusableAnswer(
                f"{what} answered a page of {len(content):,} bytes, over the {limit:,}-byte "
                "limit: ask for smaller pages"
            )
        declared = (charset_of(response.headers.get("content-type")) or "utf-8").lower()
        self.codec = declared if declared in LEGACY_CHARSETS else "utf-8"
        # undecodable bytes are kept as surrogates: the item holding them is refused alone
        self.text = content.decode(self.codec, "surrogateescape").removeprefix("\ufeff")
        self._listed: dict[int, Listing] = {}
        self._parsed: dict[int, Any] = {}  # values the C parser read, by where they start
        try:
            self.start = _skip(self.text, 0)
            if not self.text.startswith(("{", "["), self.start):
                value = _DECODER.decode(self.text)  # a lone value is no page, say which
                raise _Malformed(f"it is {describe(value)}")
            _, end = self._listing(self.text, self.start)  # the frame, read once
            if _skip(self.text, end) != len(self.text):
                raise _Malformed("more follows the page's JSON value")
        except (_Malformed, BadInput, ValueError, RecursionError) as exc:
            reason = exc.reason if isinstance(exc, BadInput) else str(exc)
            if isinstance(exc, json.JSONDecodeError):
                reason = f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            raise UnusableAnswer(
                f"{what} answered something that is not a page of JSON "
                f"({_start_of(response)}): {reason}"
            ) from exc

    def _listing(self, text: str, position: int) -> Listing:
        """The listing of the container at ``position``, made once."""
        if position not in self._listed:
            self._listed[position] = _listing(text, position, self._end_of)
        return self._listed[position]

    def _end_of(self, text: str, position: int) -> int:
        """Where a value ends: read by the C parser where it can (and kept, for a look at
        an item), stepped through bracket by bracket where it cannot (too deep, not JSON)."""
        try:
            value, end = _LENIENT.raw_decode(text, position)
        except (ValueError, RecursionError):
            return _value_end(text, position)
        self._parsed[position] = value
        return end

    def _at(self, path: str) -> tuple[int, int] | None:
        try:
            return _find(self.text, self.start, path, self._listing)
        except _Malformed as exc:
            raise UnusableAnswer(f"{self.what} answered a page that cannot be read: {exc}") from exc

    def kind(self, path: str = "") -> str:
        """What the value at ``path`` is ("an object of 2 fields"), "nothing" if absent."""
        span = self._at(path)
        return "nothing" if span is None else _kind(self.text[span[0] : span[1]])

    def value(self, path: str) -> Any:
        """The value at ``path`` (a cursor, a count), read strictly; None if absent."""
        span = self._at(path)
        if span is None:
            return None
        try:
            return parse_json(self.text[span[0] : span[1]].encode("utf-8", "surrogateescape"))
        except BadInput as exc:
            raise UnusableAnswer(
                f"{self.what} answered a page whose {path} cannot be read: {exc.reason}"
            ) from exc

    def items(self, path: str = "") -> list[JsonItem]:
        """The items of the list at ``path``; a page without that list is UnusableAnswer."""
        span = self._at(path)
        if span is None or self.text[span[0]] != "[":
            found = "nothing" if span is None else _kind(self.text[span[0] : span[1]])
            where = f" at {path}" if path else ""
            raise UnusableAnswer(
                f"{self.what} answered a page without its list of items{where}: found {found}"
            )
        try:
            children, _ = self._listing(self.text, span[0])
        except _Malformed as exc:
            raise UnusableAnswer(f"{self.what} answered a page that cannot be read: {exc}") from exc
        return [JsonItem(self, number, s, e) for number, (_, s, e) in enumerate(children, 1)]

    def messages(
        self, path: str, id_path: str, content_type: str = "application/json"
    ) -> list[RawMessage | BadInput]:
        """The items at ``path`` as messages (see json_item_messages)."""
        return json_item_messages(self.items(path), id_path, self.what, content_type)


@dataclass(frozen=True)
class JsonItem:
    """One item of a JsonPage: its text as the app sent it, read only where asked."""

    page: JsonPage
    number: int  # its place in the page, from 1
    start: int
    end: int

    @cached_property
    def text(self) -> str:
        return self.page.text[self.start : self.end]

    @property
    def body(self) -> bytes:
        """The bytes kept for it: the app's own (as UTF-8, the content type's charset)."""
        text = self.text
        if _SURROGATE.search(text):  # bytes that are no text: kept as they came
            return text.encode(self.page.codec, "surrogateescape")
        return text.encode()

    def parsed(self, path: str) -> Any:
        """The value at ``path`` as the C parser read the item (leniently), _UNREAD where it
        could not, or where a key on the path may be given twice (then _find says)."""
        value = self.page._parsed.get(self.start, _UNREAD)
        if value is _UNREAD or any(self.text.count(f'"{part}"') > 1 for part in path.split(".")):
            return _UNREAD
        for part in path.split(".") if path else []:
            if isinstance(value, dict):
                value = value.get(part)
            elif isinstance(value, list) and part.isdecimal() and int(part) < len(value):
                value = value[int(part)]
            else:
                return None
        return value

    def get(self, path: str) -> Any:
        """The value at ``path`` inside the item, for a look (which side it is for, how new
        it is); None if absent or if it cannot be read: reading it is for translation."""
        found = self.parsed(path)
        if found is not _UNREAD:
            return found
        try:
            span = _find(self.page.text, self.start, path)
            if span is None:
                return None
            return parse_json(self.page.text[span[0] : span[1]].encode())
        except (_Malformed, BadInput, UnicodeEncodeError):
            return None


def json_item_messages(
    items: list[JsonItem], id_path: str, what: str, content_type: str = "application/json"
) -> list[RawMessage | BadInput]:
    """Each item of a pulled JSON page as a message: an object with a usable id at
    ``id_path`` (a non-empty string or a whole number) a RawMessage of its own bytes; any
    other item a BadInput with the reason and those bytes, refused on its own while the
    others go on. What else is wrong inside an object (NaN, a key twice, too deep) is for
    its translation to refuse, with the item kept whole in the hub."""
    messages: list[RawMessage | BadInput] = []
    for item in items:
        text, body = item.text, item.body
        try:
            if _SURROGATE.search(text):
                raise BadInput(f"it is not valid {item.page.codec.upper()}")
            if not text.startswith("{"):
                raise BadInput(f"it is {_kind(text)}, not an object")
            found = item.parsed(id_path)
            if found is not _UNREAD:
                messages.append(RawMessage(read_id(found, id_path), body, content_type))
                continue
            try:
                span = _find(item.page.text, item.start, id_path)
            except _Malformed as exc:
                raise BadInput(f"malformed JSON: {exc}") from exc
            found = None
            if span is not None:
                try:
                    found = parse_json(item.page.text[span[0] : span[1]].encode())
                except BadInput as exc:
                    raise BadInput(f"{id_path}: {exc.reason}") from exc
            source_id = read_id(found, id_path)
        except BadInput as refused:
            messages.append(
                BadInput(f"{what} page, item #{item.number}: {refused.reason}", body=body)
            )
            continue
        messages.append(RawMessage(source_id, body, content_type))
    return messages


def page_xml(response: httpx.Response, what: str, limit: int = MAX_PAGE_BYTES) -> Element:
    """A page's XML, or an UnusableAnswer saying what came instead; how deep its items
    are is for element_bytes to check, item by item."""
    try:
        return parse_xml(response.content, limit=limit, max_depth=None)
    except BadInput as exc:
        raise UnusableAnswer(
            f"{what} answered something that is not a page of XML ({_start_of(response)}): "
            f"{exc.reason}"
        ) from exc


def page_cursor(value: Any, field: str, what: str) -> str | None:
    """Where a page says to go on: text or a whole number; absent keeps the cursor."""
    if value is None:
        return None
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        text = str(value)
        if len(text) <= MAX_ID_CHARS:
            return text
    raise UnusableAnswer(f"{what} answered a page whose {field} is {describe(value)}: no cursor")


def page_messages(
    items: Any,
    id_field: str,
    what: str,
    *,
    id_of: Callable[[dict[str, Any]], Any] | None = None,
    read: Callable[[Any], Any] | None = None,
    encode: Callable[[Any], bytes] = json_bytes,
    content_type: str = "application/json",
) -> list[RawMessage | BadInput]:
    """A pulled page's items, already parsed (an XML page's elements; a JSON page is read
    with JsonPage), as messages. An item that is an object with a usable id (a non-empty
    string or a whole number, in ``id_field`` or as ``id_of`` finds it) is a RawMessage of
    its bytes (``encode``); any other item a BadInput with the reason and those bytes,
    refused on its own while the others go on. Items that are not a list are no page:
    UnusableAnswer. ``read`` turns an item (an XML element) into its fields."""
    if not isinstance(items, list):
        raise UnusableAnswer(
            f"{what} answered a page without its list of items: found {describe(items)}"
        )
    messages: list[RawMessage | BadInput] = []
    for number, item in enumerate(items, 1):
        try:
            body = encode(item)
        except BadInput as refused:  # it cannot be kept as it is (element_bytes: too deep)
            reason = f"{what} page, item #{number}: {refused.reason}"
            messages.append(BadInput(reason, body=refused.body or b""))
            continue
        except (TypeError, ValueError, RecursionError) as exc:
            messages.append(BadInput(f"{what} page, item #{number}: not kept: {exc}", body=b""))
            continue
        try:
            data = read(item) if read is not None else item
            if not isinstance(data, dict):
                raise BadInput(f"it is {describe(data)}, not an object")
            source_id = read_id(id_of(data) if id_of else data.get(id_field), id_field)
        except BadInput as refused:
            messages.append(BadInput(f"{what} page, item #{number}: {refused.reason}", body=body))
            continue
        messages.append(RawMessage(source_id, body, content_type))
    return messages


def _answer_refused(response: httpx.Response, what: str, missing: str) -> RetryableDeliveryError:
    return RetryableDeliveryError(
        f"{what} answered HTTP {response.status_code} without {missing} "
        f"({_start_of(response)}); whether it took the delivery is unknown, and the same "
        "idempotency key makes sending it again safe"
    )


def answer_json(response: httpx.Response, what: str) -> Any:
    """A delivery's JSON answer; one that cannot be read is retried, not lost."""
    try:
        return parse_json(response.content, charset_of(response.headers.get("content-type")))
    except BadInput as exc:
        raise _answer_refused(response, what, f"a JSON answer ({exc.reason})") from exc


def answer_xml(response: httpx.Response, what: str) -> Element:
    """A delivery's XML answer; one that cannot be read is retried, not lost."""
    try:
        return parse_xml(response.content)
    except BadInput as exc:
        raise _answer_refused(response, what, f"an XML answer ({exc.reason})") from exc


def answer_id(response: httpx.Response, value: Any, field: str, what: str) -> str:
    """The app's id for what it took, from its answer: without one, the delivery cannot be
    recorded, so it is retried (the idempotency key gets the same id back)."""
    try:
        return read_id(value, field)
    except BadInput as exc:
        missing = field if value is None or value == "" else f"a usable {field} ({exc.reason})"
        raise _answer_refused(response, what, missing) from exc
