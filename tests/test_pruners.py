"""The fold pruners on real in-memory Optuna studies with hand-made fold scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

import kagglekit.tuning.pruners as pruners  # noqa: E402


def _finished(scores: list[float]) -> optuna.trial.FrozenTrial:
    """A complete trial that reported the running means of ``scores``."""
    means = np.cumsum(scores) / np.arange(1, len(scores) + 1)
    return optuna.trial.create_trial(
        value=float(means[-1]),
        intermediate_values={k: float(m) for k, m in enumerate(means)},
        distributions={},
        params={},
    )


def _study(direction: str, finished: list[list[float]]) -> optuna.Study:
    study = optuna.create_study(direction=direction)
    for scores in finished:
        study.add_trial(_finished(scores))
    return study


def _running(study: optuna.Study, scores: list[float]) -> optuna.trial.FrozenTrial:
    """A running trial that has reported the running means of ``scores`` so far."""
    trial = study.ask()
    total = 0.0
    for k, score in enumerate(scores):
        total += score
        trial.report(total / (k + 1), step=k)
    return study._storage.get_trial(trial._trial_id)


# The paired rule before issue 36: z = 0.5, no tie and no floor for a coarse metric.
OLD_PAIRED = pruners.PairedFoldPruner(z=0.5, tie_steps=0.0)

# Five finished trials over five folds: fold 2 is hard for everybody, the first trial best.
FINISHED = [
    [0.86, 0.80, 0.84, 0.85, 0.83],
    [0.84, 0.78, 0.83, 0.83, 0.81],
    [0.83, 0.77, 0.82, 0.83, 0.80],
    [0.82, 0.76, 0.81, 0.82, 0.80],
    [0.80, 0.74, 0.79, 0.80, 0.78],
]


def test_fold_scores_recovers_each_fold_from_running_means() -> None:
    study = _study("maximize", [])
    trial = _running(study, [0.8, 0.6, 0.9])
    assert pruners.fold_scores(trial) == pytest.approx([0.8, 0.6, 0.9])


@pytest.mark.parametrize(
    "pruner",
    [pruners.FoldPercentilePruner(50.0), OLD_PAIRED],
    ids=["percentile", "paired"],
)
def test_prunes_a_poor_first_fold_and_keeps_a_strong_one(pruner: optuna.pruners.BasePruner) -> None:
    study = _study("maximize", FINISHED)
    assert pruner.prune(study, _running(study, [0.78]))
    assert not pruner.prune(study, _running(study, [0.87]))


@pytest.mark.parametrize(
    "pruner",
    [pruners.FoldPercentilePruner(50.0), OLD_PAIRED],
    ids=["percentile", "paired"],
)
def test_minimised_metrics_are_mirrored(pruner: optuna.pruners.BasePruner) -> None:
    losses = [[1.0 - s for s in scores] for scores in FINISHED]
    study = _study("minimize", losses)
    assert pruner.prune(study, _running(study, [0.22]))
    assert not pruner.prune(study, _running(study, [0.13]))


def test_a_lucky_first_fold_does_not_shield_a_trial_later() -> None:
    """Optuna's MedianPruner compares the best running mean so far; these compare the current one."""
    study = _study("maximize", FINISHED)
    trial = _running(study, [0.87, 0.70, 0.72])  # running means 0.87, 0.785, 0.763
    assert not optuna.pruners.MedianPruner(n_startup_trials=5).prune(study, trial)
    assert pruners.FoldPercentilePruner(50.0).prune(study, trial)
    assert OLD_PAIRED.prune(study, trial)


def test_paired_pruner_compares_fold_for_fold() -> None:
    """Behind the best trial on every fold so far, yet at the median of running means."""
    study = _study("maximize", FINISHED)
    behind = _running(study, [0.84, 0.76])  # 0.02 and 0.04 behind the best, running mean 0.80
    assert not pruners.FoldPercentilePruner(50.0).prune(study, behind)
    assert OLD_PAIRED.prune(study, behind)
    level = _running(study, [0.86, 0.80])  # the best trial's own first two folds
    assert not OLD_PAIRED.prune(study, level)


