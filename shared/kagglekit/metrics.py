"""Metric registry with Kaggle's names and directions.

Predictions live in one "prediction space" per task, the same for every model:

- binary: shape (n,), probability of the positive class (encoded 1);
- multiclass: shape (n, k), class probabilities in encoded class order;
- regression: shape (n,), values;
- ranking: a sequence of ranked item lists (one per query), for ``map@k``.

A metric that needs labels turns probabilities into labels itself (threshold or argmax),
so training, ensembling and scoring all hand it the same arrays.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn import metrics as skm

from kagglekit.errors import KKError, unknown_name

Needs = Literal["labels", "probabilities", "values", "ranking"]

_MAP_AT_K = re.compile(r"^map@(\d+)$")


@dataclass(frozen=True)
class Metric:
    """A scoring function with its direction and the prediction kind it expects."""

    name: str
    fn: Callable[[Any, Any], float]
    greater_is_better: bool
    needs: Needs
    tasks: tuple[str, ...]

    def __call__(self, y_true: Any, y_pred: Any, *, threshold: float = 0.5) -> float:
        """Score predictions given in the task's prediction space."""
        if self.needs == "labels":
            y_pred = to_labels(np.asarray(y_pred), threshold=threshold)
        return float(self.fn(y_true, y_pred))

    def better(self, a: float, b: float) -> bool:
        """True when score ``a`` is strictly better than ``b``."""
        return a > b if self.greater_is_better else a < b

    @property
    def direction(self) -> Literal["maximize", "minimize"]:
        """Optuna-style direction."""
        return "maximize" if self.greater_is_better else "minimize"


def to_labels(pred: np.ndarray, *, threshold: float = 0.5) -> np.ndarray:
    """Encoded labels from probabilities: threshold for (n,), argmax for (n, k)."""
    if pred.ndim == 2:
        return pred.argmax(axis=1)
    if pred.dtype.kind == "f":
        return (pred >= threshold).astype(np.int64)
    return pred


def _rmse(y: Any, p: Any) -> float:
    return float(np.sqrt(skm.mean_squared_error(y, p)))


def _rmsle(y: Any, p: Any) -> float:
    # Kaggle's RMSLE clips nothing: negative predictions are a user error, so say so.
    if np.any(np.asarray(p) < 0) or np.any(np.asarray(y) < 0):
        raise KKError(
            "rmsle needs non-negative targets and predictions; clip predictions at 0 "
            "(or model log1p(target) and use rmse)"
        )
    return float(np.sqrt(skm.mean_squared_log_error(y, p)))


def _log_loss(y: Any, p: Any) -> float:
    p = np.asarray(p, dtype=float)
    if p.ndim == 1:
        p = np.column_stack([1.0 - p, p])
    return float(skm.log_loss(y, p, labels=np.arange(p.shape[1])))


def _roc_auc(y: Any, p: Any) -> float:
    p = np.asarray(p, dtype=float)
    if p.ndim == 2:
        return float(skm.roc_auc_score(y, p, multi_class="ovr", labels=np.arange(p.shape[1])))
    return float(skm.roc_auc_score(y, p))


def average_precision_at_k(actual: Sequence[Any], predicted: Sequence[Any], k: int) -> float:
    """AP@k as Kaggle computes it: precision at each hit, divided by min(len(actual), k)."""
    if not len(actual):
        return 0.0
    actual_set = set(actual)
    hits, total, seen = 0, 0.0, set()
    for rank, item in enumerate(list(predicted)[:k], start=1):
        if item in actual_set and item not in seen:
            hits += 1
            total += hits / rank
        seen.add(item)
    return total / min(len(actual_set), k)


def mean_average_precision_at_k(
    actual: Sequence[Sequence[Any]], predicted: Sequence[Sequence[Any]], k: int
) -> float:
    """MAP@k over queries (scikit-learn has no list-of-lists MAP@k, hence by hand)."""
    if len(actual) != len(predicted):
        raise ValueError(f"map@{k}: {len(actual)} queries in truth, {len(predicted)} predicted")
    return float(
        np.mean([average_precision_at_k(a, p, k) for a, p in zip(actual, predicted, strict=True)])
    )


def _map_at_k(y: Any, p: Any, k: int) -> float:
    """MAP@k of lists of lists, or of interaction rows (n, 3) and ranked code lists (n, L)."""
    if isinstance(y, np.ndarray) and y.dtype != object and y.ndim == 2:
        return map_at_k_rows(y, np.asarray(p), k)
    return mean_average_precision_at_k(y, p, k)


# --- ranked lists of interaction rows (the ``ranking`` task, kagglekit.recsys.ranking) -----
# Rows are (user code, item code, relevance); a row's prediction is its user's ranked list
# of item codes, -1 padded. A user's relevant items are their held-out rows.


