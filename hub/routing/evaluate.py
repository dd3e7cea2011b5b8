"""How often the router picks the right agency, measured on an evaluation corpus.

The corpus (``routing_eval/corpus/*.yaml``, next to ``routing_rules/``) holds reports as
citizens write them, each with the agency that must handle it under the law and why:

    reports:
      - id: jalan-provinsi-001
        kind: pengaduan                # pengaduan | aspirasi | permintaan informasi | COMPLAINT...
        channel: SMS                   # a hub channel (MOBILE for MOBILE_APP)
        title: ""
        text: "jln provinsi di ruas Pacitan-Ponorogo ambles"
        region: null                   # any level, dotted or not, possibly wrong on purpose
        address: null
        expect: {to: pemprov-jawa-timur, copy: [], level: province, why: "UU 23/2014 ..."}

Unlike the rules' own cases (``routing_rules/tests/``, which must all pass), the corpus
measures: a report is decided as the hub would decide it (the report dict is built by
``Case.report``, the same as for the cases) and scored.

- Correct: the decided handlers are the expected ``to`` set. A decided agency also counts as
  an expected one that is among its parents (``Directory.parents``): a unit stands for its
  agency (polda-jawa-timur for polri, a land office for atr-bpn). Two parent links are not
  units: a regional government's parents are the escalation chain of regional autonomy (a
  kabupaten is not a unit of its province, nor of Kemendagri), and no agency stands for the
  fallback.
- Otherwise the report went to the fallback (the national administrator) though a handler
  existed, or to a wrong agency: correct_pct + fallback_pct + wrong_agency_pct is 100, less
  the reports naming an agency the directory does not have.
- Copies are scored apart: every expected copy is made, and no copy to the Ombudsman or the
  KPK is made that the report does not expect.
- Levels: an agency's level is its kind in the directory (a kabupaten or kota ->
  kabupaten_kota, province, ministry, institution; the fallback agency -> fallback); a unit
  has its own kind.

An agency id in the corpus that the directory lacks (the directory may lag behind the
corpus) is listed as a corpus error; its reports are decided and counted as misses with the
reason "unknown agency id". An invalid corpus (YAML, a missing or unknown key) raises
RulesError listing every problem with file and line.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from hub.errors import RulesError
from hub.routing.cases import Case
from hub.routing.decision import Decision
from hub.routing.directory import AgencyKind, Directory, StrList
from hub.routing.engine import Router
from hub.vocabulary import CHANNELS, KIND_NAMES
from hub.yamlfile import load_yaml, validate

Level = Literal["kabupaten_kota", "province", "ministry", "institution", "fallback"]
LEVELS: tuple[str, ...] = ("kabupaten_kota", "province", "ministry", "institution", "fallback")
UNKNOWN_LEVEL = "unknown"  # a decided agency the directory does not have
_LEVEL_OF_KIND = {
    AgencyKind.REGENCY: "kabupaten_kota",
    AgencyKind.CITY: "kabupaten_kota",
    AgencyKind.PROVINCE: "province",
    AgencyKind.MINISTRY: "ministry",
    AgencyKind.INSTITUTION: "institution",
    AgencyKind.NATIONAL: "fallback",
}
_REGIONAL = frozenset({AgencyKind.PROVINCE, AgencyKind.REGENCY, AgencyKind.CITY})
WATCHED_COPIES = frozenset({"ombudsman-ri", "kpk"})  # a copy to them must be expected
UNKNOWN_AGENCY = "unknown agency id"
_CHANNEL_ALIASES = {"MOBILE": "MOBILE_APP"}  # what the corpus may call a hub channel


def default_corpus_dir() -> Path:
    """``routing_eval/corpus/`` of a source checkout, next to ``routing_rules/`` (a wheel
    ships no corpus: pass the folder)."""
    return Path(__file__).resolve().parents[2] / "routing_eval" / "corpus"


def _region_text(value: Any) -> Any:
    """A region code YAML read as a number: an integer is the code it spells (``3578``); a
    float has lost its digits (``35.10`` reads as 35.1) and is refused."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise ValueError(f"YAML read {value!r} as a number: quote the region code")
    return value


