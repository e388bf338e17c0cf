"""Device, seeding and precision choices for the trainer (imports torch)."""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass

import numpy as np

from kagglekit.errors import KKError
from kagglekit.models.base import require

require("torch", "vision")
import torch  # noqa: E402


def choose_device(requested: str = "auto") -> torch.device:
    """The device to train on: ``"auto"`` = CUDA, then Apple's MPS, then the CPU.

    >>> choose_device("cpu")
    device(type='cpu')
    """
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise KKError(
                f'device = {requested!r} but torch sees no CUDA GPU; set device = "cpu" '
                'or "auto" (or install a CUDA build of torch)'
            )
        device = torch.device(requested)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise KKError(
                f"device = {requested!r} but only {torch.cuda.device_count()} CUDA GPU(s) "
                'exist; use device = "cuda" or "auto"'
            )
        return device
    if requested == "mps" and not _mps_available():
        raise KKError('device = "mps" but this torch has no MPS device; use "cpu" or "auto"')
    if requested not in ("cpu", "mps"):
        raise KKError(f"device = {requested!r} is not known; use 'auto', 'cpu', 'cuda' or 'mps'")
    return torch.device(requested)


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed Python's, numpy's and torch's global generators; set cuDNN's determinism.

    ``deterministic=True`` asks for deterministic kernels (``warn_only``: an op without
    one warns rather than fails) and turns off cuDNN's benchmark autotuner; ``False``
    lets cuDNN pick the fastest kernels. These are process-wide torch settings.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # seeds every CUDA device too
    if deterministic:
        # cuBLAS needs this before its first call to be deterministic (CUDA >= 10.2).
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


@dataclass(frozen=True)
class Precision:
    """A resolved precision: its name, the autocast dtype (None = plain fp32) and scaler."""

    name: str  # "fp32" | "bf16" | "fp16"
    autocast_dtype: torch.dtype | None
    grad_scaler: bool

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager[object]:
        """The autocast context for forward passes on ``device`` (a no-op for fp32)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=self.autocast_dtype)


FP32 = Precision("fp32", None, False)
BF16 = Precision("bf16", torch.bfloat16, False)
FP16 = Precision("fp16", torch.float16, True)  # fp16's narrow range needs loss scaling


def choose_precision(requested: str, device: torch.device) -> Precision:
    """Resolve ``"auto" | "fp32" | "bf16" | "fp16"`` for ``device``.

    ``"auto"``: bf16 autocast on a CUDA GPU that supports it, else fp16 autocast with a
    ``GradScaler`` on CUDA; fp32 on the CPU and MPS (autocast there is rarely faster).
    """
    cuda = device.type == "cuda"
    if requested == "auto":
        if not cuda:
            return FP32
        return BF16 if torch.cuda.is_bf16_supported() else FP16
    if requested == "fp32":
        return FP32
    if requested == "bf16":
        if cuda and not torch.cuda.is_bf16_supported():
            raise KKError(
                "precision = 'bf16' but this GPU has no bf16 support; set precision = "
                "'fp16' or 'auto'"
            )
        return BF16
    if requested == "fp16":
        if not cuda:
            raise KKError(
                f"precision = 'fp16' needs a CUDA GPU (device is {device.type}); set "
                "precision = 'fp32', 'bf16' or 'auto'"
            )
        return FP16
    raise KKError(f"precision = {requested!r} is not known; use 'auto', 'fp32', 'bf16' or 'fp16'")
