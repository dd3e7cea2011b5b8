"""A report's text is normalized once and read by the candidate scan and the place check
(hub.routing.scan): the native normalization and finder agree with the Python ones, a level
word is a place check hit only before a name of its level, and the router remembers an
outcome by the candidates it depends on."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.routing import Router, default_rules_dir, load_directory, load_rules
from hub.routing.scan import (
    _NORMALIZER,
    KeyFinder,
    NativeScan,
    PythonScan,
    normalized,
    python_normalized,
)
from hub.routing.text import normalize, plain
from hub.samples import sample_report

pytestmark = pytest.mark.skipif(
    _NORMALIZER is None, reason="lapor-textmatch is not built (no cargo where installed)"
)

WORDS = st.sampled_from(
    ["Jalan", "RUSAK", "jalan-rusak", "sampah!", "gak", "Tidak", "pungli", "air", "bersih",
     "ÄIR", "jalán", "\u00a0", "\n", "...", "🙏", "jalan\ud800rusak", "kota", " "]
)  # fmt: skip
PLACES = ["jalan", "kota", "air bersih", "jalán", "ä", "rusak"]
TEXTS = st.lists(
    st.one_of(
        WORDS,
        st.sampled_from(["kelurahan", "Kec.", "gubeng", "Air", "\x1c", "\x85", "x" * 70, "é"]),
        st.text(max_size=8),
    ),
    max_size=30,
).map(" ".join)


@settings(max_examples=400, deadline=None)
@given(text=TEXTS)
def test_the_native_normalization_is_the_python_one(text):
    raw = plain(text).encode("utf-8", "replace")
    assert _NORMALIZER(raw) == python_normalized(raw)
    assert normalized(text).decode() == normalize(text) or not normalize(text).strip()


FOLLOWED = [(["kelurahan", "kec"], ["gubeng", "air bersih", "jalan rusak kota"])]
KEYS = {  # key -> (rules it satisfies, rules it vetoes), over 70 rules
    " jalan rusak ": (0b1011, 0),
    " jalan ": (1 << 64, 0),
    " rusak ": (1 << 65, 1 << 2),
    " kota ": (0b10000, 0),
    " pungli ": (0, 1 << 66 | 1),
    " air bersih ": (1 << 69, 0),
}
RULES, NO_WORDS = 70, 1 << 67 | 1 << 68
TEXTY = (1 << RULES) - 1 & ~NO_WORDS


@settings(max_examples=400, deadline=None)
@given(text=TEXTS)
def test_a_level_word_is_found_with_the_name_after_it_alike(text):
    """The native finder reads the words after a level word as the Python one does: the
    same characters, the same separators, the longest name."""
    keys = [*PLACES, "kelurahan", "kec"]
    native = KeyFinder(keys, followed=FOLLOWED)
    python = KeyFinder(keys, native=False, followed=FOLLOWED)
    assert native.find_in(normalized(text)) == python.find_in(normalized(text))


@settings(max_examples=300, deadline=None)
@given(
    text=TEXTS,
    fields=st.integers(min_value=0, max_value=(1 << RULES) - 1),
    region=st.integers(min_value=0, max_value=(1 << RULES) - 1),
)
def test_one_pass_finds_what_the_two_passes_find(text, fields, region):
    """A scan reading the place keys in its own pass (rule keys and place keys may be the
    same words) gives the candidates and the places the separate passes give."""
    keys = [*PLACES, "kelurahan", "kec"]
    for places in (KeyFinder(keys, followed=FOLLOWED), KeyFinder(keys, False, FOLLOWED)):
        for scan in (
            NativeScan(KEYS, RULES, NO_WORDS, TEXTY, places),
            PythonScan(KEYS, RULES, NO_WORDS, TEXTY, places),
        ):
            mine, every = scan.prepare_sparse(region), scan.prepare(fields)
            reading, found = scan.read(normalized(text))
            assert found == places.find_in(normalized(text))
            assert scan.candidates_of(reading, mine, every) == scan.candidates(
                text, "", mine, every
            )


def test_a_level_word_counts_only_before_a_name_of_its_level():
    finder = KeyFinder(["kelurahan", "kec", "kota"], followed=FOLLOWED)
    assert finder.find_in(normalized("pegawai kelurahan tidak ramah")) == ("", [])
    shown, hits = finder.find_in(normalized("Kelurahan Air Bersih, Kota X; kec. gubeng"))
    assert hits == [("kelurahan", 1, "air bersih"), ("kota", 22, None), ("kec", 29, "gubeng")]
    assert shown == " kelurahan air bersih kota x kec gubeng "
    far = normalized("kelurahan " + "a" * 75 + " gubeng")  # past the 80 characters read
    assert finder.find_in(far) == ("", [])


def test_an_outcome_depends_on_the_candidates_up_to_a_sure_handler():
    """A first decision is remembered by the candidates up to the first that surely names
    a handler in the region (and the later ones without a route): its outcome is the one
    of all the candidates, for reports with a code, an address only, or no place."""
    directory = load_directory(default_rules_dir() / "directory")
    router = Router(load_rules(default_rules_dir()), directory)
    regions = [a.region for a in directory.agencies.values() if a.region]
    rng = random.Random(11)
    trimmed = 0
    for n in range(1500):
        report = sample_report(rng)
        if n % 3 == 0:
            report["location"] = {**report["location"], "region_code": rng.choice(regions)}
        elif n % 3 == 1:
            report["location"] = {"address": report["location"].get("address")}
        else:
            report["location"] = {}
        title, body = report["title"], report["body"]
        reading, places = router.scan.read(normalized(f"{title}\n{body}"))
        location = router.locations.resolve(report["location"], title, body, places)
        candidates = router._candidates(report, location.region_code, reading)
        deciding = router._deciding(candidates, location.region_code)
        trimmed += deciding != candidates
        assert router._outcome(deciding, location, [], 0) == router._outcome(
            candidates, location, [], 0
        )
    assert trimmed > 100
