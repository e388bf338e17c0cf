"""A synthetic competition from any CSV: ``kk make-competition`` and the demo use it.

:func:`make_competition` splits a table into train, test, a sample submission and a
solution with Kaggle's ``Usage`` column; :func:`kk_new_line` is the ``kk new`` command
whose answers match what it wrote.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import kagglekit.atomic as atomic
from kagglekit.data.tables import infer_task, read_table
from kagglekit.errors import KKError, short_list
from kagglekit.tasks import Task, get_task


def _short(values: list[Any], n: int = 5) -> str:
    """The first ``n`` values, for a message."""
    return ", ".join(map(repr, values[:n])) + (", ..." if len(values) > n else "")


def make_competition(
    csv: Path,
    *,
    target: str,
    out: Path,
    id_column: str | None = None,
    test_size: float = 0.3,
    seed: int = 0,
    public_fraction: float = 0.5,
    submission_format: str = "labels",
) -> dict[str, Any]:
    """Turn any CSV into a competition: train, test, sample submission and a solution.

    The solution has Kaggle's ``Usage`` column (``Public``/``Private``) so ``kk score``
    can show both leaderboards. Classification splits are stratified. With
    ``submission_format="probabilities"`` a multiclass sample submission has one column
    per class (named after the labels), as Kaggle's multiclass competitions do.
    """
    from sklearn.model_selection import train_test_split

    if submission_format not in ("labels", "probabilities"):
        raise KKError(f"--format '{submission_format}' is not known; use labels or probabilities")
    if not 0.0 < test_size < 1.0:
        raise KKError(f"--test-size {test_size} must be between 0 and 1 (e.g. 0.3)")
    frame = read_table(Path(csv))
    if target not in frame.columns:
        raise KKError(
            f"--target '{target}' is not a column of {csv} (columns: {short_list(frame.columns, 10)})"
        )
    if frame[target].isna().any():
        raise KKError(f"--target '{target}' has missing values in {csv}; drop those rows first")
    if id_column is None:
        id_column = "id"
        if id_column in frame.columns:
            raise KKError(f"{csv} already has an 'id' column; pass --id id to use it")
        frame.insert(0, id_column, np.arange(len(frame)))
    elif id_column not in frame.columns:
        raise KKError(f"--id '{id_column}' is not a column of {csv}")
    elif frame[id_column].duplicated().any():
        raise KKError(f"--id '{id_column}' has duplicated values in {csv}; ids must be unique")
    if out.exists() and any(out.iterdir()):
        raise KKError(f"--out {out} is not empty; choose a new folder or delete it")
    task = get_task(infer_task(frame[target]))
    stratify = frame[target] if task.stratifies else None
    if stratify is not None:
        counts = stratify.value_counts()
        rare = counts[counts < 2].index.tolist()
        if rare:
            raise KKError(
                f"--target '{target}' has class(es) with a single row ({_short(rare)}); the "
                "stratified split needs at least 2 rows per class: drop or merge those rows"
            )
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
    train, test = train.sort_values(id_column), test.sort_values(id_column)
    features = [c for c in frame.columns if c != target]
    fill = train[target].mode().iloc[0] if task.is_classification else float(train[target].mean())
    sample = pd.DataFrame({id_column: test[id_column].to_numpy(), target: fill})
    # Probabilities of a binary task are one column (the class encoded 1, as its threshold
    # reads them); those of a multiclass task one column per class, as on Kaggle.
    if submission_format == "probabilities" and task.is_classification and not task.uses_threshold:
        classes = sorted(train[target].unique().tolist())
        sample = pd.DataFrame({id_column: test[id_column].to_numpy()})
        for label in classes:
            sample[str(label)] = 1.0 / len(classes)
    elif submission_format == "probabilities":
        sample[target] = float((train[target] == sorted(train[target].unique())[-1]).mean())
    rng = np.random.default_rng(seed)
    usage = np.where(rng.random(len(test)) < public_fraction, "Public", "Private")
    solution = pd.DataFrame(
        {id_column: test[id_column].to_numpy(), target: test[target].to_numpy(), "Usage": usage}
    )
    files = {
        "train.csv": train[[*features, target]],
        "test.csv": test[features],
        "sample_submission.csv": sample,
        "solution.csv": solution,
    }
    for name, table in files.items():
        atomic.write_bytes(out / name, table.to_csv(index=False).encode("utf-8"))
    info: dict[str, Any] = {
        "out": str(out),
        "task": task.name,
        "id_column": id_column,
        "target_column": target,
        "n_train": len(train),
        "n_test": len(test),
        "solution_file": "solution.csv",
        **_matching_answers(task, submission_format),
    }
    info["slug"] = _slug_of(out)
    info["kk_new"] = kk_new_line(info)
    return info


def _matching_answers(task: Task, submission_format: str) -> dict[str, str]:
    """The metric and submission format a project scoring this competition should use."""
    metric, answer_format = task.default_scoring(submission_format)
    return {"metric": metric, "submission_format": answer_format}


def _slug_of(out: Path) -> str:
    """The output folder's name as a valid project name."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", Path(out).resolve().name.lower()).strip("-_")
    return slug or "my-competition"


def kk_new_line(info: dict[str, Any]) -> str:
    """The ``kk new tabular ...`` command that makes a project for a made competition.

    Its answers (task, metric, submission format, id/target columns, the solution file)
    match what :func:`make_competition` wrote, so ``kk fetch SLUG --from OUT`` then
    ``kk score`` work with no ``--set``. ``info`` is what :func:`make_competition` returns
    (its ``slug`` is the output folder's name, made a valid project name).
    """
    parts = [
        "kk", "new", "tabular", str(info["slug"]), "--no-input",
        "--id-column", str(info["id_column"]),
        "--target", str(info["target_column"]),
        "--task", str(info["task"]),
        "--metric", str(info["metric"]),
        "--set", f"submission_format={info['submission_format']}",
        "--set", f"solution_file={info['solution_file']}",
    ]  # fmt: skip
    return shlex.join(parts)
