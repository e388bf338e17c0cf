"""Batched, on-device image augmentation: whole uint8 batches in, float32 batches out.

The shape of cifar10-airbench's loader: the data set lives on the device as one uint8
tensor (N, C, H, W) and every step turns a batch of it into network input with a few
tensor operations, with no Python loop over samples. All randomness is drawn from the
``torch.Generator`` the caller passes, so a batch is the same for the same generator state.

``make_batch_transform`` builds the trainer's ``prepare(x_uint8, train, generator)`` hook:
on training batches it translates, flips and cuts out, then (always) normalises.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from kagglekit.errors import KKError

PAD_MODES = ("reflect", "zeros")
# A channel whose training pixels are all equal has std 0; dividing by it would give inf.
_MIN_STD = 1.0 / 255.0


def channel_stats(images: Any, *, chunk_rows: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images (N, C, H, W), on the 0..1 scale.

    Pass the training rows only: statistics from validation or test rows leak them.
    Works on a numpy array or a tensor (any device), in chunks of ``chunk_rows`` so a
    large set is never copied to float64 whole.
    """
    x = torch.from_numpy(images) if isinstance(images, np.ndarray) else images
    if x.dtype != torch.uint8 or x.ndim != 4 or len(x) == 0:
        raise KKError(
            f"channel_stats: expected non-empty uint8 images (N, C, H, W), got {x.dtype} "
            f"with shape {tuple(x.shape)}"
        )
    total = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
    total_sq = torch.zeros_like(total)
    for start in range(0, len(x), chunk_rows):
        part = x[start : start + chunk_rows].to(torch.float64)
        total += part.sum(dim=(0, 2, 3))
        total_sq += part.square().sum(dim=(0, 2, 3))
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean = total / count
    var = (total_sq / count - mean.square()).clamp_min(0.0)
    return (mean / 255.0).tolist(), (var.sqrt() / 255.0).tolist()


class Normalizer:
    """Per-channel ``(x / 255 - mean) / std``, with mean and std learnt from training rows.

    Follows scikit-learn's contract: ``fit`` learns ``mean_`` and ``std_`` (0..1 scale);
    ``state_dict`` / ``from_state`` save and restore them as plain lists.

    Examples
    --------
    >>> norm = Normalizer().fit(train_images)          # doctest: +SKIP
    >>> x = norm(batch_uint8)                          # doctest: +SKIP
    """

    def __init__(self) -> None:
        self.mean_: list[float] | None = None
        self.std_: list[float] | None = None

    def fit(self, images: Any) -> Normalizer:
        """Learn the per-channel mean and std of ``images`` (the training rows only)."""
        self.mean_, self.std_ = channel_stats(images)
        return self

    def state_dict(self) -> dict[str, list[float]]:
        if self.mean_ is None or self.std_ is None:
            raise KKError("Normalizer is not fitted; call fit(train_images) first")
        return {"mean": list(self.mean_), "std": list(self.std_)}

    @classmethod
    def from_state(cls, state: dict[str, Sequence[float]]) -> Normalizer:
        norm = cls()
        norm.mean_, norm.std_ = [float(v) for v in state["mean"]], [float(v) for v in state["std"]]
        return norm

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        state = self.state_dict()
        return normalize(x, state["mean"], state["std"])


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 ``(x / 255 - mean) / std`` per channel."""
    if len(mean) != x.shape[1] or len(std) != x.shape[1]:
        raise KKError(
            f"normalisation has {len(mean)} means and {len(std)} stds for images with "
            f"{x.shape[1]} channels; compute them from these images (channel_stats)"
        )
    std_t = torch.tensor(std, dtype=torch.float32, device=x.device).clamp_min(_MIN_STD)
    mean_t = torch.tensor(mean, dtype=torch.float32, device=x.device)
    # One multiply-add: x * (1 / (255 std)) - mean / std, shaped (1, C, 1, 1).
    scale = (1.0 / (255.0 * std_t)).view(1, -1, 1, 1)
    shift = (-mean_t / std_t).view(1, -1, 1, 1)
    return torch.addcmul(shift, x.to(torch.float32), scale)


def _uniform_ints(
    n: int, low: int, high: int, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """``n`` ints in ``low .. high`` inclusive, drawn on the generator's device, moved to ``device``."""
    return torch.randint(low, high + 1, (n,), generator=generator, device=generator.device).to(
        device
    )


