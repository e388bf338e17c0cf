"""``kk auto``'s own cost, and its budget, on Titanic (every entry of projects/titanic).

Overhead: the same entries trained by hand (one ``kk train --model NAME`` per entry, then
``kk ensemble``) against ``kk auto`` with a budget that fits them all (smoke folds measured
first) and without one (no smoke folds), each in a fresh copy of the project; as
commands (what a user types, one Python process per command by hand) and in one process
(``training.train`` per entry then ``ensembling.ensemble``, against ``auto.auto``, timed
after the imports). Both ways end with a hill-climbed ensemble of the same runs;
the bench checks that its CV is the same.

Ensemble: the time ``kk auto`` keeps free for the ensemble (``ensemble_seconds_per_member``
times the members) against what the hill climb with its nested score takes, on the first
3, 6 and all runs of the entries.

Budget: ``kk auto --budget B`` for a few budgets too small for every entry, in fresh
copies; its own clock (``auto_seconds``: from the call, after the imports) and the
command's wall time are compared with B plus the estimate of the last entry it started.

Every copy lives in a temporary projects root (``KK_DATA_MIRROR`` or ../shared/data for
the files); projects/titanic is never written to.

    OMP_NUM_THREADS=1 .venv/bin/python bench/auto.py [--budgets 5s,10s] [--rounds 1]
        [--no-ensemble-check]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import REPO, default_mirror, titanic_project

KK = str(Path(sys.executable).with_name("kk"))
HAND = "by hand, kk train per entry + kk ensemble"

IN_PROCESS = """
import json, sys, time
from pathlib import Path
from kagglekit import ensembling, training
from kagglekit.auto import auto
from kagglekit.project import open_project
project = open_project("titanic", Path(sys.argv[2]))
cfg = project.config()
started = time.perf_counter()
if sys.argv[1] == "hand":
    for name in cfg.models:
        training.train(project, cfg, model_name=name)
    cv = ensembling.ensemble(project, cfg, method="hill").cv_mean
else:
    budget = None if sys.argv[1] == "auto" else 3600.0
    cv = auto(project, budget=budget).final_summary["cv_mean"]
