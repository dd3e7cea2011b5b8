"""Table-driven routing cases: a report in a few lines and what must happen to it.

cases:
  - name: jalan berlubang di Surabaya, alamat saja
    text: Jalan berlubang di depan SDN Gubeng 1, sudah dua bulan
    address: Kel. Gubeng, Kec. Gubeng, Surabaya
    expect: {to: [pemkot-surabaya], region: "35.78"}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hub.errors import RulesError
from hub.routing.directory import StrList
from hub.routing.engine import Decision, Router
from hub.yamlfile import load_yaml, validate


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: StrList
    copy_to: StrList | None = Field(default=None, alias="copy")
    rules: StrList | None = None
    region: str | None = None
    reason: str | None = None
    priority: str | None = None
    escalated: bool | None = None


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str = "pengaduan"
    title: str = ""
    text: str
    category: str | None = None
    region: str | None = None
    address: str | None = None
    channel: str = "WEB"
    anonymous: bool = False
    confidential: bool = False
    excluded: StrList = []
    expect: Expect

    def report(self) -> dict[str, Any]:
        return {
            "hub_id": self.name,
            "kind": self.kind.upper().replace(" ", "_"),
            "title": self.title,
            "body": self.text,
            "category": self.category,
            "source": {"channel": self.channel.upper()},
            "location": {"region_code": self.region, "address": self.address},
            "reporter": {"anonymous": self.anonymous, "confidential": self.confidential},
        }


class CasesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cases: list[Case]


@dataclass
class CaseResult:
    case: Case
    where: str
    decision: Decision
    mismatches: list[str]

    @property
    def passed(self) -> bool:
        return not self.mismatches


def load_cases(folder: Path) -> list[tuple[Case, str]]:
    found: list[tuple[Case, str]] = []
    errors: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        document = load_yaml(path)
        parsed, problems = validate(document, CasesFile)
        errors += problems
        if parsed is not None:
            found += [(c, document.where(("cases", i))) for i, c in enumerate(parsed.cases)]
    if errors:
        raise RulesError("The routing cases have errors:\n  " + "\n  ".join(errors))
    return found


def run_case(router: Router, case: Case, where: str) -> CaseResult:
    decision = router.decide(case.report(), excluded=case.excluded, transfers=len(case.excluded))
    expect, wrong = case.expect, []
    if not decision.destinations:
        wrong.append("no destination at all (no wrong door is broken)")
    if sorted(decision.handlers) != sorted(expect.to):
        wrong.append(f"to: expected {expect.to}, got {decision.handlers}")
    if expect.copy_to is not None and sorted(decision.copies) != sorted(expect.copy_to):
        wrong.append(f"copy: expected {expect.copy_to}, got {decision.copies}")
    if expect.rules is not None and decision.matched_rules != expect.rules:
        wrong.append(f"rules: expected {expect.rules}, got {decision.matched_rules}")
    if expect.region is not None:
        got = decision.location.region_code or ""
        if not (got == expect.region or got.startswith(expect.region + ".")):
            wrong.append(f"region: expected {expect.region}, got {got or '(none)'}")
    if expect.reason is not None and expect.reason not in decision.reason:
        wrong.append(f"reason: expected {expect.reason!r} in {decision.reason!r}")
    if expect.priority is not None:
        got_priority = decision.priority.value if decision.priority else None
        if got_priority != expect.priority:
            wrong.append(f"priority: expected {expect.priority}, got {got_priority}")
    if expect.escalated is not None and decision.escalated != expect.escalated:
        wrong.append(f"escalated: expected {expect.escalated}, got {decision.escalated}")
    return CaseResult(case, where, decision, wrong)


def run_cases(router: Router, folder: Path) -> list[CaseResult]:
    return [run_case(router, case, where) for case, where in load_cases(folder)]
