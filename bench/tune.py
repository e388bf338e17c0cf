"""Tuning figures: pruning on/off, pruners, 2 workers vs 1, TPE vs random, tuned vs default.

Two competitions, each in a temporary projects root so no project's own studies change:
Titanic (a copy of projects/titanic's config.toml and features.py, data from the local
mirror) and scikit-learn's breast-cancer data made into a competition with
``kagglekit.data.make_competition`` (log loss, 5 folds, boosters with early stopping).
Everything goes through ``kagglekit.tuning.tune``, the function ``kk tune`` calls.

- pruning: the default pruner (``paired``) against no pruning, the same TPE seed and trial
  budget, for every sampler seed of ``--seeds`` (0-11), the two studies of a seed one after
  the other: wall time saved and best-CV difference per seed, their mean and the worst
  seed, and how many trials the two searches drew alike from the first on ("same trials":
  40 of 40 means pruning left the search unchanged, so its best is the same);
- candidates (``--parts candidates``): the same for any pruners (kk's and the VARIANTS
  below);
- workers: the same N parameter sets (drawn once, enqueued in both studies) run by one
  worker and by two worker processes; the trials-per-minute ratio, with ``uptime`` load;
- TPE vs random sampling at the same budget (default pruning on);
- tuned vs default: the config's parameters (``kk train``'s CV) against the best trial,
  for LightGBM and XGBoost;
- overhead (``--parts overhead``): unpruned ``kk tune`` against the same loop without the
  fold feature cache and with every journal write synced (what it was before
  2026-12-07), same seeds, alternating which goes first.

    .venv/bin/python bench/tune.py [--trials 40] [--worker-trials 60] [--rounds 2]
        [--only titanic] [--parts prune,sampler,tuned,workers,candidates]
        [--seeds 0,1,2] [--pruners paired,median,optuna-median] [--cache DIR]

``--only`` takes the tables of SETUPS (titanic, breast-cancer, diabetes, diabetes-log,
binary-20k); ``--cache DIR`` keeps each unpruned study's trials for
``bench/prune_replay.py --cache DIR``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from _common import default_mirror, frame_project, sklearn_project, titanic_project

import kagglekit.tuning.pruners as pruners
import kagglekit.tuning.study as tuning_study
from kagglekit import training, tuning
from kagglekit.metrics import get_metric
from kagglekit.project import Project
from kagglekit.testing import competition_toml
from kagglekit.tuning.spaces import search_space

# The breast-cancer competition: log loss, stratified 5-fold, boosters with early stopping.
BREAST_CANCER_CONFIG = (
    competition_toml(
        "breast-cancer", task="binary", metric="log_loss", submission_format="probabilities"
    )
    + """
[models.lightgbm]
backend = "lightgbm"
params = { n_jobs = 1 }

[models.xgboost]
backend = "xgboost"
params = { n_jobs = 1 }
"""
)


def setup_breast_cancer(root: Path) -> Project:
    return sklearn_project(
        root, "load_breast_cancer", "breast-cancer", BREAST_CANCER_CONFIG, fmt="probabilities"
    )


def _booster_config(name: str, task: str, metric: str, fmt: str, params: str = "") -> str:
    """A competition's config with LightGBM (one thread, early stopping on each fold)."""
    return (
        competition_toml(name, task=task, metric=metric, submission_format=fmt)
        + f"""
[models.lightgbm]
backend = "lightgbm"
params = {{ n_jobs = 1{params} }}
"""
    )


def setup_diabetes(root: Path) -> Project:
    """scikit-learn's diabetes (442 rows, 10 columns) as a regression: RMSE, 5-fold k-fold."""
    config = _booster_config("diabetes", "regression", "rmse", "values")
    return sklearn_project(root, "load_diabetes", "diabetes", config)


def setup_diabetes_log(root: Path) -> Project:
    """The same diabetes rows with the target on a log scale (``log1p``), RMSE: the scale of
    an RMSLE competition (House Prices scores RMSE of the log price), where the CV is about
    0.38 and 0.002 is half a per cent of it rather than 0.004 % of a raw RMSE of 53."""
    import numpy as np
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    frame.insert(0, "id", range(len(frame)))
    frame["target"] = np.log1p(frame["target"])
    config = _booster_config("diabetes-log", "regression", "rmse", "values")
    return frame_project(root, frame, "diabetes-log", config)


