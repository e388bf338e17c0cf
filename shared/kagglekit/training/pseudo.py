"""Pseudo-labelling: each fold's model also trains on test rows a teacher labelled.

The teacher is an earlier run on the same folds. Fold k of the new run adds the test
rows that the teacher's fold-k model (which never saw fold k's validation rows) labelled
with at least ``confidence``, so the CV stays honest: no label of a row fold k is scored
on reaches its model, not even through the teacher. Labels from the teacher's
fold-averaged test predictions would leak: every other fold's model saw those rows, and
a competition's test set often holds near-copies of training rows (retweets here).

Configured per model entry (``config.toml``)::

    [models.finetune_pl]
    backend = "transformer"
    params = { ... }
    pseudo_labels = { run = "20261203-...-finetune-1a2b", confidence = 0.9 }

The pseudo-labelled rows come after the fold's own training rows; a model's own
holdouts (``early_stopping_holdout``, ``threshold_holdout``) draw from both.

Hand-written because no library does it over arbitrary models: the CV loop is ours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

import kagglekit.records as records
from kagglekit.errors import KKError
from kagglekit.models.base import concat, take
from kagglekit.training.prepare import Prepared

if TYPE_CHECKING:
    from kagglekit.config import ProjectConfig
    from kagglekit.project import Project
    from kagglekit.tasks import Task


@dataclass(frozen=True)
class PseudoLabels:
    """The test rows (and their labels) each split of a run adds to its training rows."""

    teacher: str
    confidence: float
    X_test: Any
    rows: Sequence[np.ndarray]  # per split, in Folds.splits() order: test row indices
    labels: Sequence[np.ndarray]

    def extend(self, index: int, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
        """The training rows of split ``index`` with its pseudo-labelled test rows after them."""
        rows = self.rows[index]
        return concat([X, take(self.X_test, rows)]), np.concatenate(
            [y, self.labels[index].astype(y.dtype, copy=False)]
        )

    def summary(self) -> dict[str, Any]:
        """What the run record says about them."""
        return {
            "run": self.teacher,
            "confidence": self.confidence,
            "rows": [len(r) for r in self.rows],
        }


def confident_labels(
    task: Task, test_pred: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices and encoded labels of the predictions at least ``confidence`` sure.

    Binary predictions are P(class 1): a row is kept when it or its complement reaches
    ``confidence``; multiclass rows when their largest probability does
    (``Task.confident_labels``).
    """
    return task.confident_labels(test_pred, confidence)


def load(
    project: Project, cfg: ProjectConfig, model_name: str, prepared: Prepared
) -> PseudoLabels | None:
    """The pseudo-labels model entry ``model_name`` asks for, checked against its teacher.

    None when the entry has no ``pseudo_labels``. Every way a teacher cannot serve (not
    found, not finished, other folds, another test set, an ensemble, a run from before
    runs kept their fold models' test predictions) is one line naming the fix.
    """
    name, entry = cfg.model(model_name)
    asked = entry.pseudo_labels
    if asked is None:
        return None
    key = f"models.{name}.pseudo_labels"
    task = prepared.task
    if not task.keeps_fold_tests:
        raise KKError(
            f"{key}: task '{task.name}' has no class labels to pseudo-label test rows with; "
            "remove it"
        )
    # Not `best` or a model name: the teacher of a config must not change as runs finish.
    teacher = records.find_run(project.runs_dir, asked.run, copies=True, by_name=False)
    rid = teacher.run_id
    if teacher.record.get("backend") == "ensemble":
        raise KKError(
            f"{key}.run = '{rid}' is an ensemble; its weights were chosen on every fold's "
            "rows, so its labels would leak the rows each fold is scored on: name one of "
            "its member runs"
        )
    if teacher.status != "COMPLETE":
        raise KKError(
            f"{key}.run = '{rid}' is {teacher.status}; finish it first (kk train resumes it) "
            "or name a COMPLETE run"
        )
    if teacher.record.get("fold_hash") != prepared.folds.hash:
        raise KKError(
            f"{key}.run = '{rid}' was trained on other folds (hash "
            f"{teacher.record.get('fold_hash')}, now {prepared.folds.hash}): its fold models "
            "saw rows these folds score on; train the teacher again on these folds"
        )
    if not teacher.has_array("test_folds"):
        raise KKError(
            f"{key}.run = '{rid}' kept no per-fold test predictions (test_folds.npy: runs "
            "before kagglekit kept them); train the teacher again"
        )
    per_split = teacher.load_array("test_folds")
    n_splits = prepared.folds.n_splits * prepared.folds.n_repeats
    n_test = len(prepared.test_ids)
    if per_split.shape[0] != n_splits or per_split.shape[1] != n_test:
        raise KKError(
            f"{key}.run = '{rid}' predicted {per_split.shape[1]} test rows in "
            f"{per_split.shape[0]} folds, but now there are {n_test} in {n_splits}; the data "
            "changed since, so train the teacher again"
        )
    found = [confident_labels(task, p, asked.confidence) for p in per_split]
    return PseudoLabels(
        teacher=rid,
        confidence=asked.confidence,
        X_test=prepared.X_test,
        rows=[rows for rows, _ in found],
        labels=[labels for _, labels in found],
    )


def for_smoke(labels: PseudoLabels | None, n_test: int) -> PseudoLabels | None:
    """The first split's pseudo-labels among the first ``n_test`` test rows (kk train
    --smoke fits one small fold on those)."""
    if labels is None:
        return None
    keep = labels.rows[0] < n_test
    return PseudoLabels(
        teacher=labels.teacher,
        confidence=labels.confidence,
        X_test=take(labels.X_test, np.arange(n_test)),
        rows=[labels.rows[0][keep]],
        labels=[labels.labels[0][keep]],
    )
