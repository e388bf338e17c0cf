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

from kagglekit import atomic, data, folds, training
from kagglekit.metrics import get_metric
from kagglekit.project import open_project
from kagglekit.submission import score_submission

CONFIG = """\
default_model = "lightgbm"

[competition]
name = "{name}"
source = {{ kind = "mirror", mirror_folder = "{name}" }}
id_column = "id"
target_column = "target"
task = "{task}"
metric = "{metric}"
submission_format = "{fmt}"
solution_file = "solution.csv"

[cv]
kind = "{cv}"
n_splits = 5
n_repeats = 3
seed = 42

[models.lightgbm]
backend = "lightgbm"
params = {{ n_jobs = 1 }}
"""

DATASETS = {
    "breast-cancer": ("load_breast_cancer", "binary", "log_loss", "probabilities", "stratified"),
    "diabetes": ("load_diabetes", "regression", "rmse", "values", "kfold"),
}


def one_split(root: Path, name: str, split_seed: int, holdouts: list[float]) -> dict[str, Any]:
    """CV and test score of LightGBM for each early-stopping setting on one split."""
    import sklearn.datasets

    loader, task, metric, fmt, cv = DATASETS[name]
    frame = getattr(sklearn.datasets, loader)(as_frame=True).frame
    work = root / f"{name}-{split_seed}"
    csv = work / f"{name}.csv"
    atomic.write_bytes(csv, frame.to_csv(index=False).encode())
    mirror = work / "mirror"
    data.make_competition(
        csv,
        target="target",
        out=mirror,
        test_size=0.3,
        seed=split_seed,
        submission_format="probabilities" if fmt == "probabilities" else "labels",
    )
    projects = work / "projects"
    config = CONFIG.format(name=name, task=task, metric=metric, fmt=fmt, cv=cv)
    atomic.write_text(projects / name / "config.toml", config)
    os.environ["KK_PROJECTS_DIR"] = str(projects)
    project = open_project(name, projects)
    cfg = project.config()
    data.fetch(project, cfg, from_dir=mirror)
    folds.assign_project_folds(project, cfg)
    comp = cfg.competition
    solution = pd.read_csv(project.raw_dir / "solution.csv")
    out: dict[str, Any] = {}
    for holdout in [0.0, *holdouts]:
        overrides = [f"models.lightgbm.early_stopping_holdout={holdout}"]
        result = training.train(project, project.config(overrides), overrides=overrides)
        record = result.run.record
        sub = pd.read_csv(result.run.path("submission.csv"))
        test = score_submission(sub, solution, comp, classes=record["classes"] or [])["all"]
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
        for name, (_, _, metric, _, _) in DATASETS.items():
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
