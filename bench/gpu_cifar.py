"""The GPU paths in one prepared run (issues 11, 35): every check, then every GPU figure.

NOT YET RUN ON A GPU: no GPU was lent while it was written. It runs end to end on a CPU
with ``--dry-run`` (tiny data, a few batches; tests/test_gpu_bench.py runs that), so a GPU
call should not die on a slip. On a GPU machine, one command (bench/README.md, "GPU",
gives the whole call, with the data carried there):

    KK_DATA_MIRROR=DIR python bench/gpu_cifar.py [--runs 3] [--out FILE]
    KK_DATA_MIRROR=DIR python bench/gpu_cifar.py --dry-run            # a CPU, seconds

Sections, each printed as one JSON line ``{"section": ...}`` as soon as it ends (a failing
section prints its error and the others still run; the exit status is 1 if any failed):

- ``env``: torch, CUDA, the card.
- ``checks``: bf16 and fp16 autocast, channels-last, ``torch.compile`` (each through
  kagglekit's trainer on a tiny fast net, and as bare torch), kagglekit's CUDA-event
  ``Timer`` against the wall clock, and DDP: NCCL on 2 processes with >= 2 GPUs, 1 process
  with one GPU, gloo on 2 CPU processes without a GPU (the fallback, said so).
- ``airbench``: cifar10-airbench's airbench94_muon.py (vendored under bench/third_party,
  its data loading reading the mirror), compiled as upstream does (``max-autotune``;
  ``--airbench-compile default`` compiles faster), a warm-up run, then ``--runs`` runs.
- ``fastnet``: kagglekit's fast net on the same training and test images: seconds of
  training steps to 94 % and to airbench's mean accuracy, and the ratio to airbench's time.
- ``fashion_mnist``: the fast net at airbench's widths on the 60,000 training images, test
  accuracy on the official 10,000 (target >= 0.955).
- ``tweets``: fine-tuning throughput on the Disaster Tweets (texts/s), MiniLM's pretrained
  weights when they load here, else a random-init copy of its config (same speed).
- ``gpu_tests``: the test files with ``pytest.mark.gpu``, run by pytest (last, so a call cut
  short at its time limit still has the figures).

CIFAR-10 on the mirror: data_batch_1-4 (40,000 training images) and the first 1,000 test
images (../shared/data/SOURCES.md); both sides train and test on exactly those. Times:
CUDA events around the training steps (kagglekit: ``epoch_train_seconds``, no evaluation;
airbench: its own timer, which also counts its whitening init and final TTA evaluation),
after a warm-up run (cuDNN autotuning, compilation) that is not counted.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import REPO, default_mirror
from torch import nn

from kagglekit.metrics import get_metric
from kagglekit.models import get_backend
from kagglekit.models.base import BuildContext
from kagglekit.vision.readers import read_cifar_batches, read_idx_pair

THIRD_PARTY = Path(__file__).resolve().parent / "third_party" / "airbench"
# The fast net at airbench94's widths, trained for short runs on a GPU.
FAST: dict[str, Any] = {
    "widths": [64, 256, 256], "batch_size": 1024, "lr": 2.0, "momentum": 0.85,
    "weight_decay": 5e-5, "label_smoothing": 0.2, "warmup_epochs": 0.5,
}  # fmt: skip
FASHION: dict[str, Any] = {"widths": [64, 256, 256], "epochs": 24, "keep": "last"}
# projects/disaster-tweets' `finetune` entry, one epoch.
TWEETS: dict[str, Any] = {"max_length": 128, "epochs": 1, "batch_size": 32, "lr": 5e-5}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# --dry-run sizes: (train rows, test rows) per data set, airbench's batch.
TINY = {"cifar": (256, 128), "fashion": (256, 128), "tweets": (64, 32), "airbench": (32, 32, 16)}


# ------------------------------------------------------------------------------- output
class Report:
    """Prints each section as one JSON line (and appends it to ``--out``); counts failures."""

    def __init__(self, out: Path | None) -> None:
        self.out, self.failed = out, []

    def section(self, name: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            result = run()
        except Exception as err:  # one broken section must not hide the others' figures
            result = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
        result = {
            "section": name,
            **result,
            "wall_seconds": round(time.perf_counter() - started, 2),
        }
        if "error" in result or result.get("ok") is False:
            self.failed.append(name)
        line = json.dumps(result, default=str)
        print(line, flush=True)
        if self.out is not None:
            with open(self.out, "a") as fh:
                fh.write(line + "\n")
        return result


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@contextlib.contextmanager
def cpu_stand_ins() -> Iterator[None]:
    """For a CPU dry run: ``torch.compile`` traces with the eager backend (no C++ build),
    CUDA events and ``synchronize`` become wall-clock stand-ins (airbench calls them), and
    ``.half()`` keeps fp32 (airbench's fp16 net; CPU fp16 convolutions take minutes)."""
    real_compile, real_event, real_sync = torch.compile, torch.cuda.Event, torch.cuda.synchronize
    real_half, real_module_half = torch.Tensor.half, nn.Module.half

    def eager_compile(model: Any = None, **kwargs: Any) -> Any:
        kwargs.pop("mode", None)
        kwargs["backend"] = "eager"
        if model is None:
            return functools.partial(real_compile, **kwargs)
        return real_compile(model, **kwargs)

    class WallEvent:
        def __init__(self, **_: Any) -> None:
            self.t = 0.0

        def record(self) -> None:
            self.t = time.perf_counter()

        def elapsed_time(self, end: WallEvent) -> float:
            return (end.t - self.t) * 1000.0

        def synchronize(self) -> None:
            pass

    torch.compile, torch.cuda.Event = eager_compile, WallEvent  # type: ignore[assignment,misc]
    torch.cuda.synchronize = lambda *a, **k: None  # type: ignore[assignment]
    torch.Tensor.half = torch.Tensor.float  # type: ignore[method-assign]
    nn.Module.half = nn.Module.float  # type: ignore[method-assign]
    try:
        yield
    finally:
        torch.compile, torch.cuda.Event, torch.cuda.synchronize = (
            real_compile,
            real_event,
            real_sync,
        )
        torch.Tensor.half, nn.Module.half = real_half, real_module_half  # type: ignore[method-assign]


# --------------------------------------------------------------------------------- data
def load_cifar(limit: tuple[int, int] | None) -> tuple[np.ndarray, ...]:
    folder = default_mirror() / "cifar10" / "cifar-10-batches-py"
    batches = sorted(folder.glob("data_batch_*"), key=lambda p: int(p.name.rsplit("_", 1)[1]))
    x, y, _ = read_cifar_batches(batches)
    xt, yt, _ = read_cifar_batches([folder / "test_batch"])
    return _cut(x, y, xt, yt, limit)


def load_fashion(limit: tuple[int, int] | None) -> tuple[np.ndarray, ...]:
    folder = default_mirror() / "fashion-mnist"
    x, y = read_idx_pair(
        folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
    )
    xt, yt = read_idx_pair(
        folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    )
    return _cut(x, y, xt, yt, limit)


def _cut(x: Any, y: Any, xt: Any, yt: Any, limit: tuple[int, int] | None) -> tuple[Any, ...]:
    if limit is None:
        return x, y, xt, yt
    return x[: limit[0]], y[: limit[0]], xt[: limit[1]], yt[: limit[1]]


def fit(backend: str, params: dict[str, Any], x, y, xt, yt, *, seed: int, task: str = "multiclass",
        metric: str = "accuracy", info: dict[str, Any] | None = None) -> Any:  # fmt: skip
    """A fresh model of ``backend`` fitted on ``x, y``, scored each epoch on ``xt, yt``."""
    n_classes = int(max(np.max(y), np.max(yt))) + 1
    ctx = BuildContext(
        task=task, n_classes=n_classes, seed=seed, params=params, early_stopping_rounds=0,
        metric=get_metric(metric),
        info={"input_shape": tuple(x.shape[1:])} if info is None else info,
    )  # fmt: skip
    model = get_backend(backend, task=task).build(ctx)
    model.fit(x, y.astype(np.int64), X_valid=xt, y_valid=yt.astype(np.int64))
    return model


# ------------------------------------------------------------------------------- checks
def env_section(args: argparse.Namespace) -> dict[str, Any]:
    cuda = torch.cuda.is_available()
    return {
        "torch": torch.__version__, "cuda": torch.version.cuda, "dry_run": args.dry_run,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "n_gpus": torch.cuda.device_count() if cuda else 0,
        "capability": ".".join(map(str, torch.cuda.get_device_capability())) if cuda else None,
        "bf16_supported": torch.cuda.is_bf16_supported() if cuda else None,
        "python": sys.version.split()[0],
    }  # fmt: skip


def bare_torch_checks(dev: torch.device) -> dict[str, Any]:
    """Autocast dtypes, channels-last propagation and a compiled function, without kagglekit."""
    out: dict[str, Any] = {}
    lin = nn.Linear(32, 32).to(dev)
    x = torch.randn(8, 32, device=dev)
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    for name, dtype in dtypes.items():
        if name == "fp16" and dev.type != "cuda":
            out["autocast_fp16"] = "skipped: fp16 autocast is for CUDA here"
            continue
        with torch.autocast(dev.type, dtype=dtype):
            out[f"autocast_{name}"] = lin(x).dtype == dtype
    conv = nn.Conv2d(3, 8, 3, padding=1).to(dev).to(memory_format=torch.channels_last)
    images = torch.randn(4, 3, 16, 16, device=dev).contiguous(memory_format=torch.channels_last)
    out["channels_last_kept"] = conv(images).is_contiguous(memory_format=torch.channels_last)

    def f(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.gelu(t @ t.T).sum(dim=1)

    compiled = torch.compile(f)
    out["compile_matches_eager"] = bool(torch.allclose(compiled(x), f(x), rtol=1e-3, atol=1e-3))
    return out


def trainer_checks(dev: torch.device) -> dict[str, Any]:
    """kagglekit's trainer on a tiny fast net: each precision, channels-last, compile."""
    from kagglekit.vision.testing import tiny_images

    x, y = tiny_images(256, (3, 32, 32), 10)
    combos = [("bf16", False), ("fp16", False), ("bf16", True)]
    out: dict[str, Any] = {}
    for precision, compiled in combos:
        key = f"{precision}{'_compile' if compiled else ''}"
        if precision == "fp16" and dev.type != "cuda":
            out[key] = "skipped: kagglekit's fp16 needs CUDA"
            continue
        params = {"widths": [16, 32, 32], "epochs": 2, "device": dev.type, "batch_size": 64,
                  "precision": precision, "channels_last": True, "compile": compiled}  # fmt: skip
        model = fit("fastnet", params, x[:192], y[:192], x[192:], y[192:], seed=0)
        learned = model.learned()
        pred = model.predict(x[192:])
        out[key] = {
            "precision": learned["precision"], "device": learned["device"],
            "finite": bool(np.isfinite(pred).all()), "sums_to_1": bool(np.allclose(pred.sum(1), 1, atol=1e-3)),
            "images_per_second": round(learned["samples_per_second"]),
        }  # fmt: skip
    return out


def timer_check(dev: torch.device) -> dict[str, Any]:
    """kagglekit's Timer (CUDA events on a GPU) around matrix products, beside the wall clock."""
    from kagglekit.torch.device import Timer

    n = 2048 if dev.type == "cuda" else 256
    a = torch.randn(n, n, device=dev)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    wall0, timer = time.perf_counter(), Timer(dev)
    for _ in range(20):
        a = (a @ a).clamp_(-1, 1)
    seconds = timer.seconds()  # synchronises on its end event
    wall = time.perf_counter() - wall0
    return {"timer_seconds": round(seconds, 5), "wall_seconds": round(wall, 5),
            "cuda_events": dev.type == "cuda", "ok": 0 < seconds <= wall * 1.05 + 1e-3}  # fmt: skip


def _ddp_worker(rank: int, world: int, backend: str, port: int, out_path: str) -> None:
    """One DDP process: an all-reduce, one DDP step (gradients must agree), a timed all-reduce."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dev = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
    if backend == "nccl":
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, rank=rank, world_size=world)
    try:
        total = torch.tensor([rank + 1.0], device=dev)
        dist.all_reduce(total)
        torch.manual_seed(0)
        net = nn.Linear(16, 4).to(dev)
        ddp = DistributedDataParallel(net, device_ids=[rank] if backend == "nccl" else None)
        ddp(torch.randn(8, 16, device=dev) + rank).square().mean().backward()
        grad = net.weight.grad
        assert grad is not None
        grads = [torch.zeros_like(grad) for _ in range(world)]
        dist.all_gather(grads, grad)
        big = torch.ones(16 * 2**20, device=dev)  # 64 MiB of fp32
        dist.all_reduce(big)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(5):
            dist.all_reduce(big)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - t0) / 5
        if rank == 0:
            result = {"all_reduce_sum": total.item(), "expected_sum": world * (world + 1) / 2,
                      "grads_agree": all(bool(torch.allclose(g, grads[0])) for g in grads),
                      "all_reduce_64mib_ms": round(seconds * 1000, 3)}  # fmt: skip
            Path(out_path).write_text(json.dumps(result))
    finally:
        dist.destroy_process_group()


def ddp_check() -> dict[str, Any]:
    import torch.multiprocessing as mp

    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    backend, world = ("nccl", min(n_gpus, 2)) if n_gpus else ("gloo", 2)
    note = {0: "no GPU: gloo on 2 CPU processes (the fallback; NCCL not checked)",
            1: "one GPU: NCCL with a single process (no traffic between GPUs)"}.get(n_gpus, "")  # fmt: skip
    attempts = 0
    for attempts in (1, 2):  # gloo on loopback has aborted now and then: one retry, counted
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "ddp.json"
            try:
                mp.spawn(
                    _ddp_worker, args=(world, backend, port, str(out)), nprocs=world, join=True
                )
            except mp.ProcessExitedException:
                if attempts == 2:
                    raise
                continue
            result = json.loads(out.read_text())
            break
    ok = result["grads_agree"] and result["all_reduce_sum"] == result["expected_sum"]
    return {"backend": backend, "processes": world, "note": note, "attempts": attempts,
            **result, "ok": ok}  # fmt: skip


def checks_section(args: argparse.Namespace) -> dict[str, Any]:
    dev = device()
    out: dict[str, Any] = {"bare_torch": bare_torch_checks(dev)}
    out["trainer"] = trainer_checks(dev)
    out["timer"] = timer_check(dev)
    out["ddp"] = ddp_check()
    flat = [v for v in out["bare_torch"].values() if isinstance(v, bool)]
    flat += [v["finite"] and v["sums_to_1"] for v in out["trainer"].values() if isinstance(v, dict)]
    out["ok"] = all(flat) and out["timer"]["ok"] and out["ddp"]["ok"]
    if args.dry_run:
        out["compile_backend"] = "eager (dry run: traced by dynamo, no inductor build)"
    return out


def gpu_tests_section(args: argparse.Namespace) -> dict[str, Any]:
    files = sorted(
        str(p.relative_to(REPO)) for p in (REPO / "tests").glob("test_*.py")
        if "mark.gpu" in p.read_text(encoding="utf-8")
    )  # fmt: skip
    command = [sys.executable, "-m", "pytest", *files, "-m", "gpu", "-q", "-p", "no:cacheprovider"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "shared"),
                                                                     os.environ.get("PYTHONPATH")])))  # fmt: skip
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return {"files": files, "returncode": done.returncode, "summary": lines[-1] if lines else "",
            "tail": lines[-15:] if done.returncode else [], "ok": done.returncode == 0}  # fmt: skip


# -------------------------------------------------------------------------------- figures
def airbench_section(args: argparse.Namespace) -> dict[str, Any]:
    """airbench94_muon's own ``main`` on this card: a warm-up run, then ``args.runs`` runs."""
    sys.path.insert(0, str(THIRD_PARTY))
    argv0, sys.argv[0] = sys.argv[0], __file__  # it reads its own source at import
    try:
        import airbench94_muon as ab
    finally:
        sys.argv[0] = argv0
    if args.dry_run:
        ab.LIMIT = TINY["airbench"]
    sizes: dict[str, int] = {}
    load = ab.load_mirror

    def counted(train: bool) -> dict[str, Any]:
        data = load(train)
        sizes["n_train" if train else "n_test"] = len(data["labels"])
        return data

    ab.load_mirror = counted
    rows: list[dict[str, Any]] = []
    printed = ab.print_training_details

    def capture(variables: dict[str, Any], is_final_entry: bool) -> None:
        rows.append(
            {k: variables.get(k) for k in ("epoch", "val_acc", "tta_val_acc", "time_seconds")}
        )
        with contextlib.redirect_stdout(io.StringIO()):
            printed(variables, is_final_entry)

    ab.print_training_details = capture
    model = ab.CifarNet().to(ab.DEVICE).to(memory_format=torch.channels_last)
    if not args.dry_run and args.airbench_compile != "none":
        model.compile(mode=args.airbench_compile)
    with contextlib.redirect_stdout(io.StringIO()):
        ab.main("warmup", model)
    accs, seconds = [], []
    for run in range(1 if args.dry_run else args.runs):
        rows.clear()
        with contextlib.redirect_stdout(io.StringIO()):
            accs.append(float(ab.main(run, model)))
        seconds.append(float(rows[-1]["time_seconds"]))
    return {"script": "airbench94_muon.py (vendored, data from the mirror)",
            "tta_test_acc": [round(a, 4) for a in accs], "seconds": [round(s, 3) for s in seconds],
            "mean_acc": round(float(np.mean(accs)), 4), "mean_seconds": round(float(np.mean(seconds)), 3),
            **sizes, "compile_mode": "none" if args.dry_run else args.airbench_compile}  # fmt: skip


def fastnet_section(args: argparse.Namespace, airbench: dict[str, Any]) -> dict[str, Any]:
    dry = args.dry_run
    x, y, xt, yt = load_cifar(TINY["cifar"] if dry else None)
    common = {"device": device().type, "precision": "bf16", "channels_last": True,
              "compile": not dry and args.compile}  # fmt: skip
    fast = {**FAST, **common, "epochs": 1 if dry else args.epochs}
    if dry:
        fast.update(widths=[16, 32, 32], batch_size=64)
    fit("fastnet", {**fast, "epochs": 1}, x[:5000], y[:5000], xt, yt, seed=0)  # warm-up
    targets = {"0.94": 0.94, "airbench_mean": airbench.get("mean_acc")}
    runs = []
    for run in range(1 if dry else args.runs):
        learned = fit("fastnet", fast, x, y, xt, yt, seed=run).learned()
        seconds = np.cumsum(learned["epoch_train_seconds"])
        scores = learned["history"]["valid_score"]
        to = {}
        for name, target in targets.items():
            reached = [i for i, s in enumerate(scores) if target is not None and s >= target]
            to[name] = round(float(seconds[reached[0]]), 3) if reached else None
        runs.append({"test_acc_by_epoch": [round(s, 4) for s in scores],
                     "train_seconds": round(float(seconds[-1]), 3), "seconds_to": to,
                     "images_per_second": round(learned["samples_per_second"])})  # fmt: skip
    base = airbench.get("mean_seconds")
    mean_to = [r["seconds_to"]["airbench_mean"] for r in runs]
    ratio = (round(float(np.mean(mean_to)) / base, 3)
             if base and all(t is not None for t in mean_to) else None)  # fmt: skip
    return {"runs": runs, "n_train": len(x), "n_test": len(xt), **common, "epochs": fast["epochs"],
            "ratio_to_airbench_at_its_accuracy": ratio, "target_ratio": 1.5}  # fmt: skip


def fashion_section(args: argparse.Namespace) -> dict[str, Any]:
    dry = args.dry_run
    x, y, xt, yt = load_fashion(TINY["fashion"] if dry else None)
    params = {**FASHION, "device": device().type, "precision": "bf16", "channels_last": True}
    if dry:
        params.update(widths=[8, 16, 16], epochs=1, batch_size=64)
    model = fit("fastnet", params, x, y, xt, yt, seed=0)
    learned = model.learned()
    acc = float((model.predict(xt).argmax(1) == yt).mean())
    return {"test_acc": round(acc, 4), "target": 0.955, "reached": acc >= 0.955,
            "n_train": len(x), "n_test": len(xt), "params": params,
            "train_seconds": round(float(sum(learned["epoch_train_seconds"])), 3),
            "images_per_second": round(learned["samples_per_second"])}  # fmt: skip


def text_model(name: str, workdir: Path) -> tuple[str, str]:
    """``(path or name, "pretrained" | "random-init")``: a folder with a config and a
    tokenizer but no weights becomes a random-init copy (throughput is the same)."""
    folder = Path(name)
    if folder.is_dir() and not any((folder / w).exists() for w in WEIGHT_FILES):
        import transformers

        config = transformers.AutoConfig.from_pretrained(folder)
        transformers.AutoModel.from_config(config).save_pretrained(workdir)
        transformers.AutoTokenizer.from_pretrained(folder).save_pretrained(workdir)
        return str(workdir), "random-init"
    return name, "pretrained"


def _positions(model: str) -> int:
    """How many token positions ``model`` has (a test's tiny model has fewer than 128)."""
    import transformers

    from kagglekit.text.embeddings import resolve_model

    config = transformers.AutoConfig.from_pretrained(resolve_model(model))
    return int(getattr(config, "max_position_embeddings", 512))


def tweets_section(args: argparse.Namespace) -> dict[str, Any]:
    import pandas as pd

    frame = pd.read_csv(default_mirror() / "disaster-tweets" / "train.csv")
    texts, target = frame["text"].astype(str).to_numpy(), frame["target"].to_numpy()
    n_valid = len(texts) // 5
    x, y, xt, yt = texts[:-n_valid], target[:-n_valid], texts[-n_valid:], target[-n_valid:]
    if args.dry_run:
        x, y, xt, yt = _cut(x, y, xt, yt, TINY["tweets"])
    with tempfile.TemporaryDirectory() as tmp:
        path, weights = text_model(args.text_model, Path(tmp))
        params = {**TWEETS, "model": path, "device": device().type, "precision": "bf16"}
        params["max_length"] = min(params["max_length"], _positions(path))
        if args.dry_run:
            params["batch_size"] = 16
        learned = fit("transformer", params, x, y, xt, yt, seed=0, task="binary", metric="f1",
                      info={}).learned()  # fmt: skip
    return {"weights": weights, "model": args.text_model, "texts_per_second":
            round(learned["samples_per_second"], 1), "n_train": len(x),
            "train_seconds": round(float(sum(learned["epoch_train_seconds"])), 3),
            "valid_f1": round(learned["history"]["valid_score"][-1], 4),
            "batch_size": params["batch_size"], "max_length": params["max_length"],
            "padded_length": learned.get("padded_length"), "precision": learned["precision"]}  # fmt: skip


# Figures before the GPU-marked tests: a call cut short at its limit still brings them back.
SECTIONS = ("env", "checks", "airbench", "fastnet", "fashion_mnist", "tweets", "gpu_tests")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="tiny data, CPU stand-ins")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10, help="fast net epochs on CIFAR-10")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--text-model", default="all-MiniLM-L6-v2")
    parser.add_argument("--airbench-compile", default="max-autotune",
                        choices=["max-autotune", "default", "none"], help="upstream: max-autotune")  # fmt: skip
    parser.add_argument("--sections", default=",".join(SECTIONS))
    parser.add_argument("--out", type=Path, default=None, help="append the JSON lines here")
    args = parser.parse_args()
    wanted = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = set(wanted) - set(SECTIONS)
    if unknown:
        raise SystemExit(f"--sections: unknown {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    if not torch.cuda.is_available() and not args.dry_run:
        raise SystemExit("bench/gpu_cifar.py needs a CUDA GPU; --dry-run runs it tiny on a CPU")
    report = Report(args.out)
    airbench: dict[str, Any] = {}
    stand_ins = cpu_stand_ins() if args.dry_run else contextlib.nullcontext()
    runs: dict[str, Callable[[], dict[str, Any]]] = {
        "env": lambda: env_section(args),
        "checks": lambda: checks_section(args),
        "gpu_tests": lambda: gpu_tests_section(args),
        "airbench": lambda: airbench_section(args),
        "fastnet": lambda: fastnet_section(args, airbench),
        "fashion_mnist": lambda: fashion_section(args),
        "tweets": lambda: tweets_section(args),
    }
    with stand_ins:
        for name in SECTIONS:
            if name in wanted:
                result = report.section(name, runs[name])
                if name == "airbench":
                    airbench.update(result)
    print(json.dumps({"section": "summary", "failed": report.failed}), flush=True)
    raise SystemExit(1 if report.failed else 0)


if __name__ == "__main__":
    main()
