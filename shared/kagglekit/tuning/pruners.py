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

``PairedFoldPruner`` compares a trial fold by fold with the best finished trial on the same
folds, using two things about *this* project's folds and metric rather than one threshold
for all:

- How much a trial's score varies from fold to fold *relative to the best trial*: per fold,
  the trial's deficit against the best has a spread ``sigma``, pooled over the finished
  trials on the project's own folds. Pairing removes the difficulty both trials share (a
  hard fold is hard for both); what is left is larger on grouped or time-ordered folds,
  where folds differ more, and the rule waits longer there by itself.
- How coarse the metric is: a label metric such as accuracy moves in steps of one row
  (1/178 on a fold of 178 Titanic passengers, about 0.0011 on the CV mean of 891). The step
  of each fold is read from the finished trials' scores on it (when they all sit on one
  grid; a continuous metric such as log loss or RMSE has none, step 0). A final CV deficit
  of up to ``tie_steps`` such steps (two rows by default) counts as a tie: a trial expected
  to end that close to the best is kept, because which of two such trials "wins" is noise.
  For the same reason the paired spread is never taken below one step of a fold
  (near-copies of the best differ from it by a row here and there, too little to estimate a
  spread). On a continuous metric there is no tie and nothing depends on the metric's
  scale: deficits are measured in units of ``sigma``, so RMSE 53 and RMSE 0.4 are alike.

After ``k`` of ``n`` folds with mean deficit ``d``, the final CV deficit is ``k/n * d``
(already fixed) plus ``(n-k)/n`` times the mean deficit of the folds still to run, whose
mean is unknown (``d`` +- ``sigma/sqrt(k)``) and whose folds scatter by
``sigma/sqrt(n-k)``. The trial is pruned when that predicted final deficit exceeds the tie
tolerance by more than ``z`` of its standard deviations, i.e. when the chance that the
trial still ends within a tie of the best (or above it) is below ``Phi(-z)`` (16 % at
``z = 1``). ``z`` is larger than a plain "probably worse" test would need because a wrong
prune costs more than the folds it saves, through the sampler. kk's sampler, Optuna's TPE,
splits the trials so far into a good set (the best ``ceil(0.1 n)`` of ``n``, at most 25;
a pruned trial ranks below every finished one) and the rest, and draws the next parameters
from that split and the trials' parameters alone. So while pruning leaves the good set
as it would have been, the pruned search draws the very trials of the unpruned one (same
seed) and ends with the same best; once it cuts a trial that would have been in the good
set, every later draw differs, and the two searches' bests then differ by chance, by as
much as two 40-trial searches do (bench/README.md: the earlier ``z = 0.5`` without a tie
lost 0.008 accuracy on Titanic's grouped folds; 0.4 RMSE on diabetes' 309 rows is the same
chance at work). ``good_fraction`` and ``profile_trials`` aim at that directly: the
reference becomes the edge of the good set (the worst of the best ``good_fraction`` of the
trials so far, counted as TPE counts them), paired with the mean fold profile of the best
``profile_trials`` distinct trials shifted to that edge's CV (the best trial alone is partly
the best by luck on some folds). With ``z = 0.4, good_fraction = 0.15, profile_trials = 3``
(``paired-goodset`` in bench/tune.py) the search stays unchanged on more seeds at the same
share of folds skipped on Titanic and two regressions, but it saved less of the work on a
20,000-row binary table, so the default stays ``good_fraction = 0`` (the best finished
trial) with ``profile_trials = 1`` (its own fold scores); figures in bench/README.md.

What it assumes: folds run in the same saved order in every trial, and a trial's per-fold
deficits against the best are exchangeable across folds, with one spread (true of shuffled
k-fold, stratified and grouped folds; on time-ordered folds a trend in the deficit from
early to late folds is not modelled, so the projection from the first folds is rougher
there). With repeated CV the later repeats reuse the same rows, so the folds still to run
are not independent of those seen and the rule is, if anything, too patient there. It
cannot foresee a trial whose last folds are far better than its first (a heavy tail of the
paired differences): on diabetes a trial 1.1 RMSE behind after three folds won on the
fourth by 3.9. Finished trials with the same fold scores as another (a re-run of the same
parameters, a parameter with no effect) count once in ``sigma`` and in the profile (as often
as they ran in the good set, as TPE counts them); with no spread at all (every finished
trial a constant offset from the best, on a continuous metric) nothing is pruned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import optuna
from optuna.pruners import BasePruner, NopPruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

