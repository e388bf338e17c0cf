"""The CV loop and ``train``: OOF at the fold's rows, fresh models, averaged test
predictions, and a run record that always ends COMPLETE or FAILED."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from kagglekit import data, folds, records, training
from kagglekit.errors import KKError
from kagglekit.metrics import get_metric
from kagglekit.project import Project, open_project
from kagglekit.tasks import get_task
from kagglekit.testing import make_tiny_project


def _folds(n_rows: int, n_splits: int = 3, n_repeats: int = 1) -> folds.Folds:
    rng = np.random.default_rng(0)
    assignment = np.stack([rng.permutation(np.arange(n_rows) % n_splits) for _ in range(n_repeats)])
    return folds.Folds(assignment=assignment, hash="h", kind="kfold", n_splits=n_splits)


class RowEcho:
    """Predicts each row's own position (column ``pos``), so OOF placement is visible."""

    instances: ClassVar[list[RowEcho]] = []

    def __init__(self) -> None:
        self.fitted_on: np.ndarray | None = None
        RowEcho.instances.append(self)

    def fit(
        self, X: Any, y: np.ndarray, *, X_valid: Any = None, y_valid: Any = None, **kw: Any
    ) -> RowEcho:
        if self.fitted_on is not None:
            raise AssertionError("a model was fitted twice: the CV loop must build one per fold")
        self.fitted_on = X["pos"].to_numpy()
        self.n_valid = len(X_valid)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return X["pos"].to_numpy(dtype=float)

    def learned(self) -> dict[str, Any]:
        return {"n_fit": len(self.fitted_on) if self.fitted_on is not None else 0}


def _xy(n_rows: int = 30) -> tuple[pd.DataFrame, np.ndarray]:
    X = pd.DataFrame({"pos": np.arange(n_rows)})
    return X, np.arange(n_rows, dtype=float)


def test_oof_is_written_at_each_folds_indices_with_a_fresh_model_per_fold() -> None:
    RowEcho.instances = []
    X, y = _xy()
    fold_set = _folds(len(y), n_splits=3, n_repeats=2)
    seen: list[int] = []
    result = training.cross_validate(
        X,
        y,
        fold_set,
        RowEcho,
        get_metric("rmse"),
        task=get_task("regression"),
        on_fold=lambda f, done: seen.append(len(done)),
    )
    assert result.oof.shape == (2, 30)
    np.testing.assert_array_equal(result.oof[0], y)  # each row got its own prediction
    np.testing.assert_array_equal(result.oof[1], y)
    assert len(RowEcho.instances) == 6 and len({id(m) for m in RowEcho.instances}) == 6
    for model, split in zip(RowEcho.instances, fold_set.splits(), strict=True):
        np.testing.assert_array_equal(model.fitted_on, split.train_idx)
        assert model.n_valid == len(split.valid_idx)
    assert seen == [1, 2, 3, 4, 5, 6]
    assert [(f.repeat, f.fold) for f in result.folds] == [(r, k) for r in (0, 1) for k in range(3)]
    assert all(f.score == 0.0 and f.n_train + f.n_valid == 30 for f in result.folds)
    assert result.mean == 0.0 and result.std == 0.0


def test_test_predictions_are_averaged_over_folds() -> None:
    class FoldConstant(RowEcho):
        count = 0

        def fit(self, X: Any, y: np.ndarray, **kw: Any) -> FoldConstant:
            FoldConstant.count += 1
            self.k = FoldConstant.count
            return self

        def predict(self, X: Any) -> np.ndarray:
            return np.full(len(X), float(self.k))

    X, y = _xy()
    result = training.cross_validate(
        X,
        y,
        _folds(30, n_splits=5),
        FoldConstant,
        get_metric("rmse"),
        task=get_task("regression"),
        X_test=X.head(4),
    )
    np.testing.assert_allclose(result.test_pred, np.full(4, 3.0))  # mean of 1..5


def test_an_unfilled_oof_row_raises() -> None:
    X, y = _xy()
    fold_set = _folds(30)
    # A corrupt assignment: row 7 says fold 3 of a 3-fold scheme, so no split validates it.
    assignment = fold_set.assignment.copy()
    assignment[0, 7] = 3
    broken = folds.Folds(assignment=assignment, hash="h", kind="kfold", n_splits=3)
    with pytest.raises(RuntimeError, match=r"1 validated rows got no OOF prediction"):
        training.cross_validate(
            X, y, broken, RowEcho, get_metric("mae"), task=get_task("regression")
        )


def test_multiclass_oof_has_a_class_axis() -> None:
    class Uniform(RowEcho):
        def predict(self, X: Any) -> np.ndarray:
            return np.full((len(X), 3), 1 / 3)

    X, _ = _xy()
    y = np.arange(30) % 3
    result = training.cross_validate(
        X, y, _folds(30), Uniform, get_metric("log_loss"), task=get_task("multiclass"), n_outputs=3
    )
    assert result.oof.shape == (1, 30, 3)
    np.testing.assert_allclose(result.scores, np.log(3))


