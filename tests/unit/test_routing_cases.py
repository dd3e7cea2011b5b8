"""The routing cases in routing_rules/tests/, and the index agreeing with rule-by-rule checks."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.routing import Router, build_router, default_rules_dir, run_cases
from hub.routing.cases import load_cases
from hub.routing.engine import Explanation

ROUTER = build_router(default_rules_dir())


def test_every_case_routes_as_expected() -> None:
    results = run_cases(ROUTER, default_rules_dir() / "tests")
    failures = [
        f"{r.where}: {r.case.name}: {'; '.join(r.mismatches)}" for r in results if not r.passed
    ]
    assert not failures, "\n".join(failures)
    assert all(r.decision.destinations for r in results), "every report gets a destination"


def test_the_cases_cover_what_the_issue_asks() -> None:
    cases = [case for case, _ in load_cases(default_rules_dir() / "tests")]
    assert len(cases) >= 200
    kinds = Counter(case.kind for case in cases)
    assert {"pengaduan", "aspirasi", "permintaan informasi"} <= set(kinds)
    regions = {case.region.split(".")[0] for case in cases if case.region}
    assert len(regions) >= 25, "cases from many provinces"
    assert sum(1 for c in cases if c.address and not c.region) >= 25, "address-only cases"
    assert sum(1 for c in cases if c.channel == "sms") >= 10, "informal SMS language"
    categories = {case.expect.rules[0] for case in cases if case.expect.rules}
    assert len(categories) >= 30, "many different rules are exercised"


def first_match_by_hand(explanation: Explanation, excluded: list[str]) -> list[str]:
    """What rule order says, evaluating each rule on its own: the reference for the index."""
    location = explanation.decision.location
    unsure = location.region_code is None and location.ambiguous
    for verdict in explanation.verdicts:
        if unsure and verdict.rule.rule.unlocated:
            continue  # a rule for unknown places; an ambiguous one goes to triage
        if verdict.matched and verdict.rule.rule.route:
            targets = [t for t in verdict.targets if t not in excluded]
            if targets:
                return targets
    return [ROUTER.directory.fallback]


def test_the_index_agrees_with_rule_by_rule_evaluation_on_every_case() -> None:
    for case, where in load_cases(default_rules_dir() / "tests"):
        if case.excluded:
            continue  # escalation is not a rule-order matter
        explanation = ROUTER.explain(case.report())
        assert explanation.decision.handlers == first_match_by_hand(explanation, []), where


VOCABULARY = sorted({w for p in ROUTER.rules for w in (p.rule.when.words or [])})
REGIONS = ["35.78", "32.01", "32.73.19", "12.71", "64.08", "31.74", "52", "91.71", None]


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(st.sampled_from(VOCABULARY), max_size=4),
    filler=st.sampled_from(["", "tolong", "Mohon segera, sudah lama!", "gak ada kabar."]),
    kind=st.sampled_from(["COMPLAINT", "ASPIRATION", "INFORMATION_REQUEST", "WHISTLEBLOWING"]),
    region=st.sampled_from(REGIONS),
    punctuation=st.sampled_from([" ", ", ", ". ", "! ", " (", "\n"]),
    upper=st.booleans(),
)
def test_the_index_agrees_on_generated_reports(words, filler, kind, region, punctuation, upper):
    body = punctuation.join([filler, *words])
    report = {
        "kind": kind,
        "title": "",
        "body": body.upper() if upper else body,
        "source": {"channel": "WEB"},
        "location": {"region_code": region},
        "reporter": {},
    }
    explanation = ROUTER.explain(report)
    assert explanation.decision.handlers == first_match_by_hand(explanation, [])
    by_hand = [v.rule.rule.id for v in explanation.verdicts if v.matched and not v.rule.rule.route]
    assert [r for r in explanation.decision.matched_rules if r in by_hand] == by_hand


@pytest.mark.parametrize("seed", range(3))
def test_decisions_are_deterministic(seed: int) -> None:
    from hub.samples import sample_report

    rng = random.Random(seed)
    reports = [sample_report(rng) for _ in range(50)]
    first = [Router.decide(ROUTER, r).handlers for r in reports]
    assert first == [ROUTER.decide(r).handlers for r in reports]