def setup_binary_20k(root: Path) -> Project:
    """A larger binary table: ``make_classification``, 20,000 training rows, 12 columns
    (6 informative, 5 % of the labels flipped), ROC AUC, stratified 5-fold; at most 300
    boosting rounds (early stopping as usual), so 40 trials take minutes, not half an hour."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=28_572, n_features=12, n_informative=6, flip_y=0.05, random_state=0
    )
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]).round(5)
    frame.insert(0, "id", range(len(frame)))
    frame["target"] = y
    config = _booster_config(
        "binary-20k", "binary", "roc_auc", "probabilities", ", n_estimators = 300"
    )
    return frame_project(root, frame, "binary-20k", config, fmt="probabilities")


# The tables the parts can run on (``--only`` picks some; DEFAULT_TABLES without it).
SETUPS: dict[str, Any] = {
    "titanic": lambda root, mirror: titanic_project(root, mirror),
    "breast-cancer": lambda root, mirror: setup_breast_cancer(root),
    "diabetes": lambda root, mirror: setup_diabetes(root),
    "diabetes-log": lambda root, mirror: setup_diabetes_log(root),
    "binary-20k": lambda root, mirror: setup_binary_20k(root),
}
DEFAULT_TABLES = ["titanic", "breast-cancer"]


def default_cv(project: Project, model: str) -> float:
    """The CV mean ``kk train`` reports for the config's own parameters."""
    cfg = project.config()
    prepared = training.prepare(project, cfg)
    result = training.cross_validate(
        prepared.X,
        prepared.y,
        prepared.folds,
        training.model_factory(cfg, model, prepared, None),
        get_metric(cfg.competition.metric),
        task=prepared.task,
        threshold=cfg.competition.threshold,
        n_outputs=training.n_outputs(cfg, prepared.classes),
    )
    return result.mean


def run(project: Project, study: str, seed: int = 0, **kwargs: Any) -> dict[str, Any]:
    """One ``tune`` call; adds CPU seconds of this process and the number of folds fitted."""
    cpu = time.process_time()
    result = tuning.tune(project, project.config(), study_name=study, seed=seed, **kwargs)
    summary = result.summary()
    summary["cpu_seconds"] = time.process_time() - cpu
    summary["folds_fitted"] = sum(len(t.intermediate_values) for t in result.study.get_trials())
    print(
        f"  {study:<22} {summary['n_new']:>3} trials {summary['wall_seconds']:7.1f} s wall "
        f"{summary['cpu_seconds']:7.1f} s cpu {summary['folds_fitted']:>4} folds  "
        f"best {summary['best_value']:.5f}  pruned {summary['n_pruned']}",
        flush=True,
    )
    return summary


def enqueue_same(project: Project, model: str, studies: list[str], n: int, seed: int) -> None:
    """Draw ``n`` parameter sets once and enqueue them in every study (identical work)."""
    cfg = project.config()
    _, entry = cfg.model(model)
    space = search_space(model, entry)
    direction = "maximize" if get_metric(cfg.competition.metric).greater_is_better else "minimize"
    sampler = optuna.samplers.RandomSampler(seed=seed)
    draw = optuna.create_study(sampler=sampler)
    sets = []
    for _ in range(n):
        trial = draw.ask()
        sets.append({k: v for k, v in space.suggest(trial).items() if k in space.dimensions})
        draw.tell(trial, 0.0)
    for name in studies:
        storage = tuning.open_storage(project, name, None)
        study = optuna.create_study(storage=storage, study_name=name, direction=direction)
        for params in sets:
            study.enqueue_trial(params)


def better(a: float, b: float, greater: bool) -> float:
    """How much ``a`` beats ``b`` in the metric's direction (positive: ``a`` is better)."""
    return a - b if greater else b - a


def joined_after(project: Project, study: str) -> float:
    """Seconds from a study's first trial to the first trial of a second worker process."""
    trials = optuna.load_study(
        study_name=study, storage=tuning.open_storage(project, study, None)
    ).get_trials()
    first = {}
    for t in trials:
        first.setdefault(t.user_attrs["kk_worker"], t.datetime_start)
    starts = sorted(first.values())
    return (starts[1] - starts[0]).total_seconds() if len(starts) > 1 else float("nan")