__all__ = [
    "FoldPercentilePruner",
    "NopPruner",
    "PairedFoldPruner",
    "cv_step",
    "fold_scores",
    "metric_step",
    "pooled_sd",
]


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


class _FoldPruner(BasePruner):
    """Waits for ``n_startup_trials`` finished trials, then asks ``_prune`` at each fold
    (with the finished trials and ``n_seen``, how many trials have finished or been pruned)."""

    def __init__(self, n_startup_trials: int) -> None:
        self.n_startup_trials = n_startup_trials

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        # Finished and pruned trials, as a sampler counts the trials so far; only finished
        # ones with at least `step + 1` folds are compared with.
        seen = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        finished = [
            t for t in seen if t.state == TrialState.COMPLETE and len(t.intermediate_values) > step
        ]
        if len(finished) < self.n_startup_trials:
            return False
        return self._prune(trial, step, finished, _signed(study), len(seen))

    def _prune(
        self,
        trial: FrozenTrial,
        step: int,
        finished: list[FrozenTrial],
        sign: float,
        n_seen: int,
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
        self,
        trial: FrozenTrial,
        step: int,
        finished: list[FrozenTrial],
        sign: float,
        n_seen: int,
    ) -> bool:
        others = np.array([sign * t.intermediate_values[step] for t in finished])
        mine = sign * trial.intermediate_values[step]
        if math.isnan(mine):
            return True
        # Keep the top `percentile` per cent: the threshold is that quantile from the top.
        return bool(mine < np.percentile(others, 100.0 - self.percentile))


