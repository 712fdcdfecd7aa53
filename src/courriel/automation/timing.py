"""When things are due: waits, weekday/time waits and date anniversaries, in the
contact's own time zone.

Wall-clock times are turned into instants with `zoneinfo`; a local time that
does not exist (the hour skipped when clocks go forward) is read as the
instant after the gap, one that happens twice (clocks go back) as the first
(PEP 495, fold=0), so nobody is skipped and nobody gets two.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone_of(name: str | None, fallback: str) -> ZoneInfo:
    """The contact's zone, or `fallback` when it has none or an unknown one."""
    for candidate in (name, fallback, "UTC"):
        if not candidate:
            continue
        try:
            return ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return ZoneInfo("UTC")


def at_local(day: dt.date, time: str, zone: ZoneInfo) -> dt.datetime:
    """The instant (UTC) when `day` at wall-clock `time` ("HH:MM") happens in `zone`."""
    hour, minute = (int(p) for p in time.split(":"))
    local = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    instant = local.astimezone(dt.UTC)
    # A time in a spring-forward gap does not round-trip: move past the gap.
    if instant.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        instant = (local + dt.timedelta(hours=1)).astimezone(dt.UTC)
    return instant


def next_weekday_time(
    now: dt.datetime, weekdays: list[int], time: str, zone: ZoneInfo
) -> dt.datetime:
    """The first instant at or after `now` that is `time` on one of `weekdays` (0 = Monday)."""
    today = now.astimezone(zone).date()
    for ahead in range(8):
        day = today + dt.timedelta(days=ahead)
        if day.weekday() not in weekdays:
            continue
        instant = at_local(day, time, zone)
        if instant >= now:
            return instant
    raise ValueError("no weekday given")  # pragma: no cover (the definition checks it)


def parse_date(value: object) -> tuple[int | None, int, int] | None:
    """(year or None, month, day) of a date property ("1990-05-17", "05-17"), else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()[:10]
    try:
        if len(text) == 10:
            parsed = dt.date.fromisoformat(text)
            return parsed.year, parsed.month, parsed.day
        if len(text) == 5 and text[2] == "-":
            month, day = int(text[:2]), int(text[3:])
            dt.date(2000, month, day)  # 29 February allowed: 2000 was a leap year.
            return None, month, day
    except ValueError:
        return None
    return None


def occurs_on(value: object, day: dt.date, offset_days: int, *, yearly: bool) -> bool:
    """Whether a date property's occurrence, moved by `offset_days`, falls on `day`.

    Yearly (a birthday): every anniversary counts, and a 29 February one
    falls on 28 February in other years. Not yearly (a renewal date): only
    the date itself, which then needs its year.
    """
    parsed = parse_date(value)
    if parsed is None:
        return False
    own_year, month, dom = parsed
    base_day = day - dt.timedelta(days=offset_days)
    if not yearly:
        return own_year is not None and (own_year, month, dom) == (
            base_day.year,
            base_day.month,
            base_day.day,
        )
    if (month, dom) == (base_day.month, base_day.day):
        return True
    # 29 February in a year without one: the 28th stands in for it.
    leap = base_day.year % 4 == 0 and (base_day.year % 100 != 0 or base_day.year % 400 == 0)
    return (month, dom) == (2, 29) and not leap and (base_day.month, base_day.day) == (2, 28)
