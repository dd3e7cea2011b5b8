"""Reports: search by hub id, the origin app's id or an agency; one report's whole history
as a timeline, its reporter hidden unless a national operator reveals it (with a reason,
recorded in the audit trail before anything opens); a national operator's designation of
its handler (``lapor-hub reports assign``'s path)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import Route

from hub import audit
from hub.console.context import Console, Refused
from hub.console.timeline import clocks, timeline
from hub.errors import HubError
from hub.ops.reveal import hidden
from hub.privacy import hub_keyring, open_identity


def routes(console: Console) -> list[Route]:
    def visible(request: Request, hub_id: str):
        """The report's summary, if this user may see it: an agency's operator is told a
        report of another agency does not exist, as one that does not."""
        user = console.user(request)
        summary = console.reports.get(hub_id)
        if summary is None or not console.may_see_report(user, summary):
            raise Refused(404, "not_found")
        return user, summary

    async def search(request: Request):
        user = console.user(request)
        query = request.query_params.get("q", "").strip()[:200]
        found = []
        if query:
            found = [
                s for s in console.reports.search(query, 200) if console.may_see_report(user, s)
            ]
        elif user.role == "agency":
            found = console.reports.search(user.agency, 50)
        return console.render(request, "reports.html", query=query, found=found[:50])

    async def page(request: Request, revealed: dict | None = None, note: str | None = None):
        hub_id = request.path_params["hub_id"]
        user, summary = visible(request, hub_id)
        state = await run_in_threadpool(console.reports.state_of, summary)
        if state is None:
            raise Refused(503, "busy")
        report = console.decode_report(state["report"]) if state.get("report") else None
        shown = revealed or (hidden(report) if report else None)
        letters = [
            letter
            for letter in console.letters.chosen(_every_letter())
            if letter.key == hub_id.encode() and console.may_see_letter(user, letter)
        ]
        return console.render(
            request,
            "report.html",
            summary=summary,
            state=state,
            report=shown,
            revealed=revealed is not None,
            events=timeline(state, letters),
            clocks=clocks(state),
            note=note,
            agencies=sorted(console.directory.agencies),
        )

    async def reveal(request: Request):
        user = await console.changing(request, "national")
        hub_id = request.path_params["hub_id"]
        _user, summary = visible(request, hub_id)
        reason = str((await request.form()).get("reason", "")).strip()[:500]
        if not reason:
            return await page(request, note="reason")
        state = await run_in_threadpool(console.reports.state_of, summary)
        if state is None or not state.get("report"):
            raise Refused(503, "busy")
        report = console.decode_report(state["report"])

        def audited_reveal() -> dict:
            token = audit.ACTING_AS.set(user.audit_name)
            try:
                audit.record(
                    console.bootstrap,
                    "identity.reveal",
                    {"hub_id": hub_id, "via": "console", "reason": reason},
                )
            finally:
                audit.ACTING_AS.reset(token)
            return open_identity(report, hub_keyring())

        try:
            opened = await run_in_threadpool(audited_reveal)
        except HubError as exc:
            return await page(request, note=f"{exc.message} {exc.fix or ''}")
        return await page(request, revealed=opened)

    async def assign_handler(request: Request):
        user = await console.changing(request, "national")
        hub_id = request.path_params["hub_id"]
        visible(request, hub_id)
        form = await request.form()
        agency = str(form.get("agency", "")).strip()
        reason = str(form.get("reason", "")).strip()[:500]
        from hub.ops.assign import assign

        def designate():
            token = audit.ACTING_AS.set(user.audit_name)
            try:
                return assign(
                    console.bootstrap,
                    hub_id,
                    agency,
                    reason,
                    console.serializer,
                    operator=user.name,
                    rules=console.config.rules,
                    group_prefix=console.config.group_prefix,
                    connectors=set(console.config.connectors),
                    wait=0,
                )
            finally:
                audit.ACTING_AS.reset(token)

        try:
            done = await run_in_threadpool(designate)
        except HubError as exc:
            return await page(request, note=f"{exc.message} {exc.fix or ''}")
        return await page(request, note=f"{done.agency}: audit #{done.audit_seq}, {done.topic}")

    return [
        Route("/reports", search),
        Route("/reports/{hub_id}", page),
        Route("/reports/{hub_id}/reveal", reveal, methods=["POST"]),
        Route("/reports/{hub_id}/assign", assign_handler, methods=["POST"]),
    ]


def _every_letter():
    from hub.ops.deadletters import Filter

    return Filter()
