"""A project's data made ready for the CV loop, and the model factory it calls per fold.

Below both the loop (``training.cv``) and pseudo-labels (``training.pseudo``): what a run
reads (data, encoded target, saved folds) and everything about a model entry that can be
checked before a run folder exists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import kagglekit.features as feat
import kagglekit.folds as folds_mod
import kagglekit.loaders as loaders
import kagglekit.submission as submission
import kagglekit.tasks as tasks_mod
from kagglekit.config import CompetitionConfig, ProjectConfig
from kagglekit.errors import KKError, unknown_name
from kagglekit.metrics import get_metric
from kagglekit.models import Backend, Model, backend_names, get_backend
from kagglekit.models.base import BuildContext
from kagglekit.project import Project
from kagglekit.tasks import Task

__all__ = [
    "Prepared",
    "check_submission_format",
    "encode_target",
    "model_backend",
    "model_factory",
    "n_outputs",
    "prepare",
]


@dataclass
class Prepared:
    """A project's data, ready for the CV loop, whatever its kind."""

    X: Any
    y: np.ndarray
    X_test: Any
    ids: pd.Series
    test_ids: pd.Series
    classes: list[Any] | None
    folds: folds_mod.Folds
    dataset: loaders.Dataset
    project_steps: dict[str, Any]
    task: Task

    @property
    def kind(self) -> str:
        return self.dataset.kind

    @property
    def sample_submission(self) -> pd.DataFrame:
        return self.dataset.sample_submission

    @property
    def info(self) -> dict[str, Any]:
        return {"n_classes": len(self.classes or []), **self.dataset.info}


def encode_target(target: pd.Series, task: str) -> tuple[np.ndarray, list[Any] | None]:
    """Encoded target and class list (sorted labels; index = encoded value)."""
    return tasks_mod.get_task(task).encode(target)


def prepare(project: Project, cfg: ProjectConfig) -> Prepared:
    """Load the data through the project's loader, encode the target, read the saved folds.

    Tables also go through the project's feature function and column checks here.
    """
    comp_cfg = cfg.competition
    module = project.import_module()  # registers the project's own loaders and backends
    dataset = loaders.load_dataset(project, cfg)
    task = tasks_mod.get_task(comp_cfg.task)
    folds = folds_mod.load_folds(project, ids=dataset.ids, id_column=comp_cfg.id_column)
    _check_cv_matches_folds(project, cfg)
    y, classes = task.encode(dataset.target, classes=dataset.classes)
    X, X_test = dataset.X, dataset.X_test
    if isinstance(X, pd.DataFrame):
        X, X_test = feat.prepare_frames(X, X_test, cfg, module)
    return Prepared(
        X=X,
        y=y,
        X_test=X_test,
        ids=dataset.ids,
        test_ids=dataset.test_ids,
        classes=classes,
        folds=folds,
        dataset=dataset,
        project_steps=dict(getattr(module, "FOLD_STEPS", {}) or {}),
        task=task,
    )


def _check_cv_matches_folds(project: Project, cfg: ProjectConfig) -> None:
    """Refuse a config whose CV scheme is not the one the saved folds were made with."""
    saved = (folds_mod.folds_meta(project) or {}).get("cv") or {}
    wanted = cfg.cv.model_dump()
    for key, old in saved.items():
        if key in wanted and wanted[key] != old:
            raise KKError(
                f"cv.{key} = {wanted[key]!r} in the config but the saved folds use {old!r}; "
                f"run `kk folds {project.name}` to assign folds for the new scheme"
            )


def model_backend(cfg: ProjectConfig, model_name: str) -> Backend:
    """The backend of a model entry, or one line naming the entry and the known backends."""
    name, entry = cfg.model(model_name)
    if entry.backend not in backend_names():
        raise unknown_name(f"models.{name}.backend", entry.backend, backend_names())
    return get_backend(entry.backend, task=cfg.competition.task)


def model_factory(
    cfg: ProjectConfig,
    model_name: str,
    prepared: Prepared,
    params: dict[str, Any] | None = None,
    *,
    smoke: bool = False,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> Callable[[], Model]:
    """A function that builds a fresh, unfitted model for one fold.

    Everything that can be checked without fitting is checked here, before a run folder
    exists: the backend's name, the data it reads, parameter names and values, and (for
    tables) the feature steps.
    """
    name, entry = cfg.model(model_name)
    task = prepared.task  # backends get the Task, not its name
    backend = model_backend(cfg, name)
    backend.check_accepts(prepared.kind, model=name)
    # A resolved config (a kernel's, a run's) spells out every field, so only a value other
    # than the default counts as the user asking for early stopping.
    default_rounds = type(entry).model_fields["early_stopping_rounds"].default
    stops = entry.early_stopping_rounds not in (0, default_rounds)
    if stops and backend.family != "gbdt":
        raise KKError(
            f"models.{name}.early_stopping_rounds = {entry.early_stopping_rounds} but backend "
            f"'{backend.name}' cannot stop early; remove it"
            + (" (torch models stop on params.patience)" if backend.family == "torch" else "")
        )
    merged = {**entry.params, **(params or {})}
    backend.check_params(merged, task)
    holdout = entry.early_stopping_holdout
    if holdout > 0 and not backend.holds_out:
        raise KKError(
            f"models.{name}.early_stopping_holdout = {holdout} but backend '{backend.name}' "
            "chooses no rounds or epochs on validation rows, so it has nothing to hold "
            "training rows out for; remove it"
        )
    if holdout > 0 and merged.get("keep") == "last":
        raise KKError(
            f"models.{name}.early_stopping_holdout = {holdout} holds training rows out to "
            "choose the epoch on, but params.keep = 'last' chooses none; remove one of them"
        )
    ctx = BuildContext(
        task=task,
        n_classes=len(prepared.classes or []),
        seed=entry.seed,
        params=merged,
        early_stopping_rounds=entry.early_stopping_rounds,
        early_stopping_holdout=entry.early_stopping_holdout,
        metric=get_metric(cfg.competition.metric),
        threshold=cfg.competition.threshold,
        info=prepared.info,
        smoke=smoke,
        extras={"progress": on_progress} if on_progress is not None else {},
        features=cfg.features,
        steps=tuple(entry.steps),
        project_steps=prepared.project_steps,
    )
    if backend.check_values is not None:
        backend.check_values(ctx)

    def make() -> Model:
        return backend.build(ctx)

    make()  # unknown or unusable feature steps and nets fail here, before a run folder exists
    return make


def n_outputs(cfg: ProjectConfig, classes: Sequence[Any] | None) -> int:
    return tasks_mod.get_task(cfg.competition.task).outputs_for(cfg.competition, classes)


def check_submission_format(prepared: Prepared, comp: CompetitionConfig) -> None:
    """Build and validate a submission from a constant prediction before any fold runs.

    A format that cannot match the sample submission (say probabilities for a sample of
    labels) fails here in one line, not after hours of training.
    """
    n_out = prepared.task.outputs_for(comp, prepared.classes)
    fake = prepared.task.constant_prediction(len(prepared.test_ids), n_out)
    sample = prepared.sample_submission
    try:
        sub = submission.build_submission(
            prepared.test_ids, fake, comp, classes=prepared.classes, sample=sample
        )
        submission.validate_submission(sub, sample, comp, allowed_labels=prepared.classes)
    except KKError as err:
        raise KKError(
            f"the submission format does not match the sample submission ({err}); fix "
            "competition.submission_format or the sample submission before training"
        ) from None
