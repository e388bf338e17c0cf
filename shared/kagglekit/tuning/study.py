"""The study: its sampler and pruner, its creation on the project's folds, and its stale trials.

A worker records ``host:pid`` on each trial and keeps a heartbeat (a file beside the
journal, or Optuna's own heartbeat table in a database). On start, RUNNING trials whose
worker is gone (a dead pid on this host, or no heartbeat for ``GRACE_SECONDS``) are
marked FAIL and their parameters enqueued again, so a killed worker loses only its
unfinished trial and that trial is run again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kagglekit.config import ProjectConfig
from kagglekit.errors import KKError, unknown_name
from kagglekit.metrics import get_metric
from kagglekit.project import Project
from kagglekit.provenance import pid_alive
from kagglekit.tuning.spaces import SearchSpace
from kagglekit.tuning.storage import (
    GRACE_SECONDS,
    HEARTBEAT_SECONDS,
    import_optuna,
    journal_file,
    open_storage,
    requeue,
)

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

SAMPLERS = ("tpe", "random")
PRUNERS = ("paired", "median", "percentile", "none")
DEFAULT_SAMPLER = "tpe"
DEFAULT_PRUNER = "paired"
WORKER_ID_SEP = ":"

# --- samplers and pruners -------------------------------------------------------------


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """``tpe`` (default: multivariate TPE, constant liar for parallel workers) or ``random``."""
    optuna = import_optuna()
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise unknown_name("sampler", name, SAMPLERS)


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """Pruners that compare a trial with the finished trials on the same folds so far.

    ``paired`` (default) prunes a trial whose paired fold deficits against the best
    finished trial, with the spread such deficits have on this project's folds, leave it
    less than a 16 % chance of ending within a tie (two steps of a coarse metric such as
    accuracy; none for a continuous one) of the best; ``median`` prunes a running mean below
    the finished trials' median, ``percentile`` one outside their top quarter; ``none``
    never prunes (``--no-prune``). All wait for 5 finished trials. Measured with
    ``bench/tune.py`` on Titanic's grouped folds, a regression and a 20,000-row binary
    table (issue 36) and before that against Optuna's own pruners; figures in
    bench/README.md; the rule and what it assumes: ``kagglekit.tuning.pruners``.
    """
    import_optuna()
    import kagglekit.tuning.pruners as pruners  # imports optuna

    if name == "paired":
        return pruners.PairedFoldPruner(z=1.0, tie_steps=2.0, n_startup_trials=5)
    if name == "median":
        return pruners.FoldPercentilePruner(50.0, n_startup_trials=5)
    if name == "percentile":
        return pruners.FoldPercentilePruner(25.0, n_startup_trials=5)
    if name == "none":
        return pruners.NopPruner()
    raise unknown_name("pruner", name, PRUNERS)


def reports_fold_scores(pruner: optuna.pruners.BasePruner) -> bool:
    """Whether a trial reports each fold's own score or the running mean.

    Optuna's WilcoxonPruner pairs each fold's score with the best trial's score on the same
    fold (step = fold index); every other pruner compares running means.
    """
    optuna = import_optuna()
    return isinstance(pruner, optuna.pruners.WilcoxonPruner)


# --- the study ------------------------------------------------------------------------


@dataclass(frozen=True)
class TuneSpec:
    """Everything a worker process needs to rebuild the objective (picklable)."""

    project_name: str
    project_root: str
    model: str
    study: str
    storage: str | None
    overrides: tuple[str, ...] = ()
    sampler: str = DEFAULT_SAMPLER
    pruner: str = DEFAULT_PRUNER
    seed: int = 0

    @property
    def project(self) -> Project:
        return Project(name=self.project_name, root=Path(self.project_root))


def create_study(
    spec: TuneSpec, cfg: ProjectConfig, fold_hash: str, space: SearchSpace
) -> optuna.Study:
    """Create the study (or load it), checking that it was tuned on the same folds."""
    optuna = import_optuna()
    metric = get_metric(cfg.competition.metric)
    _, entry = cfg.model(spec.model)
    study = optuna.create_study(
        storage=open_storage(spec.project, spec.study, spec.storage),
        study_name=spec.study,
        direction="maximize" if metric.greater_is_better else "minimize",
        load_if_exists=True,
    )
    attrs = study.user_attrs
    if "kk_fold_hash" not in attrs:
        for key, value in {
            "kk_project": spec.project_name,
            "kk_model": spec.model,
            "kk_backend": entry.backend,
            "kk_metric": metric.name,
            "kk_fold_hash": fold_hash,
            "kk_space": space.describe(),
        }.items():
            study.set_user_attr(key, value)
        return study
    if attrs["kk_fold_hash"] != fold_hash or attrs.get("kk_metric") != metric.name:
        raise KKError(
            f"study '{spec.study}' was tuned on folds {attrs['kk_fold_hash'][:12]} with "
            f"{attrs.get('kk_metric')}, the project now has folds {fold_hash[:12]} with "
            f"{metric.name}; scores are not comparable: give a new --study NAME"
        )
    if attrs.get("kk_backend") != entry.backend:
        raise KKError(
            f"study '{spec.study}' tuned backend '{attrs.get('kk_backend')}', model "
            f"'{spec.model}' is '{entry.backend}'; give a new --study NAME"
        )
    if attrs.get("kk_space") != space.describe():
        log.warning("study '%s': the search space changed since it was created", spec.study)
    return study


def load_study(spec: TuneSpec, *, seed_offset: int = 0) -> optuna.Study:
    """Load an existing study with this run's sampler and pruner."""
    optuna = import_optuna()
    storage = open_storage(spec.project, spec.study, spec.storage)
    try:
        return optuna.load_study(
            study_name=spec.study,
            storage=storage,
            sampler=make_sampler(spec.sampler, spec.seed + seed_offset),
            pruner=make_pruner(spec.pruner),
        )
    except KeyError:
        known = optuna.get_all_study_names(storage)
        raise unknown_name("study", spec.study, known) from None


