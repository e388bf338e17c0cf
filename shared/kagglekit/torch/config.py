"""``TrainConfig``: the trainer's settings, checked when built; no torch import here.

A torch model entry's ``params`` mix trainer settings (``epochs``, ``lr``, ...) with the
net's own (``width``, ``depth``, ...); ``split_params`` separates them by name, so a
backend declares ``TRAIN_PARAM_NAMES | its net's names`` as its known parameters and
config validation needs no torch.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from kagglekit.errors import KKError, unknown_name

OPTIMIZERS = ("adamw", "sgd")
LOSSES = ("cross_entropy", "mse")
SCHEDULES = ("onecycle", "cosine", "step", "constant")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
TTAS = ("none", "flip", "flip_shift")
KEEPS = ("best", "last")
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class TrainConfig:
    """How ``TorchModel`` trains: epochs, optimiser, schedule, precision, checkpoints.

    Every value is checked when the config is built; a bad one is a one-line ``KKError``.

    Parameters
    ----------
    epochs, batch_size
        Passes over the training rows, and rows per optimiser step (the last partial
        batch of each shuffled epoch is dropped when there is more than one batch).
    optimizer
        ``"adamw"`` or ``"sgd"`` (with ``momentum`` and ``nesterov``).
    lr, momentum, nesterov, weight_decay
        Peak learning rate; SGD's momentum and Nesterov flag (AdamW ignores them);
        weight decay on every parameter (decoupled for AdamW, L2 for SGD).
    layer_decay
        Layer-wise learning-rate decay for fine-tuning a pretrained net (ULMFiT's
        discriminative fine-tuning, Howard & Ruder 2018; ELECTRA's layer-wise decay, Clark
        et al. 2020): the top layer group (the new head) trains at ``lr``, each group below
        at ``layer_decay`` times the one above, so the general lower layers move least.
        Needs a net that names its groups (``layer_groups()``, bottom first: the
        transformer backend's encoder does); 1 = every parameter at ``lr``.
    schedule, warmup_epochs, step_size, gamma
        Per-step learning-rate factor after a linear warm-up of ``warmup_epochs`` (may be
        a fraction): ``onecycle`` = straight down to 0 at the last step (a triangle with
        the warm-up), ``cosine`` = half a cosine down to 0, ``step`` = times ``gamma``
        every ``step_size`` epochs, ``constant`` = 1.
    loss
        What a classifier trains on: ``"cross_entropy"`` (the task's log loss: softmax
        cross-entropy, or BCE on one logit for binary) or ``"mse"``: the squared error of
        the predicted probabilities (softmax, or sigmoid for binary) against the one-hot
        targets, summed over the classes (the Brier score of each row). MSE is the loss
        the learning path compares cross-entropy with: its gradient fades where a wrong
        class's probability saturates, so it learns more slowly. Regression always trains
        on MSE, whatever this says.
    label_smoothing
        Cross-entropy label smoothing (binary: targets pulled towards 0.5; with
        ``loss = "mse"`` the one-hot targets are smoothed the same way); ignored for
        regression.
    grad_clip
        Clip the global gradient norm at this value; 0 = off.
    patience
        Stop after this many epochs without a better validation score; 0 = never stop
        early.
    keep
        Which epoch's weights are the fit: ``"best"`` = the epoch with the best validation
        score; in ``kk train`` those are the rows the fold is scored on, so, like a
        booster's early stopping, it flatters CV a little (the max of several epochs'
        scores). ``"last"`` = the last epoch's, whatever the validation rows say (they are
        still scored each epoch, for the history and for pruning): the honest CV of a
        fixed schedule; it takes ``patience = 0``, since stopping early also reads them.
    device, precision
        ``"auto"`` | ``"cpu"`` | ``"cuda"`` | ``"cuda:N"`` | ``"mps"``; ``"auto"`` |
        ``"fp32"`` | ``"bf16"`` | ``"fp16"`` (see ``kagglekit.torch.device``).
    channels_last, compile
        Channels-last memory format for 4-D inputs; ``torch.compile`` the net.
    eval_batch_size
        Rows per batch when predicting; 0 = twice ``batch_size``.
    tta
        ``"flip"`` averages predictions with the horizontally flipped images (4-D inputs);
        ``"flip_shift"`` also with both shifted one pixel diagonally each way (half the
        weight on the unshifted pair, as cifar10-airbench).
    lookahead_steps, lookahead_alpha
        Lookahead (Zhang et al., 2019): every ``lookahead_steps`` optimiser steps the slow
        weights move a share of the way to the fast ones and the fast weights restart from
        there (BatchNorm statistics too); 0 = off. The share falls from 1 at the start to
        ``lookahead_alpha`` at the end along ``progress ** 3`` (cifar10-airbench's ramp).
        Each epoch ends on a sync.
    ema_decay
        An exponential moving average of the weights (Polyak averaging; torch's
        ``AveragedModel`` with ``get_ema_multi_avg_fn``), updated after every step: each
        epoch scores the averaged weights and they are the ones kept (with ``keep``'s
        rule). Smooths the noise of the last steps of a short fine-tuning schedule; the
        average spans about ``1 / (1 - ema_decay)`` steps, so keep that well under the
        run's steps (0.99: the last hundred or so). 0 = off.
    deterministic
        Deterministic kernels (``torch.use_deterministic_algorithms``, no cuDNN
        benchmark); slower on a GPU. CPU runs repeat exactly with the same seed anyway.
    num_threads
        ``torch.set_num_threads`` when the fit starts (process-wide); 0 = leave it.
    """

    epochs: int = 10
    batch_size: int = 256
    optimizer: str = "adamw"
    lr: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 0.0
    layer_decay: float = 1.0
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    step_size: int = 10
    gamma: float = 0.1
    loss: str = "cross_entropy"
    label_smoothing: float = 0.0
    grad_clip: float = 0.0
    patience: int = 0
    keep: str = "best"
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool = True
    compile: bool = False
    eval_batch_size: int = 0
    tta: str = "none"
    deterministic: bool = False
    num_threads: int = 0
    lookahead_steps: int = 0
    lookahead_alpha: float = 0.5
    ema_decay: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_type(f.name, getattr(self, f.name), f.type)
            if f.type == "float":  # 1 and 1.0 are one setting (and one fingerprint)
                object.__setattr__(self, f.name, float(getattr(self, f.name)))
        _at_least("epochs", self.epochs, 1)
        _at_least("batch_size", self.batch_size, 1)
        _at_least("step_size", self.step_size, 1)
        _at_least("patience", self.patience, 0)
        _at_least("eval_batch_size", self.eval_batch_size, 0)
        _at_least("num_threads", self.num_threads, 0)
        _at_least("weight_decay", self.weight_decay, 0)
        _at_least("grad_clip", self.grad_clip, 0)
        _at_least("lookahead_steps", self.lookahead_steps, 0)
        if not 0 < self.lookahead_alpha <= 1:
            raise KKError(f"lookahead_alpha = {self.lookahead_alpha} must be in (0, 1]; try 0.5")
        if not 0 <= self.ema_decay < 1:
            raise KKError(f"ema_decay = {self.ema_decay} must be in [0, 1) (0 = off); try 0.99")
        if not 0 < self.layer_decay <= 1:
            raise KKError(f"layer_decay = {self.layer_decay} must be in (0, 1]; try 0.8")
        if self.lr <= 0:
            raise KKError(f"lr = {self.lr} must be > 0; try lr = 1e-3 (adamw) or 0.05 (sgd)")
        if not 0 <= self.momentum < 1:
            raise KKError(f"momentum = {self.momentum} must be in [0, 1); try 0.9")
        if not 0 < self.gamma <= 1:
            raise KKError(f"gamma = {self.gamma} must be in (0, 1]; try 0.1")
        if not 0 <= self.label_smoothing < 1:
            raise KKError(f"label_smoothing = {self.label_smoothing} must be in [0, 1); try 0.1")
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise KKError(
                f"warmup_epochs = {self.warmup_epochs} must be between 0 and epochs = "
                f"{self.epochs}; lower it"
            )
        for name, value, choices in (
            ("optimizer", self.optimizer, OPTIMIZERS),
            ("loss", self.loss, LOSSES),
            ("schedule", self.schedule, SCHEDULES),
            ("precision", self.precision, PRECISIONS),
            ("tta", self.tta, TTAS),
            ("keep", self.keep, KEEPS),
        ):
            if value not in choices:
                raise unknown_name(name, value, choices)
        if not _DEVICE.match(self.device):
            raise KKError(
                f"device = {self.device!r} is not known; use 'auto', 'cpu', 'cuda', "
                "'cuda:N' or 'mps'"
            )
        if self.keep == "last" and self.patience > 0:
            raise KKError(
                f"patience = {self.patience} stops on the validation rows' score, which "
                "keep = 'last' does not read; set patience = 0 or keep = 'best'"
            )
        if self.optimizer == "sgd" and self.nesterov and self.momentum == 0:
            raise KKError(
                "nesterov = true needs momentum > 0; set momentum = 0.9 or nesterov = false"
            )

    def fingerprint_fields(self) -> dict[str, Any]:
        """The settings that change the trained weights (for checkpoint fingerprints)."""
        fields_ = {k: v for k, v in asdict(self).items() if k not in ("tta", "num_threads")}
        for name, off in (("layer_decay", 1.0), ("ema_decay", 0.0), ("loss", "cross_entropy")):
            if fields_[name] == off:  # added later: off keeps older checkpoints resumable
                del fields_[name]
        return fields_


TRAIN_PARAM_NAMES: frozenset[str] = frozenset(f.name for f in fields(TrainConfig))


def split_params(params: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a model entry's params into ``(TrainConfig kwargs, net kwargs)`` by name.

    >>> split_params({"epochs": 3, "width": 64})
    ({'epochs': 3}, {'width': 64})
    """
    train = {k: v for k, v in params.items() if k in TRAIN_PARAM_NAMES}
    net = {k: v for k, v in params.items() if k not in TRAIN_PARAM_NAMES}
    return train, net


def train_config_from(params: dict[str, Any]) -> TrainConfig:
    """The ``TrainConfig`` named by ``params`` (names that are not trainer settings ignored)."""
    return TrainConfig(**split_params(params)[0])


def _check_type(name: str, value: Any, annotation: Any) -> None:
    # TOML and --set give bool/int/float/str; an int where a float is wanted is fine.
    expected: dict[str, type | tuple[type, ...]] = {
        "int": int,
        "float": (int, float),
        "bool": bool,
        "str": str,
    }
    ok = isinstance(value, expected[str(annotation)]) and not (
        annotation in ("int", "float") and isinstance(value, bool)
    )
    if not ok:
        raise KKError(
            f"{name} = {value!r} must be {_ARTICLE[str(annotation)]}; fix the model's params in config.toml"
        )


_ARTICLE = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string"}


def _at_least(name: str, value: float, low: float) -> None:
    if value < low:
        raise KKError(f"{name} = {value} must be >= {low}; fix the model's params in config.toml")
