"""Runs: the CV loop recorded in ``runs/<run_id>/``, from RUNNING to COMPLETE or FAILED.

``train`` is one run of one model entry. Its lifecycle is written once here and followed
by ``ensembling.ensemble`` too:

- ``open_run`` starts a RUNNING run folder, or goes on with an interrupted run of the same
  model config and folds (``resume_key``, ``find_resumable``);
- ``failing(run)`` marks the run FAILED on any exception, Ctrl-C included, so a record
  never stays RUNNING after its process ended;
- ``complete`` saves the predictions, the encoded target and the submission, and marks
  the run COMPLETE with its scores.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import kagglekit.folds as folds_mod
import kagglekit.records as records
import kagglekit.submission as submission
import kagglekit.torch.distributed as distributed
import kagglekit.training.baseline as baseline
import kagglekit.training.pseudo as pseudo_mod
from kagglekit.config import CompetitionConfig, ProjectConfig
from kagglekit.folds import Folds, Split
from kagglekit.metrics import Metric, get_metric
from kagglekit.models import Model
from kagglekit.project import Project
from kagglekit.training.cv import CVResult, FoldResult, FoldStore, cross_validate
from kagglekit.training.prepare import (
    Prepared,
    check_submission_format,
    model_backend,
    model_factory,
    n_outputs,
    prepare,
)
from kagglekit.training.pseudo import PseudoLabels

__all__ = [
    "RunInterrupted",
    "RunResult",
    "complete",
    "failing",
    "find_resumable",
    "fold_records",
    "last_epoch_cv",
    "oof_accuracy",
    "open_run",
    "resolve_run",
    "resume_key",
    "run_summary",
    "small_learned",
    "split_records",
    "train",
    "write_run_submission",
]

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """What ``train`` returns: the run folder plus the headline numbers."""

    run: records.Run
    cv: CVResult
    metric: Metric
    submission_path: Path

    def summary(self) -> dict[str, Any]:
        """The ``--json`` line of ``kk train``."""
        return run_summary(self.run, self.metric, self.cv.mean, self.cv.std, self.submission_path)


def run_summary(
    run: records.Run, metric: Metric, cv_mean: float, cv_std: float, submission_path: Path
) -> dict[str, Any]:
    """The ``--json`` line of a finished run (``kk train``, ``kk ensemble``)."""
    return {
        "run_id": run.run_id,
        "model": run.record["model"],
        "metric": metric.name,
        "cv_mean": cv_mean,
        "cv_std": cv_std,
        "submission": str(submission_path),
        "wall_seconds": run.record["wall_seconds"],
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
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    fresh: bool = False,
) -> RunResult:
    """Train one configured model with cross-validation and record it as a run.

    Writes ``runs/<run_id>/`` with the record, ``oof.npy``, ``test.npy``, ``target.npy``
    and ``submission.csv``; the status goes RUNNING -> COMPLETE, or FAILED with the error.
    A run of the same config and folds that was interrupted (Ctrl-C, kill -9, a crash)
    goes on where it stopped: its finished folds are kept and an epoch-trained model
    resumes from its last checkpoint; ``fresh=True`` starts a new run instead.
    ``on_progress(report)`` is called after each epoch of models that train in epochs
    (epoch, n_epochs, losses, valid_score, samples_per_second, ...).
    """
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
    fold_hash = prepared.folds.hash
    run = open_run(
        project,
        prepared,
        metric,
        model=name,
        backend=entry.backend,
        config=resolved,
        overrides=overrides,
        seeds={"cv": cfg.cv.seed, "model": entry.seed},
        # The key of kagglekit before 2026-12-07 hashed the whole config: runs
        # interrupted under it still resume.
        keys=(
            resume_key(resolved, name, fold_hash),
            resume_key(resolved, name, fold_hash, whole_config=True),
        ),
        fresh=fresh,
        cv_kind=cfg.cv.kind,
        data_kind=prepared.kind,
        # Read by reports (tree importances) and records (versions): a project's own
        # backend needs no entry in the package.
        family=model_backend(cfg, name).family,
        packages=model_backend(cfg, name).packages,
        **({"pseudo_labels": pseudo.summary()} if pseudo is not None else {}),
    )
    with failing(run, prepared.folds.n_splits * prepared.folds.n_repeats):
        if distributed.world_size() > 1:
            distributed.note_run(run.folder)  # the launcher marks it FAILED if we are killed
            distributed.broadcast_object(str(run.folder))  # the followers read it (_follow)
        if on_start is not None:
            on_start(prepared.folds.n_splits * prepared.folds.n_repeats)
        store = FoldStore(run.folder / "folds")
        result = _loop(prepared, cfg, make_model, metric, pseudo, store, on_fold)
        if result.test_pred is None:  # pragma: no cover - X_test is always given here
            raise RuntimeError("cross_validate returned no test predictions")
        sub_path = complete(
            run,
            prepared,
            cfg.competition,
            metric,
            oof=result.oof_mean(prepared.task),
            test=result.test_pred,
            oof_repeats=result.oof,
            test_folds=result.test_folds,
            fold_scores=fold_records(result.folds),
            feature_importance=_mean_importance(result.folds),
        )
        store.tidy()
        return RunResult(run=run, cv=result, metric=metric, submission_path=sub_path)


def _loop(
    prepared: Prepared,
    cfg: ProjectConfig,
    make_model: Callable[[], Model],
    metric: Metric,
    pseudo: PseudoLabels | None,
    store: FoldStore,
    on_fold: Callable[[FoldResult, list[FoldResult]], None] | None = None,
) -> CVResult:
    """The CV loop over all of a project's data and saved folds."""
    return cross_validate(
        prepared.X,
        prepared.y,
        prepared.folds,
        make_model,
        metric,
        task=prepared.task,
        X_test=prepared.X_test,
        threshold=cfg.competition.threshold,
        n_outputs=n_outputs(cfg, prepared.classes),
        on_fold=on_fold,
        store=store,
        pseudo=pseudo,
    )


