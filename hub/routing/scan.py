"""The routing engine's candidate step: which rules hold for a report, given the rules its
fields allow, once every rule key in its title and body is found in one scan.

A report's title and body are normalized once (``normalized``: bytes, as
hub.routing.text.normalize makes the text) and read by both passes over them: this one, and
the gazetteer's place check (``KeyFinder``).

A key (" jalan rusak ", see hub.routing.text) satisfies the words condition of some rules
and trips the unless_words of others. A rule is a candidate when its fields allow it, and
it has no words condition or a key of it is in the text, and no key of its unless_words is.
Two implementations give the same answer (tests/unit/test_routing_scan.py):

- ``NativeScan``: lapor-textmatch (native/textmatch, Rust with the aho-corasick crate),
  built by ``make install`` when a Rust toolchain is there: a report's text scanned and
  the candidates picked in about two microseconds.
- ``PythonScan``: pyahocorasick and big-integer masks, about half as fast; used when the
  native module is not installed (the hub says so once).

``KeyFinder`` is the gazetteer's pass of the same kind: where the broad place names and the
level words occur, and for a level word the name of its level after it, natively when built
(most level words of reports are followed by no place: "pegawai kelurahan").
"""

from __future__ import annotations

import logging
import operator
import struct
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from functools import reduce
from typing import Any

import ahocorasick

from hub.routing.text import _TO_SPACES, plain, title_and_body

try:
    from lapor_textmatch import CandidateScan, KeyScan, Normalizer
except ImportError:  # no Rust toolchain where the hub was installed, or an older build
    CandidateScan = KeyScan = Normalizer = None

log = logging.getLogger(__name__)
_OR_VALUES = operator.itemgetter(1)
# what each byte becomes in normalized text: the table normalize() applies, for the native scan
NORMALIZED_BYTE = bytes(range(256)).lower().translate(_TO_SPACES)
_told = False
_NORMALIZER = Normalizer(NORMALIZED_BYTE) if Normalizer is not None else None
# what the gazetteer reads after a level word for a name (native/textmatch: the same)
AFTER_CHARS, AFTER_WORDS = 80, 4


def normalized(text: str) -> bytes:
    """``text`` as hub.routing.text.normalize makes it, UTF-8: made once per report and read
    by the candidate scan and the place check alike."""
    raw = plain(text).encode("utf-8", "replace")
    return _NORMALIZER(raw) if _NORMALIZER is not None else python_normalized(raw)


def python_normalized(raw: bytes) -> bytes:
    """What the native Normalizer makes of UTF-8 ``raw``, in Python."""
    words = raw.lower().translate(_TO_SPACES).split()
    return b" " + b" ".join(words) + b" " if words else b" "


def bit_positions(mask: int) -> Iterator[int]:
    """Indexes of the set bits, lowest (earliest rule) first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


Hit = tuple[str, int, str | None]  # key, offset of its first word, the name after it
Places = tuple[str, list[Hit]]  # what a KeyFinder finds: the normalized text, its hits


class NativeScan:
    """``places``: a KeyFinder whose keys the same pass finds (``read``): the rule keys and
    the place names are read in one pass over the text instead of two."""

    name = "native (lapor-textmatch)"

    def __init__(
        self,
        keys: Mapping[str, Sequence[int]],
        rules: int,
        no_words: int,
        texty: int,
        places: KeyFinder | None = None,
    ) -> None:
        self._bytes = (rules + 7) // 8 or 1
        self._places = places
        self._scan = CandidateScan(
            [key.encode() for key in keys],
            [list(bit_positions(satisfies)) for satisfies, _ in keys.values()],
            [list(bit_positions(vetoes)) for _, vetoes in keys.values()],
            rules,
            list(bit_positions(no_words)),
            list(bit_positions(texty)),
            places.native if places is not None else None,
        )

    def prepare(self, rules: int) -> bytes:
        """A mask of rules (bit i: rule i) in the form ``candidates`` takes for ``fields``."""
        return rules.to_bytes(self._bytes, "little")

    def prepare_sparse(self, rules: int) -> bytes:
        """The same for ``region``: only its nonzero 64-bit words, with their index."""
        words = rules.to_bytes((self._bytes + 7) & ~7, "little")  # whole words
        return b"".join(
            struct.pack("<I", i // 8) + words[i : i + 8]
            for i in range(0, len(words), 8)
            if any(words[i : i + 8])
        )

    def candidates(self, title: str, body: str, region: bytes, fields: bytes) -> list[int]:
        """The rules both masks allow (``prepare_sparse``d and ``prepare``d) whose words
        conditions hold for the text."""
        return self._scan.candidates(normalized(title_and_body(title, body)), region, fields)

    def read(self, text: bytes) -> tuple[Any, Places | None]:
        """One pass over a ``normalized`` text: a reading for ``candidates_of`` once the
        report's region is known, and what ``places`` finds in the text (None without)."""
        reading, hits = self._scan.read(text)
        if self._places is None:
            return reading, None
        if self._places.native is None:
            return reading, self._places.find_in(text)
        return reading, self._places.shown(text, hits)

    def candidates_of(self, reading: Any, region: bytes, fields: bytes) -> list[int]:
        """``candidates`` for the text ``read``."""
        return reading.candidates(region, fields)