# Pruner variants measured next to kk's own choices (``--pruners``); not offered by kk tune.
VARIANTS: dict[str, Any] = {
    # Wilcoxon signed-rank test of each fold's score against the best trial's on the same
    # fold (kk reports per-fold scores to it); at p < 0.1 it can stop a trial only after 4
    # folds that all lost (p = 0.0625).
    "wilcoxon": lambda: optuna.pruners.WilcoxonPruner(p_threshold=0.1, n_startup_steps=2),
    # Successive halving with folds as the resource: keep the top third at folds 1, 3, ...
    "halving": lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
    # Wilcoxon at p < 0.3: it may stop after 2 folds that both lost to the best (p = 0.25).
    "wilcoxon-p0.3": lambda: optuna.pruners.WilcoxonPruner(p_threshold=0.3, n_startup_steps=2),
    "optuna-median-startup10": lambda: optuna.pruners.MedianPruner(n_startup_trials=10),
    "optuna-median-warmup1": lambda: optuna.pruners.MedianPruner(
        n_startup_trials=5, n_warmup_steps=1
    ),
    "optuna-top33": lambda: optuna.pruners.PercentilePruner(33.0, n_startup_trials=5),
    "optuna-top25-startup10": lambda: optuna.pruners.PercentilePruner(25.0, n_startup_trials=10),
    "optuna-top33-startup10": lambda: optuna.pruners.PercentilePruner(33.0, n_startup_trials=10),
    "hyperband": lambda: optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=5, reduction_factor=3
    ),
    # Optuna's median and percentile pruners (kk's default until 2026-11-29): they compare
    # a trial's *best* running mean so far, so one lucky first fold shields a trial.
    "optuna-median": lambda: optuna.pruners.MedianPruner(n_startup_trials=5),
    "optuna-top25": lambda: optuna.pruners.PercentilePruner(25.0, n_startup_trials=5),
    # kk's paired pruner as it was before issue 36 (z = 0.5, no tie for coarse metrics,
    # against the best finished trial), issue 36's first rule (z = 1, a tie of two metric
    # steps, the best trial; the default 2026-12-07) and that rule at other thresholds.
    "paired-old": lambda: pruners.PairedFoldPruner(
        z=0.5, tie_steps=0.0, good_fraction=0.0, profile_trials=1
    ),
    "paired-first36": lambda: pruners.PairedFoldPruner(z=1.0, good_fraction=0.0, profile_trials=1),
    "paired-z0.75": lambda: pruners.PairedFoldPruner(z=0.75, good_fraction=0.0, profile_trials=1),
    # Against the edge of TPE's good set (the best 15 % of the trials so far), paired with
    # the best three trials' fold profile, at z = 0.4 (issue 36's second look, not adopted).
    "paired-goodset": lambda: pruners.PairedFoldPruner(z=0.4, good_fraction=0.15, profile_trials=3),
    "paired-tie0": lambda: pruners.PairedFoldPruner(
        z=1.0, tie_steps=0.0, good_fraction=0.0, profile_trials=1
    ),
}


def _with_variants() -> None:
    """Let ``tuning.tune`` build the VARIANTS too (one process, workers=1)."""
    make = tuning_study.make_pruner

    def make_pruner(name: str) -> Any:
        return VARIANTS[name]() if name in VARIANTS else make(name)

    tuning_study.make_pruner = make_pruner  # type: ignore[assignment]  (load_study calls it)
    tuning.PRUNERS = (*tuning.PRUNERS, *VARIANTS)  # tune() checks --pruner against these


def save_trials(project: Project, study: str, path: Path) -> None:
    """A finished unpruned study's (fold scores, seconds) per trial, as
    ``bench/prune_replay.py --cache`` reads them, so its replays need no refit."""
    trials = optuna.load_study(
        study_name=study, storage=tuning.open_storage(project, study, None)
    ).get_trials(states=(optuna.trial.TrialState.COMPLETE,))
    rows = [
        (t.user_attrs["kk_fold_scores"], (t.datetime_complete - t.datetime_start).total_seconds())
        for t in trials
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows))


def same_trials(project: Project, a: str, b: str) -> int:
    """How many trials two studies sampled alike from the first on (the same parameters)."""
    params = [
        [
            t.params
            for t in optuna.load_study(
                study_name=name, storage=tuning.open_storage(project, name, None)
            ).get_trials()
        ]
        for name in (a, b)
    ]
    n = 0
    while n < min(map(len, params)) and params[0][n] == params[1][n]:
        n += 1
    return n


