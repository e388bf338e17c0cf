"""Hyperparameter tuning: Optuna over the project's saved folds.

The objective is the CV score exactly as ``kk train`` computes it: the same saved folds,
features, model factory and metric (``training.prepare``, ``training.model_factory``,
``training.cross_validate``). After every fold the trial reports the running mean of
the fold scores and may be pruned there; pruning inside one fold's boosting rounds is
not used, because those callbacks only ever see the first fold (optuna#3203, #4373).

Storage: by default a journal file inside the project
(``projects/<name>/studies/<study>.journal``, git-ignored), safe for many local worker
processes; ``postgresql://...`` uses Optuna's RDB storage, shared by many machines.
The study is created (and its folds checked) before any worker starts.

Resume: a worker records ``host:pid`` on each trial and keeps a heartbeat (a file
beside the journal, or Optuna's own heartbeat table in a database). On start, RUNNING
trials whose worker is gone (a dead pid on this host, or no heartbeat for
``GRACE_SECONDS``) are marked FAIL and their parameters enqueued again, so a killed
worker loses only its unfinished trial and that trial is run again.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kagglekit import atomic, training
from kagglekit import pseudo as pseudo_mod
from kagglekit.config import ProjectConfig, read_params_file
from kagglekit.errors import KKError, unknown_name
from kagglekit.metrics import get_metric
from kagglekit.models.base import FitFailure
from kagglekit.project import Project
from kagglekit.pseudo import PseudoLabels
from kagglekit.records import pid_alive
from kagglekit.tuning_spaces import SearchSpace, search_space

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5
GRACE_SECONDS = 30
DEFAULT_TRIALS = 50
SAMPLERS = ("tpe", "random")
PRUNERS = ("paired", "median", "percentile", "none")
DEFAULT_SAMPLER = "tpe"
DEFAULT_PRUNER = "paired"
RDB_SCHEMES = ("postgresql", "mysql", "sqlite")

# --- storage ------------------------------------------------------------------------------


def default_study_name(model_name: str) -> str:
    """One study per model unless ``--study`` says otherwise."""
    return model_name


_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def journal_path(project: Project, study_name: str) -> Path:
    """Where the default journal storage of a study lives (git-ignored)."""
    # The name becomes a file name: '../x' or 'a/b' would put the journal outside studies/.
    if not _STUDY_NAME.match(study_name):
        raise KKError(
            f"--study '{study_name}' is not a valid study name; use letters, digits, '.', '-' "
            "and '_', starting with a letter or digit"
        )
    return project.root / "studies" / f"{study_name}.journal"


def redact(url: str) -> str:
    """``scheme://user:***@host/db``: never show a password in output or records."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in creds else ''}@{host}"


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""


def _journal_file(project: Project, study_name: str, url: str | None) -> Path | None:
    """The journal file a storage URL names, or None for a database URL."""
    if url is None:
        return journal_path(project, study_name)
    if url.startswith("journal:"):
        return Path(url.removeprefix("journal:")).expanduser()
    if _scheme(url) in RDB_SCHEMES:
        return None
    if url.endswith(".journal") and "://" not in url:
        return Path(url).expanduser()
    raise KKError(
        f"--storage '{redact(url)}' is not a storage URL; use postgresql://USER:PASSWORD@HOST/DB, "
        "a path ending in .journal, or leave it out for the project's journal file"
    )


def _requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Enqueue a failed trial's parameters so the next free worker runs them again."""
    if trial.params:
        study.enqueue_trial(trial.params, user_attrs={"kk_retry_of": trial.number})
        log.warning("trial %d failed stale; its parameters are queued again", trial.number)


def open_storage(project: Project, study_name: str, url: str | None) -> optuna.storages.BaseStorage:
    """The Optuna storage for ``url`` (None: the project's journal file).

    Raises a one-line ``KKError`` for an unknown URL or a database that cannot be opened.
    """
    optuna = _optuna()
    path = _journal_file(project, study_name, url)
    if path is not None:
        from optuna.storages.journal import JournalFileBackend

        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    assert url is not None
    if _scheme(url) == "sqlite":
        log.warning("SQLite storage locks under parallel workers; prefer the journal file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                _with_driver(url),
                engine_kwargs={"pool_pre_ping": True},
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=GRACE_SECONDS,
                heartbeat_stale_trial_callback=_requeue,
            )
    except ImportError as err:
        raise KKError(
            f"storage {redact(url)} needs a database driver ({err.__cause__ or err}); "
            "install it with: pip install 'kagglekit[tune]'"
        ) from None
    except Exception as err:  # sqlalchemy's errors: bad URL, refused connection, bad login
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise KKError(
            f"cannot open storage {redact(url)}: {first}; check the URL and that the server is up"
        ) from None


