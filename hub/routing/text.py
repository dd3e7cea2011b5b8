"""Words in reports: case-insensitive, punctuation-tolerant, informal spellings included.

A text is normalized once: lowercase, punctuation and line breaks turned into spaces, framed
by spaces. A rule word or phrase becomes keys of the same shape (" jalan rusak "), one per
spelling (``routing_rules/spelling.yaml``: "tidak" also matches "gak", "tdk", "nggak"), so a
key found in the text is a whole-word match. The engine finds every key of every rule in one
pass over the text with an Aho-Corasick automaton (pyahocorasick, in C); ``explain`` checks
one rule's keys with plain substring search, which must agree with it.
"""

from __future__ import annotations

import itertools
import re
import string
from dataclasses import dataclass
from functools import cached_property

_WORD = re.compile(r"[a-z0-9]+")
_SPACES = string.punctuation + "\t\n\r\x0b\x0c"
_TO_SPACES = bytes.maketrans(_SPACES.encode(), b" " * len(_SPACES))
MAX_VARIANTS = 64


# between a report's title and its body: a word of its own that no rule key or place name
# holds, so a phrase is never read across the two ("... lampu merah mati" then "Lampu merah
# di simpang ..." does not say "mati lampu")
FIELD_BREAK = " \x1f "


def title_and_body(title: str, body: str) -> str:
    """The text rules and place names are read in."""
    return f"{title}{FIELD_BREAK}{body}"


def words_of(text: str) -> tuple[str, ...]:
    """The words of a phrase as the normalized text holds them."""
    return tuple(_WORD.findall(normalize(text)))


# separators from outside ASCII that pasted text carries (no-break and zero-width spaces,
# curly quotes, dashes, ellipsis): spaces, as their ASCII kin are
_UNICODE_SEPARATORS = str.maketrans(
    dict.fromkeys(
        "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
        "\u200a\u2028\u2029\u202f\u205f\u3000\u2018\u2019\u201a\u201c\u201d\u201e"
        "\u2010\u2011\u2012\u2013\u2014\u2015\u2026\u00ab\u00bb\u2039\u203a",
        " ",
    )
    | dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff\u00ad", None)
)


def plain(text: str) -> str:
    """Text whose separators are ASCII: "jalan\u00a0rusak" reads as "jalan rusak"."""
    return text if text.isascii() else text.translate(_UNICODE_SEPARATORS)


def normalize(text: str) -> str:
    """' lowercase words, punctuation as spaces ', one space between words ("dr. Soetomo"
    holds " dr soetomo "), cheaply: ASCII case folding on bytes, which is what rule words
    (ASCII Indonesian) need."""
    folded = plain(text).encode("utf-8", "replace").lower().translate(_TO_SPACES)
    return " " + b" ".join(folded.split()).decode("utf-8", "replace") + " "


def key_of(words: tuple[str, ...]) -> str:
    return " " + " ".join(words) + " "


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
    """A report's title and body, normalized on first use."""

    raw: str

    @cached_property
    def normalized(self) -> str:
        return normalize(self.raw)


INFLECTED = "~"  # a rule word "~pungut" also matches memungut, dipungut, pungutan...
_VOWELS = frozenset("aiueo")


def _nasal(root: str, prefix: str) -> list[str]:
    """meN-/peN- before ``root`` (``prefix`` is "me" or "pe"), and the spoken N- form:
    pungut -> memungut / mungut, tolak -> menolak / nolak, kirim -> mengirim / ngirim."""
    first = root[0]
    if first in _VOWELS:
        return [f"{prefix}ng{root}", f"ng{root}"]
    if first == "k":
        return [f"{prefix}ng{root[1:]}", f"ng{root[1:]}"]
    if first in "gh":
        return [f"{prefix}ng{root}"]
    if first == "p":
        return [f"{prefix}m{root[1:]}", f"m{root[1:]}"]
    if first in "bfv":
        return [f"{prefix}m{root}"]
    if first == "t":
        return [f"{prefix}n{root[1:]}", f"n{root[1:]}"]
    if first in "dcjz":
        return [f"{prefix}n{root}"]
    if first == "s":
        return [f"{prefix}ny{root[1:]}", f"ny{root[1:]}"]
    return [f"{prefix}{root}"]  # l, m, n, r, w, y


def inflections(root: str) -> list[str]:
    """The affixed forms of an Indonesian root that reports use: meN-, di-, ter-, ber-,
    diper-, memper-, peN-...-an, per-...-an, ke-...-an, -an, -kan, -i, -nya, and Jakarta's
    -in. Not every form is a word; those that are not match nothing. Generated
    once, when the rules compile, so matching them costs nothing more than the root."""
    if len(root) < 3 or not root.isalpha():
        return [root]
    active = _nasal(root, "me")
    stems = [root, f"di{root}", f"ter{root}", *active]
    forms = [*stems, f"ber{root}", f"{root}an", f"per{root}an", f"ke{root}an"]
    forms += [f"diper{root}", f"memper{root}", f"diper{root}kan", f"memper{root}kan"]
    forms += [f"{n}an" for n in _nasal(root, "pe")[:1]]
    for stem in stems:
        forms += [f"{stem}kan", f"{stem}i", f"{stem}in", f"{stem}nya"]
    forms += [f"{root}annya", f"di{root}kannya"]
    return list(dict.fromkeys(forms))


class WordCondition:
    """'Any of these words or phrases', as keys to look for in normalized text."""

    def __init__(self, words: list[str], spelling: Spelling) -> None:
        self.source = list(words)
        self.keys: dict[str, str] = {}  # key -> the rule word it spells
        for word in words:
            for phrase in _forms(word):
                for spelled in spelling.expand(phrase):
                    if spelled:
                        self.keys.setdefault(key_of(spelled), word)

    @property
    def empty(self) -> bool:
        return not self.keys

    def matches(self, text: ReportText) -> str | None:
        """The text's spelling of the first rule word found, or None."""
        for key in self.keys:
            if key in text.normalized:
                return key.strip()
        return None


def _forms(word: str) -> list[tuple[str, ...]]:
    """A rule word's phrases: itself, or with "~" every inflection of its first word."""
    if not word.startswith(INFLECTED):
        return [words_of(word)]
    phrase = words_of(word[len(INFLECTED) :])
    if not phrase:
        return []
    return [(form, *phrase[1:]) for form in inflections(phrase[0])]
