"""Tuning figures: pruning on/off, pruners, 2 workers vs 1, TPE vs random, tuned vs default.

Two competitions, each in a temporary projects root so no project's own studies change:
Titanic (a copy of projects/titanic's config.toml and features.py, data from the local
mirror) and scikit-learn's breast-cancer data made into a competition with
``kagglekit.data.make_competition`` (log loss, 5 folds, boosters with early stopping).
Everything goes through ``kagglekit.tuning.tune``, the function ``kk tune`` calls.

- pruning: the same TPE seed and trial budget with no pruner, the median pruner (the
  default) and the 75th-percentile pruner; wall time saved and best-CV difference;
- workers: the same N parameter sets (drawn once, enqueued in both studies) run by one
  worker and by two worker processes; the trials-per-minute ratio, with ``uptime`` load;
- TPE vs random sampling at the same budget (median pruning on, as by default);
- tuned vs default: the config's parameters (``kk train``'s CV) against the best trial,
  for LightGBM and XGBoost.

    .venv/bin/python bench/tune.py [--trials 40] [--worker-trials 24] [--only titanic]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import optuna
from kagglekit import atomic, data, folds, training, tuning
from kagglekit.metrics import get_metric
from kagglekit.project import Project, open_project
from kagglekit.tuning_spaces import search_space

REPO = Path(__file__).resolve().parents[1]

BREAST_CANCER_CONFIG = """\
default_model = "lightgbm"

[competition]
name = "breast-cancer"
source = { kind = "mirror", mirror_folder = "breast-cancer" }
id_column = "id"
target_column = "target"
task = "binary"
metric = "log_loss"
submission_format = "probabilities"

[cv]
kind = "stratified"
n_splits = 5
seed = 42

[models.lightgbm]
backend = "lightgbm"
params = { n_jobs = 1 }