def compare_pruners(
    project: Project,
    n_trials: int,
    pruners: list[str],
    seeds: list[int],
    greater: bool,
    tag: str,
    cache: Path | None = None,
) -> dict[str, Any]:
    """Each pruner against no pruning, same TPE seed and budget, for every seed.

    Seed by seed, the unpruned study and each pruner's run one after another (unpruned
    first on even seeds, last on odd ones), so a change in the machine's load hits both
    sides of a ratio alike. ``cache``: keep each unpruned study's trials there for
    ``bench/prune_replay.py --cache``.
    """
    rows: dict[str, list[dict[str, Any]]] = {p: [] for p in pruners}
    for i, seed in enumerate(seeds):
        runs: dict[str, dict[str, Any]] = {}
        for pruner in ["none", *pruners] if i % 2 == 0 else [*pruners, "none"]:
            name = f"{tag}-{'off' if pruner == 'none' else pruner}-s{seed}"
            runs[pruner] = run(
                project,
                name,
                seed=seed,
                model_name="lightgbm",
                n_trials=n_trials,
                **({"prune": False} if pruner == "none" else {"pruner": pruner}),
            )
            if pruner == "none" and cache is not None:
                save_trials(project, name, cache / f"{project.name}-s{seed}-t{n_trials}.json")
        off = runs["none"]
        for pruner in pruners:
            res = runs[pruner]
            rows[pruner].append(
                {
                    "seed": seed,
                    "same_trials": same_trials(
                        project, f"{tag}-off-s{seed}", f"{tag}-{pruner}-s{seed}"
                    ),
                    "folds_saved": 1.0 - res["folds_fitted"] / off["folds_fitted"],
                    "cpu_saved": 1.0 - res["cpu_seconds"] / off["cpu_seconds"],
                    "wall_saved": 1.0 - res["wall_seconds"] / off["wall_seconds"],
                    "best_diff": better(res["best_value"], off["best_value"], greater),
                    "n_pruned": res["n_pruned"],
                    "best": res["best_value"],
                    "best_off": off["best_value"],
                }
            )
    return rows


@contextlib.contextmanager
def plain_tuning() -> Iterator[None]:
    """kk tune as it was before 2026-12-07: each trial refits every fold's features (no
    fold cache) and the journal syncs every write to disk (Optuna's own file backend)."""
    from optuna.storages.journal import JournalFileBackend

    import kagglekit.models.tabular as tabular
    import kagglekit.tuning.storage as storage

    saved = tabular.CACHE_BYTES, storage._journal_backend
    tabular.CACHE_BYTES = 0
    storage._journal_backend = lambda path: JournalFileBackend(str(path))
    try:
        yield
    finally:
        tabular.CACHE_BYTES, storage._journal_backend = saved


def compare_overhead(
    project: Project, n_trials: int, seeds: list[int], greater: bool
) -> list[dict[str, Any]]:
    """kk tune against the plain loop (``plain_tuning``) on the same unpruned searches,
    alternating which runs first: wall and CPU ratios, and the bests (they must agree)."""
    rows = []
    for seed in seeds:
        order = ["kk", "plain"] if seed % 2 == 0 else ["plain", "kk"]
        got: dict[str, dict[str, Any]] = {}
        for side in order:
            study = f"over-{side}-s{seed}"
            with plain_tuning() if side == "plain" else contextlib.nullcontext():
                got[side] = run(project, study, seed=seed, model_name="lightgbm",
                                n_trials=n_trials, prune=False)  # fmt: skip
        rows.append(
            {
                "seed": seed,
                "wall_ratio": got["kk"]["wall_seconds"] / got["plain"]["wall_seconds"],
                "cpu_ratio": got["kk"]["cpu_seconds"] / got["plain"]["cpu_seconds"],
                "same_best": got["kk"]["best_value"] == got["plain"]["best_value"],
            }
        )
    return rows


