"""CIFAR-10 on a CUDA GPU: time to 94% test accuracy with the fast net, images/s per model.

NEVER RUN YET: no GPU was lent while it was written (issue 11). Run it as one prepared
command on a GPU machine:

    .venv/bin/python bench/gpu_cifar.py [--epochs 10] [--compile] [--runs 3]

The data is what the mirror has (``KK_DATA_MIRROR`` or ../shared/data, ``cifar10/``):
train = data_batch_1..4 (40,000 images; data_batch_5 too when present), test = the test
images of ``test_batch`` (the mirror holds its first 1,000). Everything goes through
kagglekit's trainer: the uint8 images on the device once, augmentation on the device,
bf16 autocast, channels-last, optional ``torch.compile``. Times are CUDA-event seconds of
the training steps only (no evaluation), after a warm-up run that is not counted
(cuDNN autotuning, compilation). airbench94's published figure for comparison: 94.01% in
2.59 s on an A100 (about 1.0 s expected on an H200 at the same efficiency).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch
from _common import default_mirror

from kagglekit.metrics import get_metric
from kagglekit.models import get_backend
from kagglekit.models.base import BuildContext
from kagglekit.vision.readers import read_cifar_batches

# The fast net at airbench94's widths, trained for short runs on a GPU.
FAST: dict[str, Any] = {
    "widths": [64, 256, 256], "batch_size": 1024, "lr": 2.0, "momentum": 0.85,
    "weight_decay": 5e-5, "label_smoothing": 0.2, "warmup_epochs": 0.5,
}  # fmt: skip
OTHERS: dict[str, dict[str, Any]] = {
    "lenet5": {"activation": "relu", "pool": "max"},
    "vgg_bn": {"channels": [32, 64, 128], "convs_per_block": 2, "batch_norm": True},
    "resnet": {},
}


def load() -> tuple[np.ndarray, ...]:
    folder = default_mirror() / "cifar10" / "cifar-10-batches-py"
    batches = sorted(folder.glob("data_batch_*"), key=lambda p: int(p.name.rsplit("_", 1)[1]))
    x, y, _ = read_cifar_batches(batches)
    xt, yt, _ = read_cifar_batches([folder / "test_batch"])
    return x, y, xt, yt


def fit(backend: str, params: dict[str, Any], x, y, xt, yt, *, seed: int) -> dict[str, Any]:
    ctx = BuildContext(
        task="multiclass", n_classes=10, seed=seed, params=params, early_stopping_rounds=0,
        metric=get_metric("accuracy"), info={"input_shape": (3, 32, 32)},
    )  # fmt: skip
    model = get_backend(backend, task="multiclass").build(ctx)
    model.fit(x, y.astype(np.int64), X_valid=xt, y_valid=yt.astype(np.int64))
    return model.learned()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--target", type=float, default=0.94)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("bench/gpu_cifar.py needs a CUDA GPU")
    x, y, xt, yt = load()
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}; train {len(x):,}, "
          f"test {len(xt):,}")  # fmt: skip
    common = {"device": "cuda", "precision": "bf16", "channels_last": True,
              "compile": args.compile}  # fmt: skip
    fast = {**FAST, **common, "epochs": args.epochs}
    fit("fastnet", {**fast, "epochs": 1}, x[:5000], y[:5000], xt, yt, seed=0)  # warm-up
    for run in range(args.runs):
        started = time.perf_counter()
        learned = fit("fastnet", fast, x, y, xt, yt, seed=run)
        wall = time.perf_counter() - started
        seconds = np.cumsum(learned["epoch_train_seconds"])
        scores = learned["history"]["valid_score"]
        reached = [i for i, s in enumerate(scores) if s >= args.target]
        to_target = float(seconds[reached[0]]) if reached else None
        print(json.dumps({
            "model": "fastnet", "run": run, "test_acc_by_epoch": [round(s, 4) for s in scores],
            "train_seconds_by_epoch": [round(float(s), 3) for s in seconds],
            f"seconds_to_{args.target}": to_target, "wall_seconds_with_eval": round(wall, 2),
            "device": learned["device"], "precision": learned["precision"],
            "images_per_second": round(learned["samples_per_second"]),
        }), flush=True)  # fmt: skip
    for name, params in OTHERS.items():
        backend = "cnn" if name == "vgg_bn" else name
        learned = fit(backend, {**params, **common, "epochs": 2, "tta": "none"}, x, y, xt, yt,
                      seed=0)  # fmt: skip
        print(json.dumps({"model": name, "images_per_second": round(learned["samples_per_second"]),
                          "device": learned["device"], "precision": learned["precision"]}),
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
