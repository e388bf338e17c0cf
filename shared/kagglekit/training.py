"""The cross-validation loop: one fresh model per fold, OOF and test predictions, a run.

``cross_validate`` is the pure loop (tuning and ensembling call it too); ``train`` wraps
it with data loading, checks, the run record and the submission.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kagglekit import atomic, records, submission
from kagglekit import data as data_mod
from kagglekit import features as feat
from kagglekit import folds as folds_mod
from kagglekit.config import CompetitionConfig, ProjectConfig
from kagglekit.errors import KKError
from kagglekit.metrics import Metric, get_metric
from kagglekit.models import Model, get_backend
from kagglekit.models.base import BuildContext, FoldContext, take
from kagglekit.models.tabular import check_param_values, make_tabular_model
from kagglekit.project import Project

log = logging.getLogger(__name__)


class ModelFitError(KKError):
    """A backend rejected the model's parameters while fitting one fold.

    One line for the user; a tuner treats it as that trial's failure, not a fatal error,
    since another sampled parameter set may fit.
    """


@dataclass(frozen=True)
class FoldResult:
    """The outcome of one (repeat, fold)."""

    repeat: int
    fold: int
    score: float
    seconds: float
    n_train: int
    n_valid: int
    learned: dict[str, Any] = field(default_factory=dict)


@dataclass
class CVResult:
    """OOF predictions per repeat, fold-averaged test predictions and fold results."""

    oof: np.ndarray  # (n_repeats, n_rows) or (n_repeats, n_rows, n_classes); NaN = never validated
    test_pred: np.ndarray | None  # (n_test,) or (n_test, n_classes)
    folds: list[FoldResult]

    @property
    def scores(self) -> np.ndarray:
        return np.array([f.score for f in self.folds])

    @property
    def mean(self) -> float:
        return float(self.scores.mean())

    @property
    def std(self) -> float:
        return float(self.scores.std())

    def oof_mean(self) -> np.ndarray:
        """OOF predictions averaged over repeats (NaN where a row was never validated)."""
        return np.asarray(self.oof.mean(axis=0))


def cross_validate(
    X: Any,
    y: np.ndarray,
    folds: folds_mod.Folds,
    make_model: Callable[[], Model],
    metric: Metric,
    *,
    X_test: Any = None,
    threshold: float = 0.5,
    n_outputs: int = 1,
    on_fold: Callable[[FoldResult, list[FoldResult]], None] | None = None,
) -> CVResult:
    """Cross-validate ``make_model`` over saved folds.

    Every fold gets a fresh model, fitted on the fold's training rows with its validation
    rows for early stopping; predictions are written at the fold's row indices, and any
    validated row left unfilled is an error. ``on_fold`` is called after each fold with
    the fold and all folds so far (it may raise to stop, e.g. an Optuna prune).
    """
    n_rows = len(y)
    shape = (folds.n_repeats, n_rows) if n_outputs == 1 else (folds.n_repeats, n_rows, n_outputs)
    oof = np.full(shape, np.nan)
    test_sum: np.ndarray | None = None
    results: list[FoldResult] = []
    for split in folds.splits():
        started = time.perf_counter()
        model = make_model()
        X_valid, y_valid = take(X, split.valid_idx), y[split.valid_idx]
        try:
            model.fit(
                take(X, split.train_idx),
                y[split.train_idx],
                X_valid=X_valid,
                y_valid=y_valid,
                fold=FoldContext(repeat=split.repeat, fold=split.fold),
            )
        except Exception as err:
            # LightGBMError is a plain Exception; XGBoost's and scikit-learn's are ValueErrors.
            is_backend_error = (
                isinstance(err, ValueError | TypeError) or type(err).__name__ == "LightGBMError"
            )
            if isinstance(err, KKError) or not is_backend_error:
                raise
            # A backend rejecting a value (e.g. LightGBM's num_leaves=1) is a config mistake:
            # one line naming it; `kk --debug` still shows the backend's traceback.
            first_line = (
                str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            )
            if isinstance(err, feat.FeatureStepError):
                # Not the model's parameters: every trial of a tuning study would fail alike.
                raise KKError(
                    f"the feature steps failed to fit on fold {split.repeat}.{split.fold}: "
                    f"{first_line}; check [features] in config.toml (kk --debug shows the "
                    "traceback)"
                ) from err
            raise ModelFitError(
                f"the model failed to fit on fold {split.repeat}.{split.fold}: {first_line}; "
                "check the model's params in config.toml (kk --debug shows the traceback)"
            ) from err
        pred = model.predict(X_valid)
        oof[split.repeat, split.valid_idx] = pred
        if X_test is not None:
            test_pred = model.predict(X_test)
            test_sum = test_pred if test_sum is None else test_sum + test_pred
        result = FoldResult(
            repeat=split.repeat,
            fold=split.fold,
            score=metric(y_valid, pred, threshold=threshold),
            seconds=round(time.perf_counter() - started, 4),
            n_train=len(split.train_idx),
            n_valid=len(split.valid_idx),
            learned=model.learned(),
        )
        results.append(result)
        if on_fold is not None:
            on_fold(result, results)
    for repeat in range(folds.n_repeats):
        validated = folds.validated_mask(repeat)
        filled = ~np.isnan(oof[repeat].reshape(n_rows, -1)).any(axis=1)
        if not np.array_equal(filled, validated):
            raise RuntimeError(
                f"repeat {repeat}: {int((validated & ~filled).sum())} validated rows got no OOF prediction"
            )
    test_mean = None if test_sum is None else test_sum / len(results)
    return CVResult(oof=oof, test_pred=test_mean, folds=results)


@dataclass
class Prepared:
    """A project's data, ready for the CV loop."""

    X: Any
    y: np.ndarray
    X_test: Any
    ids: pd.Series
    test_ids: pd.Series
    classes: list[Any] | None
    folds: folds_mod.Folds
    competition: data_mod.Competition
    project_steps: dict[str, Any]