def bench(
    project: Project,
    n_trials: int,
    worker_trials: int,
    parts: set[str],
    n_rounds: int,
    extra_seeds: list[int],
    pruners: list[str] = [],  # noqa: B006
    cache: Path | None = None,
) -> dict[str, Any]:
    cfg = project.config()
    greater = get_metric(cfg.competition.metric).greater_is_better
    print(f"{project.name}: {cfg.competition.metric}, {cfg.cv.n_splits} folds", flush=True)
    out: dict[str, Any] = {"metric": cfg.competition.metric, "trials": n_trials}

    tuned_lgb: dict[str, Any] = {}  # the default settings' LightGBM study
    if parts & {"sampler", "tuned"}:
        tuned_lgb = run(project, "lgb-default", model_name="lightgbm", n_trials=n_trials)
    if "prune" in parts:
        # The default pruner against none over every seed: one pair of searches is too
        # noisy to judge (bench/README.md), the mean over seeds is the figure.
        out["prune"] = compare_pruners(
            project, n_trials, ["paired"], extra_seeds, greater, "prune", cache
        )
    if "candidates" in parts:
        out["candidates"] = compare_pruners(
            project, n_trials, pruners, extra_seeds, greater, "cand", cache
        )
    if "sampler" in parts:
        rnd = run(project, "lgb-random", model_name="lightgbm", n_trials=n_trials, sampler="random")
        out["tpe_vs_random"] = {
            "tpe": tuned_lgb["best_value"],
            "random": rnd["best_value"],
            "tpe_better_by": better(tuned_lgb["best_value"], rnd["best_value"], greater),
        }
    if "tuned" in parts:
        xgb = run(project, "xgb-default", model_name="xgboost", n_trials=n_trials)
        for model, tuned in (("lightgbm", tuned_lgb["best_value"]), ("xgboost", xgb["best_value"])):
            default = default_cv(project, model)
            out[f"tuned_vs_default_{model}"] = {
                "default": default,
                "tuned": tuned,
                "tuned_better_by": better(tuned, default, greater),
            }
    if "overhead" in parts:
        out["overhead"] = compare_overhead(project, n_trials, extra_seeds, greater)
    if "workers" in parts:
        # Alternate 1 and 2 workers over the same enqueued trials, round by round, so a
        # change in the machine's load hits both sides of a ratio alike.
        rounds = []
        for r in range(n_rounds):
            names = [f"lgb-w1-r{r}", f"lgb-w2-r{r}"]
            enqueue_same(project, "lightgbm", names, worker_trials, seed=123)
            load_before = os.getloadavg()[0]
            one = run(project, names[0], model_name="lightgbm", n_trials=worker_trials, prune=False)
            two = run(
                project,
                names[1],
                model_name="lightgbm",
                n_trials=worker_trials,
                prune=False,
                workers=2,
            )
            rounds.append(
                {
                    "tpm_1": one["trials_per_minute"],
                    "tpm_2": two["trials_per_minute"],
                    "ratio": two["trials_per_minute"] / one["trials_per_minute"],
                    "second_worker_joined_after_s": joined_after(project, names[1]),
                    "load1_before": load_before,
                    "load1_after": os.getloadavg()[0],
                }
            )
        out["workers"] = {"trials": worker_trials, "rounds": rounds}
    return out


