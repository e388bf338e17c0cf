"""The cross-validation loop: one fresh model per fold, OOF and test predictions.

``cross_validate`` is the pure loop; ``training.run.train`` wraps it in a recorded run,
and tuning, ensembling (stacking) and adversarial validation call it as it is.
``FoldStore`` keeps each finished fold on disk, so an interrupted run loses none.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import kagglekit.atomic as atomic
import kagglekit.folds as folds_mod
from kagglekit.errors import KKError
from kagglekit.features import FeatureStepError
from kagglekit.metrics import Metric
from kagglekit.models.base import FitFailure, FoldContext, Model, is_param_error, take
from kagglekit.tasks import Task
from kagglekit.training.pseudo import PseudoLabels

__all__ = ["CVResult", "FoldResult", "FoldStore", "ModelFitError", "cross_validate"]

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
    # pseudo-labels each of its folds from (training.pseudo), without a leak across folds.
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
        result = FoldResult(**json.loads((folder / "result.json").read_text()))
        pred = np.load(folder / "valid.npy", allow_pickle=False)
        test_path = folder / "test.npy"
        test = np.load(test_path, allow_pickle=False) if test_path.is_file() else None
        return pred, test, result


def _npy(array: np.ndarray) -> bytes:
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
    task: Task,
    X_test: Any = None,
    threshold: float = 0.5,
    n_outputs: int = 1,
    on_fold: Callable[[FoldResult, list[FoldResult]], None] | None = None,
    on_epoch: Callable[[folds_mod.Split, int, float], None] | None = None,
    store: FoldStore | None = None,
    pseudo: PseudoLabels | None = None,
    cache: dict[Any, Any] | None = None,
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
    ``cache`` is handed to every fold's model (``FoldContext.cache``): the tuning
    objective passes one dict to all its trials. ``task`` says how predictions are laid
    out and combined; it is required (a missing task once defaulted to binary, which a
    regression run would have been read as).
    """
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
                X, y, split, make_model, metric, X_test, threshold, on_epoch, store, extra, cache
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
    cache: dict[Any, Any] | None = None,
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
        cache=cache,
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
    if isinstance(err, KKError) or not is_param_error(err):
        return err
    # A backend rejecting a value (e.g. LightGBM's num_leaves=1) is a config mistake:
    # one line naming it; `kk --debug` still shows the backend's traceback.
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    where = f"fold {split.repeat}.{split.fold}"
    if isinstance(err, FeatureStepError):
        # Not the model's parameters: every trial of a tuning study would fail alike.
        return KKError(
            f"the feature steps failed to fit on {where}: {first_line}; check [features] in "
            "config.toml (kk --debug shows the traceback)"
        )
    return ModelFitError(
        f"the model failed to fit on {where}: {first_line}; check the model's params in "
        "config.toml (kk --debug shows the traceback)"
    )
