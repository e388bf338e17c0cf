"""One object per task: what differs between binary, multiclass and regression lives here.

The CV loop, submissions, ensembling, folds and reports ask the task instead of
branching on its name: how the target is encoded, the shape of OOF and test predictions,
how fold predictions are combined, how a submission is built, checked and scored, and
what a stacker sees. A new task (ranking, top-K recommendation) is a new class here.

Prediction spaces (the same for every model, see ``kagglekit.metrics``):

- binary: shape (n,), probability of the positive class (encoded 1);
- multiclass: shape (n, k), class probabilities in encoded class order;
- regression: shape (n,), values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from kagglekit.errors import KKError, unknown_name
from kagglekit.metrics import to_labels

if TYPE_CHECKING:
    from kagglekit.config import CompetitionConfig

_LEVEL2_CLIP = 1e-2  # probability clip before logits (chosen on bench/ensemble.py)


def _plain(value: Any) -> Any:
    """A numpy scalar as a plain Python value (for records and messages)."""
    return value.item() if hasattr(value, "item") else value


@dataclass(frozen=True)
class Task:
    """The behaviour shared by every task; subclasses fill in what differs."""

    name: ClassVar[str] = ""
    formats: ClassVar[tuple[str, ...]] = ()
    is_classification: ClassVar[bool] = False
    # Whether a run keeps each fold model's test predictions (test_folds.npy), which
    # pseudo-labelling reads; a ranking's lists are big and have no labels to lend.
    keeps_fold_tests: ClassVar[bool] = False
    # What kk report draws from the best run's OOF predictions.
    oof_plots: ClassVar[tuple[str, ...]] = ()

    # --- the target ---------------------------------------------------------------------
    def encode(
        self, target: Any, *, classes: Sequence[Any] | None = None
    ) -> tuple[np.ndarray, list[Any] | None]:
        """Encoded target and class list (index = encoded value; None for values)."""
        raise NotImplementedError

    def n_outputs(self, classes: Sequence[Any] | None) -> int:
        """Columns of one row's prediction (1 for a (n,) prediction)."""
        return 1

    def outputs_for(self, comp: CompetitionConfig, classes: Sequence[Any] | None) -> int:
        """``n_outputs`` for a competition (a ranking task's list depth comes from its K)."""
        return self.n_outputs(classes)

    def stratify_labels(self, y: np.ndarray) -> np.ndarray:
        """Labels that stratified folds balance (the encoded classes by default)."""
        return np.asarray(y)

    # --- predictions --------------------------------------------------------------------
    def empty_predictions(self, n_repeats: int, n_rows: int, n_outputs: int) -> np.ndarray:
        """An OOF array for every repeat, NaN where a row was not validated (yet)."""
        shape = (n_repeats, n_rows) if n_outputs == 1 else (n_repeats, n_rows, n_outputs)
        return np.full(shape, np.nan)

    def combine(self, fold_predictions: Sequence[np.ndarray]) -> np.ndarray:
        """Test predictions of the fold models combined into one (their mean)."""
        return np.asarray(np.mean(np.stack(fold_predictions), axis=0))

    def constant_prediction(self, n_rows: int, n_outputs: int) -> np.ndarray:
        """A valid prediction of the right shape, to check the submission format early."""
        return (
            np.full(n_rows, 0.5) if n_outputs == 1 else np.full((n_rows, n_outputs), 1 / n_outputs)
        )

    # --- submissions --------------------------------------------------------------------
    def check_format(self, submission_format: str) -> None:
        """Refuse a submission format that does not fit the task."""
        if submission_format not in self.formats:
            raise KKError(
                f"submission_format '{submission_format}' does not fit a {self.name} task; "
                f"use {' or '.join(repr(f) for f in self.formats)}"
            )

    def submission_body(
        self,
        pred: np.ndarray,
        comp: CompetitionConfig,
        columns: list[str],
        classes: Sequence[Any] | None,
    ) -> pd.DataFrame:
        """The prediction columns of a submission (the id column is added by the caller)."""
        raise NotImplementedError

    def value_problems(
        self, col: str, values: pd.Series, comp: CompetitionConfig, allowed: Sequence[Any] | None
    ) -> list[str]:
        """What is wrong with one prediction column of a submission."""
        if not pd.api.types.is_numeric_dtype(values):
            return [f"column '{col}' is not numeric (dtype {values.dtype}); expected numbers"]
        arr = values.to_numpy(dtype=float)
        if not np.isfinite(arr).all():
            return [f"column '{col}' has {int((~np.isfinite(arr)).sum())} inf value(s)"]
        return []

    def dataset_problems(
        self, sub: pd.DataFrame, dataset: Any, comp: CompetitionConfig
    ) -> list[str]:
        """What is wrong with a submission given the train data (a ranked list naming
        items the user already has); nothing for most tasks."""
        return []

    def scored_arrays(
        self,
        truth: pd.Series,
        sub: pd.DataFrame,
        pred_cols: list[str],
        comp: CompetitionConfig,
        classes: Sequence[Any],
        needs: str,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Truth and submission turned into the metric's inputs (prediction space)."""
        raise NotImplementedError

    # --- ensembling ---------------------------------------------------------------------
    # Member predictions blend by a weighted average (hill climbing keeps a running sum);
    # a task whose predictions do not average (ranked lists) sets False and has ``blend``.
    blends_by_average: ClassVar[bool] = True

    def blend(self, preds: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Member predictions (n_members, ...) combined with ``weights`` (n_members,)."""
        w = np.asarray(weights, dtype=float)
        return np.asarray(np.tensordot(w, preds, axes=1) / float(w.sum()))

    def level2_features(self, preds: np.ndarray) -> np.ndarray:
        """Stacker inputs from member predictions (n_members, n_rows[, k]) -> (n_rows, m)."""
        raise NotImplementedError

    def level2_estimator(self, *, C: float, seed: int) -> Any:
        """The scikit-learn stacker for this task."""
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=C, max_iter=2000, random_state=seed)

    def level2_predict(self, estimator: Any, X: Any, n_classes: int) -> np.ndarray:
        """Stacker predictions in the task's prediction space."""
        raise NotImplementedError


@dataclass(frozen=True)
class _Classification(Task):
    is_classification: ClassVar[bool] = True
    keeps_fold_tests: ClassVar[bool] = True
    oof_plots: ClassVar[tuple[str, ...]] = ("confusion_matrix", "roc_curve")
    formats: ClassVar[tuple[str, ...]] = ("labels", "probabilities")

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

    def _check_n_classes(self, classes: list[Any]) -> None:
        if len(classes) < 2:
            raise KKError(
                f"the target has only {len(classes)} class ({classes}); a classifier needs two "
                "or more: check competition.target_column"
            )

    def submission_body(
        self,
        pred: np.ndarray,
        comp: CompetitionConfig,
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
        self, col: str, values: pd.Series, comp: CompetitionConfig, allowed: Sequence[Any] | None
    ) -> list[str]:
        if comp.submission_format == "labels":
            if allowed is None:
                return []
            allowed_text = {str(v) for v in allowed}
            bad = values[~values.astype(str).isin(allowed_text)]
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
        comp: CompetitionConfig,
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
        return self._from_proba(estimator, proba, n_classes)

    def _from_proba(self, estimator: Any, proba: np.ndarray, n_classes: int) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class Binary(_Classification):
    name: ClassVar[str] = "binary"

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

    def _from_proba(self, estimator: Any, proba: np.ndarray, n_classes: int) -> np.ndarray:
        return np.asarray(proba[:, 1], dtype=float)


@dataclass(frozen=True)
class Multiclass(_Classification):
    name: ClassVar[str] = "multiclass"

    def n_outputs(self, classes: Sequence[Any] | None) -> int:
        return len(classes or [])

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

    def _from_proba(self, estimator: Any, proba: np.ndarray, n_classes: int) -> np.ndarray:
        # A fold may lack a class: put each learned class back in its own column.
        full = np.zeros((proba.shape[0], n_classes))
        full[:, estimator.classes_] = proba
        return full


@dataclass(frozen=True)
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
        comp: CompetitionConfig,
        columns: list[str],
        classes: Sequence[Any] | None,
    ) -> pd.DataFrame:
        return pd.DataFrame({columns[1]: np.asarray(pred, dtype=float)})

    def scored_arrays(
        self,
        truth: pd.Series,
        sub: pd.DataFrame,
        pred_cols: list[str],
        comp: CompetitionConfig,
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


_TASKS: dict[str, Task] = {t.name: t for t in (Binary(), Multiclass(), Regression())}
# Tasks registered by a sub-package, imported when first asked for.
_LAZY_TASKS = {"ranking": "kagglekit.recsys.ranking"}


def register_task(task: Task) -> Task:
    """Add a task (the recommender and ranking kinds add theirs)."""
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The task object for a ``competition.task`` name."""
    if name not in _TASKS and name in _LAZY_TASKS:
        import importlib

        importlib.import_module(_LAZY_TASKS[name])
    task = _TASKS.get(name)
    if task is None:
        raise unknown_name("task", name, _TASKS)
    return task
