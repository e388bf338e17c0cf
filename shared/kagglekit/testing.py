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

import kagglekit.atomic as atomic
from kagglekit.tasks import get_task


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


def competition_toml(
    name: str,
    *,
    task: str,
    metric: str,
    submission_format: str,
    cv_kind: str | None = None,
    n_splits: int = 5,
    n_repeats: int = 1,
    seed: int = 42,
) -> str:
    """The top of a project config for a mirror competition with a local solution file.

    ``default_model = "lightgbm"``, ``[competition]`` and ``[cv]`` (stratified, or k-fold for
    regression); append the ``[models.*]`` tables.
    """
    kind = cv_kind or ("stratified" if get_task(task).is_classification else "kfold")
    repeats = f"n_repeats = {n_repeats}\n" if n_repeats != 1 else ""
    return f"""\
default_model = "lightgbm"

[competition]
name = "{name}"
source = {{ kind = "mirror", mirror_folder = "{name}" }}
id_column = "id"
target_column = "target"
task = "{task}"
metric = "{metric}"
submission_format = "{submission_format}"
solution_file = "solution.csv"

[cv]
kind = "{kind}"
n_splits = {n_splits}
{repeats}seed = {seed}
"""


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
    top = competition_toml(
        name,
        task=task,
        metric=metric or _METRIC[task],
        submission_format=submission_format or _FORMAT[task],
        n_splits=n_splits,
        seed=7,
    )
    linear = "logistic_regression" if get_task(task).is_classification else "ridge"
    return f"""{top}
[models.lightgbm]
backend = "lightgbm"
params = {{ n_estimators = 60, learning_rate = 0.1, num_leaves = 7, min_child_samples = 5, n_jobs = 1 }}
early_stopping_rounds = 10

[models.linear]
backend = "{linear}"
{extra}"""


def _mirror(
    frame: pd.DataFrame, workdir: Path, name: str, *, test_size: float, seed: int, fmt: str
) -> Path:
    """``frame`` as a CSV made into a competition mirror at ``workdir/mirror/<name>``."""
    from kagglekit.data.synthetic import make_competition

    csv = workdir / f"{name}-source.csv"
    atomic.write_bytes(csv, frame.to_csv(index=False).encode())
    mirror = workdir / "mirror" / name
    make_competition(
        csv,
        target="target",
        out=mirror,
        id_column="id" if "id" in frame.columns else None,
        test_size=test_size,
        seed=seed,
        # make_competition writes a value column for regression whatever the format says.
        submission_format="probabilities" if fmt == "probabilities" else "labels",
    )
    return mirror


def sklearn_competition(
    workdir: Path, loader: str, name: str, *, seed: int = 0, submission_format: str = "labels"
) -> Path:
    """A scikit-learn dataset (``loader``, e.g. ``"load_breast_cancer"``) as a competition.

    30 % of the rows become the test set (split ``seed``), their labels the solution.
    Returns the mirror folder, ``workdir/mirror/<name>``.
    """
    import sklearn.datasets

    frame = getattr(sklearn.datasets, loader)(as_frame=True).frame
    return _mirror(frame, workdir, name, test_size=0.3, seed=seed, fmt=submission_format)


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
    frame = make_tiny_frame(n_rows, seed=seed, task=task)
    mirror = _mirror(frame, projects.parent, name, test_size=0.25, seed=seed, fmt=_FORMAT[task])
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
    weekend = np.asarray(day.day_of_week >= 5)
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


def fixture_config(raw: dict[str, Any], *, n_jobs: int = 1) -> dict[str, Any]:
    """A project's raw config made to run on ``make_mixed_frame`` data, quickly.

    The project's own features (function, steps, column lists) are switched off, since
    the synthetic columns are not the real ones; folds become 3 plain (stratified) folds;
    models get ``n_jobs`` threads and forests at most 50 trees. Everything else (the
    competition answers, ``features.auto``, model parameters) is kept.
    """
    import copy

    from kagglekit.models import get_backend

    cfg = copy.deepcopy(raw)
    comp = cfg["competition"]
    comp["solution_file"] = "solution.csv"
    features = cfg.setdefault("features", {})
    features.update(function="", steps=[], drop=[], target_encode=[], count_encode=[])
    classify = get_task(comp["task"]).is_classification
    cfg["cv"] = {"kind": "stratified" if classify else "kfold", "n_splits": 3, "seed": 0}
    for entry in cfg["models"].values():
        entry["steps"] = []
        known = get_backend(entry["backend"]).known_params(comp["task"])
        params = entry.setdefault("params", {})
        if "n_jobs" in known and get_backend(entry["backend"]).family != "linear":
            params["n_jobs"] = n_jobs
        if get_backend(entry["backend"]).family == "tree" and "n_estimators" in known:
            params["n_estimators"] = min(int(params.get("n_estimators", 50)), 50)
    return cfg


