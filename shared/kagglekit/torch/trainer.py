"""The one PyTorch training path: ``TorchModel`` fits a net on one fold, epoch by epoch.

It reads top to bottom: the data goes onto the device once; the net, optimiser, schedule
and loss scaler are built; each epoch trains on index slices of a seeded permutation,
scores the validation rows with the competition metric, keeps the best epoch's weights,
stops early, writes a checkpoint and calls the fold's ``on_epoch`` hook; ``predict``
runs batched inference. There are no callbacks: ``on_epoch`` (for tuning) and
``progress`` (for a progress bar) are the only hooks; what a kind of data adds comes in
as functions (``batch_transform``, ``fit_stats``, ``test_time_augment``).

Beside it: ``optim`` (optimiser, schedule, Lookahead, EMA), ``checkpoint`` (save, restore,
fingerprint), ``device`` (device, precision, data on the device, timing).

Losses: multiclass = cross-entropy over ``n_classes`` logits; binary = BCE-with-logits
over ONE logit per row (the net must output ``(B, 1)`` or ``(B,)``); regression = MSE;
a classifier's ``loss = "mse"``: squared error of its probabilities (``torch.losses``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

import kagglekit.torch.checkpoint as checkpoint
import kagglekit.torch.parallel as parallel
from kagglekit.errors import KKError
from kagglekit.models.base import FitFailure, FoldContext, holdout_split, require, take
from kagglekit.tasks import Task, as_task
from kagglekit.torch.config import TrainConfig
from kagglekit.torch.device import (
    Precision,
    Timer,
    as_tensors,
    choose_device,
    choose_precision,
    count_rows,
    is_images,
    peak_rss_mb,
    place,
    seed_everything,
    take_rows,
    to_device,
)
from kagglekit.torch.losses import train_loss
from kagglekit.torch.optim import ema_weights, lr_factor, make_ema, make_lookahead, make_optimizer

require("torch", "vision")
import torch  # noqa: E402
from torch import nn  # noqa: E402

__all__ = ["GPUOutOfMemoryError", "TorchModel", "TrainConfig", "lr_factor"]

log = logging.getLogger(__name__)

SMOKE_EPOCHS = 2
SMOKE_BATCHES = 5  # batches per epoch in smoke mode

# prepare(x_batch_on_device, train, generator, stats) -> what the net takes (a float tensor
# for images: normalised and, when train, augmented on the device with ``generator``).
Prepare = Callable[[Any, bool, Any, Any], Any]
# test_time_augment(tta, predict, xb, pred) -> pred averaged over augmented copies of the
# image batch ``xb`` (``predict(x)``: predictions of a batch; ``tta``: the config's mode).
TestTimeAugment = Callable[[str, Callable[[Any], Any], Any, Any], Any]


class _Inference(NamedTuple):
    """What running a fitted (or training) net over rows needs, for scores and ``predict``."""

    forward: Callable[..., Any]  # the net, or its torch.compile'd forward
    device: torch.device
    precision: Precision
    images: bool  # (N, C, H, W) inputs: channels-last batches, test-time augmentation
    stats: Any  # fit_stats' statistics of the fold's training rows, on the device


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
        The ``kagglekit.tasks.Task`` (or its name: binary, multiclass or regression), which
        gives the loss, the output activation and the target's dtype; the class count
        (multiclass); the seed for weights, shuffling, augmentation and dropout.
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
    test_time_augment
        ``test_time_augment(tta, predict, xb, pred)``: predictions of a prepared batch of
        images ``(B, C, H, W)`` averaged over augmented copies when ``config.tta`` is not
        ``"none"`` (the image backends pass ``kagglekit.vision.tta.flip_tta``).

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
        task: Task | str,
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
        test_time_augment: TestTimeAugment | None = None,
    ) -> None:
        task = as_task(task)
        task.net_outputs(n_classes)  # a task no net learns, or too few classes: one line
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
        self.test_time_augment = test_time_augment
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
                y, self.holdout, self.seed, stratify=self.task.stratifies
            )
            X_valid, y_valid = take(X, held_idx), y[held_idx]
            X, y = take(X, fit_idx), y[fit_idx]
            n_held = len(held_idx)
        self._n_held = n_held
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        device = parallel.process_device(choose_device(cfg.device))  # one GPU per process
        precision = choose_precision(cfg.precision, device)
        seed_everything(self.seed, cfg.deterministic)
        net = self.make_net()
        if not isinstance(net, nn.Module):
            raise KKError(f"make_net returned a {type(net).__name__}, not a torch nn.Module")
        net.to(device)
        self._check_target(y, "y")
        if y_valid is not None:
            self._check_target(y_valid, "y_valid")

        # A checkpoint of this very fit (same fingerprint) resumes it; another is an error.
        path = None
        if fold is not None and fold.checkpoint_dir is not None:
            path = Path(fold.checkpoint_dir) / checkpoint.CHECKPOINT
        fingerprint = checkpoint.fingerprint(
            net,
            cfg,
            seed=self.seed,
            task=self.task.name,  # the task's name, as checkpoints of earlier runs have it
            n_classes=self.n_classes,
            smoke=self.smoke,
            metric=getattr(self.metric, "name", None),
            device=device,
            precision=precision.name,
            rows=[count_rows(X), None if X_valid is None else count_rows(X_valid)],
            y=y,
        )
        saved = checkpoint.read(path, fingerprint) if path is not None and path.exists() else None
        if saved is not None and saved["done"]:
            # This fold finished before: its best weights are the fit; nothing to train.
            net.load_state_dict(saved["best_state"])
            images, stats_dev = saved["images"], to_device(saved["stats"], device)
            run = _Inference(self._ready(net, images=images), device, precision, images, stats_dev)
            self._finish(net, run, saved)
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
            stats = as_tensors(self.fit_stats(X)) if self.fit_stats is not None else None
        stats_dev = to_device(stats, device)

        # The data, once, on the device (very large arrays stay in pinned CPU memory).
        X_dev, y_dev = place(X, device), self._target_tensor(y, device)
        has_valid = X_valid is not None and y_valid is not None
        X_valid_dev = place(X_valid, device) if has_valid else None
        y_valid_dev = self._target_tensor(y_valid, device) if has_valid else None
        images = is_images(X_dev)
        n_train = count_rows(X_dev)
        if n_train == 0:
            raise KKError("the fold has no training rows; check the folds (kk folds PROJECT)")
        batch_size = min(cfg.batch_size, n_train)
        steps = n_train // batch_size  # the last partial batch of each epoch is dropped
        n_epochs = cfg.epochs
        if self.smoke:
            steps, n_epochs = min(steps, SMOKE_BATCHES), min(n_epochs, SMOKE_EPOCHS)

        # A net that sets layers from the data (fastnet's patch whitening) sees up to
        # 5,000 prepared training rows once, before its first step (a resume loads them).
        init_from_data = getattr(net, "init_from_data", None)
        if callable(init_from_data) and saved is None:
            first = take_rows(X_dev, slice(0, min(n_train, 5000)), device)
            init_from_data(self.batch_transform(first, False, None, stats_dev))

        # Net, optimiser, schedule, loss scaler and the generator for shuffles/augmentation;
        # under --nproc N the forward that trains is DDP's, over this process's rows.
        forward = self._ready(net, images=images)
        run = _Inference(forward, device, precision, images, stats_dev)  # to score and predict
        train_forward, local, world = parallel.wrap(net, forward, cfg, device, batch_size)
        optimizer = make_optimizer(net, cfg)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, steps, n_epochs))
        scaler = torch.amp.GradScaler(device.type, enabled=precision.grad_scaler)
        generator = torch.Generator(device=device)
        generator.manual_seed(self.seed)
        ema = make_ema(net, cfg.ema_decay)  # the averaged weights (ema_decay), or None
        parts = checkpoint.Parts(net, optimizer, scheduler, scaler, ema, generator)
        state, start_epoch = _fresh_state(stats), 0
        if saved is not None:  # an interrupted fit goes on after its last saved epoch
            checkpoint.restore(saved, parts, device)
            state.update({k: saved[k] for k in state if k != "resumed_at"})
            start_epoch = state["resumed_at"] = saved["epoch"] + 1
            log.info("%s: resuming at epoch %d", path, start_epoch)
        lookahead = make_lookahead(net, cfg)  # after a restore: it starts from the net's weights
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        extra: dict[str, Any] = {}

        for epoch in range(start_epoch, n_epochs):
            started, timer = time.perf_counter(), Timer(device)
            net.train()
            perm = torch.randperm(n_train, device=device, generator=generator)
            loss_sum = torch.zeros((), device=device)
            lr = optimizer.param_groups[-1]["lr"]  # the peak (head) rate
            for step in range(steps):
                idx = perm[step * batch_size : (step + 1) * batch_size]
                if self.transform_takes_rows:  # e.g. alternating flips: per-row, per-epoch
                    extra = {"rows": idx, "epoch": epoch}
                xb = take_rows(X_dev, idx, device)
                xb = self.batch_transform(xb, True, generator, stats_dev, **extra)
                if cfg.channels_last and images:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                parallel.fail_for_test(epoch, step, steps)
                with precision.autocast(device):
                    out = train_forward(parallel.share(xb, local))  # this process's rows
                loss = self._loss(
                    out.float(), parallel.share(y_dev[idx], local), cfg.label_smoothing
                )
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                if cfg.grad_clip > 0:
                    scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
                    nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                lr = optimizer.param_groups[-1]["lr"]  # the peak (head) rate
                scheduler.step()  # per step: warm-up and decay are in steps, not epochs
                if lookahead is not None:  # an epoch ends on a sync: the net holds slow weights
                    progress = (epoch * steps + step + 1) / (n_epochs * steps)  # of the training
                    lookahead.after_step(net, step, steps, progress)
                if ema is not None:
                    ema.update_parameters(net)
                loss_sum += loss.detach()  # no .item() here: it would sync the GPU every step
                if log.isEnabledFor(logging.DEBUG):
                    log.debug("epoch %d batch %d/%d loss %.5f", epoch, step + 1, steps, loss.item())
            parallel.end_epoch(loss_sum, net, world)
            state["train_seconds"].append(timer.seconds())
            state["train_samples"].append(steps * batch_size)
            train_loss = loss_sum.item() / steps

            # Score the validation rows with the competition metric (TTA as in predict) and
            # keep the best epoch; with ema_decay the averaged weights are scored and kept.
            with ema_weights(net, ema):
                valid_loss = score = math.nan
                if has_valid:
                    pred, valid_loss = self._infer(run, X_valid_dev, y_valid_dev)
                    score = valid_loss
                    if self.metric is not None:
                        score = self.metric(y_valid, pred, threshold=self.threshold)
                self._track_best(state, net, epoch, score, has_valid, n_epochs)
            seconds = round(time.perf_counter() - started, 4)
            last = {"train_loss": train_loss, "valid_loss": valid_loss, "valid_score": score}
            for key, value in {**last, "lr": lr, "seconds": seconds}.items():
                state["history"][key].append(float(value))
            done = state["stopped_early"] or epoch == n_epochs - 1

            # Checkpoint (atomic: an interrupt leaves the previous one), then the hooks.
            # Under --nproc rank 0 writes it; the others read it when they resume.
            if path is not None and parallel.writes_files():
                checkpoint.save(path, fingerprint, epoch, done, images, state, parts, device)
            self._report(epoch, n_epochs, state, steps * batch_size)
            if has_valid and fold is not None and fold.on_epoch is not None:
                fold.on_epoch(epoch, score)  # may raise (optuna.TrialPruned): let it pass
            if state["stopped_early"]:
                break

        if state["best_state"] is not None:
            net.load_state_dict(state["best_state"])
        self._finish(net, run, state)

    def _track_best(
        self,
        state: dict[str, Any],
        net: nn.Module,
        epoch: int,
        score: float,
        has_valid: bool,
        n_epochs: int,
    ) -> None:
        """Keep ``epoch`` (and a copy of the net's weights) if it is the best so far; count
        patience and decide on stopping early."""
        cfg = self.config
        lower_is_better = self.metric is None or not self.metric.greater_is_better
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
        state["stopped_early"] = cfg.patience > 0 and state["bad_epochs"] >= cfg.patience

    def _report(self, epoch: int, n_epochs: int, state: dict[str, Any], samples: int) -> None:
        """Log the epoch and hand it to ``progress`` (a progress bar), if any."""
        # train_loss, valid_loss, valid_score, lr, seconds: this epoch's line of the history
        last = {key: values[-1] for key, values in state["history"].items()}
        line = "epoch %d/%d train_loss %.5f valid_loss %.5f valid_score %.5f (%.1fs)"
        keys = ("train_loss", "valid_loss", "valid_score", "seconds")
        log.info(line, epoch + 1, n_epochs, *(last[k] for k in keys))
        if self.progress is not None:
            seconds = state["train_seconds"][-1]  # training only, not evaluation
            report = {"epoch": epoch, "n_epochs": n_epochs, **last, "samples": samples}
            report["samples_per_second"] = samples / seconds if seconds > 0 else math.nan
            report.update(best_epoch=state["best_epoch"], best_score=state["best_score"])
            self.progress(report)

    def _ready(self, net: nn.Module, *, images: bool) -> Callable[..., Any]:
        """Channels-last weights for image nets; the compiled (or plain) forward."""
        if self.config.channels_last and images:
            net.to(memory_format=torch.channels_last)
        return torch.compile(net) if self.config.compile else net

    def _finish(self, net: nn.Module, run: _Inference, state: dict[str, Any]) -> None:
        """Keep the fitted net for ``predict`` and what ``learned`` reports."""
        device, precision = run.device, run.precision
        self.net_, self._run = net, run
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
            "n_processes": parallel.n_processes(),
            "precision": precision.name,
            "samples_per_second": sum(samples) / sum(seconds) if sum(seconds) > 0 else math.nan,
            # Training seconds per epoch (CUDA events on a GPU; evaluation not included).
            "epoch_train_seconds": [round(float(v), 4) for v in state["train_seconds"]],
            "n_parameters": sum(p.numel() for p in net.parameters()),
            "peak_rss_mb": peak_rss_mb(),
        }
        if device.type == "cuda":
            self._learned["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        if getattr(self, "_n_held", 0):  # the epoch was chosen on these training rows
            self._learned["early_stopping_holdout_rows"] = self._n_held

    # -------------------------------------------------------------------------- predict
    def predict(self, X: Any) -> np.ndarray:
        """float64 predictions: P(class 1) (binary, (n,)), class probabilities (multiclass,
        (n, n_classes)) or values (regression, (n,)); test-time augmentation with ``tta``."""
        if self.net_ is None:
            raise KKError("TorchModel.predict was called before fit; fit the model first")
        return self._infer(self._run, place(X, self._run.device))[0]

    def _infer(
        self, run: _Inference, X_dev: Any, y_dev: torch.Tensor | None = None
    ) -> tuple[np.ndarray, float]:
        """Batched predictions of ``X_dev`` and, given ``y_dev``, the mean loss (no smoothing)."""
        cfg, forward, device, precision = self.config, run.forward, run.device, run.precision
        batch_size = cfg.eval_batch_size or 2 * cfg.batch_size
        n_rows = count_rows(X_dev)
        preds, loss_sum = [], torch.zeros((), device=device)
        was_training = _module_of(forward).training
        _module_of(forward).eval()
        with torch.inference_mode():
            for start in range(0, n_rows, batch_size):
                rows = slice(start, start + batch_size)
                xb = self.batch_transform(take_rows(X_dev, rows, device), False, None, run.stats)
                if cfg.channels_last and run.images:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with precision.autocast(device):
                    out = forward(xb).float()
                if y_dev is not None:
                    loss_sum += self._loss(out, y_dev[rows], 0.0, reduction="sum")
                pred = self._to_pred(out)
                if cfg.tta != "none" and is_images(xb):
                    pred = self._augment_test(run, xb, pred)
                preds.append(pred)
        _module_of(forward).train(was_training)
        if not preds:
            width = self.task.net_outputs(self.n_classes)
            shape = (0,) if width == 1 else (0, width)
            return np.zeros(shape), math.nan
        return torch.cat(preds).double().cpu().numpy(), loss_sum.item() / n_rows

    def _augment_test(self, run: _Inference, xb: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        """``pred`` for a batch of images through the ``test_time_augment`` hook (``tta``)."""
        if self.test_time_augment is None:
            raise KKError(
                f"tta = {self.config.tta!r} needs an image test-time augmentation; pass "
                "test_time_augment=kagglekit.vision.tta.flip_tta (the image backends do)"
            )

        def predict(x: torch.Tensor) -> torch.Tensor:
            with run.precision.autocast(run.device):
                return self._to_pred(run.forward(x).float())

        return self.test_time_augment(self.config.tta, predict, xb, pred)

    def learned(self) -> dict[str, Any]:
        """History (dict of per-epoch lists), best epoch, throughput, memory, parameters."""
        return dict(self._learned)

    # ------------------------------------------- task-specific bits (kagglekit.tasks.Task)
    def _loss(
        self, out: torch.Tensor, y: torch.Tensor, smoothing: float, reduction: str = "mean"
    ) -> torch.Tensor:
        return train_loss(
            self.task, out, y, loss=self.config.loss, n_classes=self.n_classes,
            smoothing=smoothing, reduction=reduction,
        )  # fmt: skip

    def _to_pred(self, out: torch.Tensor) -> torch.Tensor:
        return self.task.torch_predict(out)

    def _check_target(self, y: np.ndarray, name: str) -> None:
        self.task.check_codes(y, self.n_classes, name)

    def _target_tensor(self, y: Any, device: torch.device) -> torch.Tensor:
        return self.task.torch_targets(y).to(device)


# --------------------------------------------------------------------- the loop's state
def _fresh_state(stats: Any) -> dict[str, Any]:
    """The loop's bookkeeping before its first epoch; checkpoints save it (as top-level keys,
    all but ``resumed_at``) and a resume loads it back."""
    return {
        "history": {k: [] for k in ("train_loss", "valid_loss", "valid_score", "lr", "seconds")},
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


def _module_of(forward: Callable[..., Any]) -> nn.Module:
    # torch.compile returns an OptimizedModule wrapping the net as ``_orig_mod``.
    module = getattr(forward, "_orig_mod", forward)
    assert isinstance(module, nn.Module)
    return module