def test_encode_target() -> None:
    codes, classes = training.encode_target(pd.Series(["b", "a", "b"]), "binary")
    assert classes == ["a", "b"] and codes.tolist() == [1, 0, 1]
    with pytest.raises(KKError, match=r"task 'binary' but the target has 3 classes"):
        training.encode_target(pd.Series([0, 1, 2]), "binary")
    values, none = training.encode_target(pd.Series([1, 2.5]), "regression")
    assert none is None and values.dtype == np.float64


# --- train(): the run record ------------------------------------------------------------


def _ready(projects_dir: Path, task: str = "binary", **kwargs: Any) -> Project:
    paths = make_tiny_project(projects_dir, "tiny", task=task, **kwargs)
    project = open_project("tiny")
    data.fetch(project, project.config(), from_dir=paths["mirror"])
    folds.assign_project_folds(project, project.config())
    return project


REQUIRED = {
    "run_id", "model", "backend", "status", "started_at", "ended_at", "wall_seconds", "pid",
    "host", "git", "versions", "config", "overrides", "seeds", "fold_hash", "metric",
    "greater_is_better", "task", "classes", "n_train", "n_test", "fold_scores", "cv_mean",
    "cv_std", "oof_score", "files",
}  # fmt: skip


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_train_writes_a_complete_run(projects_dir: Path, task: str) -> None:
    project = _ready(projects_dir, task)
    cfg = project.config(["cv.n_repeats=1"])
    statuses: list[str] = []

    def on_fold(fold: Any, done: Any) -> None:
        (run_dir,) = list(project.runs_dir.iterdir())
        statuses.append(records.load_run(run_dir).record["status"])

    result = training.train(project, cfg, overrides=["cv.n_repeats=1"], on_fold=on_fold)
    assert statuses == ["RUNNING"] * 3
    run = records.load_run(result.run.folder)
    rec = run.record
    assert run.status == "COMPLETE"
    assert set(rec) >= REQUIRED, REQUIRED - set(rec)
    assert rec["config"] == cfg.model_dump(mode="json")
    assert rec["overrides"] == ["cv.n_repeats=1"]
    assert rec["seeds"] == {"cv": 7, "model": 42}
    assert rec["fold_hash"] == folds.folds_meta(project)["hash"]  # type: ignore[index]
    assert {"python", "numpy", "scikit-learn", "lightgbm"} <= set(rec["versions"])
    assert set(rec["git"]) == {"commit", "dirty"}
    assert len(rec["fold_scores"]) == 3
    assert all(
        {"score", "seconds", "n_train", "n_valid", "learned"} <= set(f) for f in rec["fold_scores"]
    )
    assert all("best_iteration" in f["learned"] for f in rec["fold_scores"])
    assert rec["cv_mean"] == pytest.approx(np.mean([f["score"] for f in rec["fold_scores"]]))
    oof = run.load_array("oof")
    test = run.load_array("test")
    n_train, n_test = rec["n_train"], rec["n_test"]
    expected_oof = (n_train, 3) if task == "multiclass" else (n_train,)
    assert oof.shape == expected_oof and not np.isnan(oof).any()
    np.testing.assert_array_equal(oof, result.cv.oof_mean())
    assert test.shape == ((n_test, 3) if task == "multiclass" else (n_test,))
    sub = pd.read_csv(run.path("submission.csv"))
    assert len(sub) == n_test and rec["files"]["submission"] == "submission.csv"
    assert result.summary()["cv_mean"] == rec["cv_mean"]
    # nothing but the run's own files, no temp files left behind
    # (and each fold model's test predictions, for pseudo-labels, where a task has labels)
    per_fold = [] if task == "regression" else ["test_folds.npy"]
    assert sorted(p.name for p in run.folder.iterdir()) == [
        "oof.npy", "record.json", "submission.csv", "target.npy", "test.npy", *per_fold
    ]  # fmt: skip
    # what reports read instead of reloading the data: the target as the loop encoded it,
    # and the last-epoch CV (None: LightGBM trains no epochs)
    np.testing.assert_array_equal(run.load_array("target"), training.prepare(project, cfg).y)
    assert "cv_last_epoch" in rec and rec["cv_last_epoch"] is None
    if per_fold:
        np.testing.assert_allclose(run.load_array("test_folds").mean(axis=0), test)


def test_last_epoch_cv_is_the_records_own_or_computed_for_old_records() -> None:
    """Runs record ``cv_last_epoch``; a record from before (or its committed copy) gets it
    computed from its folds' epoch histories, as such a run would have recorded it."""
    picked = {"history": {"valid_score": [0.8, 0.9, 0.85]}, "best_epoch": 1}
    last = {"history": {"valid_score": [0.6, 0.7]}, "best_epoch": 1}
    old = {"fold_scores": [{"score": 0.9, "learned": picked}, {"score": 0.7, "learned": last}]}
    assert training.last_epoch_cv(old) == pytest.approx((0.85 + 0.7) / 2)
    assert training.last_epoch_cv({**old, "cv_last_epoch": None}) is None  # the run's own
    assert training.last_epoch_cv({"fold_scores": [{"score": 0.5, "learned": {}}]}) is None


