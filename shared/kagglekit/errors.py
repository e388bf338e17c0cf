"""User-facing errors: one line that names the value received and how to fix it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class KKError(ValueError):
    """A user mistake (bad name, bad value, bad file). The CLI prints it as one line."""


class DoesNotFit(KKError):
    """A model entry that cannot read this project's data (another kind, images too small).

    Not a mistake in the entry itself: ``kk train --smoke`` skips such an entry with this
    message instead of failing on it.
    """


def plain(value: Any) -> Any:
    """``value`` as a plain Python value for a message (``5``, not ``np.int64(5)``)."""
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        try:
            return item()
        except (TypeError, ValueError):
            return value
    return value


def short_list(values: Iterable[Any], n: int = 8) -> str:
    """The first ``n`` values joined by ", ", ending in ", ... (N in all)" when cut."""
    items = [str(plain(v)) for v in values]
    if len(items) <= n:
        return ", ".join(items)
    return ", ".join(items[:n]) + f", ... ({len(items)} in all)"


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """Return ``" did you mean 'x'?"`` for the closest choice, or an empty string.

    A choice that differs only in case (``Target`` for ``target``) is the answer first.
    """
    options = [str(c) for c in choices]
    same_case = [c for c in options if c.lower() == str(value).lower() and c != str(value)]
    if same_case:
        return f" did you mean '{same_case[0]}'?"
    close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.6)
    if not close:
        by_lower = {c.lower(): c for c in options}
        lowered = difflib.get_close_matches(str(value).lower(), list(by_lower), n=1, cutoff=0.6)
        close = [by_lower[lowered[0]]] if lowered else []
    return f" did you mean '{close[0]}'?" if close else ""


def unknown_name(kind: str, value: str, choices: Iterable[str]) -> KKError:
    """Error for an unknown name: ``metric 'acuracy' is not known; did you mean ...``."""
    known = sorted(str(c) for c in choices)
    hint = did_you_mean(value, known)
    listing = short_list(known, 30) if known else "(none)"
    return KKError(f"{kind} '{value}' is not known;{hint} Known: {listing}")