def k_of(metric: str) -> int:
    """K of a ``map@K`` metric name (10 when the metric names none)."""
    match = _MAP_AT_K.match(metric)
    return int(match.group(1)) if match else 10


def hit_positions(y: np.ndarray, lists: np.ndarray, k: int) -> np.ndarray:
    """Per row: the 0-based position of the row's item in its user's top-k list, or -1."""
    top = np.asarray(lists[:, :k])
    item = np.asarray(y[:, 1]).astype(np.int64)[:, None]
    match = top.astype(np.int64) == item
    return np.where(match.any(axis=1), match.argmax(axis=1), -1)


def ranking_scores(y: np.ndarray, lists: np.ndarray, k: int) -> dict[str, float]:
    """MAP@K, Precision@K, Recall@K and NDCG@K from rows, averaged over users.

    ``y`` (n, 3): (user, item, relevance) of the held-out rows; ``lists`` (n, >=k): the
    ranked item codes of each row's user. Every held-out row is a relevant item.
    """
    y = np.asarray(y)
    users = y[:, 0].astype(np.int64)
    pos = hit_positions(y, lists, k)
    user_codes, user_of_row = np.unique(users, return_inverse=True)
    n_rel = np.bincount(user_of_row).astype(float)
    hit = pos >= 0
    n_hits = np.bincount(user_of_row[hit], minlength=len(user_codes)).astype(float)
    # AP@K: the j-th hit (1-based, in list order) at position p adds j / (p + 1).
    order = np.lexsort((pos[hit], user_of_row[hit]))
    hit_users, hit_pos = user_of_row[hit][order], pos[hit][order]
    starts = np.r_[0, np.flatnonzero(np.diff(hit_users)) + 1]
    j = np.arange(len(hit_users)) - np.repeat(starts, np.diff(np.r_[starts, len(hit_users)])) + 1
    ap = np.bincount(hit_users, weights=j / (hit_pos + 1), minlength=len(user_codes))
    ap = ap / np.minimum(n_rel, k)
    discounts = 1.0 / np.log2(np.arange(k) + 2)
    dcg = np.bincount(hit_users, weights=discounts[hit_pos], minlength=len(user_codes))
    idcg = np.cumsum(discounts)[np.minimum(n_rel, k).astype(int) - 1]
    return {
        f"map@{k}": float(ap.mean()),
        f"precision@{k}": float((n_hits / k).mean()),
        f"recall@{k}": float((n_hits / n_rel).mean()),
        f"ndcg@{k}": float((dcg / idcg).mean()),
    }


def coverage(lists: np.ndarray, k: int, n_items: int) -> float:
    """Share of the catalogue that appears in at least one top-k list."""
    top = np.asarray(lists[:, :k]).astype(np.int64)
    return float(len(np.unique(top[top >= 0])) / max(n_items, 1))


def map_at_k_rows(y: np.ndarray, lists: np.ndarray, k: int) -> float:
    """MAP@K of held-out interaction rows ``y`` (n, 3) and their users' lists (n, >=k)."""
    return ranking_scores(y, lists, k)[f"map@{k}"]


_CLASSIFICATION = ("binary", "multiclass")

METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("accuracy", skm.accuracy_score, True, "labels", _CLASSIFICATION),
        Metric("roc_auc", _roc_auc, True, "probabilities", _CLASSIFICATION),
        Metric("log_loss", _log_loss, False, "probabilities", _CLASSIFICATION),
        Metric("f1", skm.f1_score, True, "labels", ("binary",)),
        Metric(
            "f1_macro",
            lambda y, p: skm.f1_score(y, p, average="macro"),
            True,
            "labels",
            _CLASSIFICATION,
        ),
        Metric(
            "f1_micro",
            lambda y, p: skm.f1_score(y, p, average="micro"),
            True,
            "labels",
            _CLASSIFICATION,
        ),
        Metric("rmse", _rmse, False, "values", ("regression",)),
        Metric("rmsle", _rmsle, False, "values", ("regression",)),
        Metric("mae", skm.mean_absolute_error, False, "values", ("regression",)),
        Metric("r2", skm.r2_score, True, "values", ("regression",)),
    ]
}


def get_metric(name: str) -> Metric:
    """Look a metric up by its Kaggle name (``map@k`` for any k).

    >>> get_metric("rmse").greater_is_better
    False
    """
    if name in METRICS:
        return METRICS[name]
    match = _MAP_AT_K.match(name)
    if match and int(match.group(1)) > 0:
        k = int(match.group(1))
        return Metric(
            name,
            lambda y, p: _map_at_k(y, p, k),
            True,
            "ranking",
            ("ranking",),
        )
    raise unknown_name("metric", name, [*METRICS, "map@k"])