def test_early_stopping_holdout_reaches_every_fold_model(projects_dir: Path) -> None:
    """Through config: the fold models stop on their own training rows, not the fold's."""
    project = _ready(projects_dir)
    on_valid = training.train(project, project.config()).run.record
    overrides = ["models.lightgbm.early_stopping_holdout=0.25"]
    held = training.train(project, project.config(overrides), overrides=overrides).run.record
    assert held["status"] == "COMPLETE"
    assert held["config"]["models"]["lightgbm"]["early_stopping_holdout"] == 0.25
    assert all("best_iteration" in f["learned"] for f in held["fold_scores"])
    # Each fold fitted on 75 % of its training rows and stopped on the rest: other scores.
    assert [f["score"] for f in held["fold_scores"]] != [
        f["score"] for f in on_valid["fold_scores"]
    ]


def test_repeated_cv_keeps_every_repeats_oof(projects_dir: Path) -> None:
    project = _ready(projects_dir)
    cfg = project.config(["cv.n_repeats=2"])
    folds.assign_project_folds(project, cfg)
    result = training.train(project, cfg, model_name="linear")
    assert result.run.load_array("oof_repeats").shape == (2, result.run.record["n_train"])
    assert len(result.run.record["fold_scores"]) == 6


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_a_run_that_raises_ends_failed_with_the_error(
    projects_dir: Path, error: BaseException
) -> None:
    project = _ready(projects_dir)

    def explode(fold: Any, done: Any) -> None:
        raise error

    with pytest.raises(type(error)):
        training.train(project, project.config(), on_fold=explode)
    (run,) = records.list_runs(project.runs_dir)
    assert run.status == "FAILED"
    assert run.record["error"].startswith(type(error).__name__)
    assert "ended_at" in run.record and not run.path("submission.csv").exists()


def test_training_refuses_a_cv_config_that_differs_from_the_saved_folds(projects_dir: Path) -> None:
    project = _ready(projects_dir)
    with pytest.raises(KKError, match=r"cv.n_splits.*kk folds tiny"):
        training.train(project, project.config(["cv.n_splits=5"]))
    assert not project.runs_dir.exists() or not any(project.runs_dir.iterdir())


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ('models.linear.params.C="abc"', "'C'"),
        ('models.lightgbm.params.learning_rate="fast"', "'learning_rate'"),
        ("models.linear.params.Cc=1.0", "did you mean 'C'"),
    ],
)
def test_bad_model_params_fail_before_a_run_starts(
    projects_dir: Path, override: str, message: str
) -> None:
    project = _ready(projects_dir)
    model = override.split(".")[1]
    with pytest.raises(KKError, match=message):
        training.train(project, project.config([override]), model_name=model)
    assert not project.runs_dir.exists() or not any(project.runs_dir.iterdir())


def test_bad_feature_steps_fail_before_a_run_starts(projects_dir: Path) -> None:
    project = _ready(projects_dir)
    cfg = project.config(['models.linear.steps=[{kind = "kmaens"}]'])
    with pytest.raises(KKError, match=r"feature step 'kmaens' is not known; did you mean 'kmeans'"):
        training.train(project, cfg, model_name="linear")
    assert not project.runs_dir.exists() or not any(project.runs_dir.iterdir())


def test_prepare_drops_id_and_configured_columns(projects_dir: Path) -> None:
    project = _ready(projects_dir)
    prepared = training.prepare(project, project.config(['features.drop=["x2"]']))
    assert list(prepared.X.columns) == ["x1", "colour"] == list(prepared.X_test.columns)
    with pytest.raises(KKError, match=r"features.drop names column\(s\) \['nope'\]"):
        training.prepare(project, project.config(['features.drop=["nope"]']))
    with pytest.raises(KKError, match=r"encoder column 'nope'"):
        training.prepare(project, project.config(['features.count_encode=["nope"]']))


def test_run_record_is_valid_json_with_no_secrets(
    projects_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAGGLE_KEY", "s3cr3t-token-value")
    project = _ready(projects_dir)
    result = training.train(project, project.config(), model_name="linear")
    text = result.run.path("record.json").read_text()
    assert json.loads(text)["status"] == "COMPLETE"
    assert "s3cr3t-token-value" not in text


@pytest.mark.parametrize(
    "overrides",
    [
        ['cv.kind="timeseries"'],
        ['cv.kind="group"', 'cv.group_column="colour"'],
        ['cv.kind="stratified_group"', 'cv.group_column="colour"'],
    ],
)
def test_train_with_every_cv_kind(projects_dir: Path, overrides: list[str]) -> None:
    project = _ready(projects_dir)
    cfg = project.config(overrides)
    folds.assign_project_folds(project, cfg, force=True)
    result = training.train(project, cfg, model_name="linear")
    oof = result.run.load_array("oof")
    validated = training.prepare(project, cfg).folds.validated_mask()
    assert np.isnan(oof[~validated]).all() and not np.isnan(oof[validated]).any()
    if cfg.cv.kind == "timeseries":
        assert (~validated).sum() > 0  # the first block is never validated
    assert result.run.record["status"] == "COMPLETE" and np.isfinite(result.run.record["oof_score"])
