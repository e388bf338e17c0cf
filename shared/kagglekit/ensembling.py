"""Ensembles of runs: Caruana hill climbing and stacking, recorded as runs themselves.

Both methods read the members' saved out-of-fold (OOF) and test predictions, which live
in the task's prediction space (see ``kagglekit.metrics``), so blending probabilities and
then thresholding is what a label metric such as accuracy sees. Only runs made on the same
fold file can be combined: their OOF rows were predicted by models that did not see them
on the same splits, which is what makes an ensemble's CV comparable with its members'.

Hill climbing (Caruana et al., 2004) starts from the best single run and greedily adds a
run, with replacement, while the project's CV score improves; the weights are the counts.
The objective is the mean of per-fold scores (what ``cv_mean`` means for every run), so
the result is never worse than its best member on that figure. That CV is slightly
optimistic, since the weights were chosen on the same OOF rows they are scored on;
``nested_hill_climb`` gives an honest estimate (weights chosen on the other folds), which
is recorded as ``nested_cv_mean``.

Stacking fits a small level-2 model (logistic regression on the members' logits, or a
non-negative linear regression for regression) on the OOF predictions, cross-validated
with ``training.cross_validate`` on the project's saved folds: each level-2 fold model
never sees the rows it is scored on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import kagglekit.records as records
import kagglekit.training as training
import kagglekit.training.run as lifecycle
from kagglekit.config import ProjectConfig
from kagglekit.errors import KKError
from kagglekit.folds import Folds
from kagglekit.metrics import Metric, get_metric
from kagglekit.models.base import FoldContext
from kagglekit.project import Project
from kagglekit.tasks import Task, as_task, get_task, task_name

log = logging.getLogger(__name__)

METHODS = ("hill", "stack")
ENSEMBLE_PREFIX = "ensemble-"


# --- members ----------------------------------------------------------------------------


@dataclass
class Member:
    """One run's saved predictions.

    ``oof`` has shape (n_repeats, n_rows) or (n_repeats, n_rows, n_classes); ``test`` has
    shape (n_test,) or (n_test, n_classes).
    """

    run: records.Run
    oof: np.ndarray
    test: np.ndarray

    @property
    def run_id(self) -> str:
        return self.run.run_id


def is_ensemble(run: records.Run) -> bool:
    """True for runs made by this module (excluded from the default member list)."""
    return str(run.record.get("model", "")).startswith(ENSEMBLE_PREFIX)


def select_runs(
    project: Project, fold_hash: str, run_ids: Sequence[str] | None = None
) -> list[records.Run]:
    """The runs to combine: ``run_ids``, or every COMPLETE non-ensemble run on ``fold_hash``.

    By default duplicates (``records.unique_runs``) count once, as their newest run.

    Raises ``KKError`` when the runs were made on different folds (naming them), when a run
    is not COMPLETE, or when fewer than two runs are left.
    """
    if run_ids:
        chosen: list[records.Run] = []
        for rid in run_ids:
            run = lifecycle.resolve_run(project, rid, copies=True)
            if run.run_id not in {r.run_id for r in chosen}:
                chosen.append(run)
        not_done = [f"{r.run_id} ({r.status})" for r in chosen if r.status != "COMPLETE"]
        if not_done:
            raise KKError(f"only COMPLETE runs can be ensembled; not: {', '.join(not_done)}")
    else:
        candidates = [
            r
            for r in records.runs_with_copies(project.runs_dir)
            if r.status == "COMPLETE"
            and not is_ensemble(r)
            and r.record.get("fold_hash") == fold_hash
            and r.has_array("oof")  # a committed copy may hold the record only
        ]
        # One member per distinct run: two runs of one config on these folds are one model.
        chosen = records.unique_runs(candidates)
        if len(chosen) < len(candidates):
            log.info(
                "left out %d duplicate run(s) (same config, folds and backend as a newer one)",
                len(candidates) - len(chosen),
            )
    check_same_folds(chosen, fold_hash)
    if len(chosen) < 2:
        raise KKError(
            f"an ensemble needs at least 2 COMPLETE runs on the current folds (hash {fold_hash[:12]}); "
            f"found {len(chosen)}: train more models with `kk train {project.name} --model NAME`"
        )
    return chosen


def check_same_folds(runs: Sequence[records.Run], fold_hash: str | None = None) -> None:
    """Refuse runs made on different fold files, naming each run with its fold hash."""
    hashes = {str(r.record.get("fold_hash")) for r in runs}
    if len(hashes) > 1:
        named = ", ".join(f"{r.run_id} (folds {str(r.record.get('fold_hash'))[:12]})" for r in runs)
        raise KKError(
            f"runs made on different folds cannot be ensembled: {named}; "
            "pick runs with the same fold hash (see `kk runs PROJECT --json`)"
        )
    if fold_hash is not None and runs and hashes != {fold_hash}:
        named = ", ".join(r.run_id for r in runs)
        raise KKError(
            f"runs {named} were made on folds {next(iter(hashes))[:12]} but the project's folds are "
            f"now {fold_hash[:12]}; retrain them on the current folds"
        )


def load_members(runs: Sequence[records.Run], *, n_repeats: int, task: Task | str) -> list[Member]:
    """Read each run's OOF (per repeat when saved) and test predictions, checked for shape."""
    members = []
    name = task_name(task)  # what run records keep
    for run in runs:
        if run.record.get("task") not in (None, name):
            raise KKError(
                f"run {run.run_id} is a {run.record.get('task')} run but the project is {name}"
            )
        oof = run.load_array("oof")
        if n_repeats > 1 and run.has_array("oof_repeats"):
            oof_r = run.load_array("oof_repeats")
        else:
            if n_repeats > 1:
                log.warning("run %s has no per-repeat OOF; using its mean OOF", run.run_id)
            oof_r = np.repeat(oof[None], n_repeats, axis=0)
        members.append(Member(run=run, oof=oof_r, test=run.load_array("test")))
    shapes = {(m.oof.shape[1:], m.test.shape) for m in members}
    if len(shapes) > 1:
        listing = ", ".join(
            f"{m.run_id} oof {m.oof.shape[1:]} test {m.test.shape}" for m in members
        )
        raise KKError(
            f"runs have predictions of different shapes: {listing}; were they trained on the same data?"
        )
    return members


