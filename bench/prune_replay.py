"""Replay unpruned tuning studies under pruners: what each would have skipped of the same trials.

For each sampler seed, one unpruned LightGBM study (the set-up of ``bench/tune.py``, through
``kagglekit.tuning.tune`` with ``prune=False``). Its trials are then fed, in order, to an
in-memory Optuna study per pruner: each trial reports its running fold means one fold at a
time and the real pruner object decides after each fold, seeing only the trials before it
(finished, or pruned where it pruned them). There is no sampler feedback: this isolates the
pruning rule from the search it would have changed. Reported per pruner, as means over the
seeds: folds skipped, time skipped (each trial's duration split evenly over its folds), how
much worse the best finished trial is than the best of all, and how many pruned trials would
have ended better than the best finished trial at the time they were cut ("would-be leaders
cut": in a real search each of those also tells TPE that a winning region is bad, which a
replay cannot show), and on how many seeds the real pruned search would have drawn the
very same trials as the unpruned one, with the first trial it would have drawn differently
(``tpe_divergence``: TPE's draws depend only on its split of the trials so far, so this is
exact, and ``bench/tune.py``'s "same trials" agrees with it; where the search is unchanged
the real pruned search ends with the same best, and saves what the replay says it skips).

    .venv/bin/python bench/prune_replay.py [--seeds 0,1,2,3,4,5] [--trials 40]
        [--only titanic,diabetes] [--cache DIR] [--pruners paired,paired:z=0.75]

``--cache DIR`` keeps each unpruned study's trials in ``DIR/<table>-s<seed>-t<trials>.json``
and reads them from there on the next run, so pruners can be compared without refitting.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from _common import default_mirror
from tune import DEFAULT_TABLES, SETUPS

from kagglekit import tuning
from kagglekit.metrics import get_metric
from kagglekit.project import Project
from kagglekit.tuning.pruners import PairedFoldPruner

PRUNERS: dict[str, Any] = {
    "optuna-median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5),
    "median": lambda: tuning.make_pruner("median"),
    "paired": lambda: tuning.make_pruner("paired"),
    # The paired rule before issue 36: z = 0.5, no tie for a coarse metric, the best trial.
    "paired-old": lambda: PairedFoldPruner(
        z=0.5, tie_steps=0.0, good_fraction=0.0, profile_trials=1
    ),
    # Issue 36's first rule (z = 1, a tie of two steps), still against the best trial.
    "paired-first36": lambda: PairedFoldPruner(z=1.0, good_fraction=0.0, profile_trials=1),
    # Against the edge of TPE's good set, the best three's fold profile, z = 0.4.
    "paired-goodset": lambda: PairedFoldPruner(z=0.4, good_fraction=0.15, profile_trials=3),
}


def pruner_maker(spec: str) -> Any:
    """A name of PRUNERS, or ``paired:KEY=VALUE:...`` for a PairedFoldPruner with those
    arguments (``paired:z=0.75:good_fraction=0.2``)."""
    if spec in PRUNERS:
        return PRUNERS[spec]
    name, *pairs = spec.split(":")
    if name != "paired" or not pairs:
        raise SystemExit(
            f"unknown pruner {spec!r}: one of {', '.join(PRUNERS)} or paired:KEY=VALUE"
        )
    kwargs = {k: float(v) for k, v in (pair.split("=") for pair in pairs)}
    return lambda: PairedFoldPruner(**kwargs)  # type: ignore[arg-type]


def unpruned_trials(project: Project, seed: int, n_trials: int) -> list[tuple[list[float], float]]:
    """(fold scores, seconds) of every trial of one unpruned study, in trial order."""
    result = tuning.tune(
        project,
        project.config(),
        study_name=f"replay-s{seed}",
        model_name="lightgbm",
        n_trials=n_trials,
        seed=seed,
        prune=False,
    )
    return [
        (t.user_attrs["kk_fold_scores"], (t.datetime_complete - t.datetime_start).total_seconds())
        for t in result.study.get_trials()
        if t.state == optuna.trial.TrialState.COMPLETE
    ]


def cached_trials(
    cache: Path | None, name: str, project: Any, seed: int, n_trials: int
) -> list[tuple[list[float], float]]:
    """``unpruned_trials``, kept in ``cache`` (when given) between runs."""
    path = cache / f"{name}-s{seed}-t{n_trials}.json" if cache else None
    if path and path.exists():
        return [(list(s), float(sec)) for s, sec in json.loads(path.read_text())]
    trials = unpruned_trials(project(), seed, n_trials)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(trials))
    return trials


def replay(
    trials: list[tuple[list[float], float]], make_pruner: Any, direction: str
) -> dict[str, float]:
    """Feed the trials to a fresh study with this pruner; what it would have skipped."""
    study = optuna.create_study(direction=direction, pruner=make_pruner())
    folds_run = seconds_run = 0.0
    finished: list[float] = []
    sign = 1.0 if direction == "maximize" else -1.0
    cut_leaders = 0  # pruned trials that would have ended better than the best finished then
    for scores, seconds in trials:
        trial = study.ask()
        total = 0.0
        pruned = False
        for k, score in enumerate(scores):
            total += score
            trial.report(total / (k + 1), step=k)
            folds_run += 1
            seconds_run += seconds / len(scores)
            if k + 1 < len(scores) and trial.should_prune():
                pruned = True
                break
        if pruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            final = sign * float(np.mean(scores))
            cut_leaders += bool(finished) and final > max(sign * f for f in finished)
        else:
            study.tell(trial, total / len(scores))
            finished.append(total / len(scores))
    all_means = [float(np.mean(s)) for s, _ in trials]
    pick = max if direction == "maximize" else min
    states = study.get_trials(deepcopy=False)
    return {
        "folds_skipped": 1.0 - folds_run / sum(len(s) for s, _ in trials),
        "time_skipped": 1.0 - seconds_run / sum(sec for _, sec in trials),
        "best_diff": sign * (pick(finished) - pick(all_means)),
        "cut_leaders": float(cut_leaders),
        "diverges_at": float(tpe_divergence(states, [sign * m for m in all_means], sign)),
    }


def tpe_divergence(states: list[optuna.trial.FrozenTrial], means: list[float], sign: float) -> int:
    """The first trial that TPE would have sampled differently in the pruned search (-1: none).

    kk's TPE (Optuna's defaults: 10 random start-up trials, then a "good" set of the best
    ``ceil(0.1 n)`` of the ``n`` trials so far, at most 25) splits finished trials by value
    and ranks every pruned trial below every finished one. Its draws depend on the trials'
    parameters and on that split only, so while the split of the trials so far is the same
    with and without pruning, the pruned search samples the very same trials as the unpruned
    one (same seed) and its best is the same. ``means``: each trial's final CV, higher better
    (``sign``: +1 when the metric's higher is better, -1 otherwise).
    """

    def last(i: int) -> float:  # a pruned trial's last running mean, higher better
        values = states[i].intermediate_values
        return sign * values[max(values)]

    pruned_state = optuna.trial.TrialState.PRUNED
    for t in range(10, len(states)):
        n_good = min(math.ceil(0.1 * t), 25)
        unpruned = sorted(range(t), key=lambda i: -means[i])[:n_good]
        done = [i for i in range(t) if states[i].state != pruned_state]
        cut = [i for i in range(t) if states[i].state == pruned_state]
        pruned = sorted(done, key=lambda i: -means[i])[:n_good]
        # Too few finished trials: pruned ones fill the good set, the most folds first.
        pruned += sorted(cut, key=lambda i: (-len(states[i].intermediate_values), -last(i)))[
            : n_good - len(pruned)
        ]
        if set(unpruned) != set(pruned):
            return t
    return -1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4,5")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated: "
        + ", ".join(SETUPS)
        + " (default: "
        + ",".join(DEFAULT_TABLES)
        + ")",
    )
    parser.add_argument("--cache", type=Path, default=None, help="keep unpruned trials here")
    parser.add_argument("--pruners", default=",".join(PRUNERS), help=", ".join(PRUNERS))
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    only = [x for x in args.only.split(",") if x] or DEFAULT_TABLES
    with tempfile.TemporaryDirectory(prefix="kk-bench-replay-") as tmp:
        root = Path(tmp) / "projects"
        root.mkdir()
        os.environ["KK_PROJECTS_DIR"] = str(root)
        for name in only:
            made: list[Project] = []

            def project(name: str = name, made: list[Project] = made) -> Project:
                if not made:  # set up only when a study must run
                    made.append(SETUPS[name](root, default_mirror()))
                return made[0]

            direction = _direction(name, project)
            studies = [cached_trials(args.cache, name, project, s, args.trials) for s in seeds]
            print(f"== {name} ({direction}), {args.trials} trials, seeds {seeds}")
            for pruner in args.pruners.split(","):
                rows = [replay(trials, pruner_maker(pruner), direction) for trials in studies]
                mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
                print(
                    f"  {pruner:<26} folds skipped {mean['folds_skipped']:.1%}, time skipped "
                    f"{mean['time_skipped']:.1%}, best CV {mean['best_diff']:+.5f} "
                    f"(worst seed {min(r['best_diff'] for r in rows):+.5f}), would-be leaders "
                    f"cut {sum(r['cut_leaders'] for r in rows):.0f}, TPE search unchanged on "
                    f"{sum(r['diverges_at'] < 0 for r in rows)}/{len(rows)} seeds (per seed "
                    "time/best CV/first changed trial: "
                    + " ".join(
                        f"{r['time_skipped']:.0%}/{r['best_diff']:+.4f}/{r['diverges_at']:.0f}"
                        for r in rows
                    )
                    + ")",
                    flush=True,
                )


# Each table's metric direction, known without setting the table up.
DIRECTIONS = {
    "titanic": "maximize",
    "breast-cancer": "minimize",
    "diabetes": "minimize",
    "diabetes-log": "minimize",
    "binary-20k": "maximize",
}


def _direction(name: str, project: Any) -> str:
    if name in DIRECTIONS:
        return DIRECTIONS[name]
    return get_metric(project().config().competition.metric).direction


if __name__ == "__main__":
    main()
