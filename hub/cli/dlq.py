"""``lapor-hub dlq``: dead letters counted, shown and replayed."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from hub import records, topics
from hub.cli.common import Since, Stage, Until, console, kafka_bootstrap

dlq_app = typer.Typer(
    help="Dead letters: count them, look at one, replay them once fixed.", no_args_is_help=True
)


def _letters_filter(stage, connector=None, error_class=None, since=None, until=None, ids=()):
    from hub.ops.deadletters import Filter
    from hub.sdk.reports import parse_time

    unknown = [s for s in stage or [] if s not in topics.STAGES]
    if unknown:
        stages = ", ".join(topics.STAGES)
        raise typer.BadParameter(f"unknown stage {unknown[0]!r}; stages: {stages}")
    return Filter(
        stages=tuple(stage or topics.STAGES),
        connector=connector,
        error_class=error_class,
        since=parse_time(since, "--since") if since else None,
        until=parse_time(until, "--until") if until else None,
        ids=tuple(ids),
    )


@dlq_app.command("list")
def dlq_list(
    stage: Stage = None,
    since: Since = None,
    until: Until = None,
    reasons: Annotated[
        bool, typer.Option("--reasons", help="Count by reason too (its first 80 characters).")
    ] = False,
) -> None:
    """Dead letters counted by stage, connector and error class (and reason), oldest and
    newest."""
    from hub.ops.deadletters import counts, read_letters

    letters = read_letters(kafka_bootstrap(), _letters_filter(stage, since=since, until=until))
    table = Table(title=f"{len(letters)} dead letters")
    columns = ("stage", "connector", "error class", *(("reason",) if reasons else ()))
    for column in (*columns, "count", "oldest", "newest", "example id"):
        table.add_column(column, overflow="fold")
    for place, count in sorted(counts(letters, reasons).items()):
        group = [x for x in letters if x.group(reasons) == place]
        table.add_row(
            *place,
            str(count),
            f"{min(x.timestamp for x in group):%Y-%m-%d %H:%M}",
            f"{max(x.timestamp for x in group):%Y-%m-%d %H:%M}",
            group[0].id,
        )
    console.print(table)


@dlq_app.command("show")
def dlq_show(
    letter_id: Annotated[str, typer.Argument(help="stage:partition:offset")],
    show_identity: Annotated[
        bool,
        typer.Option(
            "--show-identity",
            help="Open the sealed message or identity (recorded in the audit trail).",
        ),
    ] = False,
) -> None:
    """One dead letter: why it failed, where, how often, and its content (decoded where the
    topic carries Avro, as text where it is text, hex where it is neither). A reporter's
    identity stays sealed unless --show-identity."""
    import json

    from hub.ops.deadletters import letter_content, read_letter
    from hub.serialization import load_store, make_codec
    from hub.settings import load_settings

    _letters_filter([letter_id.split(":", 1)[0]])  # an unknown stage is a usage error
    bootstrap = kafka_bootstrap()
    letter = read_letter(bootstrap, letter_id)
    if letter is None:
        console.print(f"no dead letter {letter_id} (see `lapor-hub dlq list`)")
        raise typer.Exit(1)
    for label, value in (
        ("stage", letter.stage),
        ("connector", letter.connector),
        (
            "failed on",
            f"{letter.original_topic} partition "
            f"{letter.header(records.ERROR_PARTITION)} offset "
            f"{letter.header(records.ERROR_OFFSET)}",
        ),
        ("error", f"{letter.error_class}: {letter.reason}"),
        ("attempts", str(letter.attempts)),
        ("first failure", letter.header(records.FIRST_FAILURE)),
        ("last failure", letter.header(records.LAST_FAILURE)),
        ("key", (letter.key or b"").decode("utf-8", "replace")),
    ):
        console.print(f"[bold]{label:>13}[/] {value}", highlight=False)
    settings = load_settings()
    content = letter_content(
        bootstrap, letter, make_codec(settings, load_store(settings)), show_identity
    )
    if content.decoded is not None:
        console.print_json(json.dumps(content.decoded, default=str, ensure_ascii=False))
    elif content.sealed:
        console.print(
            f"[bold]      content[/] sealed raw message ({len(letter.value)} bytes, key "
            f"{content.sealed}): it may hold a reporter's identity; --show-identity opens it "
            "(recorded in the audit trail)"
        )
    elif content.text is not None:
        console.print(content.text, highlight=False, soft_wrap=True)
    else:
        console.print(content.hex, highlight=False)


@dlq_app.command("replay")
def dlq_replay(
    stage: Stage = None,
    connector: Annotated[str | None, typer.Option(help="Only this connector's letters.")] = None,
    error_class: Annotated[str | None, typer.Option(help="Only this error class.")] = None,
    since: Since = None,
    until: Until = None,
    letter_id: Annotated[
        list[str] | None, typer.Option("--id", help="A letter (repeatable).")
    ] = None,
    to: Annotated[str | None, typer.Option(help="Another topic than the one it failed on.")] = None,
    rate: Annotated[float, typer.Option(help="At most this many messages per second.")] = 100.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be replayed.")] = False,
    again: Annotated[bool, typer.Option("--again", help="Also letters replayed before.")] = False,
) -> None:
    """Send dead letters back to where they failed, once their cause is fixed; recorded in
    lapor.replays and the audit trail. A message that fails again returns to the dead
    letters, attempts raised."""
    from rich.progress import Progress

    from hub.ops.deadletters import read_letters, replay_audited

    bootstrap = kafka_bootstrap()
    chosen = _letters_filter(stage, connector, error_class, since, until, letter_id or ())
    letters = read_letters(bootstrap, chosen)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("replaying", total=len(letters))
        result = replay_audited(
            bootstrap,
            letters,
            chosen,
            to=to,
            rate=rate,
            dry_run=dry_run,
            again=again,
            on_progress=lambda n: progress.update(task, completed=n),
        )
    verb = "would replay" if dry_run else "replayed"
    console.print(
        f"{verb} {len(result.replayed)} of {len(letters)} dead letters; "
        f"{len(result.skipped)} skipped (replayed before: --again to resend), "
        f"{len(result.unroutable)} without an original topic (use --to)"
    )
    if result.refused:
        console.print(
            f"[bold red]{len(result.refused)} refused[/]: their target is not their stage's "
            f"input (e.g. {result.refused[0]}); a letter goes back only where its stage reads",
            highlight=False,
        )
    for letter in letters[:20] if dry_run else []:
        console.print(
            f"  {letter.id}  {letter.connector}  {letter.error_class}: "
            f"{letter.reason[:80]} -> {to or letter.original_topic}",
            highlight=False,
        )