@pytest.mark.parametrize(
    "pruner",
    [pruners.FoldPercentilePruner(50.0), OLD_PAIRED],
    ids=["percentile", "paired"],
)
def test_nothing_is_pruned_before_the_startup_trials_finish(
    pruner: optuna.pruners.BasePruner,
) -> None:
    study = _study("maximize", FINISHED[:4])
    assert not pruner.prune(study, _running(study, [0.5]))
    study.add_trial(_finished(FINISHED[4]))
    assert pruner.prune(study, _running(study, [0.5]))


def test_a_nan_score_is_pruned() -> None:
    study = _study("maximize", FINISHED)
    trial = _running(study, [math.nan])
    assert pruners.FoldPercentilePruner(50.0).prune(study, trial)
    assert OLD_PAIRED.prune(study, trial)


def test_pooled_sd_needs_two_folds() -> None:
    assert pruners.pooled_sd([np.array([0.1])]) is None
    assert pruners.pooled_sd([np.array([0.0, 0.2]), np.array([0.1, 0.1])]) == pytest.approx(
        math.sqrt(0.02 / 2)
    )


@pytest.mark.parametrize("k", [1, 2, 4])
def test_paired_threshold_is_half_a_predicted_standard_deviation(k: int) -> None:
    """Just beyond the threshold is pruned, just inside it is not (pins the old formula)."""
    best = np.array(FINISHED[0])
    diffs = [best - np.array(s) for s in FINISHED[1:]]
    sigma = math.sqrt(sum(((d - d.mean()) ** 2).sum() for d in diffs) / (4 * len(diffs)))
    n = len(best)
    threshold = 0.5 * (n - k) / n * sigma * math.sqrt(1 / (n - k) + 1 / k)
    study = _study("maximize", FINISHED)
    pruner = OLD_PAIRED
    assert pruner.prune(study, _running(study, list(best[:k] - threshold * 1.05)))
    assert not pruner.prune(study, _running(study, list(best[:k] - threshold * 0.95)))


def test_copies_of_a_trial_do_not_shrink_the_spread() -> None:
    """The same fold scores finished twice (re-run parameters) count once.

    0.0015 behind on the first fold is inside the threshold (0.0023); twenty zero-difference
    copies of the best, if counted, would shrink it to 0.0010 and prune.
    """
    trial_scores = list(np.array(FINISHED[0][:1]) - 0.0015)
    once = _study("maximize", FINISHED)
    assert not OLD_PAIRED.prune(once, _running(once, trial_scores))
    copies = _study("maximize", FINISHED + [FINISHED[0]] * 20)
    assert not OLD_PAIRED.prune(copies, _running(copies, trial_scores))


def test_no_spread_prunes_nothing() -> None:
    """Every finished trial a constant offset from the best: no noise estimate, no pruning."""
    finished = [[s - 0.01 * i for s in FINISHED[0]] for i in range(5)]
    study = _study("maximize", finished)
    assert not OLD_PAIRED.prune(study, _running(study, [0.5]))


def test_paired_is_the_default() -> None:
    import kagglekit.tuning as tuning

    assert tuning.DEFAULT_PRUNER == "paired"
    pruner = tuning.make_pruner("paired")
    assert isinstance(pruner, pruners.PairedFoldPruner)
    assert (pruner.z, pruner.tie_steps) == (1.0, 2.0)


# --- what the folds and the metric are (issue 36) -----------------------------------------

ROW = 1 / 178  # one passenger on a Titanic fold of 178 rows: accuracy's step there


def test_metric_step_reads_a_grid_of_rows_and_none_from_a_continuous_metric() -> None:
    assert pruners.metric_step([150 * ROW, 147 * ROW, 149 * ROW, 150 * ROW]) == pytest.approx(ROW)
    # Two rows apart at least: the step seen is two rows (an overestimate, never finer).
    assert pruners.metric_step([150 * ROW, 148 * ROW, 146 * ROW]) == pytest.approx(2 * ROW)
    assert pruners.metric_step([0.0712, 0.0698, 0.0731, 0.0705]) == 0.0  # log loss
    assert pruners.metric_step([150 * ROW, 149 * ROW]) == 0.0  # two values: no grid to tell
    scores = np.array([[150, 140], [149, 139], [147, 141]]) * ROW  # (trials, folds)
    assert pruners.cv_step(scores) == pytest.approx(ROW / 2)


