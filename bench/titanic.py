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

``--pseudo-test N`` asks what a CV-to-test gap looks like when the test rows are a random
draw: N times, a random 32 % of the training passengers (Kaggle's 418 of 1,309) become
a pseudo-test set whose labels the pipeline never sees (they join the real test rows in
test.csv, so counts over train+test stay as they are); each scheme's CV on the other
68 % is set beside the fold models' accuracy on those passengers. If the schemes are
honest under a random split, the mean gap is near 0, and its spread says how far the
real test score may fall from CV by chance alone.

``--leaderboard NAME=SCORE,...`` takes the test scores you have for some entries (Kaggle's,
for submissions of exactly these entries) and prints each scheme's CV minus them and the
mean absolute gap: which scheme's CV has predicted this competition's test rows.

    .venv/bin/python bench/titanic.py [--mirror ../shared/data] [--models a,b] [--set K=V ...]
    .venv/bin/python bench/titanic.py --pseudo-test 20 --repeats 1 --models wcg_rule,svm
    .venv/bin/python bench/titanic.py --models svm,xgboost --leaderboard gender=0.766,svm=0.787
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import default_mirror, titanic_project

from kagglekit import training
from kagglekit.metrics import get_metric

SCHEMES = {
    "stratified": ["cv.kind=stratified"],
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
        ticket = prepared.dataset.side["Ticket"].to_numpy()
        scores: dict[str, np.ndarray] = {"gender rule (baseline)": gender_rule(prepared, metric)}
        mates = [
            np.isin(ticket[s.valid_idx], ticket[s.train_idx]).mean()
            for s in prepared.folds.splits()
        ]
        for name in names or list(cfg.models):
            started = time.perf_counter()
            result = model_cv(cfg, prepared, name, metric)
            scores[name] = result.scores
            print(
                f"  {' '.join(overrides[3:]) or 'stratified'}: {name} {result.mean:.4f} "
                f"({time.perf_counter() - started:.1f} s)",
                file=sys.stderr,
                flush=True,
            )
        return scores, float(np.mean(mates)), cfg.default_model, prepared.folds.n_splits


def gender_rule(prepared: Any, metric: Any) -> np.ndarray:
    """The gender rule's score on each fold (every woman survives, every man dies)."""
    female = (prepared.dataset.side["Sex"] == "female").to_numpy(dtype=np.float64)
    return np.array(
        [
            metric(prepared.y[s.valid_idx], female[s.valid_idx], threshold=0.5)
            for s in prepared.folds.splits()
        ]
    )


def model_cv(cfg: Any, prepared: Any, name: str, metric: Any, *, with_test: bool = False) -> Any:
    """One model entry through kagglekit's CV loop on the prepared folds."""
    return training.cross_validate(
        prepared.X,
        prepared.y,
        prepared.folds,
        training.model_factory(cfg, name, prepared),
        metric,
        task=prepared.task,
        X_test=prepared.X_test if with_test else None,
        threshold=cfg.competition.threshold,
    )


def pseudo_split(mirror: Path, out: Path, seed: int, share: float) -> pd.DataFrame:
    """A mirror under ``out`` whose test rows are a random ``share`` of train plus the real test.

    Returns the pseudo-test passengers' ids and labels (never written where the pipeline
    reads them).
    """
    train = pd.read_csv(mirror / "titanic" / "train.csv")
    test = pd.read_csv(mirror / "titanic" / "test.csv")
    held = np.random.default_rng(seed).random(len(train)) < share
    folder = out / "titanic"
    folder.mkdir(parents=True)
    train[~held].to_csv(folder / "train.csv", index=False)
    both = pd.concat([train[held].drop(columns="Survived"), test], ignore_index=True)
    both.to_csv(folder / "test.csv", index=False)
    both[["PassengerId"]].assign(Survived=0).to_csv(folder / "gender_submission.csv", index=False)
    return train.loc[held, ["PassengerId", "Survived", "Sex"]]


def pseudo_test(
    mirror: Path, schemes: list[str], base: list[str], names: list[str], sims: int
) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """Per scheme and model, (CV mean, pseudo-test accuracy) for each random split."""
    out: dict[str, dict[str, list[tuple[float, float]]]] = {s: {} for s in schemes}
    for sim in range(sims):
        with tempfile.TemporaryDirectory(prefix="kk-bench-titanic-pseudo-") as tmp:
            held = pseudo_split(mirror, Path(tmp) / "mirror", seed=1000 + sim, share=418 / 1309)
            for scheme in schemes:
                overrides = [*base, *SCHEMES[scheme]]
                project = titanic_project(Path(tmp) / scheme, Path(tmp) / "mirror", overrides)
                cfg = project.config(overrides)
                prepared = training.prepare(project, cfg)
                metric = get_metric(cfg.competition.metric)
                rows = pd.Index(prepared.test_ids).get_indexer(held["PassengerId"])
                truth = held["Survived"].to_numpy()
                cv_rule = gender_rule(prepared, metric).mean()
                test_rule = metric(truth, (held["Sex"] == "female").to_numpy(float), threshold=0.5)
                out[scheme].setdefault("gender rule (baseline)", []).append((cv_rule, test_rule))
                for name in names or list(cfg.models):
                    result = model_cv(cfg, prepared, name, metric, with_test=True)
                    assert result.test_pred is not None
                    score = metric(
                        truth, result.test_pred[rows], threshold=cfg.competition.threshold
                    )
                    out[scheme].setdefault(name, []).append((result.mean, score))
        print(f"  pseudo-test split {sim + 1}/{sims} done", file=sys.stderr, flush=True)
    return out


def print_pseudo(table: dict[str, dict[str, list[tuple[float, float]]]], sims: int) -> None:
    """CV, pseudo-test accuracy and their gap (mean +- std over the random splits)."""
    print(f"Titanic, {sims} random pseudo-test splits (32 % of train held out, labels unseen)")
    print("gap - rule gap: the model's gap less the gender rule's on the same split (the part")
    print("of the gap that is the model's, not the draw of the test passengers')")
    head = f"{'scheme':<14}{'model':<26}{'CV':>8}{'pseudo-test':>13}"
    print(f"{head}{'gap (CV - test)':>22}{'gap - rule gap':>22}")
    for scheme, models in table.items():
        rule_cv, rule_test = np.array(models["gender rule (baseline)"]).T
        for name, pairs in models.items():
            cv, test = np.array(pairs).T
            gap = cv - test
            excess = gap - (rule_cv - rule_test)
            print(
                f"{scheme:<14}{name:<26}{cv.mean():>8.4f}{test.mean():>13.4f}"
                f"{gap.mean():>+14.4f} +- {gap.std(ddof=1):.4f}"
                f"{excess.mean():>+14.4f} +- {excess.std(ddof=1):.4f}"
            )


def parse_leaderboard(text: str) -> dict[str, float]:
    """``"gender=0.766,xgboost=0.768"`` -> {name: score}; "gender" is the gender rule."""
    out = {}
    for item in filter(None, text.split(",")):
        name, _, score = item.partition("=")
        try:
            out[name.strip()] = float(score)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{item!r}: expected NAME=SCORE, e.g. svm=0.787"
            ) from None
    return out


def print_calibration(
    table: dict[str, dict[str, np.ndarray]], schemes: list[str], board: dict[str, float]
) -> None:
    """Each scheme's CV minus the leaderboard scores a user has, and the mean absolute gap."""
    rows = {("gender rule (baseline)" if k == "gender" else k): v for k, v in board.items()}
    missing = sorted(set(rows) - set(table[schemes[0]]))
    if missing:
        raise SystemExit(f"--leaderboard names {missing}: not among the models scored here")
    print("CV - leaderboard score (the test rows' accuracy you were given):")
    print(f"{'model':<26}{'leaderboard':>12}" + "".join(f" {s:>14}" for s in schemes))
    gaps: dict[str, list[float]] = {s: [] for s in schemes}
    for name, score in rows.items():
        cells = ""
        for s in schemes:
            gaps[s].append(table[s][name].mean() - score)
            cells += f" {gaps[s][-1]:>+14.4f}"
        print(f"{name:<26}{score:>12.4f}{cells}")
    mean_abs = "".join(f" {np.mean(np.abs(gaps[s])):>14.4f}" for s in schemes)
    print(f"{'mean |gap|':<38}{mean_abs}")


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
    parser.add_argument("--pseudo-test", type=int, default=0, metavar="N",
                        help="N random pseudo-test splits of train instead of the CV table")  # fmt: skip
    parser.add_argument("--leaderboard", type=parse_leaderboard, default={}, metavar="NAME=SCORE,...",
                        help="test scores you have for these entries: each scheme's gap to them")  # fmt: skip
    args = parser.parse_args()

    names = [n for n in args.models.split(",") if n]
    schemes = [s for s in args.schemes.split(",") if s]
    base = [f"cv.n_repeats={args.repeats}", "cv.n_splits=5", *args.overrides]
    if args.pseudo_test:
        print_pseudo(
            pseudo_test(args.mirror, schemes, base, names, args.pseudo_test), args.pseudo_test
        )
        return
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
    if args.leaderboard:
        print_calibration(table, schemes, args.leaderboard)
    if args.repeats > 1:
        for s in schemes:
            chosen, own, other = selection_optimism(table[s], n_splits)
            print(
                f"selection ({s}): best on one repeat's folds = {chosen}, {own:.4f} there, "
                f"{other:.4f} on the other repeats (optimism {own - other:+.4f})"
            )


if __name__ == "__main__":
    main()
