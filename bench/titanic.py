"""CV accuracy of every Titanic model, the default and the gender rule, on 5-fold x3.

Runs in a temporary projects root (a copy of projects/titanic's config.toml and
features.py, data fetched from the local mirror), so the project's own folds and runs
are untouched. Uses the library end to end: ``load_config`` overrides, ``fetch``,
``assign_project_folds``, ``prepare``, ``model_factory`` and ``cross_validate``.

    .venv/bin/python bench/titanic.py [--mirror ../shared/data] [--models a,b] [--set K=V ...]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import default_mirror, titanic_project

from kagglekit import training
from kagglekit.metrics import get_metric


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=default_mirror())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="", help="comma-separated entries (default: all)")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    overrides = [f"cv.n_repeats={args.repeats}", "cv.n_splits=5", *args.overrides]
    with tempfile.TemporaryDirectory(prefix="kk-bench-titanic-") as tmp:
        project = titanic_project(Path(tmp) / "projects", args.mirror, overrides)
        cfg = project.config(overrides)
        prepared = training.prepare(project, cfg)
        metric = get_metric(cfg.competition.metric)
        threshold = cfg.competition.threshold

        rows: list[tuple[str, np.ndarray, float]] = []
        # The gender rule: every woman survives, every man dies, scored on the same folds.
        female = (prepared.competition.train["Sex"] == "female").to_numpy(dtype=np.float64)
        rule = [
            metric(prepared.y[s.valid_idx], female[s.valid_idx], threshold=threshold)
            for s in prepared.folds.splits()
        ]
        rows.append(("gender rule (baseline)", np.array(rule), 0.0))
        names = [n for n in args.models.split(",") if n] or list(cfg.models)
        for name in names:
            started = time.perf_counter()
            result = training.cross_validate(
                prepared.X,
                prepared.y,
                prepared.folds,
                training.model_factory(cfg, name, prepared),
                metric,
                threshold=threshold,
            )
            seconds = time.perf_counter() - started
            label = f"{name} (default)" if name == cfg.default_model else name
            rows.append((label, result.scores, seconds))
            print(f"  {label}: {result.mean:.4f}", file=sys.stderr, flush=True)

    n_folds = prepared.folds.n_splits * prepared.folds.n_repeats
    print(
        f"Titanic, stratified {prepared.folds.n_splits}-fold x{prepared.folds.n_repeats} "
        f"({n_folds} folds, seed {cfg.cv.seed}), {metric.name}; overrides: {' '.join(overrides)}"
    )
    print(f"{'model':<28} {'mean':>7} {'+- std':>7} {'min':>7} {'max':>7} {'seconds':>8}")
    for label, scores, seconds in rows:
        print(
            f"{label:<28} {scores.mean():7.4f} {scores.std():7.4f} {scores.min():7.4f} "
            f"{scores.max():7.4f} {seconds:8.1f}"
        )
    default = dict((label.removesuffix(" (default)"), s) for label, s, _ in rows)
    if cfg.default_model in default:
        best = max(
            ((n, s.mean()) for n, s in default.items() if n in cfg.models), key=lambda t: t[1]
        )
        print(
            f"default model: {cfg.default_model} = {default[cfg.default_model].mean():.4f} "
            f"(target >= 0.845); best configured: {best[0]} = {best[1]:.4f}"
        )


if __name__ == "__main__":
    main()
