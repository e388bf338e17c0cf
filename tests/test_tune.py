"""Tuning: objective = kk train's CV score, pruning between folds, workers, resume, errors.

The PostgreSQL test needs ``KK_TEST_POSTGRES_URL`` (``.ci/run`` starts a server and sets it).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import warnings
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from kagglekit import data, folds, training, tuning
from kagglekit.config import SearchChoices, SearchRange, validate_config
from kagglekit.errors import KKError
from kagglekit.models import get_backend
from kagglekit.models.base import backend_names
from kagglekit.project import Project, open_project
from kagglekit.tasks import get_task
from kagglekit.testing import make_tiny_project, run_kk_inprocess, tiny_config
from kagglekit.tuning.spaces import search_space
from kagglekit.tuning.storage import _with_driver

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
POSTGRES_URL = os.environ.get("KK_TEST_POSTGRES_URL", "")

# A fold step that takes a while, so a worker can be caught (and killed) mid-trial and
# two workers really overlap. It changes nothing in the data.
SLOW_FEATURES = """
import time

from sklearn.base import BaseEstimator, TransformerMixin


class Slow(TransformerMixin, BaseEstimator):
    kk_cacheable = False  # slow in every trial, not only the first (the fold cache)

    def __init__(self, seconds=0.0):
        self.seconds = seconds

    def fit(self, X, y=None):
        time.sleep(self.seconds)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return X

    def get_feature_names_out(self, input_features=None):
        return input_features

    def set_output(self, *, transform=None):
        return self


