"""The cross-validation loop: one fresh model per fold, OOF and test predictions, a run.

``cross_validate`` is the pure loop (tuning and ensembling call it too); ``train`` wraps
it with data loading, checks, the run record and the submission.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kagglekit import atomic, loaders, records, submission
from kagglekit import features as feat
from kagglekit import folds as folds_mod
from kagglekit import pseudo as pseudo_mod
from kagglekit import tasks as tasks_mod
from kagglekit.config import CompetitionConfig, ProjectConfig
from kagglekit.errors import KKError, unknown_name
from kagglekit.metrics import Metric, get_metric
from kagglekit.models import Backend, Model, backend_names, get_backend
from kagglekit.models.base import BuildContext, FitFailure, FoldContext, take
from kagglekit.project import Project
from kagglekit.pseudo import PseudoLabels
from kagglekit.tasks import Task

log = logging.getLogger(__name__)


class ModelFitError(FitFailure):
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
    # Each fold model's own test predictions, stacked in split order: what a later run
    # pseudo-labels each of its folds from (kagglekit.pseudo), without a leak across folds.
    test_folds: np.ndarray | None = None

    @property
    def scores(self) -> np.ndarray:
        return np.array([f.score for f in self.folds])

    @property
    def mean(self) -> float:
        return float(self.scores.mean())

    @property
    def std(self) -> float:
        return float(self.scores.std())

    def oof_mean(self, task: Task | None = None) -> np.ndarray:
        """OOF predictions averaged over repeats (NaN where a row was never validated);
        combined by ``task.blend`` when its predictions do not average (ranked lists)."""
        if task is not None and not task.blends_by_average and self.oof.shape[0] > 1:
            return task.blend(self.oof, np.ones(self.oof.shape[0]))
        return np.asarray(self.oof.mean(axis=0))


class FoldStore:
    """Finished folds of one run, on disk, so an interrupted run loses none of them.

    ``runs/<id>/folds/r<repeat>f<fold>/`` holds the fold's OOF and test predictions and
    its result once it finished, and is the checkpoint folder of models that train in
    epochs while it runs. Written atomically: a fold is finished or absent.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def fold_dir(self, split: folds_mod.Split) -> Path:
        path = self.folder / f"r{split.repeat}f{split.fold}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def save(
        self, split: folds_mod.Split, pred: np.ndarray, test: np.ndarray | None, result: FoldResult
    ) -> None:
        folder = self.fold_dir(split)
        atomic.write_bytes(folder / "valid.npy", _npy(pred))
        if test is not None:
            atomic.write_bytes(folder / "test.npy", _npy(test))
        atomic.write_json(folder / "result.json", vars(result))  # last: marks the fold done

    def tidy(self) -> None:
        """After the run completed: drop the per-fold predictions (the run has them now)
        and any folder left empty; a model's own files (checkpoints) stay."""
        if not self.folder.is_dir():
            return
        for folder in sorted(self.folder.iterdir()):
            for name in ("valid.npy", "test.npy", "result.json"):
                (folder / name).unlink(missing_ok=True)
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if not any(self.folder.iterdir()):
            self.folder.rmdir()

    def load(
        self, split: folds_mod.Split
    ) -> tuple[np.ndarray, np.ndarray | None, FoldResult] | None:
        folder = self.folder / f"r{split.repeat}f{split.fold}"
        if not (folder / "result.json").is_file():
            return None
        import json

        result = FoldResult(**json.loads((folder / "result.json").read_text()))
        pred = np.load(folder / "valid.npy", allow_pickle=False)
        test_path = folder / "test.npy"
        test = np.load(test_path, allow_pickle=False) if test_path.is_file() else None
        return pred, test, result


