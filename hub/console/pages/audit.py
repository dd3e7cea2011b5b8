"""The audit trail, filterable by action and by who, with its chain verified
(``lapor-hub audit verify``'s check: every record signed, each chained to the one before),
from the trail the console follows (hub.console.trail)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from hub import audit
from hub.console.context import Console
from hub.errors import HubError

SHOWN = 500


def routes(console: Console) -> list[Route]:
    def read(action: str, who: str):
        trail = console.trail.listed()
        try:
            key = audit.public_key_text(audit.signing_key(create=False))
            verdict = console.trail.verdict(key)
        except HubError as exc:
            verdict = None
            error = f"{exc.message} {exc.fix or ''}"
        else:
            error = None
        shown = [
            item
            for item in trail
            if item.entry is None
            or (
                (not action or item.entry.action.startswith(action))
                and (not who or who in (item.entry.who, item.entry.login))
            )
        ]
        return verdict, error, shown[::-1][:SHOWN]

    async def page(request: Request):
        console.user(request, "viewer", "national")
        action = request.query_params.get("action", "").strip()
        who = request.query_params.get("who", "").strip()
        verdict, error, shown = await run_in_threadpool(read, action, who)
        return console.render(
            request, "audit.html", verdict=verdict, error=error, shown=shown, action=action, who=who
        )

    return [Route("/audit", page)]