def encode_target(target: pd.Series, task: str) -> tuple[np.ndarray, list[Any] | None]:
    """Encoded target and class list (sorted labels; index = encoded value)."""
    if task == "regression":
        return target.to_numpy(dtype=np.float64), None
    classes = sorted(target.unique().tolist())
    if task == "binary" and len(classes) != 2:
        raise KKError(
            f"task 'binary' but the target has {len(classes)} classes ({classes[:5]}); "
            'set competition.task = "multiclass" or "regression"'
        )
    codes = pd.Categorical(target, categories=classes).codes.astype(np.int64)
    return codes, [c.item() if hasattr(c, "item") else c for c in classes]


def prepare(project: Project, cfg: ProjectConfig) -> Prepared:
    """Load and check the data, apply the project's features and read the saved folds."""
    comp_cfg = cfg.competition
    comp = data_mod.load_competition(project, cfg)
    folds = folds_mod.load_folds(
        project, ids=comp.train[comp_cfg.id_column], id_column=comp_cfg.id_column
    )
    _check_cv_matches_folds(project, cfg)
    y, classes = encode_target(comp.train[comp_cfg.target_column], comp_cfg.task)
    module = feat.load_project_module(project.features_path)
    fn = feat.project_feature_function(module, cfg.features.function)
    train_x = comp.train.drop(columns=[comp_cfg.target_column])
    X, X_test = feat.apply_feature_function(fn, train_x, comp.test)
    drop = [comp_cfg.id_column, *cfg.features.drop]
    unknown = [c for c in cfg.features.drop if c not in X.columns]
    if unknown:
        raise KKError(f"features.drop names column(s) {unknown} that do not exist; fix config.toml")
    X = X.drop(columns=[c for c in drop if c in X.columns])
    X_test = X_test.drop(columns=[c for c in drop if c in X_test.columns])
    feat.check_same_columns(X, X_test, where="after dropping id and features.drop")
    categorical = [] if cfg.features.categorical == "auto" else cfg.features.categorical
    for name in (*cfg.features.target_encode, *cfg.features.count_encode, *categorical):
        if name not in X.columns:
            raise KKError(
                f"features encoder column '{name}' is not a feature column; fix config.toml"
            )
    project_steps = dict(getattr(module, "FOLD_STEPS", {}) or {})
    return Prepared(
        X=X,
        y=y,
        X_test=X_test,
        ids=comp.train[comp_cfg.id_column],
        test_ids=comp.test[comp_cfg.id_column],
        classes=classes,
        folds=folds,
        competition=comp,
        project_steps=project_steps,
    )


def _check_cv_matches_folds(project: Project, cfg: ProjectConfig) -> None:
    """Refuse a config whose CV scheme is not the one the saved folds were made with."""
    saved = (folds_mod.folds_meta(project) or {}).get("cv") or {}
    wanted = cfg.cv.model_dump()
    for key, old in saved.items():
        if key in wanted and wanted[key] != old:
            raise KKError(
                f"cv.{key} = {wanted[key]!r} in the config but the saved folds use {old!r}; "
                f"run `kk folds {project.name}` to assign folds for the new scheme"
            )


def model_factory(
    cfg: ProjectConfig, model_name: str, prepared: Prepared, params: dict[str, Any] | None = None
) -> Callable[[], Model]:
    """A function that builds a fresh, unfitted model for one fold."""
    _, entry = cfg.model(model_name)
    task = cfg.competition.task
    backend = get_backend(entry.backend, task=task)
    merged = {**entry.params, **(params or {})}
    backend.check_params(merged, task)
    n_classes = len(prepared.classes or [])
    ctx = BuildContext(
        task=task,
        n_classes=n_classes,
        seed=entry.seed,
        params=merged,
        early_stopping_rounds=entry.early_stopping_rounds,
        early_stopping_holdout=entry.early_stopping_holdout,
    )
    if backend.is_tabular:
        check_param_values(backend, ctx)

    def make() -> Model:
        if not backend.is_tabular:
            return backend.build(ctx)
        features = feat.build_feature_pipeline(
            cfg.features,
            family=backend.family,  # type: ignore[arg-type]
            task=task,
            seed=entry.seed,
            model_steps=list(entry.steps),
            project_steps=prepared.project_steps,
        )
        return make_tabular_model(backend, ctx, features)

    if backend.is_tabular:
        make()  # unknown or unusable feature steps fail here, before a run folder exists
    return make


