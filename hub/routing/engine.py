"""Decide where a report goes, fast however many rules there are.

Rules compile into one bitmask per condition value (bit i = rule i allows it). A report's
candidates are the AND over conditions of (rules that leave the condition open | rules that
allow the report's value): a few dictionary lookups and big-integer operations, not a walk
over every rule; the combination of a report's fields is looked up once and remembered.
Every rule word is a key of one Aho-Corasick scan (hub.routing.scan, in Rust when built)
whose value is the bitmask of rules it satisfies (or vetoes, for unless_words), so the text
is read once however many rules there are; the same pass finds the place names the report's
region code is checked against (hub.routing.gazetteer.find_broad). The lowest candidate bit
is the first rule in order.

``explain`` evaluates every rule one by one instead, with reasons, and must agree with the
index (the tests make sure it does).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from hub.routing.decision import OUTCOMES, UNMATCHED, Decision, Explanation, RuleVerdict
from hub.routing.directory import Directory
from hub.routing.location import LocationResolver, ResolvedLocation
from hub.routing.rules import (
    KINDS,
    RESOLVED_TARGETS,
    LoadedRules,
    PlacedRule,
    Priority,
    addressed_agency_rules,
    named_agency_rules,
)
from hub.routing.scan import NativeScan, PythonScan, ScanFactory, candidate_scan, normalized
from hub.routing.text import ReportText, Spelling, WordCondition, title_and_body

_CANONICAL_KINDS = frozenset(KINDS.values())
MASKS_KEPT = 200_000  # what the router remembers per region, field combination, outcome


@dataclass
class _Features:
    """What rules look at, taken from a report once."""

    kind: str
    category: str | None
    channel: str
    anonymous: bool
    confidential: bool
    location: ResolvedLocation
    text: ReportText

    @classmethod
    def of(cls, report: dict[str, Any], location: ResolvedLocation) -> _Features:
        reporter = report.get("reporter") or {}
        return cls(
            kind=canonical_kind(report.get("kind")),
            category=report.get("category"),
            channel=(report.get("source") or {}).get("channel", "OTHER"),
            anonymous=bool(reporter.get("anonymous")),
            confidential=bool(reporter.get("confidential")),
            location=location,
            text=ReportText(title_and_body(report.get("title") or "", report.get("body") or "")),
        )


def canonical_kind(kind: Any) -> str:
    """COMPLAINT, ASPIRATION or INFORMATION_REQUEST; a rule or app may say pengaduan."""
    if kind in _CANONICAL_KINDS:
        return kind
    return KINDS.get(str(kind or "UNKNOWN").upper(), "UNKNOWN")


def _prefixes(code: str | None) -> list[str]:
    if not code:
        return []
    parts = code.split(".")
    return [".".join(parts[:n]) for n in range(1, len(parts) + 1)]


class _RuleFacts(NamedTuple):
    """What deciding needs of a rule, read once."""

    id: str
    route: tuple[str, ...]
    copy_to: tuple[str, ...]
    priority: Priority | None
    sla: int | None
    reason: str
    unlocated: bool  # only for a report whose place is unknown, not ambiguous

    @classmethod
    def of(cls, placed: PlacedRule) -> _RuleFacts:
        rule = placed.rule
        reason = f"{rule.id}: {rule.description or 'matched'}"
        return cls(
            rule.id,
            tuple(rule.route),
            tuple(rule.copy_to),
            rule.priority,
            rule.sla_working_days,
            reason,
            rule.unlocated,
        )


def _keep(memory: dict, key: Any, value: Any) -> Any:
    """Remember ``value`` under ``key`` unless MASKS_KEPT are kept already, so a stream of
    ever-new keys cannot grow the process without bound. (Plain dicts read with .get: a
    dict subclass with __missing__ measured ~3% slower on the hot path.)"""
    if len(memory) < MASKS_KEPT:
        memory[key] = value
    return value


class _Dimension:
    """One condition's index: rules leaving it open, and rules allowing each value."""

    def __init__(self) -> None:
        self.open = 0
        self.allowing: dict[Any, int] = {}

    def add(self, bit: int, values: Iterable[Any] | None) -> None:
        if values is None:
            self.open |= bit
            return
        for value in values:
            self.allowing[value] = self.allowing.get(value, 0) | bit

    def mask(self, value: Any) -> int:
        return self.open | self.allowing.get(value, 0)


