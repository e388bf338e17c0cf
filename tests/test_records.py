"""Run records and atomic writes: RUNNING -> COMPLETE/FAILED, ABANDONED when the
recorded process is gone, exact arrays, and git state."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kagglekit import atomic, records
from kagglekit.errors import KKError


def test_run_ids_sort_by_time_and_never_share_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = records.new_run_id("lightgbm")
    assert re.fullmatch(r"\d{8}-\d{6}-lightgbm-[0-9a-f]{4}", run_id)
    # Same second, same random suffix: the second run draws again instead of crashing.
    drawn = iter(["20261129-120000-m-aaaa", "20261129-120000-m-aaaa", "20261129-120000-m-bbbb"])
    monkeypatch.setattr(records, "new_run_id", lambda model: next(drawn))
    first = records.start_run(tmp_path, model="m", repo_dir=tmp_path)
    second = records.start_run(tmp_path, model="m", repo_dir=tmp_path)
    assert (first.run_id, second.run_id) == ("20261129-120000-m-aaaa", "20261129-120000-m-bbbb")


def test_start_and_finish(tmp_path: Path) -> None:
    run = records.start_run(tmp_path / "runs", model="m", repo_dir=tmp_path, fold_hash="abc")
    on_disk = json.loads((run.folder / records.RECORD).read_text())
    assert on_disk["status"] == "RUNNING" and run.status == "RUNNING"  # our own pid is alive
    assert on_disk["fold_hash"] == "abc" and "python" in on_disk["versions"]
    run.save_array("oof", np.array([0.1, 1 / 3, np.nan]))
    run.finish("COMPLETE", cv_mean=0.5)
    loaded = records.load_run(run.folder)
    assert loaded.status == "COMPLETE" and loaded.record["cv_mean"] == 0.5
    assert loaded.record["files"] == {"oof": "oof.npy"} and loaded.record["wall_seconds"] >= 0
    np.testing.assert_array_equal(loaded.load_array("oof"), np.array([0.1, 1 / 3, np.nan]))
    with pytest.raises(KKError, match=r"has no test.npy"):
        loaded.load_array("test")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_running_record_of_a_dead_process_reads_abandoned(tmp_path: Path) -> None:
    run = records.start_run(tmp_path, model="m", repo_dir=tmp_path)
    run.update(pid=_dead_pid())
    assert records.load_run(run.folder).status == "ABANDONED"
    run.update(host="some-other-machine")  # a pid on another host cannot be checked
    assert records.load_run(run.folder).status == "RUNNING"
    run.finish("FAILED", error="RuntimeError: boom")
    assert records.load_run(run.folder).status == "FAILED"  # finished runs keep their status


def test_the_ddp_launcher_marks_a_run_its_killed_rank_0_left_running_failed(
    tmp_path: Path,
) -> None:
    """torchrun SIGKILLs a rank 0 stuck in a collective with a dead peer, so that rank
    cannot record FAILED; the launcher does it from the folder rank 0 wrote down."""
    import kagglekit.torch.distributed as distributed

    run_file = tmp_path / "run"
    assert not distributed.fail_if_left_running(run_file, "x")  # rank 0 never started a run
    runs = tmp_path / "runs"
    killed = records.start_run(runs, model="m", repo_dir=tmp_path)
    killed.update(pid=_dead_pid())
    run_file.write_text(str(killed.folder))
    assert distributed.fail_if_left_running(run_file, "a training process failed (exit 1)")
    again = records.load_run(killed.folder)
    assert again.status == "FAILED"
    assert again.record["error"] == "a training process failed (exit 1)"
    assert "ended_at" in again.record
    # A record its own process finished keeps its status and error.
    stopped = records.start_run(runs, model="m", repo_dir=tmp_path)
    stopped.finish("FAILED", error="KeyboardInterrupt: stopped by signal 15")
    run_file.write_text(str(stopped.folder))
    assert not distributed.fail_if_left_running(run_file, "other")
    assert records.load_run(stopped.folder).record["error"].startswith("KeyboardInterrupt")
    # A run whose process still runs is not touched.
    live = records.start_run(runs, model="m", repo_dir=tmp_path)
    run_file.write_text(str(live.folder))
    assert not distributed.fail_if_left_running(run_file, "other")
    assert records.load_run(live.folder).status == "RUNNING"
    run_file.write_text(str(tmp_path / "gone"))  # a folder removed since: nothing to mark
    assert not distributed.fail_if_left_running(run_file, "other")


def test_find_and_list_runs(tmp_path: Path) -> None:
    a = records.start_run(tmp_path, model="alpha", repo_dir=tmp_path)
    b = records.start_run(tmp_path, model="beta", repo_dir=tmp_path)
    (tmp_path / "damaged").mkdir()
    (tmp_path / "damaged" / records.RECORD).write_text("{not json")
    (tmp_path / "empty").mkdir()
    (tmp_path / "not_a_record").mkdir()  # valid JSON, but no run in it
    (tmp_path / "not_a_record" / records.RECORD).write_text("[1, 2]")
    assert {r.run_id for r in records.list_runs(tmp_path)} == {a.run_id, b.run_id}
    assert records.find_run(tmp_path, a.run_id).run_id == a.run_id
    assert records.find_run(tmp_path, a.run_id[:-2]).run_id == a.run_id  # unique prefix
    with pytest.raises(KKError, match=r"matches 2 runs"):
        records.find_run(tmp_path, a.run_id[:8])
    with pytest.raises(KKError, match=r"run 'zzz' is not known"):
        records.find_run(tmp_path, "zzz")
    with pytest.raises(KKError, match=r"cannot be read"):
        records.load_run(tmp_path / "damaged")
    with pytest.raises(KKError, match=r"cannot be read \(not a run record"):
        records.load_run(tmp_path / "not_a_record")
    assert records.list_runs(tmp_path / "nowhere") == []


@pytest.mark.parametrize("greater", [True, False])
def test_ranked_by_cv_follows_the_metric_direction(tmp_path: Path, greater: bool) -> None:
    means = {"a": 0.80, "b": 0.85, "c": 0.85, "d": 0.70}
    runs = {}
    for model, mean in means.items():
        runs[model] = records.start_run(tmp_path, model=model, repo_dir=tmp_path)
        runs[model].finish("COMPLETE", cv_mean=mean, greater_is_better=greater)
    records.start_run(tmp_path, model="e", repo_dir=tmp_path).finish("FAILED", error="x")
    no_cv = records.start_run(tmp_path, model="f", repo_dir=tmp_path)
    no_cv.finish("COMPLETE")  # an ensemble without CV, say: nothing to rank it by
    ranked = [r.record["model"] for r in records.ranked_by_cv(records.list_runs(tmp_path))]
    assert ranked == (["b", "c", "a", "d"] if greater else ["d", "a", "b", "c"])  # ties: oldest


def test_git_state(tmp_path: Path) -> None:
    assert records.git_state(tmp_path) == {"commit": None, "dirty": None}
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f.txt").write_text("one")
    subprocess.run([*git, "add", "f.txt"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert records.git_state(tmp_path) == {"commit": head, "dirty": False}
    (tmp_path / "f.txt").write_text("two")
    assert records.git_state(tmp_path) == {"commit": head, "dirty": True}
    run = records.start_run(tmp_path / "runs", model="m", repo_dir=tmp_path)
    assert run.record["git"] == {"commit": head, "dirty": True}


def test_atomic_write_leaves_the_old_file_when_the_writer_fails(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "file.json"
    atomic.write_json(path, {"a": 1})
    assert json.loads(path.read_text()) == {"a": 1}

    def broken(fh: object) -> None:
        fh.write(b"half")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.write_atomic(path, broken)
    assert json.loads(path.read_text()) == {"a": 1}
    assert sorted(p.name for p in path.parent.iterdir()) == ["file.json"]  # no temp file left
    atomic.write_text(path, "é")
    assert atomic.sha256_file(path) == hashlib.sha256("é".encode()).hexdigest()


def test_files_kk_generates_do_not_make_the_tree_dirty(tmp_path: Path) -> None:
    """kk report's plots and README, and kk submit's ledger, are not a run's code."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    project = tmp_path / "projects" / "demo"
    (project / "reports" / "records").mkdir(parents=True)
    (tmp_path / "docs").mkdir()
    generated = [
        tmp_path / "README.md",
        tmp_path / "docs" / "learning-path.md",
        tmp_path / "docs" / "learning-path.zh.md",
        project / "README.md",
        project / "reports" / "cv_scores.png",
        project / "reports" / "records" / "20261207-000000-mlp-0000.json",
        project / "reports" / "records" / "20261207-000000-mlp-0000.npz",
        project / "submissions.jsonl",
    ]
    for path in [*generated, project / "features.py"]:
        path.write_text("one")
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)
    for path in generated:
        path.write_text("two")
    assert records.git_state(project)["dirty"] is False
    (project / "features.py").write_text("two")
    assert records.git_state(project)["dirty"] is True
