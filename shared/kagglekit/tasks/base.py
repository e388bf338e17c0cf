"""The ``Task`` every task fills in, and the registry of tasks by name.

``Task`` holds what the loop, submissions, ensembling, pseudo-labels, reports and the
backends ask a task; its subclasses (``tasks.classification``, ``tasks.regression``,
``recsys.ranking``) fill in what differs. See the package docstring.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from kagglekit.errors import KKError, unknown_name


class Competition(Protocol):
    """What a task reads of the ``[competition]`` table (a ``config.CompetitionConfig``).

    A protocol rather than the config class, so that tasks sit below config: the config's
    validator asks the task and the metric about its values, and a task never imports it.
    """

    @property
    def submission_format(self) -> str: ...

    @property
    def threshold(self) -> float: ...

    @property
    def metric(self) -> str: ...

    @property
    def target_column(self) -> str: ...


@dataclass(frozen=True, eq=False)
class Task:
    """The behaviour shared by every task; subclasses fill in what differs.

    A task equals (and hashes as) its name, and prints as it: a project's own backend
    written when ``BuildContext.task`` was the name (``ctx.task == "regression"``) keeps
    working. Subclasses are ``@dataclass(frozen=True, eq=False)`` to keep that.
    """

    name: ClassVar[str] = ""
    formats: ClassVar[tuple[str, ...]] = ()
    is_classification: ClassVar[bool] = False
    # Whether a run keeps each fold model's test predictions (test_folds.npy), which
    # pseudo-labelling reads; a ranking's lists are big and have no labels to lend.
    keeps_fold_tests: ClassVar[bool] = False
    # What kk report draws from the best run's OOF predictions.
    oof_plots: ClassVar[tuple[str, ...]] = ()
    # One probability per row, of the class encoded 1, labelled by competition.threshold:
    # a decision threshold means something (text models tune it and record it).
    uses_threshold: ClassVar[bool] = False
    # A row's prediction is its user's ranked list of item codes (n, depth), not a value
    # or class probabilities: recommenders score lists instead of (user, item) pairs.
    predicts_lists: ClassVar[bool] = False
    # What scikit-learn's ``type_of_target`` calls the encoded target (``TargetEncoder``).
    sklearn_target_type: ClassVar[str] = "continuous"

    @property
    def stratifies(self) -> bool:
        """Whether a random holdout of rows keeps the class shares (early stopping rows, a
        threshold's rows, a made-up competition's test rows): for classes only."""
        return self.is_classification

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return other == self.name
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(self.name)

    def __str__(self) -> str:
        return self.name

    # --- the target ---------------------------------------------------------------------
    def encode(
        self, target: Any, *, classes: Sequence[Any] | None = None
    ) -> tuple[np.ndarray, list[Any] | None]:
        """Encoded target and class list (index = encoded value; None for values)."""
        raise NotImplementedError

    def n_outputs(self, classes: Sequence[Any] | None) -> int:
        """Columns of one row's prediction (1 for a (n,) prediction)."""
        return 1

    def outputs_for(self, comp: Competition, classes: Sequence[Any] | None) -> int:
        """``n_outputs`` for a competition (a ranking task's list depth comes from its K)."""
        return self.n_outputs(classes)

    def stratify_labels(self, y: np.ndarray) -> np.ndarray:
        """Labels that stratified folds balance (the encoded classes by default)."""
        return np.asarray(y)

    def allowed_labels(
        self, classes: Sequence[Any] | None, load_classes: Callable[[], list[Any] | None]
    ) -> list[Any] | None:
        """The values a submission's prediction column may name (class labels, item ids):
        the run's ``classes``, else ``load_classes()`` (which reads the train data);
        None where a submission holds numbers (regression)."""
        return list(classes) if classes is not None else load_classes()

    def default_scoring(self, submission_format: str) -> tuple[str, str]:
        """(metric, submission_format) that a new project of this task scores with."""
        raise KKError(f"a {self.name} competition has no default metric; set competition.metric")

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

    def trivial_prediction(
        self, y_train: np.ndarray, n_rows: int, n_outputs: int = 1
    ) -> np.ndarray | None:
        """What a model that learned nothing but the training target predicts for ``n_rows``
        rows (the majority class, the mean): the baseline a run must beat. None: no such
        baseline for this task."""
        return None

    def label_shares(self, pred: np.ndarray, threshold: float) -> np.ndarray | None:
        """Share of the rows each encoded class is predicted for (None: not a classifier)."""
        return None

    def from_proba(self, proba: np.ndarray) -> np.ndarray:
        """A classifier's ``predict_proba`` (n, k) in the task's prediction space."""
        raise KKError(f"a {self.name} task has no class probabilities")

    def sklearn_predict(self, estimator: Any, X: Any) -> np.ndarray:
        """A fitted scikit-learn estimator's predictions in the task's prediction space
        (float64): probabilities of a classifier, values of a regressor."""
        return self.from_proba(np.asarray(estimator.predict_proba(X), dtype=np.float64))

    def confident_labels(
        self, test_pred: np.ndarray, confidence: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Row indices and encoded labels of the test predictions at least ``confidence``
        sure (pseudo-labels)."""
        raise KKError(
            f"task '{self.name}' has no class labels to pseudo-label test rows with; remove "
            "pseudo_labels"
        )

    # --- torch nets (kagglekit.torch.trainer; torch is imported only when a net trains) ---
    def net_outputs(self, n_classes: int) -> int:
        """Output units of a torch net for this task and class count; a one-line error
        for a task no net learns directly or too few classes."""
        raise self._no_net()

    def check_codes(self, y: np.ndarray, n_classes: int, name: str) -> None:
        """Refuse a target a net cannot train on: class indices out of range (classes)."""

    def torch_targets(self, y: Any) -> Any:
        """The encoded target as the tensor the loss takes (float32; class indices int64)."""
        import torch

        return torch.as_tensor(np.asarray(y), dtype=torch.float32)

    def torch_loss(
        self,
        out: Any,
        y: Any,
        *,
        n_classes: int,
        smoothing: float = 0.0,
        reduction: str = "mean",
    ) -> Any:
        """The training loss of a net's raw outputs ``out`` against targets ``y``
        (``label_smoothing`` for classes); a one-line error for outputs of the wrong shape."""
        raise self._no_net()

    def torch_predict(self, out: Any) -> Any:
        """A net's raw outputs (logits) as predictions in the task's prediction space."""
        raise self._no_net()

    def _no_net(self) -> KKError:
        return KKError(
            f"task {self.name!r} is not one the torch trainer serves (binary, multiclass, "
            "regression)"
        )

    def _one_per_row(self, out: Any, y: Any) -> Any:
        """``out`` shaped like ``y`` when the net gives one value per row, else the error."""
        if out.numel() != y.numel():
            raise KKError(
                f"the net outputs shape {tuple(out.shape)} but a {self.name} task needs one "
                "value per row, (batch, 1); build the net with n_outputs = 1"
            )
        return out.reshape(y.shape)

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
        comp: Competition,
        columns: list[str],
        classes: Sequence[Any] | None,
    ) -> pd.DataFrame:
        """The prediction columns of a submission (the id column is added by the caller)."""
        raise NotImplementedError

    def value_problems(
        self, col: str, values: pd.Series, comp: Competition, allowed: Sequence[Any] | None
    ) -> list[str]:
        """What is wrong with one prediction column of a submission."""
        if not pd.api.types.is_numeric_dtype(values):
            return [f"column '{col}' is not numeric (dtype {values.dtype}); expected numbers"]
        arr = values.to_numpy(dtype=float)
        if not np.isfinite(arr).all():
            return [f"column '{col}' has {int((~np.isfinite(arr)).sum())} inf value(s)"]
        return []

    def dataset_problems(self, sub: pd.DataFrame, dataset: Any, comp: Competition) -> list[str]:
        """What is wrong with a submission given the train data (a ranked list naming
        items the user already has); nothing for most tasks."""
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

    def member_weights(self, coefs: np.ndarray, n_members: int, n_classes: int) -> np.ndarray:
        """One weight per member from the stacker's coefficients ``coefs`` (as its
        ``learned()['coef']``: (1, n_members) for one prediction column per member)."""
        return np.asarray(coefs)[0]


# name -> task; kagglekit.tasks registers binary, multiclass and regression on import.
_TASKS: dict[str, Task] = {}
# Tasks registered by a sub-package, imported when first asked for.
_LAZY_TASKS = {"ranking": "kagglekit.recsys.ranking"}


def register_task(task: Task) -> Task:
    """Add a task (the recommender and ranking kinds add theirs)."""
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    """The task object for a ``competition.task`` name."""
    if name not in _TASKS and name in _LAZY_TASKS:
        importlib.import_module(_LAZY_TASKS[name])
    task = _TASKS.get(name)
    if task is None:
        raise unknown_name("task", name, _TASKS)
    return task


def as_task(task: Task | str) -> Task:
    """``task`` itself, or the task of that name: what a public function that takes a
    task (a model, a context, a feature step) accepts, so a notebook may pass the name."""
    return task if isinstance(task, Task) else get_task(task)


def task_name(task: Task | str) -> str:
    """The name of ``task`` (a task or a name), as run records and registries keep it."""
    return task if isinstance(task, str) else task.name
