"""Thread settings on a shared machine: torch, BLAS and LightGBM, side by side.

    .venv/bin/python bench/threads.py [--seconds 6] [--rounds 3]

Each workload runs in a fresh process (thread pools are fixed when a library loads) under
each setting, interleaved round by round so a neighbour's load hits every setting alike:

- ``default``: what the libraries choose (one thread per core, OpenMP's spinning waits);
- ``passive``: the same threads with ``OMP_WAIT_POLICY=PASSIVE`` (idle threads sleep
  instead of spinning, so a busy neighbour does not stall every parallel region);
- ``one``: one thread (``OMP_NUM_THREADS=1`` and the library's own setting).

Workloads: a Fashion-MNIST-sized MLP (784-256-128-10, batch 128, Adam) in training steps
per second; LightGBM on a 20,000 x 40 binary table (rounds per second); a BLAS matmul
(1,024 x 1,024 float64 products per second). The figures are throughputs relative to
``default`` in the same round; the load average printed with them says how shared the
machine was.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

SETTINGS = {
    "default": {},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "spin10k": {"GOMP_SPINCOUNT": "10000"},
    "one": {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
}

WORKLOADS = {
    "torch_mlp": """
import torch, time
torch.manual_seed(0)
x = torch.randn(128, 784); y = torch.randint(0, 10, (128,))
net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                          torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
opt = torch.optim.Adam(net.parameters())
def step():
    opt.zero_grad(); torch.nn.functional.cross_entropy(net(x), y).backward(); opt.step()
""",
    "lightgbm": """
import numpy as np, lightgbm as lgb
rng = np.random.default_rng(0)
X = rng.normal(size=(20000, 40)); y = (X[:, 0] + rng.normal(size=20000) > 0).astype(int)
data = lgb.Dataset(X, y, free_raw_data=False).construct()
params = {"objective": "binary", "verbose": -1, "num_leaves": 31}
if THREADS_ONE:
    params["num_threads"] = 1
booster = lgb.Booster(params, data)
def step():
    booster.update()
""",
    "blas": """
import numpy as np
a = np.random.default_rng(0).normal(size=(1024, 1024))
def step():
    a @ a
""",
}

RUNNER = """
import os, time
THREADS_ONE = os.environ.get("OMP_NUM_THREADS") == "1"
{body}
if THREADS_ONE and "torch" in globals():
    torch.set_num_threads(1)
for _ in range(3):
    step()
n, start = 0, time.perf_counter()
while time.perf_counter() - start < {seconds}:
    step(); n += 1
print(n / (time.perf_counter() - start))
"""


def measure(workload: str, setting: str, seconds: float) -> float:
    env = {**os.environ, **SETTINGS[setting]}
    for key in SETTINGS["one"]:
        if key not in SETTINGS[setting]:
            env.pop(key, None)
    for key in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        if key not in SETTINGS[setting]:
            env.pop(key, None)
    code = RUNNER.format(body=WORKLOADS[workload], seconds=seconds)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--busy", type=int, default=0, help="busy-loop processes beside it (a shared machine)"
    )
    args = parser.parse_args()
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        run(args)
    finally:
        for proc in busy:
            proc.kill()


def run(args: argparse.Namespace) -> None:
    ratios: dict[str, dict[str, list[float]]] = {w: {s: [] for s in SETTINGS} for w in WORKLOADS}
    rates: dict[str, dict[str, list[float]]] = {w: {s: [] for s in SETTINGS} for w in WORKLOADS}
    loads = []
    for _ in range(args.rounds):
        loads.append(os.getloadavg()[0])
        for workload in WORKLOADS:
            got = {s: measure(workload, s, args.seconds) for s in SETTINGS}
            for s, rate in got.items():
                rates[workload][s].append(rate)
                ratios[workload][s].append(rate / got["default"])
    cores = len(os.sched_getaffinity(0))
    print(
        f"{cores} cores; 1-minute load average at each round: {', '.join(f'{x:.1f}' for x in loads)}"
    )
    others = [s for s in SETTINGS if s != "default"]
    print(f"busy processes beside it: {args.busy}")
    print("| workload | default (steps/s) | " + " | ".join(f"{s} / default" for s in others) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in others) + " |")
    for workload in WORKLOADS:
        med = {s: statistics.median(ratios[workload][s]) for s in SETTINGS}
        base = statistics.median(rates[workload]["default"])
        cells = " | ".join(f"{med[s]:.2f}x" for s in others)
        print(f"| {workload} | {base:,.1f} | {cells} |")
    if args.json:
        print(json.dumps({"loads": loads, "rates": rates}))


if __name__ == "__main__":
    main()
