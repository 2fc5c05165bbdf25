"""Ages and timestamps as kubectl prints them (``5m``, ``2d4h``, ``<unknown>``).

Parses RFC 3339 timestamps leniently (a value that is not one is simply not a time) and renders
durations by apimachinery's ``HumanDuration`` rules. Never reads a clock: ``now`` is passed in.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any


def human_duration(seconds: float) -> str:
    """An age the way kubectl shows it (apimachinery ``duration.HumanDuration``)."""
    whole = int(seconds)  # truncates toward zero, as Go's int(d.Seconds()) does
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes = whole // 60
    if minutes < 10:
        rest = whole % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = whole // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    years = days // 365
    if hours < 24 * 365 * 8:
        rest = days % 365
        return f"{years}y{rest}d" if rest else f"{years}y"
    return f"{years}y"


_RFC3339 = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$",
)


def parse_time(text: Any) -> float | None:
    """Epoch seconds of an RFC 3339 timestamp, or None when it is not one."""
    if not isinstance(text, str):
        return None
    match = _RFC3339.match(text)
    if match is None:
        return None
    date, clock, fraction, zone = match.groups()
    fraction = (fraction or "")[:7]  # Python keeps microseconds; more digits change nothing
    zone = "+00:00" if zone in ("Z", "z") else zone
    try:
        return datetime.fromisoformat(f"{date}T{clock}{fraction}{zone}").timestamp()
    except ValueError:
        return None


def since(timestamp: Any, now: float) -> str:
    """``translateTimestampSince``: the age of a timestamp, ``<unknown>`` when there is none."""
    moment = parse_time(timestamp)
    if moment is None or timestamp.startswith("0001-01-01"):
        return "<unknown>"
    return human_duration(now - moment)
