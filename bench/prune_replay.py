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
replay cannot show).

    .venv/bin/python bench/prune_replay.py [--seeds 0,1,2,3,4,5] [--trials 40]
        [--only titanic,diabetes] [--cache DIR]

``--cache DIR`` keeps each unpruned study's trials in ``DIR/<table>-s<seed>-t<trials>.json``
and reads them from there on the next run, so pruners can be compared without refitting.
"""

from __future__ import annotations

import argparse
import json
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
    # The paired rule before issue 36: z = 0.5, no tie for a coarse metric.
    "paired-old": lambda: PairedFoldPruner(z=0.5, tie_steps=0.0),
}


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
    return {
        "folds_skipped": 1.0 - folds_run / sum(len(s) for s, _ in trials),
        "time_skipped": 1.0 - seconds_run / sum(sec for _, sec in trials),
        "best_diff": sign * (pick(finished) - pick(all_means)),
        "cut_leaders": float(cut_leaders),
    }


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
                rows = [replay(trials, PRUNERS[pruner], direction) for trials in studies]
                mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
                print(
                    f"  {pruner:<14} folds skipped {mean['folds_skipped']:.1%}, time skipped "
                    f"{mean['time_skipped']:.1%}, best CV {mean['best_diff']:+.5f} "
                    f"(worst seed {min(r['best_diff'] for r in rows):+.5f}), would-be leaders "
                    f"cut {sum(r['cut_leaders'] for r in rows):.0f} (per seed time/best CV: "
                    + " ".join(f"{r['time_skipped']:.0%}/{r['best_diff']:+.4f}" for r in rows)
                    + ")",
                    flush=True,
                )


# Each table's metric direction, known without setting the table up.
DIRECTIONS = {
    "titanic": "maximize",
    "breast-cancer": "minimize",
    "diabetes": "minimize",
    "binary-20k": "maximize",
}


def _direction(name: str, project: Any) -> str:
    if name in DIRECTIONS:
        return DIRECTIONS[name]
    return get_metric(project().config().competition.metric).direction


if __name__ == "__main__":
    main()
