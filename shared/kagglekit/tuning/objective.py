"""The objective: the CV score exactly as ``kk train`` computes it, reported fold by fold.

The same saved folds, features, model factory and metric (``training.prepare``,
``training.model_factory``, ``training.cross_validate``). After every fold the trial
reports the running mean of the fold scores and may be pruned there; pruning inside one
fold's boosting rounds is not used, because those callbacks only ever see the first fold
(optuna#3203, #4373). Models that train in epochs may also be pruned mid-fold
(``epoch_should_prune``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import kagglekit.training as training
from kagglekit.config import ProjectConfig
from kagglekit.errors import KKError
from kagglekit.metrics import get_metric
from kagglekit.models.base import FitFailure
from kagglekit.training.pseudo import PseudoLabels
from kagglekit.tuning.spaces import SearchSpace
from kagglekit.tuning.storage import import_optuna, requeue
from kagglekit.tuning.study import heartbeat, reports_fold_scores, worker_id

if TYPE_CHECKING:
    import optuna

EPOCH_SCORES = "kk_epoch_scores"
EPOCH_STARTUP_TRIALS = 4


@dataclass
class Objective:
    """Suggest parameters, cross-validate, report after each fold, maybe prune."""

    cfg: ProjectConfig
    model: str
    prepared: training.Prepared
    space: SearchSpace
    prune: bool
    beats: Path | None
    pseudo: PseudoLabels | None = None
    fatal: list[BaseException] = field(default_factory=list)
    # What the folds' models keep across trials (FoldContext.cache): every trial fits the
    # same folds, so a fold's feature pipeline is fitted once per process, not per trial.
    cache: dict[Any, Any] = field(default_factory=dict)

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr("kk_worker", worker_id())
        metric = get_metric(self.cfg.competition.metric)
        on_fold, on_epoch = self._on_fold(trial), self._on_epoch(trial, metric)
        try:
            # Sampling is inside: Ctrl-C while it runs re-queues what was sampled so far.
            params = self.space.suggest(trial)
            trial.set_user_attr("kk_params", params)
            with heartbeat(self.beats, trial.number):
                make_model = training.model_factory(self.cfg, self.model, self.prepared, params)
                result = training.cross_validate(
                    self.prepared.X,
                    self.prepared.y,
                    self.prepared.folds,
                    make_model,
                    metric,
                    threshold=self.cfg.competition.threshold,
                    n_outputs=training.n_outputs(self.cfg, self.prepared.classes),
                    task=self.prepared.task,
                    on_fold=on_fold,
                    on_epoch=on_epoch,
                    pseudo=self.pseudo,
                    cache=self.cache,
                )
        except FitFailure:
            raise  # these parameters did not fit (or ran out of GPU memory): this trial fails
        except KKError as err:
            self.fatal.append(err)  # a user mistake fails every trial: stop the worker
            raise
        except KeyboardInterrupt:
            requeue(trial.study, _frozen(trial))
            raise
        trial.set_user_attr("kk_fold_scores", [float(s) for s in result.scores])
        if not math.isfinite(result.mean):
            raise ValueError(f"CV score is {result.mean}")
        return result.mean

    def _on_fold(
        self, trial: optuna.Trial
    ) -> Callable[[training.FoldResult, list[training.FoldResult]], None]:
        """Report after each fold; prune between folds (never after the last one)."""
        optuna = import_optuna()
        # Folds run in the saved order in every trial, so step k is the same fold for all.
        # After the last fold nothing is left to save: the trial completes.
        per_fold = reports_fold_scores(trial.study.pruner)
        n_folds = self.prepared.folds.get_n_splits()

        def on_fold(fold: training.FoldResult, done: list[training.FoldResult]) -> None:
            running = float(np.mean([f.score for f in done]))
            trial.report(float(fold.score) if per_fold else running, step=len(done) - 1)
            if self.prune and len(done) < n_folds and trial.should_prune():
                raise optuna.TrialPruned(f"running mean {running:.6f} after {len(done)} fold(s)")

        return on_fold

    def _on_epoch(self, trial: optuna.Trial, metric: Any) -> Callable[[Any, int, float], None]:
        """Keep each epoch's score; prune mid-fold on the epoch rule."""
        optuna = import_optuna()
        epoch_scores: dict[str, list[float]] = {}

        def on_epoch(split: Any, epoch: int, score: float) -> None:
            # Inside a fold: kept per (fold, epoch) in a user attribute, not as Optuna steps,
            # so the fold pruners keep reading one step per fold (optuna#3203 is why a
            # trial's steps cannot be shared by folds and epochs).
            k = str(split.repeat * self.prepared.folds.n_splits + split.fold)
            epoch_scores.setdefault(k, []).append(float(score))
            trial.set_user_attr(EPOCH_SCORES, epoch_scores)
            if self.prune and epoch_should_prune(trial, k, epoch, float(score), metric):
                raise optuna.TrialPruned(f"epoch {epoch} of fold {k}: {score:.6f}")

        return on_epoch


def epoch_should_prune(
    trial: optuna.Trial, fold: str, epoch: int, score: float, metric: Any
) -> bool:
    """Prune inside a fold when this epoch's score is worse than the median of the
    finished trials' scores at the same fold and epoch (after a few finished trials).

    The rule of Optuna's MedianPruner, but on the current score rather than the best so
    far, and per (fold, epoch): a model that trains in epochs is stopped mid-fold.
    """
    optuna = import_optuna()
    others = []
    for t in trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        curve = (t.user_attrs.get(EPOCH_SCORES) or {}).get(fold) or []
        if len(curve) > epoch:
            others.append(float(curve[epoch]))
    if len(others) < EPOCH_STARTUP_TRIALS:
        return False
    median = float(np.median(others))
    return bool(metric.better(median, score))


def _frozen(trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    return trial.study._storage.get_trial(trial._trial_id)
