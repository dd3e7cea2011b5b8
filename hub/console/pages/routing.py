"""Routing: a pasted report explained against the live rules (every rule, matched or not,
and why); the rules version in use and its reloads (from the audit trail); a dry run of a
changed rule set over past reports, as a table of where handlers would move."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from hub.console.context import Console
from hub.console.i18n import translate
from hub.errors import HubError
from hub.routing.reload import ReloadingRouter, build_router

DRY_RUN_LIMIT = 20_000  # reports re-decided from the console; the CLI takes any number


class _Counted:
    """A progress the dry run reports to, kept for nobody: the page waits for the result."""

    def add_task(self, description: str, total: float | None = None) -> int:
        return 0

    def advance(self, task: int, advance: float = 1) -> None:
        pass


def pasted_report(text: str, region: str, address: str, kind: str) -> dict:
    """A report from what the operator pasted: a Report as JSON, or a citizen's text
    (first line its title)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        data = json.loads(stripped)
        if not isinstance(data, dict):
            raise ValueError("the JSON is not an object")
        return data
    title, _, body = stripped.partition("\n")
    return {
        "hub_id": "console-explain",
        "kind": kind,
        "title": title.strip(),
        "body": body.strip() or title.strip(),
        "category": None,
        "source": {"channel": "WEB"},
        "location": {"region_code": region or None, "address": address or None},
        "reporter": {"anonymous": False, "confidential": False},
    }


def routes(console: Console) -> list[Route]:
    live = ReloadingRouter(console.config.rules, background=True)

    def reloads() -> list:
        entries = [item.entry for item in console.trail.listed() if item.entry is not None]
        return [e for e in entries if e.action.startswith("rules.")][-20:][::-1]

    def show(request: Request, **values):
        """The routing page: the rules in use and their reloads, with what was asked."""
        values.setdefault("form", {"text": "", "region": "", "address": "", "kind": "PENGADUAN"})
        return console.render(
            request,
            "routing.html",
            version=live.router.version,
            last_error=live.last_error,
            history=reloads(),
            **{"explained": None, "error": None, "dry": None, **values},
        )

    async def page(request: Request):
        console.user(request)
        explained = error = None
        form = {"text": "", "region": "", "address": "", "kind": "PENGADUAN"}
        if request.method == "POST":
            await console.changing(request)  # a POST carries its CSRF token like any other
            posted = await request.form()
            form = {k: str(posted.get(k, ""))[:20_000] for k in form}
            try:
                report = pasted_report(form["text"], form["region"], form["address"], form["kind"])
                explained = live.router.explain(report)
            except (ValueError, KeyError, TypeError, HubError) as exc:
                error = f"{type(exc).__name__}: {exc}"
        return show(request, explained=explained, error=error, form=form)

    root = console.config.rules.parent.resolve()  # rule sets an operator may try
    one_at_a_time = asyncio.Lock()

    def rules_folder(given: str) -> Path | None:
        """A folder under the rules' own parent (where an operator puts a changed copy),
        never anywhere else on the server."""
        folder = (root / given).resolve() if given else console.config.rules.resolve()
        if not folder.is_relative_to(root) or not (folder / "directory").is_dir():
            return None
        return folder

    async def dry_run_page(request: Request):
        await console.changing(request, "national")
        posted = await request.form()
        language = console.language(request)
        folder = rules_folder(str(posted.get("folder", "")).strip()[:300])
        try:
            days = min(max(int(str(posted.get("days", "7")).strip() or 7), 1), 365)
        except ValueError:
            days = 7
        from hub.ops.past_reports import past_reports
        from hub.routing.dryrun import dry_run

        def run():
            router = build_router(folder)
            since = datetime.now(UTC) - timedelta(days=days)
            past = past_reports(console.bootstrap, since, DRY_RUN_LIMIT, None, _Counted())
            return dry_run(past, router, lambda: live.router, stored=True, examples=3)

        error = dry = None
        if folder is None:
            error = translate(language, "bad_folder", root=root)
        elif one_at_a_time.locked():
            error = translate(language, "busy")
        else:
            async with one_at_a_time:
                try:
                    dry = await run_in_threadpool(run)
                except HubError as exc:
                    error = f"{exc.message} {exc.fix or ''}"
        folder_shown = folder.relative_to(root) if folder else ""
        return show(request, error=error, dry=dry, folder=folder_shown, days=days)

    return [
        Route("/routing", page, methods=["GET", "POST"]),
        Route("/routing/dry-run", dry_run_page, methods=["POST"]),
    ]
