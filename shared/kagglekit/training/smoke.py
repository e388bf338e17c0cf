"""``kk train --smoke``: one short fold on a few hundred rows, nothing recorded.

In the spirit of Lightning's ``fast_dev_run``: every model entry of every project can be
checked to run end to end in seconds (what CI does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import kagglekit.folds as folds_mod
import kagglekit.training.baseline as baseline
import kagglekit.training.pseudo as pseudo_mod
from kagglekit.config import ProjectConfig
from kagglekit.metrics import get_metric
from kagglekit.models.base import take
from kagglekit.project import Project
from kagglekit.training.cv import cross_validate
from kagglekit.training.prepare import Prepared, model_factory, n_outputs, prepare
from kagglekit.training.run import small_learned

__all__ = ["SmokeResult", "smoke_test"]


@dataclass
class SmokeResult:
    """What ``kk train --smoke`` reports: one short fold on a few hundred rows."""

    model: str
    score: float
    seconds: float
    n_train: int
    n_valid: int
    learned: dict[str, Any]
    # The trivial model's score on the same rows, and why the model looks broken
    # (``training.baseline``; None: it does not).
    baseline: float | None = None
    degenerate: str | None = None


def smoke_test(
    project: Project,
    cfg: ProjectConfig,
    *,
    model_name: str | None = None,
    n_rows: int = 384,
    prepared: Prepared | None = None,
) -> SmokeResult:
    """Fit one model on a few hundred rows of the first fold for one or two epochs.

    ``prepared``: the project's data from ``prepare(project, cfg)``, when the caller
    smoke-tests several entries (``kk auto``) and loads it once.
    """
    name, _ = cfg.model(model_name)
    metric = get_metric(cfg.competition.metric)
    prepared = prepared if prepared is not None else prepare(project, cfg)
    make_model = model_factory(cfg, name, prepared, smoke=True)
    first = next(prepared.folds.splits())
    rng = np.random.default_rng(0)
    n_train = min(len(first.train_idx), n_rows * 2 // 3)
    n_valid = min(len(first.valid_idx), n_rows - n_train)
    rows = np.concatenate(
        [
            np.sort(rng.choice(first.train_idx, n_train, replace=False)),
            np.sort(rng.choice(first.valid_idx, n_valid, replace=False)),
        ]
    )
    assignment = np.r_[np.full(n_train, -1), np.zeros(n_valid, dtype=np.int64)][None, :]
    small = folds_mod.Folds(assignment=assignment, hash="smoke", kind="holdout", n_splits=1)
    n_test = min(len(prepared.test_ids), 64)
    X_test = take(prepared.X_test, np.arange(n_test))
    pseudo = pseudo_mod.for_smoke(pseudo_mod.load(project, cfg, name, prepared), n_test)
    result = cross_validate(
        take(prepared.X, rows),
        prepared.y[rows],
        small,
        make_model,
        metric,
        task=prepared.task,
        X_test=X_test,
        threshold=cfg.competition.threshold,
        n_outputs=n_outputs(cfg, prepared.classes),
        pseudo=pseudo,
    )
    fold = result.folds[0]
    y_small = prepared.y[rows]
    oof = result.oof_mean(prepared.task)[n_train:]
    trivial = baseline.baseline_cv(
        prepared.task,
        metric,
        y_small,
        small.splits(),
        threshold=cfg.competition.threshold,
        n_outputs=oof.shape[1] if oof.ndim == 2 else 1,
    )
    why = baseline.degenerate_reason(
        prepared.task,
        metric,
        y_small[n_train:],
        oof,
        threshold=cfg.competition.threshold,
        score=fold.score,
        baseline=trivial,
    )
    return SmokeResult(
        name,
        fold.score,
        fold.seconds,
        fold.n_train,
        fold.n_valid,
        small_learned(fold.learned),
        baseline=trivial,
        degenerate=why,
    )
