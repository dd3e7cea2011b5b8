"""Who owns a government affair, as data: the division of concurrent affairs in the annex of
UU 23/2014 (which sub-affairs belong to the centre, the province, the kabupaten/kota).

``routing_rules/authority.yaml`` holds, per category, the level that owns it by default, the
agency that owns it at the centre, and ownership cues: words by which a report says who owns
the thing it is about ("jalan provinsi", "RSUD milik Pemprov", "SMA", "RSUP"). A rule that
names an affair (``urusan: infrastruktur.jalan``) instead of a route is expanded, where it
stands, into:

1. one rule per level with cues: the report names the owner, so that owner handles it;
2. the rule itself, routed to the default owner of the report's place (``pemda`` for the
   kabupaten/kota, ``pemda_provinsi`` for the province, the centre's agency for the centre);
3. for a regional affair, the same words without a place go to the centre's agency, or,
   where only a local government can act (`unlocated: triage`: a street lamp, rubbish, an
   angkot), nowhere: the report reaches the national administrator, who asks where.

So a rule says what a report is about, and the table says who owns it: a change of the law
is one line in the table, not an edit of every rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from hub.errors import RulesError
from hub.routing.directory import StrList
from hub.yamlfile import load_yaml, validate

Level = Literal["pusat", "provinsi", "kabupaten_kota"]
LEVELS: tuple[Level, ...] = ("pusat", "provinsi", "kabupaten_kota")
ROUTE_OF_LEVEL = {"provinsi": "pemda_provinsi", "kabupaten_kota": "pemda"}
UNLOCATED = ".tanpa-lokasi"  # the suffix of the rule for reports without a place
AFTER_REGIONS = ".setelah-daerah"  # a located report its regional governments refused


class Affair(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    owner: Level  # who owns it when the report does not say
    centre: str  # the agency that owns it at the centre (and takes it without a place)
    cues: dict[Level, StrList] = {}
    basis: str  # the law or regulation that divides it
    # a report without a place: to the centre's agency, or to triage by the national
    # administrator where only the local government can act (a street lamp, a market)
    unlocated: Literal["centre", "triage"] = "centre"


class AuthorityFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    affairs: dict[str, Affair]


def load_authority(folder: Path) -> AuthorityFile:
    path = folder / "authority.yaml"
    if not path.exists():
        return AuthorityFile(source="(none)", affairs={})
    parsed, problems = validate(load_yaml(path), AuthorityFile)
    if parsed is None or problems:
        raise RulesError(
            "The authority table has errors:\n  " + "\n  ".join(problems),
            fix=f"fix {path}.",
        )
    return parsed


def routes_of(affair: Affair) -> list[tuple[str, StrList | None, list[str]]]:
    """(id suffix, the cue words or None for the rule's own words, route) in rule order."""
    expanded: list[tuple[str, StrList | None, list[str]]] = []
    for level in LEVELS:
        cues = affair.cues.get(level)
        if cues:
            route = [affair.centre] if level == "pusat" else [ROUTE_OF_LEVEL[level]]
            expanded.append((f".disebut-{level.replace('_', '-')}", cues, route))
    if affair.owner == "pusat":
        expanded.append(("", None, [affair.centre]))
    else:
        expanded.append(("", None, [ROUTE_OF_LEVEL[affair.owner]]))
        if affair.unlocated == "centre":
            expanded.append((UNLOCATED, None, [affair.centre]))
        else:  # the place is known but its governments said "not our authority"
            expanded.append((AFTER_REGIONS, None, [affair.centre]))
    return expanded
