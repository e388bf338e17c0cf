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


# The paired rule before issue 36: z = 0.5, no tie and no floor for a coarse metric,
# against the best finished trial's own fold scores.
OLD_PAIRED = pruners.PairedFoldPruner(z=0.5, tie_steps=0.0, good_fraction=0.0, profile_trials=1)
# Issue 36's first rule (the default): z = 1 and a tie of two metric steps, the best trial.
FIRST_36 = pruners.PairedFoldPruner(z=1.0, good_fraction=0.0, profile_trials=1)
# Issue 36's second look (bench/tune.py's paired-goodset): the edge of TPE's good set, the
# best three's fold profile, z = 0.4.
GOODSET = pruners.PairedFoldPruner(z=0.4, good_fraction=0.15, profile_trials=3)

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
    assert (pruner.z, pruner.tie_steps, pruner.good_fraction, pruner.profile_trials) == (
        1.0,
        2.0,
        0.0,
        1,
    )


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
    assert not FIRST_36.prune(study, trial)
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
    assert not FIRST_36.prune(study, trial)
    assert FIRST_36.prune(study, _running(study, [(BEST_ROWS[0] - 3) * ROW]))


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
def test_first_36_threshold_is_the_tie_plus_z_floored_spreads(k: int) -> None:
    """Pins issue 36's first rule: deficit - tie > z * spread, sigma floored at one fold step."""
    scores = np.array(COARSE)
    best = scores[0]
    sigma = pruners.pooled_sd([best - s for s in scores[1:]])
    assert sigma is not None
    n = len(best)
    sigma = math.hypot(sigma, ROW)
    threshold = 2 * ROW / n + 1.0 * (n - k) / n * sigma * math.sqrt(1 / (n - k) + 1 / k)
    study = _study("maximize", COARSE)
    pruner = FIRST_36
    assert pruner.prune(study, _running(study, list(best[:k] - threshold * 1.05)))
    assert not pruner.prune(study, _running(study, list(best[:k] - threshold * 0.95)))


def test_negative_z_or_tie_is_refused() -> None:
    with pytest.raises(ValueError, match="tie_steps"):
        pruners.PairedFoldPruner(tie_steps=-1.0)


# --- the good set TPE builds on, and the reference profile (issue 36, second rule) ----------


def _graded(n_trials: int, step: float) -> list[list[float]]:
    """Finished trials on a continuous metric: CV means ``step`` apart, fold noise alike."""
    folds = np.array([0.86, 0.80, 0.84, 0.85, 0.83])
    wiggle = np.array(
        [[0.004 * math.sin(3 * i + 2 * j) for j in range(5)] for i in range(n_trials)]
    )
    wiggle -= wiggle.mean(axis=1, keepdims=True)  # each trial's CV stays on the grade
    return [list(folds - step * i + wiggle[i]) for i in range(n_trials)]


def test_a_trial_headed_for_the_good_set_is_kept_though_behind_the_best() -> None:
    """20 trials so far: TPE's good set is their best two (10 %), the rule protects the best
    four (15 % of 21): a trial 0.012 behind the best after a fold, as far behind as the
    third best trial, is kept; against the best it would be cut."""
    finished = _graded(20, 0.004)
    study = _study("maximize", finished)
    trial = _running(study, [finished[0][0] - 0.012])
    against_best = pruners.PairedFoldPruner(z=0.4, good_fraction=0.0, profile_trials=3)
    assert against_best.prune(study, trial)
    assert not GOODSET.prune(study, trial)
    # Far behind the fourth best too: pruned all the same.
    assert GOODSET.prune(study, _running(study, [finished[0][0] - 0.04]))


def test_the_good_set_grows_with_the_trials_so_far() -> None:
    """The same finished trials, after more pruned ones: the edge moves down the ranking."""
    finished = _graded(8, 0.004)
    few = _study("maximize", finished)
    deficit = 0.016
    assert GOODSET.prune(few, _running(few, [finished[0][0] - deficit]))
    many = _study("maximize", finished)
    for _ in range(20):  # pruned trials count towards the good set's size, as TPE counts them
        many.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState.PRUNED,
                intermediate_values={0: 0.5},
                distributions={},
                params={},
            )
        )
    assert not GOODSET.prune(many, _running(many, [finished[0][0] - deficit]))


