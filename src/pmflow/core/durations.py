"""ISO-8601 durations for timeouts.

Only exact units (weeks, days, hours, minutes, seconds): a month or a year has no fixed length,
and a reminder that fires "P1M" after the 31st of January would surprise people.
"""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_CALENDAR = re.compile(r"^P(?:\d+Y)?(?:\d+M)?")


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> timedelta:
    """Parse ``P3D``, ``PT4H``, ``P1W``, ``P1DT12H``; reject calendar units and zero."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        if isinstance(text, str) and ("Y" in text.split("T")[0] or "M" in text.split("T")[0]):
            raise DurationError(
                f"'{text}' uses years or months, which have no fixed length; use weeks or days, e.g. 'P30D'"
            )
        raise DurationError(f"'{text}' is not an ISO-8601 duration such as 'P3D', 'PT4H' or 'P1DT12H'")
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    value = timedelta(**parts)
    if value <= timedelta(0):
        raise DurationError(f"'{text}' is zero; a timeout must be longer than that")
    return value


def format_duration(value: timedelta) -> str:
    """Readable form for people: '3 days', '4 hours', '1 day 12 hours'."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts) or "0 seconds"