[models.xgboost]
backend = "xgboost"
params = { n_jobs = 1 }
"""


def default_mirror() -> Path:
    env = os.environ.get("KK_DATA_MIRROR")
    return Path(env) if env else REPO.parent / "shared" / "data"


def setup_titanic(root: Path, mirror: Path) -> Project:
    (root / "titanic").mkdir(parents=True)
    for name in ("config.toml", "features.py"):
        shutil.copy(REPO / "projects" / "titanic" / name, root / "titanic" / name)
    project = open_project("titanic", root)
    cfg = project.config()
    data.fetch(project, cfg, from_dir=mirror / cfg.competition.source.mirror_folder)
    folds.assign_project_folds(project, cfg)
    return project


def setup_breast_cancer(root: Path) -> Project:
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    csv = root.parent / "breast-cancer.csv"
    atomic.write_bytes(csv, frame.to_csv(index=False).encode())
    mirror = root.parent / "mirror" / "breast-cancer"
    data.make_competition(
        csv, target="target", out=mirror, test_size=0.3, seed=0, submission_format="probabilities"
    )
    atomic.write_text(root / "breast-cancer" / "config.toml", BREAST_CANCER_CONFIG)
    project = open_project("breast-cancer", root)
    cfg = project.config()
    data.fetch(project, cfg, from_dir=mirror)
    folds.assign_project_folds(project, cfg)
    return project


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
        threshold=cfg.competition.threshold,
        n_outputs=training.n_outputs(cfg, prepared.classes),
    )
    return result.mean


def run(project: Project, study: str, **kwargs: Any) -> dict[str, Any]:
    result = tuning.tune(project, project.config(), study_name=study, seed=0, **kwargs)
    summary = result.summary()
    print(
        f"  {study:<22} {summary['n_new']:>3} trials {summary['wall_seconds']:7.1f} s  "
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


def bench(project: Project, n_trials: int, worker_trials: int) -> dict[str, Any]:
    cfg = project.config()
    greater = get_metric(cfg.competition.metric).greater_is_better
    print(f"{project.name}: {cfg.competition.metric}, {cfg.cv.n_splits} folds", flush=True)
    out: dict[str, Any] = {"metric": cfg.competition.metric, "trials": n_trials}

    off = run(project, "lgb-prune-off", model_name="lightgbm", n_trials=n_trials, prune=False)
    med = run(project, "lgb-prune-median", model_name="lightgbm", n_trials=n_trials)
    pct = run(
        project, "lgb-prune-pct75", model_name="lightgbm", n_trials=n_trials, pruner="percentile"
    )
    rnd = run(project, "lgb-random", model_name="lightgbm", n_trials=n_trials, sampler="random")
    for name, res in (("median", med), ("percentile75", pct)):
        out[f"prune_{name}"] = {
            "wall_saved": 1.0 - res["wall_seconds"] / off["wall_seconds"],
            "best_diff": better(res["best_value"], off["best_value"], greater),
            "n_pruned": res["n_pruned"],
        }
    out["tpe_vs_random"] = {
        "tpe": med["best_value"],
        "random": rnd["best_value"],
        "tpe_better_by": better(med["best_value"], rnd["best_value"], greater),
    }

    xgb = run(project, "xgb-median", model_name="xgboost", n_trials=n_trials)
    for model, tuned in (("lightgbm", med["best_value"]), ("xgboost", xgb["best_value"])):
        default = default_cv(project, model)
        out[f"tuned_vs_default_{model}"] = {
            "default": default,
            "tuned": tuned,
            "tuned_better_by": better(tuned, default, greater),
        }

    enqueue_same(project, "lightgbm", ["lgb-w1", "lgb-w2"], worker_trials, seed=123)
    load_before = os.getloadavg()[0]
    one = run(project, "lgb-w1", model_name="lightgbm", n_trials=worker_trials, prune=False)
    two = run(
        project, "lgb-w2", model_name="lightgbm", n_trials=worker_trials, prune=False, workers=2
    )
    out["workers"] = {
        "trials": worker_trials,
        "tpm_1": one["trials_per_minute"],
        "tpm_2": two["trials_per_minute"],
        "ratio": two["trials_per_minute"] / one["trials_per_minute"],
        "load1_before": load_before,
        "load1_after": os.getloadavg()[0],
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=default_mirror())
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--worker-trials", type=int, default=24)
    parser.add_argument("--only", default="", help="titanic or breast-cancer (default: both)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"cpus {os.cpu_count()}; {uptime}", flush=True)
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="kk-bench-tune-") as tmp:
        root = Path(tmp) / "projects"
        root.mkdir()
        os.environ["KK_PROJECTS_DIR"] = str(root)
        setups = {
            "titanic": lambda: setup_titanic(root, args.mirror),
            "breast-cancer": lambda: setup_breast_cancer(root),
        }
        for name, setup in setups.items():
            if args.only and name != args.only:
                continue
            figures[name] = bench(setup(), args.trials, args.worker_trials)
    print()
    for name, fig in figures.items():
        print(f"== {name} ({fig['metric']}, {fig['trials']} trials per study)")
        for pruner in ("median", "percentile75"):
            p = fig[f"prune_{pruner}"]
            print(
                f"pruning ({pruner}) vs off: wall time saved {p['wall_saved']:.1%}, best CV "
                f"{p['best_diff']:+.5f} (positive: pruned run better), {p['n_pruned']} pruned"
            )
        w = fig["workers"]
        print(
            f"2 workers vs 1 ({w['trials']} identical trials): {w['ratio']:.2f}x trials/min "
            f"({w['tpm_2']:.1f} vs {w['tpm_1']:.1f}); load avg {w['load1_before']:.2f} -> "
            f"{w['load1_after']:.2f}"
        )
        t = fig["tpe_vs_random"]
        print(
            f"TPE vs random: {t['tpe']:.5f} vs {t['random']:.5f} "
            f"(TPE better by {t['tpe_better_by']:+.5f})"
        )
        for model in ("lightgbm", "xgboost"):
            d = fig[f"tuned_vs_default_{model}"]
            print(
                f"{model} tuned vs default: {d['tuned']:.5f} vs {d['default']:.5f} "
                f"(tuned better by {d['tuned_better_by']:+.5f})"
            )
    print(f"{subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(json.dumps(figures))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
