"""What ``kk auto`` knows before it trains: each entry's cost, strength and order.

An entry's expected cost (seconds still to spend on it) comes from, first found:

1. a COMPLETE run of the same model config on the same folds (its resume key): nothing
   to spend, the run is reused;
2. an interrupted run of that config: the mean of its kept folds' seconds for each fold
   still to fit (it goes on from there);
3. the newest COMPLETE run of the same entry name and backend on as many rows (another
   config of it): its recorded duration;
4. its smoke fold (``training.smoke_test``, measured here before, kept in
   ``runs/auto-estimates.json`` per machine, or measured now), scaled up to the project's
   folds (``smoke_estimate``).

Strength is the previous run's CV or the smoke fold's score. Entries are trained
cheap-and-strong first: Pareto fronts over (cost, strength), each front cheapest first,
so an entry is never trained after one that is both dearer and weaker than it.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import kagglekit.atomic as atomic
import kagglekit.records as records
from kagglekit.auto.clock import BudgetSpent, deadline, now
from kagglekit.config import ProjectConfig
from kagglekit.errors import DoesNotFit, KKError
from kagglekit.metrics import get_metric
from kagglekit.project import Project
from kagglekit.provenance import now as timestamp
from kagglekit.training.prepare import Prepared, n_outputs
from kagglekit.training.smoke import SmokeResult

__all__ = [
    "ESTIMATES_FILE",
    "Entry",
    "Shape",
    "calibration",
    "ensemble_seconds_per_member",
    "estimate_entries",
    "one_line",
    "portfolio_order",
    "smoke_estimate",
]

log = logging.getLogger(__name__)

ESTIMATES_FILE = "auto-estimates.json"
BOUND_BEFORE = "at least: its smoke fold ran past half a budget before"
SMOKE_TEST_ROWS = 64  # training.smoke_test predicts at most this many test rows
DEFAULT_EPOCHS = 10  # TrainConfig's: an epoch model whose entry names no epochs
PREDICT_SPEEDUP = 3.0  # a forward pass alone against a training step (forward + backward)
# Evaluations per member of a hill climb, as ensemble_seconds_per_member counts them:
# ensembling.hill_climb stops 20 rounds after its best (23-33 rounds on Titanic's runs),
# and the metric scores a real blend about a third slower than the constant prediction
# timed here; 40 covered 3-, 6- and 11-member ensembles there (bench/auto.py).
ENSEMBLE_ROUNDS = 40
HOLDOUT_PARTS = 5  # ensembling.nested_hill_climb cuts a holdout into this many parts


@dataclass
class Entry:
    """One model entry: its plan (cost, strength, what they came from) and its outcome."""

    name: str
    backend: str
    key: str  # the resume key of its config on these folds (training.run.resume_key)
    estimate: float | None = None  # seconds still to spend on it; None: unknown
    basis: str = ""  # where the estimate came from, for the summary
    score: float | None = None  # its strength (a CV or a smoke fold's score)
    smoke_basis: bool = False  # the estimate was scaled from a smoke fold (calibrated)
    done: records.Run | None = None  # a COMPLETE run of this config: reused
    # The outcome: reused, trained, skipped, stopped (budget spent, folds kept) or failed.
    status: str = "planned"
    reason: str = ""
    run_id: str | None = None
    cv_mean: float | None = None
    seconds: float | None = None
    weight: float | None = None  # in the final ensemble; None: not a member
    resumed: bool = False

    def as_dict(self) -> dict[str, Any]:
        """The entry as ``kk auto --json`` lists it."""
        return {
            "entry": self.name,
            "backend": self.backend,
            "status": self.status,
            "reason": self.reason,
            "run_id": self.run_id,
            "cv_mean": self.cv_mean,
            "seconds": self.seconds,
            "estimate": self.estimate,
            "estimate_from": self.basis,
            "weight": self.weight,
        }


@dataclass(frozen=True)
class Shape:
    """The sizes a full run of one entry works through, for scaling a smoke fold."""

    n_folds: int  # splits x repeats
    fold_train: float  # mean training rows per fold
    fold_valid: float  # mean validation rows per fold
    n_test: int

    @classmethod
    def of(cls, prepared: Prepared) -> Shape:
        splits = list(prepared.folds.splits())
        return cls(
            n_folds=len(splits),
            fold_train=statistics.fmean(len(s.train_idx) for s in splits),
            fold_valid=statistics.fmean(len(s.valid_idx) for s in splits),
            n_test=len(prepared.test_ids),
        )


def smoke_estimate(result: SmokeResult, shape: Shape, epochs: int | None = None) -> float:
    """Seconds a full run should take, from one smoke fold (a few hundred rows).

    A model that reports ``samples_per_second`` trains in epochs, and its smoke fold ran a
    few batches of two epochs: its fold is ``epochs`` passes over the fold's training
    rows at that rate, plus predicting the validation rows each epoch and the test rows
    once (a forward pass taken as ``PREDICT_SPEEDUP`` times a training step). Any other
    model's fold time is scaled by the rows it touches (training, validation and test
    rows), which over-states models with a large fixed cost per fold (trees grown one by
    one on small tables) and under-states super-linear ones; ``calibration`` corrects
    for what the entries trained so far showed, and ``auto`` stops a run whose first
    folds say it will not end in time.
    """
    rate = result.learned.get("samples_per_second")
    if isinstance(rate, int | float) and math.isfinite(rate) and rate > 0:
        n_epochs = epochs or DEFAULT_EPOCHS
        fit = n_epochs * shape.fold_train / rate
        predict = (n_epochs * shape.fold_valid + shape.n_test) / (PREDICT_SPEEDUP * rate)
        per_fold = result.seconds + fit + predict
    else:
        smoke_rows = result.n_train + result.n_valid + min(shape.n_test, SMOKE_TEST_ROWS)
        full_rows = shape.fold_train + shape.fold_valid + shape.n_test
        per_fold = result.seconds * max(1.0, full_rows / max(smoke_rows, 1))
    return per_fold * shape.n_folds


def calibration(pairs: Sequence[tuple[float, float]]) -> float:
    """The factor to put on smoke-fold estimates: the median of (actual / estimated) over
    the entries trained so far, within [1/4, 4] (one odd entry must not rule the rest);
    1 before any."""
    ratios = [actual / est for est, actual in pairs if est > 0 and actual > 0]
    if not ratios:
        return 1.0
    return min(4.0, max(0.25, statistics.median(ratios)))


def portfolio_order(entries: Sequence[Entry], *, greater_is_better: bool) -> list[Entry]:
    """Cheap-and-strong first: Pareto fronts over (estimate, score), each cheapest first.

    An entry with no score counts as the weakest; entries with no estimate go last, in
    the order given.
    """

    def strength(e: Entry) -> float:
        if e.score is None or not math.isfinite(e.score):
            return -math.inf
        return e.score if greater_is_better else -e.score

    def dominates(a: Entry, b: Entry) -> bool:
        assert a.estimate is not None and b.estimate is not None
        no_worse = a.estimate <= b.estimate and strength(a) >= strength(b)
        return no_worse and (a.estimate < b.estimate or strength(a) > strength(b))

    rest = [e for e in entries if e.estimate is not None]
    ordered: list[Entry] = []
    while rest:
        front = [e for e in rest if not any(dominates(o, e) for o in rest if o is not e)]
        front.sort(key=lambda e: (e.estimate, -strength(e), e.name))
        ordered += front
        rest = [e for e in rest if e not in front]
    return ordered + [e for e in entries if e.estimate is None]


def ensemble_seconds_per_member(prepared: Prepared, cfg: ProjectConfig) -> float:
    """Seconds a hill-climbed ensemble with its nested score should take per member.

    Hill climbing scores every member on every split each round, and the nested score
    climbs again without each split in turn: about ``(1 + ENSEMBLE_ROUNDS) x splits x
    k`` metric calls per member (k: folds per repeat). The metric's own cost per call,
    timed here on a constant prediction of the right shape, is most of it on small
    tables (scikit-learn's checks), so it is what is measured. 0 when the metric cannot
    score a constant prediction (the ensemble is then not reserved for).
    """
    comp = cfg.competition
    metric = get_metric(comp.metric)
    splits = list(prepared.folds.splits())
    try:
        const = prepared.task.constant_prediction(len(prepared.y), n_outputs(cfg, prepared.classes))
        started, calls = time.perf_counter(), 0
        while calls < 2 * len(splits) or time.perf_counter() - started < 0.1:
            for split in splits:
                idx = split.valid_idx
                metric(prepared.y[idx], const[idx], threshold=comp.threshold)
                calls += 1
    except Exception:  # a task whose constant prediction no metric reads: reserve nothing
        log.debug("no ensemble estimate", exc_info=True)
        return 0.0
    per_call = (time.perf_counter() - started) / calls
    k = prepared.folds.n_splits if prepared.folds.n_splits > 1 else HOLDOUT_PARTS
    return (1 + ENSEMBLE_ROUNDS) * len(splits) * k * per_call


# --- where estimates come from --------------------------------------------------------


def estimate_entries(
    project: Project,
    resolved: dict[str, Any],
    entries: Sequence[Entry],
    *,
    prepared: Callable[[], Prepared],
    smoke: Callable[[str, Prepared], SmokeResult] | None,
    n_rows: int,
    n_folds: int,
    reuse: bool = True,
    until: float | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> None:
    """Fill each entry's ``done`` run, ``estimate``, ``basis`` and ``score`` (in place).

    Without ``reuse`` no run is reused or gone on with (``kk train --all --fresh``).
    ``prepared()`` gives the project's data (loaded on the first smoke fold only);
    ``smoke(name, prepared)`` measures a smoke fold (None: measure none, as without a
    budget). Smoke folds stop at ``until`` (on ``deadline.now()``'s clock): one still
    running then gives its entry a lower bound, and none starts after it.
    """
    local = [r for r in records.list_runs(project.runs_dir) if not r.archived]
    cache = _read_cache(project)
    host = socket.gethostname()
    measured = False
    for entry in entries:
        if entry.done is not None or _from_runs(entry, local, n_rows, n_folds, reuse=reuse):
            continue
        cached = cache.get(f"{entry.key}@{host}")
        if isinstance(cached, dict) and isinstance(cached.get("seconds"), int | float):
            entry.estimate, entry.score = float(cached["seconds"]), cached.get("score")
            bound = bool(cached.get("bound"))
            entry.basis = BOUND_BEFORE if bound else "smoke fold measured before"
            entry.smoke_basis = not bound
            continue
        if smoke is None:
            continue
        if until is not None and now() >= until:
            entry.basis = "not measured: half the budget went on measuring the others"
            continue
        data = prepared()  # not in the try: missing files or folds are no entry's failure
        kept = _measure(entry, smoke, data, resolved, n_folds, until, say)
        if kept is not None:
            cache[f"{entry.key}@{host}"] = kept
            measured = True
    if measured:
        atomic.write_json(project.runs_dir / ESTIMATES_FILE, cache)


def _measure(
    entry: Entry,
    smoke: Callable[[str, Prepared], SmokeResult],
    data: Prepared,
    resolved: dict[str, Any],
    n_folds: int,
    until: float | None,
    say: Callable[[str], None],
) -> dict[str, Any] | None:
    """Measure one entry's smoke fold into its estimate; what to keep of it (None: none)."""
    started = now()
    try:
        with deadline(until):
            result = smoke(entry.name, data)
    except BudgetSpent:  # a smoke fold dearer than the budget: the run is dearer still
        spent = now() - started
        entry.estimate, entry.smoke_basis = spent * n_folds, False
        entry.basis = f"at least: its smoke fold ran past half the budget, {spent:.1f}s"
        say(f"{entry.name}: smoke fold stopped after {spent:.1f}s (half the budget)")
        return {
            "model": entry.name,
            "seconds": entry.estimate,
            "bound": True,
            "measured_at": timestamp(),
        }
    except DoesNotFit as err:  # another kind of data: it cannot train here at all
        entry.status, entry.reason = "skipped", str(err)
        say(f"{entry.name}: skipped ({err})")
        return None
    except Exception as err:  # it may still train: a smoke fold is a few hundred rows
        entry.basis = f"its smoke fold failed ({one_line(err)})"
        return None
    params = (resolved.get("models") or {}).get(entry.name, {}).get("params") or {}
    epochs = params.get("epochs") if isinstance(params.get("epochs"), int) else None
    entry.estimate = smoke_estimate(result, Shape.of(data), epochs)
    entry.score, entry.basis, entry.smoke_basis = result.score, "smoke fold", True
    say(
        f"{entry.name}: smoke fold {result.seconds:.2f}s -> about {entry.estimate:.1f}s "
        "for the whole run"
    )
    return {
        "model": entry.name,
        "seconds": entry.estimate,
        "score": result.score,
        "smoke_seconds": result.seconds,
        "measured_at": timestamp(),
    }


def _from_runs(
    entry: Entry, runs: list[records.Run], n_rows: int, n_folds: int, *, reuse: bool
) -> bool:
    """The entry's estimate from the project's runs (reuse, resume, an earlier config's
    duration); False when none tells. Without ``reuse`` only the durations count."""
    mine = [r for r in reversed(runs) if r.record.get("model") == entry.name]  # newest first
    same = [r for r in mine if r.record.get("resume_key") == entry.key] if reuse else []
    for run in same:
        if run.status == "COMPLETE" and run.has_array("oof") and run.has_array("test"):
            entry.done, entry.estimate, entry.score = run, 0.0, run.record.get("cv_mean")
            entry.basis = f"run {run.run_id}"
            return True
    # The run kk train goes on with (training.run.find_resumable): the newest unfinished.
    unfinished = [r for r in same if r.status in ("FAILED", "ABANDONED")]
    if unfinished and (unfinished[0].folder / "folds").is_dir():
        kept = _kept_folds(unfinished[0])
        if kept:
            entry.estimate = statistics.fmean(s for s, _ in kept) * max(0, n_folds - len(kept))
            entry.score = statistics.fmean(v for _, v in kept)
            entry.basis = f"{len(kept)} of {n_folds} folds kept in run {unfinished[0].run_id}"
            return True
    for run in mine:
        rec = run.record
        if (
            run.status == "COMPLETE"
            and rec.get("backend") == entry.backend
            and rec.get("n_train") == n_rows
            and isinstance(rec.get("wall_seconds"), int | float)
        ):
            entry.estimate, entry.score = float(rec["wall_seconds"]), rec.get("cv_mean")
            entry.basis = f"run {run.run_id} (another config of it)"
            return True
    return False


def _kept_folds(run: records.Run) -> list[tuple[float, float]]:
    """(seconds, score) of the folds an interrupted run kept (``training.cv.FoldStore``)."""
    kept = []
    for path in sorted((run.folder / "folds").glob("*/result.json")):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
            kept.append((float(result["seconds"]), float(result["score"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return kept


def _read_cache(project: Project) -> dict[str, Any]:
    path = project.runs_dir / ESTIMATES_FILE
    try:
        cache = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, ValueError):
        log.warning("%s cannot be read; measuring again", path)
        return {}
    return cache if isinstance(cache, dict) else {}


def one_line(err: BaseException) -> str:
    """An error as one line for the summary table (a ``KKError``'s message as it is)."""
    lines = str(err).strip().splitlines()
    first = lines[0] if lines else ""
    if isinstance(err, KKError):
        return first or type(err).__name__
    return f"{type(err).__name__}: {first}" if first else type(err).__name__
