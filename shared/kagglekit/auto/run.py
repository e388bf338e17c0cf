"""``kk auto``: a project's model entries trained within a budget, then ensembled.

``auto`` holds the project's lock (``auto.lock``), plans (``auto.plan``: what is done
already, what each entry should cost, cheap-and-strong first), trains each entry that
fits in what is left of the budget with ``training.train`` (ordinary runs: ``kk runs``,
``kk report`` and ``kk submit`` see them, and an interrupted one goes on where it
stopped), then hill-climbs an ensemble over the entries' COMPLETE runs
(``ensembling.ensemble``, with its nested CV) and names the final run and submission.

The budget is kept in three ways. Smoke folds (the estimates) get at most half of it.
An entry starts only when its estimate fits in what is left. While it trains, each finished fold projects its end (the mean fold so far for each
fold to go): a run that would end later than the budget plus its own estimate is stopped
at that fold, its folds kept for the next call. A timer stops it at that same moment
whatever it is doing, between two batches or boosting rounds (in the main thread: a
signal). A run stopped either way is an interrupted run, as after Ctrl-C: the next
``kk auto`` (or ``kk train``) goes on with it. So ``auto`` ends within the budget plus
the estimate of the entry it last started, plus the ensemble's few seconds.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import kagglekit.ensembling as ensembling
import kagglekit.folds as folds_mod
import kagglekit.records as records
import kagglekit.training as training
from kagglekit.auto.budget import fmt_duration, suggest_budget
from kagglekit.auto.clock import BudgetSpent, deadline, now
from kagglekit.auto.lock import project_lock
from kagglekit.auto.plan import (
    Entry,
    calibration,
    ensemble_seconds_per_member,
    estimate_entries,
    one_line,
    portfolio_order,
)
from kagglekit.config import SINGLE_SPLIT_KINDS, ProjectConfig
from kagglekit.errors import DoesNotFit, KKError
from kagglekit.metrics import Metric, get_metric
from kagglekit.project import Project
from kagglekit.training.run import RunInterrupted, resume_key, run_summary

__all__ = ["AutoResult", "auto", "select_entries"]

log = logging.getLogger(__name__)


@dataclass
class AutoResult:
    """What ``auto`` did: every entry's outcome and the final run (an ensemble or one run)."""

    project: str
    metric: Metric
    entries: list[Entry]
    budget: float | None
    seconds: float
    final: records.Run | None = None
    final_summary: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)  # lock taken over, ensemble left out
    # The ensemble's expected seconds per member (reserved at the budget's end; None: not
    # estimated, without a budget), and the seconds it took.
    ensemble_estimate: float | None = None
    ensemble_seconds: float | None = None

    def summary(self) -> dict[str, Any]:
        """The ``--json`` line: the final run as ``kk train --json`` prints one, plus the
        entries, the budget and the time taken."""
        return {
            **(self.final_summary or {}),
            "entries": [e.as_dict() for e in self.entries],
            "budget_seconds": self.budget,
            "ensemble_seconds": self.ensemble_seconds,
            "ensemble_estimate_per_member": self.ensemble_estimate,
            "auto_seconds": round(self.seconds, 3),
        }


def select_entries(cfg: ProjectConfig, models: Sequence[str] | None) -> list[str]:
    """The model entries to train: ``models`` (checked, did-you-mean) or all, config order."""
    if not models:
        return list(cfg.models)
    names: list[str] = []
    for name in models:
        cfg.model(name)  # "model 'x' is not configured; did you mean ...?"
        if name not in names:
            names.append(name)
    return names