class Expected(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: Annotated[StrList, Field(min_length=1)]
    copy_to: StrList = Field(default=[], alias="copy")
    level: Level
    why: str = ""


class CorpusReport(Case):
    """One report of the corpus: a routing case (``Case.report`` builds what the router
    takes) named by ``id``, expecting agencies and a level rather than exact rules."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(alias="id", min_length=1)
    region: Annotated[str | None, BeforeValidator(_region_text)] = None
    expect: Expected  # type: ignore[assignment]

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, kind: str) -> str:
        if kind.upper().replace(" ", "_") not in KIND_NAMES:
            known = ", ".join(sorted(k.lower().replace("_", " ") for k in KIND_NAMES))
            raise ValueError(f"unknown kind {kind!r}; one of {known}")
        return kind

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, channel: str) -> str:
        canonical = channel.upper().replace(" ", "_")
        canonical = _CHANNEL_ALIASES.get(canonical, canonical)
        if canonical not in CHANNELS:
            known = sorted({*CHANNELS, *_CHANNEL_ALIASES})
            raise ValueError(f"unknown channel {channel!r}; one of {known}")
        return canonical


class CorpusFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reports: list[CorpusReport]


def load_corpus(folder: Path) -> list[tuple[CorpusReport, str]]:
    """Every report of the corpus with its file:line, in file-name order; none if the
    folder does not exist (yet). RulesError lists every problem of every file."""
    if not folder.is_dir():
        return []
    found: list[tuple[CorpusReport, str]] = []
    errors: list[str] = []
    first_seen: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            document = load_yaml(path)
        except RulesError as exc:
            errors.append(exc.message)
            continue
        if document.data is None:  # an empty file: no reports yet
            continue
        parsed, problems = validate(document, CorpusFile)
        errors += problems
        for index, report in enumerate(parsed.reports if parsed else []):
            where = document.where(("reports", index))
            if report.name in first_seen:
                errors.append(
                    f"{where}: id {report.name!r} is used before, at {first_seen[report.name]}"
                )
                continue
            first_seen[report.name] = where
            found.append((report, where))
    if errors:
        raise RulesError(
            "The routing evaluation corpus has errors:\n  " + "\n  ".join(errors),
            fix="fix the places named above.",
        )
    return found


def level_of(directory: Directory, agency: str) -> str:
    """kabupaten_kota, province, ministry, institution or fallback (see the module's doc)."""
    if agency == directory.fallback:
        return "fallback"
    if agency not in directory:
        return UNKNOWN_LEVEL
    return _LEVEL_OF_KIND[directory.get(agency).kind]


def counts_as(directory: Directory, decided: str, expected: set[str]) -> str:
    """The expected agency ``decided`` stands for (it, or the one it is a unit of), else
    ``decided`` itself."""
    if decided in expected or decided not in directory:
        return decided
    if directory.get(decided).kind in _REGIONAL:
        return decided
    for parent in directory.parents(decided):
        if parent == directory.fallback:
            break
        if parent in expected:
            return parent
    return decided


@dataclass
class Scored:
    """One corpus report, its decision and its verdict."""

    report: CorpusReport
    where: str
    decision: Decision
    verdict: str  # correct, fallback, wrong_agency or unknown_agency
    decided_level: str
    copies_correct: bool
    unknown: list[str] = field(default_factory=list)  # its agency ids not in the directory

    @property
    def correct(self) -> bool:
        return self.verdict == "correct"

    @property
    def reason(self) -> str:
        if self.unknown:
            return f"{UNKNOWN_AGENCY}: {', '.join(self.unknown)}"
        return self.decision.reason

    def to_json(self) -> dict[str, Any]:
        expect = self.report.expect
        return {
            "id": self.report.name,
            "where": self.where,
            "verdict": self.verdict,
            "expected": {"to": expect.to, "copy": expect.copy_to, "level": expect.level},
            "decided": {
                "to": self.decision.handlers,
                "copy": self.decision.copies,
                "level": self.decided_level,
                "rules": self.decision.matched_rules,
            },
            "copies_correct": self.copies_correct,
            "reason": self.reason,
            "location": self.decision.location.note,
            "why": expect.why,
        }


def score(router: Router, report: CorpusReport, where: str) -> Scored:
    directory = router.directory
    decision = router.decide(
        report.report(), excluded=report.excluded, transfers=len(report.excluded)
    )
    expect = report.expect
    unknown = [a for a in dict.fromkeys([*expect.to, *expect.copy_to]) if a not in directory]
    handlers = decision.handlers
    decided_level = level_of(directory, handlers[0]) if handlers else UNKNOWN_LEVEL
    wanted = set(expect.to)
    stands_for = {counts_as(directory, agency, wanted) for agency in handlers}
    if set(expect.to) & set(unknown):
        verdict = "unknown_agency"
    elif stands_for == wanted:
        verdict = "correct"
    elif handlers == [directory.fallback]:
        verdict = "fallback"
    else:
        verdict = "wrong_agency"
    wanted_copies = set(expect.copy_to)
    copies = {
        counts_as(directory, agency, wanted_copies | WATCHED_COPIES) for agency in decision.copies
    }
    copies_correct = (
        not set(expect.copy_to) & set(unknown)
        and wanted_copies <= copies
        and not (copies & WATCHED_COPIES) - wanted_copies
    )
    return Scored(report, where, decision, verdict, decided_level, copies_correct, unknown)


def _pct(part: int, whole: int) -> float:
    return round(100 * part / whole, 1) if whole else 0.0


@dataclass
class Evaluation:
    """The corpus scored with one rule set."""

    corpus: Path
    rules_version: str
    scored: list[Scored]

    @property
    def misses(self) -> list[Scored]:
        return [s for s in self.scored if not s.correct]

    @property
    def corpus_errors(self) -> list[str]:
        """Agency ids of the corpus the directory does not have, with the reports naming
        each."""
        named: dict[str, list[str]] = {}
        for s in self.scored:
            for agency in s.unknown:
                named.setdefault(agency, []).append(s.where)
        return [
            f"agency id {agency!r} is not in the directory (named in {', '.join(places)})"
            for agency, places in sorted(named.items())
        ]

    def summary(self) -> dict[str, Any]:
        cases = len(self.scored)
        verdicts = Counter(s.verdict for s in self.scored)
        by_level: dict[str, dict[str, Any]] = {}
        for level in LEVELS:
            of_level = [s for s in self.scored if s.report.expect.level == level]
            right = sum(s.correct for s in of_level)
            by_level[level] = {
                "cases": len(of_level),
                "correct": right,
                "correct_pct": _pct(right, len(of_level)),
            }
        return {
            "cases": cases,
            "correct": verdicts["correct"],
            "correct_pct": _pct(verdicts["correct"], cases),
            "fallback_pct": _pct(verdicts["fallback"], cases),
            "wrong_agency_pct": _pct(verdicts["wrong_agency"], cases),
            "unknown_agency": verdicts["unknown_agency"],
            "copies_correct_pct": _pct(sum(s.copies_correct for s in self.scored), cases),
            "by_level": by_level,
        }

    def confusion(self) -> dict[str, dict[str, int]]:
        """expected level -> decided level -> reports."""
        table: dict[str, dict[str, int]] = {level: {} for level in LEVELS}
        for s in self.scored:
            row = table[s.report.expect.level]
            row[s.decided_level] = row.get(s.decided_level, 0) + 1
        return table

    def decided_levels(self) -> list[str]:
        """The decided levels that occur, in LEVELS order (an unknown agency's last)."""
        seen = {s.decided_level for s in self.scored}
        return [level for level in (*LEVELS, UNKNOWN_LEVEL) if level in seen]

    def to_json(self, misses: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "corpus": str(self.corpus),
            "rules_version": self.rules_version,
            **self.summary(),
            "confusion": self.confusion(),
            "corpus_errors": self.corpus_errors,
        }
        if misses:
            data["misses"] = [s.to_json() for s in self.misses]
        return data


def evaluate(router: Router, corpus: Path) -> Evaluation:
    """Decide every report of the corpus in ``corpus`` with ``router`` and score it."""
    scored = [score(router, report, where) for report, where in load_corpus(corpus)]
    return Evaluation(corpus, router.version, scored)