def n_outputs(cfg: ProjectConfig, classes: Sequence[Any] | None) -> int:
    return len(classes or []) if cfg.competition.task == "multiclass" else 1


@dataclass
class RunResult:
    """What ``train`` returns: the run folder plus the headline numbers."""

    run: records.Run
    cv: CVResult
    metric: Metric
    submission_path: Path

    def summary(self) -> dict[str, Any]:
        """The ``--json`` line of ``kk train``."""
        return {
            "run_id": self.run.run_id,
            "model": self.run.record["model"],
            "metric": self.metric.name,
            "cv_mean": self.cv.mean,
            "cv_std": self.cv.std,
            "submission": str(self.submission_path),
            "wall_seconds": self.run.record["wall_seconds"],
        }


def train(
    project: Project,
    cfg: ProjectConfig,
    *,
    model_name: str | None = None,
    params: dict[str, Any] | None = None,
    overrides: Sequence[str] = (),
    on_start: Callable[[int], None] | None = None,
    on_fold: Callable[[FoldResult, list[FoldResult]], None] | None = None,
) -> RunResult:
    """Train one configured model with cross-validation and record it as a run.

    Writes ``runs/<run_id>/`` with the record, ``oof.npy``, ``test.npy`` and
    ``submission.csv``; the status goes RUNNING -> COMPLETE, or FAILED with the error.
    """
    name, entry = cfg.model(model_name)
    metric = get_metric(cfg.competition.metric)
    prepared = prepare(project, cfg)
    make_model = model_factory(cfg, name, prepared, params)
    resolved = cfg.model_dump(mode="json")
    if params:
        resolved["models"][name]["params"] = {**entry.params, **params}
    run = records.start_run(
        project.runs_dir,
        model=name,
        repo_dir=project.root,
        project=project.name,
        backend=entry.backend,
        config=resolved,
        overrides=list(overrides),
        seeds={"cv": cfg.cv.seed, "model": entry.seed},
        fold_hash=prepared.folds.hash,
        metric=metric.name,
        greater_is_better=metric.greater_is_better,
        task=cfg.competition.task,
        classes=prepared.classes,
        n_train=len(prepared.y),
        n_test=len(prepared.test_ids),
    )
    try:
        if on_start is not None:
            on_start(prepared.folds.n_splits * prepared.folds.n_repeats)
        result = cross_validate(
            prepared.X,
            prepared.y,
            prepared.folds,
            make_model,
            metric,
            X_test=prepared.X_test,
            threshold=cfg.competition.threshold,
            n_outputs=n_outputs(cfg, prepared.classes),
            on_fold=on_fold,
        )
        if result.test_pred is None:  # pragma: no cover - X_test is always given here
            raise RuntimeError("cross_validate returned no test predictions")
        oof = result.oof_mean()
        validated = ~np.isnan(oof.reshape(len(oof), -1)).any(axis=1)
        oof_score = metric(
            prepared.y[validated], oof[validated], threshold=cfg.competition.threshold
        )
        run.save_array("oof", oof)
        if result.oof.shape[0] > 1:
            run.save_array("oof_repeats", result.oof)
        run.save_array("test", result.test_pred)
        sub_path = write_run_submission(run, prepared, cfg.competition, result.test_pred)
        run.finish(
            "COMPLETE",
            fold_scores=[
                {k: v for k, v in vars(f).items() if k != "learned"}
                | {"learned": _small(f.learned)}
                for f in result.folds
            ],
            cv_mean=result.mean,
            cv_std=result.std,
            oof_score=oof_score,
            feature_importance=_mean_importance(result.folds),
        )
        return RunResult(run=run, cv=result, metric=metric, submission_path=sub_path)
    except BaseException as err:
        # KeyboardInterrupt included: the record must never stay RUNNING after we exit.
        run.finish("FAILED", error=f"{type(err).__name__}: {err}")
        raise


def write_run_submission(
    run: records.Run, prepared: Prepared, comp: CompetitionConfig, test_pred: np.ndarray
) -> Path:
    """Build the run's ``submission.csv`` from test predictions, validate it, write it."""
    sample = prepared.competition.sample_submission
    sub = submission.build_submission(
        prepared.test_ids, test_pred, comp, classes=prepared.classes, sample=sample
    )
    submission.validate_submission(sub, sample, comp, allowed_labels=prepared.classes)
    sub_path = run.path("submission.csv")
    atomic.write_bytes(sub_path, sub.to_csv(index=False).encode("utf-8"))
    run.record.setdefault("files", {})["submission"] = "submission.csv"
    return sub_path


def _small(learned: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in learned.items() if k != "feature_importance"}


def _mean_importance(folds: list[FoldResult]) -> dict[str, float] | None:
    tables = [f.learned.get("feature_importance") for f in folds]
    if not tables or any(t is None for t in tables):
        return None
    frame = pd.DataFrame(tables).fillna(0.0)
    return {str(k): float(v) for k, v in frame.mean().sort_values(ascending=False).items()}