def test_the_profile_averages_away_the_best_trials_luck() -> None:
    """The best trial won partly on a lucky first fold (+0.02 over the others' pattern): a
    trial 0.008 ahead of the second best on that fold is behind the best alone (0.013),
    not behind the best three's profile."""
    finished = _graded(8, 0.003)
    finished[0][0] += 0.02
    finished[0][1:] = [s - 0.005 for s in finished[0][1:]]  # the same CV, luck on fold 1
    study = _study("maximize", finished)
    trial = _running(study, [finished[1][0] + 0.008])
    alone = pruners.PairedFoldPruner(z=0.4)
    assert alone.prune(study, trial)
    assert not pruners.PairedFoldPruner(z=0.4, good_fraction=0.0, profile_trials=3).prune(
        study, trial
    )


@pytest.mark.parametrize("k", [1, 2, 4])
def test_threshold_is_the_tie_plus_z_spreads_from_the_good_sets_edge(k: int) -> None:
    """Pins the rule: the top three's fold profile shifted to the edge of the good set (the
    2nd best of 7 finished trials: ceil(0.15 * 8) = 2), deficit - tie > 0.4 * spread."""
    scores = np.array(COARSE)
    order = np.argsort(-scores.mean(axis=1), kind="stable")
    best, top = scores[order[0]], scores[order[:3]]
    edge = np.sort(scores.mean(axis=1))[::-1][1]
    reference = top.mean(axis=0) - top.mean() + edge
    sigma = pruners.pooled_sd([best - scores[i] for i in order[1:]])
    assert sigma is not None
    n = len(best)
    sigma = math.hypot(sigma, ROW)
    threshold = 2 * ROW / n + 0.4 * (n - k) / n * sigma * math.sqrt(1 / (n - k) + 1 / k)
    study = _study("maximize", COARSE)
    pruner = GOODSET
    assert pruner.prune(study, _running(study, list(reference[:k] - threshold * 1.05)))
    assert not pruner.prune(study, _running(study, list(reference[:k] - threshold * 0.95)))


def test_bad_good_fraction_or_profile_is_refused() -> None:
    with pytest.raises(ValueError, match="good_fraction"):
        pruners.PairedFoldPruner(good_fraction=1.0)
    with pytest.raises(ValueError, match="profile_trials"):
        pruners.PairedFoldPruner(profile_trials=0)


# --- what the rule assumes of kk's sampler ---------------------------------------------------


class _PruneTheseTrials(optuna.pruners.BasePruner):
    """Prunes the given trial numbers after their first fold."""

    def __init__(self, numbers: set[int]) -> None:
        self.numbers = numbers

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return trial.number in self.numbers


def _fold_search(pruner: optuna.pruners.BasePruner, n_trials: int = 30) -> optuna.Study:
    """kk's TPE sampler on a two-parameter loss reported fold by fold (running means)."""
    import kagglekit.tuning as tuning

    def objective(trial: optuna.Trial) -> float:
        x, y = trial.suggest_float("x", 0, 1), trial.suggest_float("y", 0, 1)
        total = 0.0
        for j in range(5):
            total += (x - 0.3) ** 2 + (y - 0.6) ** 2 + 0.01 * math.sin(7 * x + j)
            trial.report(total / (j + 1), step=j)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return total / 5

    study = optuna.create_study(sampler=tuning.make_sampler("tpe", 0), pruner=pruner)
    study.optimize(objective, n_trials=n_trials)
    return study


def test_tpe_draws_the_same_trials_while_pruning_leaves_its_good_set_alone() -> None:
    """The assumption the paired rule is built on: Optuna's TPE (kk's sampler) draws from
    its split into the best ceil(0.1 n) trials and the rest, pruned trials ranked below
    finished ones. Pruning trials that never enter that good set changes no draw; pruning
    one that would have entered it changes the draws after it."""
    full = _fold_search(optuna.pruners.NopPruner())
    values = [t.value for t in full.trials]
    good: set[int] = set()
    for n in range(10, len(values)):  # TPE's good set when it draws trial n
        good |= set(sorted(range(n), key=lambda i: values[i])[: math.ceil(0.1 * n)])
    never_good = set(range(5, len(values))) - good
    assert len(never_good) > 10
    pruned = _fold_search(_PruneTheseTrials(never_good))
    assert sum(t.state == optuna.trial.TrialState.PRUNED for t in pruned.trials) == len(never_good)
    assert [t.params for t in pruned.trials] == [t.params for t in full.trials]
    first_good = min(i for i in good if i >= 10)
    changed = _fold_search(_PruneTheseTrials(never_good | {first_good}))
    params = [t.params for t in changed.trials]
    assert params[: first_good + 1] == [t.params for t in full.trials][: first_good + 1]
    assert params[first_good + 1 :] != [t.params for t in full.trials][first_good + 1 :]
