"""The network at a glance: each connector side's state, each hub process and the leases it
holds, per-stage throughput and lag (scraped, hub.console.network), the tracker's counts."""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from hub.console.context import Console


def routes(console: Console) -> list[Route]:
    async def network(request: Request):
        user = console.user(request)
        snapshot = console.scraper.snapshot()
        sides = snapshot.sides
        if user.role == "agency":
            own = console.connectors_of(user.agency)
            sides = [s for s in sides if s.connector in own]
        rows = console.reports.sla_rows(None if user.role != "agency" else [user.agency])
        letters = console.letters.chosen(
            _all_letters(), keep=lambda letter: console.may_see_letter(user, letter)
        )
        waiting = sum(1 for letter in letters if not console.letters.was_replayed(letter.id))
        return console.render(
            request,
            "network.html",
            tracked=len(console.reports) if user.role != "agency" else "-",
            open=sum(r["open"] for r in rows.values()),
            overdue=sum(v for r in rows.values() for k, v in r.items() if k.startswith("overdue")),
            awaiting=console.reports.awaiting() if user.role != "agency" else "-",
            letters_waiting=waiting,
            retries_waiting=sum(v for (stage, _t), v in snapshot.lag.items() if stage == "retry"),
            sides=sides,
            processes=snapshot.processes if user.role != "agency" else [],
            totals=sorted(snapshot.totals.items()) if user.role != "agency" else [],
            rates=snapshot.rates,
            lag=sorted(snapshot.lag.items()) if user.role != "agency" else [],
            agency_of=console.agency_of_connector,
        )

    return [Route("/", network)]


def _all_letters():
    from hub.ops.deadletters import Filter

    return Filter()
