"""What kk costs as a whole process: `kk train titanic --model lightgbm` vs a plain script.

Both run in a temporary copy of projects/titanic (config.toml, features.py, data fetched
from the local mirror, folds assigned by `kk folds` from the same config), so the
project's own runs are untouched and both read the very same ``data/folds.csv``. They
run alternately, ``--rounds`` times each after one warm-up each; the figure is the
median wall-time ratio (target <= 1.3). Also times `kk --help` (target <= 0.5 s).

    .venv/bin/python bench/overhead.py [--rounds 7] [--mirror ../shared/data]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO, copy_titanic, default_mirror

BIN = Path(sys.executable).parent


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, cwd=REPO)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--mirror", type=Path, default=default_mirror())
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kk-bench-overhead-") as tmp:
        root = Path(tmp) / "projects"
        project = copy_titanic(root)
        env = {**os.environ, "KK_PROJECTS_DIR": str(root)}
        kk = str(BIN / "kk")
        subprocess.run(
            [kk, "fetch", "titanic", "--from", str(args.mirror / "titanic")],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        subprocess.run([kk, "folds", "titanic"], env=env, check=True, stdout=subprocess.DEVNULL)

        kk_train = [kk, "train", "titanic", "--model", "lightgbm"]
        plain = [
            sys.executable,
            str(REPO / "bench" / "plain_lightgbm_titanic.py"),
            "--project-dir",
            str(project),
        ]
        help_cmd = [kk, "--help"]
        for cmd in (kk_train, plain, help_cmd):  # warm-up: page cache and .pyc files
            timed(cmd, env)
        runs: dict[str, list[tuple[float, float]]] = {"kk": [], "plain": [], "help": []}
        for _ in range(args.rounds):
            runs["kk"].append(timed(kk_train, env))
            runs["plain"].append(timed(plain, env))
            runs["help"].append(timed(help_cmd, env))

    load = os.getloadavg()
    print(
        f"{args.rounds} alternating rounds after one warm-up each; "
        f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs"
    )
    print(f"{'command':<36} {'wall median':>11} {'min':>6} {'max':>6} {'cpu median':>10}")
    for key, label in (
        ("kk", "kk train titanic --model lightgbm"),
        ("plain", "plain_lightgbm_titanic.py"),
        ("help", "kk --help"),
    ):
        wall = [w for w, _ in runs[key]]
        cpu = [c for _, c in runs[key]]
        print(
            f"{label:<36} {statistics.median(wall):11.3f} {min(wall):6.3f} {max(wall):6.3f} "
            f"{statistics.median(cpu):10.3f}"
        )
    wall_ratio = [k[0] / p[0] for k, p in zip(runs["kk"], runs["plain"], strict=True)]
    cpu_ratio = [k[1] / p[1] for k, p in zip(runs["kk"], runs["plain"], strict=True)]
    print(
        f"median per-round wall-time ratio kk train / plain: {statistics.median(wall_ratio):.2f} "
        f"(target <= 1.3); CPU-time ratio {statistics.median(cpu_ratio):.2f}"
    )
    help_wall = statistics.median(w for w, _ in runs["help"])
    print(f"kk --help median wall time: {help_wall:.3f} s (target <= 0.5 s)")


if __name__ == "__main__":
    main()