FOLD_STEPS = {"slow": Slow}
"""


def setup_project(
    projects: Path, name: str = "tiny", *, extra: str = "", slow: float = 0.0
) -> Project:
    if slow:
        extra = (
            f'[features]\nsteps = [{{ kind = "slow", params = {{ seconds = {slow} }} }}]\n\n'
            + extra
        )
    config = tiny_config(name).replace("[models.lightgbm]", f"{extra}\n[models.lightgbm]")
    paths = make_tiny_project(projects, name, config=config)
    if slow:
        (paths["project"] / "features.py").write_text(SLOW_FEATURES)
    project = open_project(name, projects)
    cfg = project.config()
    data.fetch(project, cfg, from_dir=paths["mirror"])
    folds.assign_project_folds(project, cfg)
    return project


def _trials(
    project: Project, study: str = "lightgbm", url: str | None = None
) -> list[optuna.trial.FrozenTrial]:
    storage = tuning.open_storage(project, study, url)
    return optuna.load_study(study_name=study, storage=storage).get_trials()


# --- search spaces ----------------------------------------------------------------------


METRIC_OF_TASK = {
    "binary": "accuracy",
    "multiclass": "accuracy",
    "regression": "rmse",
    "ranking": "map@10",
}


@pytest.mark.parametrize("backend_name", backend_names())
def test_default_space_uses_real_parameter_names(backend_name: str) -> None:
    try:
        backend = get_backend(backend_name)
    except KKError as err:
        pytest.skip(str(err))  # its extra is not installed
    if not backend.default_space:
        pytest.skip(f"backend '{backend_name}' has no default search space")
    cfg_model = validate_config(
        {
            "default_model": "m",
            "competition": {
                "name": "x",
                "id_column": "id",
                "target_column": "t",
                "task": backend.tasks[0],
                "metric": METRIC_OF_TASK[backend.tasks[0]],
                "submission_format": get_task(backend.tasks[0]).formats[0],
            },
            "models": {"m": {"backend": backend_name}},
        }
    ).models["m"]
    space = search_space("m", cfg_model)
    assert space.dimensions
    for task in backend.tasks:
        # every name is a parameter the estimator really has (a typo would be rejected)
        known = backend.known_params(task)
        assert set(space.dimensions) | set(space.fixed) <= known
    dists = space.distributions()
    assert set(dists) == set(space.dimensions)


def test_config_search_overrides_default_space() -> None:
    cfg = validate_config(
        {
            "default_model": "m",
            "competition": {
                "name": "x",
                "id_column": "id",
                "target_column": "t",
                "task": "binary",
                "metric": "accuracy",
            },
            "models": {
                "m": {
                    "backend": "lightgbm",
                    "search": {
                        "num_leaves": {"low": 8, "high": 64, "log": True},
                        "boosting_type": {"choices": ["gbdt", "goss"]},
                        "learning_rate": 0.1,
                    },
                }
            },
        }
    )
    space = search_space("m", cfg.models["m"])
    assert space.dimensions["num_leaves"] == SearchRange(low=8, high=64, log=True)
    assert isinstance(space.dimensions["boosting_type"], SearchChoices)
    assert "learning_rate" not in space.dimensions
    assert space.fixed["learning_rate"] == 0.1
    dist = space.distributions()["num_leaves"]
    assert isinstance(dist, optuna.distributions.IntDistribution) and dist.log


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{ low = 128, high = 8 }", "low (128) must be below high (8)"),
        ("{ low = 0, high = 1, log = true }", "log = true needs low > 0"),
        ("{ choices = [] }", "at least 1 item"),
        ("{ lo = 1, hi = 2 }", "'low' must be a number"),
        ("[1, 2]", "is not a search range"),
    ],
)
def test_bad_search_space_is_one_line(
    projects_dir: Path, value: str, expected: str, capsys: Any, monkeypatch: Any
) -> None:
    config = tiny_config("bad") + f"\n[models.lightgbm.search]\nnum_leaves = {value}\n"
    config = config.replace("[models.lightgbm]\n", "[models.lgb]\n", 1)
    config = config.replace('default_model = "lightgbm"', 'default_model = "lgb"')
    config = config.replace("[models.lightgbm.search]", "[models.lgb.search]")
    make_tiny_project(projects_dir, "bad", config=config)
    code, _, err = run_kk_inprocess(capsys, monkeypatch, "tune", "bad", "--trials", "1")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "models.lgb.search.num_leaves" in lines[0] and expected in lines[0]


def test_empty_space_unknown_model_bad_storage_are_one_line_each(
    projects_dir: Path, capsys: Any, monkeypatch: Any
) -> None:
    extra = '[models.fixed]\nbackend = "logistic_regression"\nsearch = { C = 1.0 }\n'
    setup_project(projects_dir, extra=extra)
    cases = [
        (["tune", "tiny", "--model", "fixed"], "empty search space (every parameter is fixed)"),
        (["tune", "tiny", "--model", "lightgbn"], "did you mean 'lightgbm'"),
        (["tune", "tiny", "--storage", "redis://nowhere"], "is not a storage URL"),
        (
            ["tune", "tiny", "--storage", "postgresql://kk:secret@127.0.0.1:1/none"],
            "cannot open storage postgresql://kk:***@127.0.0.1:1/none",
        ),
        (["tune", "tiny", "--timeout", "0"], "--timeout 0 must be a positive number of seconds"),
        (["tune", "tiny", "--study", "../elsewhere"], "--study '../elsewhere' is not a valid"),
    ]
    for args, expected in cases:
        code, _, err = run_kk_inprocess(capsys, monkeypatch, *args, "--trials", "1")
        lines = err.strip().splitlines()
        assert code == 1 and len(lines) == 1, (args, err)
        assert expected in lines[0], (args, lines[0])
        assert "secret" not in err


# --- the objective, pruning and reproduction --------------------------------------------


def test_pruning_prunes_a_bad_trial_between_folds(projects_dir: Path) -> None:
    project = setup_project(projects_dir)
    cfg = project.config()
    n_folds = cfg.cv.n_splits
    good, bad = {"min_child_samples": 5}, {"min_child_samples": 100}  # 100 > rows: no split
    for study_name, prune in (("pruned", True), ("unpruned", False)):
        storage = tuning.open_storage(project, study_name, None)
        study = optuna.create_study(storage=storage, study_name=study_name, direction="maximize")
        for params in [good] * 5 + [bad]:
            study.enqueue_trial(params)
        tuning.tune(project, cfg, study_name=study_name, n_trials=6, prune=prune, seed=0)
        trials = _trials(project, study_name)
        assert len(trials) == 6
        assert all(t.state == TrialState.COMPLETE for t in trials[:5])
        last = trials[5]
        assert last.params["min_child_samples"] == 100
        if prune:
            assert last.state == TrialState.PRUNED
            assert max(last.intermediate_values) < n_folds - 1  # stopped before the last fold
        else:
            assert last.state == TrialState.COMPLETE
            assert sorted(last.intermediate_values) == list(range(n_folds))
            assert last.value is not None and last.value < min(t.value for t in trials[:5])


def test_parameters_the_backend_rejects_fail_that_trial_only(projects_dir: Path) -> None:
    project = setup_project(projects_dir)
    cfg = project.config()
    storage = tuning.open_storage(project, "rejects", None)
    study = optuna.create_study(storage=storage, study_name="rejects", direction="maximize")
    study.enqueue_trial({"num_leaves": 1})  # LightGBM refuses num_leaves < 2 while fitting
    study.enqueue_trial({"num_leaves": 7})
    tuning.tune(project, cfg, study_name="rejects", n_trials=2, prune=False, seed=0)
    trials = _trials(project, "rejects")
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.COMPLETE]


def test_kk_tune_goes_on_after_a_failed_trial_that_follows_a_complete_one(
    projects_dir: Path, capsys: Any, monkeypatch: Any
) -> None:
    project = setup_project(projects_dir)
    storage = tuning.open_storage(project, "fails-second", None)
    study = optuna.create_study(storage=storage, study_name="fails-second", direction="maximize")
    study.enqueue_trial({"num_leaves": 7})
    study.enqueue_trial({"num_leaves": 1})  # fails while fitting: its value is None
    args = ("tune", "tiny", "--study", "fails-second", "--trials", "2", "--no-prune")
    code, _, err = run_kk_inprocess(capsys, monkeypatch, *args)
    assert code == 0, err
    trials = _trials(project, "fails-second")
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL]


class _PruneAtSecondFold(optuna.pruners.BasePruner):
    """Prunes every trial after its second fold: shows what the objective reports."""

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return max(trial.intermediate_values) >= 1


class _WilcoxonAtSecondFold(optuna.pruners.WilcoxonPruner):
    def __init__(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            super().__init__()

    prune = _PruneAtSecondFold.prune


def test_no_trial_is_pruned_after_its_last_fold(projects_dir: Path, monkeypatch: Any) -> None:
    project = setup_project(projects_dir)
    cfg = project.config()
    n_folds = cfg.cv.n_splits
    seen: list[int] = []

    class PruneAtLast(optuna.pruners.BasePruner):
        def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
            seen.append(max(trial.intermediate_values))
            return max(trial.intermediate_values) == n_folds - 1

    monkeypatch.setattr(tuning.study, "make_pruner", lambda name: PruneAtLast())
    result = tuning.tune(project, cfg, study_name="last", n_trials=3, seed=0)
    trials = result.study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3  # the work was done
    assert seen == list(range(n_folds - 1)) * 3  # asked after every fold but the last


@pytest.mark.parametrize("pruner", [_PruneAtSecondFold, _WilcoxonAtSecondFold])
def test_pruned_between_folds_with_running_mean_or_fold_scores(
    projects_dir: Path, monkeypatch: Any, pruner: type
) -> None:
    """Running fold means for the usual pruners, each fold's own score for Wilcoxon."""
    project = setup_project(projects_dir)
    cfg = project.config()
    assert cfg.cv.n_splits > 2
    unpruned = tuning.tune(project, cfg, study_name="off", n_trials=1, seed=0, prune=False)
    scores = unpruned.study.get_trials()[0].user_attrs["kk_fold_scores"]
    monkeypatch.setattr(tuning.study, "make_pruner", lambda name: pruner())
    result = tuning.tune(project, cfg, study_name="at2", n_trials=2, seed=0)
    trials = result.study.get_trials()
    assert [t.state for t in trials] == [TrialState.PRUNED] * 2
    assert all(list(t.intermediate_values) == [0, 1] for t in trials)  # between folds
    first = trials[0].intermediate_values  # the same parameters as the unpruned trial
    per_fold = pruner is _WilcoxonAtSecondFold
    assert tuning.reports_fold_scores(pruner()) == per_fold
    expected = scores[1] if per_fold else (scores[0] + scores[1]) / 2
    assert first[0] == pytest.approx(scores[0]) and first[1] == pytest.approx(expected)
    assert scores[1] != pytest.approx((scores[0] + scores[1]) / 2)  # the two differ here


