"""Fashion-MNIST: each kagglekit image model against a plain PyTorch script, side by side.

Both sides train the same net on the same 60,000 official training images (no
validation split: the plain script has none) with the same optimiser, schedule, batch
size and epochs, and are scored on the official 10,000 test images. The plain side is what
one writes by hand: the images as one float tensor, a shuffled index per epoch, no
checkpoints, history, TTA or hooks. kagglekit's side is ``kk``'s own path: the ``idx``
loader, the project's model entry, the trainer (``TorchModel``), its predictions.

    .venv/bin/python bench/vision.py [--models mlp,cnn] [--epochs N] [--threads 2]
    .venv/bin/python bench/vision.py --data-path [--threads 2]
    .venv/bin/python bench/vision.py --cifar [--models lenet5,resnet] [--epochs N]

``--cifar`` (issue 11): CIFAR-10, trained on data_batch_1..3 and scored on data_batch_4,
the plain loop with the same flips and shifts (kagglekit's tensor ops) and channels-last.

Prints accuracy and seconds per epoch for each side and the wall ratio kagglekit / plain
(the machines are noisy: compare the ratio, run it twice). ``--data-path`` times the data
alone, no net: one augmented epoch (2-pixel shifts, flips, normalisation) through
torchvision's per-sample transforms and a ``DataLoader`` (what the tutorials write)
against kagglekit's whole-batch path on one uint8 tensor. Needs the mirror
(KK_DATA_MIRROR or ../shared/data) with ``fashion-mnist/``.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import default_mirror
from torch import nn

from kagglekit.metrics import get_metric
from kagglekit.torch.trainer import TorchModel
from kagglekit.vision import nets
from kagglekit.vision.readers import read_idx_pair

# Each entry: the net and its trainer settings, the same on both sides.
MODELS: dict[str, dict[str, Any]] = {
    "mlp": {
        "net": ("mlp", {"hidden": [256, 128]}),
        "train": {"optimizer": "adamw", "lr": 2e-3, "weight_decay": 1e-4, "batch_size": 128},
        "epochs": 10,
    },
    "cnn": {
        "net": ("cnn", {"channels": [32, 64, 128], "convs_per_block": 1, "batch_norm": True}),
        "train": {"optimizer": "adamw", "lr": 3e-3, "weight_decay": 1e-4, "batch_size": 128},
        "epochs": 10,
    },
}


# CIFAR-10 (--cifar): train on data_batch_1..3, score on data_batch_4 (issue 11).
CIFAR_MODELS: dict[str, dict[str, Any]] = {
    "lenet5": {
        "net": ("lenet5", {"activation": "relu", "pool": "max"}),
        "train": {"optimizer": "adamw", "lr": 3e-3, "weight_decay": 1e-4, "batch_size": 128},
        "augment": {},
        "epochs": 10,
    },
    "resnet": {
        "net": ("resnet", {"widths": [32, 32, 64, 128]}),
        "train": {"optimizer": "sgd", "lr": 0.2, "momentum": 0.9, "nesterov": True,
                  "weight_decay": 5e-4, "batch_size": 256, "label_smoothing": 0.2},
        "augment": {"flip": True, "translate": 2},
        "epochs": 4,
    },
}  # fmt: skip


def load_cifar(mirror: Path) -> tuple[np.ndarray, ...]:
    from kagglekit.vision.readers import read_cifar_batches

    folder = mirror / "cifar10" / "cifar-10-batches-py"
    x, y, _ = read_cifar_batches([folder / f"data_batch_{i}" for i in (1, 2, 3)])
    xt, yt, _ = read_cifar_batches([folder / "data_batch_4"])
    return x, y, xt, yt


def plain_cifar(
    spec: dict[str, Any], x, y, xt, yt, *, epochs: int, seed: int
) -> tuple[float, float]:
    """A hand-written CIFAR loop: uint8 images as one tensor, per-channel normalisation,
    per-batch flips and shifts with torch ops, channels-last, one-cycle (linear) schedule."""
    from kagglekit.vision.augment import hflip_images, translate_images

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    name, params = spec["net"]
    net = nets.build_net(name, (3, 32, 32), 10, params).to(memory_format=torch.channels_last)
    tr, aug = spec["train"], spec["augment"]
    if tr["optimizer"] == "sgd":
        opt: torch.optim.Optimizer = torch.optim.SGD(
            net.parameters(), lr=tr["lr"], momentum=tr["momentum"], nesterov=True,
            weight_decay=tr["weight_decay"],
        )  # fmt: skip
    else:
        opt = torch.optim.AdamW(net.parameters(), lr=tr["lr"], weight_decay=tr["weight_decay"])
    bs = tr["batch_size"]
    steps = len(x) // bs
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=tr["lr"], total_steps=epochs * steps, pct_start=1 / epochs,
        anneal_strategy="linear",
    )  # fmt: skip
    X, Y, Xt = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(xt)
    mean = X.float().mean(dim=(0, 2, 3), keepdim=True)
    std = X.float().std(dim=(0, 2, 3), keepdim=True)

    def norm(b: torch.Tensor) -> torch.Tensor:
        return ((b.float() - mean) / std).contiguous(memory_format=torch.channels_last)

    smoothing = tr.get("label_smoothing", 0.0)
    started = time.perf_counter()
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(X), generator=gen)
        for s in range(steps):
            idx = perm[s * bs : (s + 1) * bs]
            xb = X[idx]
            if aug.get("translate"):
                t = aug["translate"]
                dy, dx = (torch.randint(-t, t + 1, (bs,), generator=gen) for _ in range(2))
                xb = translate_images(xb, dy, dx)
            if aug.get("flip"):
                xb = hflip_images(xb, torch.rand(bs, generator=gen) < 0.5)
            loss = nn.functional.cross_entropy(net(norm(xb)), Y[idx], label_smoothing=smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    seconds = time.perf_counter() - started
    net.eval()
    with torch.inference_mode():
        pred = torch.cat([net(norm(Xt[i : i + 512])) for i in range(0, len(Xt), 512)]).argmax(1)
    return float((pred.numpy() == yt).mean()), seconds / epochs


def kagglekit_cifar(
    spec: dict[str, Any], x, y, xt, yt, *, epochs: int, seed: int
) -> tuple[float, float]:
    """The same net and settings through kagglekit's backend and trainer (no TTA)."""
    from kagglekit.models import get_backend
    from kagglekit.models.base import BuildContext

    name, params = spec["net"]
    backend = get_backend(name, task="multiclass")
    ctx = BuildContext(
        task="multiclass",
        n_classes=10,
        seed=seed,
        params={**params, **spec["train"], **spec["augment"], "epochs": epochs,
                "schedule": "onecycle", "warmup_epochs": 1, "tta": "none",
                "channels_last": True},
        early_stopping_rounds=0,
        metric=get_metric("accuracy"),
        info={"input_shape": (3, 32, 32)},
    )  # fmt: skip
    model: TorchModel = backend.build(ctx)
    started = time.perf_counter()
    model.fit(x, y.astype(np.int64))
    seconds = time.perf_counter() - started
    pred = model.predict(xt).argmax(1)
    return float((pred == yt).mean()), seconds / epochs


