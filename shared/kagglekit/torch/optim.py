"""What moves the weights for the torch trainer: optimiser, learning-rate schedule,
Lookahead and EMA weight averaging (imports torch)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from typing import Any

from kagglekit.errors import KKError
from kagglekit.models.base import require
from kagglekit.torch.config import TrainConfig

require("torch", "vision")
import torch  # noqa: E402
from torch import nn  # noqa: E402

__all__ = [
    "Lookahead",
    "ema_weights",
    "lr_factor",
    "make_ema",
    "make_lookahead",
    "make_optimizer",
]


# ------------------------------------------------------------------ optimiser and schedule
def make_optimizer(net: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW, or SGD with (Nesterov) momentum, over ``net``'s parameter groups."""
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


# ---------------------------------------------------------------------- weight averaging
class Lookahead:
    """Lookahead's slow weights (Zhang et al., 2019) over a net's float state.

    ``step(net, alpha)``: slow += alpha * (fast - slow), then fast = slow. Parameters and float
    buffers (BatchNorm statistics) alike, as cifar10-airbench's weight averaging does.
    torch has no Lookahead optimiser; it is this short, so it lives here.
    """

    def __init__(self, net: nn.Module, *, every: int, final_alpha: float) -> None:
        self.slow = [t.detach().clone() for t in _float_state(net)]
        self.every, self.final_alpha = every, final_alpha

    def after_step(self, net: nn.Module, step: int, steps: int, progress: float) -> None:
        """Sync every ``every`` optimiser steps and on an epoch's last step (so each epoch
        ends with the net holding the slow weights); ``progress`` is 0..1 of training."""
        if (step + 1) % self.every == 0 or step == steps - 1:
            self.step(net, lookahead_alpha(self.final_alpha, progress))

    @torch.no_grad()
    def step(self, net: nn.Module, alpha: float) -> None:
        for slow, fast in zip(self.slow, _float_state(net), strict=True):
            slow.lerp_(fast, alpha)
            fast.copy_(slow)


def make_lookahead(net: nn.Module, cfg: TrainConfig) -> Lookahead | None:
    """Lookahead over ``net``'s current weights for ``lookahead_steps``, or None (0)."""
    if not cfg.lookahead_steps:
        return None
    return Lookahead(net, every=cfg.lookahead_steps, final_alpha=cfg.lookahead_alpha)


def lookahead_alpha(final: float, progress: float) -> float:
    """The Lookahead step at ``progress`` (0..1 of training): 1 (plain SGD) at the start,
    ``final`` at the end, along ``progress ** 3`` (cifar10-airbench's averaging ramp: the
    averaging matters once the learning rate is low)."""
    return 1.0 - (1.0 - final) * progress**3


def make_ema(net: nn.Module, decay: float) -> Any:
    """torch's averaged copy of ``net`` for ``ema_decay`` (buffers averaged too), or None."""
    if not decay:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


@contextlib.contextmanager
def ema_weights(net: nn.Module, ema: Any) -> Iterator[None]:
    """Inside the block ``net`` holds ``ema``'s averaged weights (to score and keep them);
    after it, its live weights again, to go on training. Nothing happens without ``ema``."""
    if ema is None:
        yield
        return
    live = {k: v.detach().clone() for k, v in net.state_dict().items()}
    net.load_state_dict(ema.module.state_dict())
    try:
        yield
    finally:
        net.load_state_dict(live)


def _float_state(net: nn.Module) -> list[torch.Tensor]:
    return [t for t in net.state_dict().values() if t.is_floating_point()]
