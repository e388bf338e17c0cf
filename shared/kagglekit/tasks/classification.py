"""Binary and multiclass classification: class labels encoded 0..k-1, probabilities.

- binary: a prediction is shape (n,), the probability of the class encoded 1, labelled by
  ``competition.threshold``;
- multiclass: shape (n, k), class probabilities in encoded class order, labelled by argmax.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from kagglekit.errors import KKError
from kagglekit.metrics import to_labels
from kagglekit.tasks.base import Competition, Task, register_task

_LEVEL2_CLIP = 1e-2  # probability clip before logits (chosen on bench/ensemble.py)


def _plain(value: Any) -> Any:
    """A numpy scalar as a plain Python value (for records and messages)."""
    return value.item() if hasattr(value, "item") else value


@dataclass(frozen=True, eq=False)
class _Classification(Task):
    is_classification: ClassVar[bool] = True
    keeps_fold_tests: ClassVar[bool] = True
    oof_plots: ClassVar[tuple[str, ...]] = ("confusion_matrix", "roc_curve")
    formats: ClassVar[tuple[str, ...]] = ("labels", "probabilities")
    # What a new project scores probabilities with (a probabilities submission).
    _probability_metric: ClassVar[str] = "log_loss"

    def encode(
        self, target: Any, *, classes: Sequence[Any] | None = None
    ) -> tuple[np.ndarray, list[Any] | None]:
        series = pd.Series(np.asarray(target) if not isinstance(target, pd.Series) else target)
        if series.isna().any():
            raise KKError(f"the target has {int(series.isna().sum())} missing value(s) in train")
        if classes is None:
            classes = sorted(series.unique().tolist())
        else:
            unknown = sorted(set(series.unique().tolist()) - set(classes), key=str)
            if unknown:
                raise KKError(
                    f"the target has label(s) {', '.join(map(repr, map(_plain, unknown[:5])))} "
                    f"that are not among the {len(classes)} declared classes; fix the labels "
                    "or the loader's class list"
                )
        self._check_n_classes(list(classes))
        codes = pd.Categorical(series, categories=list(classes)).codes.astype(np.int64)
        return codes, [_plain(c) for c in classes]

    def label_shares(self, pred: np.ndarray, threshold: float) -> np.ndarray | None:
        labels = to_labels(np.asarray(pred), threshold=threshold)
        return np.bincount(labels, minlength=2) / max(len(labels), 1)

    def _check_n_classes(self, classes: list[Any]) -> None:
        if len(classes) < 2:
            raise KKError(
                f"the target has only {len(classes)} class ({classes}); a classifier needs two "
                "or more: check competition.target_column"
            )

    def default_scoring(self, submission_format: str) -> tuple[str, str]:
        if submission_format == "labels":
            return "accuracy", "labels"
        return self._probability_metric, "probabilities"

    def check_codes(self, y: np.ndarray, n_classes: int, name: str) -> None:
        y = np.asarray(y)
        high = self._n_codes(n_classes)
        if y.size and (y.min() < 0 or y.max() >= high or not np.all(y == np.round(y))):
            raise KKError(
                f"{name} must hold encoded class indices 0..{high - 1} for a {self.name} task "
                f"(got values {y.min()}..{y.max()}); encode the target first"
            )

    def _n_codes(self, n_classes: int) -> int:
        """How many encoded classes a net's target may hold."""
        raise NotImplementedError

    def submission_body(
        self,
        pred: np.ndarray,
        comp: Competition,
        columns: list[str],
        classes: Sequence[Any] | None,
    ) -> pd.DataFrame:
        if comp.submission_format == "labels":
            if classes is None:
                raise KKError("a labels submission needs the class list; the run record has none")
            labels = to_labels(np.asarray(pred), threshold=comp.threshold)
            return pd.DataFrame({columns[1]: np.asarray(classes, dtype=object)[labels]})
        return self._probability_body(pred, columns, classes)

    def _probability_body(
        self, pred: np.ndarray, columns: list[str], classes: Sequence[Any] | None
    ) -> pd.DataFrame:
        raise NotImplementedError

    def value_problems(
        self, col: str, values: pd.Series, comp: Competition, allowed: Sequence[Any] | None
    ) -> list[str]:
        if comp.submission_format == "labels":
            if allowed is None:
                return []
            allowed_text = {str(v) for v in allowed}
            bad = values[~values.astype(str).isin(allowed_text)]
            if len(bad) and _look_like_probabilities(values):
                return [
                    f"column '{col}' has {len(bad)} value(s) that are not labels: these look "
                    "like probabilities (values between 0 and 1); this competition wants "
                    f"labels (one of {sorted(allowed_text)}): for a run, `kk submit PROJECT "
                    "--run ID --rebuild` writes its labels with competition.threshold; for "
                    "your own file, write each row's label (the class whose probability "
                    "reaches the threshold)"
                ]
            if len(bad):
                shown = ", ".join(repr(_plain(v)) for v in bad.unique()[:3])
                more = ", ..." if bad.nunique() > 3 else ""
                return [
                    f"column '{col}' has {len(bad)} value(s) that are not labels "
                    f"({shown}{more}); expected one of {sorted(allowed_text)}"
                ]
            return []
        problems = super().value_problems(col, values, comp, allowed)
        if problems:
            return problems
        arr = values.to_numpy(dtype=float)
        outside = int(((arr < 0) | (arr > 1)).sum())
        if outside:
            return [
                f"column '{col}' has {outside} value(s) outside [0, 1]; "
                "probabilities expected (was a label or logit written?)"
            ]
        return []

    def scored_arrays(
        self,
        truth: pd.Series,
        sub: pd.DataFrame,
        pred_cols: list[str],
        comp: Competition,
        classes: Sequence[Any],
        needs: str,
    ) -> tuple[np.ndarray, np.ndarray]:
        index = {str(c): i for i, c in enumerate(classes)}
        y_true = truth.astype(str).map(index).to_numpy()
        if comp.submission_format == "labels":
            codes = sub[pred_cols[0]].astype(str).map(index).to_numpy()
            if needs == "probabilities" and len(classes) > 2:
                return y_true, np.eye(len(classes))[codes]
            return y_true, codes
        if len(pred_cols) == 1:
            return y_true, sub[pred_cols[0]].to_numpy(dtype=float)
        return y_true, sub[pred_cols].to_numpy(dtype=float)

    def level2_predict(self, estimator: Any, X: Any, n_classes: int) -> np.ndarray:
        proba = estimator.predict_proba(X)
        return self._stacker_proba(estimator, proba, n_classes)

    def _stacker_proba(self, estimator: Any, proba: np.ndarray, n_classes: int) -> np.ndarray:
        raise NotImplementedError


