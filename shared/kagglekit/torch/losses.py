"""What a torch net trains on: its task's loss, or (``loss = "mse"``) the squared error of
a classifier's probabilities against one-hot targets, which the learning path compares
with cross-entropy (imports torch).
"""

from __future__ import annotations

from typing import Any

from kagglekit.errors import KKError
from kagglekit.models.base import require
from kagglekit.tasks import Task

require("torch", "vision")
import torch  # noqa: E402
from torch import nn  # noqa: E402

__all__ = ["squared_error_loss", "train_loss"]


def train_loss(
    task: Task,
    out: torch.Tensor,
    y: torch.Tensor,
    *,
    loss: str,
    n_classes: int,
    smoothing: float = 0.0,
    reduction: str = "mean",
) -> torch.Tensor:
    """The loss of the net's outputs ``out`` against ``y``: ``task.torch_loss`` unless
    ``loss == "mse"`` and the task is a classification (then ``squared_error_loss`` of the
    task's probabilities). Regression trains on MSE either way."""
    if loss != "mse" or not task.is_classification:
        return task.torch_loss(
            out, y, n_classes=n_classes, smoothing=smoothing, reduction=reduction
        )
    if out.ndim == 2 and out.shape[1] > 1 and out.shape[1] != n_classes:
        raise KKError(
            f"the net outputs shape {tuple(out.shape)} but a {n_classes}-class task needs "
            f"(batch, {n_classes}); build the net with n_outputs = {n_classes}"
        )
    prob = task.torch_predict(out)  # softmax (B, k), or sigmoid (B,) for binary
    return squared_error_loss(prob, y, smoothing, reduction)


def squared_error_loss(
    prob: torch.Tensor, y: torch.Tensor, smoothing: float = 0.0, reduction: str = "mean"
) -> torch.Tensor:
    """Squared error of class probabilities against one-hot targets.

    ``prob`` is ``(B, k)`` class probabilities with ``y`` the class codes (multiclass), or
    ``(B,)`` probabilities of class 1 with ``y`` 0/1 (binary). Each row's error is summed
    over its classes (the Brier score of the row), then averaged (``"mean"``) or summed
    (``"sum"``) over the rows. ``smoothing`` pulls the targets towards ``1 / k`` (0.5 for
    binary), as label smoothing does for cross-entropy.

    Its gradient with respect to a logit carries the softmax's slope, which vanishes when
    the net is confidently wrong; cross-entropy's is ``p - target`` there, so it corrects
    such rows fastest. That is why classifiers train on cross-entropy.

    >>> p = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    >>> squared_error_loss(p, torch.tensor([0, 0])).item()
    0.25
    """
    if prob.ndim == 2:
        k = prob.shape[1]
        target: Any = nn.functional.one_hot(y.long(), k).to(prob.dtype)  # (B, k)
        if smoothing:
            target = target * (1 - smoothing) + smoothing / k
        per_row = (prob - target).square().sum(dim=1)  # (B,)
    else:
        target = y.to(prob.dtype)
        if smoothing:
            target = target * (1 - smoothing) + 0.5 * smoothing
        per_row = (prob - target).square()  # (B,)
    return per_row.sum() if reduction == "sum" else per_row.mean()