def print_pruning_table(figures: dict[str, Any]) -> None:
    """Per table and pruner: the wall-time ratio (pruned / unpruned) and the best-CV gap side
    by side, per seed and as the mean, with the target (>= 40 % saved, gap <= 0.002)."""
    rows = [
        (name, pruner, r)
        for name, fig in figures.items()
        for pruner, runs in [*fig.get("prune", {}).items(), *fig.get("candidates", {}).items()]
        for r in runs
    ]
    if not rows:
        return
    print(
        "\ntable          pruner           seed  wall ratio  saved   best pruned / unpruned   gap"
        "       same trials"
    )
    for name, pruner, r in rows:
        gap = -r["best_diff"]  # positive: the pruned search ended worse
        print(
            f"{name:<14} {pruner:<16} {r['seed']:>4}  {1 - r['wall_saved']:10.3f}  "
            f"{r['wall_saved']:5.1%}  {r['best']:11.5f} / {r['best_off']:<11.5f} {gap:+.5f}"
            f"  {r['same_trials']:>4}"
        )
    for name, pruner in dict.fromkeys((n, p) for n, p, _ in rows):
        runs = [r for n, p, r in rows if (n, p) == (name, pruner)]
        saved = sum(r["wall_saved"] for r in runs) / len(runs)
        gap = -sum(r["best_diff"] for r in runs) / len(runs)
        met = "met" if saved >= 0.40 and gap <= 0.002 else "NOT met"
        print(
            f"{name:<14} {pruner:<16} mean  {1 - saved:10.3f}  {saved:5.1%}  "
            f"{'':>25} {gap:+.5f}  target {met} ({len(runs)} seeds)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=default_mirror())
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--worker-trials", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2, help="1-vs-2-worker rounds")
    parser.add_argument(
        "--seeds", default=",".join(map(str, range(12))), help="sampler seeds of the pruning parts"
    )
    parser.add_argument(
        "--pruners",
        default="paired,median,percentile,optuna-median,wilcoxon,halving",
        help="pruners of the 'candidates' part: kk's own and " + ", ".join(VARIANTS),
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated tables: "
        + ", ".join(SETUPS)
        + " (default: "
        + ",".join(DEFAULT_TABLES)
        + ")",
    )
    parser.add_argument(
        "--parts",
        default="prune,sampler,tuned,workers",
        help="comma-separated: prune, candidates, sampler, tuned, workers, overhead "
        "(default: all but candidates and overhead)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="keep each unpruned study's trials here for bench/prune_replay.py --cache",
    )
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # WilcoxonPruner
    _with_variants()

    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"cpus {os.cpu_count()}; {uptime}", flush=True)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kk-bench-tune-") as tmp:
        root = Path(tmp) / "projects"
        root.mkdir()
        os.environ["KK_PROJECTS_DIR"] = str(root)
        only = [x for x in args.only.split(",") if x] or DEFAULT_TABLES
        for name in only:
            parts = set(args.parts.split(","))
            seeds = [int(x) for x in args.seeds.split(",") if x]
            pruners = [x for x in args.pruners.split(",") if x]
            figures[name] = bench(
                SETUPS[name](root, args.mirror),
                args.trials,
                args.worker_trials,
                parts,
                args.rounds,
                seeds,
                pruners,
                args.cache,
            )
    print()
    for name, fig in figures.items():
        print(f"== {name} ({fig['metric']}, {fig['trials']} trials per study)")
        if "workers" in fig:
            for i, w in enumerate(fig["workers"]["rounds"]):
                print(
                    f"2 workers vs 1 ({fig['workers']['trials']} identical trials, round {i}): "
                    f"{w['ratio']:.2f}x trials/min ({w['tpm_2']:.1f} vs {w['tpm_1']:.1f}); "
                    f"second worker joined after {w['second_worker_joined_after_s']:.1f} s; "
                    f"load avg {w['load1_before']:.2f} -> {w['load1_after']:.2f}"
                )
        if "overhead" in fig:
            rows = fig["overhead"]
            wall = sum(r["wall_ratio"] for r in rows) / len(rows)
            cpu = sum(r["cpu_ratio"] for r in rows) / len(rows)
            print(
                f"kk tune vs the plain loop (features refitted per trial, every write synced), "
                f"{len(rows)} unpruned searches: wall {wall:.2f}x, CPU {cpu:.2f}x; same best on "
                f"{sum(r['same_best'] for r in rows)} of {len(rows)}; per seed "
                + ", ".join(f"{r['wall_ratio']:.2f}x" for r in rows)
            )
        for pruner, rows in [*fig.get("prune", {}).items(), *fig.get("candidates", {}).items()]:
            mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0] if k != "seed"}
            print(
                f"{pruner:<18} vs off, mean of seeds {[r['seed'] for r in rows]}: folds saved "
                f"{mean['folds_saved']:.1%}, CPU saved {mean['cpu_saved']:.1%}, wall saved "
                f"{mean['wall_saved']:.1%}, best CV {mean['best_diff']:+.5f}, worst seed "
                f"{min(r['best_diff'] for r in rows):+.5f}"
            )
            for r in rows:
                print(
                    f"    seed {r['seed']}: folds {r['folds_saved']:.1%} cpu {r['cpu_saved']:.1%} "
                    f"wall {r['wall_saved']:.1%} best {r['best']:.5f} vs {r['best_off']:.5f} "
                    f"({r['best_diff']:+.5f}), {r['n_pruned']} pruned"
                )
        if "tpe_vs_random" in fig:
            t = fig["tpe_vs_random"]
            print(
                f"TPE vs random: {t['tpe']:.5f} vs {t['random']:.5f} "
                f"(TPE better by {t['tpe_better_by']:+.5f})"
            )
        for model in ("lightgbm", "xgboost"):
            if f"tuned_vs_default_{model}" in fig:
                d = fig[f"tuned_vs_default_{model}"]
                print(
                    f"{model} tuned vs default: {d['tuned']:.5f} vs {d['default']:.5f} "
                    f"(tuned better by {d['tuned_better_by']:+.5f})"
                )
    print_pruning_table(figures)
    print(f"{subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(json.dumps(figures))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