class Router:
    def __init__(
        self, loaded: LoadedRules, directory: Directory, scan: ScanFactory = candidate_scan
    ) -> None:
        self._scan_factory = scan
        self.loaded = loaded
        self.directory = directory
        self.version = loaded.version
        self.max_transfers = loaded.settings.max_transfers
        ordered = [
            *addressed_agency_rules(directory, 0),
            *loaded.rules,
            *named_agency_rules(directory, 0),
        ]
        self.rules = [PlacedRule(n, p.rule, p.path, p.line) for n, p in enumerate(ordered)]
        self.locations = LocationResolver(loaded.aliases)
        spelling = Spelling(loaded.spelling)
        self.words = [
            WordCondition(p.rule.when.words, spelling) if p.rule.when.words else None
            for p in self.rules
        ]
        self.unless = [
            WordCondition(p.rule.when.unless_words, spelling) if p.rule.when.unless_words else None
            for p in self.rules
        ]
        self.counts: Counter[str] = Counter()
        self._compile()

    def _compile(self) -> None:
        self._kind, self._category, self._channel = _Dimension(), _Dimension(), _Dimension()
        self._anonymous, self._confidential, self._region = _Dimension(), _Dimension(), _Dimension()
        self._no_words = 0  # rules without a words condition
        self._texty = 0  # rules that look at the text (words or unless_words)
        keys: dict[str, list[int]] = {}  # key -> [rules it satisfies, rules it vetoes]
        for placed, words, unless in zip(self.rules, self.words, self.unless, strict=True):
            bit, when = 1 << placed.order, placed.rule.when
            self._kind.add(bit, when.kind)
            self._category.add(bit, when.category)
            self._channel.add(bit, when.channel)
            self._anonymous.add(bit, None if when.anonymous is None else [when.anonymous])
            self._confidential.add(bit, None if when.confidential is None else [when.confidential])
            self._region.add(bit, when.region)
            if words is None:
                self._no_words |= bit
            else:
                self._texty |= bit
                for key in words.keys:
                    keys.setdefault(key, [0, 0])[0] |= bit
            if unless is not None:
                self._texty |= bit
                for key in unless.keys:
                    keys.setdefault(key, [0, 0])[1] |= bit
        self._width = len(self.rules)
        self._all = (1 << self._width) - 1
        self._keys: dict[str, list[int]] | None = keys
        self._scan: NativeScan | PythonScan | None = None
        self._building = threading.Lock()
        self._region_masks: dict[str | None, Any] = {}  # region code -> the rules it allows
        self._field_masks: dict[tuple, Any] = {}  # other fields -> the rules they allow
        self._targets: dict[tuple, list[str]] = {}  # (names..., region code) -> agencies
        self._outcomes: dict[tuple, tuple] = {}  # (candidates..., region or None) -> outcome
        self._routes = [bool(p.rule.route) for p in self.rules]
        self._facts = [_RuleFacts.of(p) for p in self.rules]
        self._regional = {  # rules whose targets depend on the report's region (pemda_*,
            p.order  # or an agency with offices in the regions)
            for p in self.rules
            if any(
                t in RESOLVED_TARGETS or self.directory.has_units(t)
                for t in (*p.rule.route, *p.rule.copy_to)
            )
        }
        # what makes a candidate surely name a handler (_firm): an agency id (the agency, or
        # its office in the region) does wherever the report is; a route of pemda_* alone
        # does where the region has that government
        facts = self._facts
        routing = [i for i, f in enumerate(facts) if f.route and not f.unlocated]
        self._sure = frozenset(
            i for i in routing if any(t not in RESOLVED_TARGETS for t in facts[i].route)
        )
        self._by_government: dict[tuple[str, ...], list[int]] = {}
        for i in routing:
            if i not in self._sure:
                self._by_government.setdefault(facts[i].route, []).append(i)
        self._quiet = frozenset(i for i, routes in enumerate(self._routes) if not routes)
        self._firm_by_region: dict[str | None, frozenset[int]] = {}
        self._firm_sets: dict[frozenset, frozenset[int]] = {}  # a few: shared by regions

    @property
    def scan(self) -> NativeScan | PythonScan:
        """The text scan: built at the first decision, as it reads the gazetteer's place
        names in the same pass as the rule words (the gazetteer takes seconds to build
        once per process, and checking rules needs neither)."""
        if self._scan is None:
            with self._building:  # once, whichever thread decides first
                if self._scan is None:
                    places = self.locations.places.broad_finder
                    keys, self._keys = self._keys, None
                    self._scan = self._scan_factory(
                        keys, self._width, self._no_words, self._texty, places
                    )
        return self._scan

    def warm_up(self) -> None:
        """Load what the first decisions would otherwise load lazily (the region data and
        the address parser, ~2 s), so the first reports are not that much slower."""
        for location in ({"region_code": "35.78"}, {"address": "Kel. Gubeng, Surabaya"}):
            self.decide(
                {
                    "hub_id": "warm-up",
                    "kind": "COMPLAINT",
                    "title": "",
                    "body": "jalan rusak",
                    "location": location,
                }
            )
        for outcome, count in self.counts.items():
            OUTCOMES[outcome] -= count  # warm-up decisions are not real ones
        self.counts.clear()

    # -- deciding --------------------------------------------------------------------------

    def decide(
        self,
        report: dict[str, Any],
        excluded: Iterable[str] = (),
        transfers: int = 0,
        now: datetime | None = None,
    ) -> Decision:
        """Where ``report`` goes. ``excluded`` lists agencies that answered "not our
        authority" before; after ``max_transfers`` of those the report escalates."""
        excluded = list(dict.fromkeys(excluded)) if excluded else []
        title, body = report.get("title") or "", report.get("body") or ""
        # one pass over the text: the place names for the place check, the rule words for
        # the candidates once the place is known
        reading, places = self.scan.read(normalized(title_and_body(title, body)))
        location = self.locations.resolve(report.get("location") or {}, title, body, places)
        candidates = self._candidates(report, location.region_code, reading)
        decision = self._decide(report.get("hub_id", ""), candidates, location, excluded, transfers)
        if now is not None:
            decision.decided_at_ms = int(now.timestamp() * 1000)
        outcome = decision.outcome
        self.counts[outcome] += 1
        OUTCOMES[outcome] += 1
        return decision

    def _candidates(
        self, report: dict[str, Any], region_code: str | None, reading: Any
    ) -> list[int]:
        """The rules whose every condition holds for the report (``reading``: what the
        scan read in its title and body), earliest first."""
        scan = self._scan
        region = self._region_masks.get(region_code)
        if region is None:
            region = scan.prepare_sparse(self._region_mask(region_code))
            _keep(self._region_masks, region_code, region)
        reporter = report.get("reporter") or {}
        flags = (
            report.get("kind"),
            report.get("category"),
            (report.get("source") or {}).get("channel"),
            bool(reporter.get("anonymous")),
            bool(reporter.get("confidential")),
        )
        fields = self._field_masks.get(flags)
        if fields is None:
            fields = _keep(self._field_masks, flags, scan.prepare(self._field_mask(*flags)))
        return scan.candidates_of(reading, region, fields)

    def _region_mask(self, code: str | None) -> int:
        """The rules whose region condition the code satisfies (open ones included)."""
        mask = self._region.open
        for prefix in _prefixes(code):
            mask |= self._region.allowing.get(prefix, 0)
        return mask

    def _field_mask(
        self,
        kind: Any,
        category: str | None,
        channel: str | None,
        anonymous: bool,
        confidential: bool,
    ) -> int:
        """The rules whose kind, category, channel and flags conditions hold: each
        combination (a few hundred occur) is computed once."""
        mask = self._all
        for dimension, value in (
            (self._kind, canonical_kind(kind)),
            (self._category, category),
            (self._channel, channel or "OTHER"),
            (self._anonymous, anonymous),
            (self._confidential, confidential),
        ):
            mask &= dimension.mask(value)
        return mask

    def targets(self, names: Sequence[str], location: ResolvedLocation) -> list[str]:
        """Agency ids for a rule's ``route`` or ``copy``, resolving pemda_* from the report."""
        key = (*names, location.region_code)
        found = self._targets.get(key)
        if found is None:
            found = _keep(self._targets, key, self._resolve(names, location.region_code))
        return list(found)

    def _resolve(self, names: Sequence[str], region_code: str | None) -> list[str]:
        found = []
        for name in names:
            if name in RESOLVED_TARGETS:
                level = RESOLVED_TARGETS[name]
                agency = None
                for wanted in (level,) if level else (2, 1):
                    agency = agency or self.directory.regional_government(region_code, wanted)
                if agency is not None:
                    found.append(agency.id)
            else:  # a national agency's own office for the place, where it has one
                unit = self.directory.unit_of(name, region_code)
                found.append(unit.id if unit is not None else name)
        return found

    def _decide(
        self,
        hub_id: str,
        candidates: list[int],
        location: ResolvedLocation,
        excluded: list[str],
        transfers: int,
    ) -> Decision:
        if excluded or transfers:  # re-routing: rare, never remembered
            outcome = self._outcome(candidates, location, excluded, transfers)
        else:  # a first decision depends on the candidates, and on the region only when
            # one of them routes or copies to the report's own regional government
            deciding = self._deciding(candidates, location.region_code)
            regional = not self._regional.isdisjoint(deciding)
            key = (*deciding, location.region_code if regional else None, location.ambiguous)
            outcome = self._outcomes.get(key)
            if outcome is None:
                outcome = _keep(self._outcomes, key, self._outcome(deciding, location, [], 0))
        handlers, copies, matched, priority, sla, reason, fallback, escalated = outcome
        return Decision(  # positional, in field order: a decision is made per report
            hub_id,
            list(handlers),
            list(copies),
            list(matched),
            self.version,
            reason,
            location,
            priority,
            sla,
            fallback,
            escalated,
            excluded,
            time.time_ns() // 1_000_000,
        )

    def _deciding(self, candidates: list[int], region_code: str | None) -> list[int]:
        """What a first decision depends on: the candidates up to the first that surely
        names a handler in the region (it, or one before it, handles), and after it those
        without a route (they add copies, priority or SLA). Far fewer different sets than
        the candidates themselves, so an outcome is worked out once for many reports."""
        firm = self._firm(region_code)
        for n, index in enumerate(candidates):
            if index in firm:
                rest = candidates[n + 1 :]
                if self._quiet.isdisjoint(rest):
                    return candidates[: n + 1]
                return candidates[: n + 1] + [i for i in rest if i in self._quiet]
        return candidates

    def _firm(self, region_code: str | None) -> frozenset[int]:
        """The rules that surely name a handler for a report of this region, when no agency
        is excluded."""
        firm = self._firm_by_region.get(region_code)
        if firm is None:
            governed = frozenset(
                route for route in self._by_government if self._resolve(route, region_code)
            )
            firm = self._firm_sets.get(governed)
            if firm is None:
                firm = self._sure.union(*(self._by_government[route] for route in governed))
                self._firm_sets[governed] = firm
            _keep(self._firm_by_region, region_code, firm)
        return firm

    def _outcome(
        self,
        candidates: list[int],
        location: ResolvedLocation,
        excluded: list[str],
        transfers: int,
    ) -> tuple:
        """(handlers, copies, matched rule ids, priority, SLA, reason, fallback, escalated).
        ``candidates`` are rule indexes in rule order, so no sorting is needed."""
        facts = self._facts
        handler: int | None = None
        handlers: list[str] = []
        unsure = location.region_code is None and location.ambiguous
        triage = False
        for index in candidates:
            route = facts[index].route
            if unsure and facts[index].unlocated:
                triage = True  # the place is not unknown but ambiguous: a person decides
                continue
            if route:
                handlers = [a for a in self.targets(route, location) if a not in excluded]
                if handlers:
                    handler = index
                    break
        routes = self._routes
        contributing = [i for i in candidates if i == handler or not routes[i]]
        copies: list[str] = []
        priority: Priority | None = None
        slas: list[int] = []
        for index in contributing:
            fact = facts[index]
            if fact.copy_to:
                copies += self.targets(fact.copy_to, location)
            if fact.priority and (priority is None or fact.priority.rank > priority.rank):
                priority = fact.priority
            if fact.sla:
                slas.append(fact.sla)
        fallback = escalated = False
        if transfers >= self.max_transfers:
            handlers = [self.directory.fallback]
            escalated = True
            reason = (
                f"escalated: passed on {transfers} times ({', '.join(excluded) or 'unknown'} "
                f"said not their authority); the national administrator designates the handler"
            )
        elif handler is None:
            handlers = [self.directory.fallback]
            fallback = True
            triage = triage or unsure  # no rule without a place: a person asks where
            reason = f"{UNMATCHED}: triage, {location.note}" if triage else UNMATCHED
        else:
            reason = facts[handler].reason
        copies = [c for c in dict.fromkeys(copies) if c not in handlers and c not in excluded]
        return (
            tuple(handlers),
            tuple(copies),
            tuple(facts[i].id for i in contributing),
            priority,
            min(slas) if slas else None,
            reason,
            fallback,
            escalated,
        )

    # -- explaining ------------------------------------------------------------------------

    def explain(
        self, report: dict[str, Any], excluded: Iterable[str] = (), transfers: int = 0
    ) -> Explanation:
        """The decision, and for every rule whether it matched and why (or why not)."""
        decision = self.decide(report, excluded, transfers)
        f = _Features.of(report, decision.location)
        verdicts = [
            self._verdict(p, w, u, f)
            for p, w, u in zip(self.rules, self.words, self.unless, strict=True)
        ]
        return Explanation(decision, verdicts)

    def _verdict(
        self,
        placed: PlacedRule,
        words: WordCondition | None,
        unless: WordCondition | None,
        f: _Features,
    ) -> RuleVerdict:
        when, reasons, matched = placed.rule.when, [], True

        def check(ok: bool, yes: str, no: str) -> None:
            nonlocal matched
            matched &= ok
            reasons.append(yes if ok else no)

        if when.kind is not None:
            check(f.kind in when.kind, f"kind {f.kind}", f"kind {f.kind} is not {when.kind}")
        if when.category is not None:
            check(
                f.category in when.category,
                f"category {f.category}",
                f"category {f.category or '(none)'} is not {when.category}",
            )
        if when.channel is not None:
            check(
                f.channel in when.channel,
                f"channel {f.channel}",
                f"channel {f.channel} is not {when.channel}",
            )
        if when.anonymous is not None:
            check(
                f.anonymous == when.anonymous,
                f"anonymous={f.anonymous}",
                f"anonymous is {f.anonymous}, rule wants {when.anonymous}",
            )
        if when.confidential is not None:
            check(
                f.confidential == when.confidential,
                f"confidential={f.confidential}",
                f"confidential is {f.confidential}, rule wants {when.confidential}",
            )
        if when.region is not None:
            code = f.location.region_code
            inside = [r for r in when.region if r in _prefixes(code)]
            check(
                bool(inside),
                f"region {code} is in {inside[0] if inside else ''}",
                f"region {code or '(unknown)'} is not in {when.region}",
            )
        if words is not None:
            found = words.matches(f.text)
            check(
                found is not None,
                f"words: found {found!r}",
                "words: none of its words in title or body",
            )
        if unless is not None:
            spoiler = unless.matches(f.text)
            check(spoiler is None, "none of its unless_words", f"unless_words: found {spoiler!r}")
        targets: list[str] = []
        location = f.location
        if matched and placed.rule.unlocated and location.ambiguous and not location.region_code:
            reasons.append("but the place is ambiguous, not unknown: triage decides")
        if matched and placed.rule.route:
            targets = self.targets(placed.rule.route, f.location)
            if not targets:
                reasons.append(f"but {placed.rule.route} resolves to no agency: region unknown")
        return RuleVerdict(
            placed, matched, reasons or ["no conditions: matches every report"], targets
        )
