"""The one PyTorch training path: ``TorchModel`` fits a net on one fold, epoch by epoch.

It reads top to bottom: the data goes onto the device once; the net, optimiser, schedule
and loss scaler are built; each epoch trains on index slices of a seeded permutation,
scores the validation rows with the competition metric, keeps the best epoch's weights,
stops early, writes a checkpoint and calls the fold's ``on_epoch`` hook; ``predict``
runs batched inference with optional flip TTA. There are no callbacks: ``on_epoch`` (for
tuning) and ``progress`` (for a progress bar) are the only hooks.

Losses: multiclass = cross-entropy over ``n_classes`` logits; binary = BCE-with-logits
over ONE logit per row (the net must output ``(B, 1)`` or ``(B,)``); regression = MSE.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kagglekit import atomic, distributed
from kagglekit.errors import KKError
from kagglekit.models.base import FitFailure, FoldContext, holdout_split, require, take
from kagglekit.torch.config import TrainConfig
from kagglekit.torch.device import Precision, choose_device, choose_precision, seed_everything

require("torch", "vision")
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

__all__ = ["GPUOutOfMemoryError", "TorchModel", "TrainConfig", "lr_factor"]

log = logging.getLogger(__name__)

TASKS = ("binary", "multiclass", "regression")
CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = 1
SMOKE_EPOCHS = 2
SMOKE_BATCHES = 5  # batches per epoch in smoke mode
DEVICE_FRACTION = 0.5  # an array bigger than this share of GPU memory stays in pinned CPU memory

# prepare(x_batch_on_device, train, generator, stats) -> what the net takes (a float tensor
# for images: normalised and, when train, augmented on the device with ``generator``).
Prepare = Callable[[Any, bool, Any, Any], Any]


class GPUOutOfMemoryError(FitFailure):
    """The GPU ran out of memory while fitting: these settings do not fit this GPU.

    A tuner counts it as that trial's failure (another batch size may fit).
    """


def default_prepare(xb: Any, train: bool, generator: Any, stats: Any) -> Any:
    """Floats for the net: uint8/bool/float arrays as float32, integer ids as int64."""
    if isinstance(xb, dict):
        return {k: default_prepare(v, train, generator, stats) for k, v in xb.items()}
    if xb.is_floating_point() or xb.dtype in (torch.uint8, torch.bool):
        return xb.float()
    return xb.long()


class TorchModel:
    """A torch net trained by one readable loop; implements ``kagglekit.models.Model``.

    Parameters
    ----------
    make_net
        Builds a fresh ``nn.Module`` (called after seeding, so the seed fixes its initial
        weights). Multiclass nets output ``(B, n_classes)`` logits; binary and regression
        nets ``(B, 1)`` or ``(B,)``.
    config
        The ``TrainConfig``.
    task, n_classes, seed
        ``"binary"`` | ``"multiclass"`` | ``"regression"``; the class count (multiclass);
        the seed for weights, shuffling, augmentation and dropout.
    metric, threshold
        A ``kagglekit.metrics.Metric`` scoring the validation rows each epoch (the best
        epoch is chosen by it, in its direction); ``None`` = the validation loss.
    batch_transform
        ``prepare(xb, train, generator, stats)``: turns a batch of raw rows already on the
        device into the net's input (see ``default_prepare``); ``generator`` is the
        device generator to draw augmentations from (``None`` when not training).
    fit_stats
        ``fit_stats(X_train) -> stats`` called once per fit on the fold's training rows
        (e.g. per-channel mean and std); ``stats`` (numbers, arrays, tensors, dicts) is
        kept in the checkpoint and passed to every ``batch_transform`` call.
    smoke
        At most 2 epochs of at most 5 batches: every model runs in seconds.
    holdout
        ``early_stopping_holdout``: a share of the training rows (stratified for classes)
        held out of the fit; the epoch is chosen and ``patience`` counted on them instead
        of on ``X_valid`` (0: on ``X_valid``, the rows a CV fold is scored on).
    transform_takes_rows
        Training batches' ``batch_transform`` also gets ``rows=`` (the batch's row indices)
        and ``epoch=`` keywords (augmentations that depend on the row and epoch).
    progress
        Called after each epoch with a dict (epoch, n_epochs, losses, scores, lr, seconds,
        samples_per_second, best_epoch); for a progress bar. Library code never prints.

    Examples
    --------
    >>> from kagglekit.metrics import get_metric
    >>> model = TorchModel(lambda: nn.Linear(4, 1), TrainConfig(epochs=2, device="cpu"),
    ...                    task="regression", n_classes=0, seed=0, metric=get_metric("rmse"))
    >>> model.fit(np.ones((8, 4)), np.ones(8)).predict(np.ones((2, 4))).shape
    (2,)
    """

    def __init__(
        self,
        make_net: Callable[[], nn.Module],
        config: TrainConfig,
        *,
        task: str,
        n_classes: int,
        seed: int,
        metric: Any = None,
        threshold: float = 0.5,
        batch_transform: Prepare | None = None,
        fit_stats: Callable[[Any], Any] | None = None,
        smoke: bool = False,
        progress: Callable[[dict[str, Any]], None] | None = None,
        transform_takes_rows: bool = False,
        holdout: float = 0.0,
    ) -> None:
        if task not in TASKS:
            raise KKError(f"task {task!r} is not one the torch trainer serves ({', '.join(TASKS)})")
        if task == "multiclass" and n_classes < 2:
            raise KKError(f"task 'multiclass' needs n_classes >= 2, got {n_classes}")
        self.make_net = make_net
        self.config = config
        self.task = task
        self.n_classes = n_classes
        self.seed = seed
        self.metric = metric
        self.threshold = threshold
        self.batch_transform = batch_transform or default_prepare
        self.fit_stats = fit_stats
        self.smoke = smoke
        self.progress = progress
        self.transform_takes_rows = transform_takes_rows
        if not 0.0 <= holdout < 1.0:
            raise KKError(f"early_stopping_holdout = {holdout} must be in [0, 1), e.g. 0.1")
        self.holdout = holdout
        self.net_: nn.Module | None = None
        self._learned: dict[str, Any] = {}

    # ------------------------------------------------------------------------------ fit
    def fit(
        self,
        X: Any,
        y: np.ndarray,
        *,
        X_valid: Any = None,
        y_valid: np.ndarray | None = None,
        fold: FoldContext | None = None,
    ) -> TorchModel:
        """Train on ``X, y``; pick the best epoch on ``X_valid, y_valid`` (on held-out
        training rows instead with ``holdout``); resume if saved.

        Without validation rows the last epoch's weights are kept and ``on_epoch`` is not
        called; with ``keep = "last"`` the last epoch's are kept too. With
        ``fold.checkpoint_dir`` a checkpoint is written after every epoch; a fit that finds
        one with the same fingerprint resumes after its epoch (or, when that fold had
        finished, loads its kept weights and returns without training).
        """
        cfg = self.config
        n_held = 0  # rows held out of the fit (early_stopping_holdout)
        if self.holdout > 0:
            # early_stopping_holdout: the epoch is chosen (and patience counts) on a share
            # of the training rows, so the rows the fold is scored on are never seen.
            y = np.asarray(y)
            fit_idx, held_idx = holdout_split(
                y, self.holdout, self.seed, stratify=self.task != "regression"
            )
            X_valid, y_valid = take(X, held_idx), y[held_idx]
            X, y = take(X, fit_idx), y[fit_idx]
            n_held = len(held_idx)
        self._n_held = n_held
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        device = choose_device(cfg.device)
        if distributed.active() and device.type == "cuda":
            device = torch.device("cuda", distributed.local_rank())  # one GPU per process
        precision = choose_precision(cfg.precision, device)
        seed_everything(self.seed, cfg.deterministic)
        net = self.make_net()
        if not isinstance(net, nn.Module):
            raise KKError(f"make_net returned a {type(net).__name__}, not a torch nn.Module")
        net.to(device)
        self._check_target(y, "y")
        if y_valid is not None:
            self._check_target(y_valid, "y_valid")
        path = None
        if fold is not None and fold.checkpoint_dir is not None:
            path = Path(fold.checkpoint_dir) / CHECKPOINT
        fingerprint = self._fingerprint(net, X, y, X_valid, device, precision)
        saved = _read_checkpoint(path, fingerprint) if path is not None and path.exists() else None
        if saved is not None and saved["done"]:
            # This fold finished before: its best weights are the fit; nothing to train.
            net.load_state_dict(saved["best_state"])
            forward = self._ready(net, images=saved["images"])
            self._finish(net, forward, device, precision, saved, images=saved["images"])
            log.info("%s: finished before; loaded best epoch %d", path, saved["best_epoch"])
            return self
        try:
            self._train(
                net, X, y, X_valid, y_valid, fold, device, precision, path, saved, fingerprint
            )
            return self
        except torch.cuda.OutOfMemoryError:
            pass  # leaving the except clause frees the failed fit's frames and tensors
        if device.type == "cuda":
            torch.cuda.empty_cache()
        half = max(1, cfg.batch_size // 2)
        raise GPUOutOfMemoryError(
            f"GPU out of memory at batch_size={cfg.batch_size}; lower batch_size (e.g. "
            f"{half}) or set precision = 'bf16'"
        )

    def _train(
        self,
        net: nn.Module,
        X: Any,
        y: np.ndarray,
        X_valid: Any,
        y_valid: np.ndarray | None,
        fold: FoldContext | None,
        device: torch.device,
        precision: Precision,
        path: Path | None,
        saved: dict[str, Any] | None,
        fingerprint: str,
    ) -> None:
        """The epoch loop (``fit`` does the set-up and turns GPU OOM into one line)."""
        cfg = self.config
        # Per-fold statistics (e.g. channel means) come from this fold's training rows only.
        if saved is not None:
            stats = saved["stats"]
        else:
            stats = _tensors(self.fit_stats(X)) if self.fit_stats is not None else None
        stats_dev = _to_device(stats, device)

        # The data, once, on the device (very large arrays stay in pinned CPU memory).
        X_dev, y_dev = _place(X, device), self._target_tensor(y, device)
        has_valid = X_valid is not None and y_valid is not None
        X_valid_dev = _place(X_valid, device) if has_valid else None
        y_valid_dev = self._target_tensor(y_valid, device) if has_valid else None
        images = _is_images(X_dev)
        n_rows = _n_rows(X_dev)
        if n_rows == 0:
            raise KKError("the fold has no training rows; check the folds (kk folds PROJECT)")
        batch_size = min(cfg.batch_size, n_rows)
        steps = n_rows // batch_size  # the last partial batch of each epoch is dropped
        n_epochs = cfg.epochs
        if self.smoke:
            steps, n_epochs = min(steps, SMOKE_BATCHES), min(n_epochs, SMOKE_EPOCHS)

        # A net that sets layers from the data (fastnet's patch whitening) sees up to
        # 5,000 prepared training rows once, before its first step (a resume loads them).
        init_from_data = getattr(net, "init_from_data", None)
        if callable(init_from_data) and saved is None:
            first = slice(0, min(n_rows, 5000))
            init_from_data(
                self.batch_transform(_rows(X_dev, first, device), False, None, stats_dev)
            )

        # Net, optimiser, schedule, loss scaler and the generator for shuffles/augmentation.
        forward = self._ready(net, images=images)
        # Under `kk train --nproc N` each process computes the gradient of its 1/N of
        # every global batch; DDP averages them (the same step as one process).
        world = distributed.world_size() if distributed.active() else 1
        train_forward, local = forward, None  # local: this process's rows of a batch
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            if batch_size % world:
                raise KKError(
                    f"batch_size = {batch_size} does not split over --nproc {world}; use a "
                    f"multiple of {world}"
                )
            ddp = DistributedDataParallel(
                net, device_ids=[device.index] if device.type == "cuda" else None
            )
            train_forward = torch.compile(ddp) if cfg.compile else ddp
            share = batch_size // world
            local = slice(distributed.rank() * share, (distributed.rank() + 1) * share)
        optimizer = _make_optimizer(net, cfg)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, steps, n_epochs))
        scaler = torch.amp.GradScaler(device.type, enabled=precision.grad_scaler)
        generator = torch.Generator(device=device)
        generator.manual_seed(self.seed)

        state: dict[str, Any] = {
            "history": {
                k: [] for k in ("train_loss", "valid_loss", "valid_score", "lr", "seconds")
            },
            "best_epoch": -1,
            "best_score": math.nan,
            "best_state": None,
            "bad_epochs": 0,
            "stopped_early": False,
            "train_seconds": [],  # pure training time per epoch (CUDA events on a GPU)
            "train_samples": [],
            "resumed_at": None,
            "stats": stats,
        }
        start_epoch = 0
        if saved is not None:
            net.load_state_dict(saved["net"])
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            scaler.load_state_dict(saved["scaler"])
            torch.set_rng_state(saved["rng"]["torch"])
            if device.type == "cuda":
                torch.cuda.set_rng_state_all(saved["rng"]["cuda"])
            generator.set_state(saved["rng"]["generator"])
            state.update({k: saved[k] for k in state if k != "resumed_at"})
            start_epoch = state["resumed_at"] = saved["epoch"] + 1
            log.info("%s: resuming at epoch %d", path, start_epoch)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        history = state["history"]
        lower_is_better = self.metric is None or not self.metric.greater_is_better
        lookahead = _Lookahead(net) if cfg.lookahead_steps else None
        ema = _ema(net, cfg.ema_decay)
        if ema is not None and saved is not None:
            ema.load_state_dict(saved["ema"])
        extra: dict[str, Any] = {}

        for epoch in range(start_epoch, n_epochs):
            started = time.perf_counter()
            timer = _Timer(device)
            net.train()
            perm = torch.randperm(n_rows, device=device, generator=generator)
            loss_sum = torch.zeros((), device=device)
            lr = optimizer.param_groups[-1]["lr"]  # the peak (head) rate
            for step in range(steps):
                idx = perm[step * batch_size : (step + 1) * batch_size]
                if self.transform_takes_rows:  # e.g. alternating flips: per-row, per-epoch
                    extra = {"rows": idx, "epoch": epoch}
                xb = self.batch_transform(
                    _rows(X_dev, idx, device), True, generator, stats_dev, **extra
                )
                if cfg.channels_last and images:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                _fail_for_test(epoch, step, steps)
                with precision.autocast(device):
                    out = train_forward(_share(xb, local))  # this process's share of the batch
                loss = self._loss(out.float(), _share(y_dev[idx], local), cfg.label_smoothing)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.grad_clip > 0:
                    scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                    nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                lr = optimizer.param_groups[-1]["lr"]  # the peak (head) rate
                scheduler.step()  # per step: warm-up and decay are in steps, not epochs
                if lookahead is not None and (
                    (step + 1) % cfg.lookahead_steps == 0 or step == steps - 1
                ):
                    progress = (epoch * steps + step + 1) / (n_epochs * steps)
                    lookahead.step(net, _lookahead_alpha(cfg.lookahead_alpha, progress))
                    # The epoch ends on a sync: the net holds the slow weights.
                if ema is not None:
                    ema.update_parameters(net)
                loss_sum += loss.detach()  # no .item() here: it would sync the GPU every step
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("epoch %d batch %d/%d loss %.5f", epoch, step + 1, steps, loss.item())
            if world > 1:
                import torch.distributed as dist

                dist.all_reduce(loss_sum)  # the mean over every process's share
                loss_sum /= world
                for buffer in net.buffers():  # rank 0's BatchNorm statistics everywhere,
                    dist.broadcast(buffer, 0)  # so every rank scores and decides alike
            state["train_seconds"].append(timer.seconds())
            state["train_samples"].append(steps * batch_size)
            train_loss = loss_sum.item() / steps

            # With ema_decay the averaged weights are scored and kept: the net holds them
            # until the kept copy is taken, then the live weights go back for training.
            live = None
            if ema is not None:
                live = {k: v.detach().clone() for k, v in net.state_dict().items()}
                net.load_state_dict(ema.module.state_dict())

            # Score the validation rows with the competition metric (TTA as in predict).
            valid_loss = score = math.nan
            if has_valid:
                pred, valid_loss = self._infer(
                    forward, X_valid_dev, y_valid_dev, stats_dev, device, precision, images
                )
                score = (
                    valid_loss
                    if self.metric is None
                    else self.metric(y_valid, pred, threshold=self.threshold)
                )
            best = state["best_score"]
            improved = (
                not has_valid  # nothing to choose by: keep the last epoch
                or cfg.keep == "last"
                or state["best_epoch"] < 0
                or (math.isnan(best) and not math.isnan(score))  # NaN is worse than any score
                or (score < best if lower_is_better else score > best)  # a tie keeps the earlier
            )
            if improved:
                state["best_epoch"], state["best_score"] = epoch, score
                # When every epoch is kept (no validation rows, or keep = "last"), only the
                # last epoch's copy is ever loaded: before it the checkpoint's "net" holds
                # the same weights, so skip the copy (and its second image in checkpoints).
                every_epoch_kept = not has_valid or cfg.keep == "last"
                if not every_epoch_kept or epoch == n_epochs - 1:
                    state["best_state"] = {
                        k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()
                    }
                state["bad_epochs"] = 0
            else:
                state["bad_epochs"] += 1
            if live is not None:
                net.load_state_dict(live)
            state["stopped_early"] = cfg.patience > 0 and state["bad_epochs"] >= cfg.patience
            for key, value in (
                ("train_loss", train_loss),
                ("valid_loss", valid_loss),
                ("valid_score", score),
                ("lr", lr),
                ("seconds", round(time.perf_counter() - started, 4)),
            ):
                history[key].append(float(value))
            done = state["stopped_early"] or epoch == n_epochs - 1

            # Checkpoint (atomic: an interrupt leaves the previous one), then the hooks.
            # Under --nproc rank 0 writes it; the others read it when they resume.
            if path is not None and not distributed.is_follower():
                _write_checkpoint(
                    path,
                    {
                        "format": CHECKPOINT_FORMAT,
                        "fingerprint": fingerprint,
                        "epoch": epoch,
                        "done": done,
                        "images": images,
                        # A finished fold needs only its best weights: no optimiser, no RNG.
                        "net": None if done else net.state_dict(),
                        "optimizer": None if done else optimizer.state_dict(),
                        "scheduler": None if done else scheduler.state_dict(),
                        "scaler": None if done else scaler.state_dict(),
                        "ema": None if done or ema is None else ema.state_dict(),
                        "rng": None
                        if done
                        else {
                            "torch": torch.get_rng_state(),
                            "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
                            "generator": generator.get_state(),
                        },
                        **{k: v for k, v in state.items() if k != "resumed_at"},
                    },
                )
            seconds = state["train_seconds"][-1]
            report = {
                "epoch": epoch,
                "n_epochs": n_epochs,
                "train_loss": train_loss,
                "valid_loss": valid_loss,
                "valid_score": score,
                "lr": lr,
                "seconds": history["seconds"][-1],
                "samples": steps * batch_size,
                "samples_per_second": steps * batch_size / seconds if seconds > 0 else math.nan,
                "best_epoch": state["best_epoch"],
                "best_score": state["best_score"],
            }
            log.info(
                "epoch %d/%d train_loss %.5f valid_loss %.5f valid_score %.5f (%.1fs)",
                epoch + 1,
                n_epochs,
                train_loss,
                valid_loss,
                score,
                history["seconds"][-1],
            )
            if self.progress is not None:
                self.progress(report)
            if has_valid and fold is not None and fold.on_epoch is not None:
                fold.on_epoch(epoch, score)  # may raise (optuna.TrialPruned): let it pass
            if state["stopped_early"]:
                break

        if state["best_state"] is not None:
            net.load_state_dict(state["best_state"])
        self._finish(net, forward, device, precision, state, images=images)

    def _ready(self, net: nn.Module, *, images: bool) -> Callable[..., Any]:
        """Channels-last weights for image nets; the compiled (or plain) forward."""
        if self.config.channels_last and images:
            net.to(memory_format=torch.channels_last)
        return torch.compile(net) if self.config.compile else net

    def _finish(
        self,
        net: nn.Module,
        forward: Callable[..., Any],
        device: torch.device,
        precision: Precision,
        state: dict[str, Any],
        *,
        images: bool,
    ) -> None:
        """Keep the fitted net for ``predict`` and what ``learned`` reports."""
        self.net_, self._forward, self._device, self._precision = net, forward, device, precision
        self._images = images
        self._stats_dev = _to_device(state["stats"], device)
        seconds, samples = state["train_seconds"], state["train_samples"]
        if len(seconds) > 1:  # the first epoch warms up (compilation, cuDNN autotuning)
            seconds, samples = seconds[1:], samples[1:]
        history = state["history"]
        self._learned = {
            "history": history,
            "best_epoch": state["best_epoch"],
            "best_iteration": state["best_epoch"],
            "best_score": state["best_score"],
            "n_epochs_run": len(history["train_loss"]),
            "stopped_early": state["stopped_early"],
            "resumed_at_epoch": state.get("resumed_at"),
            "device": str(device),
            "n_processes": distributed.world_size() if distributed.active() else 1,
            "precision": precision.name,
            "samples_per_second": sum(samples) / sum(seconds) if sum(seconds) > 0 else math.nan,
            # Training seconds per epoch (CUDA events on a GPU; evaluation not included).
            "epoch_train_seconds": [round(float(v), 4) for v in state["train_seconds"]],
            "n_parameters": sum(p.numel() for p in net.parameters()),
            "peak_rss_mb": _peak_rss_mb(),
        }
        if device.type == "cuda":
            self._learned["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        if getattr(self, "_n_held", 0):  # the epoch was chosen on these training rows
            self._learned["early_stopping_holdout_rows"] = self._n_held

    # -------------------------------------------------------------------------- predict
    def predict(self, X: Any) -> np.ndarray:
        """float64 predictions: P(class 1) (binary, (n,)), class probabilities (multiclass,
        (n, n_classes)) or values (regression, (n,)); flip TTA when ``tta = "flip"``."""
        if self.net_ is None:
            raise KKError("TorchModel.predict was called before fit; fit the model first")
        pred, _ = self._infer(
            self._forward,
            _place(X, self._device),
            None,
            self._stats_dev,
            self._device,
            self._precision,
            self._images,
        )
        return pred

    def _infer(
        self,
        forward: Callable[..., Any],
        X_dev: Any,
        y_dev: torch.Tensor | None,
        stats_dev: Any,
        device: torch.device,
        precision: Precision,
        images: bool,
    ) -> tuple[np.ndarray, float]:
        """Batched predictions of ``X_dev`` and, given ``y_dev``, the mean loss (no smoothing)."""
        cfg = self.config
        batch_size = cfg.eval_batch_size or 2 * cfg.batch_size
        n_rows = _n_rows(X_dev)
        preds, loss_sum = [], torch.zeros((), device=device)
        was_training = _module_of(forward).training
        _module_of(forward).eval()
        with torch.inference_mode():
            for start in range(0, n_rows, batch_size):
                rows = slice(start, start + batch_size)
                xb = self.batch_transform(_rows(X_dev, rows, device), False, None, stats_dev)
                if cfg.channels_last and images:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with precision.autocast(device):
                    out = forward(xb).float()
                if y_dev is not None:
                    loss_sum += self._loss(out, y_dev[rows], 0.0, reduction="sum")
                pred = self._to_pred(out)
                if cfg.tta != "none" and isinstance(xb, torch.Tensor) and xb.ndim == 4:
                    pred = self._tta(forward, xb, pred, precision, device)
                preds.append(pred)
        _module_of(forward).train(was_training)
        if not preds:
            shape = (0, self.n_classes) if self.task == "multiclass" else (0,)
            return np.zeros(shape), math.nan
        return torch.cat(preds).double().cpu().numpy(), loss_sum.item() / n_rows

    def _tta(
        self,
        forward: Callable[..., Any],
        xb: torch.Tensor,
        pred: torch.Tensor,
        precision: Precision,
        device: torch.device,
    ) -> torch.Tensor:
        """``pred`` averaged with the mirrored batch's (``flip``), then with shifted ones.

        ``flip_shift``: half the weight on (image, mirror), a quarter each on the pair
        shifted one pixel down-right and the pair shifted one pixel up-left (reflected
        borders), as cifar10-airbench's test-time augmentation.
        """

        def flip_pair(x: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
            with precision.autocast(device):
                if base is None:
                    base = self._to_pred(forward(x).float())
                flipped = self._to_pred(forward(x.flip(-1)).float())  # mirror left-right
            return (base + flipped) / 2

        pair = flip_pair(xb, pred)
        if self.config.tta == "flip":
            return pair
        padded = F.pad(xb, (1, 1, 1, 1), mode="reflect")  # (B, C, H+2, W+2)
        down_right = padded[..., :-2, :-2].contiguous(memory_format=_memory_format(xb))
        up_left = padded[..., 2:, 2:].contiguous(memory_format=_memory_format(xb))
        return 0.5 * pair + 0.25 * (flip_pair(down_right) + flip_pair(up_left))

    def learned(self) -> dict[str, Any]:
        """History (dict of per-epoch lists), best epoch, throughput, memory, parameters."""
        return dict(self._learned)

    # ---------------------------------------------------------------- task-specific bits
    def _loss(
        self, out: torch.Tensor, y: torch.Tensor, smoothing: float, reduction: str = "mean"
    ) -> torch.Tensor:
        if self.task == "multiclass":
            if out.ndim != 2 or out.shape[1] != self.n_classes:
                raise KKError(
                    f"the net outputs shape {tuple(out.shape)} but a {self.n_classes}-class "
                    f"task needs (batch, {self.n_classes}); build the net with n_outputs = "
                    f"{self.n_classes}"
                )
            return F.cross_entropy(out, y, label_smoothing=smoothing, reduction=reduction)
        if out.numel() != y.numel():
            raise KKError(
                f"the net outputs shape {tuple(out.shape)} but a {self.task} task needs one "
                "value per row, (batch, 1); build the net with n_outputs = 1"
            )
        out = out.reshape(y.shape)
        if self.task == "binary":
            target = y * (1 - smoothing) + 0.5 * smoothing if smoothing else y
            return F.binary_cross_entropy_with_logits(out, target, reduction=reduction)
        return F.mse_loss(out, y, reduction=reduction)

    def _to_pred(self, out: torch.Tensor) -> torch.Tensor:
        if self.task == "multiclass":
            return out.softmax(dim=1)
        flat = out.reshape(out.shape[0])
        return flat.sigmoid() if self.task == "binary" else flat

    def _check_target(self, y: np.ndarray, name: str) -> None:
        y = np.asarray(y)
        if self.task == "regression":
            return
        high = self.n_classes if self.task == "multiclass" else 2
        if y.size and (y.min() < 0 or y.max() >= high or not np.all(y == np.round(y))):
            raise KKError(
                f"{name} must hold encoded class indices 0..{high - 1} for a {self.task} task "
                f"(got values {y.min()}..{y.max()}); encode the target first"
            )

    def _target_tensor(self, y: Any, device: torch.device) -> torch.Tensor:
        dtype = torch.long if self.task == "multiclass" else torch.float32
        return torch.as_tensor(np.asarray(y), dtype=dtype).to(device)

    def _fingerprint(
        self,
        net: nn.Module,
        X: Any,
        y: np.ndarray,
        X_valid: Any,
        device: torch.device,
        precision: Precision,
    ) -> str:
        """A hash of what fixes the trained weights: net, shapes, config, seed, data shape."""
        cls = type(net)
        blob = {
            "net": f"{cls.__module__}.{cls.__qualname__}",
            "shapes": [[k, list(v.shape)] for k, v in net.state_dict().items()],
            "config": self.config.fingerprint_fields(),
            "seed": self.seed,
            "task": self.task,
            "n_classes": self.n_classes,
            "smoke": self.smoke,
            "metric": getattr(self.metric, "name", None),
            "device": device.type,
            "precision": precision.name,
            "rows": [_n_rows(X), None if X_valid is None else _n_rows(X_valid)],
            "y": hashlib.sha256(np.ascontiguousarray(y).tobytes()).hexdigest(),
        }
        return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:20]


# ------------------------------------------------------------------ optimiser and schedule
def _make_optimizer(net: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = _param_groups(net, cfg)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov and cfg.momentum > 0,
            weight_decay=cfg.weight_decay,
        )
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _param_groups(net: nn.Module, cfg: TrainConfig) -> Any:
    """Every parameter at ``cfg.lr``, or with ``layer_decay`` < 1 one group per layer group
    of the net, bottom first, at ``lr * layer_decay ** (groups above it)``: the top group
    (the head) is last, so ``param_groups[-1]`` carries the peak rate."""
    if cfg.layer_decay == 1.0:
        return net.parameters()
    layer_groups = getattr(net, "layer_groups", None)
    if not callable(layer_groups):
        raise KKError(
            f"layer_decay = {cfg.layer_decay} needs a net that names its layer groups "
            f"(the transformer backend's encoder); {type(net).__name__} does not: set "
            "layer_decay = 1"
        )
    groups = [list(g) for g in layer_groups() if len(g)]
    top = len(groups) - 1
    return [
        {"params": g, "lr": cfg.lr * cfg.layer_decay ** (top - i)} for i, g in enumerate(groups)
    ]


def lr_factor(cfg: TrainConfig, steps_per_epoch: int, n_epochs: int) -> Callable[[int], float]:
    """The learning-rate multiplier at optimiser step ``step`` (counted from 0).

    A linear warm-up over ``warmup_epochs`` (``(step + 1) / warmup_steps``), then
    ``constant`` 1, ``step`` ``gamma ** (epoch // step_size)``, ``cosine`` half a cosine
    to 0, or ``onecycle`` a straight line to 0 at the last step.

    >>> f = lr_factor(TrainConfig(epochs=2, schedule="onecycle", warmup_epochs=0.5), 4, 2)
    >>> [round(f(s), 3) for s in range(8)]
    [0.5, 1.0, 1.0, 0.833, 0.667, 0.5, 0.333, 0.167]
    """
    total = steps_per_epoch * n_epochs
    warmup = round(cfg.warmup_epochs * steps_per_epoch)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        if cfg.schedule == "constant":
            return 1.0
        if cfg.schedule == "step":
            return float(cfg.gamma ** (step // steps_per_epoch // cfg.step_size))
        progress = (step - warmup) / max(1, total - warmup)  # 0 after warm-up, ~1 at the end
        if cfg.schedule == "cosine":
            return 0.5 * (1 + math.cos(math.pi * progress))
        return 1.0 - progress  # onecycle

    return factor


class _Lookahead:
    """Lookahead's slow weights (Zhang et al., 2019) over a net's float state.

    ``step(net, alpha)``: slow += alpha * (fast - slow), then fast = slow. Parameters and float
    buffers (BatchNorm statistics) alike, as cifar10-airbench's weight averaging does.
    torch has no Lookahead optimiser; it is this short, so it lives here.
    """

    def __init__(self, net: nn.Module) -> None:
        self.slow = [t.detach().clone() for t in _float_state(net)]

    @torch.no_grad()
    def step(self, net: nn.Module, alpha: float) -> None:
        for slow, fast in zip(self.slow, _float_state(net), strict=True):
            slow.lerp_(fast, alpha)
            fast.copy_(slow)


def _ema(net: nn.Module, decay: float) -> Any:
    """torch's averaged copy of ``net`` for ``ema_decay`` (buffers averaged too), or None."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _lookahead_alpha(final: float, progress: float) -> float:
    """The Lookahead step at ``progress`` (0..1 of training): 1 (plain SGD) at the start,
    ``final`` at the end, along ``progress ** 3`` (cifar10-airbench's averaging ramp: the
    averaging matters once the learning rate is low)."""
    return 1.0 - (1.0 - final) * progress**3


def _float_state(net: nn.Module) -> list[torch.Tensor]:
    return [t for t in net.state_dict().values() if t.is_floating_point()]


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    if x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


# ------------------------------------------------------------------------ data on device
def _place(X: Any, device: torch.device) -> Any:
    """``X`` (array, frame, tensor or a dict of them) as tensors on ``device``, once."""
    if isinstance(X, dict):
        return {k: _place(v, device) for k, v in X.items()}
    if isinstance(X, torch.Tensor):
        t = X
    else:
        array = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X)
        if array.dtype.kind not in "biuf":
            raise KKError(
                f"the torch trainer needs numeric arrays, got dtype {array.dtype}; encode "
                "the features (or images/token ids) as numbers first"
            )
        if not array.flags.writeable:  # torch warns on read-only memory (e.g. a memory map)
            array = array.copy()
        t = torch.from_numpy(np.ascontiguousarray(array))
    if t.dtype == torch.float64:
        t = t.float()  # nets train in float32; halves the memory too
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        if t.element_size() * t.nelement() > DEVICE_FRACTION * total:
            return t.pin_memory()  # too big: each batch is copied over as it is drawn
    return t.to(device)


