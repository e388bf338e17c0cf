"""Early stopping on the validation fold vs on a holdout of the training rows: CV vs test.

Stopping a booster on the fold it is scored on picks the number of rounds with the very
labels that score it, so CV reads better than the model is. ``early_stopping_holdout``
stops on a share of the fold's training rows instead. For each of several train/test
splits of two scikit-learn datasets made into competitions with
``kagglekit.data.make_competition`` (breast cancer: log loss; diabetes: RMSE), this trains
LightGBM through ``kagglekit.training.train`` (5-fold x3 CV, test predictions averaged
over the fold models) and scores the test predictions against the held-out solution, as
``kk score`` does. The figure is CV minus test (the optimism) for each setting, averaged
over the splits, with the test score itself.

    .venv/bin/python bench/early_stopping.py [--splits 5] [--holdouts 0.1,0.2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import sklearn_project

from kagglekit import training
from kagglekit.metrics import get_metric
from kagglekit.submission import score_locally
from kagglekit.testing import competition_toml

MODELS = """
[models.lightgbm]
backend = "lightgbm"
params = { n_jobs = 1 }
"""

DATASETS = {
    "breast-cancer": ("load_breast_cancer", "binary", "log_loss", "probabilities"),
    "diabetes": ("load_diabetes", "regression", "rmse", "values"),
}


def one_split(root: Path, name: str, split_seed: int, holdouts: list[float]) -> dict[str, Any]:
    """CV and test score of LightGBM for each early-stopping setting on one split."""
    loader, task, metric, fmt = DATASETS[name]
    projects = root / f"{name}-{split_seed}" / "projects"
    top = competition_toml(name, task=task, metric=metric, submission_format=fmt, n_repeats=3)
    os.environ["KK_PROJECTS_DIR"] = str(projects)
    project = sklearn_project(projects, loader, name, top + MODELS, split_seed=split_seed, fmt=fmt)
    comp = project.config().competition
    out: dict[str, Any] = {}
    for holdout in [0.0, *holdouts]:
        overrides = [f"models.lightgbm.early_stopping_holdout={holdout}"]
        result = training.train(project, project.config(overrides), overrides=overrides)
        record = result.run.record
        sub = pd.read_csv(result.run.path("submission.csv"))
        test = score_locally(project, comp, sub, classes=record["classes"] or [])["all"]
        rounds = [f["learned"].get("best_iteration", 0) for f in record["fold_scores"]]
        out[str(holdout)] = {"cv": record["cv_mean"], "test": test, "rounds": np.mean(rounds)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=5, help="train/test splits per dataset")
    parser.add_argument("--holdouts", default="0.1,0.2")
    args = parser.parse_args()
    holdouts = [float(x) for x in args.holdouts.split(",") if x]
    with tempfile.TemporaryDirectory(prefix="kk-bench-es-") as tmp:
        for name, (_, _, metric, _) in DATASETS.items():
            greater = get_metric(metric).greater_is_better
            rows = [one_split(Path(tmp), name, s, holdouts) for s in range(args.splits)]
            print(f"== {name} ({metric}, {'higher' if greater else 'lower'} is better), "
                  f"{args.splits} splits, 5-fold x3 CV, LightGBM")  # fmt: skip
            for key in rows[0]:
                cv = np.array([r[key]["cv"] for r in rows])
                test = np.array([r[key]["test"] for r in rows])
                # Optimism: how much better CV reads than the test score (positive: flattering).
                optimism = (cv - test) if greater else (test - cv)
                label = "validation fold" if key == "0.0" else f"holdout {float(key):.0%}"
                print(
                    f"  stop on {label:<16} CV {cv.mean():.5f}  test {test.mean():.5f}  "
                    f"optimism {optimism.mean():+.5f} (per split "
                    f"{', '.join(f'{o:+.4f}' for o in optimism)})  "
                    f"rounds {np.mean([r[key]['rounds'] for r in rows]):.0f}"
                )


if __name__ == "__main__":
    main()
