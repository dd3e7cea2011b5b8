"""Words in reports: case-insensitive, punctuation-tolerant, informal spellings included.

The expensive side is done once, when rules compile: each rule word or phrase is expanded
into its informal spellings (``routing_rules/spelling.yaml``: "tidak" also matches "gak",
"tdk", "nggak") and into the surface forms punctuation gives a word ("rusak," "(rusak").
A report then only needs lowercasing and one whitespace split, both in C, to find which
rule words it holds, which keeps routing fast however many rules there are.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cached_property

_WORD = re.compile(r"\w+")
_SEPARATORS = str.maketrans({"-": " ", "/": " "})
_TRAILING = ".,!?;:)\"'…"
_LEADING = "(\"'"
MAX_VARIANTS = 64


def words_of(text: str) -> tuple[str, ...]:
    """The words of a phrase, lowercased, punctuation dropped."""
    return tuple(_WORD.findall(text.lower().translate(_SEPARATORS)))


def surface_forms(word: str) -> set[str]:
    """How ``word`` can appear after a whitespace split of running text."""
    forms = {word}
    forms.update(word + p for p in _TRAILING)
    forms.update(p + word for p in _LEADING)
    forms.update(p + word + q for p in _LEADING for q in _TRAILING)
    return forms


class Spelling:
    """Informal variants of standard words and phrases (both may be several words)."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.variants: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for standard, informal in table.items():
            key = words_of(standard)
            self.variants[key] = [key, *(words_of(v) for v in informal)]
        self._longest_first = sorted(self.variants, key=len, reverse=True)

    def expand(self, phrase: tuple[str, ...]) -> list[tuple[str, ...]]:
        """Every spelling of ``phrase``, the standard one first (at most MAX_VARIANTS)."""
        pieces: list[list[tuple[str, ...]]] = []
        i = 0
        while i < len(phrase):
            for key in self._longest_first:
                if phrase[i : i + len(key)] == key:
                    pieces.append(self.variants[key])
                    i += len(key)
                    break
            else:
                pieces.append([(phrase[i],)])
                i += 1
        spelled = (tuple(w for part in combo for w in part) for combo in itertools.product(*pieces))
        return list(itertools.islice(spelled, MAX_VARIANTS))


@dataclass
class ReportText:
    """A report's title and body, prepared for word matching."""

    raw: str

    @cached_property
    def tokens(self) -> frozenset[str]:
        """Whitespace-split lowercase tokens (punctuation still attached): the fast path."""
        return frozenset(self.raw.lower().translate(_SEPARATORS).split())

    @cached_property
    def joined_words(self) -> str:
        """' word word ... ' with punctuation gone, to look for phrases in (slow path)."""
        return " " + " ".join(words_of(self.raw)) + " "

    def has_phrase(self, words: tuple[str, ...]) -> bool:
        return f" {' '.join(words)} " in self.joined_words


class WordCondition:
    """'Any of these words or phrases', compiled: surface tokens for the index, phrases to
    verify where a first word alone does not prove a match."""

    def __init__(self, words: list[str], spelling: Spelling) -> None:
        self.source = list(words)
        self.single: set[str] = set()  # one-word spellings: a token hit is a match
        self.phrases: list[tuple[str, ...]] = []  # several words: the first is indexed
        for word in words:
            for spelled in spelling.expand(words_of(word)):
                if not spelled:
                    continue
                if len(spelled) == 1:
                    self.single.add(spelled[0])
                else:
                    self.phrases.append(spelled)

        self._forms = frozenset(self.exact_tokens())

    def found_in(self, text: ReportText) -> bool:
        """Whether any of the words or phrases is in the text (fast; see ``matches``)."""
        if not self._forms.isdisjoint(text.tokens):
            return True
        return any(text.has_phrase(phrase) for phrase in self.phrases)

    @property
    def empty(self) -> bool:
        return not self.single and not self.phrases

    def exact_tokens(self) -> set[str]:
        return {form for word in self.single for form in surface_forms(word)}

    def phrase_tokens(self) -> set[str]:
        return {form for phrase in self.phrases for form in surface_forms(phrase[0])}

    def matches(self, text: ReportText) -> str | None:
        """The rule word found in the text (as spelled there), or None."""
        for word in self.single:
            if not surface_forms(word).isdisjoint(text.tokens):
                return word
        for phrase in self.phrases:
            if text.has_phrase(phrase):
                return " ".join(phrase)
        return None