# --- scoring ----------------------------------------------------------------------------

EvalSet = tuple[int, np.ndarray]  # (repeat, validation row indices)


def eval_sets(folds: Folds) -> list[EvalSet]:
    """One (repeat, validation rows) per saved split."""
    return [(s.repeat, s.valid_idx) for s in folds.splits()]


def split_scores(
    pred: np.ndarray, y: np.ndarray, sets: Sequence[EvalSet], metric: Metric, *, threshold: float
) -> np.ndarray:
    """Metric on each evaluation set; ``pred`` has shape (n_repeats, n_rows[, k])."""
    return np.array(
        [metric(y[idx], pred[repeat, idx], threshold=threshold) for repeat, idx in sets]
    )


# --- hill climbing ----------------------------------------------------------------------


@dataclass
class HillClimb:
    """Outcome of hill climbing: counts per member, weights, score and the path taken."""

    counts: np.ndarray  # (n_members,) int
    score: float
    history: list[tuple[int, float]] = field(default_factory=list)  # (member added, score)

    @property
    def weights(self) -> np.ndarray:
        return self.counts / self.counts.sum()


def blend(preds: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted average over the first axis of ``preds`` (members)."""
    return np.tensordot(np.asarray(weights, dtype=float), preds, axes=1) / float(np.sum(weights))


def hill_climb(
    preds: np.ndarray,
    y: np.ndarray,
    sets: Sequence[EvalSet],
    metric: Metric,
    *,
    threshold: float = 0.5,
    max_rounds: int = 100,
    patience: int = 20,
    combine: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> HillClimb:
    """Caruana's greedy forward selection with replacement (Caruana et al., 2004).

    ``preds`` has shape (n_members, n_repeats, n_rows[, k]). Starting from the member with
    the best mean score over ``sets``, each round adds (again, if it helps) the member
    whose addition gives the best mean score, even when that is no better than before:
    a member added twice before a third one is how weights of 2/3 and 1/3 arise, and a
    thresholded metric (F1, accuracy) is flat over such steps. The answer is the best
    ensemble along the way (the first to reach its score, so the fewest additions). It
    stops after ``max_rounds`` additions, or ``patience`` rounds without a new best.
    ``combine(preds, counts)`` replaces the weighted average for tasks whose predictions
    do not average (ranked lists: the task's rank fusion).
    """
    n_members = preds.shape[0]

    def objective(pred: np.ndarray) -> float:
        return float(split_scores(pred, y, sets, metric, threshold=threshold).mean())

    singles = [objective(preds[i]) for i in range(n_members)]
    best = 0
    for i in range(1, n_members):
        if metric.better(singles[i], singles[best]):
            best = i
    counts = np.zeros(n_members, dtype=np.int64)
    counts[best] = 1
    total = preds[best].astype(float).copy()
    score = singles[best]
    history = [(best, score)]
    best_counts, best_score, best_len = counts.copy(), score, 1
    for _ in range(max_rounds):
        if len(history) - best_len >= patience:
            break
        n_in = int(counts.sum())
        if combine is None:
            trial_scores = [objective((total + preds[i]) / (n_in + 1)) for i in range(n_members)]
        else:
            more = np.eye(n_members, dtype=np.int64)
            trial_scores = [objective(combine(preds, counts + more[i])) for i in range(n_members)]
        pick = 0
        for i in range(1, n_members):
            if metric.better(trial_scores[i], trial_scores[pick]):
                pick = i
        counts[pick] += 1
        total += preds[pick]
        score = trial_scores[pick]
        history.append((pick, score))
        if metric.better(score, best_score):
            best_counts, best_score, best_len = counts.copy(), score, len(history)
    return HillClimb(counts=best_counts, score=best_score, history=history[:best_len])


HOLDOUT_PARTS = 5


def nested_hill_climb(
    preds: np.ndarray,
    y: np.ndarray,
    folds: Folds,
    metric: Metric,
    *,
    threshold: float = 0.5,
    max_rounds: int = 100,
    combine: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Honest per-split scores of hill climbing: weights chosen without the scored fold.

    For each split, hill climbing runs on the other folds of the same repeat and the
    weights it finds are scored on the split's validation rows. A holdout's validation
    rows are cut into ``HOLDOUT_PARTS`` parts that play the folds' role.
    """
    sets = eval_sets(folds)
    if folds.n_splits == 1:
        # A holdout has no other fold to choose weights on: its validation rows are cut
        # into parts, and each part is scored with weights chosen on the other parts.
        rng = np.random.default_rng(0)
        sets = [
            (repeat, np.sort(part))
            for repeat, idx in sets
            for part in np.array_split(rng.permutation(idx), HOLDOUT_PARTS)
        ]
    scores = []
    for k, (repeat, idx) in enumerate(sets):
        inner = [s for j, s in enumerate(sets) if j != k and s[0] == repeat]
        if not inner:
            raise KKError("nested hill climbing needs at least 2 folds per repeat")
        fit = hill_climb(
            preds, y, inner, metric, threshold=threshold, max_rounds=max_rounds, combine=combine
        )
        pred = (combine or blend)(preds[:, repeat, idx], fit.weights)
        scores.append(metric(y[idx], pred, threshold=threshold))
    return np.array(scores)


# --- stacking ---------------------------------------------------------------------------


def level2_features(preds: np.ndarray, task: Task | str) -> np.ndarray:
    """Level-2 inputs from member predictions of shape (n_members, n_rows[, k]).

    Probabilities become logits (binary) or log-probabilities (multiclass), where a linear
    model is at home; regression values are kept. Returns (n_rows, n_members[*k]).
    """
    return as_task(task).level2_features(preds)


class Level2Model:
    """The stacker, behind the ``Model`` protocol so ``cross_validate`` can run it.

    Logistic regression for classification, non-negative linear regression (with an
    intercept) for regression: few parameters, hard to overfit with a handful of members.
    """

    def __init__(self, task: Task | str, *, n_classes: int, seed: int, C: float = 1.0) -> None:
        self.task = as_task(task)
        self.n_classes = n_classes
        self.seed = seed
        self.C = C

    def fit(
        self,
        X: Any,
        y: np.ndarray,
        *,
        X_valid: Any = None,
        y_valid: np.ndarray | None = None,
        fold: FoldContext | None = None,
    ) -> Level2Model:
        self.estimator_: Any = self.task.level2_estimator(C=self.C, seed=self.seed)
        self.estimator_.fit(X, y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self.task.level2_predict(self.estimator_, X, self.n_classes)

    def learned(self) -> dict[str, Any]:
        coef = np.atleast_2d(self.estimator_.coef_)
        return {
            "coef": coef.tolist(),
            "intercept": np.atleast_1d(self.estimator_.intercept_).tolist(),
        }


def stack(
    oof: np.ndarray,
    test: np.ndarray,
    y: np.ndarray,
    folds: Folds,
    metric: Metric,
    *,
    task: Task | str,
    n_classes: int,
    threshold: float = 0.5,
    seed: int = 0,
) -> tuple[training.CVResult, np.ndarray]:
    """Cross-validate a level-2 model on the members' OOF predictions over ``folds``.

    ``oof`` has shape (n_members, n_rows[, k]) (mean over repeats), ``test`` has shape
    (n_members, n_test[, k]). Returns the CV result and one coefficient per member
    (averaged over folds; for multiclass, each member's coefficient on its own class).
    """
    if folds.kind == "timeseries" or not folds.validated_mask(0).all():
        raise KKError(
            f"stacking needs every row to have an OOF prediction, which {folds.kind} folds do "
            "not give; use --method hill"
        )
    task = as_task(task)
    X2 = level2_features(oof, task)
    X2_test = level2_features(test, task)
    n_out = max(1, task.n_outputs(list(range(n_classes))))
    result = training.cross_validate(
        X2,
        y,
        folds,
        lambda: Level2Model(task, n_classes=n_classes, seed=seed),
        metric,
        X_test=X2_test,
        threshold=threshold,
        n_outputs=n_out,
        task=task,
    )
    coefs = np.mean([np.array(f.learned["coef"]) for f in result.folds], axis=0)
    per_member = task.member_weights(coefs, oof.shape[0], n_classes)
    return result, per_member


# --- the ensemble run -------------------------------------------------------------------


@dataclass
class EnsembleResult:
    """An ensemble run with its members, weights and CV figures."""

    run: records.Run
    method: str
    members: list[str]
    weights: dict[str, float]
    metric: Metric
    fold_scores: np.ndarray
    submission_path: Path
    nested_scores: np.ndarray | None = None

    @property
    def cv_mean(self) -> float:
        return float(self.fold_scores.mean())

    @property
    def cv_std(self) -> float:
        return float(self.fold_scores.std())

    def summary(self) -> dict[str, Any]:
        """The ``--json`` line of ``kk ensemble`` (``kk train``'s keys plus runs and weights)."""
        run, metric = self.run, self.metric
        out = lifecycle.run_summary(run, metric, self.cv_mean, self.cv_std, self.submission_path)
        out |= {"runs": self.members, "weights": self.weights}
        if self.nested_scores is not None:
            out["nested_cv_mean"] = float(self.nested_scores.mean())
        return out


def ensemble(
    project: Project,
    cfg: ProjectConfig,
    *,
    run_ids: Sequence[str] | None = None,
    method: str = "hill",
    max_rounds: int = 100,
    nested: bool = True,
) -> EnsembleResult:
    """Combine runs into a new run ``ensemble-hill`` or ``ensemble-stack``.

    Writes ``runs/<run_id>/`` through the same run lifecycle as ``training.train``
    (``training.run``): record (members, weights, per-fold scores, ``cv_mean``, and for
    hill climbing ``nested_cv_mean``), ``oof.npy``, ``test.npy``, ``target.npy`` and a
    validated ``submission.csv``; FAILED with the error if anything goes wrong.

    Examples
    --------
    >>> result = ensemble(project, cfg, method="hill")  # doctest: +SKIP
    >>> result.weights  # doctest: +SKIP
    {'20261129-...-lightgbm-3f9a': 0.6, '20261129-...-logistic-1c2d': 0.4}
    """
    if method not in METHODS:
        raise KKError(f"ensemble method '{method}' is not known; use one of {', '.join(METHODS)}")
    comp = cfg.competition
    task_obj = get_task(comp.task)
    # Predictions that do not average (ranked lists) are combined by the task's own blend.
    combine = None if task_obj.blends_by_average else task_obj.blend
    metric = get_metric(comp.metric)
    prepared = training.prepare(project, cfg)
    folds = prepared.folds
    runs = select_runs(project, folds.hash, run_ids)
    members = load_members(runs, n_repeats=folds.n_repeats, task=task_obj)
    n_oof, n_test = members[0].oof.shape[1], members[0].test.shape[0]
    if (n_oof, n_test) != (len(prepared.y), len(prepared.test_ids)):
        raise KKError(
            f"runs have {n_oof} OOF / {n_test} test rows but the project has "
            f"{len(prepared.y)} / {len(prepared.test_ids)}; retrain them"
        )
    if method == "stack" and (folds.kind == "timeseries" or not folds.validated_mask(0).all()):
        raise KKError(
            f"stacking needs every row to have an OOF prediction, which {folds.kind} folds do "
            "not give; use --method hill"
        )
    member_ids = [m.run_id for m in members]
    oof_r = np.stack([m.oof for m in members])  # (m, R, n[, k])
    test = np.stack([m.test for m in members])  # (m, n_test[, k])
    validated = folds.validated_mask(0)
    missing = [m.run_id for m in members if np.isnan(m.oof[:, validated]).any()]
    if missing:
        raise KKError(f"runs {', '.join(missing)} have validated rows without OOF predictions")
    name = f"{ENSEMBLE_PREFIX}{method}"
    run = lifecycle.open_run(
        project,
        prepared,
        metric,
        model=name,
        backend="ensemble",
        config=cfg.model_dump(mode="json"),
        seeds={"cv": cfg.cv.seed},
        method=method,
        members=member_ids,
    )
    with lifecycle.failing(run):
        if method == "hill":
            fit = _by_hill_climbing(
                oof_r,
                test,
                prepared.y,
                folds,
                metric,
                member_ids,
                threshold=comp.threshold,
                max_rounds=max_rounds,
                nested=nested,
                combine=combine,
            )
        else:
            cv, weights = stack(
                oof_r.mean(axis=1),
                test,
                prepared.y,
                folds,
                metric,
                task=task_obj,
                n_classes=len(prepared.classes or []),
                threshold=comp.threshold,
                seed=cfg.cv.seed,
            )
            if cv.test_pred is None:  # pragma: no cover - X_test is always given
                raise RuntimeError("stacking returned no test predictions")
            fit = _Fit(weights, cv.oof, cv.oof_mean(), cv.test_pred, cv.scores)
        weight_map = {rid: float(w) for rid, w in zip(member_ids, fit.weights, strict=True)}
        sub_path = lifecycle.complete(
            run,
            prepared,
            comp,
            metric,
            oof=fit.oof,
            test=fit.test,
            oof_repeats=fit.oof_repeats,
            fold_scores=lifecycle.split_records(folds, fit.scores),
            weights=weight_map,
            member_cv={m.run_id: m.run.record.get("cv_mean") for m in members},
            **fit.extra,
        )
        log.info("%s: CV %s %.5f over %d runs", name, metric.name, fit.scores.mean(), len(members))
        return EnsembleResult(
            run=run,
            method=method,
            members=member_ids,
            weights=weight_map,
            metric=metric,
            fold_scores=fit.scores,
            submission_path=sub_path,
            nested_scores=fit.nested_scores,
        )


@dataclass
class _Fit:
    """What either method gives the ensemble run."""

    weights: np.ndarray  # one per member
    oof_repeats: np.ndarray  # (R, n[, k])
    oof: np.ndarray  # (n[, k]), averaged over repeats
    test: np.ndarray  # (n_test[, k])
    scores: np.ndarray  # one per split, in Folds.splits() order
    extra: dict[str, Any] = field(default_factory=dict)  # for the record
    nested_scores: np.ndarray | None = None


def _by_hill_climbing(
    oof_r: np.ndarray,
    test: np.ndarray,
    y: np.ndarray,
    folds: Folds,
    metric: Metric,
    member_ids: list[str],
    *,
    threshold: float,
    max_rounds: int,
    nested: bool,
    combine: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
) -> _Fit:
    """Hill-climbed weights over the members, with the nested CV estimate if asked."""
    sets = eval_sets(folds)
    fit = hill_climb(
        oof_r, y, sets, metric, threshold=threshold, max_rounds=max_rounds, combine=combine
    )
    oof_repeats = (combine or blend)(oof_r, fit.weights)  # (R, n[, k])
    extra: dict[str, Any] = {
        "counts": dict(zip(member_ids, fit.counts.tolist(), strict=True)),
        "history": [[member_ids[i], s] for i, s in fit.history],
    }
    nested_scores = None
    if nested:
        nested_scores = nested_hill_climb(
            oof_r, y, folds, metric, threshold=threshold, max_rounds=max_rounds, combine=combine
        )
        extra["nested_fold_scores"] = nested_scores.tolist()
        extra["nested_cv_mean"] = float(nested_scores.mean())
        extra["nested_cv_std"] = float(nested_scores.std())
    scores = split_scores(oof_repeats, y, sets, metric, threshold=threshold)
    test_pred = (combine or blend)(test, fit.weights)
    return _Fit(
        fit.weights, oof_repeats, oof_repeats.mean(axis=0), test_pred, scores, extra, nested_scores
    )
