"""Competition tables: reading the CSVs in ``data/raw/`` and checking that they agree.

:func:`load_competition` verifies the raw files first (see :mod:`kagglekit.data.raw`),
then checks train against test before any model sees them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kagglekit.config import CompetitionConfig, ProjectConfig
from kagglekit.data.raw import verify_raw
from kagglekit.errors import KKError, plain, short_list
from kagglekit.project import Project
from kagglekit.tasks import get_task

log = logging.getLogger(__name__)


@dataclass
class Competition:
    """The loaded, checked competition frames."""

    train: pd.DataFrame
    test: pd.DataFrame
    sample_submission: pd.DataFrame
    solution: pd.DataFrame | None


def read_table(path: Path) -> pd.DataFrame:
    """Read a competition CSV (gz/zip allowed), with a clear error when it is missing."""
    if not path.exists():
        raise KKError(
            f"data file {path} is missing; run kk fetch or fix the file name in config.toml"
        )
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise KKError(
            f"data file {path} is not a readable CSV ({str(err).strip()}); "
            "check that it is a comma-separated text file"
        ) from None


def load_competition(project: Project, cfg: ProjectConfig, *, verify: bool = True) -> Competition:
    """Load train, test, sample submission and (if configured) solution, and check them."""
    if verify:
        verify_raw(project)
    comp = cfg.competition
    raw = project.raw_dir
    train = read_table(raw / comp.train_file)
    test = read_table(raw / comp.test_file)
    sample = read_table(raw / comp.sample_submission_file)
    solution = read_table(raw / comp.solution_file) if comp.solution_file else None
    test = check_frames(train, test, comp, train_only=cfg.features.drop)
    return Competition(train=train, test=test, sample_submission=sample, solution=solution)


def check_frames(
    train: pd.DataFrame,
    test: pd.DataFrame,
    comp: CompetitionConfig,
    *,
    train_only: Sequence[str] = (),
) -> pd.DataFrame:
    """Check raw train/test agreement; return ``test`` with columns in train's order.

    Raises on: target missing from train or present in test, id column missing or
    duplicated, or a column set that disagrees between train and test. Columns of
    ``train_only`` (the config's ``features.drop``) may be missing from test: train-only
    columns such as Bike Sharing's ``casual``/``registered`` (parts of the target) are
    dropped before any model sees them.
    """
    if comp.target_column not in train.columns:
        raise KKError(
            f"target column '{comp.target_column}' is not in train (columns: "
            f"{short_list(train.columns)}); fix competition.target_column"
        )
    if comp.target_column in test.columns:
        raise KKError(
            f"target column '{comp.target_column}' is present in test; the test file must not "
            "contain the answer: check competition.test_file"
        )
    for name, frame in (("train", train), ("test", test)):
        if comp.id_column not in frame.columns:
            raise KKError(
                f"id column '{comp.id_column}' is not in {name}; fix competition.id_column"
            )
        dupes = frame[comp.id_column][frame[comp.id_column].duplicated()]
        if len(dupes):
            raise KKError(
                f"id column '{comp.id_column}' has {len(dupes)} duplicated value(s) in {name} "
                f"(first: {plain(dupes.iloc[0])!r}); ids must be unique"
            )
    if train[comp.target_column].isna().any():
        n_missing = int(train[comp.target_column].isna().sum())
        raise KKError(
            f"target column '{comp.target_column}' has {n_missing} missing value(s) in train"
        )
    dropped = set(train_only) - set(test.columns)
    expected = [c for c in train.columns if c != comp.target_column and c not in dropped]
    missing = [c for c in expected if c not in test.columns]
    extra = [c for c in test.columns if c not in expected]
    if extra:
        raise KKError(
            f"train and test columns disagree: missing from test {missing}, only in test {extra}; "
            "check that both files come from the same competition"
        )
    if missing:
        raise KKError(
            f"train and test columns disagree: {missing} in train but not in test; if only "
            "train has them (such as parts of the target), add them to features.drop"
        )
    if list(test.columns) != expected:
        # Same columns, other order: align explicitly so no model ever sees them swapped.
        log.warning("test columns are in a different order than train's; aligning them")
        test = test[expected]
    task = get_task(comp.task)
    if pd.api.types.is_float_dtype(train[comp.target_column]) and task.is_classification:
        values = train[comp.target_column].to_numpy()
        if not np.all(np.equal(np.mod(values, 1), 0)):
            raise KKError(
                f"target '{comp.target_column}' has fractional values but task is '{comp.task}'; "
                'set competition.task = "regression"'
            )
    return test


def infer_task(target: pd.Series) -> str:
    """binary / multiclass / regression from a target column's values."""
    n_unique = target.nunique(dropna=True)
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        return "binary" if n_unique == 2 else "multiclass"
    values = target.dropna().to_numpy(dtype=float)
    if np.all(np.mod(values, 1) == 0) and n_unique <= 20:
        return "binary" if n_unique == 2 else "multiclass"
    return "regression"