def _look_like_probabilities(values: pd.Series) -> bool:
    """Numbers, all within [0, 1] and not all whole: a probabilities column."""
    if not pd.api.types.is_numeric_dtype(values):
        return False
    arr = values.to_numpy(dtype=float)
    finite = arr[np.isfinite(arr)]
    return bool(
        len(finite) and ((finite >= 0) & (finite <= 1)).all() and (finite != np.round(finite)).any()
    )


@dataclass(frozen=True, eq=False)
class Binary(_Classification):
    name: ClassVar[str] = "binary"
    uses_threshold: ClassVar[bool] = True
    sklearn_target_type: ClassVar[str] = "binary"
    _probability_metric: ClassVar[str] = "roc_auc"

    def from_proba(self, proba: np.ndarray) -> np.ndarray:
        return proba[:, 1]

    def trivial_prediction(
        self, y_train: np.ndarray, n_rows: int, n_outputs: int = 1
    ) -> np.ndarray | None:
        # The share of class 1: labelled by the threshold it is the majority class.
        return np.full(n_rows, float(np.mean(np.asarray(y_train) == 1)))

    def confident_labels(
        self, test_pred: np.ndarray, confidence: float
    ) -> tuple[np.ndarray, np.ndarray]:
        # P(class 1): a row is kept when it or its complement reaches ``confidence``.
        pred = np.asarray(test_pred, dtype=float)
        keep = (pred >= confidence) | (pred <= 1.0 - confidence)
        rows = np.flatnonzero(keep)
        return rows, (pred[rows] >= 0.5).astype(np.int64)

    def net_outputs(self, n_classes: int) -> int:
        return 1

    def _n_codes(self, n_classes: int) -> int:
        return 2

    def torch_loss(
        self,
        out: Any,
        y: Any,
        *,
        n_classes: int,
        smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> Any:
        import torch.nn.functional as F

        out = self._one_per_row(out, y)
        target = y * (1 - smoothing) + 0.5 * smoothing if smoothing else y
        return F.binary_cross_entropy_with_logits(out, target, reduction=reduction)

    def torch_predict(self, out: Any) -> Any:
        return out.reshape(out.shape[0]).sigmoid()

    def _check_n_classes(self, classes: list[Any]) -> None:
        if len(classes) != 2:
            raise KKError(
                f"task 'binary' but the target has {len(classes)} classes ({classes[:5]}); "
                'set competition.task = "multiclass" or "regression"'
            )

    def _probability_body(
        self, pred: np.ndarray, columns: list[str], classes: Sequence[Any] | None
    ) -> pd.DataFrame:
        return pd.DataFrame({columns[1]: np.asarray(pred, dtype=float)})

    def level2_features(self, preds: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(preds, dtype=float), _LEVEL2_CLIP, 1.0 - _LEVEL2_CLIP)
        return np.asarray(np.log(p / (1.0 - p)).T)

    def _stacker_proba(self, estimator: Any, proba: np.ndarray, n_classes: int) -> np.ndarray:
        return np.asarray(proba[:, 1], dtype=float)


@dataclass(frozen=True, eq=False)
class Multiclass(_Classification):
    name: ClassVar[str] = "multiclass"
    sklearn_target_type: ClassVar[str] = "multiclass"

    def n_outputs(self, classes: Sequence[Any] | None) -> int:
        return len(classes or [])

    def from_proba(self, proba: np.ndarray) -> np.ndarray:
        return proba

    def trivial_prediction(
        self, y_train: np.ndarray, n_rows: int, n_outputs: int = 1
    ) -> np.ndarray | None:
        # The class shares: their argmax is the majority class.
        codes = np.asarray(y_train, dtype=np.int64)
        shares = np.bincount(codes, minlength=max(n_outputs, int(codes.max()) + 1)) / len(codes)
        return np.tile(shares, (n_rows, 1))

    def confident_labels(
        self, test_pred: np.ndarray, confidence: float
    ) -> tuple[np.ndarray, np.ndarray]:
        # A row is kept when its largest probability reaches ``confidence``.
        pred = np.asarray(test_pred, dtype=float)
        top = pred.max(axis=1)
        rows = np.flatnonzero(top >= confidence)
        return rows, pred[rows].argmax(axis=1).astype(np.int64)

    def net_outputs(self, n_classes: int) -> int:
        if n_classes < 2:
            raise KKError(f"task 'multiclass' needs n_classes >= 2, got {n_classes}")
        return n_classes

    def _n_codes(self, n_classes: int) -> int:
        return n_classes

    def torch_targets(self, y: Any) -> Any:
        import torch

        return torch.as_tensor(np.asarray(y), dtype=torch.long)

    def torch_loss(
        self,
        out: Any,
        y: Any,
        *,
        n_classes: int,
        smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> Any:
        import torch.nn.functional as F

        if out.ndim != 2 or out.shape[1] != n_classes:
            raise KKError(
                f"the net outputs shape {tuple(out.shape)} but a {n_classes}-class "
                f"task needs (batch, {n_classes}); build the net with n_outputs = "
                f"{n_classes}"
            )
        return F.cross_entropy(out, y, label_smoothing=smoothing, reduction=reduction)

    def torch_predict(self, out: Any) -> Any:
        return out.softmax(dim=1)

    def _probability_body(
        self, pred: np.ndarray, columns: list[str], classes: Sequence[Any] | None
    ) -> pd.DataFrame:
        names = [str(c) for c in (classes or range(pred.shape[1]))]
        prob_cols = columns[1:]
        if len(prob_cols) != len(names):
            raise KKError(
                f"the sample submission has {len(prob_cols)} prediction column(s) but a multiclass "
                f"probabilities submission needs one per class ({len(names)}); "
                'set competition.submission_format = "labels" or fix the sample submission'
            )
        # Column names that differ from the labels (e.g. Class_1..Class_9) keep their order.
        same = sorted(prob_cols) == sorted(names)
        mapping = {n: n for n in names} if same else dict(zip(names, prob_cols, strict=True))
        return pd.DataFrame({mapping[n]: pred[:, i] for i, n in enumerate(names)})[prob_cols]

    def level2_features(self, preds: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(preds, dtype=float), _LEVEL2_CLIP, 1.0 - _LEVEL2_CLIP)
        n_members, n_rows, n_classes = p.shape
        return np.asarray(np.log(p).transpose(1, 0, 2).reshape(n_rows, n_members * n_classes))

    def _stacker_proba(self, estimator: Any, proba: np.ndarray, n_classes: int) -> np.ndarray:
        # A fold may lack a class: put each learned class back in its own column.
        full = np.zeros((proba.shape[0], n_classes))
        full[:, estimator.classes_] = proba
        return full

    def member_weights(self, coefs: np.ndarray, n_members: int, n_classes: int) -> np.ndarray:
        # coefs (k, n_members * k): a member's weight is the mean of its coefficients on
        # its own log-probability of each class, for that class.
        return np.array(
            [
                np.mean([coefs[c, m * n_classes + c] for c in range(n_classes)])
                for m in range(n_members)
            ]
        )


register_task(Binary())
register_task(Multiclass())
