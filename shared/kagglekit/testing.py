"""Test helpers shared by the package's tests and every project's tests.

``make_tiny_project`` writes a small synthetic competition (numeric, categorical and
missing values) as a mirror, plus a project config, the way a user would set one up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kagglekit import atomic


def mirror_dir(folder: str) -> Path:
    """The local-mirror folder for a competition, or skip the calling test saying why."""
    import pytest

    root = os.environ.get("KK_DATA_MIRROR")
    if not root:
        pytest.skip(
            "KK_DATA_MIRROR is not set: real-data tests need a local mirror (e.g. ../shared/data)"
        )
    path = Path(root) / folder
    if not path.is_dir():
        pytest.skip(f"no {folder}/ in the data mirror {root}")
    return path


def make_tiny_frame(n_rows: int = 240, *, seed: int = 0, task: str = "binary") -> pd.DataFrame:
    """A small table with an ``id``, numeric, categorical and missing values and a ``target``."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n_rows)
    x2 = rng.uniform(0, 10, size=n_rows)
    colour = rng.choice(["red", "green", "blue"], size=n_rows)
    x2_missing = np.where(rng.random(n_rows) < 0.1, np.nan, x2)
    signal = 1.5 * x1 + 0.3 * x2 + (colour == "red") * 1.0
    noise = rng.normal(scale=0.6, size=n_rows)
    target: Any
    if task == "regression":
        target = signal + noise
    elif task == "multiclass":
        target = np.digitize(signal + noise, np.quantile(signal, [0.33, 0.66]))
    else:
        target = (signal + noise > np.median(signal)).astype(int)
    return pd.DataFrame(
        {
            "id": np.arange(1000, 1000 + n_rows),
            "x1": x1,
            "x2": x2_missing,
            "colour": colour,
            "target": target,
        }
    )


_METRIC = {"binary": "accuracy", "multiclass": "log_loss", "regression": "rmse"}
_FORMAT = {"binary": "labels", "multiclass": "probabilities", "regression": "values"}


def tiny_config(
    name: str,
    *,
    task: str = "binary",
    metric: str | None = None,
    submission_format: str | None = None,
    n_splits: int = 3,
    extra: str = "",
) -> str:
    """TOML text of a project config for the tiny competition with a few fast models."""
    metric = metric or _METRIC[task]
    fmt = submission_format or _FORMAT[task]
    kind = "kfold" if task == "regression" else "stratified"
    linear = "ridge" if task == "regression" else "logistic_regression"
    return f"""\
default_model = "lightgbm"

[competition]
name = "{name}"
source = {{ kind = "mirror", mirror_folder = "{name}" }}
id_column = "id"
target_column = "target"
task = "{task}"
metric = "{metric}"
submission_format = "{fmt}"
solution_file = "solution.csv"

[cv]
kind = "{kind}"
n_splits = {n_splits}
seed = 7

[models.lightgbm]
backend = "lightgbm"
params = {{ n_estimators = 60, learning_rate = 0.1, num_leaves = 7, min_child_samples = 5, n_jobs = 1 }}
early_stopping_rounds = 10

[models.linear]
backend = "{linear}"
{extra}"""


def make_tiny_project(
    projects: Path,
    name: str = "tiny",
    *,
    task: str = "binary",
    n_rows: int = 240,
    seed: int = 0,
    config: str | None = None,
) -> dict[str, Path]:
    """Write a mirror (train, test, sample submission, solution) and a project config.

    Returns ``{"project": ..., "mirror": ...}``; fetch with ``kk fetch NAME --from MIRROR``.
    """
    from kagglekit.data import make_competition

    source = projects.parent / f"{name}-source.csv"
    atomic.write_bytes(
        source, make_tiny_frame(n_rows, seed=seed, task=task).to_csv(index=False).encode()
    )
    mirror = projects.parent / "mirror" / name
    fmt = _FORMAT[task] if task != "regression" else "labels"
    make_competition(
        source,
        target="target",
        out=mirror,
        id_column="id",
        test_size=0.25,
        seed=seed,
        submission_format=fmt,
    )
    project = projects / name
    atomic.write_text(project / "config.toml", config or tiny_config(name, task=task))
    return {"project": project, "mirror": mirror}


def make_mixed_frame(
    n_rows: int = 300,
    *,
    seed: int = 0,
    task: str = "binary",
    id_column: str = "id",
    target_column: str = "target",
) -> pd.DataFrame:
    """A small table with every kind of raw column a generic tabular competition has.

    Numeric (with missing values), a low-cardinality categorical (with missing values), a
    high-cardinality categorical (``city``, 80 values), a date column as text and a
    ``target`` driven by all of them. Regression targets are positive (``rmsle`` fits).
    """
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n_rows)
    x2 = rng.uniform(0, 10, size=n_rows)
    colour = rng.choice(["red", "green", "blue"], size=n_rows).astype(object)
    city_idx = rng.integers(0, 80, size=n_rows)
    city_effect = np.sin(np.arange(80))[city_idx]
    day = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 730, size=n_rows), "D")
    weekend = np.asarray(day.dayofweek >= 5)
    signal = 1.2 * x1 + 0.2 * x2 + (colour == "red") * 1.0 + 1.0 * city_effect + 0.8 * weekend
    noise = rng.normal(scale=0.5, size=n_rows)
    target: Any
    if task == "regression":
        target = np.round(np.exp(0.3 * (signal + noise)), 4)
    elif task == "multiclass":
        target = np.digitize(signal + noise, np.quantile(signal, [0.33, 0.66]))
    else:
        target = (signal + noise > np.median(signal)).astype(int)
    colour[rng.random(n_rows) < 0.1] = None
    return pd.DataFrame(
        {
            id_column: np.arange(1000, 1000 + n_rows),
            "x1": x1,
            "x2": np.where(rng.random(n_rows) < 0.1, np.nan, x2),
            "colour": colour,
            "city": [f"city_{i:02d}" for i in city_idx],
            "signup_date": day.strftime("%Y-%m-%d"),
            target_column: target,
        }
    )