# --- the lifecycle ----------------------------------------------------------------------


def open_run(
    project: Project,
    prepared: Prepared,
    metric: Metric,
    *,
    model: str,
    backend: str,
    config: dict[str, Any],
    seeds: dict[str, Any],
    overrides: Sequence[str] = (),
    keys: Sequence[str] = (),
    fresh: bool = False,
    **fields: Any,
) -> records.Run:
    """A RUNNING run of ``model`` on the project's data and saved folds.

    With resume ``keys``, the newest unfinished run that has one of them goes on (unless
    ``fresh``); the first key is what a run records (later ones: older keys it still goes
    on from). Otherwise a new run folder, whose record holds what every run records
    (project, backend, config, seeds, folds, metric, task, classes, sizes) and ``fields``.
    """
    resumed = None if fresh or not keys else find_resumable(project.runs_dir, *keys)
    if resumed is not None:
        log.info("going on with interrupted run %s", resumed.run_id)
        resumed.update(
            resume_key=keys[0],
            status="RUNNING",
            pid=os.getpid(),
            host=socket.gethostname(),
            error=None,
            interrupted=False,
            resumed=[*resumed.record.get("resumed", []), records.now()],
        )
        return resumed
    return records.start_run(
        project.runs_dir,
        model=model,
        repo_dir=project.root,
        project=project.name,
        backend=backend,
        config=config,
        overrides=list(overrides),
        seeds=seeds,
        fold_hash=prepared.folds.hash,
        **({"resume_key": keys[0]} if keys else {}),
        metric=metric.name,
        greater_is_better=metric.greater_is_better,
        task=prepared.task.name,
        classes=prepared.classes,
        n_train=len(prepared.y),
        n_test=len(prepared.test_ids),
        **fields,
    )


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run that the same command goes on with: what to tell the user."""

    def __init__(self, run_id: str, n_kept: int, n_folds: int | None) -> None:
        super().__init__(run_id)
        self.run_id, self.n_kept, self.n_folds = run_id, n_kept, n_folds

    def __str__(self) -> str:
        of = f" of {self.n_folds}" if self.n_folds else ""
        return (
            f"run {self.run_id} interrupted: {self.n_kept}{of} folds kept; rerun the same "
            "command to continue (--fresh starts over)"
        )


@contextmanager
def failing(run: records.Run, n_folds: int | None = None) -> Iterator[records.Run]:
    """Mark ``run`` FAILED with the error on any exception leaving the block.

    KeyboardInterrupt included: the record must never stay RUNNING after we exit. A run
    that can resume (it has a ``resume_key``) and was stopped by Ctrl-C keeps its status
    FAILED (what ``find_resumable`` goes on from) with ``interrupted: true`` and the
    folds it kept, and leaves as ``RunInterrupted`` (a KeyboardInterrupt) saying so.
    """
    try:
        yield run
    except KeyboardInterrupt as err:
        if run.record.get("status") == "COMPLETE":  # it finished before Ctrl-C: keep it
            raise
        if not run.record.get("resume_key"):
            run.finish("FAILED", error=f"{type(err).__name__}: {err}")
            raise
        store = run.folder / "folds"
        store.mkdir(exist_ok=True)  # find_resumable goes on with a run that has one
        kept = len(list(store.glob("*/result.json")))
        run.finish(
            "FAILED", error=f"{type(err).__name__}: {err}", interrupted=True, folds_kept=kept
        )
        raise RunInterrupted(run.run_id, kept, n_folds) from err
    except BaseException as err:
        if run.record.get("status") != "COMPLETE":  # it finished before the error: keep it
            run.finish("FAILED", error=f"{type(err).__name__}: {err}")
        raise


def complete(
    run: records.Run,
    prepared: Prepared,
    comp: CompetitionConfig,
    metric: Metric,
    *,
    oof: np.ndarray,
    test: np.ndarray,
    fold_scores: list[dict[str, Any]],
    oof_repeats: np.ndarray | None = None,
    test_folds: np.ndarray | None = None,
    **fields: Any,
) -> Path:
    """Save what a finished run leaves behind and mark it COMPLETE; the submission's path.

    Parameters
    ----------
    oof
        OOF predictions averaged over repeats, (n_rows,) or (n_rows, k); NaN on rows no
        fold validated.
    test
        The test predictions the submission is built from.
    fold_scores
        One dict per fold with at least its ``score`` (``fold_records`` for a CV loop).
    oof_repeats
        OOF predictions per repeat, (n_repeats, n_rows[, k]); saved with 2+ repeats.
    test_folds
        Each fold model's test predictions (what pseudo-labels read).
    fields
        More for the record (weights, feature importance, ...).

    Writes ``oof.npy``, ``oof_repeats.npy``, ``test.npy``, ``test_folds.npy``,
    ``target.npy`` (the encoded target the loop scored against: class indices or values)
    and ``submission.csv``; the record gets ``fold_scores``, ``cv_mean``, ``cv_std``,
    ``oof_score``, ``oof_accuracy``, ``cv_last_epoch``, ``baseline_cv`` (the trivial
    model's CV, ``training.baseline``), ``degenerate`` (with ``degenerate_why``: the run
    predicts one class for almost every row or does not beat the baseline) and ``fields``.
    """
    validated = ~np.isnan(oof.reshape(len(oof), -1)).any(axis=1)
    oof_score = metric(prepared.y[validated], oof[validated], threshold=comp.threshold)
    run.save_array("oof", oof)
    if oof_repeats is not None and oof_repeats.shape[0] > 1:
        run.save_array("oof_repeats", oof_repeats)
    run.save_array("test", test)
    if test_folds is not None:
        run.save_array("test_folds", test_folds)
    run.save_array("target", np.asarray(prepared.y))
    sub_path = write_run_submission(run, prepared, comp, test)
    scores = np.array([f["score"] for f in fold_scores])
    trivial = baseline.baseline_cv(
        prepared.task,
        metric,
        np.asarray(prepared.y),
        prepared.folds.splits(),
        threshold=comp.threshold,
        n_outputs=oof.shape[1] if oof.ndim == 2 else 1,
    )
    why = baseline.degenerate_reason(
        prepared.task,
        metric,
        np.asarray(prepared.y)[validated],
        oof[validated],
        threshold=comp.threshold,
        score=float(scores.mean()),
        baseline=trivial,
    )
    run.finish(
        "COMPLETE",
        fold_scores=fold_scores,
        cv_mean=float(scores.mean()),
        cv_std=float(scores.std()),
        oof_score=oof_score,
        oof_accuracy=oof_accuracy(prepared, oof[validated], validated, comp),
        cv_last_epoch=_last_epoch_cv(fold_scores),
        baseline_cv=trivial,
        degenerate=why is not None,
        **({"degenerate_why": why} if why else {}),
        **fields,
    )
    return sub_path


def write_run_submission(
    run: records.Run, prepared: Prepared, comp: CompetitionConfig, test_pred: np.ndarray
) -> Path:
    """Build the run's ``submission.csv`` from test predictions, validate it, write it."""
    return submission.save_run_submission(
        run, prepared.test_ids, prepared.sample_submission, prepared.classes, comp, test_pred
    )


