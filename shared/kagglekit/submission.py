"""Submission files: built from test predictions, validated against the sample, scored.

Validation names exactly what is wrong, so a bad file is caught here rather than by
Kaggle's upload (which spends one of the day's submissions).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import kagglekit.atomic as atomic
import kagglekit.loaders as loaders
import kagglekit.records as records
from kagglekit.config import CompetitionConfig, ProjectConfig
from kagglekit.data.tables import read_table
from kagglekit.errors import KKError
from kagglekit.loaders import load_dataset
from kagglekit.metrics import get_metric
from kagglekit.project import Project
from kagglekit.tasks import get_task


def build_submission(
    ids: pd.Series,
    test_pred: np.ndarray,
    comp: CompetitionConfig,
    *,
    classes: Sequence[Any] | None,
    sample: pd.DataFrame,
) -> pd.DataFrame:
    """A submission frame in the sample submission's column layout and id order.

    ``test_pred`` is in the task's prediction space; ``classes`` maps encoded class
    indices back to the competition's labels.
    """
    columns = list(sample.columns)
    body = get_task(comp.task).submission_body(np.asarray(test_pred), comp, columns, classes)
    body.insert(0, columns[0], ids.to_numpy())
    order = pd.Index(body[columns[0]]).get_indexer(sample[columns[0]])
    if (order >= 0).all() and len(order) == len(body):
        body = body.iloc[order].reset_index(drop=True)
    if body[columns[1]].dtype == object:
        body[columns[1]] = body[columns[1]].infer_objects()
    return body


def _examples(values: Any, n: int = 3) -> str:
    # numpy scalars as plain Python values: 7, not np.int64(7)
    items = [v.item() if isinstance(v, np.generic) else v for v in list(values)[:n]]
    more = "" if len(list(values)) <= n else ", ..."
    return ", ".join(map(repr, items)) + more


def submission_problems(
    sub: pd.DataFrame,
    sample: pd.DataFrame,
    comp: CompetitionConfig,
    *,
    allowed_labels: Sequence[Any] | None = None,
) -> list[str]:
    """Everything wrong with ``sub`` compared with the sample submission (empty if valid)."""
    problems: list[str] = []
    task = get_task(comp.task)
    expected = list(sample.columns)
    if list(sub.columns) != expected:
        if set(sub.columns) == set(expected):
            problems.append(
                f"columns are in the wrong order: {list(sub.columns)}, expected {expected}"
            )
        else:
            problems.append(f"columns are {list(sub.columns)}, expected {expected}")
        return problems
    id_col = expected[0]
    if len(sub) != len(sample):
        problems.append(f"{len(sub)} rows, expected {len(sample)}")
    dupes = sub[id_col][sub[id_col].duplicated()]
    if len(dupes):
        problems.append(f"{len(dupes)} duplicated id(s): {_examples(dupes.unique())}")
    sub_ids, sample_ids = set(sub[id_col]), set(sample[id_col])
    missing, extra = sample_ids - sub_ids, sub_ids - sample_ids
    if missing:
        problems.append(f"{len(missing)} id(s) missing: {_examples(sorted(missing, key=str))}")
    if extra:
        problems.append(
            f"{len(extra)} id(s) not in the test set: {_examples(sorted(extra, key=str))}"
        )
    for col in expected[1:]:
        values = sub[col]
        if values.isna().any():
            rows = sub.loc[values.isna(), id_col]
            problems.append(
                f"column '{col}' has {int(values.isna().sum())} NaN value(s) (ids {_examples(rows)})"
            )
            continue
        problems.extend(task.value_problems(col, values, comp, allowed_labels))
    return problems


def validate_submission(
    sub: pd.DataFrame,
    sample: pd.DataFrame,
    comp: CompetitionConfig,
    *,
    allowed_labels: Sequence[Any] | None = None,
) -> None:
    """Raise a one-line ``KKError`` naming every problem, or return if ``sub`` is valid."""
    problems = submission_problems(sub, sample, comp, allowed_labels=allowed_labels)
    if problems:
        raise KKError("invalid submission: " + "; ".join(problems))


def check_against_data(sub: pd.DataFrame, dataset: Any, comp: CompetitionConfig) -> None:
    """Raise a one-line ``KKError`` for what only the train data shows (the task decides:
    a recommendation of an item the user already rated), or return."""
    problems = get_task(comp.task).dataset_problems(sub, dataset, comp)
    if problems:
        raise KKError("invalid submission: " + "; ".join(problems))


def read_submission(path: Any) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise KKError(f"submission file {path} does not exist") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise KKError(f"submission file {path} is not a readable CSV: {err}") from None


def score_submission(
    sub: pd.DataFrame,
    solution: pd.DataFrame,
    comp: CompetitionConfig,
    *,
    classes: Sequence[Any],
) -> dict[str, float]:
    """Score a submission against a solution file: ``{"all": s}`` plus Public/Private if given.

    The solution has the id column, the target column and optionally Kaggle's ``Usage``
    column (``Public``/``Private``).
    """
    id_col, target = comp.id_column, comp.target_column
    metric = get_metric(comp.metric)
    merged = solution.merge(
        sub, on=id_col, how="left", suffixes=("_true", ""), validate="one_to_one"
    )
    pred_cols = [c for c in sub.columns if c != id_col]
    if merged[pred_cols].isna().any().any():
        raise KKError(
            "the submission lacks predictions for some solution ids; validate it with kk submit --dry-run"
        )
    truth_col = f"{target}_true" if target in pred_cols else target
    y_true, pred = get_task(comp.task).scored_arrays(
        merged[truth_col], merged, pred_cols, comp, classes, metric.needs
    )
    scores = {"all": metric(y_true, pred, threshold=comp.threshold)}
    if "Usage" in merged.columns:
        for usage in ("Public", "Private"):
            mask = (merged["Usage"] == usage).to_numpy()
            if mask.any():
                scores[usage.lower()] = metric(y_true[mask], pred[mask], threshold=comp.threshold)
    return scores


def score_locally(
    project: Project, comp: CompetitionConfig, sub: pd.DataFrame, *, classes: Sequence[Any]
) -> dict[str, float]:
    """Score a (validated) submission against the project's local solution file.

    What ``kk score`` reports: ``{"all": s}`` plus Public/Private when the solution has
    Kaggle's ``Usage`` column.
    """
    return score_submission(sub, local_solution(project, project.config()), comp, classes=classes)


def local_solution(project: Project, cfg: ProjectConfig) -> pd.DataFrame:
    """The test labels ``kk score`` scores against: ``competition.solution_file``, or the
    ones the data loader found in the files (e.g. Fashion-MNIST's official test labels).

    A project with neither is a one-line error (Kaggle scores it).
    """
    comp = cfg.competition
    if comp.solution_file:
        return read_table(solution_path(project, comp))
    dataset = load_dataset(project, cfg) if project.raw_dir.is_dir() else None
    if dataset is None or dataset.solution is None:
        solution_path(project, comp)  # raises: no solution file and none in the data
        raise AssertionError("solution_path raises without a solution file")  # pragma: no cover
    return dataset.solution


def solution_path(project: Project, comp: CompetitionConfig) -> Path:
    """The project's local solution file, or a one-line error when it has none."""
    if not comp.solution_file:
        raise KKError(
            f"project '{project.name}' has no solution file (competition.solution_file); "
            "Kaggle scores it: submit it there"
        )
    return project.raw_dir / comp.solution_file


# --- a run's submission.csv -------------------------------------------------------------


def save_run_submission(
    run: records.Run,
    test_ids: pd.Series,
    sample: pd.DataFrame,
    classes: Sequence[Any] | None,
    comp: CompetitionConfig,
    test_pred: np.ndarray,
) -> Path:
    """Build a run's ``submission.csv`` from its test predictions, validate it, write it."""
    sub = build_submission(test_ids, test_pred, comp, classes=classes, sample=sample)
    validate_submission(sub, sample, comp, allowed_labels=classes)
    sub_path = run.path("submission.csv")
    atomic.write_bytes(sub_path, sub.to_csv(index=False).encode("utf-8"))
    run.record.setdefault("files", {})["submission"] = "submission.csv"
    return sub_path


def rebuild_run_submission(project: Project, cfg: ProjectConfig, run: records.Run) -> Path:
    """Rebuild a run's ``submission.csv`` from its saved ``test.npy``, without retraining.

    The current config's submission settings (``competition.submission_format``,
    ``threshold``) apply, so a run that FAILED only at its submission step, or one whose
    format should change, gets a valid submission in seconds. The test ids and sample come
    from the project's loader; the classes from the run's record.

    Parameters
    ----------
    project, cfg
        The project and its current config.
    run
        A finished run (COMPLETE or FAILED) that saved ``test.npy``.

    Returns
    -------
    Path
        The written ``submission.csv``.

    Raises
    ------
    KKError
        The run is still running, saved no test predictions, or the predictions do not
        fit the current test set or submission format.
    """
    status = run.status
    if status == "RUNNING":
        raise KKError(f"run {run.run_id} is {status}; wait for it to finish before rebuilding")
    if not run.path("test.npy").exists():
        raise KKError(
            f"run {run.run_id} ({status}) saved no test predictions (test.npy); "
            f"train again: kk train {project.name} --model {run.record.get('model')}"
        )
    test_pred = run.load_array("test")
    project.import_module()  # the project's own loaders register on import
    dataset = loaders.load_dataset(project, cfg)
    if len(test_pred) != len(dataset.test_ids):
        raise KKError(
            f"run {run.run_id} predicted {len(test_pred)} test rows but the test set has "
            f"{len(dataset.test_ids)}; the data changed since, so train again"
        )
    classes = run.record.get("classes")
    comp = cfg.competition
    path = save_run_submission(
        run,
        dataset.test_ids,
        dataset.sample_submission,
        list(classes) if classes is not None else None,
        comp,
        test_pred,
    )
    run.update(
        submission_rebuilt={
            "at": records.now(),
            "submission_format": comp.submission_format,
            "threshold": comp.threshold,
        }
    )
    return path
