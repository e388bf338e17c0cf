"""Test-time augmentation of image batches: the torch trainer's ``test_time_augment`` hook.

The image backends hand ``flip_tta`` to ``TorchModel``; the trainer calls it on every
prepared batch of images (``(B, C, H, W)``) when the model's ``tta`` setting is not
``"none"``. The trainer itself knows nothing about images beyond their four dimensions.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["flip_tta"]


def flip_tta(
    mode: str,
    predict: Callable[[torch.Tensor], torch.Tensor],
    xb: torch.Tensor,
    pred: torch.Tensor,
) -> torch.Tensor:
    """``pred`` (``predict(xb)``) averaged with the mirrored batch's (``"flip"``), then
    with shifted ones (``"flip_shift"``).

    ``predict(x)`` is the net's predictions (probabilities or values) for a batch.
    ``flip_shift``: half the weight on (image, mirror), a quarter each on the pair
    shifted one pixel down-right and the pair shifted one pixel up-left (reflected
    borders), as cifar10-airbench's test-time augmentation.
    """

    def flip_pair(x: torch.Tensor, base: torch.Tensor | None = None) -> torch.Tensor:
        if base is None:
            base = predict(x)
        flipped = predict(x.flip(-1))  # mirror left-right
        return (base + flipped) / 2

    pair = flip_pair(xb, pred)
    if mode == "flip":
        return pair
    padded = F.pad(xb, (1, 1, 1, 1), mode="reflect")  # (B, C, H+2, W+2)
    down_right = padded[..., :-2, :-2].contiguous(memory_format=_memory_format(xb))
    up_left = padded[..., 2:, 2:].contiguous(memory_format=_memory_format(xb))
    return 0.5 * pair + 0.25 * (flip_pair(down_right) + flip_pair(up_left))


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    if x.ndim == 4 and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format