def _with_driver(url: str) -> str:
    """``postgresql://`` with the driver that is installed (SQLAlchemy 2.1 assumes psycopg 3)."""
    if not url.startswith("postgresql://"):
        return url
    import importlib.util

    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return url.replace("postgresql://", f"postgresql+{driver}://", 1)
    return url


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise KKError(
            "optuna is not installed; install it with: pip install 'kagglekit[tune]'"
        ) from None
    return optuna


# --- samplers and pruners -------------------------------------------------------------


def make_sampler(name: str, seed: int) -> optuna.samplers.BaseSampler:
    """``tpe`` (default: multivariate TPE, constant liar for parallel workers) or ``random``."""
    optuna = _optuna()
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise unknown_name("sampler", name, SAMPLERS)


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """Pruners that compare a trial with the finished trials on the same folds so far.

    ``paired`` (default) prunes a trial whose paired fold deficits against the best
    finished trial leave it less than a 31 % chance of ending level with it; ``median`` prunes a running mean
    below the finished trials' median, ``percentile`` one outside their top quarter;
    ``none`` never prunes (``--no-prune``). All wait for 5 finished trials. Chosen on
    ``bench/tune.py`` over 12 sampler seeds against kk's median and Optuna's median pruner
    (Optuna's percentile, Wilcoxon, successive-halving and Hyperband pruners were measured
    earlier on 4 seeds against Optuna's median); figures in bench/README.md; why by hand:
    ``kagglekit.pruners``.
    """
    _optuna()
    from kagglekit import pruners

    if name == "paired":
        return pruners.PairedFoldPruner(z=0.5, n_startup_trials=5)
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
    optuna = _optuna()
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
    optuna = _optuna()
    metric = get_metric(cfg.competition.metric)
    _, entry = cfg.model(spec.model)
    storage = open_storage(spec.project, spec.study, spec.storage)
    study = optuna.create_study(
        storage=storage,
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
    optuna = _optuna()
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


# --- stale trials -----------------------------------------------------------------------

WORKER_ID_SEP = ":"


def worker_id() -> str:
    return f"{socket.gethostname()}{WORKER_ID_SEP}{os.getpid()}"


def heartbeat_dir(spec: TuneSpec) -> Path | None:
    """Heartbeat files of a journal study (databases keep Optuna's own heartbeat)."""
    path = _journal_file(spec.project, spec.study, spec.storage)
    return None if path is None else path.with_name(path.name + ".heartbeat")


@contextlib.contextmanager
def _heartbeat(folder: Path | None, number: int) -> Iterator[None]:
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
    optuna = _optuna()
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
        _requeue(study, trial)
        failed.append(trial.number)
    return failed


# --- the objective ----------------------------------------------------------------------


@dataclass
class _Objective:
    """Suggest parameters, cross-validate, report after each fold, maybe prune."""

    cfg: ProjectConfig
    model: str
    prepared: training.Prepared
    space: SearchSpace
    prune: bool
    beats: Path | None
    pseudo: PseudoLabels | None = None
    fatal: list[BaseException] = field(default_factory=list)

    def __call__(self, trial: optuna.Trial) -> float:
        optuna = _optuna()
        trial.set_user_attr("kk_worker", worker_id())
        metric = get_metric(self.cfg.competition.metric)

        # Folds run in the saved order in every trial, so step k is the same fold for all.
        # After the last fold nothing is left to save: the trial completes.
        per_fold = reports_fold_scores(trial.study.pruner)
        n_folds = self.prepared.folds.get_n_splits()

        def on_fold(fold: training.FoldResult, done: list[training.FoldResult]) -> None:
            running = float(np.mean([f.score for f in done]))
            trial.report(float(fold.score) if per_fold else running, step=len(done) - 1)
            if self.prune and len(done) < n_folds and trial.should_prune():
                raise optuna.TrialPruned(f"running mean {running:.6f} after {len(done)} fold(s)")

        epoch_scores: dict[str, list[float]] = {}

        def on_epoch(split: Any, epoch: int, score: float) -> None:
            # Inside a fold: kept per (fold, epoch) in a user attribute, not as Optuna steps,
            # so the fold pruners keep reading one step per fold (optuna#3203 is why a
            # trial's steps cannot be shared by folds and epochs).
            k = str(split.repeat * self.prepared.folds.n_splits + split.fold)
            epoch_scores.setdefault(k, []).append(float(score))
            trial.set_user_attr(EPOCH_SCORES, epoch_scores)
            if self.prune and epoch_should_prune(trial, k, epoch, float(score), metric):
                raise optuna.TrialPruned(f"epoch {epoch} of fold {k}: {score:.6f}")

        try:
            # Sampling is inside: Ctrl-C while it runs re-queues what was sampled so far.
            params = self.space.suggest(trial)
            trial.set_user_attr("kk_params", params)
            with _heartbeat(self.beats, trial.number):
                make_model = training.model_factory(self.cfg, self.model, self.prepared, params)
                result = training.cross_validate(
                    self.prepared.X,
                    self.prepared.y,
                    self.prepared.folds,
                    make_model,
                    metric,
                    threshold=self.cfg.competition.threshold,
                    n_outputs=training.n_outputs(self.cfg, self.prepared.classes),
                    task=self.prepared.task,
                    on_fold=on_fold,
                    on_epoch=on_epoch,
                    pseudo=self.pseudo,
                )
        except FitFailure:
            raise  # these parameters did not fit (or ran out of GPU memory): this trial fails
        except KKError as err:
            self.fatal.append(err)  # a user mistake fails every trial: stop the worker
            raise
        except KeyboardInterrupt:
            _requeue(trial.study, _frozen(trial))
            raise
        trial.set_user_attr("kk_fold_scores", [float(s) for s in result.scores])
        if not math.isfinite(result.mean):
            raise ValueError(f"CV score is {result.mean}")
        return result.mean


EPOCH_SCORES = "kk_epoch_scores"
EPOCH_STARTUP_TRIALS = 4


def epoch_should_prune(
    trial: optuna.Trial, fold: str, epoch: int, score: float, metric: Any
) -> bool:
    """Prune inside a fold when this epoch's score is worse than the median of the
    finished trials' scores at the same fold and epoch (after a few finished trials).

    The rule of Optuna's MedianPruner, but on the current score rather than the best so
    far, and per (fold, epoch): a model that trains in epochs is stopped mid-fold.
    """
    optuna = _optuna()
    others = []
    for t in trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
        curve = (t.user_attrs.get(EPOCH_SCORES) or {}).get(fold) or []
        if len(curve) > epoch:
            others.append(float(curve[epoch]))
    if len(others) < EPOCH_STARTUP_TRIALS:
        return False
    median = float(np.median(others))
    return bool(metric.better(median, score))


def _frozen(trial: optuna.Trial) -> optuna.trial.FrozenTrial:
    return trial.study._storage.get_trial(trial._trial_id)


TrialEvent = dict[str, Any]


def _event(trial: optuna.trial.FrozenTrial) -> TrialEvent:
    return {
        "number": trial.number,
        "state": trial.state.name,
        "value": trial.value,
        "steps": len(trial.intermediate_values),
    }


def run_worker(
    spec: TuneSpec,
    *,
    prune: bool,
    claim: Callable[[], bool],
    deadline: float | None,
    on_trial: Callable[[TrialEvent], None] | None = None,
    seed_offset: int = 0,
    prepared: training.Prepared | None = None,
) -> int:
    """Run trials while ``claim()`` grants one and the deadline has not passed.

    Returns the number of trials this worker finished.
    """
    project = spec.project
    cfg = project.config(list(spec.overrides))
    name, entry = cfg.model(spec.model)
    prepared = prepared or training.prepare(project, cfg)
    pseudo = pseudo_mod.load(project, cfg, name, prepared)
    study = load_study(spec, seed_offset=seed_offset)
    objective = _Objective(
        cfg=cfg,
        model=name,
        prepared=prepared,
        space=search_space(name, entry),
        prune=prune,
        beats=heartbeat_dir(spec),
        pseudo=pseudo,
    )

    def callback(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if on_trial is not None:
            on_trial(_event(trial))

    done = 0
    while (deadline is None or time.time() < deadline) and claim():
        study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[callback])
        done += 1
        if objective.fatal:
            raise objective.fatal[0]
    return done


# --- local worker processes -----------------------------------------------------------


def _worker_process(
    spec: TuneSpec,
    prune: bool,
    deadline: float | None,
    index: int,
    remaining: Any,
    events: Any,
) -> None:
    """Entry point of a spawned worker: claims trials from the shared counter."""
    logging.getLogger("optuna").setLevel(logging.WARNING)
    _optuna().logging.set_verbosity(logging.WARNING)

    def claim() -> bool:
        with remaining.get_lock():
            if remaining.value == 0:
                return False
            remaining.value -= 1  # negative: no trial limit (timeout only)
            return True

    try:
        run_worker(
            spec,
            prune=prune,
            claim=claim,
            deadline=deadline,
            on_trial=events.put,
            seed_offset=index,
        )
    except KeyboardInterrupt:
        pass
    except BaseException as err:
        events.put({"error": f"{type(err).__name__}: {err}", "user": isinstance(err, KKError)})
        raise SystemExit(1) from None


@contextlib.contextmanager
def _thread_limit(n_threads: int) -> Iterator[None]:
    """Children started inside inherit a per-worker thread budget (unless the user set one)."""
    keys = ("OMP_NUM_THREADS", "LOKY_MAX_CPU_COUNT")
    saved = {k: os.environ.get(k) for k in keys}
    for key in keys:
        os.environ.setdefault(key, str(n_threads))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run_processes(
    spec: TuneSpec,
    *,
    workers: int,
    prune: bool,
    n_trials: int | None,
    deadline: float | None,
    on_trial: Callable[[TrialEvent], None] | None,
    prepared: training.Prepared,
) -> int:
    """This process is worker 0; ``workers - 1`` spawned processes join it on the study.

    Trials are claimed from one shared counter, so the workers run exactly ``n_trials``
    together. Each worker gets ``cpus // workers`` OpenMP threads.
    """
    import multiprocessing as mp
    import queue

    from threadpoolctl import threadpool_limits

    ctx = mp.get_context("spawn")
    remaining = ctx.Value("i", -1 if n_trials is None else n_trials)
    events = ctx.Queue()
    n_threads = max(1, available_cpus() // workers)
    procs = [
        ctx.Process(
            target=_worker_process,
            args=(spec, prune, deadline, i, remaining, events),
            name=f"kk-tune-{i}",
        )
        for i in range(1, workers)
    ]
    with _thread_limit(n_threads):
        for proc in procs:
            proc.start()
    errors: list[dict[str, Any]] = []
    counted = [0]
    report_lock = threading.Lock()

    def report(event: TrialEvent) -> None:
        with report_lock:
            counted[0] += 1
            if on_trial is not None:
                on_trial(event)

    stop = threading.Event()

    def forward() -> None:
        while not stop.is_set() or not events.empty():
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                continue
            if "error" in event:
                errors.append(event)
            else:
                report(event)

    forwarder = threading.Thread(target=forward, name="kk-tune-events", daemon=True)
    forwarder.start()

    def claim() -> bool:
        with remaining.get_lock():
            if remaining.value == 0:
                return False
            remaining.value -= 1
            return True

    try:
        with threadpool_limits(limits=n_threads, user_api="openmp"):
            run_worker(
                spec,
                prune=prune,
                claim=claim,
                deadline=deadline,
                on_trial=report,
                prepared=prepared,
            )
    except BaseException:
        with remaining.get_lock():  # Ctrl-C or an error here: the others start no new trial
            remaining.value = 0
        raise
    finally:
        for proc in procs:
            proc.join()
        stop.set()
        forwarder.join()
    if errors:
        first = errors[0]
        raise (KKError if first["user"] else RuntimeError)(first["error"])
    lost = [p.name for p in procs if p.exitcode != 0]
    if lost:
        log.warning("worker(s) %s exited with an error; their trials are recovered", lost)
    return counted[0]


# --- the library entry point ----------------------------------------------------------


@dataclass
class TuneResult:
    """A finished ``tune`` call: the study and this command's numbers."""

    study: optuna.Study
    n_new: int
    wall_seconds: float
    recovered: list[int]

    def summary(self) -> dict[str, Any]:
        """The ``--json`` line of ``kk tune``."""
        return study_summary(self.study) | {
            "n_new": self.n_new,
            "recovered": self.recovered,
            "wall_seconds": round(self.wall_seconds, 3),
            "trials_per_minute": round(60.0 * self.n_new / max(self.wall_seconds, 1e-9), 3),
        }


def study_summary(study: optuna.Study) -> dict[str, Any]:
    """Study-wide counts and the best trial."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    counts = {s: sum(t.state == s for t in trials) for s in TrialState}
    best = best_trial(study)
    return {
        "study": study.study_name,
        "best_value": None if best is None else best.value,
        "best_trial": None if best is None else best.number,
        "best_params": None if best is None else best_params_of(best),
        "n_trials": len(trials),
        "n_complete": counts[TrialState.COMPLETE],
        "n_pruned": counts[TrialState.PRUNED],
        "n_failed": counts[TrialState.FAIL],
        "n_running": counts[TrialState.RUNNING],
        "n_waiting": counts[TrialState.WAITING],
    }


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    return study.best_trial


def best_params_of(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """Every parameter the trial's models got (searched and fixed)."""
    return dict(trial.user_attrs.get("kk_params") or trial.params)


def available_cpus() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return os.cpu_count() or 1


def cap_workers(workers: int, n_trials: int | None, *, cpus: int | None = None) -> int:
    """``workers`` capped at the CPU cores and the trials to run, with a warning line.

    More processes than cores only contend for them (each trial runs its folds on
    ``cores // workers`` threads), and a worker without a trial of its own just starts
    Python and imports the libraries for nothing.
    """
    cpus = available_cpus() if cpus is None else cpus
    limit = min(cpus, n_trials) if n_trials is not None else cpus
    if workers <= limit:
        return workers
    why = f"{cpus} CPU core(s)" if limit == cpus else f"{n_trials} trial(s)"
    log.warning("--workers %d capped at %d: there are only %s", workers, limit, why)
    return max(1, limit)


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
    if workers < 1:
        raise KKError(f"--workers {workers} must be at least 1")
    if n_trials is not None and n_trials < 1:
        raise KKError(f"--trials {n_trials} must be at least 1")
    workers = cap_workers(workers, n_trials)
    if timeout is not None and not timeout > 0:
        raise KKError(f"--timeout {timeout:g} must be a positive number of seconds")
    if n_trials is None and timeout is None:
        n_trials = DEFAULT_TRIALS
    if sampler not in SAMPLERS:
        raise unknown_name("sampler", sampler, SAMPLERS)
    if pruner not in PRUNERS:
        raise unknown_name("pruner", pruner, PRUNERS)
    name, entry = cfg.model(model_name)
    space = search_space(name, entry)
    prepared = training.prepare(project, cfg)  # imports the project's own backends first
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
    deadline = None if timeout is None else time.time() + timeout
    if workers == 1:
        left = [-1 if n_trials is None else n_trials]

        def claim() -> bool:
            if left[0] == 0:
                return False
            left[0] -= 1
            return True

        n_new = run_worker(
            spec, prune=prune, claim=claim, deadline=deadline, on_trial=on_trial, prepared=prepared
        )
    else:
        n_new = _run_processes(
            spec,
            workers=workers,
            prune=prune,
            n_trials=n_trials,
            deadline=deadline,
            on_trial=on_trial,
            prepared=prepared,
        )
    wall = time.perf_counter() - started
    recovered += recover_stale(study, spec)  # a worker that died in this run
    return TuneResult(study=study, n_new=n_new, wall_seconds=wall, recovered=recovered)


# --- results --------------------------------------------------------------------------


def tuned_model(project: Project, cfg: ProjectConfig) -> str | None:
    """The model to show when ``--model`` is not given: the default model if it has a study,
    else the one model entry with a study in the project's journal files (None: none).

    Raises ``KKError`` when several models have studies but not the default one.
    """
    studies = project.root / "studies"
    tuned = sorted(p.stem for p in studies.glob("*.journal")) if studies.is_dir() else []
    if cfg.default_model in tuned:
        return cfg.default_model
    models = [name for name in tuned if name in cfg.models]
    if len(models) == 1:
        return models[0]
    if not models:
        return None
    raise KKError(
        f"the default model '{cfg.default_model}' has no study; studies of: {', '.join(models)}; "
        f"pick one with kk tune {project.name} --model NAME --show"
    )


def open_study(
    project: Project,
    cfg: ProjectConfig,
    *,
    model_name: str | None,
    study_name: str | None,
    storage: str | None,
) -> optuna.Study:
    """Load a study for reading (``--show``, ``--write-params``, ``--params best``)."""
    name, _ = cfg.model(model_name)
    spec = TuneSpec(
        project_name=project.name,
        project_root=str(project.root),
        model=name,
        study=study_name or default_study_name(name),
        storage=storage,
    )
    path = _journal_file(project, spec.study, storage)
    if path is not None and not path.exists():
        raise KKError(
            f"no study '{spec.study}' at {path}; run kk tune {project.name} --model {name} first"
        )
    return load_study(spec)


def best_params(
    project: Project,
    cfg: ProjectConfig,
    *,
    model_name: str | None,
    study_name: str | None = None,
    storage: str | None = None,
) -> tuple[dict[str, Any], optuna.trial.FrozenTrial]:
    """The best trial's parameters, checked against the project's current folds."""
    name, _ = cfg.model(model_name)
    study = open_study(project, cfg, model_name=name, study_name=study_name, storage=storage)
    best = best_trial(study)
    if best is None:
        raise KKError(f"study '{study.study_name}' has no complete trial yet; run kk tune first")
    if study.user_attrs.get("kk_fold_hash") != _fold_hash(project):
        raise KKError(
            f"study '{study.study_name}' was tuned on other folds than the project's current "
            "ones; its best score cannot be reproduced: tune again with a new --study"
        )
    return best_params_of(best), best


def _fold_hash(project: Project) -> str:
    meta = training.folds_mod.folds_meta(project)
    if meta is None:
        raise KKError(f"project '{project.name}' has no folds yet; run `kk folds {project.name}`")
    return str(meta["hash"])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        import json

        return json.dumps(value)
    raise KKError(f"parameter value {value!r} cannot be written to TOML; fix it in config.toml")


def write_params(
    project: Project,
    cfg: ProjectConfig,
    *,
    model_name: str | None,
    study_name: str | None = None,
    storage: str | None = None,
) -> Path:
    """Write the best trial's parameters to ``params/<model>.toml`` (a typed params file).

    ``config.toml`` is never changed: reference the file with
    ``params_file = "params/<model>.toml"`` under ``[models.<model>]``.
    """
    name, entry = cfg.model(model_name)
    params, best = best_params(
        project, cfg, model_name=name, study_name=study_name, storage=storage
    )
    metric = get_metric(cfg.competition.metric)
    header = {
        "model": name,
        "backend": entry.backend,
        "study": best_study_name(study_name, name),
        "trial": best.number,
        "value": best.value,
        "metric": metric.name,
        "fold_hash": _fold_hash(project),
    }
    lines = [
        f"# Best parameters of study '{header['study']}' (kk tune {project.name} --model {name}",
        "# --write-params). Use them with params_file in config.toml.",
        *(f"{k} = {_toml_value(v)}" for k, v in header.items()),
        "",
        "[params]",
        *(f"{k} = {_toml_value(v)}" for k, v in sorted(params.items())),
        "",
    ]
    path = project.root / "params" / f"{name}.toml"
    atomic.write_text(path, "\n".join(lines))
    read_params_file(path)  # what was written must read back as a valid params file
    return path


def best_study_name(study_name: str | None, model: str) -> str:
    return study_name or default_study_name(model)


# The evaluator behind ``importances``, named where the importances are shown. It is
# passed explicitly (it is Optuna's default since 4.x), so the label stays true even if
# Optuna changes its default again.
IMPORTANCE_EVALUATOR = "PED-ANOVA"


def importances(study: optuna.Study) -> dict[str, float]:
    """Parameter importances over the complete trials (empty with fewer than two).

    Computed with Optuna's ``PedAnovaImportanceEvaluator`` (``IMPORTANCE_EVALUATOR``).
    """
    optuna = _optuna()
    from optuna.importance import PedAnovaImportanceEvaluator
    from optuna.trial import TrialState

    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
        return {}
    try:
        return dict(
            optuna.importance.get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())
        )
    except (RuntimeError, ValueError) as err:
        log.warning("parameter importances unavailable: %s", err)
        return {}
