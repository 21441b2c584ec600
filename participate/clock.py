"""Times in the store: UTC, ISO-8601 with a `Z`, microseconds, so text order is time order."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utcnow() -> str:
    """Return the current UTC time in the store's format."""
    return datetime.now(UTC).strftime(FORMAT)


def to_text(moment: datetime) -> str:
    """Format an aware datetime in the store's format."""
    return moment.astimezone(UTC).strftime(FORMAT)


def parse(text: str) -> datetime:
    """Parse an ISO-8601 time (a trailing Z or an offset) into an aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def today(timezone: str = "UTC") -> date:
    """Return today's date in the organisation's time zone (consultation dates are local)."""
    return datetime.now(ZoneInfo(timezone)).date()


def local_now(timezone: str = "UTC", at: datetime | None = None) -> datetime:
    """Return the organisation's local time to the minute, without a zone, now or at the
    aware time `at` (consultations open and close at local times)."""
    moment = datetime.now(ZoneInfo(timezone)) if at is None else at.astimezone(ZoneInfo(timezone))
    return moment.replace(tzinfo=None, second=0, microsecond=0)