print(json.dumps({"seconds": time.perf_counter() - started, "cv": cv}))
"""


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "KK_PROJECTS_DIR": str(root), "OMP_NUM_THREADS": "1"}


def _kk(root: Path, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [KK, *args], env=_env(root), cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"kk {' '.join(args)} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - started, done.stdout


def _fresh(tmp: Path, label: str, mirror: Path) -> Path:
    root = tmp / label / "projects"
    titanic_project(root, mirror)
    return root


def by_hand_cli(root: Path) -> tuple[float, float]:
    import tomllib

    config = tomllib.loads((root / "titanic" / "config.toml").read_text())
    total = 0.0
    for name in config["models"]:
        total += _kk(root, "train", "titanic", "--model", name)[0]
    seconds, out = _kk(root, "ensemble", "titanic", "--json")
    return total + seconds, json.loads(out.splitlines()[-1])["cv_mean"]


def auto_cli(root: Path, *budget: str) -> tuple[float, dict[str, Any]]:
    seconds, out = _kk(root, "auto", "titanic", *budget, "--json")
    return seconds, json.loads(out.splitlines()[-1])


def in_process(root: Path, mode: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", IN_PROCESS, mode, str(root)],
        env=_env(root),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def budget_line(budget: str, wall: float, summary: dict[str, Any]) -> str:
    from kagglekit.auto import parse_budget

    seconds = parse_budget(budget)
    started = [e for e in summary["entries"] if e["status"] in ("trained", "stopped")]
    last = started[-1]["estimate"] if started else 0.0
    counts = {
        s: sum(e["status"] == s for e in summary["entries"])
        for s in ("trained", "skipped", "stopped")
    }
    own = summary["auto_seconds"]
    per_member = summary["ensemble_estimate_per_member"] or 0.0
    ok = "yes" if own <= seconds + last else "NO"
    return (
        f"  --budget {budget:>4}: {counts['trained']} trained, {counts['skipped']} skipped, "
        f"{counts['stopped']} stopped; auto's clock {own:5.1f}s (ensemble "
        f"{summary['ensemble_seconds'] or 0:.1f}s, {per_member:.2f}s per member kept free), "
        f"command {wall:5.1f}s; "
        f"budget + last entry's estimate ({started[-1]['entry'] if started else '-'}) "
        f"{seconds + last:5.1f}s: honoured (auto's clock) {ok}; final {summary['model']} CV "
        f"{summary['cv_mean']:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=default_mirror())
    parser.add_argument("--budgets", default="5s,10s", help="comma-separated, too small for all")
    parser.add_argument("--rounds", type=int, default=1, help="overhead rounds (interleaved)")
    parser.add_argument(
        "--ensemble-check",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time for the ensemble kept free against taken, on 3, 6 and all runs",
    )
    args = parser.parse_args()
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kk-bench-auto-") as tmp_name:
        tmp = Path(tmp_name)
        rows: dict[str, list[float]] = {}
        cvs: dict[str, float] = {}
        for r in range(args.rounds):
            for i, (label, run) in enumerate(
                (
                    (HAND, lambda root: by_hand_cli(root)),
                    (
                        "kk auto --budget 1h (smoke folds first)",
                        lambda root: _cv(auto_cli(root, "--budget", "1h")),
                    ),
                    ("kk auto (no budget, no smoke folds)", lambda root: _cv(auto_cli(root))),
                    (
                        "in one process: train per entry + ensemble",
                        lambda root: _lib(in_process(root, "hand")),
                    ),
                    (
                        "in one process: auto(budget=1h)",
                        lambda root: _lib(in_process(root, "auto-budget")),
                    ),
                    ("in one process: auto()", lambda root: _lib(in_process(root, "auto"))),
                )
            ):
                seconds, cv = run(_fresh(tmp, f"round{r}-{i}", args.mirror))
                rows.setdefault(label, []).append(seconds)
                cvs[label] = cv
                print(f"  {label}: {seconds:.1f}s CV {cv:.4f}", file=sys.stderr, flush=True)
        if rows:
            lines.append(
                f"Titanic, {_n_entries()} entries, OMP_NUM_THREADS=1, mean of {args.rounds} "
                "round(s):"
            )
        base = {
            "cli": HAND,
            "lib": "in one process: train per entry + ensemble",
        }
        for label, values in rows.items():
            mean = sum(values) / len(values)
            ref = base["lib" if label.startswith("in one") else "cli"]
            ratio = mean / (sum(rows[ref]) / len(rows[ref]))
            lines.append(f"  {label:<42} {mean:6.1f}s  {ratio:5.2f}x  ensemble CV {cvs[label]:.4f}")
        for budget in [b for b in args.budgets.split(",") if b]:
            root = _fresh(tmp, f"budget-{budget}", args.mirror)
            wall, summary = auto_cli(root, "--budget", budget)
            lines.append(budget_line(budget, wall, summary))
        if args.ensemble_check:
            lines += ensemble_check(_fresh(tmp, "ensemble-check", args.mirror))
    print("\n".join(lines))


ENSEMBLE_CHECK = """
import json, statistics, sys, time
from pathlib import Path
from kagglekit import ensembling, training
from kagglekit.auto.plan import ensemble_seconds_per_member
from kagglekit.project import open_project
project = open_project("titanic", Path(sys.argv[1]))
cfg = project.config()
ids = [training.train(project, cfg, model_name=name).run.run_id for name in cfg.models]
prepared = training.prepare(project, cfg)
for n in (3, 6, len(ids)):
    per_member = statistics.median(ensemble_seconds_per_member(prepared, cfg) for _ in range(3))
    started = time.perf_counter()
    ensembling.ensemble(project, cfg, run_ids=ids[:n], method="hill", nested=True)
    print(json.dumps({"n": n, "kept_free": per_member * n, "took": time.perf_counter() - started}))
"""


def ensemble_check(root: Path) -> list[str]:
    """What ``kk auto`` keeps free for the ensemble against what the ensemble takes."""
    done = subprocess.run(
        [sys.executable, "-c", ENSEMBLE_CHECK, str(root)],
        env=_env(root),
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = ["hill climbing with the nested score over the first n runs (median of 3 timings):"]
    for line in done.stdout.splitlines():
        row = json.loads(line)
        lines.append(
            f"  n = {row['n']:2d}: kept free {row['kept_free']:5.1f}s, took {row['took']:5.1f}s"
        )
    return lines


def _n_entries() -> int:
    import tomllib

    from _common import TITANIC

    return len(tomllib.loads((TITANIC / "config.toml").read_text())["models"])


def _cv(result: tuple[float, dict[str, Any]]) -> tuple[float, float]:
    return result[0], float(result[1]["cv_mean"])


def _lib(result: dict[str, Any]) -> tuple[float, float]:
    return float(result["seconds"]), float(result["cv"])


if __name__ == "__main__":
    main()