def _npy(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.asarray(array), allow_pickle=False)
    return buf.getvalue()


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
    task: Task | None = None,
    on_fold: Callable[[FoldResult, list[FoldResult]], None] | None = None,
    on_epoch: Callable[[folds_mod.Split, int, float], None] | None = None,
    store: FoldStore | None = None,
    pseudo: PseudoLabels | None = None,
) -> CVResult:
    """Cross-validate ``make_model`` over saved folds.

    Every fold gets a fresh model, fitted on the fold's training rows with its validation
    rows for early stopping; predictions are written at the fold's row indices, and any
    validated row left unfilled is an error. ``on_fold`` is called after each fold with
    the fold and all folds so far (it may raise to stop, e.g. an Optuna prune);
    ``on_epoch(split, epoch, score)`` after each epoch of models that train in epochs.
    With a ``store``, finished folds are saved as they end and taken from it when the
    same run goes on after an interrupt, and epoch-trained models checkpoint in it.
    With ``pseudo``, each fold also trains on the test rows its teacher fold labelled.
    """
    task = task or (
        tasks_mod.get_task("multiclass") if n_outputs > 1 else tasks_mod.get_task("binary")
    )
    n_rows = len(y)
    oof = task.empty_predictions(folds.n_repeats, n_rows, n_outputs)
    test_preds: list[np.ndarray] = []
    results: list[FoldResult] = []
    for index, split in enumerate(folds.splits()):
        done = store.load(split) if store is not None else None
        if done is not None:
            pred, test_pred, result = done
            log.info(
                "fold %d.%d already finished: taken from the run folder", split.repeat, split.fold
            )
        else:
            extra = None if pseudo is None else (pseudo, index)
            pred, test_pred, result = _fit_fold(
                X, y, split, make_model, metric, X_test, threshold, on_epoch, store, extra
            )
            if store is not None:
                store.save(split, pred, test_pred, result)
        oof[split.repeat, split.valid_idx] = pred
        if test_pred is not None:
            test_preds.append(test_pred)
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
    test_mean = task.combine(test_preds) if test_preds else None
    test_folds = np.stack(test_preds) if test_preds and task.keeps_fold_tests else None
    return CVResult(oof=oof, test_pred=test_mean, folds=results, test_folds=test_folds)


def _fit_fold(
    X: Any,
    y: np.ndarray,
    split: folds_mod.Split,
    make_model: Callable[[], Model],
    metric: Metric,
    X_test: Any,
    threshold: float,
    on_epoch: Callable[[folds_mod.Split, int, float], None] | None,
    store: FoldStore | None,
    pseudo: tuple[PseudoLabels, int] | None = None,
) -> tuple[np.ndarray, np.ndarray | None, FoldResult]:
    """Fit one fold's fresh model; its validation and test predictions and its result."""
    started = time.perf_counter()
    model = make_model()
    X_valid, y_valid = take(X, split.valid_idx), y[split.valid_idx]
    X_train, y_train = take(X, split.train_idx), y[split.train_idx]
    if pseudo is not None:
        X_train, y_train = pseudo[0].extend(pseudo[1], X_train, y_train)
    context = FoldContext(
        repeat=split.repeat,
        fold=split.fold,
        checkpoint_dir=store.fold_dir(split) if store is not None else None,
        on_epoch=None if on_epoch is None else (lambda e, v: on_epoch(split, e, v)),
    )
    try:
        model.fit(
            X_train,
            y_train,
            X_valid=X_valid,
            y_valid=y_valid,
            fold=context,
        )
    except Exception as err:
        raise _fit_error(err, split) from err
    pred = model.predict(X_valid)
    test_pred = model.predict(X_test) if X_test is not None else None
    learned = model.learned()
    if pseudo is not None:
        learned["pseudo_label_rows"] = len(y_train) - len(split.train_idx)
    result = FoldResult(
        repeat=split.repeat,
        fold=split.fold,
        score=metric(y_valid, pred, threshold=threshold),
        seconds=round(time.perf_counter() - started, 4),
        n_train=len(split.train_idx),
        n_valid=len(split.valid_idx),
        learned=learned,
    )
    return pred, test_pred, result


def _fit_error(err: Exception, split: folds_mod.Split) -> BaseException:
    """The one-line error for a fold that failed to fit (or ``err`` itself)."""
    # LightGBMError is a plain Exception; XGBoost's and scikit-learn's are ValueErrors.
    is_backend_error = (
        isinstance(err, ValueError | TypeError) or type(err).__name__ == "LightGBMError"
    )
    if isinstance(err, KKError) or not is_backend_error:
        return err
    # A backend rejecting a value (e.g. LightGBM's num_leaves=1) is a config mistake:
    # one line naming it; `kk --debug` still shows the backend's traceback.
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    where = f"fold {split.repeat}.{split.fold}"
    if isinstance(err, feat.FeatureStepError):
        # Not the model's parameters: every trial of a tuning study would fail alike.
        return KKError(
            f"the feature steps failed to fit on {where}: {first_line}; check [features] in "
            "config.toml (kk --debug shows the traceback)"
        )
    return ModelFitError(
        f"the model failed to fit on {where}: {first_line}; check the model's params in "
        "config.toml (kk --debug shows the traceback)"
    )


