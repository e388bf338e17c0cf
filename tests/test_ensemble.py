"""Ensembling: hill climbing and stacking over saved runs, fold-hash checks, no leaks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from kagglekit import data, ensembling, records, training
from kagglekit import folds as folds_mod
from kagglekit.errors import KKError
from kagglekit.folds import Folds
from kagglekit.metrics import get_metric
from kagglekit.project import Project, open_project
from kagglekit.testing import make_tiny_project

TINY_MODELS = ("lightgbm", "linear")


def _setup(root: Path, name: str, task: str, n_rows: int = 240) -> Project:
    paths = make_tiny_project(root, name, task=task, n_rows=n_rows)
    project = open_project(name, root)
    cfg = project.config()
    data.fetch(project, cfg, from_dir=paths["mirror"])
    folds_mod.assign_project_folds(project, cfg)
    return project


def _fake_run(
    project: Project,
    model: str,
    oof: np.ndarray,
    test: np.ndarray,
    *,
    fold_hash: str,
    cv_mean: float | None = None,
) -> records.Run:
    """A COMPLETE run with given predictions, as ``kk train`` would leave it."""
    cfg = project.config()
    run = records.start_run(
        project.runs_dir,
        model=model,
        repo_dir=project.root,
        fold_hash=fold_hash,
        task=cfg.competition.task,
        metric=cfg.competition.metric,
    )
    run.save_array("oof", oof)
    run.save_array("test", test)
    run.finish("COMPLETE", cv_mean=cv_mean)
    return run


@pytest.fixture(scope="module")
def binary_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """A tiny binary (accuracy) project with a LightGBM and a logistic-regression run."""
    root = tmp_path_factory.mktemp("ens") / "projects"
    root.mkdir()
    project = _setup(root, "tiny", "binary", n_rows=300)
    for model in TINY_MODELS:
        training.train(project, project.config(), model_name=model)
    return project


def test_ensembles_never_lose_to_their_best_member(binary_project: Project) -> None:
    cfg = binary_project.config()
    members = [
        r for r in records.list_runs(binary_project.runs_dir) if r.record["model"] in TINY_MODELS
    ]
    best = max(r.record["cv_mean"] for r in members)
    hill = ensembling.ensemble(binary_project, cfg, method="hill")
    assert hill.cv_mean >= best
    assert sorted(hill.members) == sorted(r.run_id for r in members)
    assert sum(hill.weights.values()) == pytest.approx(1.0)
    record = records.find_run(binary_project.runs_dir, hill.run.run_id).record
    assert record["status"] == "COMPLETE" and record["model"] == "ensemble-hill"
    assert record["fold_hash"] == members[0].record["fold_hash"]
    assert 0.0 <= record["nested_cv_mean"] <= 1.0
    assert hill.submission_path.is_file()
    # The stacked run is a run like any other, with test predictions and a valid file.
    stacked = ensembling.ensemble(binary_project, cfg, method="stack")
    assert stacked.run.record["model"] == "ensemble-stack"
    assert np.load(stacked.run.path("test.npy")).shape == (
        len(np.load(members[0].path("test.npy"))),
    )
    assert stacked.run.path("submission.csv").read_text().startswith("id,target")


def test_hill_climbing_beats_members_with_independent_errors(projects_dir: Path) -> None:
    # y + independent noise of equal size: averaging k members divides the error
    # variance by k, so the blend's RMSE is certainly below every member's.
    project = _setup(projects_dir, "reg", "regression", n_rows=400)
    cfg = project.config()
    prepared = training.prepare(project, cfg)
    rng = np.random.default_rng(0)
    metric = get_metric("rmse")
    sets = ensembling.eval_sets(prepared.folds)
    member_cv = []
    for i in range(3):
        oof = prepared.y + rng.normal(scale=1.0, size=len(prepared.y))
        cv = float(
            ensembling.split_scores(oof[None], prepared.y, sets, metric, threshold=0.5).mean()
        )
        member_cv.append(cv)
        test = rng.normal(size=len(prepared.test_ids))
        _fake_run(project, f"noisy{i}", oof, test, fold_hash=prepared.folds.hash, cv_mean=cv)
    result = ensembling.ensemble(project, cfg, method="hill")
    assert result.cv_mean < min(member_cv) - 0.1
    assert all(w > 0 for w in result.weights.values())
    stacked = ensembling.ensemble(project, cfg, method="stack")
    assert stacked.cv_mean < min(member_cv) - 0.1


def test_hill_climb_starts_from_best_and_stops_without_gain() -> None:
    y = np.array([0, 1] * 50)
    perfect = y.astype(float)[None]  # (repeats=1, n)
    useless = np.full((1, 100), 0.5)
    preds = np.stack([useless, perfect, useless])
    sets = [(0, np.arange(0, 50)), (0, np.arange(50, 100))]
    fit = ensembling.hill_climb(preds, y, sets, get_metric("log_loss"))
    # Adding anything to a perfect member only hurts, so the first pick is the answer.
    assert fit.counts.tolist() == [0, 1, 0]
    assert fit.history == [(1, fit.score)]


def test_hill_climb_crosses_a_plateau_to_unequal_weights() -> None:
    # Accuracy is flat when the best member is added again, and a 1:1 blend with the
    # second member is worse; 2:1 is right on every row. Stopping at the first round
    # without a gain (the old rule) kept the best member alone.
    y = np.array([1, 0, 0, 1, 0])
    a = np.array([0.45, 0.3, 0.3, 0.9, 0.1])
    b = np.array([0.9, 0.75, 0.75, 0.9, 0.1])
    preds = np.stack([a[None], b[None]])
    sets = [(0, np.arange(5))]
    fit = ensembling.hill_climb(preds, y, sets, get_metric("accuracy"))
    assert fit.counts.tolist() == [2, 1] and fit.score == 1.0
    assert [i for i, _ in fit.history] == [0, 0, 1]  # the best ensemble along the way
    # No gain within patience rounds ends the search at the best ensemble found.
    flat = ensembling.hill_climb(preds[:1], y, sets, get_metric("accuracy"), patience=3)
    assert flat.counts.tolist() == [1] and flat.history == [(0, 0.8)]


def test_mixing_fold_hashes_is_refused(binary_project: Project) -> None:
    cfg = binary_project.config()
    current = [
        r for r in records.list_runs(binary_project.runs_dir) if r.record["model"] in TINY_MODELS
    ]
    y_len = len(np.load(current[0].path("oof.npy")))
    n_test = len(np.load(current[0].path("test.npy")))
    stale = _fake_run(
        binary_project, "stale", np.full(y_len, 0.5), np.full(n_test, 0.5), fold_hash="0" * 64
    )
    try:
        with pytest.raises(KKError, match="different folds") as err:
            ensembling.ensemble(
                binary_project, cfg, run_ids=[current[0].run_id, stale.run_id], method="hill"
            )
        assert current[0].run_id in str(err.value) and stale.run_id in str(err.value)
        # The default selection only takes runs on the current folds: the stale run is left out.
        result = ensembling.ensemble(binary_project, cfg, method="hill", nested=False)
        assert stale.run_id not in result.members
    finally:
        import shutil

        shutil.rmtree(stale.folder)


def test_stacking_runs_on_the_saved_folds(
    binary_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Folds] = []
    real = training.cross_validate

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "cross_validate", spy)
    cfg = binary_project.config()
    result = ensembling.ensemble(binary_project, cfg, method="stack")
    saved = training.prepare(binary_project, cfg).folds
    assert len(seen) == 1
    assert seen[0].hash == saved.hash == result.run.record["fold_hash"]
    assert np.array_equal(seen[0].assignment, saved.assignment)
    n_valid = [f["n_valid"] for f in result.run.record["fold_scores"]]
    assert n_valid == [len(s.valid_idx) for s in saved.splits()]


def test_stacking_on_noise_is_not_inflated() -> None:
    # Pure-noise target and 60 pure-noise members: nothing can be learned, so an honest
    # stacked CV is no better than a constant guess (log loss ln 2, accuracy 0.5). The same
    # level-2 model scored on the rows it was fitted on (the leak this test guards
    # against) reads clearly better than chance on the same data.
    rng = np.random.default_rng(0)
    n_rows, n_members = 300, 60
    y = rng.integers(0, 2, n_rows)
    oof = rng.uniform(0.05, 0.95, (n_members, n_rows))
    test = rng.uniform(0.05, 0.95, (n_members, 30))
    folds = Folds((np.arange(n_rows) % 5)[rng.permutation(n_rows)][None], "h", "stratified", 5)
    X2 = ensembling.level2_features(oof, "binary")
    in_sample = ensembling.Level2Model("binary", n_classes=2, seed=0).fit(X2, y).predict(X2)
    log_loss, accuracy = get_metric("log_loss"), get_metric("accuracy")
    assert log_loss(y, in_sample) < 0.65 and accuracy(y, in_sample) > 0.62
    cv_ll, _ = ensembling.stack(oof, test, y, folds, log_loss, task="binary", n_classes=2)
    cv_acc, _ = ensembling.stack(oof, test, y, folds, accuracy, task="binary", n_classes=2)
    assert cv_ll.mean > np.log(2)
    assert cv_acc.mean < 0.58


def test_multiclass_members_blend_in_probability_space(projects_dir: Path) -> None:
    project = _setup(projects_dir, "multi", "multiclass", n_rows=300)
    cfg = project.config()
    prepared = training.prepare(project, cfg)
    rng = np.random.default_rng(1)
    n, k = len(prepared.y), len(prepared.classes or [])
    truth = np.eye(k)[prepared.y]
    for i in range(2):
        oof = 0.5 * truth + 0.5 * rng.dirichlet(np.ones(k), size=n)
        test = rng.dirichlet(np.ones(k), size=len(prepared.test_ids))
        _fake_run(project, f"m{i}", oof, test, fold_hash=prepared.folds.hash)
    for method in ensembling.METHODS:
        result = ensembling.ensemble(project, cfg, method=method)
        test_pred = np.load(result.run.path("test.npy"))
        assert test_pred.shape == (len(prepared.test_ids), k)
        assert np.allclose(test_pred.sum(axis=1), 1.0)


def test_kk_ensemble_json_and_runs_listing(
    binary_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kagglekit.cli import app

    monkeypatch.setenv("KK_PROJECTS_DIR", str(binary_project.root.parent))
    runner = CliRunner()
    out = runner.invoke(app, ["ensemble", "tiny", "--method", "hill", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["model"] == "ensemble-hill"
    for key in (
        "run_id",
        "metric",
        "cv_mean",
        "cv_std",
        "submission",
        "wall_seconds",
        "runs",
        "weights",
    ):
        assert key in summary
    assert set(summary["weights"]) == set(summary["runs"])
    listed = runner.invoke(app, ["runs", "tiny", "--json"])
    rows = [json.loads(line) for line in listed.stdout.strip().splitlines()]
    assert any(r["run_id"] == summary["run_id"] and r["status"] == "COMPLETE" for r in rows)
    bad = runner.invoke(app, ["ensemble", "tiny", "--method", "vote"])
    assert isinstance(bad.exception, KKError) and "vote" in str(bad.exception)


def test_kk_ensemble_takes_several_runs_after_one_flag(
    binary_project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kk ensemble P --runs A B`` as the README shows, with any run name ``--run`` takes."""
    from kagglekit.cli import app

    monkeypatch.setenv("KK_PROJECTS_DIR", str(binary_project.root.parent))
    runner = CliRunner()
    runs = {r.record["model"]: r.run_id for r in records.list_runs(binary_project.runs_dir)}
    for names in (
        [runs["lightgbm"], runs["linear"]],  # --runs A B
        [f"{runs['lightgbm']},{runs['linear'][-6:]}"],  # --runs A,B (a unique suffix)
        ["lightgbm", "linear"],  # model names: their best runs
    ):
        out = runner.invoke(app, ["ensemble", "tiny", "--runs", *names, "--json"])
        assert out.exit_code == 0, out.output
        summary = json.loads(out.stdout.strip().splitlines()[-1])
        assert sorted(summary["runs"]) == sorted([runs["lightgbm"], runs["linear"]])
    stray = runner.invoke(app, ["ensemble", "tiny", "lightgbm"])
    assert isinstance(stray.exception, KKError) and "--runs A B" in str(stray.exception)


def test_a_holdout_project_gets_an_honest_nested_score(projects_dir: Path) -> None:
    # One split: the weights cannot be chosen on another fold, so the holdout's rows are
    # cut into parts, each scored with weights chosen on the others.
    project = _setup(projects_dir, "hold", "binary", n_rows=300)
    overrides = ['cv.kind="holdout"', "cv.valid_size=0.4"]
    cfg = project.config(overrides)
    folds_mod.assign_project_folds(project, cfg)
    for model in TINY_MODELS:
        training.train(project, cfg, model_name=model, overrides=overrides)
    record = ensembling.ensemble(project, cfg, method="hill").run.record
    assert len(record["nested_fold_scores"]) == ensembling.HOLDOUT_PARTS
    assert 0.0 <= record["nested_cv_mean"] <= 1.0
    # In-sample weights can only flatter: the score they reach on the rows they were
    # chosen on is at least as high as the best member's.
    assert record["cv_mean"] >= max(
        r.record["cv_mean"]
        for r in records.list_runs(project.runs_dir)
        if "ensemble" not in r.record["model"]
    )
