"""Per agency: open reports, overdue per clock, escalations; the reports nearest their
deadline and the overdue ones; filtered by province, kabupaten/kota or ministry. All from
the tallies the reports view keeps as states come in (hub.console.view)."""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.routing import Route

from hub.console.context import Console
from hub.routing.directory import AgencyKind

CENTRE = (AgencyKind.MINISTRY, AgencyKind.INSTITUTION, AgencyKind.NATIONAL)


def routes(console: Console) -> list[Route]:
    directory = console.directory
    provinces = sorted(
        (a.region, a.name)
        for a in directory.agencies.values()
        if a.kind == AgencyKind.PROVINCE and a.region
    )
    regencies = sorted(
        (a.region, a.name)
        for a in directory.agencies.values()
        if a.kind in (AgencyKind.REGENCY, AgencyKind.CITY) and a.region
    )
    centre = sorted(
        (a.id, a.name) for a in directory.agencies.values() if a.kind in CENTRE and not a.parent
    )

    def region_of(agency: str) -> str:
        if agency not in directory:
            return ""
        found = directory.get(agency)
        return found.region or (found.serves[0] if found.serves else "")

    def chooser(province: str, regency: str, ministry: str):
        """Whether an agency's row is kept by the filters."""

        def keep(agency: str) -> bool:
            region = region_of(agency)
            if regency and region != regency:
                return False
            if province and not (region == province or region.startswith(province + ".")):
                return False
            return not ministry or agency == ministry or ministry in directory.parents(agency)

        return keep

    async def sla(request: Request):
        user = console.user(request)
        province = request.query_params.get("province", "")
        regency = request.query_params.get("regency", "")
        ministry = request.query_params.get("ministry", "")
        keep = chooser(province, regency, ministry)
        if user.role == "agency":
            own = user.agency

            def keep(agency: str) -> bool:  # its own row, its own reports
                return agency == own

        keep = functools.cache(keep)  # asked once per agency, not once per clock
        rows = console.reports.sla_rows()
        shown = sorted(
            ((agency, counts) for agency, counts in rows.items() if keep(agency)),
            key=lambda item: (
                -sum(v for k, v in item[1].items() if k.startswith("overdue")),
                -item[1]["open"],
                item[0],
            ),
        )
        return console.render(
            request,
            "sla.html",
            rows=shown[:500],
            more=max(0, len(shown) - 500),
            nearest=console.reports.nearest_deadlines(keep, 20),
            overdue=console.reports.overdue_reports(keep, 50),
            summaries=console.reports.summaries,
            provinces=provinces,
            regencies=[r for r in regencies if not province or r[0].startswith(province + ".")],
            centre=centre,
            chosen={"province": province, "regency": regency, "ministry": ministry},
        )

    return [Route("/sla", sla)]
