"""Time budgets: ``--budget 30m`` read as seconds, and durations written back for people."""

from __future__ import annotations

import math
import re

from kagglekit.errors import KKError

__all__ = ["fmt_duration", "parse_budget", "suggest_budget"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_budget(text: str) -> float:
    """Seconds in a budget such as ``90s``, ``30m``, ``2h``, ``1h30m`` or ``1.5h``.

    A bare number is refused (seconds or minutes? the unit is asked for, not guessed).

    >>> parse_budget("1h30m"), parse_budget("45s")
    (5400.0, 45.0)
    """
    compact = str(text).strip().lower().replace(" ", "")
    parts = _PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        hint = f" (did you mean {compact}m?)" if compact.replace(".", "", 1).isdigit() else ""
        raise KKError(
            f"budget '{text}' is not a duration{hint}; write it with a unit, like 90s, 30m, "
            "2h or 1h30m"
        )
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise KKError(f"budget '{text}' is no time at all; give more than 0, e.g. --budget 30m")
    return seconds


def fmt_duration(seconds: float) -> str:
    """``0.4s``, ``45s``, ``4m05s``, ``1h02m``: short enough for a table cell.

    >>> fmt_duration(0.42), fmt_duration(245), fmt_duration(3725)
    ('0.4s', '4m05s', '1h02m')
    """
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{(whole % 3600) // 60:02d}m"


def suggest_budget(seconds: float) -> str:
    """A round ``--budget`` a little above ``seconds`` (estimates are rough: a quarter more).

    >>> suggest_budget(14.2), suggest_budget(200), suggest_budget(4000)
    ('20s', '5m', '1h30m')
    """
    wanted = seconds * 1.25
    if wanted <= 55:
        return f"{max(5, math.ceil(wanted / 5) * 5)}s"
    if wanted <= 3600:
        return f"{math.ceil(wanted / 60)}m"
    minutes = math.ceil(wanted / 1800) * 30
    return f"{minutes // 60}h" + (f"{minutes % 60}m" if minutes % 60 else "")