# Titanic-like finished trials: accuracy on folds of 178 rows, the best trial and near-copies
# of it (what TPE samples late) one or two passengers off here and there; their paired spread
# alone (0.004, under one passenger) is finer than the metric can show.
BEST_ROWS = np.array([150, 140, 148, 145, 146])
NEAR_COPIES = [
    [0, -1, 0, -1, 0],
    [-1, 0, -1, 0, -1],
    [-1, -1, 0, 0, -2],
    [0, -2, -1, 0, -1],
    [-2, 0, 0, -1, -1],
    [-1, -1, -1, 0, 0],
]
COARSE = [list(BEST_ROWS * ROW)] + [list((BEST_ROWS + np.array(o)) * ROW) for o in NEAR_COPIES]


def test_one_passenger_behind_is_a_tie_that_only_the_old_rule_prunes() -> None:
    """One row behind the best on the first fold: inside the metric's resolution."""
    study = _study("maximize", COARSE)
    trial = _running(study, [(BEST_ROWS[0] - 1) * ROW])
    assert OLD_PAIRED.prune(study, trial)
    assert not pruners.PairedFoldPruner().prune(study, trial)


def test_within_the_fold_spread_is_kept_where_the_old_rule_prunes() -> None:
    """Grouped folds: paired fold differences of +-3 passengers (a spread of 2.4). A trial
    two passengers behind after the first fold still ends within a tie of the best often
    enough to be kept; three behind is pruned."""
    swings = [[3, -3, 2, -2, 0], [-3, 2, -2, 3, 0], [2, 0, -3, -1, 2], [-2, 3, 0, -3, 2]]
    finished = [list(BEST_ROWS * ROW)] + [list((BEST_ROWS + np.array(s) - 1) * ROW) for s in swings]
    study = _study("maximize", finished)
    trial = _running(study, [(BEST_ROWS[0] - 2) * ROW])  # two passengers behind on fold 1
    assert OLD_PAIRED.prune(study, trial)
    assert not pruners.PairedFoldPruner().prune(study, trial)
    assert pruners.PairedFoldPruner().prune(study, _running(study, [(BEST_ROWS[0] - 3) * ROW]))


@pytest.mark.parametrize("finished", [COARSE, FINISHED], ids=["accuracy-rows", "continuous"])
def test_a_clearly_bad_trial_is_still_pruned_after_its_first_fold(
    finished: list[list[float]],
) -> None:
    study = _study("maximize", finished)
    best = finished[0][0]
    assert pruners.PairedFoldPruner().prune(study, _running(study, [best - 10 * ROW]))


def test_the_tie_does_nothing_on_a_continuous_metric() -> None:
    """Log-loss-like scores sit on no grid: only z differs from the old rule."""
    finished = [
        [s + 0.0001 * math.sin(7 * i + j) for j, s in enumerate(row)]
        for i, row in enumerate(FINISHED)
    ]
    study = _study("maximize", finished)
    for deficit in (0.005, 0.01, 0.02, 0.04):
        trial = _running(study, [finished[0][0] - deficit])
        assert pruners.PairedFoldPruner(z=0.5).prune(study, trial) == OLD_PAIRED.prune(study, trial)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_new_threshold_is_the_tie_plus_z_floored_spreads(k: int) -> None:
    """Pins the rule: deficit - tie > z * spread, sigma floored at one fold step."""
    scores = np.array(COARSE)
    best = scores[0]
    sigma = pruners.pooled_sd([best - s for s in scores[1:]])
    assert sigma is not None
    n = len(best)
    sigma = math.hypot(sigma, ROW)
    threshold = 2 * ROW / n + 1.0 * (n - k) / n * sigma * math.sqrt(1 / (n - k) + 1 / k)
    study = _study("maximize", COARSE)
    pruner = pruners.PairedFoldPruner()
    assert pruner.prune(study, _running(study, list(best[:k] - threshold * 1.05)))
    assert not pruner.prune(study, _running(study, list(best[:k] - threshold * 0.95)))


def test_negative_z_or_tie_is_refused() -> None:
    with pytest.raises(ValueError, match="tie_steps"):
        pruners.PairedFoldPruner(tie_steps=-1.0)
