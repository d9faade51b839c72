"""The time window every source reads: ``[now - TimeWindowMinutes, now]``, 1 to 60 minutes.

Service Map answers maps for at most one hour, and the other sources keep the same window so
that the choice of source never changes what a diagram covers.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from ..config import SCHEDULE_PARAMETERS
from ..errors import ConfigError

MAX_WINDOW = timedelta(minutes=SCHEDULE_PARAMETERS["TimeWindowMinutes"][3])


def check_window(start: datetime, end: datetime) -> None:
    """Refuse windows Service Map cannot serve: empty, reversed or over 60 minutes."""
    if not timedelta(0) < end - start <= MAX_WINDOW:
        raise ConfigError(
            f"time window {iso(start)} .. {iso(end)} is {(end - start).total_seconds() / 60:g} minutes: "
            f"TimeWindowMinutes must be 1..{MAX_WINDOW.total_seconds() / 60:g}"
        )


def window_ending(now: datetime, minutes: int) -> tuple[datetime, datetime]:
    """``[now - minutes, now]``, checked."""
    start = now - timedelta(minutes=minutes)
    check_window(start, now)
    return start, now


def iso(moment: datetime) -> str:
    """``moment`` as the ISO 8601 UTC text Azure takes (``2024-05-01T10:00:00.000000Z``)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
