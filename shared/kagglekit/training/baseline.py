"""Is a run any good? Its trivial baseline and the signs of a model that learned nothing.

A model that predicts one class for almost every row, or scores no better than the
trivial baseline (the training rows' majority class for a classifier, their mean for a
regression, scored on the same folds with the project's metric), finishes like any
other run; ``kk train``, ``kk train --smoke`` and ``kk runs`` flag it. The baseline is
computed once, when a run completes, and kept in its record (``baseline_cv``,
``degenerate``), so listing runs reads it back rather than recomputing it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from kagglekit.folds import Split
from kagglekit.metrics import Metric
from kagglekit.tasks import Task

__all__ = ["ONE_CLASS_SHARE", "baseline_cv", "degenerate_reason"]

# "Almost every row": a classifier that predicts one class for this share of the rows or
# more, where the truth has that class less often, has collapsed onto it.
ONE_CLASS_SHARE = 0.98


def baseline_cv(
    task: Task,
    metric: Metric,
    y: np.ndarray,
    splits: Iterable[Split],
    *,
    threshold: float,
    n_outputs: int = 1,
) -> float | None:
    """The CV score of the trivial model on ``splits``: each fold predicts its training
    rows' majority class (class shares) or mean for its validation rows; None when the
    task has no such model or the metric cannot score it."""
    scores = []
    for split in splits:
        pred = task.trivial_prediction(y[split.train_idx], len(split.valid_idx), n_outputs)
        if pred is None:
            return None
        try:
            scores.append(float(metric(y[split.valid_idx], pred, threshold=threshold)))
        except (ValueError, TypeError, ZeroDivisionError):
            return None
    return float(np.mean(scores)) if scores else None


def degenerate_reason(
    task: Task,
    metric: Metric,
    y: np.ndarray,
    oof: np.ndarray,
    *,
    threshold: float,
    score: float,
    baseline: float | None,
) -> str | None:
    """Why a run (OOF ``oof`` on the validated rows ``y``, CV ``score``) looks broken, or
    None: it predicts one class for almost every row (``ONE_CLASS_SHARE``; for a metric
    that scores labels: a probability metric does not read the labels), or it does not
    beat ``baseline`` (``baseline_cv``) in the metric's direction."""
    reasons = []
    shares = task.label_shares(oof, threshold) if metric.needs == "labels" else None
    if shares is not None and len(y):
        top = int(np.argmax(shares))
        truth = float(np.mean(np.asarray(y) == top))
        # The other classes predicted at under a quarter of their true share: a model
        # that finds a rare class with good precision but predicts it a little less
        # often than it occurs is not broken.
        if shares[top] >= ONE_CLASS_SHARE and 1 - shares[top] < 0.25 * (1 - truth):
            reasons.append(
                f"it predicts class {top} for {shares[top]:.1%} of the rows (the truth has "
                f"it for {truth:.1%})"
            )
    if baseline is not None and math.isfinite(score):
        better = score > baseline if metric.greater_is_better else score < baseline
        if not better:
            reasons.append(
                f"its {metric.name} {score:.5f} does not beat the trivial baseline "
                f"{baseline:.5f} ({'majority class' if task.is_classification else 'the mean'})"
            )
    return "; ".join(reasons) or None