class PairedFoldPruner(_FoldPruner):
    """Prune when the trial is unlikely to end within a tie of the reference trial.

    ``z``: standard deviations of the predicted final deficit beyond the tie before a trial
    is pruned. ``tie_steps``: the tie, in steps of the metric on the CV mean (rows, for a
    label metric; no effect on a continuous one). ``good_fraction``: compare with the worst
    of the best ``good_fraction`` of the trials so far (finished and pruned), the edge of
    the sampler's good set, instead of the best finished trial (0, the default).
    ``profile_trials``: how many of the best distinct finished trials average into the
    fold-by-fold profile the trial is paired with (1: the best trial's own fold scores).
    ``PairedFoldPruner(z=0.5, tie_steps=0)`` is the rule before issue 36.
    """

    def __init__(
        self,
        z: float = 1.0,
        tie_steps: float = 2.0,
        n_startup_trials: int = 5,
        good_fraction: float = 0.0,
        profile_trials: int = 1,
    ) -> None:
        if z < 0 or tie_steps < 0:
            raise ValueError(f"z and tie_steps must be >= 0, got z={z}, tie_steps={tie_steps}")
        if not 0.0 <= good_fraction < 1.0 or profile_trials < 1:
            raise ValueError(
                f"good_fraction must be in [0, 1) and profile_trials >= 1, got "
                f"good_fraction={good_fraction}, profile_trials={profile_trials}"
            )
        super().__init__(n_startup_trials)
        self.z = z
        self.tie_steps = tie_steps
        self.good_fraction = good_fraction
        self.profile_trials = profile_trials

    def _prune(
        self,
        trial: FrozenTrial,
        step: int,
        finished: list[FrozenTrial],
        sign: float,
        n_seen: int,
    ) -> bool:
        mine = np.array(fold_scores(trial)) * sign
        if not np.isfinite(mine).all():
            return True
        # Identical fold scores (the same parameters run twice, say) count once: copies
        # of the best would add zero differences and shrink the spread.
        distinct = {tuple(np.array(fold_scores(t)) * sign): None for t in finished}
        scores = np.array(list(distinct))  # (trials, folds)
        scores = scores[np.argsort(-scores.mean(axis=1), kind="stable")]  # best first
        best = scores[0]
        sigma = pooled_sd([best - s for s in scores[1:]])
        k, n = step + 1, len(best)
        # None: one distinct trial. Below float noise (the fold scores are recovered from
        # running means): no spread to judge by.
        if sigma is None or sigma <= 1e-9 * max(1.0, float(np.abs(best).max())) or k >= n:
            return False
        # A coarse metric cannot show a paired difference finer than one step of a fold:
        # near-copies of the best (TPE's late trials) differ by a row here and there, and
        # their spread alone would make a one-row deficit look significant.
        fold_step = n * cv_step(scores) if self.tie_steps else 0.0
        sigma = math.hypot(sigma, fold_step)
        reference = self._reference(scores, finished, sign, n_seen)
        # The predicted final deficit: mean `deficit` (fixed part and estimate alike),
        # standard deviation `spread` from the unknown mean and scatter of the rest.
        deficit = float(np.mean(reference[:k] - mine[:k]))
        spread = (n - k) / n * sigma * math.sqrt(1.0 / (n - k) + 1.0 / k)
        tie = self.tie_steps * fold_step / n
        return deficit - tie > self.z * spread

    def _reference(
        self, scores: np.ndarray, finished: list[FrozenTrial], sign: float, n_seen: int
    ) -> np.ndarray:
        """Fold scores of a trial at the edge of the good set: the fold profile of the best
        ``profile_trials`` distinct trials, shifted to the CV of the worst good trial.

        The good set is counted as Optuna's TPE counts its own: over all finished trials
        (copies too) and the trials so far with this one (``n_seen + 1``), at most 25.
        """
        if not self.good_fraction and self.profile_trials == 1:
            return scores[0]  # the best trial itself, to the last digit
        cvs = (sign * float(np.mean(fold_scores(t))) for t in finished)
        finals = sorted((cv for cv in cvs if math.isfinite(cv)), reverse=True)
        n_good = min(math.ceil(self.good_fraction * (n_seen + 1)), 25, len(finals))
        top = scores[: self.profile_trials]
        edge = finals[n_good - 1] if n_good else float(top[0].mean())
        return top.mean(axis=0) - top.mean() + edge


def metric_step(values: Sequence[float] | np.ndarray) -> float:
    """The grid step that scores of one fold sit on (0.0 when they sit on none).

    Accuracy on a fold of 178 rows takes values i/178, so its distinct scores differ by
    multiples of 1/178: the smallest difference is the step when every difference is a
    whole multiple of it. Scores of a continuous metric fail that test (0.0); with fewer
    than three distinct values there is nothing to tell a grid from chance (0.0).
    """
    distinct = np.unique(np.round(np.asarray(values, dtype=float), 12))
    if len(distinct) < 3:
        return 0.0
    gaps = np.diff(distinct)
    step = float(gaps.min())
    ratios = gaps / step
    return step if bool(np.all(np.abs(ratios - np.round(ratios)) < 1e-4)) else 0.0


def cv_step(scores: np.ndarray) -> float:
    """One step of the metric on the CV mean: one row on one fold (``scores``: trials x folds).

    The CV mean averages the folds, so one fold's step moves it by that step over ``n``.
    Folds whose scores show no grid yet (fewer than three distinct values) are left out;
    0.0 when no fold shows one (a continuous metric).
    """
    n = scores.shape[1]
    steps = [s for s in (metric_step(scores[:, j]) for j in range(n)) if s > 0]
    return float(np.mean(steps)) / n if steps else 0.0


def pooled_sd(differences: Sequence[np.ndarray]) -> float | None:
    """The within-trial standard deviation of per-fold differences, pooled over trials."""
    squares = sum(float(((d - d.mean()) ** 2).sum()) for d in differences)
    dof = sum(len(d) - 1 for d in differences)
    return math.sqrt(squares / dof) if dof > 0 else None
