"""The torch trainer's checkpoints: one file per fold, rewritten after every epoch.

A checkpoint holds what an interrupted fit needs to go on as if it had never stopped: the
state of the net, optimiser, schedule, loss scaler and EMA, every generator (torch's,
CUDA's and the trainer's own), and the loop's bookkeeping (history, best epoch and its
weights, patience). A finished fold keeps only its best weights. A fingerprint of what
fixes the trained weights guards against resuming another fit.

The format is stable: checkpoints of interrupted runs written by earlier versions still
resume, so keys keep their names and meanings (bump ``FORMAT`` when one must change). The
fingerprint hashes a net's ``__module__`` and class name, so nets keep their module paths,
and settings added to ``TrainConfig`` later leave it unchanged while off.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

import kagglekit.atomic as atomic
from kagglekit.errors import KKError
from kagglekit.models.base import require
from kagglekit.torch.config import TrainConfig

require("torch", "vision")
import torch  # noqa: E402
from torch import nn  # noqa: E402

CHECKPOINT = "checkpoint.pt"  # the file in a fold's checkpoint_dir
FORMAT = 1


def fingerprint(
    net: nn.Module,
    config: TrainConfig,
    *,
    seed: int,
    task: str,
    n_classes: int,
    smoke: bool,
    metric: str | None,
    device: torch.device,
    precision: str,
    rows: list[int | None],
    y: np.ndarray,
) -> str:
    """A hash of what fixes the trained weights: net, shapes, config, seed, data shape.

    ``task`` is the task's name, ``metric`` and ``precision`` names too; ``rows`` is
    ``[training rows, validation rows or None]``; ``y`` the encoded training target.
    """
    cls = type(net)
    blob = {
        "net": f"{cls.__module__}.{cls.__qualname__}",
        "shapes": [[k, list(v.shape)] for k, v in net.state_dict().items()],
        "config": config.fingerprint_fields(),
        "seed": seed,
        "task": task,
        "n_classes": n_classes,
        "smoke": smoke,
        "metric": metric,
        "device": device.type,
        "precision": precision,
        "rows": rows,
        "y": hashlib.sha256(np.ascontiguousarray(y).tobytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:20]


def read(path: Path, fingerprint: str) -> dict[str, Any]:
    """A saved checkpoint, or a one-line error when it belongs to another fit."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise KKError(
            f"checkpoint {path} cannot be read ({type(err).__name__}); delete it to train "
            "this fold from scratch"
        ) from err
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise KKError(f"checkpoint {path} is not a kagglekit trainer checkpoint; delete it")
    if saved.get("fingerprint") != fingerprint:
        raise KKError(
            f"checkpoint {path} was written by another net, config, seed or data; delete "
            "it or start a fresh run"
        )
    return saved


class Parts(NamedTuple):
    """The parts of a fit whose state a checkpoint keeps from one epoch to the next."""

    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any  # torch.optim.lr_scheduler.LambdaLR
    scaler: Any  # torch.amp.GradScaler
    ema: Any  # torch.optim.swa_utils.AveragedModel, or None
    generator: torch.Generator  # the trainer's shuffles and augmentations


def save(
    path: Path,
    fingerprint: str,
    epoch: int,
    done: bool,
    images: bool,
    state: dict[str, Any],
    parts: Parts,
    device: torch.device,
) -> None:
    """Write the checkpoint after ``epoch`` atomically (an interrupt leaves the previous
    one); ``state`` is the loop's bookkeeping, saved as top-level keys."""
    payload = {
        "format": FORMAT,
        "fingerprint": fingerprint,
        "epoch": epoch,
        "done": done,
        "images": images,
        # A finished fold needs only its best weights: no optimiser, no RNG.
        "net": None if done else parts.net.state_dict(),
        "optimizer": None if done else parts.optimizer.state_dict(),
        "scheduler": None if done else parts.scheduler.state_dict(),
        "scaler": None if done else parts.scaler.state_dict(),
        "ema": None if done or parts.ema is None else parts.ema.state_dict(),
        "rng": None
        if done
        else {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
            "generator": parts.generator.get_state(),
        },
        **{k: v for k, v in state.items() if k != "resumed_at"},
    }
    atomic.write_atomic(path, lambda fh: torch.save(payload, fh))


def restore(saved: dict[str, Any], parts: Parts, device: torch.device) -> None:
    """Put an interrupted fit's weights, optimiser, schedule, scaler, EMA and generators
    back (the loop's bookkeeping is the caller's)."""
    parts.net.load_state_dict(saved["net"])
    parts.optimizer.load_state_dict(saved["optimizer"])
    parts.scheduler.load_state_dict(saved["scheduler"])
    parts.scaler.load_state_dict(saved["scaler"])
    torch.set_rng_state(saved["rng"]["torch"])
    if device.type == "cuda":
        torch.cuda.set_rng_state_all(saved["rng"]["cuda"])
    parts.generator.set_state(saved["rng"]["generator"])
    if parts.ema is not None:  # all of the averaged copy, made before the net was restored
        parts.ema.load_state_dict(saved["ema"])
