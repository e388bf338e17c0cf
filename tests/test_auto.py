"""``kk auto`` and ``kk train --all``: order, budget, reuse and resume, lock, failures, JSON.

Plans are made deterministic by writing the entries' cost estimates into the project's
``runs/auto-estimates.json`` (what ``kk auto`` keeps of the smoke folds it measured), so
no test depends on how fast this machine is.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import kagglekit.training as training
from kagglekit import data, records
from kagglekit import folds as folds_mod
from kagglekit.auto import (
    BudgetSpent,
    Entry,
    auto,
    deadline,
    fmt_duration,
    parse_budget,
    portfolio_order,
    project_lock,
    smoke_estimate,
    suggest_budget,
)
from kagglekit.auto.plan import ESTIMATES_FILE, Shape, calibration
from kagglekit.errors import KKError
from kagglekit.project import Project, open_project
from kagglekit.testing import make_tiny_project, run_kk_inprocess, tiny_config
from kagglekit.training.run import resume_key
from kagglekit.training.smoke import SmokeResult


@pytest.fixture(autouse=True)
def _no_backend_left_registered() -> Any:
    """A project's features.py here registers a 'broken' backend into the process-wide
    registry; take it out again so later tests see only the package's own backends."""
    from kagglekit.models import base

    yield
    base._REGISTRY.pop("broken", None)


ENTRIES = ("lightgbm", "linear", "tree")
TREE = '\n[models.tree]\nbackend = "decision_tree"\nparams = { max_depth = 3 }\n'
BROKEN_BACKEND = (
    "import numpy as np\n"
    "from kagglekit.models import Backend, register_backend\n\n"
    "class Broken:\n"
    "    def fit(self, X, y, **kw):\n        raise RuntimeError('broken on purpose')\n"
    "    def predict(self, X):\n        return np.full(len(X), 0.5)\n"
    "    def learned(self):\n        return {}\n\n"
    "register_backend(Backend(name='broken', tasks=('binary',), "
    "build=lambda ctx: Broken(), known_params=lambda task: set(), family='custom'))\n"
)


def _project(root: Path, *, extra: str = TREE, features: str = "", folds: bool = True) -> Project:
    paths = make_tiny_project(root, "tiny", config=tiny_config("tiny", extra=extra))
    if features:
        (paths["project"] / "features.py").write_text(features)
    project = open_project("tiny", root)
    cfg = project.config()
    data.fetch(project, cfg, from_dir=paths["mirror"])
    if folds:
        folds_mod.assign_project_folds(project, cfg)
    return project


def _estimates(project: Project, seconds: dict[str, float]) -> None:
    """Write what kk auto would have measured on smoke folds: ``seconds`` per entry."""
    cfg = project.config()
    resolved = cfg.model_dump(mode="json")
    fold_hash = str(folds_mod.folds_meta(project)["hash"])  # type: ignore[index]
    cache = {
        f"{resume_key(resolved, name, fold_hash)}@{socket.gethostname()}": {
            "model": name,
            "seconds": value,
            "score": 0.8,
        }
        for name, value in seconds.items()
    }
    project.runs_dir.mkdir(parents=True, exist_ok=True)
    (project.runs_dir / ESTIMATES_FILE).write_text(json.dumps(cache))


def _by_name(result: Any) -> dict[str, Entry]:
    return {e.name: e for e in result.entries}


# --- the plan, without training --------------------------------------------------------


def test_budgets_are_read_with_their_unit_and_written_back_short() -> None:
    assert parse_budget("30m") == 1800
    assert parse_budget("1h30m") == 5400
    assert parse_budget(" 45s ") == 45
    with pytest.raises(KKError, match=r"budget '30' is not a duration \(did you mean 30m\?\)"):
        parse_budget("30")
    with pytest.raises(KKError, match="not a duration"):
        parse_budget("half an hour")
    with pytest.raises(KKError, match="no time at all"):
        parse_budget("0m")
    assert fmt_duration(3.21) == "3.2s" and fmt_duration(125) == "2m05s"
    assert suggest_budget(14.2) == "20s" and suggest_budget(200) == "5m"


def _entry(name: str, estimate: float | None, score: float | None) -> Entry:
    return Entry(name, "b", name, estimate=estimate, score=score)


