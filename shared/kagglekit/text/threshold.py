"""The binary decision threshold, tuned on a model's own training rows.

The competition metric may need labels (F1 on the positive class), and the threshold
that maximises it is rarely 0.5. It is chosen on out-of-fold predictions of the fold's
*training* rows (never on the rows the fold is scored on), and the model then shifts
its probabilities so that the tuned threshold lands on the configured one
(``competition.threshold``): ``p' = sigmoid(logit(p) - logit(t) + logit(t_cfg))``. The
shift keeps the order of the predictions (AUC, log-ranking) and lets the CV loop,
ensembling and submissions keep applying one threshold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kagglekit.errors import KKError
from kagglekit.tasks import Task, as_task

GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)
_EPS = 1e-6


def check_threshold(value: float, name: str = "competition.threshold") -> float:
    """A threshold strictly inside (0, 1), or a one-line error."""
    if not 0.0 < float(value) < 1.0:
        raise KKError(f"{name} = {value} must be strictly between 0 and 1; e.g. 0.5")
    return float(value)


def tune_threshold(y: np.ndarray, proba: np.ndarray, metric: Any) -> float:
    """The threshold of ``GRID`` that scores best under ``metric`` (ties: nearest 0.5)."""
    scores = np.array([metric(y, proba, threshold=float(t)) for t in GRID])
    best = scores.max() if metric.greater_is_better else scores.min()
    ties = GRID[np.isclose(scores, best)]
    return float(ties[np.argmin(np.abs(ties - 0.5))])


def _logit(p: Any) -> Any:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def shift(proba: np.ndarray, tuned: float, target: float) -> np.ndarray:
    """``proba`` moved so that ``proba >= tuned`` becomes ``shifted >= target``.

    >>> shift(np.array([0.3, 0.4, 0.5]), 0.4, 0.5).round(3).tolist()
    [0.391, 0.5, 0.6]
    """
    z = _logit(np.asarray(proba, dtype=float)) - _logit(tuned) + _logit(target)
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def needs_tuning(task: Task | str, metric: Any, enabled: bool) -> bool:
    """Tune only the threshold of a task that has one (binary), for a metric that scores
    labels."""
    return bool(
        enabled and as_task(task).uses_threshold and metric is not None and metric.needs == "labels"
    )
