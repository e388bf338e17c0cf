"""User-facing errors: one line that names the value received and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class KKError(ValueError):
    """A user mistake (bad name, bad value, bad file). The CLI prints it as one line."""


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return ``" did you mean 'x'?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(str(value), list(choices), n=1, cutoff=0.6)
    return f" did you mean '{close[0]}'?" if close else ""


def unknown_name(kind: str, value: str, choices: Iterable[str]) -> KKError:
    """Error for an unknown name: ``metric 'acuracy' is not known; did you mean ...``."""
    known = sorted(choices)
    hint = did_you_mean(value, known)
    listing = ", ".join(known) if known else "(none)"
    return KKError(f"{kind} '{value}' is not known;{hint} Known: {listing}")