def auto(
    project: Project,
    *,
    budget: float | None = None,
    models: Sequence[str] | None = None,
    ensemble: bool = True,
    reuse: bool = True,
    overrides: Sequence[str] = (),
    command: str = "kk auto",
    say: Callable[[str], None] = lambda line: None,
) -> AutoResult:
    """Train the project's model entries (``models``: some of them) within ``budget``
    seconds (None: all of them), then ensemble their COMPLETE runs.

    Entries with a COMPLETE run of the same config on the current folds are reused (not
    with ``reuse=False``, which also starts interrupted runs afresh); an entry that fails
    is recorded FAILED by its run and the others go on. ``say(line)`` hears what happens
    as it happens. Raises ``KKError`` for a project without folds, an unknown entry,
    another ``kk auto`` holding the project's lock, and a budget that fits no entry.
    """
    started = now()
    cfg = project.config(list(overrides) or None)
    names = select_entries(cfg, models)
    meta = folds_mod.folds_meta(project)
    if meta is None or not project.folds_path.is_file():
        raise KKError(f"project '{project.name}' has no folds yet; run `kk folds {project.name}`")
    resolved = cfg.model_dump(mode="json")
    entries = [
        Entry(n, cfg.models[n].backend, resume_key(resolved, n, str(meta["hash"]))) for n in names
    ]
    end = None if budget is None else started + budget
    cv = meta.get("cv") or {}
    n_splits = 1 if cv.get("kind") in SINGLE_SPLIT_KINDS else int(cv.get("n_splits", 1))
    n_folds = n_splits * int(cv.get("n_repeats", 1))
    with project_lock(project, command=command) as taken_over:
        result = AutoResult(project.name, get_metric(cfg.competition.metric), entries, budget, 0.0)
        if taken_over:
            result.notes.append(taken_over)
            say(taken_over)
        loaded: list[training.Prepared] = []  # the data, loaded for the first smoke fold

        def prepared() -> training.Prepared:
            if not loaded:
                loaded.append(training.prepare(project, cfg))
            return loaded[0]

        estimate_entries(
            project,
            resolved,
            entries,
            prepared=prepared,
            smoke=None
            if budget is None
            else (
                lambda name, data: training.smoke_test(project, cfg, model_name=name, prepared=data)
            ),
            n_rows=int(meta.get("n_rows", -1)),
            n_folds=n_folds,
            reuse=reuse,
            # Half the budget at most goes on measuring, so some is left to train in.
            until=None if budget is None else started + budget / 2,
            say=say,
        )
        for entry in entries:
            if entry.done is not None:
                _reused(entry, say)
        order = portfolio_order(
            [e for e in entries if e.done is None and e.status == "planned"],
            greater_is_better=result.metric.greater_is_better,
        )
        if end is not None:
            _check_budget_fits(entries, order, end, budget or 0.0)
        if ensemble and end is not None and order:
            result.ensemble_estimate = ensemble_seconds_per_member(prepared(), cfg)
        _train_all(
            project,
            cfg,
            order,
            end,
            overrides=overrides,
            fresh=not reuse,
            members=sum(e.done is not None for e in entries),
            per_member=result.ensemble_estimate or 0.0,
            say=say,
        )
        _raise_if_all_failed_alike(entries)
        if ensemble:
            ensemble_started = now()
            _finish(project, cfg, result, say)
            result.ensemble_seconds = now() - ensemble_started
        unfit = [e for e in entries if e.done is None and e not in order]  # DoesNotFit
        result.entries = [e for e in entries if e.done is not None] + order + unfit
        result.seconds = now() - started
        return result


def _reused(entry: Entry, say: Callable[[str], None]) -> None:
    run = entry.done
    assert run is not None
    entry.status, entry.run_id = "reused", run.run_id
    entry.cv_mean, entry.seconds = run.record.get("cv_mean"), run.record.get("wall_seconds")
    entry.reason = "COMPLETE before, same config and folds"
    say(f"{entry.name}: reusing run {run.run_id} (COMPLETE with this config)")


def _check_budget_fits(entries: list[Entry], order: list[Entry], end: float, budget: float) -> None:
    """Refuse a budget in which no entry can run (none reused, none fits what is left)."""
    if any(e.done is not None for e in entries) or not order:
        return
    left = end - now()
    if any(e.estimate is None or e.estimate <= left for e in order if left > 0):
        return
    known = [e for e in order if e.estimate is not None]
    if not known:  # pragma: no cover - an entry without an estimate always may run
        return
    cheapest = min(known, key=lambda e: e.estimate or 0.0)
    need = cheapest.estimate or 0.0
    if any(e.basis == "smoke fold" for e in known):  # measured in this call
        spent = budget - left
        raise KKError(
            f"budget {fmt_duration(budget)} is too small: measuring the entries on smoke folds "
            f"took {fmt_duration(spent)} of it, and the cheapest, {cheapest.name}, needs about "
            f"{fmt_duration(need)} more; give --budget {suggest_budget(need + spent)} or more "
            "(the measurements are kept for the next call)"
        )
    raise KKError(
        f"budget {fmt_duration(budget)} is too small for any entry: the cheapest, "
        f"{cheapest.name}, needs about {fmt_duration(need)} ({cheapest.basis}); give "
        f"--budget {suggest_budget(need)} or more"
    )


