"""Replay unpruned tuning studies under pruners: what each would have skipped of the same trials.

For each sampler seed, one unpruned LightGBM study (the set-up of ``bench/tune.py``, through
``kagglekit.tuning.tune`` with ``prune=False``). Its trials are then fed, in order, to an
in-memory Optuna study per pruner: each trial reports its running fold means one fold at a
time and the real pruner object decides after each fold, seeing only the trials before it
(finished, or pruned where it pruned them). There is no sampler feedback: this isolates the
pruning rule from the search it would have changed. Reported per pruner, as means over the
seeds: folds skipped, time skipped (each trial's duration split evenly over its folds) and
how much worse the best finished trial is than the best of all.

    .venv/bin/python bench/prune_replay.py [--seeds 0,1,2,3,4,5] [--trials 40] [--only titanic]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from _common import default_mirror, titanic_project
from tune import setup_breast_cancer

from kagglekit import tuning
from kagglekit.metrics import get_metric
from kagglekit.project import Project

PRUNERS: dict[str, Any] = {
    "optuna-median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5),
    "median": lambda: tuning.make_pruner("median"),
    "paired": lambda: tuning.make_pruner("paired"),
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


def replay(
    trials: list[tuple[list[float], float]], make_pruner: Any, direction: str
) -> dict[str, float]:
    """Feed the trials to a fresh study with this pruner; what it would have skipped."""
    study = optuna.create_study(direction=direction, pruner=make_pruner())
    folds_run = seconds_run = 0.0
    finished: list[float] = []
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
        else:
            study.tell(trial, total / len(scores))
            finished.append(total / len(scores))
    all_means = [float(np.mean(s)) for s, _ in trials]
    pick = max if direction == "maximize" else min
    sign = 1.0 if direction == "maximize" else -1.0
    return {
        "folds_skipped": 1.0 - folds_run / sum(len(s) for s, _ in trials),
        "time_skipped": 1.0 - seconds_run / sum(sec for _, sec in trials),
        "best_diff": sign * (pick(finished) - pick(all_means)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3,4,5")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--only", default="", help="titanic or breast-cancer (default: both)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    with tempfile.TemporaryDirectory(prefix="kk-bench-replay-") as tmp:
        root = Path(tmp) / "projects"
        root.mkdir()
        os.environ["KK_PROJECTS_DIR"] = str(root)
        setups = {
            "titanic": lambda: titanic_project(root, default_mirror()),
            "breast-cancer": lambda: setup_breast_cancer(root),
        }
        for name, setup in setups.items():
            if args.only and name != args.only:
                continue
            project = setup()
            metric = get_metric(project.config().competition.metric)
            direction = "maximize" if metric.greater_is_better else "minimize"
            studies = [unpruned_trials(project, s, args.trials) for s in seeds]
            print(f"== {name} ({metric.name}), {args.trials} trials, seeds {seeds}")
            for pruner, make in PRUNERS.items():
                rows = [replay(trials, make, direction) for trials in studies]
                mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
                print(
                    f"  {pruner:<14} folds skipped {mean['folds_skipped']:.1%}, time skipped "
                    f"{mean['time_skipped']:.1%}, best CV {mean['best_diff']:+.5f} "
                    f"(worst seed {min(r['best_diff'] for r in rows):+.5f})"
                )


if __name__ == "__main__":
    main()