@pytest.mark.parametrize("pruner", ["paired", "median", "percentile"])
def test_kk_pruners_prune_between_folds_in_a_real_study(projects_dir: Path, pruner: str) -> None:
    """The default (paired) and the two percentile pruners on the tiny competition."""
    project = setup_project(projects_dir)
    cfg = project.config()
    n_folds = cfg.cv.n_splits
    result = tuning.tune(project, cfg, study_name=pruner, n_trials=16, seed=0, pruner=pruner)
    trials = result.study.get_trials()
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert len(trials) == 16 and pruned  # random startup trials leave some to prune
    assert all(1 <= len(t.intermediate_values) < n_folds for t in pruned)
    assert all(len(t.user_attrs["kk_params"]) > 0 for t in pruned)
    assert result.study.best_trial.state == TrialState.COMPLETE


def test_params_best_reproduces_the_best_trial_exactly(
    projects_dir: Path, capsys: Any, monkeypatch: Any
) -> None:
    project = setup_project(projects_dir)
    code, out, _ = run_kk_inprocess(capsys, monkeypatch, "tune", "tiny", "--trials", "6", "--json")
    assert code == 0
    summary = json.loads(out.strip().splitlines()[-1])
    for key in (
        "study",
        "best_value",
        "best_params",
        "n_trials",
        "n_complete",
        "n_pruned",
        "n_failed",
        "wall_seconds",
        "trials_per_minute",
    ):
        assert key in summary
    assert summary["n_trials"] == 6 and summary["n_complete"] + summary["n_pruned"] == 6

    code, out, _ = run_kk_inprocess(
        capsys, monkeypatch, "train", "tiny", "--params", "best", "--json"
    )
    assert code == 0
    assert json.loads(out.strip().splitlines()[-1])["cv_mean"] == summary["best_value"]

    # The explicit step writes a typed params file; config.toml is not touched.
    original = dict(project.config().models["lightgbm"].params)
    before = project.config_path.read_text()
    code, _, _ = run_kk_inprocess(capsys, monkeypatch, "tune", "tiny", "--write-params")
    assert code == 0 and project.config_path.read_text() == before
    params_path = project.root / "params" / "lightgbm.toml"
    project.config_path.write_text(
        before.replace(
            "early_stopping_rounds = 10",
            'early_stopping_rounds = 10\nparams_file = "params/lightgbm.toml"',
            1,
        )
    )
    cfg = project.config()
    best = tuning.best_params(project, cfg, model_name="lightgbm")[0]
    assert cfg.models["lightgbm"].params == {**original, **best}
    result = training.train(project, cfg, model_name="lightgbm")
    assert result.cv.mean == summary["best_value"]
    assert params_path.is_file()

    code, out, _ = run_kk_inprocess(capsys, monkeypatch, "tune", "tiny", "--show")
    assert code == 0 and "top" in out and "parameter importances" in out