def _train_all(
    project: Project,
    cfg: ProjectConfig,
    order: list[Entry],
    end: float | None,
    *,
    overrides: Sequence[str],
    fresh: bool,
    members: int = 0,
    per_member: float = 0.0,
    say: Callable[[str], None],
) -> None:
    """Train the entries in ``order`` that fit in what is left before ``end``.

    ``members``: COMPLETE runs the ensemble has already (reused); ``per_member``: the
    ensemble's expected seconds per member, kept free for it at the end.
    """
    pairs: list[tuple[float, float]] = []  # (smoke-fold estimate, actual seconds) so far
    for entry in order:
        raw = entry.estimate
        if raw is not None and entry.smoke_basis:
            entry.estimate = raw * calibration(pairs)
        # What the ensemble will need once this entry is one of its members.
        reserve = per_member * (members + 1) if members + 1 >= 2 else 0.0
        left = math.inf if end is None else end - now() - reserve
        if entry.estimate is None and left <= 0:
            _skip(entry, "no time left" + (f"; {entry.basis}" if entry.basis else ""), say)
            continue
        if entry.estimate is not None and entry.estimate > left:
            why = f"needs about {fmt_duration(entry.estimate)} ({entry.basis}), "
            if reserve:
                why += f"the ensemble about {fmt_duration(reserve)} more, "
            _skip(entry, why + f"{fmt_duration(max(left + reserve, 0.0))} left", say)
            continue
        # It may run until the budget's end (less the ensemble's part) plus its own
        # estimate: the promise is the budget plus the last entry's estimate.
        stop_at = None if end is None else end - reserve + (entry.estimate or 0.0)
        about = "" if entry.estimate is None else f"about {fmt_duration(entry.estimate)}"
        rest = "" if end is None else f"{fmt_duration(max(left + reserve, 0.0))} left"
        say(f"{entry.name}: training ({', '.join(x for x in (about, rest) if x) or 'no estimate'})")
        _train_entry(project, cfg, entry, stop_at, overrides=overrides, fresh=fresh)
        if entry.status == "trained":
            members += 1
            if entry.smoke_basis and raw and entry.seconds:
                pairs.append((raw, entry.seconds))
        say(_outcome_line(entry))


def _raise_if_all_failed_alike(entries: list[Entry]) -> None:
    """One line, not a table, when every entry failed with one reason: that is the data,
    the folds or the config, not the entries (missing files, a bad feature function)."""
    failed = {e.reason for e in entries if e.status == "failed"}
    if len(failed) == 1 and all(e.status == "failed" for e in entries):
        raise KKError(failed.pop())


def _skip(entry: Entry, reason: str, say: Callable[[str], None]) -> None:
    entry.status, entry.reason = "skipped", reason
    say(f"{entry.name}: skipped ({reason})")


def _outcome_line(entry: Entry) -> str:
    if entry.status == "trained":
        cv = "" if entry.cv_mean is None else f"CV {entry.cv_mean:.5f} "
        return f"{entry.name}: {cv}in {fmt_duration(entry.seconds or 0.0)} (run {entry.run_id})"
    return f"{entry.name}: {entry.status} ({entry.reason})"


def _train_entry(
    project: Project,
    cfg: ProjectConfig,
    entry: Entry,
    stop_at: float | None,
    *,
    overrides: Sequence[str],
    fresh: bool,
) -> None:
    """Train one entry as ``kk train --model NAME`` would; its outcome goes into ``entry``."""
    t0 = now()
    n_total: list[int] = []

    def on_fold(fold: Any, done: list[Any]) -> None:
        left = n_total[0] - len(done) if n_total else 0
        if left <= 0:
            timer.disarm()  # the folds are done: let the run complete
            return
        per_fold = sum(f.seconds for f in done) / len(done)
        if stop_at is not None and now() + per_fold * left > stop_at:
            raise BudgetSpent(
                f"{left} fold(s) of about {fmt_duration(per_fold)} would end too late"
            )

    with deadline(stop_at) as timer:
        try:
            result = training.train(
                project,
                cfg,
                model_name=entry.name,
                overrides=overrides,
                on_start=n_total.append,
                on_fold=on_fold,
                fresh=fresh,
            )
        except RunInterrupted as stopped:
            if not isinstance(stopped.__cause__, BudgetSpent):
                raise  # Ctrl-C: kk auto stops; the next call goes on with this run
            entry.status, entry.run_id = "stopped", stopped.run_id
            entry.reason = (
                f"budget spent after {stopped.n_kept} of {stopped.n_folds} folds (kept: the "
                "next kk auto goes on with them)"
            )
        except BudgetSpent:
            entry.status, entry.reason = "stopped", "budget spent before its first fold"
        except DoesNotFit as err:  # another kind of data: not the entry's fault
            entry.status, entry.reason = "skipped", str(err)
        except Exception as err:  # recorded FAILED by its run (training.run.failing)
            log.debug("%s failed", entry.name, exc_info=True)
            entry.status, entry.reason = "failed", one_line(err)
            entry.run_id = _failed_run_id(project, entry)
        else:
            entry.status, entry.run_id = "trained", result.run.run_id
            entry.cv_mean = result.cv.mean
            entry.resumed = bool(result.run.record.get("resumed"))
            if entry.resumed:
                entry.reason = "went on with its interrupted run"
    entry.seconds = now() - t0


