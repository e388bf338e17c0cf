"""The submission ledger as the reports read it: scored submissions and their table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kagglekit.kaggle.submit import read_ledger
from kagglekit.project import Project


def read_ledger_entries(project: Project) -> list[dict[str, Any]]:
    """The submission ledger (empty when there is none; unreadable lines are skipped)."""
    return read_ledger(project, strict=False)


def _score(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def scored_submissions(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ledger entries with a public or private leaderboard score, scores as floats."""
    out = []
    for entry in entries:
        public, private = _score(entry.get("public_score")), _score(entry.get("private_score"))
        if public is None and private is None:
            continue
        out.append({**entry, "public_score": public, "private_score": private})
    return out


def best_submission(entries: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The scored submission with the best public score (private when public is missing)."""
    scored = scored_submissions(entries)
    if not scored:
        return None

    def key(entry: dict[str, Any]) -> float:
        value = entry["public_score"]
        value = entry["private_score"] if value is None else value
        return float(value) if entry.get("greater_is_better", True) else -float(value)

    return max(scored, key=key)


def submissions_markdown(entries: Sequence[dict[str, Any]]) -> str:
    """The best submission and a table of scored submissions from the ledger."""
    scored = scored_submissions(entries)
    if not scored:
        return "No scored Kaggle submission in the ledger (`submissions.jsonl`) yet."

    def fmt(value: Any) -> str:
        return "" if value is None else f"{float(value):.5f}"

    best = best_submission(entries) or scored[0]
    lines = [
        f"Best submission: `{best.get('run_id') or best.get('file') or best.get('ref')}` "
        f"({best.get('model') or 'unknown model'}), public {fmt(best['public_score']) or '-'}, "
        f"private {fmt(best['private_score']) or '-'}, CV {fmt(_score(best.get('cv_mean'))) or '-'}.",
        "",
        "| submitted | model | run | CV | public LB | private LB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for e in sorted(scored, key=lambda e: str(e.get("submitted_at") or "")):
        lines.append(
            f"| {str(e.get('submitted_at') or '')[:10]} | {e.get('model') or ''} | "
            f"`{e.get('run_id') or ''}` | {fmt(_score(e.get('cv_mean')))} | "
            f"{fmt(e['public_score'])} | {fmt(e['private_score'])} |"
        )
    return "\n".join(lines)
