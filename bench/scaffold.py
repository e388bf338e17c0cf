"""From nothing to a validated, locally scored submission with `kk new`: commands, code, time.

For each fresh competition (made with `kk make-competition` from a dataset scikit-learn
ships, plus one synthetic table with dates, a high-cardinality categorical and missing
values) this types the commands a user would type into a temporary projects folder and
prints them, the lines of code written (the generated project is compared with itself
right after `kk new`), the wall time of the user's commands, and the default model's
local score next to a plain LightGBM (library defaults, raw columns, one fit on all train
rows) scored on the same test rows in the same run.

    .venv/bin/python bench/scaffold.py [--workdir build/bench-scaffold] [--only NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
KK = str(Path(sys.executable).parent / "kk")


@dataclass(frozen=True)
class Competition:
    name: str
    task: str
    metric: str
    fmt: str  # sample submission format for make-competition


COMPETITIONS = [
    Competition("diabetes", "regression", "rmse", "labels"),
    Competition("breast-cancer", "binary", "roc_auc", "probabilities"),
    Competition("wine", "multiclass", "log_loss", "probabilities"),
    Competition("mixed", "binary", "roc_auc", "probabilities"),
]


def dataset(name: str) -> pd.DataFrame:
    """The host's table: a scikit-learn dataset, or the synthetic mixed-type one."""
    from sklearn import datasets

    if name == "mixed":
        from kagglekit.testing import make_mixed_frame

        return make_mixed_frame(3000, seed=1).drop(columns=["id"])
    loader = {
        "diabetes": datasets.load_diabetes,
        "breast-cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
    }[name]
    return loader(as_frame=True).frame


