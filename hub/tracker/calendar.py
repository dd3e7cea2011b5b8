"""Working days on the Indonesian calendar, for SLA clocks.

A working day is Monday to Friday that is neither a national public holiday nor a cuti
bersama (collective leave decreed each year by SKB of three ministers). Both come from the
``holidays`` package (categories ``public`` and ``government``). A year for which the package
has no cuti bersama has no decree yet in its data: it is refused loudly, never counted as a
year without holidays, because every deadline in it would come days too early.

Days are counted in the report's own time zone (WIB, WITA or WIT, from its province code):
a report filed at 23:30 WIT on a Friday in Jayapura was filed on Friday, not Saturday.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from hub.errors import HubError

WIB, WITA, WIT = ZoneInfo("Asia/Jakarta"), ZoneInfo("Asia/Makassar"), ZoneInfo("Asia/Jayapura")
# Kemendagri province codes (the first two digits of a region code) outside WIB
_WITA_PROVINCES = {"51", "52", "53", "63", "64", "65", "71", "72", "73", "74", "75", "76"}
_WIT_PROVINCES = {"81", "82", "91", "92", "93", "94", "95", "96", "97"}


class CalendarError(HubError):
    """A year the calendar has no holiday data for."""


def zone_of(region_code: str | None) -> ZoneInfo:
    province = (region_code or "")[:2]
    if province in _WIT_PROVINCES:
        return WIT
    if province in _WITA_PROVINCES:
        return WITA
    return WIB


@functools.cache
def holidays_of(year: int) -> frozenset[date]:
    """Public holidays and cuti bersama of ``year``; raises CalendarError without data."""
    collective = holidays.country_holidays("ID", years=year, categories=("government",))
    if not collective:
        raise CalendarError(
            f"there is no holiday data for {year}: the holidays package "
            f"{holidays.__version__} has no cuti bersama for that year, so working days "
            "cannot be counted (they are never counted as if the year had no holidays)",
            fix="upgrade the package (pip install -U holidays) once the SKB on cuti bersama "
            f"for {year} is published, then restart the tracker.",
        )
    public = holidays.country_holidays("ID", years=year, categories=("public",))
    return frozenset(collective) | frozenset(public)


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in holidays_of(day.year)


def add_working_days(start: datetime, days: int, region_code: str | None = None) -> datetime:
    """The end (23:59:59.999 local) of the ``days``-th working day after ``start``'s day.

    A deadline of 3 working days on a report filed on Thursday ends on Tuesday at midnight;
    the filing day itself does not count.
    """
    zone = zone_of(region_code)
    day = start.astimezone(zone).date()
    left = days
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    end = datetime.combine(day, time(23, 59, 59, 999000), tzinfo=zone)
    return end.astimezone(UTC)


def working_days_between(start: datetime, end: datetime, region_code: str | None = None) -> int:
    """Working days after ``start``'s day up to and including ``end``'s day (0 if end is
    not later): how far a paused clock's deadline moves when it resumes."""
    zone = zone_of(region_code)
    first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
    count, day = 0, first
    while day < last:
        day += timedelta(days=1)
        count += is_working_day(day)
    return count