# --- workers, resume --------------------------------------------------------------------


@pytest.mark.slow
def test_two_worker_processes_share_one_journal_study(projects_dir: Path) -> None:
    # Slow trials: the spawned worker needs seconds to import before it can join.
    project = setup_project(projects_dir, slow=0.4)
    cfg = project.config()
    result = tuning.tune(project, cfg, n_trials=10, workers=2, seed=0, prune=False)
    trials = _trials(project)
    assert result.n_new == 10
    assert [t.number for t in trials] == list(range(10))  # none lost, none duplicated
    assert all(t.state in FINISHED for t in trials)
    pids = {t.user_attrs["kk_worker"] for t in trials}
    assert len(pids) == 2  # both worker processes ran trials
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 10

    again = tuning.tune(project, cfg, n_trials=3, workers=2, seed=1, prune=False)
    assert again.n_new == 3
    assert [t.number for t in _trials(project)] == list(range(13))


def _start_kk_tune(projects_dir: Path, *args: str) -> subprocess.Popen[bytes]:
    """A real ``kk tune tiny`` process: 30 unpruned trials (slow features: 0.3 s a fold)."""
    cmd = [sys.executable, "-c", "from kagglekit.cli import main; main()", "tune", "tiny"]
    env = {**os.environ, "KK_PROJECTS_DIR": str(projects_dir)}
    return subprocess.Popen([*cmd, *args, "--trials", "30", "--no-prune"], env=env)