def fold_records(folds: list[FoldResult]) -> list[dict[str, Any]]:
    """The record's ``fold_scores``: each fold's result with its ``small_learned``."""
    return [
        {k: v for k, v in vars(f).items() if k != "learned"} | {"learned": small_learned(f.learned)}
        for f in folds
    ]


def split_records(folds: Folds, scores: Sequence[float] | np.ndarray) -> list[dict[str, Any]]:
    """The record's ``fold_scores`` from one score per split (runs without fold models,
    such as a hill-climbed ensemble)."""
    return [
        {"repeat": s.repeat, "fold": s.fold, "score": float(v), "n_valid": len(s.valid_idx)}
        for s, v in zip(folds.splits(), scores, strict=True)
    ]


def oof_accuracy(
    prepared: Prepared, oof: np.ndarray, validated: np.ndarray, comp: CompetitionConfig
) -> float | None:
    """OOF accuracy beside the competition metric (F1 and AUC runs are read as accuracy
    on many leaderboards); None for regression."""
    if not prepared.task.is_classification:
        return None
    return get_metric("accuracy")(prepared.y[validated], oof, threshold=comp.threshold)


def last_epoch_cv(record: dict[str, Any]) -> float | None:
    """A run's ``cv_last_epoch``: the CV mean it would have had with each fold's last
    epoch's weights, or None (see ``_last_epoch_cv``).

    Runs record it since 2026-12; for older records (and their committed copies) it is
    computed from the record's ``fold_scores`` as those runs would have recorded it.
    """
    if "cv_last_epoch" in record:
        return record["cv_last_epoch"]
    return _last_epoch_cv(record.get("fold_scores") or [])