# --- heartbeats and stale trials ------------------------------------------------------


def worker_id() -> str:
    return f"{socket.gethostname()}{WORKER_ID_SEP}{os.getpid()}"


def heartbeat_dir(spec: TuneSpec) -> Path | None:
    """Heartbeat files of a journal study (databases keep Optuna's own heartbeat)."""
    path = journal_file(spec.project, spec.study, spec.storage)
    return None if path is None else path.with_name(path.name + ".heartbeat")


@contextlib.contextmanager
def heartbeat(folder: Path | None, number: int) -> Iterator[None]:
    """Touch ``folder/<trial number>`` every ``HEARTBEAT_SECONDS`` while a trial runs."""
    if folder is None:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    beat = folder / str(number)
    stop = threading.Event()

    def run() -> None:
        while True:
            beat.touch()
            if stop.wait(HEARTBEAT_SECONDS):
                return

    thread = threading.Thread(target=run, name=f"kk-heartbeat-{number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        beat.unlink(missing_ok=True)


def _is_stale(trial: optuna.trial.FrozenTrial, beats: Path | None, now: float) -> bool:
    owner = str(trial.user_attrs.get("kk_worker", ""))
    host, _, pid = owner.rpartition(WORKER_ID_SEP)
    if host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid)):
        return True
    if beats is None:
        return False  # a database: Optuna's heartbeat fails it after the grace period
    beat = beats / str(trial.number)
    if beat.exists():
        last = beat.stat().st_mtime
    elif trial.datetime_start is not None:
        last = trial.datetime_start.timestamp()
    else:
        return False
    return now - last > GRACE_SECONDS


def recover_stale(study: optuna.Study, spec: TuneSpec) -> list[int]:
    """Mark RUNNING trials of dead workers FAIL and enqueue their parameters again.

    Returns the numbers of the trials that were failed.
    """
    optuna = import_optuna()
    from optuna.trial import TrialState

    if isinstance(study._storage, optuna.storages.RDBStorage):
        optuna.storages.fail_stale_trials(study)  # databases: past the grace period
    beats = heartbeat_dir(spec)
    failed: list[int] = []
    now = time.time()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _is_stale(trial, beats, now):
            continue
        try:
            study.tell(trial.number, state=TrialState.FAIL)
        except (RuntimeError, ValueError):
            continue  # another worker finished or failed it first
        if beats is not None:
            (beats / str(trial.number)).unlink(missing_ok=True)
        requeue(study, trial)
        failed.append(trial.number)
    return failed
