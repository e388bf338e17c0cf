"""The trainer's overhead: ``TorchModel.fit`` against a plain hand-written torch loop.

Both train the same MLP on the same synthetic 10-class data with AdamW at a constant
rate, the same batch size and epochs, on the same device, and score the validation rows
after every epoch (the plain loop computes accuracy; the trainer runs the competition
metric, keeps the best weights and its history). Prints the best of ``--repeats`` wall
times for each and their ratio.

    .venv/bin/python bench/torch_trainer.py [--rows 20000] [--epochs 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from kagglekit.metrics import get_metric
from kagglekit.torch import TrainConfig
from kagglekit.torch.trainer import TorchModel


def make_net(d: int, k: int) -> Callable[[], nn.Module]:
    return lambda: nn.Sequential(
        nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, k)
    )


def plain_loop(X, y, Xv, yv, *, epochs, batch_size, lr, device, seed, k) -> float:
    """The baseline: what one writes by hand, with no checkpointing, history or hooks."""
    torch.manual_seed(seed)
    net = make_net(X.shape[1], k)().to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=0.0)
    Xt, yt = torch.from_numpy(X).float().to(device), torch.from_numpy(y).to(device)
    Xvt = torch.from_numpy(Xv).float().to(device)
    gen = torch.Generator(device=device).manual_seed(seed)
    steps = len(Xt) // batch_size
    acc = 0.0
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(Xt), device=device, generator=gen)
        for s in range(steps):
            idx = perm[s * batch_size : (s + 1) * batch_size]
            loss = nn.functional.cross_entropy(net(Xt[idx]), yt[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        net.eval()
        with torch.inference_mode():
            pred = torch.cat(
                [
                    net(Xvt[i : i + 2 * batch_size]).softmax(1)
                    for i in range(0, len(Xvt), 2 * batch_size)
                ]
            )
        acc = float((pred.argmax(1).cpu().numpy() == yv).mean())
    return acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    k = 10
    rng = np.random.default_rng(0)
    y = (np.arange(args.rows) % k).astype(np.int64)
    X = rng.normal(scale=2.0, size=(k, args.features))[y] + rng.normal(
        size=(args.rows, args.features)
    )
    cut = 4 * args.rows // 5
    train, valid = (X[:cut], y[:cut]), (X[cut:], y[cut:])
    device = torch.device(args.device)
    cfg = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=1e-3,
        schedule="constant",
        device=args.device,
        precision="fp32",
    )
    metric = get_metric("accuracy")

    def run_trainer() -> float:
        model = TorchModel(
            make_net(args.features, k), cfg, task="multiclass", n_classes=k, seed=0, metric=metric
        )
        model.fit(*train, X_valid=valid[0], y_valid=valid[1])
        return float(model.learned()["best_score"])

    def run_plain() -> float:
        return plain_loop(
            *train,
            *valid,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=1e-3,
            device=device,
            seed=0,
            k=k,
        )

    times: dict[str, list[float]] = {"plain": [], "trainer": []}
    scores: dict[str, float] = {}
    for _ in range(args.repeats):
        for name, fn in (("plain", run_plain), ("trainer", run_trainer)):
            started = time.perf_counter()
            scores[name] = fn()
            times[name].append(time.perf_counter() - started)
    plain, trainer = min(times["plain"]), min(times["trainer"])
    print(
        f"rows={args.rows} features={args.features} epochs={args.epochs} batch_size={args.batch_size} "
        f"device={args.device} threads={args.threads} torch={torch.__version__}"
    )
    print(f"plain loop   {plain:7.3f} s  valid accuracy {scores['plain']:.4f}")
    print(f"TorchModel   {trainer:7.3f} s  valid accuracy {scores['trainer']:.4f} (best epoch)")
    print(f"ratio trainer / plain = {trainer / plain:.3f} (best of {args.repeats})")


if __name__ == "__main__":
    main()