def _wait_for_running_trial(
    project: Project, study: str, url: str | None, *, finished: int
) -> optuna.trial.FrozenTrial:
    """Poll the study until a trial with all its parameters runs after ``finished`` others."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            trials = _trials(project, study, url)
        except (KeyError, KKError):  # the study is not created yet
            continue
        done = [t for t in trials if t.state in FINISHED]
        now = [t for t in trials if t.state == TrialState.RUNNING]
        if len(done) >= finished and now and "kk_params" in now[0].user_attrs:  # all sampled
            return now[0]
    raise AssertionError(f"the worker never ran a trial after {finished} finished ones")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["journal", "postgres"])
def test_killed_worker_resumes_with_every_finished_trial(projects_dir: Path, backend: str) -> None:
    if backend == "postgres" and not POSTGRES_URL:
        pytest.skip("KK_TEST_POSTGRES_URL is not set: no PostgreSQL server configured")
    url = POSTGRES_URL if backend == "postgres" else None
    study = f"kk-test-{uuid.uuid4().hex[:12]}" if url else "lightgbm"
    project = setup_project(projects_dir, slow=0.3)
    proc = _start_kk_tune(projects_dir, "--study", study, *(["--storage", url] if url else []))
    try:
        running = _wait_for_running_trial(project, study, url, finished=2)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    try:
        before = {
            t.number: (t.state, t.value)
            for t in _trials(project, study, url)
            if t.state in FINISHED
        }
        # Killed mid-trial: the trial seen running, or the next one when the kill came just
        # after the seen one finished (the poll above reads a moment in the past).
        [stale] = [t for t in _trials(project, study, url) if t.state == TrialState.RUNNING]
        assert stale.number >= running.number

        result = tuning.tune(
            project, project.config(), n_trials=2, prune=False, storage=url, study_name=study
        )
        assert stale.number in result.recovered
        after = {t.number: t for t in _trials(project, study, url)}
        for number, (state, value) in before.items():  # every finished trial survived
            assert (after[number].state, after[number].value) == (state, value)
        assert after[stale.number].state == TrialState.FAIL
        retried = [t for t in after.values() if t.user_attrs.get("kk_retry_of") == stale.number]
        if running.number == stale.number or stale.params:
            assert len(retried) == 1
            # Its parameters run again; a kill during sampling leaves only some of them
            # fixed, and the retry samples the rest.
            assert stale.params.items() <= retried[0].params.items()
            assert retried[0].state == TrialState.COMPLETE
        else:
            assert not retried  # killed before it had any parameters: nothing to run again
        assert not [t for t in after.values() if t.state == TrialState.RUNNING]
    finally:
        if url:
            optuna.delete_study(study_name=study, storage=_with_driver(url))


@pytest.mark.slow
def test_ctrl_c_fails_the_trial_and_queues_its_parameters_again(projects_dir: Path) -> None:
    project = setup_project(projects_dir, slow=0.3)
    proc = _start_kk_tune(projects_dir)
    try:
        running = _wait_for_running_trial(project, "lightgbm", None, finished=0)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
        proc.wait()
    after = {t.number: t for t in _trials(project)}
    # The interrupted trial: the one seen running, or the next one when Ctrl-C came just
    # after the seen one finished (the poll above reads a moment in the past).
    [interrupted] = [t for t in after.values() if t.state == TrialState.FAIL]
    assert interrupted.number >= running.number
    assert all(t.state == TrialState.COMPLETE for t in after.values() if t.number < running.number)
    queued = [t for t in after.values() if t.user_attrs.get("kk_retry_of") == interrupted.number]
    if not interrupted.params:  # interrupted before it had any parameters: nothing to re-run
        assert interrupted.number > running.number and not queued
        return
    assert len(queued) == 1 and queued[0].state == TrialState.WAITING
    assert queued[0].system_attrs["fixed_params"] == interrupted.params
    result = tuning.tune(project, project.config(), n_trials=1, prune=False)
    assert result.n_new == 1
    assert _trials(project)[queued[0].number].state == TrialState.COMPLETE  # ran first


def test_folds_changed_since_the_study_is_an_error(projects_dir: Path) -> None:
    project = setup_project(projects_dir)
    cfg = project.config()
    tuning.tune(project, cfg, n_trials=1)
    cfg2 = project.config(["cv.seed=8"])
    folds.assign_project_folds(project, cfg2, force=True)
    with pytest.raises(KKError, match="give a new --study NAME"):
        tuning.tune(project, cfg2, n_trials=1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get_json(url: str, deadline: float, server: subprocess.Popen[bytes]) -> Any:
    """GET ``url`` until the server answers (it takes a moment to start) or exits."""
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize("backend", ["journal", "postgres"])
def test_optuna_dashboard_reads_the_study_with_the_documented_command(
    projects_dir: Path, backend: str
) -> None:
    """README: ``optuna-dashboard projects/P/studies/S.journal`` or the database URL.

    SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3; the tune extra installs
    psycopg2, so the README's URL names it: ``postgresql+psycopg2://``.
    """
    pytest.importorskip("optuna_dashboard")
    if backend == "postgres" and not POSTGRES_URL:
        pytest.skip("KK_TEST_POSTGRES_URL is not set: no PostgreSQL server configured")
    url = POSTGRES_URL if backend == "postgres" else None
    study = f"kk-test-{uuid.uuid4().hex[:12]}" if url else "lightgbm"
    project = setup_project(projects_dir)
    tuning.tune(project, project.config(), n_trials=2, storage=url, study_name=study, seed=0)
    target = url.replace("postgresql://", "postgresql+psycopg2://") if url else None
    target = target or str(tuning.journal_path(project, study))
    port = _free_port()
    dashboard = Path(sys.executable).parent / "optuna-dashboard"
    log = projects_dir / "dashboard.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(dashboard), target, "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        base = f"http://127.0.0.1:{port}/api/studies"
        try:
            summaries = _get_json(base, deadline, proc)["study_summaries"]
        except OSError:
            pytest.fail(f"optuna-dashboard did not answer: {log.read_text()[-2000:]}")
        [summary] = [s for s in summaries if s["study_name"] == study]
        trials = _get_json(f"{base}/{summary['study_id']}", deadline, proc)["trials"]
        assert [t["number"] for t in trials] == [0, 1]
        assert all(t["state"] in ("Complete", "Pruned") for t in trials)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if url:
            optuna.delete_study(study_name=study, storage=_with_driver(url))


@pytest.mark.skipif(
    not POSTGRES_URL,
    reason="KK_TEST_POSTGRES_URL is not set: no PostgreSQL server configured "
    "(.ci/run starts one on 127.0.0.1 and sets it)",
)
@pytest.mark.slow
def test_two_worker_processes_share_one_postgres_study(projects_dir: Path) -> None:
    # Slow trials: the spawned worker needs seconds to import before it can join.
    project = setup_project(projects_dir, "pg", slow=0.4)
    cfg = project.config()
    study_name = f"kk-test-{uuid.uuid4().hex[:12]}"
    try:
        first = tuning.tune(
            project,
            cfg,
            n_trials=8,
            workers=2,
            storage=POSTGRES_URL,
            study_name=study_name,
            prune=False,
        )
        # A second command (another machine, in real use) joins the same study.
        second = tuning.tune(
            project, cfg, n_trials=3, storage=POSTGRES_URL, study_name=study_name, seed=5
        )
        study = optuna.load_study(study_name=study_name, storage=_with_driver(POSTGRES_URL))
        trials = study.get_trials()
        assert (first.n_new, second.n_new) == (8, 3)
        assert sorted(t.number for t in trials) == list(range(11))  # none lost or duplicated
        assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
        assert len({t.user_attrs["kk_worker"] for t in trials[:8]}) == 2
        assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 11
        assert not (project.root / "studies").exists()  # nothing written to the journal
        assert second.summary()["n_trials"] == 11
    finally:
        optuna.delete_study(study_name=study_name, storage=_with_driver(POSTGRES_URL))


# --- workers capped, importances labelled, --show finds the tuned model (issue 15) -------


def test_workers_are_capped_at_cores_and_trials(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="kagglekit.tuning"):
        assert tuning.cap_workers(64, None, cpus=2) == 2
        assert tuning.cap_workers(64, 3, cpus=16) == 3
        assert tuning.cap_workers(2, 50, cpus=2) == 2
    assert [r.getMessage() for r in caplog.records] == [
        "--workers 64 capped at 2: there are only 2 CPU core(s)",
        "--workers 64 capped at 3: there are only 3 trial(s)",
    ]


def test_importances_are_ped_anova_and_labelled_so() -> None:
    """The label names the evaluator that computed the numbers (not fANOVA)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1) ** 2 + 0.1 * t.suggest_float("y", 0, 1), 30)
    expected = optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()
    )
    assert tuning.importances(study) == dict(expected)
    assert tuning.IMPORTANCE_EVALUATOR == "PED-ANOVA"
    source = Path(tuning.__file__).parent.with_name("cli") / "tune.py"
    assert "fANOVA" not in source.read_text()