def _rows(X: Any, idx: Any, device: torch.device) -> Any:
    """Rows ``idx`` (an index tensor or a slice) of ``X``, on ``device``."""
    if isinstance(X, dict):
        return {k: _rows(v, idx, device) for k, v in X.items()}
    if isinstance(idx, torch.Tensor) and idx.device != X.device:
        idx = idx.to(X.device)
    return X[idx].to(device, non_blocking=True)


def _share(xb: Any, local: slice | None) -> Any:
    """Rows ``local`` of a batch (tensor or dict of tensors); all of it when ``None``."""
    if local is None:
        return xb
    if isinstance(xb, dict):
        return {k: _share(v, local) for k, v in xb.items()}
    return xb[local]


def _n_rows(X: Any) -> int:
    if isinstance(X, dict):
        return len(next(iter(X.values())))
    return len(X)


def _is_images(X: Any) -> bool:
    return isinstance(X, torch.Tensor) and X.ndim == 4  # (N, C, H, W)


def _tensors(obj: Any) -> Any:
    """numpy arrays inside ``obj`` as tensors (checkpoints load with ``weights_only``)."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: _tensors(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_tensors(v) for v in obj)
    return obj


def _to_device(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: _to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_device(v, device) for v in obj)
    return obj


def _module_of(forward: Callable[..., Any]) -> nn.Module:
    # torch.compile returns an OptimizedModule wrapping the net as ``_orig_mod``.
    module = getattr(forward, "_orig_mod", forward)
    assert isinstance(module, nn.Module)
    return module


# ------------------------------------------------------------------------- checkpoints
def _write_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    atomic.write_atomic(path, lambda fh: torch.save(payload, fh))


def _read_checkpoint(path: Path, fingerprint: str) -> dict[str, Any]:
    """A saved checkpoint, or a one-line error when it belongs to another fit."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise KKError(
            f"checkpoint {path} cannot be read ({type(err).__name__}); delete it to train "
            "this fold from scratch"
        ) from err
    if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
        raise KKError(f"checkpoint {path} is not a kagglekit trainer checkpoint; delete it")
    if saved.get("fingerprint") != fingerprint:
        raise KKError(
            f"checkpoint {path} was written by another net, config, seed or data; delete "
            "it or start a fresh run"
        )
    return saved


def _fail_for_test(epoch: int, step: int, steps: int) -> None:
    """Fault injection for the distributed tests: ``KK_TEST_DIE_AT=RANK:EPOCH`` makes that
    rank of ``kk train --nproc`` exit hard halfway through that epoch (0-based)."""
    spec = os.environ.get("KK_TEST_DIE_AT")
    if not spec or step != steps // 2:
        return
    die_rank, die_epoch = (int(v) for v in spec.split(":"))
    if distributed.rank() == die_rank and epoch == die_epoch:
        os._exit(3)


# ------------------------------------------------------------------------ measurements
class _Timer:
    """Seconds of device work since construction (CUDA events on a GPU, else wall time)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        if self.cuda:
            self.start, self.end = (
                torch.cuda.Event(enable_timing=True),
                torch.cuda.Event(enable_timing=True),
            )
            self.start.record()
        else:
            self.t0 = time.perf_counter()

    def seconds(self) -> float:
        if self.cuda:
            self.end.record()
            self.end.synchronize()
            return float(self.start.elapsed_time(self.end)) / 1000
        return time.perf_counter() - self.t0


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB
