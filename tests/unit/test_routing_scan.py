"""The native candidate scan (Rust) and the Python one agree, key by key and decision by
decision, on any text: informal spellings, punctuation, capitals, non-Latin letters and
broken UTF-16 included."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.routing import Router, default_rules_dir, load_directory, load_rules
from hub.routing.scan import CandidateScan, KeyFinder, NativeScan, PythonScan
from hub.samples import sample_report

pytestmark = pytest.mark.skipif(
    CandidateScan is None, reason="lapor-textmatch is not built (no cargo where installed)"
)

KEYS = {  # key -> (rules it satisfies, rules it vetoes), over 70 rules
    " jalan rusak ": (0b1011, 0),
    " jalan ": (1 << 64, 0),
    " rusak ": (1 << 65, 1 << 2),
    " sampah ": (0b10000, 0),
    " gak ": (1 << 5, 0),
    " tidak ": (1 << 5, 0),
    " pungli ": (0, 1 << 66 | 1),
    " air bersih ": (1 << 69, 0),
}
RULES = 70
NO_WORDS = 1 << 67 | 1 << 68
TEXTY = (1 << RULES) - 1 & ~NO_WORDS


def both() -> tuple[NativeScan, PythonScan]:
    return (NativeScan(KEYS, RULES, NO_WORDS, TEXTY), PythonScan(KEYS, RULES, NO_WORDS, TEXTY))


WORDS = st.sampled_from(
    ["Jalan", "RUSAK", "jalan-rusak", "sampah!", "gak", "Tidak", "pungli", "air", "bersih",
     "ÄIR", "jalán", "\u00a0", "\n", "...", "🙏", "jalan\ud800rusak", "kota", " "]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    title=st.lists(WORDS, max_size=6).map(" ".join),
    body=st.lists(st.one_of(WORDS, st.text(max_size=8)), max_size=30).map("".join),
    fields=st.integers(min_value=0, max_value=(1 << RULES) - 1),
    region=st.integers(min_value=0, max_value=(1 << RULES) - 1),
)
def test_the_native_scan_finds_what_the_python_scan_finds(title, body, fields, region):
    native, python = both()
    found = native.candidates(title, body, native.prepare_sparse(region), native.prepare(fields))
    assert found == python.candidates(
        title, body, python.prepare_sparse(region), python.prepare(fields)
    )


PLACES = ["jalan", "kota", "air bersih", "jalán", "ä", "rusak"]


@settings(max_examples=400, deadline=None)
@given(text=st.lists(st.one_of(WORDS, st.text(max_size=8)), max_size=30).map("".join))
def test_the_native_place_finder_finds_what_the_python_one_finds(text):
    """The same hits at the same character offsets of the same normalized text, however
    many bytes the characters before a hit take."""
    native, python = KeyFinder(PLACES), KeyFinder(PLACES, native=False)
    normalized, hits = native.find(text)
    assert (normalized, hits) == python.find(text)
    for key, start in hits:
        assert normalized[start - 1 : start + len(key) + 1] == f" {key} "


def test_a_key_is_a_whole_word_and_a_veto_wins():
    native, _ = both()
    anywhere, every = native.prepare_sparse((1 << RULES) - 1), native.prepare((1 << RULES) - 1)
    assert native.candidates("JALAN RUSAK.", "", anywhere, every) == [0, 1, 3, 64, 65, 67, 68]
    assert native.candidates("jalanrusak", "", anywhere, every) == [67, 68]  # not whole words
    assert native.candidates("jalan rusak", "ada pungli", anywhere, every) == [
        1, 3, 64, 65, 67, 68
    ]  # fmt: skip
    only = native.prepare(1 << 68)
    assert native.candidates("", "", anywhere, only) == [68]  # no text needed
    assert native.candidates("sampah", "", native.prepare_sparse(0b10000), only) == []  # both


def test_routers_with_either_scan_decide_alike():
    directory = load_directory(default_rules_dir() / "directory")
    loaded = load_rules(default_rules_dir())
    fast = Router(loaded, directory)
    slow = Router(loaded, directory, scan=PythonScan)
    assert isinstance(fast.scan, NativeScan)
    regions = [a.region for a in directory.agencies.values() if a.region]
    rng = random.Random(5)
    for _ in range(1500):
        report = sample_report(rng)
        report["location"] = {**report["location"], "region_code": rng.choice(regions)}
        a, b = fast.decide(report), slow.decide(report)
        assert (a.handlers, a.copies, a.matched_rules, a.reason) == (
            b.handlers,
            b.copies,
            b.matched_rules,
            b.reason,
        )
