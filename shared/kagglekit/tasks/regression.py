"""Regression: the target and a prediction are values, shape (n,)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from kagglekit.errors import KKError
from kagglekit.tasks.base import Competition, Task, register_task


@dataclass(frozen=True, eq=False)
class Regression(Task):
    name: ClassVar[str] = "regression"
    formats: ClassVar[tuple[str, ...]] = ("values",)
    oof_plots: ClassVar[tuple[str, ...]] = ("residuals",)

    def encode(
        self, target: Any, *, classes: Sequence[Any] | None = None
    ) -> tuple[np.ndarray, list[Any] | None]:
        values = pd.Series(target)
        if not pd.api.types.is_numeric_dtype(values):
            raise KKError(
                f"task 'regression' but the target is not numeric (dtype {values.dtype}); "
                'set competition.task = "binary" or "multiclass"'
            )
        if values.isna().any():
            raise KKError(f"the target has {int(values.isna().sum())} missing value(s) in train")
        return values.to_numpy(dtype=np.float64), None

    def allowed_labels(
        self, classes: Sequence[Any] | None, load_classes: Callable[[], list[Any] | None]
    ) -> list[Any] | None:
        return None

    def default_scoring(self, submission_format: str) -> tuple[str, str]:
        return "rmse", "values"

    def trivial_prediction(
        self, y_train: np.ndarray, n_rows: int, n_outputs: int = 1
    ) -> np.ndarray | None:
        return np.full(n_rows, float(np.mean(y_train)))

    def sklearn_predict(self, estimator: Any, X: Any) -> np.ndarray:
        return np.asarray(estimator.predict(X), dtype=np.float64)

    def net_outputs(self, n_classes: int) -> int:
        return 1

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

        return F.mse_loss(self._one_per_row(out, y), y, reduction=reduction)

    def torch_predict(self, out: Any) -> Any:
        return out.reshape(out.shape[0])

    def stratify_labels(self, y: np.ndarray) -> np.ndarray:
        # Values are cut into up to 10 quantile bins, so each fold spans the whole range.
        n_bins = int(min(10, max(2, len(y) // 50)))
        ranks = pd.Series(y).rank(method="first")
        return np.asarray(pd.qcut(ranks, n_bins, labels=False).to_numpy())

    def constant_prediction(self, n_rows: int, n_outputs: int) -> np.ndarray:
        return np.zeros(n_rows)

    def submission_body(
        self,
        pred: np.ndarray,
        comp: Competition,
        columns: list[str],
        classes: Sequence[Any] | None,
    ) -> pd.DataFrame:
        return pd.DataFrame({columns[1]: np.asarray(pred, dtype=float)})

    def scored_arrays(
        self,
        truth: pd.Series,
        sub: pd.DataFrame,
        pred_cols: list[str],
        comp: Competition,
        classes: Sequence[Any],
        needs: str,
    ) -> tuple[np.ndarray, np.ndarray]:
        return truth.to_numpy(dtype=float), sub[pred_cols[0]].to_numpy(dtype=float)

    def level2_features(self, preds: np.ndarray) -> np.ndarray:
        return np.asarray(np.asarray(preds, dtype=float).T)

    def level2_estimator(self, *, C: float, seed: int) -> Any:
        from sklearn.linear_model import LinearRegression

        return LinearRegression(positive=True)

    def level2_predict(self, estimator: Any, X: Any, n_classes: int) -> np.ndarray:
        return np.asarray(estimator.predict(X), dtype=float)


register_task(Regression())
