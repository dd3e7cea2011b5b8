"""Static checks of a rule set: unknown agencies and categories, rules that can never match,
rules shadowed by an earlier one. Every finding names the rule's file and line."""

from __future__ import annotations

from hub.routing.authority import load_authority
from hub.routing.directory import Directory
from hub.routing.engine import Router
from hub.routing.location import region_exists
from hub.routing.rules import NAMED_AGENCY, RESOLVED_TARGETS, PlacedRule, When
from hub.routing.text import WordCondition


def check_rules(router: Router) -> list[str]:
    problems: list[str] = []
    directory = router.directory
    for placed, words in zip(router.rules, router.words, strict=True):
        problems += _references(placed, directory)
        problems += _never_matches(placed, words)
    problems += _shadowed(router)
    problems += _authority_conflicts(router)
    return problems


# the authority table's levels, as the directory names them
_DIRECTORY_LEVEL = {"pusat": "centre", "provinsi": "province", "kabupaten_kota": "regency_city"}


def _authority_conflicts(router: Router) -> list[str]:
    """The authority table and the rules against the directory's category ownership: the
    centre agency of an affair must own its category, and each level the table or a cue
    sends the affair to must own it in the directory (regional governments own what
    ``regional_categories`` lists)."""
    found = []
    directory = router.directory
    authority = load_authority(router.loaded.folder)
    where = router.loaded.folder / "authority.yaml"
    for category, affair in authority.affairs.items():
        if category not in directory.categories:
            found.append(f"{where}: {category}: not a category of the directory")
            continue
        owners = directory.owners_by_level(category)
        centre = affair.centre
        if centre not in directory:
            found.append(f"{where}: {category}: centre {centre!r} is not in the directory")
        elif category not in directory.get(centre).categories:
            found.append(
                f"{where}: {category}: centre {centre} does not own it in the directory "
                f"(owners at the centre: {', '.join(owners.get('centre', [])) or 'none'})"
            )
        for level in {affair.owner, *affair.cues}:
            if level != "pusat" and _DIRECTORY_LEVEL[level] not in owners:
                found.append(
                    f"{where}: {category}: sent to {level}, but no {level} government owns it "
                    "in the directory (add it to regional_categories)"
                )
    for placed in router.rules:
        rule = placed.rule
        if rule.urusan is None:
            continue
        for target in rule.route:
            if target in RESOLVED_TARGETS or target not in directory:
                continue
            agency = directory.get(target)
            if rule.urusan not in agency.categories and not any(
                rule.urusan in directory.get(parent).categories
                for parent in directory.parents(target)
            ):
                found.append(
                    f"{placed.where}: {rule.id}: routes {rule.urusan} to {target}, which does not "
                    "own it in the directory"
                )
    return found


def _references(placed: PlacedRule, directory: Directory) -> list[str]:
    found = []
    rule = placed.rule
    for field, names in (("route", rule.route), ("copy", rule.copy_to)):
        for name in names:
            if name not in RESOLVED_TARGETS and name not in directory:
                found.append(
                    f"{placed.where}: {rule.id}: {field} names unknown agency {name!r} "
                    f"(not in the directory; {', '.join(RESOLVED_TARGETS)} resolve from the report)"
                )
    for category in rule.when.category or []:
        if category not in directory.categories:
            found.append(
                f"{placed.where}: {rule.id}: unknown category {category!r} "
                "(categories are listed in directory/national.yaml)"
            )
    return found


def _never_matches(placed: PlacedRule, words: WordCondition | None) -> list[str]:
    found = []
    rule = placed.rule
    for code in rule.when.region or []:
        if not region_exists(code):
            found.append(
                f"{placed.where}: {rule.id}: can never match: region {code} does not exist "
                "in the Kemendagri codes"
            )
    if words is not None and words.empty:
        found.append(f"{placed.where}: {rule.id}: can never match: its words have no letters")
    if not rule.route and not rule.copy_to and rule.priority is None and not rule.sla_working_days:
        found.append(f"{placed.where}: {rule.id}: does nothing: no route, copy, priority or SLA")
    return found


def _covers(earlier: When, later: When, router: Router, a: int, b: int) -> bool:
    """True if every report ``later`` matches also matches ``earlier``."""
    if earlier.unless_words is not None:
        return False  # the earlier rule may step aside for a text the later one takes
    for name in ("kind", "category", "channel"):
        wide, narrow = getattr(earlier, name), getattr(later, name)
        if wide is not None and (narrow is None or not set(narrow) <= set(wide)):
            return False
    for name in ("anonymous", "confidential"):
        wide, narrow = getattr(earlier, name), getattr(later, name)
        if wide is not None and wide != narrow:
            return False
    if earlier.region is not None:
        if later.region is None:
            return False
        for code in later.region:
            if not any(code == r or code.startswith(r + ".") for r in earlier.region):
                return False
    wide_words, narrow_words = router.words[a], router.words[b]
    if wide_words is not None:
        if narrow_words is None:
            return False
        if not set(narrow_words.keys) <= set(wide_words.keys):
            return False
    return True


def _shadowed(router: Router) -> list[str]:
    found = []
    routing = [  # the rules made from the directory come last on purpose
        (i, p)
        for i, p in enumerate(router.rules)
        if p.rule.route and not p.rule.id.startswith(NAMED_AGENCY)
    ]
    for position, (b, later) in enumerate(routing):
        for a, earlier in routing[:position]:
            resolves = any(t in RESOLVED_TARGETS for t in earlier.rule.route)
            if resolves and earlier.rule.route != later.rule.route:
                continue  # the earlier rule steps aside when the region is unknown
            if _covers(earlier.rule.when, later.rule.when, router, a, b):
                found.append(
                    f"{later.where}: {later.rule.id}: shadowed by {earlier.rule.id} "
                    f"({earlier.where}): every report it matches is routed by that earlier rule"
                )
                break
    return found