def hflip_images(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mirror left-right the samples where ``mask`` (B,) is true."""
    return torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)


def translate_images(
    x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, *, pad_mode: str = "reflect"
) -> torch.Tensor:
    """Shift sample b by ``dy[b]`` rows and ``dx[b]`` columns, filling by reflection or zeros.

    Equal to padding by ``max |shift|`` and cropping at a per-sample offset, done as one
    gather: output pixel (i, j) of sample b reads input pixel (i - dy, j - dx), reflected
    back into the image (``reflect``) or zero when outside it (``zeros``). Shifts must be
    smaller than the image.
    """
    if pad_mode not in PAD_MODES:
        raise KKError(f"pad mode '{pad_mode}' is not known; use one of {', '.join(PAD_MODES)}")
    batch, channels, height, width = x.shape
    rows = torch.arange(height, device=x.device).view(1, -1) - dy.view(-1, 1)  # (B, H)
    cols = torch.arange(width, device=x.device).view(1, -1) - dx.view(-1, 1)  # (B, W)
    if pad_mode == "reflect":
        # Reflect without repeating the edge (numpy's "reflect"): -1 -> 1, H -> H - 2.
        rows = (height - 1) - ((height - 1) - rows.abs()).abs()
        cols = (width - 1) - ((width - 1) - cols.abs()).abs()
        inside = None
    else:
        inside = ((rows >= 0) & (rows < height)).view(batch, 1, height, 1) & (
            (cols >= 0) & (cols < width)
        ).view(batch, 1, 1, width)
        rows, cols = rows.clamp(0, height - 1), cols.clamp(0, width - 1)
    b_idx = torch.arange(batch, device=x.device).view(-1, 1, 1, 1)
    c_idx = torch.arange(channels, device=x.device).view(1, -1, 1, 1)
    out = x[b_idx, c_idx, rows.view(batch, 1, height, 1), cols.view(batch, 1, 1, width)]
    if inside is not None:
        out = out * inside.to(out.dtype)
    return out


def cutout_images(
    x: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int
) -> torch.Tensor:
    """Set a ``size`` x ``size`` square to zero in each sample, its corner at (top[b], left[b])."""
    _, _, height, width = x.shape
    in_rows = torch.arange(height, device=x.device).view(1, -1) - top.view(-1, 1)  # (B, H)
    in_cols = torch.arange(width, device=x.device).view(1, -1) - left.view(-1, 1)  # (B, W)
    rows_hit = (in_rows >= 0) & (in_rows < size)
    cols_hit = (in_cols >= 0) & (in_cols < size)
    mask = rows_hit.unsqueeze(2) & cols_hit.unsqueeze(1)  # (B, H, W)
    return x.masked_fill(mask.unsqueeze(1), 0)


def alternating_flip_mask(rows: torch.Tensor, epoch: int) -> torch.Tensor:
    """Which rows to mirror in ``epoch``: a fixed bit per row index, flipped every epoch.

    The bit is bit 16 of ``row * 2654435761`` (Knuth's multiplicative hash, mod 2**32),
    so half the rows start mirrored and each row alternates from then on.
    """
    bits = ((rows.long() * 2654435761) % 2**32 >> 16) & 1  # (B,) fixed per row
    return bits.bool() ^ bool(epoch % 2)


PrepareFn = Callable[..., torch.Tensor]  # (x, train, generator, *, rows=None, epoch=0)


def make_batch_transform(
    *,
    mean: Sequence[float],
    std: Sequence[float],
    flip: bool = False,
    translate: int = 0,
    pad_mode: str = "reflect",
    cutout: int = 0,
    channels_last: bool = False,
    alternate_flip: bool = False,
) -> PrepareFn:
    """Build ``prepare(x_uint8, train, generator) -> float32`` for the trainer.

    Training batches are, in this order: translated by up to ``translate`` pixels each way
    (per-sample offsets; the uncovered border is reflected or black, ``pad_mode``),
    mirrored left-right with probability 1/2 (``flip``), normalised, and given a
    ``cutout`` x ``cutout`` square of zeros (zero after normalisation: the training mean
    colour) placed uniformly inside the image. Other batches (``train=False``) are only
    normalised.

    Parameters
    ----------
    mean, std
        Per-channel statistics on the 0..1 scale, from the training rows (``channel_stats``).
    flip
        Random horizontal flips (not for digits or text, where a mirror changes the class).
    translate
        Largest shift in pixels (airbench: 2 for 32 x 32); 0 switches it off.
    pad_mode
        ``reflect`` or ``zeros``: what fills the border a shift uncovers.
    cutout
        Side of the zeroed square; 0 switches it off.
    channels_last
        Return channels-last memory (faster convolutions with mixed precision on GPUs).
    alternate_flip
        With ``flip``: derandomised flips (cifar10-airbench). Each row has a fixed
        pseudo-random bit (a hash of its index); it is mirrored in the epochs where that
        bit differs from the epoch's parity, so every image is seen both ways in any two
        epochs in a row. Needs ``rows=`` and ``epoch=`` on training calls.

    Returns
    -------
    callable
        ``prepare(x, train, generator)``; ``generator`` may be ``None`` when ``train`` is false.
    """
    if len(mean) != len(std) or not mean:
        raise KKError(
            f"normalisation needs one mean and one std per channel, got {len(mean)} means "
            f"and {len(std)} stds"
        )
    if translate < 0 or cutout < 0:
        raise KKError(f"translate ({translate}) and cutout ({cutout}) must be >= 0 pixels")
    if pad_mode not in PAD_MODES:
        raise KKError(f"pad mode '{pad_mode}' is not known; use one of {', '.join(PAD_MODES)}")
    mean, std = [float(m) for m in mean], [float(s) for s in std]
    shift = translate
    square = cutout
    memory = torch.channels_last if channels_last else torch.contiguous_format

    def prepare(
        x: torch.Tensor,
        train: bool,
        generator: torch.Generator | None = None,
        *,
        rows: torch.Tensor | None = None,
        epoch: int = 0,
    ) -> torch.Tensor:
        if x.dtype != torch.uint8 or x.ndim != 4:
            raise KKError(
                f"prepare: expected a uint8 batch (B, C, H, W), got {x.dtype} with shape "
                f"{tuple(x.shape)}"
            )
        batch, _, height, width = x.shape
        if train and (shift or flip or square):
            if generator is None:
                raise KKError("prepare: training batches need a torch.Generator (seeded)")
            if shift >= min(height, width) or square > min(height, width):
                raise KKError(
                    f"translate={shift} / cutout={square} do not fit {height} x {width} images; "
                    "use smaller values"
                )
            if shift:
                dy = _uniform_ints(batch, -shift, shift, generator, x.device)
                dx = _uniform_ints(batch, -shift, shift, generator, x.device)
                x = translate_images(x, dy, dx, pad_mode=pad_mode)
            if flip and alternate_flip:
                if rows is None:
                    raise KKError("prepare: alternate_flip needs the batch's rows= indices")
                x = hflip_images(x, alternating_flip_mask(rows, epoch).to(x.device))
            elif flip:
                mask = torch.rand(batch, generator=generator, device=generator.device) < 0.5
                x = hflip_images(x, mask.to(x.device))
        out = normalize(x, mean, std)
        if train and square and generator is not None:  # generator checked above
            top = _uniform_ints(batch, 0, height - square, generator, x.device)
            left = _uniform_ints(batch, 0, width - square, generator, x.device)
            out = cutout_images(out, top, left, square)
        return out.contiguous(memory_format=memory)

    return prepare
