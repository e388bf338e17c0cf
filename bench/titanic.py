"""CV accuracy of every Titanic model under today's folds and under test-matched folds.

Runs in a temporary projects root (a copy of projects/titanic's config.toml and
features.py, data fetched from the local mirror), so the project's own folds and runs
are untouched. Uses the library end to end: ``load_config`` overrides, ``fetch``,
``assign_project_folds``, ``prepare``, ``model_factory`` and ``cross_validate``.

Schemes (each 5-fold x ``--repeats``): ``stratified`` (today's config), ``matched``
(``cv.kind = "matched_group"`` on the ticket: validation passengers have a labelled
ticket-mate as often as test passengers do) and ``ticket_groups`` (whole tickets kept in
one fold: no validation passenger has a labelled ticket-mate, a lower bound). Also prints
how much choosing the best model on one repeat's folds flatters it on the other repeats.

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

SCHEMES = {
    "stratified": [],
    "matched": ["cv.kind=matched_group", "cv.group_column=Ticket"],
    "ticket_groups": ["cv.kind=stratified_group", "cv.group_column=Ticket"],
}


def score_models(
    mirror: Path, overrides: list[str], names: list[str]
) -> tuple[dict[str, np.ndarray], float, str, int]:
    """Per-fold scores of the gender rule and each model; mate share, default, n_splits."""
    with tempfile.TemporaryDirectory(prefix="kk-bench-titanic-") as tmp:
        project = titanic_project(Path(tmp) / "projects", mirror, overrides)
        cfg = project.config(overrides)
        prepared = training.prepare(project, cfg)
        metric = get_metric(cfg.competition.metric)
        threshold = cfg.competition.threshold
        train = prepared.dataset.side
        ticket = train["Ticket"].to_numpy()
        female = (train["Sex"] == "female").to_numpy(dtype=np.float64)
        scores: dict[str, np.ndarray] = {}
        rule, mates = [], []
        for s in prepared.folds.splits():
            rule.append(metric(prepared.y[s.valid_idx], female[s.valid_idx], threshold=threshold))
            mates.append(np.isin(ticket[s.valid_idx], ticket[s.train_idx]).mean())
        scores["gender rule (baseline)"] = np.array(rule)
        for name in names or list(cfg.models):
            started = time.perf_counter()
            result = training.cross_validate(
                prepared.X,
                prepared.y,
                prepared.folds,
                training.model_factory(cfg, name, prepared),
                metric,
                threshold=threshold,
            )
            scores[name] = result.scores
            print(
                f"  {' '.join(overrides[3:]) or 'stratified'}: {name} {result.mean:.4f} "
                f"({time.perf_counter() - started:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
        return scores, float(np.mean(mates)), cfg.default_model, prepared.folds.n_splits


def selection_optimism(scores: dict[str, np.ndarray], n_splits: int) -> tuple[str, float, float]:
    """Best model on repeat r's folds, its score there and on the other repeats (mean over r)."""
    models = {k: v.reshape(-1, n_splits).mean(axis=1) for k, v in scores.items() if "rule" not in k}
    n_repeats = len(next(iter(models.values())))
    chosen, on_own, on_other = [], [], []
    for r in range(n_repeats):
        best = max(models, key=lambda m: models[m][r])
        chosen.append(best)
        on_own.append(models[best][r])
        on_other.append(np.delete(models[best], r).mean())
    return ",".join(sorted(set(chosen))), float(np.mean(on_own)), float(np.mean(on_other))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=default_mirror())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", default="", help="comma-separated entries (default: all)")
    parser.add_argument("--schemes", default=",".join(SCHEMES), help=f"of {','.join(SCHEMES)}")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()

    names = [n for n in args.models.split(",") if n]
    schemes = [s for s in args.schemes.split(",") if s]
    base = [f"cv.n_repeats={args.repeats}", "cv.n_splits=5", *args.overrides]
    table: dict[str, dict[str, np.ndarray]] = {}
    shares: dict[str, float] = {}
    default, n_splits = "", 5
    for scheme in schemes:
        overrides = [*base, *SCHEMES[scheme]]
        table[scheme], shares[scheme], default, n_splits = score_models(
            args.mirror, overrides, names
        )

    print(
        f"Titanic, 5-fold x{args.repeats} per scheme, accuracy (mean +- std over folds); "
        f"overrides: {' '.join(base)}"
    )
    head = "".join(f" {s:>20}" for s in schemes)
    print(f"{'model':<26}{head}")
    share_cells = "".join(f" {shares[s]:>20.3f}" for s in schemes)
    print(f"{'share with ticket-mate':<26}{share_cells}")
    for name in table[schemes[0]]:
        label = f"{name} (default)" if name == default else name
        cells = "".join(
            f" {table[s][name].mean():>11.4f} +- {table[s][name].std():.4f}" for s in schemes
        )
        print(f"{label:<26}{cells}")
    if args.repeats > 1:
        for s in schemes:
            chosen, own, other = selection_optimism(table[s], n_splits)
            print(
                f"selection ({s}): best on one repeat's folds = {chosen}, {own:.4f} there, "
                f"{other:.4f} on the other repeats (optimism {own - other:+.4f})"
            )


if __name__ == "__main__":
    main()
