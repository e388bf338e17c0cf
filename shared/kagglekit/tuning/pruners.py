"""Pruners for cross-validation: trials compared fold by fold on the same saved folds.

Every trial reports the running mean of its fold scores after each fold (step k = the
first k + 1 folds, in the saved order, identical for every trial). Optuna's own
``MedianPruner`` and ``PercentilePruner`` compare a trial's *best* intermediate value so
far with the other trials, which is right for a learning curve but not for a running
mean: one lucky first fold would shield a trial from pruning for the rest of its folds.
Optuna has no pruner that compares the current value (or the paired per-fold scores)
from the first fold on (its ``WilcoxonPruner`` needs four folds that all lost before it
can reach p < 0.1 with five folds), so the two rules here are written by hand.

``FoldPercentilePruner`` prunes a trial whose running mean is worse than the given
percentile of the finished trials' running means over the same folds.

``PairedFoldPruner`` compares a trial with the best finished trial on the same folds.
Per fold, the trial's deficit against the best has a spread ``sigma`` (pooled over the
finished trials; pairing removes the fold-to-fold difficulty both trials share, which is
most of a small fold's noise). After ``k`` of ``n`` folds with mean deficit ``d``, the
final CV deficit is ``k/n * d`` (already fixed) plus ``(n-k)/n`` times the mean deficit of
the folds still to run, whose mean is unknown (``d`` +- ``sigma/sqrt(k)``) and whose folds
scatter by ``sigma/sqrt(n-k)``. The trial is pruned when that predicted final deficit is
above zero by more than ``z`` of its standard deviations, i.e. when the chance that the
trial still ends level with or above the best is below ``Phi(-z)`` (31 % at ``z = 0.5``).
Finished trials with the same fold scores as another (a re-run of the same parameters, a
parameter with no effect) count once in ``sigma``; with no spread at all (every finished
trial a constant offset from the best) nothing is pruned. With repeated CV the later
repeats reuse the same rows, so the folds still to run are not independent and the rule
is, if anything, too patient there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import optuna
from optuna.pruners import BasePruner, NopPruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

__all__ = ["FoldPercentilePruner", "NopPruner", "PairedFoldPruner", "fold_scores", "pooled_sd"]


def fold_scores(trial: FrozenTrial) -> list[float]:
    """Per-fold scores recovered from the running means a trial reported (steps 0..k)."""
    means = [trial.intermediate_values[s] for s in sorted(trial.intermediate_values)]
    return [
        (k + 1) * m - k * prev
        for k, (m, prev) in enumerate(zip(means, [0.0, *means], strict=False))
    ]


def _signed(study: optuna.Study) -> float:
    """+1 when higher scores are better, -1 otherwise."""
    return 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0


def _finished(study: optuna.Study, step: int) -> list[FrozenTrial]:
    """Finished trials that reported at least ``step + 1`` folds."""
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if len(t.intermediate_values) > step
    ]


class _FoldPruner(BasePruner):
    """Waits for ``n_startup_trials`` finished trials, then asks ``_prune`` at each fold."""

    def __init__(self, n_startup_trials: int) -> None:
        self.n_startup_trials = n_startup_trials

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        finished = _finished(study, step)
        if len(finished) < self.n_startup_trials:
            return False
        return self._prune(trial, step, finished, _signed(study))

    def _prune(
        self, trial: FrozenTrial, step: int, finished: list[FrozenTrial], sign: float
    ) -> bool:
        raise NotImplementedError


class FoldPercentilePruner(_FoldPruner):
    """Prune when the running mean is outside the top ``percentile`` of finished trials."""

    def __init__(self, percentile: float = 50.0, n_startup_trials: int = 5) -> None:
        if not 0.0 < percentile <= 100.0:
            raise ValueError(f"percentile must be in (0, 100], got {percentile}")
        super().__init__(n_startup_trials)
        self.percentile = percentile

    def _prune(
        self, trial: FrozenTrial, step: int, finished: list[FrozenTrial], sign: float
    ) -> bool:
        others = np.array([sign * t.intermediate_values[step] for t in finished])
        mine = sign * trial.intermediate_values[step]
        if math.isnan(mine):
            return True
        # Keep the top `percentile` per cent: the threshold is that quantile from the top.
        return bool(mine < np.percentile(others, 100.0 - self.percentile))


class PairedFoldPruner(_FoldPruner):
    """Prune when the trial is unlikely to end level with the best finished trial."""

    def __init__(self, z: float = 0.5, n_startup_trials: int = 5) -> None:
        super().__init__(n_startup_trials)
        self.z = z

    def _prune(
        self, trial: FrozenTrial, step: int, finished: list[FrozenTrial], sign: float
    ) -> bool:
        mine = np.array(fold_scores(trial)) * sign
        if not np.isfinite(mine).all():
            return True
        # Identical fold scores (the same parameters run twice, say) count once: copies
        # of the best would add zero differences and shrink the spread.
        distinct = {tuple(np.array(fold_scores(t)) * sign): None for t in finished}
        scores = [np.array(s) for s in distinct]
        best = scores[int(np.argmax([s.mean() for s in scores]))]
        sigma = pooled_sd([best - s for s in scores if s is not best])
        k, n = step + 1, len(best)
        # None: one distinct trial. Below float noise (the fold scores are recovered from
        # running means): no spread to judge by.
        if sigma is None or sigma <= 1e-9 * max(1.0, float(np.abs(best).max())) or k >= n:
            return False
        # The predicted final deficit: mean `deficit` (fixed part and estimate alike),
        # standard deviation `spread` from the unknown mean and scatter of the rest.
        deficit = float(np.mean(best[:k] - mine[:k]))
        spread = (n - k) / n * sigma * math.sqrt(1.0 / (n - k) + 1.0 / k)
        return deficit > self.z * spread


def pooled_sd(differences: Sequence[np.ndarray]) -> float | None:
    """The within-trial standard deviation of per-fold differences, pooled over trials."""
    squares = sum(float(((d - d.mean()) ** 2).sum()) for d in differences)
    dof = sum(len(d) - 1 for d in differences)
    return math.sqrt(squares / dof) if dof > 0 else None