def run(cmd: list[str], env: dict[str, str], log: list[tuple[str, float]]) -> str:
    """Run a kk command as the user would type it; record it and its wall time."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    shown = shlex.join(["kk", *cmd[1:]])
    if proc.returncode != 0:
        raise SystemExit(f"failed: {shown}\n{proc.stdout}\n{proc.stderr}")
    log.append((shown, seconds))
    return proc.stdout


def snapshot(folder: Path) -> dict[str, list[str]]:
    return {
        p.relative_to(folder).as_posix(): p.read_text(encoding="utf-8").splitlines()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not {"data", "runs", "__pycache__"} & set(p.relative_to(folder).parts)
    }


def lines_written(before: dict[str, list[str]], after: dict[str, list[str]]) -> int:
    import difflib

    changed = 0
    for rel in set(before) | set(after):
        diff = difflib.ndiff(before.get(rel, []), after.get(rel, []))
        changed += sum(1 for line in diff if line.startswith("+ "))
    return changed


def plain_lightgbm(mirror: Path, comp: Competition) -> float:
    """LightGBM with library defaults on the raw columns, scored like kk score scores."""
    import lightgbm as lgb

    from kagglekit.metrics import get_metric

    train = pd.read_csv(mirror / "train.csv")
    test = pd.read_csv(mirror / "test.csv")
    solution = pd.read_csv(mirror / "solution.csv").set_index("id").loc[test["id"]]
    X = train.drop(columns=["id", "target"])
    X_test = test.drop(columns=["id"])
    for col in X.columns:
        if not pd.api.types.is_numeric_dtype(X[col]):
            cats = pd.CategoricalDtype(sorted(X[col].dropna().unique()))
            seen = X_test[col].where(X_test[col].isin(cats.categories))
            X[col], X_test[col] = X[col].astype(cats), seen.astype(cats)
    metric = get_metric(comp.metric)
    if comp.task == "regression":
        model = lgb.LGBMRegressor(random_state=0, verbose=-1).fit(X, train["target"])
        return metric(solution["target"].to_numpy(dtype=float), model.predict(X_test))
    classes = sorted(train["target"].unique())
    y = pd.Categorical(train["target"], categories=classes).codes
    model = lgb.LGBMClassifier(random_state=0, verbose=-1).fit(X, y)
    proba = model.predict_proba(X_test)
    y_true = pd.Categorical(solution["target"], categories=classes).codes
    return metric(y_true, proba[:, 1] if comp.task == "binary" else proba)


def bench_one(comp: Competition, workdir: Path) -> dict[str, object]:
    env = {**os.environ, "KK_PROJECTS_DIR": str(workdir / "projects")}
    (workdir / "projects").mkdir(parents=True)
    csv = workdir / f"{comp.name}.csv"
    dataset(comp.name).to_csv(csv, index=False)
    mirror = workdir / "mirror" / comp.name
    setup: list[tuple[str, float]] = []
    make = ["make-competition", str(csv), "--target", "target", "--out", str(mirror)]
    run([KK, *make, "--format", comp.fmt], env, setup)
    typed: list[tuple[str, float]] = []
    started = time.perf_counter()
    new = ["new", "tabular", comp.name, "--no-input", "--task", comp.task]
    run([KK, *new, "--metric", comp.metric, "--set", "solution_file=solution.csv"], env, typed)
    project = workdir / "projects" / comp.name
    fresh = snapshot(project)
    run([KK, "fetch", comp.name, "--from", str(mirror)], env, typed)
    run([KK, "folds", comp.name], env, typed)
    summary = json.loads(run([KK, "train", comp.name, "--json"], env, typed).splitlines()[-1])
    run([KK, "submit", comp.name, "--run", summary["run_id"], "--dry-run"], env, typed)
    score_cmd = [KK, "score", comp.name, "--run", summary["run_id"], "--json"]
    scores = json.loads(run(score_cmd, env, typed).splitlines()[-1])
    wall = time.perf_counter() - started
    second = (
        json.loads(
            run([KK, "train", comp.name, "--model", "linear", "--json"], env, []).splitlines()[-1]
        )
        if comp.metric != "rmsle"
        else None
    )
    second_score = None
    if second is not None:
        out = run([KK, "score", comp.name, "--run", second["run_id"], "--json"], env, [])
        second_score = json.loads(out.splitlines()[-1])["all"]
    auto_off = None
    if comp.name == "mixed":  # the only table with dates and high-cardinality columns
        off = [KK, "train", comp.name, "--set", "features.auto=false", "--json"]
        run_id = json.loads(run(off, env, []).splitlines()[-1])["run_id"]
        out = run([KK, "score", comp.name, "--run", run_id, "--json"], env, [])
        auto_off = json.loads(out.splitlines()[-1])["all"]
    from kagglekit.metrics import get_metric

    plain = plain_lightgbm(mirror, comp)
    metric = get_metric(comp.metric)
    return {
        "name": comp.name,
        "metric": comp.metric,
        "setup": setup,
        "typed": typed,
        "lines_of_code": lines_written(fresh, snapshot(project)),
        "wall_seconds": wall,
        "default_cv": summary["cv_mean"],
        "default_test": scores["all"],
        "linear_test": second_score,
        "auto_off_test": auto_off,
        "plain_test": plain,
        "at_least_as_good": scores["all"] == plain or metric.better(scores["all"], plain),
        "n_train": len(pd.read_csv(mirror / "train.csv")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=REPO / "build" / "bench-scaffold")
    parser.add_argument("--only", action="append", help="Competition name(s) to run.")
    args = parser.parse_args()
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    results = []
    for comp in COMPETITIONS:
        if args.only and comp.name not in args.only:
            continue
        result = bench_one(comp, args.workdir / comp.name)
        results.append(result)
        print(f"\n## {comp.name} ({comp.task}, {comp.metric}, {result['n_train']} train rows)")
        for cmd, _ in result["setup"]:  # type: ignore[attr-defined]
            print(f"  (host) $ {cmd}")
        for cmd, seconds in result["typed"]:  # type: ignore[attr-defined]
            print(f"  {seconds:6.1f}s  $ {cmd}")
    print(
        "\n| competition | metric | commands typed | lines of code | wall time | "
        "kk default (test) | plain LightGBM (test) | default >= plain | kk linear (test) | "
        "kk default, features.auto off (test) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        linear = "" if r["linear_test"] is None else f"{r['linear_test']:.4f}"
        auto_off = "" if r["auto_off_test"] is None else f"{r['auto_off_test']:.4f}"
        print(
            f"| {r['name']} | {r['metric']} | {len(r['typed'])} | {r['lines_of_code']} | "  # type: ignore[arg-type]
            f"{r['wall_seconds']:.1f} s | {r['default_test']:.4f} | {r['plain_test']:.4f} | "
            f"{'yes' if r['at_least_as_good'] else 'NO'} | {linear} | {auto_off} |"
        )
    if not all(r["at_least_as_good"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