def test_cheap_and_strong_entries_come_first() -> None:
    """Pareto fronts over (cost, strength): a weak cheap entry waits behind a strong dear
    one that it does not beat; unknown costs go last."""
    entries = [
        _entry("weak_cheap", 12, 0.70),  # dominated by "cheap" (cheaper and stronger)
        _entry("dear", 100, 0.85),
        _entry("unknown", None, 0.99),
        _entry("cheap", 10, 0.80),
        _entry("no_score", 5, None),
    ]
    order = [e.name for e in portfolio_order(entries, greater_is_better=True)]
    assert order == ["no_score", "cheap", "dear", "weak_cheap", "unknown"]
    # For a loss, lower is stronger: "weak_cheap" (0.70) now beats "cheap" (0.80).
    order = [e.name for e in portfolio_order(entries, greater_is_better=False)]
    assert order[:3] == ["no_score", "cheap", "weak_cheap"]


def test_a_smoke_fold_is_scaled_to_the_whole_run() -> None:
    shape = Shape(n_folds=5, fold_train=8000.0, fold_valid=2000.0, n_test=5000)
    rows = SmokeResult("m", 0.8, seconds=0.5, n_train=256, n_valid=128, learned={})
    # 15,000 rows touched per fold against 448 in the smoke fold, five folds.
    assert smoke_estimate(rows, shape) == pytest.approx(0.5 * 15000 / 448 * 5)
    epochs = dataclasses.replace(rows, learned={"samples_per_second": 1000.0})
    per_fold = 0.5 + 4 * 8000 / 1000 + (4 * 2000 + 5000) / 3000
    assert smoke_estimate(epochs, shape, epochs=4) == pytest.approx(per_fold * 5)
    assert calibration([]) == 1.0
    assert calibration([(10.0, 5.0), (10.0, 2.0), (10.0, 30.0)]) == 0.5
    assert calibration([(100.0, 1.0)]) == 0.25  # clamped: one odd entry rules nothing


def test_the_deadline_stops_a_busy_block_and_puts_the_handler_back() -> None:
    before = signal.getsignal(signal.SIGALRM)
    with pytest.raises(BudgetSpent), deadline(time.monotonic() + 0.05):
        for _ in range(10**10):  # busy: only the timer ends this
            pass
    assert signal.getsignal(signal.SIGALRM) is before
    with deadline(time.monotonic() + 60) as timer:
        timer.disarm()
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


# --- kk auto end to end ----------------------------------------------------------------


def test_auto_trains_cheapest_first_skips_what_does_not_fit_and_a_second_call_adds(
    projects_dir: Path,
) -> None:
    project = _project(projects_dir)
    _estimates(project, {"tree": 0.5, "linear": 1.0, "lightgbm": 1000.0})
    lines: list[str] = []
    first = auto(project, budget=60, say=lines.append)
    entries = _by_name(first)
    assert [e.name for e in first.entries] == ["tree", "linear", "lightgbm"]
    assert entries["tree"].status == entries["linear"].status == "trained"
    assert entries["lightgbm"].status == "skipped"
    assert "needs about" in entries["lightgbm"].reason and "left" in entries["lightgbm"].reason
    assert any(line.startswith("lightgbm: skipped") for line in lines)
    # Ordinary runs: the ensemble of the two and its members, all COMPLETE.
    final = first.final
    assert final is not None and final.record["model"] == "ensemble-hill"
    assert sorted(final.record["members"]) == sorted(
        [str(entries["tree"].run_id), str(entries["linear"].run_id)]
    )
    assert final.record.get("nested_cv_mean") is not None
    assert Path(first.summary()["submission"]).is_file()

    second = auto(project, budget=3600)
    again = _by_name(second)
    assert again["tree"].status == again["linear"].status == "reused"
    assert again["tree"].run_id == entries["tree"].run_id  # not retrained
    assert again["lightgbm"].status == "trained"
    assert second.final is not None and len(second.final.record["members"]) == 3
    runs = records.list_runs(project.runs_dir)
    assert sum(r.record["model"] == "tree" for r in runs) == 1
    assert all(r.status == "COMPLETE" for r in runs)

    third = auto(project, budget=3600)  # nothing new: the same ensemble run, no new one
    assert third.final is not None and third.final.run_id == second.final.run_id
    assert len(records.list_runs(project.runs_dir)) == len(runs)