def check_project_on_fixture(
    project_dir: Path, workdir: Path, *, model: str | None = None, n_rows: int = 200
) -> dict[str, Any]:
    """Run a project's config end to end on a tiny synthetic competition.

    Writes a competition with the project's id column, target, task and file names into
    ``workdir``, then fetches, assigns folds, trains ``model`` (default: the config's),
    validates the submission and scores it locally. Used by generated projects' tests.
    """
    import tomllib

    from kagglekit import submission, training
    from kagglekit.config import validate_config
    from kagglekit.data.synthetic import make_competition
    from kagglekit.data.tables import read_table

    raw = tomllib.loads((Path(project_dir) / "config.toml").read_text(encoding="utf-8"))
    cfg = validate_config(fixture_config(raw), source=f"{project_dir}/config.toml for the fixture")
    comp = cfg.competition
    frame = make_mixed_frame(
        n_rows, task=comp.task, id_column=comp.id_column, target_column=comp.target_column
    )
    source = workdir / "source.csv"
    atomic.write_bytes(source, frame.to_csv(index=False).encode())
    mirror = workdir / "mirror"
    fmt = "probabilities" if comp.submission_format == "probabilities" else "labels"
    make_competition(
        source,
        target=comp.target_column,
        out=mirror,
        id_column=comp.id_column,
        test_size=0.25,
        seed=0,
        submission_format=fmt,
    )
    for default, configured in (
        ("train.csv", comp.train_file),
        ("test.csv", comp.test_file),
        ("sample_submission.csv", comp.sample_submission_file),
    ):
        if default != configured:
            (mirror / default).rename(mirror / configured)
    project = ready_copy(project_dir, workdir, cfg, mirror)
    result = training.train(project, cfg, model_name=model)
    sub = submission.read_submission(result.submission_path)
    solution = read_table(project.raw_dir / "solution.csv")
    scores = submission.score_submission(
        sub, solution, comp, classes=result.run.record.get("classes") or []
    )
    return {
        "status": result.run.status,
        "cv_mean": result.cv.mean,
        "n_test": len(solution),
        "n_submission_rows": len(sub),
        "local_score": scores["all"],
    }


def train_and_score(
    project: Any, cfg: Any, model: str | None, *, smoke: bool = True
) -> dict[str, Any]:
    """Smoke-test (optional), train ``model`` (None: the default) and score its submission.

    The one tail of every kind's fixture run (``vision.testing``, ``text.testing``,
    ``recsys.testing``): what a user sees after ``kk train --smoke``, ``kk train`` and
    ``kk score`` on a generated project.
    """
    from kagglekit import submission, training

    smoke_result = training.smoke_test(project, cfg, model_name=model) if smoke else None
    result = training.train(project, cfg, model_name=model)
    sub = submission.read_submission(result.submission_path)
    solution = submission.local_solution(project, cfg)
    scores = submission.score_submission(
        sub, solution, cfg.competition, classes=result.run.record.get("classes") or []
    )
    return {
        "status": result.run.status,
        "smoke_score": None if smoke_result is None else smoke_result.score,
        "cv_mean": result.cv.mean,
        "n_test": len(solution),
        "n_submission_rows": len(sub),
        "local_score": scores["all"],
        "record": result.run.record,
        "result": result,
    }


def ready_copy(project_dir: Path | str, workdir: Path, cfg: Any, mirror: Path) -> Any:
    """A copy of a project's config and features in ``workdir``, fetched and with folds.

    The project's own data, folds and runs are never touched.
    """
    import shutil

    from kagglekit import folds
    from kagglekit.data.raw import fetch
    from kagglekit.loaders import required_files
    from kagglekit.project import Project

    project = Project(
        name=Path(project_dir).name, root=workdir / "projects" / Path(project_dir).name
    )
    project.root.mkdir(parents=True)
    for name in ("config.toml", "features.py"):
        if (Path(project_dir) / name).is_file():
            shutil.copy(Path(project_dir) / name, project.root / name)
    fetch(project, cfg, from_dir=mirror, required=required_files(project, cfg))
    folds.assign_project_folds(project, cfg)
    return project


def run_kk_inprocess(capsys: Any, monkeypatch: Any, *args: str) -> tuple[int, str, str]:
    """Run ``kk``'s entry point in this process: ``(exit code, stdout, stderr)``.

    The same error handling as the console script, without a new interpreter per call;
    ``capsys`` and ``monkeypatch`` are pytest's fixtures.
    """
    import sys

    from kagglekit.cli import main

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["kk", *args])
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err
