"""Fashion-MNIST: each kagglekit image model against a plain PyTorch script, side by side.

Both sides train the same net on the same 60,000 official training images (no
validation split: the plain script has none) with the same optimiser, schedule, batch
size and epochs, and are scored on the official 10,000 test images. The plain side is what
one writes by hand: the images as one uint8 tensor normalised a batch at a time, a
shuffled index per epoch, no checkpoints, history, TTA or hooks. kagglekit's side is ``kk``'s own path: the ``idx``
loader, the project's model entry, the trainer (``TorchModel``), its predictions.

    .venv/bin/python bench/vision.py [--models mlp,lenet5,cnn,fastnet] [--epochs N] [--seeds K]
    .venv/bin/python bench/vision.py --data-path [--threads 2]
    .venv/bin/python bench/vision.py --cifar [--models lenet5,resnet] [--epochs N]

``--cifar`` (issue 11): CIFAR-10, trained on data_batch_1..3 and scored on data_batch_4,
the plain loop with the same flips and shifts (kagglekit's tensor ops) and channels-last.

Prints accuracy and seconds per epoch for each side and the wall ratio kagglekit / plain
(the machines are noisy: compare the ratio, run it twice); ``--seeds K`` trains each side
K times (seeds 0..K-1, sides alternating) and prints the means, since one seed's accuracy
differs from another's by a few tenths of a point. ``--data-path`` times the data
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

# Each entry: the net, its trainer settings and augmentation, the same on both sides; both
# use the trainer's schedule (linear warm-up over the first epoch, then a straight line to
# 0: ``kagglekit.torch.trainer.lr_factor``), written out again in the plain loop.
ADAMW = {"optimizer": "adamw", "weight_decay": 1e-4, "batch_size": 128}
MODELS: dict[str, dict[str, Any]] = {
    "mlp": {"net": ("mlp", {"hidden": [256, 128]}), "train": {**ADAMW, "lr": 2e-3},
            "augment": {}, "epochs": 10},
    "lenet5": {"net": ("lenet5", {"activation": "relu", "pool": "max"}),
               "train": {**ADAMW, "lr": 3e-3}, "augment": {}, "epochs": 15},
    "cnn": {"net": ("cnn", {"channels": [32, 64, 128], "convs_per_block": 1,
                            "batch_norm": True}),
            "train": {**ADAMW, "lr": 3e-3}, "augment": {}, "epochs": 10},
    # fastnet's own recipe without the two extras a plain loop does not have (Lookahead,
    # alternating flips) and without TTA: the net, its data-set whitening, Nesterov SGD,
    # label smoothing, random flips and 2-pixel shifts.
    "fastnet": {"net": ("fastnet", {"widths": [32, 64, 128]}),
                "train": {"optimizer": "sgd", "lr": 0.4, "momentum": 0.85, "nesterov": True,
                          "weight_decay": 5e-5, "batch_size": 128, "label_smoothing": 0.2},
                "augment": {"flip": True, "translate": 2}, "epochs": 16},
}  # fmt: skip


# CIFAR-10 (--cifar): train on data_batch_1..3, score on data_batch_4 (issue 11).
CIFAR_MODELS: dict[str, dict[str, Any]] = {
    "lenet5": {
        "net": ("lenet5", {"activation": "relu", "pool": "max"}),
        "train": {**ADAMW, "lr": 3e-3},
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


def load(mirror: Path) -> tuple[np.ndarray, ...]:
    folder = mirror / "fashion-mnist"
    x, y = read_idx_pair(
        folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
    )
    xt, yt = read_idx_pair(
        folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    )
    return x, y, xt, yt


def plain(
    spec: dict[str, Any], x, y, xt, yt, *, epochs: int, seed: int, channels_last: bool = False
) -> tuple[float, float]:
    """A hand-written loop: uint8 images as one tensor, per-channel normalisation, a
    shuffled index per epoch, per-batch flips and shifts with torch ops, the trainer's
    warm-up + linear-decay schedule as a LambdaLR; no checkpoints, history, TTA or hooks."""
    from kagglekit.vision.augment import hflip_images, translate_images

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    name, params = spec["net"]
    net = nets.build_net(name, tuple(x.shape[1:]), 10, params)
    layout = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=layout)
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
    total = epochs * steps
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / steps if s < steps else 1 - (s - steps) / max(1, total - steps)
    )
    X, Y, Xt = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(xt)
    mean = X.float().div(255).mean(dim=(0, 2, 3), keepdim=True)
    std = X.float().div(255).std(dim=(0, 2, 3), keepdim=True)

    def norm(b: torch.Tensor) -> torch.Tensor:
        return ((b.float() / 255 - mean) / std).contiguous(memory_format=layout)

    if hasattr(net, "init_from_data"):  # fastnet's whitening, from 5,000 training images
        net.init_from_data(norm(X[:5000]))
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


def kagglekit(
    spec: dict[str, Any], x, y, xt, yt, *, epochs: int, seed: int, channels_last: bool = False
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
                "lookahead_steps": 0, "alternate_flip": False,
                "channels_last": channels_last},
        early_stopping_rounds=0,
        metric=get_metric("accuracy"),
        info={"input_shape": tuple(x.shape[1:])},
    )  # fmt: skip
    model: TorchModel = backend.build(ctx)
    started = time.perf_counter()
    model.fit(x, y.astype(np.int64))
    seconds = time.perf_counter() - started
    pred = model.predict(xt).argmax(1)
    return float((pred == yt).mean()), seconds / epochs


def side_by_side(
    models: dict[str, dict[str, Any]], names: str, data: tuple[np.ndarray, ...],
    args: argparse.Namespace, *, channels_last: bool = False,
) -> None:  # fmt: skip
    """Each model on both sides, ``--seeds`` seeds each (seed, seed + 1, ...), alternating
    sides so a load change hits both; the mean accuracy and seconds per epoch of each."""
    print(f"{'model':7} {'side':10} {'test acc':>9} {'s/epoch':>8}  seeds")
    for name in names.split(","):
        spec = models[name]
        epochs = args.epochs or spec["epochs"]
        runs: dict[str, list[tuple[float, float]]] = {"plain": [], "kagglekit": []}
        for seed in range(args.seed, args.seed + args.seeds):
            for side, fn in (("plain", plain), ("kagglekit", kagglekit)):
                result = fn(spec, *data, epochs=epochs, seed=seed, channels_last=channels_last)
                runs[side].append(result)
                print(f"{name:7} {side:10} {result[0]:9.4f} {result[1]:8.2f}  seed {seed}",
                      flush=True)  # fmt: skip
        (acc_p, sec_p), (acc_k, sec_k) = (np.mean(runs[s], axis=0) for s in runs)
        sd = {s: float(np.std([r[0] for r in runs[s]])) for s in runs}
        print(f"{name:7} mean over {args.seeds} seed(s): plain {acc_p:.4f} (sd {sd['plain']:.4f}), "
              f"kagglekit {acc_k:.4f} (sd {sd['kagglekit']:.4f}); accuracy {acc_k - acc_p:+.4f}, "
              f"ratio kagglekit/plain wall per epoch {sec_k / sec_p:.3f} ({epochs} epochs)",
              flush=True)  # fmt: skip


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
    parser.add_argument("--seeds", type=int, default=1, help="seeds per side (means printed)")
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
    side_by_side(MODELS, args.models, (x, y, xt, yt), args)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB")


def main_cifar(args: argparse.Namespace) -> None:
    x, y, xt, yt = load_cifar(default_mirror())
    names = "lenet5,resnet" if args.models == "mlp,cnn" else args.models
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU; CIFAR-10 train "
          f"batches 1-3 ({len(x):,}), score batch 4 ({len(xt):,})")  # fmt: skip
    side_by_side(CIFAR_MODELS, names, (x, y, xt, yt), args, channels_last=True)


if __name__ == "__main__":
    main()
