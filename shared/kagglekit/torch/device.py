"""Device, seeding and precision choices for the trainer, data placed on the device and
measurements of device work (imports torch)."""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
from dataclasses import dataclass
from typing import Any

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


# ------------------------------------------------------------------------ data on device
DEVICE_FRACTION = 0.5  # an array bigger than this share of GPU memory stays in pinned CPU memory


def place(X: Any, device: torch.device) -> Any:
    """``X`` (array, frame, tensor or a dict of them) as tensors on ``device``, once."""
    if isinstance(X, dict):
        return {k: place(v, device) for k, v in X.items()}
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


def take_rows(X: Any, idx: Any, device: torch.device) -> Any:
    """Rows ``idx`` (an index tensor or a slice) of placed ``X``, on ``device``."""
    if isinstance(X, dict):
        return {k: take_rows(v, idx, device) for k, v in X.items()}
    if isinstance(idx, torch.Tensor) and idx.device != X.device:
        idx = idx.to(X.device)
    return X[idx].to(device, non_blocking=True)


def count_rows(X: Any) -> int:
    if isinstance(X, dict):
        return len(next(iter(X.values())))
    return len(X)


def is_images(X: Any) -> bool:
    return isinstance(X, torch.Tensor) and X.ndim == 4  # (N, C, H, W)


def as_tensors(obj: Any) -> Any:
    """numpy arrays inside ``obj`` as tensors (checkpoints load with ``weights_only``)."""
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return {k: as_tensors(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(as_tensors(v) for v in obj)
    return obj


def to_device(obj: Any, device: torch.device) -> Any:
    """The tensors inside ``obj`` (a tensor, dict, list or tuple) moved to ``device``."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: to_device(v, device) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


# ------------------------------------------------------------------------ measurements
class Timer:
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


def peak_rss_mb() -> float | None:
    """The process's peak resident memory in MiB (None where ``resource`` is missing)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes vs KiB
