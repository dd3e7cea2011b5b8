"""The routing engine's candidate step: which rules hold for a report, given the rules its
fields allow, once every rule key in its title and body is found in one scan.

A key (" jalan rusak ", see hub.routing.text) satisfies the words condition of some rules
and trips the unless_words of others. A rule is a candidate when its fields allow it, and
it has no words condition or a key of it is in the text, and no key of its unless_words is.
Two implementations give the same answer (tests/unit/test_routing_scan.py):

- ``NativeScan``: lapor-textmatch (native/textmatch, Rust with the aho-corasick crate),
  built by ``make install`` when a Rust toolchain is there: a report's text normalized and
  scanned, and the candidates picked, in about two microseconds.
- ``PythonScan``: pyahocorasick over text normalized in Python and big-integer masks,
  about half as fast; used when the native module is not installed (the hub says so once).

``KeyFinder`` is the gazetteer's pass of the same kind: where the broad place names and the
level words occur, natively when built (a third of the time normalize and pyahocorasick
take in Python).
"""

from __future__ import annotations

import logging
import operator
import struct
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import reduce

import ahocorasick

from hub.routing.text import _TO_SPACES, normalize, plain

try:
    from lapor_textmatch import CandidateScan, KeyScan
except ImportError:  # no Rust toolchain where the hub was installed
    CandidateScan = KeyScan = None

log = logging.getLogger(__name__)
_OR_VALUES = operator.itemgetter(1)
# what each byte becomes in normalized text: the table normalize() applies, for the native scan
NORMALIZED_BYTE = bytes(range(256)).lower().translate(_TO_SPACES)
_told = False


def bit_positions(mask: int) -> Iterator[int]:
    """Indexes of the set bits, lowest (earliest rule) first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


class NativeScan:
    name = "native (lapor-textmatch)"

    def __init__(
        self, keys: Mapping[str, Sequence[int]], rules: int, no_words: int, texty: int
    ) -> None:
        self._bytes = (rules + 7) // 8 or 1
        self._scan = CandidateScan(
            [key.encode() for key in keys],
            [list(bit_positions(satisfies)) for satisfies, _ in keys.values()],
            [list(bit_positions(vetoes)) for _, vetoes in keys.values()],
            rules,
            list(bit_positions(no_words)),
            list(bit_positions(texty)),
            NORMALIZED_BYTE,
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
        text = plain(f"{title}\n{body}").encode("utf-8", "replace")
        return self._scan.candidates(text, region, fields)


class PythonScan:
    name = "python (pyahocorasick)"

    def __init__(
        self, keys: Mapping[str, Sequence[int]], rules: int, no_words: int, texty: int
    ) -> None:
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
        mask = region & fields
        if mask & self._texty:
            text = normalize(f"{title}\n{body}")
            hits = reduce(operator.or_, map(_OR_VALUES, self._automaton.iter(text)), 0)
            mask &= (self._no_words | (hits & self._all)) & ~(hits >> self._rules)
        return list(bit_positions(mask))


def candidate_scan(
    keys: Mapping[str, Sequence[int]], rules: int, no_words: int, texty: int
) -> NativeScan | PythonScan:
    """The fastest implementation installed. ``keys`` maps each key to (the rules it
    satisfies, the rules it vetoes) as bitmasks over ``rules`` rules."""
    global _told
    if CandidateScan is not None:
        return NativeScan(keys, rules, no_words, texty)
    if not _told:
        log.warning(
            "routing reads report text with the slower Python scan: lapor-textmatch is not "
            "installed (make install builds it when cargo is there)"
        )
        _told = True
    return PythonScan(keys, rules, no_words, texty)


ScanFactory = Callable[[Mapping[str, Sequence[int]], int, int, int], NativeScan | PythonScan]


class KeyFinder:
    """Where keys (" bandung ") occur in a text, normalized on the way: the gazetteer's place
    check. Native (lapor-textmatch's KeyScan) when built, else normalize and pyahocorasick;
    both give the normalized text (empty when nothing is found) and each hit's key and the
    offset of its first word in that text, in order of the hits' ends."""

    def __init__(self, keys: Sequence[str], native: bool = True) -> None:
        self._keys = [f" {key} " for key in keys]
        self._names = list(keys)
        self._native = None
        if native and KeyScan is not None:
            self._native = KeyScan([key.encode() for key in self._keys], NORMALIZED_BYTE)
        else:
            self._automaton = ahocorasick.Automaton()
            for number, key in enumerate(self._keys):
                self._automaton.add_word(key, number)
            if self._keys:
                self._automaton.make_automaton()

    def find(self, text: str) -> tuple[str, list[tuple[str, int]]]:
        names = self._names
        if self._native is None:
            normalized = normalize(text)
            hits = self._automaton.iter(normalized) if names else ()
            found = [(names[n], end - len(names[n])) for end, n in hits]
            return (normalized if found else ""), found
        raw, found = self._native.find(plain(text).encode("utf-8", "replace"))
        if not found:
            return "", []
        normalized = raw.decode("utf-8", "replace")
        if len(normalized) == len(raw):  # ASCII: byte offsets are character offsets
            return normalized, [(names[n], start + 1) for n, start in found]
        # a key starts at a space, so the bytes before it never end inside a character
        return normalized, [
            (names[n], len(raw[:start].decode("utf-8", "replace")) + 1) for n, start in found
        ]