def _failed_run_id(project: Project, entry: Entry) -> str | None:
    """The FAILED run an entry's error left (None: it failed before its run started)."""
    for run in reversed(records.list_runs(project.runs_dir)):
        if run.record.get("resume_key") == entry.key:
            return run.run_id if run.status == "FAILED" else None
    return None


# --- the ensemble and the final run ----------------------------------------------------


def _finish(
    project: Project, cfg: ProjectConfig, result: AutoResult, say: Callable[[str], None]
) -> None:
    """Ensemble the entries' COMPLETE runs (or take the one there is); the final run."""
    members = [e for e in result.entries if e.run_id and e.status in ("reused", "trained")]
    if not members:
        return
    if len(members) == 1:
        run = records.load_run(project.runs_dir / str(members[0].run_id))
        result.notes.append("one run finished: no ensemble, it is the final run")
        _set_final(result, run, weights={str(members[0].run_id): 1.0})
        return
    ids = [str(e.run_id) for e in members]
    same = _same_ensemble(project, cfg, ids)
    if same is not None:
        say(f"ensemble: reusing run {same.run_id} (the same members)")
        _set_final(result, same, weights=same.record.get("weights") or {})
        return
    say(f"ensemble: hill climbing over {len(ids)} runs")
    try:
        made = ensembling.ensemble(project, cfg, run_ids=ids, method="hill", nested=True)
    except KKError as err:
        best = max(members, key=lambda e: _goodness(e.cv_mean, result.metric))
        result.notes.append(f"no ensemble ({err}); the best run is the final run")
        best_run = records.load_run(project.runs_dir / str(best.run_id))
        _set_final(result, best_run, weights={best_run.run_id: 1.0})
        return
    _set_final(result, made.run, weights=made.weights)


def _goodness(cv: float | None, metric: Metric) -> float:
    if cv is None or not math.isfinite(cv):
        return -math.inf
    return cv if metric.greater_is_better else -cv


def _same_ensemble(project: Project, cfg: ProjectConfig, ids: list[str]) -> records.Run | None:
    """A COMPLETE hill-climbed ensemble of exactly these runs under this config, if any."""
    config = cfg.model_dump(mode="json")
    for run in reversed(records.list_runs(project.runs_dir)):
        rec = run.record
        if (
            run.status == "COMPLETE"
            and rec.get("model") == f"{ensembling.ENSEMBLE_PREFIX}hill"
            and sorted(rec.get("members") or []) == sorted(ids)
            and rec.get("config") == config
        ):
            return run
    return None


def _set_final(result: AutoResult, run: records.Run, *, weights: dict[str, float]) -> None:
    rec = run.record
    summary = run_summary(
        run, result.metric, rec["cv_mean"], rec["cv_std"], run.folder / "submission.csv"
    )
    if rec.get("members"):
        summary |= {"runs": list(rec["members"]), "weights": rec.get("weights") or weights}
        if rec.get("nested_cv_mean") is not None:
            summary["nested_cv_mean"] = rec["nested_cv_mean"]
    result.final, result.final_summary = run, summary
    _weights_of(result, weights)


def _weights_of(result: AutoResult, weights: dict[str, float]) -> None:
    for entry in result.entries:
        if entry.run_id in weights:
            entry.weight = float(weights[str(entry.run_id)])