@dataclass
class Prepared:
    """A project's data, ready for the CV loop, whatever its kind."""

    X: Any
    y: np.ndarray
    X_test: Any
    ids: pd.Series
    test_ids: pd.Series
    classes: list[Any] | None
    folds: folds_mod.Folds
    dataset: loaders.Dataset
    project_steps: dict[str, Any]
    task: Task

    @property
    def kind(self) -> str:
        return self.dataset.kind

    @property
    def sample_submission(self) -> pd.DataFrame:
        return self.dataset.sample_submission

    @property
    def info(self) -> dict[str, Any]:
        return {"n_classes": len(self.classes or []), **self.dataset.info}


def encode_target(target: pd.Series, task: str) -> tuple[np.ndarray, list[Any] | None]:
    """Encoded target and class list (sorted labels; index = encoded value)."""
    return tasks_mod.get_task(task).encode(target)


def prepare(project: Project, cfg: ProjectConfig) -> Prepared:
    """Load the data through the project's loader, encode the target, read the saved folds.

    Tables also go through the project's feature function and column checks here.
    """
    comp_cfg = cfg.competition
    module = project.import_module()  # registers the project's own loaders and backends
    dataset = loaders.load_dataset(project, cfg)
    task = tasks_mod.get_task(comp_cfg.task)
    folds = folds_mod.load_folds(project, ids=dataset.ids, id_column=comp_cfg.id_column)
    _check_cv_matches_folds(project, cfg)
    y, classes = task.encode(dataset.target, classes=dataset.classes)
    X, X_test = dataset.X, dataset.X_test
    if isinstance(X, pd.DataFrame):
        X, X_test = feat.prepare_frames(X, X_test, cfg, module)
    return Prepared(
        X=X,
        y=y,
        X_test=X_test,
        ids=dataset.ids,
        test_ids=dataset.test_ids,
        classes=classes,
        folds=folds,
        dataset=dataset,
        project_steps=dict(getattr(module, "FOLD_STEPS", {}) or {}),
        task=task,
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


def model_backend(cfg: ProjectConfig, model_name: str) -> Backend:
    """The backend of a model entry, or one line naming the entry and the known backends."""
    name, entry = cfg.model(model_name)
    if entry.backend not in backend_names():
        raise unknown_name(f"models.{name}.backend", entry.backend, backend_names())
    return get_backend(entry.backend, task=cfg.competition.task)


def model_factory(
    cfg: ProjectConfig,
    model_name: str,
    prepared: Prepared,
    params: dict[str, Any] | None = None,
    *,
    smoke: bool = False,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> Callable[[], Model]:
    """A function that builds a fresh, unfitted model for one fold.

    Everything that can be checked without fitting is checked here, before a run folder
    exists: the backend's name, the data it reads, parameter names and values, and (for
    tables) the feature steps.
    """
    name, entry = cfg.model(model_name)
    task = cfg.competition.task
    backend = model_backend(cfg, name)
    backend.check_accepts(prepared.kind, model=name)
    # A resolved config (a kernel's, a run's) spells out every field, so only a value other
    # than the default counts as the user asking for early stopping.
    default_rounds = type(entry).model_fields["early_stopping_rounds"].default
    stops = entry.early_stopping_rounds not in (0, default_rounds)
    if stops and backend.family != "gbdt":
        raise KKError(
            f"models.{name}.early_stopping_rounds = {entry.early_stopping_rounds} but backend "
            f"'{backend.name}' cannot stop early; remove it"
            + (" (torch models stop on params.patience)" if backend.family == "torch" else "")
        )
    merged = {**entry.params, **(params or {})}
    backend.check_params(merged, task)
    holdout = entry.early_stopping_holdout
    if holdout > 0 and not backend.holds_out:
        raise KKError(
            f"models.{name}.early_stopping_holdout = {holdout} but backend '{backend.name}' "
            "chooses no rounds or epochs on validation rows, so it has nothing to hold "
            "training rows out for; remove it"
        )
    if holdout > 0 and merged.get("keep") == "last":
        raise KKError(
            f"models.{name}.early_stopping_holdout = {holdout} holds training rows out to "
            "choose the epoch on, but params.keep = 'last' chooses none; remove one of them"
        )
    ctx = BuildContext(
        task=task,
        n_classes=len(prepared.classes or []),
        seed=entry.seed,
        params=merged,
        early_stopping_rounds=entry.early_stopping_rounds,
        early_stopping_holdout=entry.early_stopping_holdout,
        metric=get_metric(cfg.competition.metric),
        threshold=cfg.competition.threshold,
        info=prepared.info,
        smoke=smoke,
        extras={"progress": on_progress} if on_progress is not None else {},
        features=cfg.features,
        steps=tuple(entry.steps),
        project_steps=prepared.project_steps,
    )
    if backend.check_values is not None:
        backend.check_values(ctx)

    def make() -> Model:
        return backend.build(ctx)

    make()  # unknown or unusable feature steps and nets fail here, before a run folder exists
    return make


def n_outputs(cfg: ProjectConfig, classes: Sequence[Any] | None) -> int:
    return tasks_mod.get_task(cfg.competition.task).outputs_for(cfg.competition, classes)


def check_submission_format(prepared: Prepared, comp: CompetitionConfig) -> None:
    """Build and validate a submission from a constant prediction before any fold runs.

    A format that cannot match the sample submission (say probabilities for a sample of
    labels) fails here in one line, not after hours of training.
    """
    n_out = prepared.task.outputs_for(comp, prepared.classes)
    fake = prepared.task.constant_prediction(len(prepared.test_ids), n_out)
    sample = prepared.sample_submission
    try:
        sub = submission.build_submission(
            prepared.test_ids, fake, comp, classes=prepared.classes, sample=sample
        )
        submission.validate_submission(sub, sample, comp, allowed_labels=prepared.classes)
    except KKError as err:
        raise KKError(
            f"the submission format does not match the sample submission ({err}); fix "
            "competition.submission_format or the sample submission before training"
        ) from None


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


def resume_key(
    cfg_resolved: dict[str, Any], model: str, fold_hash: str, *, whole_config: bool = False
) -> str:
    """What must match for a new ``kk train`` to go on with an interrupted run: the model's
    own config (``records.model_config``: an entry added for another model while a long run
    was stopped must not make it start over), its name and the folds. ``whole_config``:
    the key of kagglekit before 2026-12-07, which hashed the whole config, so runs
    interrupted under it still resume."""
    import hashlib
    import json

    config = cfg_resolved if whole_config else records.model_config(cfg_resolved, model)
    payload = json.dumps({"config": config, "model": model, "folds": fold_hash}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def find_resumable(runs_dir: Path, *keys: str) -> records.Run | None:
    """The newest run with one of these resume keys that ended without finishing (FAILED,
    ABANDONED)."""
    for run in reversed(records.list_runs(runs_dir)):
        unfinished = run.status in ("FAILED", "ABANDONED")
        if run.record.get("resume_key") in keys and unfinished and (run.folder / "folds").is_dir():
            return run
    return None


def train(
    project: Project,
    cfg: ProjectConfig,
    *,
    model_name: str | None = None,
    params: dict[str, Any] | None = None,
    overrides: Sequence[str] = (),
    on_start: Callable[[int], None] | None = None,
    on_fold: Callable[[FoldResult, list[FoldResult]], None] | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    fresh: bool = False,
) -> RunResult:
    """Train one configured model with cross-validation and record it as a run.

    Writes ``runs/<run_id>/`` with the record, ``oof.npy``, ``test.npy`` and
    ``submission.csv``; the status goes RUNNING -> COMPLETE, or FAILED with the error.
    A run of the same config and folds that was interrupted (Ctrl-C, kill -9, a crash)
    goes on where it stopped: its finished folds are kept and an epoch-trained model
    resumes from its last checkpoint; ``fresh=True`` starts a new run instead.
    ``on_progress(report)`` is called after each epoch of models that train in epochs
    (epoch, n_epochs, losses, valid_score, samples_per_second, ...).
    """
    from kagglekit import distributed

    if distributed.world_size() > 1:  # one of `kk train --nproc N`'s processes
        distributed.init_process_group()
    name, entry = cfg.model(model_name)
    metric = get_metric(cfg.competition.metric)
    prepared = prepare(project, cfg)
    make_model = model_factory(cfg, name, prepared, params, on_progress=on_progress)
    check_submission_format(prepared, cfg.competition)
    pseudo = pseudo_mod.load(project, cfg, name, prepared)
    if distributed.is_follower():
        return _follow(prepared, make_model, metric, cfg, pseudo)
    resolved = cfg.model_dump(mode="json")
    if params:
        resolved["models"][name]["params"] = {**entry.params, **params}
    key = resume_key(resolved, name, prepared.folds.hash)
    legacy = resume_key(resolved, name, prepared.folds.hash, whole_config=True)
    run = None if fresh else find_resumable(project.runs_dir, key, legacy)
    if run is not None:
        log.info("going on with interrupted run %s", run.run_id)
        run.update(
            resume_key=key,
            status="RUNNING",
            pid=os.getpid(),
            host=socket.gethostname(),
            error=None,
            resumed=[*run.record.get("resumed", []), records._now()],
        )
    else:
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
            cv_kind=cfg.cv.kind,
            resume_key=key,
            metric=metric.name,
            greater_is_better=metric.greater_is_better,
            task=cfg.competition.task,
            data_kind=prepared.kind,
            classes=prepared.classes,
            n_train=len(prepared.y),
            n_test=len(prepared.test_ids),
            **({"pseudo_labels": pseudo.summary()} if pseudo is not None else {}),
        )
    try:
        if distributed.world_size() > 1:
            distributed.note_run(run.folder)  # the launcher marks it FAILED if we are killed
            distributed.broadcast_object(str(run.folder))  # the followers read it (_follow)
        if on_start is not None:
            on_start(prepared.folds.n_splits * prepared.folds.n_repeats)
        store = FoldStore(run.folder / "folds")
        result = cross_validate(
            prepared.X,
            prepared.y,
            prepared.folds,
            make_model,
            metric,
            X_test=prepared.X_test,
            threshold=cfg.competition.threshold,
            n_outputs=n_outputs(cfg, prepared.classes),
            task=prepared.task,
            on_fold=on_fold,
            store=store,
            pseudo=pseudo,
        )
        if result.test_pred is None:  # pragma: no cover - X_test is always given here
            raise RuntimeError("cross_validate returned no test predictions")
        oof = result.oof_mean(prepared.task)
        validated = ~np.isnan(oof.reshape(len(oof), -1)).any(axis=1)
        oof_score = metric(
            prepared.y[validated], oof[validated], threshold=cfg.competition.threshold
        )
        run.save_array("oof", oof)
        if result.oof.shape[0] > 1:
            run.save_array("oof_repeats", result.oof)
        run.save_array("test", result.test_pred)
        if result.test_folds is not None:
            run.save_array("test_folds", result.test_folds)
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
            oof_accuracy=_oof_accuracy(prepared, oof[validated], validated, cfg.competition),
            feature_importance=_mean_importance(result.folds),
        )
        store.tidy()
        return RunResult(run=run, cv=result, metric=metric, submission_path=sub_path)
    except BaseException as err:
        # KeyboardInterrupt included: the record must never stay RUNNING after we exit.
        run.finish("FAILED", error=f"{type(err).__name__}: {err}")
        raise


class _ReadOnlyFoldStore(FoldStore):
    """Rank 0's fold store as the other ranks see it: finished folds and checkpoints
    are read from it, nothing is written (rank 0 writes)."""

    def fold_dir(self, split: folds_mod.Split) -> Path:
        return self.folder / f"r{split.repeat}f{split.fold}"

    def save(
        self, split: folds_mod.Split, pred: np.ndarray, test: np.ndarray | None, result: FoldResult
    ) -> None:
        return None

    def tidy(self) -> None:
        return None


def _follow(
    prepared: Prepared,
    make_model: Callable[[], Model],
    metric: Metric,
    cfg: ProjectConfig,
    pseudo: PseudoLabels | None,
) -> RunResult:
    """A rank other than 0 of ``kk train --nproc``: the same CV loop, nothing written."""
    from kagglekit import distributed

    folder = Path(distributed.broadcast_object(None))
    result = cross_validate(
        prepared.X,
        prepared.y,
        prepared.folds,
        make_model,
        metric,
        X_test=prepared.X_test,
        threshold=cfg.competition.threshold,
        n_outputs=n_outputs(cfg, prepared.classes),
        task=prepared.task,
        store=_ReadOnlyFoldStore(folder / "folds"),
        pseudo=pseudo,
    )
    run = records.load_run(folder)
    return RunResult(run=run, cv=result, metric=metric, submission_path=folder / "submission.csv")


@dataclass
class SmokeResult:
    """What ``kk train --smoke`` reports: one short fold on a few hundred rows."""

    model: str
    score: float
    seconds: float
    n_train: int
    n_valid: int
    learned: dict[str, Any]


def smoke_test(
    project: Project, cfg: ProjectConfig, *, model_name: str | None = None, n_rows: int = 384
) -> SmokeResult:
    """Fit one model on a few hundred rows of the first fold for one or two epochs.

    In the spirit of Lightning's ``fast_dev_run``: every model entry of every project can
    be checked to run end to end in seconds (what CI does). Nothing is recorded.
    """
    name, _ = cfg.model(model_name)
    metric = get_metric(cfg.competition.metric)
    prepared = prepare(project, cfg)
    make_model = model_factory(cfg, name, prepared, smoke=True)
    first = next(prepared.folds.splits())
    rng = np.random.default_rng(0)
    n_train = min(len(first.train_idx), n_rows * 2 // 3)
    n_valid = min(len(first.valid_idx), n_rows - n_train)
    rows = np.concatenate(
        [
            np.sort(rng.choice(first.train_idx, n_train, replace=False)),
            np.sort(rng.choice(first.valid_idx, n_valid, replace=False)),
        ]
    )
    assignment = np.r_[np.full(n_train, -1), np.zeros(n_valid, dtype=np.int64)][None, :]
    small = folds_mod.Folds(assignment=assignment, hash="smoke", kind="holdout", n_splits=1)
    n_test = min(len(prepared.test_ids), 64)
    X_test = take(prepared.X_test, np.arange(n_test))
    pseudo = pseudo_mod.for_smoke(pseudo_mod.load(project, cfg, name, prepared), n_test)
    result = cross_validate(
        take(prepared.X, rows),
        prepared.y[rows],
        small,
        make_model,
        metric,
        X_test=X_test,
        threshold=cfg.competition.threshold,
        n_outputs=n_outputs(cfg, prepared.classes),
        task=prepared.task,
        pseudo=pseudo,
    )
    fold = result.folds[0]
    return SmokeResult(
        name, fold.score, fold.seconds, fold.n_train, fold.n_valid, _small(fold.learned)
    )


def write_run_submission(
    run: records.Run, prepared: Prepared, comp: CompetitionConfig, test_pred: np.ndarray
) -> Path:
    """Build the run's ``submission.csv`` from test predictions, validate it, write it."""
    return _write_submission(
        run, prepared.test_ids, prepared.sample_submission, prepared.classes, comp, test_pred
    )


def _write_submission(
    run: records.Run,
    test_ids: pd.Series,
    sample: pd.DataFrame,
    classes: list[Any] | None,
    comp: CompetitionConfig,
    test_pred: np.ndarray,
) -> Path:
    sub = submission.build_submission(test_ids, test_pred, comp, classes=classes, sample=sample)
    submission.validate_submission(sub, sample, comp, allowed_labels=classes)
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
    path = _write_submission(
        run,
        dataset.test_ids,
        dataset.sample_submission,
        list(classes) if classes is not None else None,
        comp,
        test_pred,
    )
    run.update(
        submission_rebuilt={
            "at": records._now(),
            "submission_format": comp.submission_format,
            "threshold": comp.threshold,
        }
    )
    return path


def _oof_accuracy(
    prepared: Prepared, oof: np.ndarray, validated: np.ndarray, comp: CompetitionConfig
) -> float | None:
    """OOF accuracy beside the competition metric (F1 and AUC runs are read as accuracy
    on many leaderboards); None for regression."""
    if not prepared.task.is_classification:
        return None
    return get_metric("accuracy")(prepared.y[validated], oof, threshold=comp.threshold)


def _small(learned: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in learned.items() if k != "feature_importance"}


def _mean_importance(folds: list[FoldResult]) -> dict[str, float] | None:
    tables = [f.learned.get("feature_importance") for f in folds]
    if not tables or any(t is None for t in tables):
        return None
    frame = pd.DataFrame(tables).fillna(0.0)
    return {str(k): float(v) for k, v in frame.mean().sort_values(ascending=False).items()}
