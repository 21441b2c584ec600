"""The organisation's local days (the TIMEZONE setting) over the store's UTC times.

Staff think in their own days: a response at 23:30 UTC is tomorrow's in Paris. Date
filters become the UTC instants where local days start, and charts group by the local
day SQLite works out with the UTC offset in force at each moment, daylight saving
changes included.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from participate import clock

from .errors import UnknownTimeZone

# Offsets change at most a few times a year: look for changes a day apart, then narrow.
_STEP = timedelta(days=1)


def zone(name: str) -> ZoneInfo:
    """Return the time zone called `name` (an IANA name such as Europe/Paris)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(f"unknown time zone {name!r}") from None


def day_start(day: date, timezone: str) -> str:
    """Return the UTC time, in the store's format, when local `day` begins."""
    return clock.to_text(datetime.combine(day, time(), tzinfo=zone(timezone)))


def _offset(moment: datetime, tz: ZoneInfo) -> int:
    offset = moment.astimezone(tz).utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


def _change(low: datetime, high: datetime, tz: ZoneInfo) -> datetime:
    """Return the first second after `low` (up to `high`) with `high`'s offset."""
    target = _offset(high, tz)
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if _offset(middle, tz) == target:
            high = middle
        else:
            low = middle
    return high


def offsets(first: str, last: str, timezone: str) -> list[tuple[str | None, int]]:
    """Return the UTC offsets (minutes) in force from `first` to `last` (store times).

    Each pair holds the time the offset stops applying (None for the last) and the offset.
    """
    tz = zone(timezone)
    start, end = clock.parse(first), clock.parse(last)
    spans: list[tuple[str | None, int]] = []
    current = _offset(start, tz)
    moment = start
    while moment < end:
        following = min(moment + _STEP, end)
        if _offset(following, tz) != current:
            change = _change(moment, following, tz)
            spans.append((clock.to_text(change), current))
            current = _offset(following, tz)
        moment = following
    spans.append((None, current))
    return spans


def day_sql(column: str, first: str | None, last: str | None, timezone: str) -> tuple[str, list]:
    """Return SQL (and parameters) giving the local day (YYYY-MM-DD) of a UTC time column.

    Exact for times from `first` to `last`; SQLite's date() takes the offset as a modifier.
    """
    if first is None or last is None:
        first = last = clock.to_text(datetime.now(UTC))
    spans = offsets(first, last, timezone)
    if len(spans) == 1:
        return f"date({column}, ?)", [f"{spans[0][1]:+d} minutes"]
    cases = " ".join(f"WHEN {column} < ? THEN ?" for _ in spans[:-1])
    params: list = []
    for until, minutes in spans[:-1]:
        params += [until, f"{minutes:+d} minutes"]
    params.append(f"{spans[-1][1]:+d} minutes")
    return f"date({column}, CASE {cases} ELSE ? END)", params
