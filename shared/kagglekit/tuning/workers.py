"""Workers: trial loops in this process and in spawned local processes, sharing one study.

Every worker takes its trials from one counter (``claim_from``), so the workers of one
``tune`` call run exactly ``n_trials`` together. Spawned processes start by pickling
``_worker_process`` and its arguments by module path (``kagglekit.tuning.workers``), so
they rebuild everything else from the picklable ``TuneSpec``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import kagglekit.training as training
import kagglekit.training.pseudo as pseudo_mod
from kagglekit.errors import KKError
from kagglekit.tuning.objective import Objective
from kagglekit.tuning.spaces import search_space
from kagglekit.tuning.storage import import_optuna
from kagglekit.tuning.study import TuneSpec, heartbeat_dir, load_study

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

TrialEvent = dict[str, Any]


def _event(trial: optuna.trial.FrozenTrial) -> TrialEvent:
    return {
        "number": trial.number,
        "state": trial.state.name,
        "value": trial.value,
        "steps": len(trial.intermediate_values),
    }


# --- the trial counter ----------------------------------------------------------------


@dataclass
class LocalCounter:
    """The trial counter of a lone worker, shaped like a ``multiprocessing.Value``."""

    value: int
    _lock: Any = field(default_factory=threading.Lock)

    def get_lock(self) -> Any:
        return self._lock


def counter_start(n_trials: int | None) -> int:
    """The counter's first value: the trials to run, or -1 for no limit (timeout only)."""
    return -1 if n_trials is None else n_trials


def claim_from(remaining: Any) -> Callable[[], bool]:
    """A ``claim()`` that takes one trial from ``remaining`` (a ``multiprocessing.Value``
    shared by the worker processes, or a ``LocalCounter``); False when none is left."""

    def claim() -> bool:
        with remaining.get_lock():
            if remaining.value == 0:
                return False
            remaining.value -= 1  # negative: no trial limit (timeout only)
            return True

    return claim


# --- one worker -----------------------------------------------------------------------


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
    objective = Objective(
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


def run_workers(
    spec: TuneSpec,
    *,
    workers: int,
    prune: bool,
    n_trials: int | None,
    deadline: float | None,
    on_trial: Callable[[TrialEvent], None] | None,
    prepared: training.Prepared,
) -> int:
    """Run ``n_trials`` trials (None: until the deadline) on ``workers`` local workers.

    Returns the number of trials they finished.
    """
    if workers > 1:
        return _run_processes(
            spec,
            workers=workers,
            prune=prune,
            n_trials=n_trials,
            deadline=deadline,
            on_trial=on_trial,
            prepared=prepared,
        )
    claim = claim_from(LocalCounter(counter_start(n_trials)))
    return run_worker(
        spec, prune=prune, claim=claim, deadline=deadline, on_trial=on_trial, prepared=prepared
    )


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
    import_optuna().logging.set_verbosity(logging.WARNING)
    try:
        run_worker(
            spec,
            prune=prune,
            claim=claim_from(remaining),
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


class _Events:
    """Trial events of this process and of the spawned ones (through ``events``), counted
    and passed on to ``on_trial`` from one thread at a time; a worker's error is kept."""

    def __init__(self, events: Any, on_trial: Callable[[TrialEvent], None] | None) -> None:
        self.events = events
        self.on_trial = on_trial
        self.count = 0
        self.errors: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._forward, name="kk-tune-events", daemon=True)
        self._thread.start()

    def report(self, event: TrialEvent) -> None:
        with self._lock:
            self.count += 1
            if self.on_trial is not None:
                self.on_trial(event)

    def _forward(self) -> None:
        while not self._stop.is_set() or not self.events.empty():
            try:
                event = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            if "error" in event:
                self.errors.append(event)
            else:
                self.report(event)

    def close(self) -> None:
        """Forward what is left, then stop (after every worker has exited)."""
        self._stop.set()
        self._thread.join()

    def raise_first_error(self) -> None:
        if self.errors:
            first = self.errors[0]
            raise (KKError if first["user"] else RuntimeError)(first["error"])


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

    from threadpoolctl import threadpool_limits

    ctx = mp.get_context("spawn")
    remaining = ctx.Value("i", counter_start(n_trials))
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
    forwarded = _Events(events, on_trial)
    try:
        with threadpool_limits(limits=n_threads, user_api="openmp"):
            run_worker(
                spec,
                prune=prune,
                claim=claim_from(remaining),
                deadline=deadline,
                on_trial=forwarded.report,
                prepared=prepared,
            )
    except BaseException:
        with remaining.get_lock():  # Ctrl-C or an error here: the others start no new trial
            remaining.value = 0
        raise
    finally:
        for proc in procs:
            proc.join()
        forwarded.close()
    forwarded.raise_first_error()
    lost = [p.name for p in procs if p.exitcode != 0]
    if lost:
        log.warning("worker(s) %s exited with an error; their trials are recovered", lost)
    return forwarded.count


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
