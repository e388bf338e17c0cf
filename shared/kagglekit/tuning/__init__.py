"""Hyperparameter tuning: Optuna over the project's saved folds.

``tune`` (below) is the entry point ``kk tune`` calls. The rooms, in the order a trial
meets them:

- ``spaces``: the search space, the backend's ``default_space`` with the model's
  ``[models.<name>.search]`` table laid over it;
- ``storage``: where the study lives (the project's journal file, or a database);
- ``study``: its sampler and pruner, its creation on the project's folds, heartbeats and
  the recovery of trials whose worker died;
- ``objective``: the CV score exactly as ``kk train`` computes it, reported fold by fold;
- ``pruners``: the fold pruners (a leaf module: Optuna and numpy only);
- ``workers``: trial loops in this process and in spawned local processes;
- ``results``: the study's summary, its best parameters as a params file, importances.

The study is created (and its folds checked) before any worker starts; a killed worker
loses only its unfinished trial, which the next start runs again.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import kagglekit.training as training
from kagglekit.config import ProjectConfig
from kagglekit.errors import KKError, unknown_name
from kagglekit.project import Project
from kagglekit.tuning.objective import EPOCH_SCORES, EPOCH_STARTUP_TRIALS, epoch_should_prune
from kagglekit.tuning.results import (
    IMPORTANCE_EVALUATOR,
    TuneResult,
    best_params,
    best_params_of,
    best_study_name,
    best_trial,
    importances,
    open_study,
    pruning_line,
    study_summary,
    tuned_model,
    write_params,
)
from kagglekit.tuning.spaces import SearchSpace, search_space
from kagglekit.tuning.storage import (
    GRACE_SECONDS,
    HEARTBEAT_SECONDS,
    RDB_SCHEMES,
    default_study_name,
    journal_path,
    open_storage,
    redact,
)
from kagglekit.tuning.study import (
    DEFAULT_PRUNER,
    DEFAULT_SAMPLER,
    PRUNERS,
    SAMPLERS,
    WORKER_ID_SEP,
    TuneSpec,
    create_study,
    heartbeat_dir,
    load_study,
    make_pruner,
    make_sampler,
    recover_stale,
    reports_fold_scores,
    worker_id,
)
from kagglekit.tuning.workers import (
    TrialEvent,
    available_cpus,
    cap_workers,
    run_worker,
    run_workers,
)

__all__ = [
    "DEFAULT_PRUNER",
    "DEFAULT_SAMPLER",
    "DEFAULT_TRIALS",
    "EPOCH_SCORES",
    "EPOCH_STARTUP_TRIALS",
    "GRACE_SECONDS",
    "HEARTBEAT_SECONDS",
    "IMPORTANCE_EVALUATOR",
    "PRUNERS",
    "RDB_SCHEMES",
    "SAMPLERS",
    "WORKER_ID_SEP",
    "SearchSpace",
    "TrialEvent",
    "TuneResult",
    "TuneSpec",
    "available_cpus",
    "best_params",
    "best_params_of",
    "best_study_name",
    "best_trial",
    "cap_workers",
    "create_study",
    "default_study_name",
    "epoch_should_prune",
    "heartbeat_dir",
    "importances",
    "journal_path",
    "load_study",
    "make_pruner",
    "make_sampler",
    "open_storage",
    "open_study",
    "pruning_line",
    "recover_stale",
    "redact",
    "reports_fold_scores",
    "run_worker",
    "search_space",
    "study_summary",
    "tune",
    "tuned_model",
    "worker_id",
    "write_params",
]

DEFAULT_TRIALS = 50


def tune(
    project: Project,
    cfg: ProjectConfig,
    *,
    model_name: str | None = None,
    n_trials: int | None = None,
    timeout: float | None = None,
    workers: int = 1,
    storage: str | None = None,
    study_name: str | None = None,
    prune: bool = True,
    sampler: str = DEFAULT_SAMPLER,
    pruner: str = DEFAULT_PRUNER,
    seed: int | None = None,
    overrides: tuple[str, ...] = (),
    on_trial: Callable[[TrialEvent], None] | None = None,
) -> TuneResult:
    """Tune one model's parameters over the project's saved folds.

    Runs ``n_trials`` trials in this call (shared by the ``workers`` local processes;
    default 50 when no ``timeout`` is given), stops starting trials after ``timeout``
    seconds, and adds them to the study, which other commands may share.

    Examples
    --------
    >>> result = tune(project, cfg, model_name="lightgbm", n_trials=20)  # doctest: +SKIP
    >>> result.summary()["best_value"]  # doctest: +SKIP
    """
    _check_limits(n_trials, timeout, workers)
    workers = cap_workers(workers, n_trials)
    if n_trials is None and timeout is None:
        n_trials = DEFAULT_TRIALS
    if sampler not in SAMPLERS:
        raise unknown_name("sampler", sampler, SAMPLERS)
    if pruner not in PRUNERS:
        raise unknown_name("pruner", pruner, PRUNERS)
    name, entry = cfg.model(model_name)
    prepared = training.prepare(project, cfg)  # imports the project's own backends first
    space = search_space(name, entry)
    backend = training.model_backend(cfg, name)
    backend.check_params({**entry.params, **space.fixed, **space.dimensions}, cfg.competition.task)
    spec = TuneSpec(
        project_name=project.name,
        project_root=str(project.root),
        model=name,
        study=study_name or default_study_name(name),
        storage=storage,
        overrides=tuple(overrides),
        sampler=sampler,
        pruner=pruner if prune else "none",
        seed=entry.seed if seed is None else seed,
    )
    study = create_study(spec, cfg, prepared.folds.hash, space)
    recovered = recover_stale(study, spec)
    started = time.perf_counter()
    n_new = run_workers(
        spec,
        workers=workers,
        prune=prune,
        n_trials=n_trials,
        deadline=None if timeout is None else time.time() + timeout,
        on_trial=on_trial,
        prepared=prepared,
    )
    wall = time.perf_counter() - started
    recovered += recover_stale(study, spec)  # a worker that died in this run
    return TuneResult(study=study, n_new=n_new, wall_seconds=wall, recovered=recovered)


def _check_limits(n_trials: int | None, timeout: float | None, workers: int) -> None:
    """One-line errors for limits no tuning can meet."""
    if workers < 1:
        raise KKError(f"--workers {workers} must be at least 1")
    if n_trials is not None and n_trials < 1:
        raise KKError(f"--trials {n_trials} must be at least 1")
    if timeout is not None and not timeout > 0:
        raise KKError(f"--timeout {timeout:g} must be a positive number of seconds")
