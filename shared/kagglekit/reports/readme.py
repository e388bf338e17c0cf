"""A project's report: the generated results section of ``projects/<name>/README.md``.

The README keeps hand-written text around a generated section between two markers;
``update_readme_section`` rewrites only that section, so regenerating is idempotent. The
section holds the results table, the ablation table, the submissions from the ledger
(``submissions.jsonl``) and the plots written under ``projects/<name>/reports/``.

The OOF plots read the encoded train target from the run (``target.npy``, which runs save
and their committed copies keep), so a clone without the raw data draws them too. Only for
a run made before runs saved it is the target rebuilt from the raw data.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import kagglekit.atomic as atomic
from kagglekit.config import ProjectConfig
from kagglekit.errors import KKError
from kagglekit.folds import folds_meta
from kagglekit.loaders import Dataset, load_dataset
from kagglekit.project import Project
from kagglekit.records import RECORDS_DIR, Run, archive_records, runs_with_copies
from kagglekit.reports.embedding_view import write_embedding_view
from kagglekit.reports.ledger import read_ledger_entries, submissions_markdown
from kagglekit.reports.plots import PLOTS_DIR, Plot, plots_markdown, write_plots
from kagglekit.reports.tables import (
    _best_run,
    _with_oof,
    ablation_table_markdown,
    results_table_markdown,
)
from kagglekit.tasks import get_task

log = logging.getLogger(__name__)

START_MARKER = "<!-- kk:results:start -->"
END_MARKER = "<!-- kk:results:end -->"


def update_readme_section(
    readme_path: Path, text: str, *, start_marker: str = START_MARKER, end_marker: str = END_MARKER
) -> bool:
    """Replace the text between the results markers in ``readme_path``; True if it changed.

    Only the section between ``<!-- kk:results:start -->`` and ``<!-- kk:results:end -->``
    (or the markers given) is rewritten (atomically); everything else is kept byte for byte.
    """
    try:
        content = Path(readme_path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KKError(
            f"{readme_path} does not exist; create it with a results section between "
            f"{start_marker} and {end_marker}"
        ) from None
    start = content.find(start_marker)
    end = content.find(end_marker)
    if start < 0 or end < 0 or end < start or content.count(start_marker) != 1:
        raise KKError(
            f"{readme_path} needs exactly one {start_marker} followed by {end_marker}; "
            "add them where the generated section should go"
        )
    head = content[: start + len(start_marker)]
    new = f"{head}\n{text.strip()}\n{content[end:]}"
    if new == content:
        return False
    atomic.write_text(Path(readme_path), new)
    return True


@dataclass
class ProjectReport:
    """What ``kk report PROJECT`` wrote."""

    readme: Path
    changed: bool
    plots: list[Plot]


def current_runs(project: Project) -> list[Run]:
    """The project's runs on its current folds (only those are comparable), oldest first.

    The runs under ``runs/`` and, for runs not there, the record copies an earlier
    ``kk report`` committed under ``reports/records/`` (``records.archived_runs``): a
    fresh clone that made the same folds reports what the last report did.
    """
    meta = folds_meta(project)
    if meta is None:
        raise KKError(f"project '{project.name}' has no folds yet; run `kk folds {project.name}`")
    runs = runs_with_copies(project.runs_dir)
    return [r for r in runs if r.record.get("fold_hash") == meta["hash"]]


def _fetched_dataset(project: Project, cfg: ProjectConfig) -> Dataset | None:
    """The project's data, or None when it is not fetched here (or does not load)."""
    if not project.raw_dir.is_dir():
        return None
    try:
        return load_dataset(project, cfg)
    except KKError:
        return None


def _encoded_target(
    dataset: Dataset, cfg: ProjectConfig, classes: Sequence[Any] | None
) -> np.ndarray:
    """The train target encoded as a run saw it, rebuilt from the data: for runs made
    before runs saved their ``target.npy``."""
    task = get_task(cfg.competition.task)
    if not task.is_classification:  # values, interaction rows: as the CV loop encodes them
        return task.encode(dataset.target, classes=dataset.classes)[0]
    labels = (
        list(classes) if classes else (dataset.classes or sorted(dataset.target.unique().tolist()))
    )
    # Class labels come back from JSON as str/int/float; match them on their text.
    codes = pd.Categorical(dataset.target.astype(str), categories=[str(c) for c in labels]).codes
    return np.asarray(codes, dtype=np.int64)


def _oof_inputs(
    project: Project, cfg: ProjectConfig, run: Run | None
) -> tuple[np.ndarray | None, np.ndarray | None, list[str] | None]:
    """What the OOF plots of ``run`` read: the encoded train target and, for image data, the
    train images and their label names (None for what is not available here).

    The target comes from the run's ``target.npy``; the data is loaded only for images, or
    to rebuild the target of a run that did not save it.
    """
    if run is None:
        return None, None, None
    saved = run.has_array("target")
    # Records without a data kind (ensembles, older runs) may be of images: load to see.
    maybe_images = run.record.get("data_kind", "images") == "images"
    dataset = _fetched_dataset(project, cfg) if maybe_images or not saved else None
    if saved:
        y = run.load_array("target")
    elif dataset is not None:
        y = _encoded_target(dataset, cfg, run.record.get("classes"))
    else:
        return None, None, None
    if len(run.load_array("oof")) != len(y):
        log.warning("best run's OOF does not match the train rows; OOF plots skipped")
        return None, None, None
    if dataset is None or dataset.kind != "images":
        return y, None, None
    names = dataset.info.get("label_names")
    return y, np.asarray(dataset.X), (list(names) if names else None)


def project_report_markdown(
    project: Project, cfg: ProjectConfig, runs: Sequence[Run], plots: Sequence[Plot]
) -> str:
    """The generated README section: results table, submissions and plots."""
    parts = [results_table_markdown(runs)]
    ablation = ablation_table_markdown(runs)
    if ablation:
        parts += ["### Runs with --set overrides (ablations)", ablation]
    parts += [
        "### Submissions",
        submissions_markdown(read_ledger_entries(project)),
    ]
    if plots:
        parts += ["### Plots", plots_markdown(plots, project.root)]
    return "\n\n".join(parts)


def write_project_report(project: Project) -> ProjectReport:
    """Regenerate ``projects/<name>/README.md``'s results section and its plots.

    Running it twice changes nothing the second time: the section text and every PNG are
    only rewritten when their content differs.
    """
    cfg = project.config()
    runs = current_runs(project)
    if not any(r.status == "COMPLETE" for r in runs):
        raise KKError(
            f"project '{project.name}' has no complete run on its current folds; "
            f"run `kk train {project.name}` first"
        )
    archive_records(runs, project.root / RECORDS_DIR)
    readme = project.root / "README.md"
    if not readme.is_file():
        # Check the markers before drawing anything.
        update_readme_section(readme, "")
    y, images, label_names = _oof_inputs(project, cfg, _best_run(_with_oof(runs)))
    label_names = label_names or (list(cfg.competition.class_names) or None)
    plots = write_plots(
        project.root / PLOTS_DIR,
        runs,
        y=y,
        task=cfg.competition.task,
        threshold=cfg.competition.threshold,
        ledger=read_ledger_entries(project),
        images=images,
        label_names=label_names,
        extra=write_embedding_view(project, project.root / PLOTS_DIR),
    )
    text = project_report_markdown(project, cfg, runs, plots)
    changed = update_readme_section(readme, text)
    return ProjectReport(readme=readme, changed=changed, plots=plots)