def load(mirror: Path) -> tuple[np.ndarray, ...]:
    folder = mirror / "fashion-mnist"
    x, y = read_idx_pair(
        folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
    )
    xt, yt = read_idx_pair(
        folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    )
    return x, y, xt, yt


def plain(spec: dict[str, Any], x, y, xt, yt, *, epochs: int, seed: int) -> tuple[float, float]:
    """A hand-written loop: one-cycle AdamW, as one writes it from the PyTorch docs."""
    torch.manual_seed(seed)
    name, params = spec["net"]
    net = nets.build_net(name, (1, 28, 28), 10, params)
    tr = spec["train"]
    opt = torch.optim.AdamW(net.parameters(), lr=tr["lr"], weight_decay=tr["weight_decay"])
    bs = tr["batch_size"]
    steps = len(x) // bs
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt,
        max_lr=tr["lr"],
        total_steps=epochs * steps,
        pct_start=1 / epochs,
        anneal_strategy="linear",
    )
    mean, std = x.mean() / 255.0, x.std() / 255.0
    X = (torch.from_numpy(x).float() / 255.0 - mean) / std
    Y = torch.from_numpy(y)
    Xt = (torch.from_numpy(xt).float() / 255.0 - mean) / std
    started = time.perf_counter()
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(X))
        for s in range(steps):
            idx = perm[s * bs : (s + 1) * bs]
            loss = nn.functional.cross_entropy(net(X[idx]), Y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    seconds = time.perf_counter() - started
    net.eval()
    with torch.inference_mode():
        pred = torch.cat([net(Xt[i : i + 512]) for i in range(0, len(Xt), 512)]).argmax(1)
    return float((pred.numpy() == yt).mean()), seconds / epochs


def kagglekit(spec: dict[str, Any], x, y, xt, yt, *, epochs: int, seed: int) -> tuple[float, float]:
    """The same net and settings through kagglekit's backend and trainer."""
    from kagglekit.models import get_backend
    from kagglekit.models.base import BuildContext

    name, params = spec["net"]
    backend = get_backend({"mlp": "mlp", "cnn": "cnn"}[name], task="multiclass")
    ctx = BuildContext(
        task="multiclass",
        n_classes=10,
        seed=seed,
        params={**params, **spec["train"], "epochs": epochs, "schedule": "onecycle",
                "warmup_epochs": 1, "tta": "none"},
        early_stopping_rounds=0,
        metric=get_metric("accuracy"),
        info={"input_shape": (1, 28, 28)},
    )  # fmt: skip
    model: TorchModel = backend.build(ctx)
    started = time.perf_counter()
    model.fit(x, y.astype(np.int64))
    seconds = time.perf_counter() - started
    pred = model.predict(xt).argmax(1)
    return float((pred == yt).mean()), seconds / epochs


def data_path(x: np.ndarray, *, batch_size: int = 128, workers: int = 0) -> None:
    """One augmented epoch of batches, per-sample DataLoader vs kagglekit's batch path."""
    from torch.utils.data import DataLoader, TensorDataset
    from torchvision.transforms import v2

    from kagglekit.vision import augment

    images = torch.from_numpy(x)  # (N, 1, 28, 28) uint8
    labels = torch.zeros(len(images), dtype=torch.long)
    mean, std = augment.channel_stats(images)
    per_sample = v2.Compose(
        [
            v2.RandomCrop(28, padding=2, padding_mode="reflect"),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(mean, std),
        ]
    )

    class Augmented(TensorDataset):
        def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
            image, label = super().__getitem__(i)
            return per_sample(image), label

    # kagglekit's path first: DataLoader workers (forked processes) must not run beside it.
    prepare = augment.make_batch_transform(mean=mean, std=std, flip=True, translate=2)
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    perm = torch.randperm(len(images), generator=generator)
    kk_rows = 0
    for s in range(len(images) // batch_size):
        xb = prepare(images[perm[s * batch_size : (s + 1) * batch_size]], True, generator)
        kk_rows += len(xb)
    kk_seconds = time.perf_counter() - started
    loader = DataLoader(
        Augmented(images, labels), batch_size=batch_size, shuffle=True, drop_last=True,
        num_workers=workers,
    )  # fmt: skip
    started = time.perf_counter()
    rows = sum(len(xb) for xb, _ in loader)
    dl_seconds = time.perf_counter() - started

    print(f"data path, one augmented epoch of {rows:,} rows in batches of {batch_size}:")
    print(f"  DataLoader + torchvision v2 per sample ({workers} workers): {dl_seconds:7.2f} s, "
          f"{rows / dl_seconds:9,.0f} rows/s")  # fmt: skip
    print(f"  kagglekit whole-batch tensor path:              {kk_seconds:7.2f} s, "
          f"{kk_rows / kk_seconds:9,.0f} rows/s")  # fmt: skip
    print(f"  ratio DataLoader / kagglekit wall {dl_seconds / kk_seconds:.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--epochs", type=int, default=0, help="0: each model's default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-path", action="store_true", help="time the data path alone")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (--data-path)")
    parser.add_argument(
        "--cifar", action="store_true", help="CIFAR-10: train batches 1-3, score batch 4"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.cifar:
        main_cifar(args)
        return
    x, y, xt, yt = load(default_mirror())
    if args.data_path:
        data_path(x, workers=args.workers)
        return
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU; train 60,000, test 10,000")
    print(f"{'model':6} {'side':10} {'test acc':>9} {'s/epoch':>8}")
    for name in args.models.split(","):
        spec = MODELS[name]
        epochs = args.epochs or spec["epochs"]
        acc_p, sec_p = plain(spec, x, y, xt, yt, epochs=epochs, seed=args.seed)
        print(f"{name:6} {'plain':10} {acc_p:9.4f} {sec_p:8.2f}", flush=True)
        acc_k, sec_k = kagglekit(spec, x, y, xt, yt, epochs=epochs, seed=args.seed)
        print(f"{name:6} {'kagglekit':10} {acc_k:9.4f} {sec_k:8.2f}", flush=True)
        print(f"{name:6} ratio kagglekit/plain wall per epoch {sec_k / sec_p:.3f}, "
              f"accuracy {acc_k - acc_p:+.4f} ({epochs} epochs)", flush=True)  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")


def main_cifar(args: argparse.Namespace) -> None:
    x, y, xt, yt = load_cifar(default_mirror())
    names = "lenet5,resnet" if args.models == "mlp,cnn" else args.models
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU; CIFAR-10 train "
          f"batches 1-3 ({len(x):,}), score batch 4 ({len(xt):,})")  # fmt: skip
    print(f"{'model':6} {'side':10} {'acc':>7} {'s/epoch':>8}")
    for name in names.split(","):
        spec = CIFAR_MODELS[name]
        epochs = args.epochs or spec["epochs"]
        acc_p, sec_p = plain_cifar(spec, x, y, xt, yt, epochs=epochs, seed=args.seed)
        print(f"{name:6} {'plain':10} {acc_p:7.4f} {sec_p:8.2f}", flush=True)
        acc_k, sec_k = kagglekit_cifar(spec, x, y, xt, yt, epochs=epochs, seed=args.seed)
        print(f"{name:6} {'kagglekit':10} {acc_k:7.4f} {sec_k:8.2f}", flush=True)
        print(f"{name:6} ratio kagglekit/plain wall per epoch {sec_k / sec_p:.3f}, "
              f"accuracy {acc_k - acc_p:+.4f} ({epochs} epochs)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