def test_show_without_model_finds_the_one_tuned_model(projects_dir: Path) -> None:
    """README: `kk tune titanic --show` after tuning lightgbm, whose default is xgboost."""
    project = setup_project(projects_dir)
    cfg = project.config()
    assert cfg.default_model != "linear"
    studies = project.root / "studies"
    assert tuning.tuned_model(project, cfg) is None
    studies.mkdir()
    (studies / "linear.journal").write_text("")
    assert tuning.tuned_model(project, cfg) == "linear"
    (studies / "other-study.journal").write_text("")  # a --study name, not a model
    assert tuning.tuned_model(project, cfg) == "linear"
    (studies / f"{cfg.default_model}.journal").write_text("")
    assert tuning.tuned_model(project, cfg) == cfg.default_model


def test_kk_tune_show_uses_the_tuned_model_and_names_ped_anova(
    projects_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    setup_project(projects_dir)
    code, _, err = run_kk_inprocess(
        capsys, monkeypatch, "tune", "tiny", "--model", "linear", "--trials", "3", "--workers", "64"
    )
    assert code == 0, err
    assert any("--workers 64 capped at" in r.getMessage() for r in caplog.records)
    code, out, err = run_kk_inprocess(capsys, monkeypatch, "tune", "tiny", "--show")
    assert code == 0, err
    words = " ".join(out.split())  # rich wraps titles wider than their table
    assert "study linear" in words and "parameter importances (PED-ANOVA, Optuna)" in words


# --- --show says how many trials were pruned and where (issue 36) ------------------------


class _PruneByTrialNumber(optuna.pruners.BasePruner):
    """Trial 1 pruned after fold 1, trials 2 and 3 after fold 2, the others complete."""

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return {1: 1, 2: 2, 3: 2}.get(trial.number) == len(trial.intermediate_values)


def test_kk_tune_show_counts_pruned_trials_by_fold(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    setup_project(projects_dir)
    monkeypatch.setattr(tuning.study, "make_pruner", lambda name: _PruneByTrialNumber())
    code, _, err = run_kk_inprocess(capsys, monkeypatch, "tune", "tiny", "--trials", "5")
    assert code == 0, err
    code, out, err = run_kk_inprocess(capsys, monkeypatch, "tune", "tiny", "--show")
    assert code == 0, err
    assert "pruned 3 of 5 trials: after fold 1: 1, fold 2: 2" in " ".join(out.split())
    code, out, _ = run_kk_inprocess(capsys, monkeypatch, "tune", "tiny", "--show", "--json")
    assert json.loads(out.strip().splitlines()[-1])["pruned_after_folds"] == {"1": 1, "2": 2}


def test_pruning_line_without_pruned_trials_and_inside_a_fold() -> None:
    assert tuning.pruning_line({"n_pruned": 0, "n_trials": 7, "pruned_after_folds": {}}) == (
        "no trial pruned (of 7)"
    )
    summary = {"n_pruned": 3, "n_trials": 9, "pruned_after_folds": {0: 2, 3: 1}}
    assert tuning.pruning_line(summary) == "pruned 3 of 9 trials: inside fold 1: 2, after fold 3: 1"


# --- a torch backend's space comes from its metadata (issue 33) -------------------------


def test_a_torch_backend_gets_a_default_space_and_a_hint_that_fits_it() -> None:
    import kagglekit.vision.backends  # noqa: F401  (registers lenet5)
    from kagglekit.config import ModelConfig
    from kagglekit.tuning.spaces import search_space

    space = search_space("lenet5", ModelConfig(backend="lenet5", params={"epochs": 3}))
    assert set(space.dimensions) == {"lr", "weight_decay"}
    # A tenth to ten times lenet5's default lr (3e-3).
    assert get_backend("lenet5").default_space["lr"] == {"low": 3e-4, "high": 3e-2, "log": True}
    # An entry's own lr (another optimiser, say) moves the range to lie around it.
    own = search_space("lenet5", ModelConfig(backend="lenet5", params={"lr": 1e-3}))
    assert (own.dimensions["lr"].low, own.dimensions["lr"].high) == (1e-4, 1e-2)
    fixed = ModelConfig(backend="lenet5", search={"lr": 0.01, "weight_decay": 0.0})
    with pytest.raises(KKError, match=r"e\.g\. lr = \{ low = 0\.0001") as err:
        search_space("lenet5", fixed)
    assert "alpha" not in str(err.value)


def _stored_cache_keys(monkeypatch: Any) -> list[Any]:
    """The keys the tabular models put in the fold feature cache, as they put them."""
    import kagglekit.models.tabular as tabular

    stored: list[Any] = []
    remember = tabular._remember
    monkeypatch.setattr(
        tabular,
        "_remember",
        lambda cache, key, value: (stored.append(key), remember(cache, key, value)),
    )
    return stored


def test_trials_fit_each_folds_features_once_and_score_as_if_refitted(
    projects_dir: Path, monkeypatch: Any
) -> None:
    """The fold feature cache (FoldContext.cache): every trial fits the same folds, so a
    fold's feature pipeline is fitted by the first trial only; the trials' scores are
    those of refitting it every time (the cache emptied: CACHE_BYTES = 0)."""
    import kagglekit.models.tabular as tabular

    project = setup_project(projects_dir)
    stored = _stored_cache_keys(monkeypatch)
    cfg = project.config()
    tuning.tune(project, cfg, model_name="lightgbm", study_name="cached", n_trials=5, prune=False)
    n_folds = training.prepare(project, cfg).folds.get_n_splits()
    assert len(stored) == n_folds and len({key[:3] for key in stored}) == n_folds
    monkeypatch.setattr(tabular, "CACHE_BYTES", 0)
    tuning.tune(project, cfg, model_name="lightgbm", study_name="refit", n_trials=5, prune=False)
    assert len(stored) == n_folds + 5 * n_folds  # refitted and offered by every trial, kept by none
    cached, refit = _trials(project, "cached"), _trials(project, "refit")
    assert [t.params for t in cached] == [t.params for t in refit]
    assert [t.value for t in cached] == [t.value for t in refit]


def test_the_journal_syncs_trial_ends_to_disk_not_every_report(
    projects_dir: Path, monkeypatch: Any
) -> None:
    """Optuna's journal file fsyncs each of a trial's ~19 writes; kk's syncs those that
    create or end something (a trial's state and value among them) and leaves the
    parameters, fold reports and attributes to the OS; the study reads back whole."""
    project = setup_project(projects_dir)
    syncs: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (syncs.append(fd), real_fsync(fd))[1])
    cfg = project.config()
    tuning.tune(project, cfg, model_name="lightgbm", study_name="synced", n_trials=4, prune=False)
    trials = _trials(project, "synced")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    ops = [json.loads(line)["op_code"] for line in
           tuning.journal_path(project, "synced").read_text().splitlines()]  # fmt: skip
    # Optuna's JournalOperation: 0-3 the study, 4 a new trial, 6 a trial's state and value,
    # 10 a discard; 5, 7, 8, 9 a trial's parameter, report and attributes.
    durable = [op for op in ops if op in (0, 1, 2, 3, 4, 6, 10)]
    assert ops.count(6) >= 4 and ops.count(7) == 4 * 3  # every end, every fold report
    assert len(syncs) == len(durable) < len(ops) / 2
    assert all(t.params and len(t.intermediate_values) == 3 for t in trials)


def test_a_step_that_must_rerun_every_trial_is_not_cached(
    projects_dir: Path, monkeypatch: Any
) -> None:
    project = setup_project(projects_dir, slow=0.01)  # Slow sets kk_cacheable = False
    stored = _stored_cache_keys(monkeypatch)
    result = tuning.tune(project, project.config(), n_trials=3, prune=False)
    assert result.n_new == 3 and stored == []