def test_the_ensemble_gets_its_time_kept_free(
    projects_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second member is only trained when the ensemble of two still fits after it."""
    import kagglekit.auto.run as auto_run

    project = _project(projects_dir)
    _estimates(project, {"tree": 0.5, "linear": 1.0, "lightgbm": 2.0})
    monkeypatch.setattr(auto_run, "ensemble_seconds_per_member", lambda prepared, cfg: 100.0)
    result = auto(project, budget=150)
    entries = _by_name(result)
    assert entries["tree"].status == "trained"  # one member: no ensemble to keep time for
    assert entries["linear"].status == "skipped"
    assert "the ensemble about 3m20s more" in entries["linear"].reason
    assert result.final is not None and result.final.run_id == entries["tree"].run_id
    assert result.ensemble_estimate == 100.0


def test_a_budget_too_small_for_any_entry_names_the_cheapest(projects_dir: Path) -> None:
    project = _project(projects_dir)
    _estimates(project, {"tree": 40.0, "linear": 90.0, "lightgbm": 300.0})
    with pytest.raises(
        KKError,
        match=r"budget 10s is too small for any entry: the cheapest, "
        r"tree, needs about 40s \(smoke fold measured before\); give --budget 50s or more",
    ):
        auto(project, budget=10)
    assert not [r for r in records.list_runs(project.runs_dir)]


class _FakeClock:
    """The budget's clock, moved by the fake smoke folds below (no waiting in tests)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _smoke_taking(clock: _FakeClock, seconds: float) -> Any:
    """A smoke fold that takes ``seconds`` of the budget and measures a 1-second fold."""

    def smoke(project: Any, cfg: Any, *, model_name: str, **kwargs: Any) -> SmokeResult:
        clock.now += seconds
        return SmokeResult(model_name, 0.8, seconds=1.0, n_train=120, n_valid=60, learned={})

    return smoke


def test_at_most_half_the_budget_goes_on_smoke_folds(
    projects_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kagglekit.auto.clock as auto_clock

    project = _project(projects_dir)
    clock = _FakeClock()
    monkeypatch.setattr(auto_clock, "_clock", clock)
    monkeypatch.setattr(training, "smoke_test", _smoke_taking(clock, 600.0))
    result = _by_name(auto(project, budget=1000))  # the first smoke fold takes 600s of it
    assert result["lightgbm"].basis == "smoke fold"  # config order: measured first
    assert result["linear"].basis.startswith("not measured: half the budget")
    assert result["tree"].basis.startswith("not measured: half the budget")
    # Unknown costs train last, stopped at the budget's end at the latest.
    assert {e.status for e in result.values()} == {"trained"}


def test_a_budget_spent_measuring_says_what_the_next_call_needs(
    projects_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kagglekit.auto.clock as auto_clock

    project = _project(projects_dir)
    clock = _FakeClock()
    monkeypatch.setattr(auto_clock, "_clock", clock)
    monkeypatch.setattr(training, "smoke_test", _smoke_taking(clock, 8.0))
    # lightgbm's fold of 1s is about 3s for 3 folds; 8s of the 10 went on measuring it.
    with pytest.raises(
        KKError,
        match=r"budget 10s is too small: measuring the entries on smoke folds took 8\.0s of "
        r"it, and the cheapest, lightgbm, needs about 3\.\ds more; give --budget 15s or more",
    ):
        auto(project, budget=10, models=["lightgbm"])


def test_a_smoke_fold_running_past_half_the_budget_gives_a_lower_bound(
    projects_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(projects_dir)

    def endless(*args: Any, **kwargs: Any) -> None:
        for _ in range(10**10):  # only the budget's timer ends this
            pass

    monkeypatch.setattr(training, "smoke_test", endless)
    with pytest.raises(
        KKError,
        match=r"the cheapest, lightgbm, needs about .*\(at least: its "
        r"smoke fold ran past half the budget, ",
    ):
        auto(project, budget=0.2, models=["lightgbm"])
    cache = json.loads((project.runs_dir / ESTIMATES_FILE).read_text())
    assert [v["bound"] for v in cache.values()] == [True]


def test_without_a_budget_no_smoke_fold_is_measured(
    projects_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(projects_dir)

    def no_smoke(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("smoke_test called without a budget")

    monkeypatch.setattr(training, "smoke_test", no_smoke)
    result = auto(project, models=["linear", "tree"])
    assert {e.status for e in result.entries} == {"trained"}


def test_a_budget_measures_smoke_folds_once_and_keeps_them(projects_dir: Path) -> None:
    project = _project(projects_dir)
    first = auto(project, budget=3600, models=["linear", "tree"])
    assert {e.basis for e in first.entries} == {"smoke fold"}
    assert first.ensemble_estimate is not None and first.ensemble_estimate > 0
    cache = json.loads((project.runs_dir / ESTIMATES_FILE).read_text())
    assert sorted(v["model"] for v in cache.values()) == ["linear", "tree"]
    second = auto(project, budget=3600)
    assert _by_name(second)["lightgbm"].basis == "smoke fold"
    assert _by_name(second)["linear"].status == "reused"


def test_bad_input_is_one_line(projects_dir: Path) -> None:
    project = _project(projects_dir, folds=False)
    with pytest.raises(KKError, match=r"has no folds yet; run `kk folds tiny`"):
        auto(project)
    folds_mod.assign_project_folds(project, project.config())
    with pytest.raises(
        KKError, match=r"model 'lightgbn' is not configured; did you mean 'lightgbm'"
    ):
        auto(project, models=["linear", "lightgbn"])


def test_a_failing_entry_is_recorded_failed_and_the_others_go_on(projects_dir: Path) -> None:
    extra = TREE + '\n[models.broken]\nbackend = "broken"\n\n[models.images]\nbackend = "cnn"\n'
    project = _project(projects_dir, extra=extra, features=BROKEN_BACKEND)
    result = auto(project)
    broken = _by_name(result)["broken"]
    assert broken.status == "failed" and "broken on purpose" in broken.reason
    assert records.find_run(project.runs_dir, str(broken.run_id)).status == "FAILED"
    # An entry for another kind of data is skipped, saying so: not a failure.
    images = _by_name(result)["images"]
    assert images.status == "skipped" and "reads images" in images.reason
    assert {e.status for e in result.entries if e.name in ENTRIES} == {"trained"}
    assert result.final is not None and len(result.final.record["members"]) == 3
    # Every entry failing alike is the data's or config's problem: one line, no table.
    with pytest.raises(KKError, match="broken on purpose"):
        auto(project, models=["broken"])


def test_an_entry_stopped_at_the_budget_keeps_its_folds_and_goes_on_next_time(
    projects_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose finished folds say it would end after the budget (plus its estimate)
    stops at that fold, resumable; the next call goes on with the same run."""
    project = _project(projects_dir)
    _estimates(project, {"tree": 0.5, "linear": 1.0, "lightgbm": 2.0})
    real_train = training.train

    def slow_folds(*args: Any, on_fold: Any = None, **kwargs: Any) -> Any:
        def reported_slow(fold: Any, done: list[Any]) -> None:
            slow = [dataclasses.replace(f, seconds=1e6) for f in done]
            on_fold(slow[-1], slow)

        wrapped = reported_slow if kwargs.get("model_name") == "lightgbm" else on_fold
        return real_train(*args, on_fold=wrapped, **kwargs)

    monkeypatch.setattr(training, "train", slow_folds)
    first = _by_name(auto(project, budget=600))
    stopped = first["lightgbm"]
    assert stopped.status == "stopped" and "after 1 of 3 folds" in stopped.reason
    run = records.find_run(project.runs_dir, str(stopped.run_id))
    assert run.interrupted  # kk runs: INTERRUPTED (resumable)

    monkeypatch.setattr(training, "train", real_train)
    second = _by_name(auto(project, budget=600))
    assert second["lightgbm"].basis.startswith("1 of 3 folds kept in run")
    assert second["lightgbm"].status == "trained" and second["lightgbm"].resumed
    assert second["lightgbm"].run_id == stopped.run_id
    assert second["tree"].status == "reused"


def test_an_interrupted_auto_continues_where_it_stopped(
    projects_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(projects_dir)
    real_train = training.train

    def ctrl_c(*args: Any, on_fold: Any = None, **kwargs: Any) -> Any:
        def interrupt(fold: Any, done: list[Any]) -> None:
            on_fold(fold, done)
            raise KeyboardInterrupt

        wrapped = interrupt if kwargs.get("model_name") == "linear" else on_fold
        return real_train(*args, on_fold=wrapped, **kwargs)

    monkeypatch.setattr(training, "train", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        auto(project)
    before = {r.run_id: r.status for r in records.list_runs(project.runs_dir)}
    assert sorted(before.values()) == ["COMPLETE", "FAILED"]  # lightgbm done, linear stopped

    monkeypatch.setattr(training, "train", real_train)
    result = _by_name(auto(project))
    assert result["lightgbm"].status == "reused" and result["lightgbm"].run_id in before
    assert result["linear"].resumed and result["linear"].run_id in before
    assert result["tree"].status == "trained"


# --- the lock --------------------------------------------------------------------------


def test_a_second_auto_is_refused_while_the_first_holds_the_lock(projects_dir: Path) -> None:
    project = _project(projects_dir)
    with (
        project_lock(project),
        pytest.raises(KKError, match=r"kk auto is already running on tiny \(pid "),
    ):
        auto(project)
    assert auto(project, models=["tree"]).entries[0].status == "trained"  # released


def test_the_lock_of_a_killed_auto_is_taken_over(projects_dir: Path) -> None:
    project = _project(projects_dir)
    holder = (
        "import sys, time\n"
        "from kagglekit.project import open_project\n"
        "from kagglekit.auto import project_lock\n"
        f"with project_lock(open_project('tiny', __import__('pathlib').Path({str(projects_dir)!r}))):\n"
        "    print('locked', flush=True)\n"
        "    sys.stdin.read()\n"  # holds the lock until killed
    )
    child = subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(KKError, match=f"already running on tiny \\(pid {child.pid} "):
            auto(project)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    result = auto(project, models=["tree"])
    assert result.notes and f"pid {child.pid}" in result.notes[0]
    assert "no longer running" in result.notes[0]


# --- the commands ----------------------------------------------------------------------


def test_kk_auto_json_prints_the_final_run_as_kk_train_does(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(projects_dir)
    code, out, err = run_kk_inprocess(capsys, monkeypatch, "auto", "tiny", "--json")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    for key in ("run_id", "model", "metric", "cv_mean", "cv_std", "submission", "wall_seconds"):
        assert key in summary
    assert summary["model"] == "ensemble-hill" and Path(summary["submission"]).is_file()
    assert sorted(e["entry"] for e in summary["entries"]) == sorted(ENTRIES)
    assert "kept (weight)" in err and "final: ensemble-hill" in err  # the table, on stderr
    code, out, _ = run_kk_inprocess(capsys, monkeypatch, "runs", "tiny", "--json")
    listed = {json.loads(line)["run_id"] for line in out.splitlines()}
    assert {summary["run_id"], *summary["runs"]} <= listed  # ordinary runs
    code, _, err = run_kk_inprocess(capsys, monkeypatch, "auto", "tiny", "--models", "tre")
    assert code == 1 and "did you mean 'tree'" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_kk_inprocess(capsys, monkeypatch, "auto", "tiny", "--budget", "30")
    assert code == 1 and "did you mean 30m?" in err
    assert project.runs_dir.is_dir()


def test_kk_train_all_trains_every_entry_without_an_ensemble(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(projects_dir)
    code, out, err = run_kk_inprocess(capsys, monkeypatch, "train", "tiny", "--all", "--json")
    assert code == 0, err
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert sorted(line["model"] for line in lines) == sorted(ENTRIES)
    assert {line["status"] for line in lines} == {"trained"}
    assert all(Path(line["submission"]).is_file() for line in lines)
    models = [r.record["model"] for r in records.list_runs(project.runs_dir)]
    assert sorted(models) == sorted(ENTRIES)  # no ensemble
    code, out, _ = run_kk_inprocess(capsys, monkeypatch, "train", "tiny", "--all", "--json")
    assert {json.loads(line)["status"] for line in out.strip().splitlines()} == {"reused"}
    code, _, err = run_kk_inprocess(capsys, monkeypatch, "train", "tiny", "--all", "-m", "tree")
    assert code == 1 and "--all" in err
