"""CV of hill climbing and stacking against the best single run, on the same folds.

For each competition: train every configured model with ``training.train`` (one run
each), then ``ensembling.ensemble`` with ``hill`` and ``stack`` over those runs, all in
this one process and on one fold file. Hill climbing chooses its weights on the same OOF
rows it is scored on, so its CV is slightly optimistic; the nested figure (weights chosen
on the other folds, scored on the held-out fold) is the honest one, and is printed beside.

Competitions: Titanic (a copy of projects/titanic's config.toml and features.py, data
from the local mirror), and two scikit-learn datasets turned into competitions with
``make_competition``: breast cancer (binary, log loss) and diabetes (regression, RMSE).
Everything runs in a temporary projects root; the repository's projects are untouched.

    .venv/bin/python bench/ensemble.py [--mirror ../shared/data] [--repeats 1] [--only titanic]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import default_mirror, sklearn_project, titanic_project

from kagglekit import ensembling, records, training
from kagglekit.project import Project
from kagglekit.testing import competition_toml

MODELS = """
[models.lightgbm]
backend = "lightgbm"
early_stopping_rounds = 0
params = {{ n_estimators = 300, learning_rate = 0.03, num_leaves = 8, min_child_samples = 10, subsample = 0.8, subsample_freq = 1, colsample_bytree = 0.8, n_jobs = 1 }}

[models.random_forest]
backend = "random_forest"
params = {{ n_estimators = 300, min_samples_leaf = 2, n_jobs = 1 }}

[models.linear]
backend = "{linear}"

[models.knn]
backend = "knn"
params = {{ n_neighbors = 15, weights = "distance" }}

[models.svm]
backend = "svm"
"""

SKLEARN_SETS = {
    # name: (loader, task, metric, submission format, cv kind, linear backend)
    "breast-cancer": (
        "load_breast_cancer",
        "binary",
        "log_loss",
        "probabilities",
        "stratified",
        "logistic_regression",
    ),
    "diabetes": ("load_diabetes", "regression", "rmse", "values", "kfold", "ridge"),
}


def sklearn_set(root: Path, name: str, overrides: list[str]) -> Project:
    loader, task, metric, fmt, kind, linear = SKLEARN_SETS[name]
    top = competition_toml(name, task=task, metric=metric, submission_format=fmt, cv_kind=kind)
    config = top + MODELS.format(linear=linear)
    return sklearn_project(root, loader, name, config, fmt=fmt, overrides=overrides)


def bench(project: Project, overrides: list[str]) -> list[str]:
    cfg = project.config(overrides)
    metric_name = cfg.competition.metric
    lines = []
    singles: list[tuple[str, float, float, float]] = []
    for name in cfg.models:
        started = time.perf_counter()
        result = training.train(project, cfg, model_name=name, overrides=overrides)
        singles.append((name, result.cv.mean, result.cv.std, time.perf_counter() - started))
        print(f"  {project.name}/{name}: {result.cv.mean:.4f}", file=sys.stderr, flush=True)
    hill = ensembling.ensemble(project, cfg, method="hill")
    stack = ensembling.ensemble(project, cfg, method="stack")
    greater = hill.metric.greater_is_better
    best = (max if greater else min)(singles, key=lambda t: t[1])
    f = cfg.cv
    lines.append(
        f"{project.name}: {metric_name} ({'higher' if greater else 'lower'} is better), "
        f"{f.kind} {f.n_splits}-fold x{f.n_repeats} (seed {f.seed}), "
        f"{len(singles)} member runs"
    )
    lines.append(f"  {'run':<36} {'CV mean':>9} {'+- std':>8} {'seconds':>8}")
    for name, mean, std, seconds in singles:
        mark = "  <- best single" if name == best[0] else ""
        lines.append(f"  {name:<36} {mean:9.4f} {std:8.4f} {seconds:8.1f}{mark}")
    weights = ", ".join(
        f"{records.find_run(project.runs_dir, rid).record['model']} {w:.2f}"
        for rid, w in hill.weights.items()
        if w > 0
    )
    nested = hill.nested_scores if hill.nested_scores is not None else np.array([np.nan])
    lines.append(f"  {'ensemble-hill':<36} {hill.cv_mean:9.4f} {hill.cv_std:8.4f}  ({weights})")
    lines.append(
        f"  {'ensemble-hill, nested (honest)':<36} {nested.mean():9.4f} {nested.std():8.4f}"
    )
    lines.append(f"  {'ensemble-stack':<36} {stack.cv_mean:9.4f} {stack.cv_std:8.4f}")
    sign = 1.0 if greater else -1.0
    for label, value in (
        ("hill", hill.cv_mean),
        ("hill nested", nested.mean()),
        ("stack", stack.cv_mean),
    ):
        gain = sign * (value - best[1])
        verdict = ">=" if gain >= 0 else "<"
        lines.append(
            f"  {label}: {value:.4f} {verdict} best single {best[0]} {best[1]:.4f} "
            f"(gain {gain:+.4f})"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=default_mirror())
    parser.add_argument("--repeats", type=int, default=1, help="cv.n_repeats for every project")
    parser.add_argument(
        "--only", default="", help="comma-separated: titanic,breast-cancer,diabetes"
    )
    args = parser.parse_args()
    only = [n for n in args.only.split(",") if n] or ["titanic", *SKLEARN_SETS]
    overrides = [f"cv.n_repeats={args.repeats}"]
    out: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kk-bench-ensemble-") as tmp:
        root = Path(tmp) / "projects"
        root.mkdir()
        for name in only:
            if name == "titanic":
                project = titanic_project(root, args.mirror, overrides)
            else:
                project = sklearn_set(root, name, overrides)
            out.extend(bench(project, overrides))
    print("\n".join(out))


if __name__ == "__main__":
    main()