def _last_epoch_cv(fold_scores: Sequence[dict[str, Any]]) -> float | None:
    """The CV mean of a torch run without an epoch picked on its scored rows, or None.

    The trainer's ``keep = "best"`` keeps the epoch that scored best on the rows each fold
    is scored on, so ``cv_mean`` is a max over epochs. A fold whose kept epoch is its last
    counts its score; another counts its last epoch's score from the epoch history, where
    that history scores as the fold does (the kept epoch's score equals the fold's). A fold
    whose epoch was chosen on held-out training rows (``early_stopping_holdout``) counts its
    score: nothing was picked on its scored rows. None when a fold has no history or its
    history scores otherwise (TTA, a tuned threshold), and for runs without folds.
    """
    scores = []
    for fold in fold_scores:
        learned = fold.get("learned") or {}
        history = (learned.get("history") or {}).get("valid_score") or []
        best, score = learned.get("best_epoch"), fold.get("score")
        if learned.get("early_stopping_holdout_rows") and score is not None:
            scores.append(float(score))
        elif not history or best is None or score is None:
            return None
        elif best == len(history) - 1:
            scores.append(float(score))
        elif abs(float(history[best]) - float(score)) <= 1e-9:
            scores.append(float(history[-1]))
        else:
            return None
    return float(np.mean(scores)) if scores else None


def small_learned(learned: dict[str, Any]) -> dict[str, Any]:
    """What a record keeps of a fold's ``learned``: all but its feature importance (a run
    records the folds' mean)."""
    return {k: v for k, v in learned.items() if k != "feature_importance"}


def _mean_importance(folds: list[FoldResult]) -> dict[str, float] | None:
    tables = [f.learned.get("feature_importance") for f in folds]
    if not tables or any(t is None for t in tables):
        return None
    frame = pd.DataFrame(tables).fillna(0.0)
    return {str(k): float(v) for k, v in frame.mean().sort_values(ascending=False).items()}


def resolve_run(project: Project, name: str, *, copies: bool = False) -> records.Run:
    """The run ``name`` names in ``project`` (``records.find_run``: an id, a unique prefix or
    suffix, ``best``, a row number of ``kk runs``, a model name), ``best`` and model names
    counted on the project's current folds. What every command that takes a run calls."""
    meta = folds_mod.folds_meta(project)
    return records.find_run(
        project.runs_dir, name, copies=copies, fold_hash=meta["hash"] if meta else None
    )


# --- resuming ---------------------------------------------------------------------------


def resume_key(
    cfg_resolved: dict[str, Any], model: str, fold_hash: str, *, whole_config: bool = False
) -> str:
    """What must match for a new ``kk train`` to go on with an interrupted run: the model's
    own config (``records.model_config``: an entry added for another model while a long run
    was stopped must not make it start over), its name and the folds. ``whole_config``:
    the key of kagglekit before 2026-12-07, which hashed the whole config, so runs
    interrupted under it still resume."""
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


# --- the other ranks of `kk train --nproc N` --------------------------------------------


class _ReadOnlyFoldStore(FoldStore):
    """Rank 0's fold store as the other ranks see it: finished folds and checkpoints
    are read from it, nothing is written (rank 0 writes)."""

    def fold_dir(self, split: Split) -> Path:
        return self.folder / f"r{split.repeat}f{split.fold}"

    def save(
        self, split: Split, pred: np.ndarray, test: np.ndarray | None, result: FoldResult
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
    folder = Path(distributed.broadcast_object(None))
    store = _ReadOnlyFoldStore(folder / "folds")
    result = _loop(prepared, cfg, make_model, metric, pseudo, store)
    run = records.load_run(folder)
    return RunResult(run=run, cv=result, metric=metric, submission_path=folder / "submission.csv")
