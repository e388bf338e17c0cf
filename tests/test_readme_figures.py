"""Every measured figure a project README's prose quotes comes from a committed record.

A project README mixes a generated results table (``kk report`` writes it from the run
records committed beside it, ``reports/records/``) with hand-written prose that quotes
figures from those runs. Prose drifts when a run is redone, so each figure the prose
quotes to four decimals (the precision runs report at) must be one that the generated
table or a committed record holds (any number in the record, rounded: its CV, fold
scores, OOF accuracy, local test score, epoch histories, timings). Two kinds of figure
have no such record and say where they come from in the same paragraph or bullet (a
table's is the paragraph above it): a ``bench/`` script's measurement (the paragraph names the script, which reproduces
it) and a run whose folder is gone (marked *(earlier run)* or *(earlier runs)*).
A difference or mean of two backed figures quoted in the same passage counts as backed.
Figures with fewer decimals are rounded comparisons and differences, not checked here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kagglekit.reports.readme import END_MARKER, START_MARKER

REPO = Path(__file__).resolve().parents[1]
READMES = sorted(REPO.glob("projects/*/README.md"))
FIGURE = re.compile(r"(?<![\w.])-?\d\.\d{4}(?!\d)")
# A figure whose source is not a committed record says so in its own passage.
SOURCED = re.compile(r"bench/\w+\.py|\*\(earlier runs?\b", re.IGNORECASE)


def _record_figures(obj: Any, out: set[str]) -> set[str]:
    """Every number in a record, as the prose would print it to four decimals."""
    if isinstance(obj, bool):
        return out
    if isinstance(obj, int | float):
        out.add(f"{obj:.4f}")
    elif isinstance(obj, dict):
        for value in obj.values():
            _record_figures(value, out)
    elif isinstance(obj, list):
        for value in obj:
            _record_figures(value, out)
    return out


def _passages(prose: str) -> list[str]:
    """Paragraphs and list items: the unit a source note covers. A table belongs to the
    paragraph just above it, its caption."""
    passages: list[str] = []
    for block in re.split(r"\n\s*\n", prose):
        if block.lstrip().startswith("|") and passages:
            passages[-1] += "\n" + block
        else:
            passages.extend(re.split(r"\n(?=\s*[-*] |\s*\d+\. )", block))
    return passages


def unsourced_figures(readme: Path) -> list[tuple[str, str]]:
    """(figure, start of its passage) for each prose figure no record or note accounts for."""
    text = readme.read_text(encoding="utf-8")
    generated = re.findall(
        re.escape(START_MARKER) + r".*?" + re.escape(END_MARKER), text, flags=re.DOTALL
    )
    prose = re.sub(re.escape(START_MARKER) + r".*?" + re.escape(END_MARKER), "", text,
                   flags=re.DOTALL)  # fmt: skip
    known: set[str] = set()
    for record in (readme.parent / "reports" / "records").glob("*.json"):
        _record_figures(json.loads(record.read_text(encoding="utf-8")), known)
    tables = "".join(generated)
    missing = []
    for passage in _passages(prose):
        if SOURCED.search(passage):
            continue
        figures = FIGURE.findall(passage)
        backed = [f for f in figures if f.lstrip("-") in known or f in tables]
        for figure in figures:
            if figure not in backed and not _derived(figure, backed):
                missing.append((figure, " ".join(passage.split())[:90]))
    return missing


def _derived(figure: str, backed: list[str]) -> bool:
    """A difference or mean of two backed figures of the same passage (to the rounding
    of the quoted figures)."""
    value = abs(float(figure))
    numbers = [float(f) for f in backed]
    return any(
        abs(value - abs(a - b)) <= 1.5e-4 or abs(value - (a + b) / 2) <= 1e-4
        for i, a in enumerate(numbers)
        for b in numbers[i + 1 :]
    )


@pytest.mark.parametrize("readme", READMES, ids=lambda p: p.parent.name)
def test_prose_figures_come_from_committed_records(readme: Path) -> None:
    missing = unsourced_figures(readme)
    assert not missing, (
        f"{readme.relative_to(REPO)} quotes figures no committed record or generated table "
        f"holds (commit the run's record, or name the bench/ script or mark *(earlier run)*): "
        f"{missing}"
    )


def test_an_unsourced_figure_is_caught_and_a_sourced_one_is_not(tmp_path: Path) -> None:
    project = tmp_path / "projects" / "demo"
    (project / "reports" / "records").mkdir(parents=True)
    (project / "reports" / "records" / "r.json").write_text(
        json.dumps({"cv_mean": 0.81234, "fold_scores": [{"score": 0.79}]})
    )
    (project / "README.md").write_text(
        "The run scored 0.8123 (its record).\n\n"
        "- A bench figure, 0.7777 (`bench/titanic.py --leaderboard`).\n"
        "- An old run, 0.6666 *(earlier run)*.\n"
        "- A figure from nowhere: 0.5555.\n\n"
        "Measured by `bench/titanic.py`:\n\n| entry | cv |\n| x | 0.3333 |\n\n"
        f"{START_MARKER}\n| model | cv |\n| a | 0.4444 |\n{END_MARKER}\n"
        "The table's 0.4444 again, and 0.7900 from a fold.\n\n"
        "0.8123 against the table's 0.4444: 0.3679 apart, 0.6284 on average; not 0.3600.\n"
    )
    assert [figure for figure, _ in unsourced_figures(project / "README.md")] == [
        "0.5555",
        "0.3600",
    ]
