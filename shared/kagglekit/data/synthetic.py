"""A synthetic competition from any CSV: ``kk make-competition`` and the demo use it.

:func:`make_competition` splits a table into train, test, a sample submission and a
solution with Kaggle's ``Usage`` column; :func:`project_kind` says which template reads
such a table (a text column: nlp; pixel columns: vision; user, item and rating: recsys;
else tabular) and :func:`kk_new_line` is the ``kk new`` command whose answers match what
it wrote, reading the files from where they were written (no Kaggle).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection
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

    check_split(submission_format, test_size)
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
    check_out(out)
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
    sample, solution = scoring_frames(
        train[target], test[id_column], test[target], task=task,
        submission_format=submission_format, seed=seed, public_fraction=public_fraction,
    )  # fmt: skip
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
        **matching_answers(task, submission_format),
    }
    info["slug"] = slug_of(out)
    info["kind"], info["answers"], info["why"] = project_kind(frame, target, id_column, task)
    info["kk_new"] = kk_new_line(info)
    return info


def check_split(submission_format: str, test_size: float) -> None:
    """The options every made competition shares, or a one-line error."""
    if submission_format not in ("labels", "probabilities"):
        raise KKError(f"--format '{submission_format}' is not known; use labels or probabilities")
    if not 0.0 < test_size < 1.0:
        raise KKError(f"--test-size {test_size} must be between 0 and 1 (e.g. 0.3)")


def check_out(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise KKError(f"--out {out} is not empty; choose a new folder or delete it")


def scoring_frames(
    train_target: pd.Series,
    test_ids: pd.Series,
    test_target: pd.Series,
    *,
    task: Task,
    submission_format: str,
    seed: int,
    public_fraction: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sample submission and the solution (with Kaggle's ``Usage`` column) of a made
    competition: the sample predicts the training rows' majority class (or mean); with
    probabilities a binary task has one column (the class encoded 1, as its threshold
    reads them) and a multiclass task one column per class, as on Kaggle."""
    id_column, target = str(test_ids.name), str(train_target.name)
    ids = test_ids.to_numpy()
    fill = train_target.mode().iloc[0] if task.is_classification else float(train_target.mean())
    sample = pd.DataFrame({id_column: ids, target: fill})
    classes = sorted(train_target.unique().tolist())
    if submission_format == "probabilities" and task.is_classification and not task.uses_threshold:
        sample = pd.DataFrame({id_column: ids, **{str(c): 1.0 / len(classes) for c in classes}})
    elif submission_format == "probabilities":
        sample[target] = float((train_target == classes[-1]).mean())
    rng = np.random.default_rng(seed)
    usage = np.where(rng.random(len(ids)) < public_fraction, "Public", "Private")
    solution = pd.DataFrame({id_column: ids, target: test_target.to_numpy(), "Usage": usage})
    return sample, solution


def matching_answers(task: Task, submission_format: str) -> dict[str, str]:
    """The metric and submission format a project scoring this competition should use."""
    metric, answer_format = task.default_scoring(submission_format)
    return {"metric": metric, "submission_format": answer_format}


def slug_of(out: Path) -> str:
    """The output folder's name as a valid project name."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", Path(out).resolve().name.lower()).strip("-_")
    return slug or "my-competition"


_PIXEL = re.compile(r"pixel_?\d+")  # the vision loader's pixel column names
_USER = re.compile(r"(?i)user_?id|user|uid|customer_?id")
_ITEM = re.compile(r"(?i)(item|movie|product|book|song|artist)(_?id)?|iid")
_TIME = re.compile(r"(?i)timestamp|time|date|ts")
# A text column: its values average this many characters (a tweet is ~100; a city or
# keyword column, the short side columns, stays well under it).
_TEXT_CHARS = 30


def project_kind(
    frame: pd.DataFrame, target: str, id_column: str, task: Task
) -> tuple[str, dict[str, str], str]:
    """Which template reads this table: ``(kind, its extra answers, why)``.

    - vision: pixel columns (``pixel0..pixelN``, integers 0-255) and integer labels;
    - recsys: a user and an item column beside a numeric target (a rating);
    - nlp: a column of text (values of ``_TEXT_CHARS`` characters or more on average) and
      no other feature columns than short text ones (its side columns), for a label;
    - tabular otherwise (a text column among numbers: the tabular ``text`` fold step).
    """
    features = [c for c in frame.columns if c not in (target, id_column)]
    pixels = [c for c in features if _PIXEL.fullmatch(str(c))]
    integer = pd.api.types.is_integer_dtype(frame[target])
    if pixels and len(pixels) == len(features) and integer and task.is_classification:
        why = f"{len(pixels)} pixel columns"
        return "vision", {"layout": "auto"}, why
    users = [c for c in features if _USER.fullmatch(str(c))]
    items = [c for c in features if _ITEM.fullmatch(str(c))]
    if users and items and pd.api.types.is_numeric_dtype(frame[target]):
        times = [c for c in features if _TIME.fullmatch(str(c))]
        answers = {
            "format": "csv", "task": "regression", "user_column": str(users[0]),
            "item_column": str(items[0]), "rating_column": target,
            "timestamp_column": str(times[0]) if times else "",
        }  # fmt: skip
        if not times:
            answers["cv"] = "kfold"  # user_last needs an order column
        return "recsys", answers, f"user column '{users[0]}', item column '{items[0]}'"
    texts = [c for c in features if pd.api.types.is_string_dtype(frame[c])]
    lengths = {c: frame[c].dropna().astype(str).str.len().mean() for c in texts}
    long = [c for c in texts if lengths[c] >= _TEXT_CHARS]
    if long and len(texts) == len(features) and task.is_classification:
        text = max(long, key=lambda c: lengths[c])
        sides = ",".join(str(c) for c in texts if c != text)
        why = f"column '{text}' holds text ({lengths[text]:.0f} characters on average)"
        return "nlp", {"text_column": str(text), "side_columns": sides}, why
    return "tabular", {}, "a table"


def kk_new_line(info: dict[str, Any], questions: Collection[str] | None = None) -> str:
    """The ``kk new KIND ...`` command that makes a project for a made competition.

    Its answers (task, metric, submission format, id/target columns, the solution file,
    the folder the files are in as its local source) match what :func:`make_competition`
    wrote, so ``kk fetch SLUG`` then ``kk score`` work with no ``--set`` and no Kaggle
    account. ``info`` is what :func:`make_competition` returns (its ``slug`` is the output
    folder's name, made a valid project name; its ``kind`` and ``answers`` are
    :func:`project_kind`'s). ``questions``: the template's questions, when known; an
    answer it does not ask is left out.
    """
    kind = str(info.get("kind", "tabular"))
    answers = {
        "submission_format": str(info["submission_format"]),
        "solution_file": str(info["solution_file"]),
        "source_dir": str(Path(info["out"]).resolve()),
        **{k: str(v) for k, v in (info.get("answers") or {}).items()},
    }
    answers.setdefault("task", str(info["task"]))
    parts = [
        "kk", "new", kind, str(info["slug"]), "--no-input",
        "--id-column", str(info["id_column"]),
        "--target", str(info["target_column"]),
        "--task", answers.pop("task"),
        "--metric", str(info["metric"]),
    ]  # fmt: skip
    for key, value in answers.items():
        if questions is None or key in questions:
            parts += ["--set", f"{key}={value}"]
    return shlex.join(parts)