class PythonScan:
    name = "python (pyahocorasick)"

    def __init__(
        self,
        keys: Mapping[str, Sequence[int]],
        rules: int,
        no_words: int,
        texty: int,
        places: KeyFinder | None = None,
    ) -> None:
        self._places = places
        self._rules, self._no_words, self._texty = rules, no_words, texty
        self._all = (1 << rules) - 1
        self._automaton = ahocorasick.Automaton()
        for key, (satisfies, vetoes) in keys.items():
            self._automaton.add_word(key, satisfies | vetoes << rules)
        if keys:
            self._automaton.make_automaton()

    def prepare(self, rules: int) -> int:
        return rules

    prepare_sparse = prepare

    def candidates(self, title: str, body: str, region: int, fields: int) -> list[int]:
        return self.candidates_of(normalized(title_and_body(title, body)), region, fields)

    def read(self, text: bytes) -> tuple[bytes, Places | None]:
        return text, self._places.find_in(text) if self._places is not None else None

    def candidates_of(self, text: bytes, region: int, fields: int) -> list[int]:
        mask = region & fields
        if mask & self._texty:
            found = self._automaton.iter(text.decode("utf-8", "replace"))
            hits = reduce(operator.or_, map(_OR_VALUES, found), 0)
            mask &= (self._no_words | (hits & self._all)) & ~(hits >> self._rules)
        return list(bit_positions(mask))


def candidate_scan(
    keys: Mapping[str, Sequence[int]],
    rules: int,
    no_words: int,
    texty: int,
    places: KeyFinder | None = None,
) -> NativeScan | PythonScan:
    """The fastest implementation installed. ``keys`` maps each key to (the rules it
    satisfies, the rules it vetoes) as bitmasks over ``rules`` rules."""
    global _told
    if CandidateScan is not None:
        return NativeScan(keys, rules, no_words, texty, places)
    if not _told:
        log.warning(
            "routing reads report text with the slower Python scan: lapor-textmatch is not "
            "installed, or is older than the hub (make install builds it when cargo is there)"
        )
        _told = True
    return PythonScan(keys, rules, no_words, texty, places)


ScanFactory = Callable[
    [Mapping[str, Sequence[int]], int, int, int, "KeyFinder | None"], NativeScan | PythonScan
]


class KeyFinder:
    """Where keys (" bandung ") occur in a text: the gazetteer's place check. Native
    (lapor-textmatch's KeyScan) when built, else pyahocorasick; both give the normalized text
    (empty when nothing is found) and each hit's key and the offset of its first word in that
    text, in order of the hits' ends. ``followed``: (keys, names) pairs; such a key is found
    only when one of its names is among the (at most four) words after it, and its hit
    carries the longest: "kelurahan" in "kelurahan Gubeng" is, in "pegawai kelurahan" not."""

    def __init__(
        self,
        keys: Sequence[str],
        native: bool = True,
        followed: Sequence[tuple[Collection[str], Collection[str]]] = (),
    ) -> None:
        self._keys = [f" {key} " for key in keys]
        self._names = list(keys)
        number = {key: n for n, key in enumerate(keys)}
        self.native = None  # the KeyScan, which a NativeScan may read in its own pass
        if native and KeyScan is not None:
            self.native = KeyScan(
                [key.encode() for key in self._keys],
                [
                    ([number[key] for key in these], [name.encode() for name in names])
                    for these, names in followed
                ],
            )
        else:
            self._followed = {
                number[key]: frozenset(names) for these, names in followed for key in these
            }
            self._automaton = ahocorasick.Automaton()
            for n, key in enumerate(self._keys):
                self._automaton.add_word(key, n)
            if self._keys:
                self._automaton.make_automaton()

    def find(self, text: str) -> tuple[str, list[tuple[str, int]]]:
        shown, hits = self.find_in(normalized(text))
        return shown, [(key, start) for key, start, _ in hits]

    def find_in(self, text: bytes) -> Places:
        """The same for a text ``normalized`` already, with the name after each followed key."""
        if self.native is None:
            return self._python_find(text.decode("utf-8", "replace"))
        return self.shown(text, self.native.find(text))

    def shown(self, text: bytes, found: list[tuple[int, int, str | None]]) -> Places:
        """The native scan's hits in ``text`` as ``find_in`` gives them."""
        if not found:
            return "", []
        names = self._names
        shown = text.decode("utf-8", "replace")
        if len(shown) == len(text):  # ASCII: byte offsets are character offsets
            return shown, [(names[n], start + 1, after) for n, start, after in found]
        # a key starts at a space, so the bytes before it never end inside a character
        return shown, [
            (names[n], len(text[:start].decode("utf-8", "replace")) + 1, after)
            for n, start, after in found
        ]

    def _python_find(self, text: str) -> Places:
        names, followed = self._names, self._followed
        found = []
        for end, n in self._automaton.iter(text) if names else ():
            after = None
            if n in followed:
                after = _name_after(text, end + 1, followed[n])
                if after is None:
                    continue
            found.append((names[n], end - len(names[n]), after))
        return (text if found else ""), found


def _name_after(text: str, at: int, names: frozenset[str]) -> str | None:
    """The longest of ``names`` made of the first words of the AFTER_CHARS characters at
    ``at`` (the native scan reads the same words)."""
    words = text[at : at + AFTER_CHARS].split()[:AFTER_WORDS]
    for size in range(len(words), 0, -1):
        name = " ".join(words[:size])
        if name in names:
            return name
    return None
