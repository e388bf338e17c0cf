"""Telling runs apart (issue 15, item 5): overrides and folds shown, runs on replaced folds
hidden, duplicates counted once, FAILED runs cleaned up, damaged records named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kagglekit import ensembling, records, reports
from kagglekit.project import open_project
from kagglekit.testing import make_tiny_project, run_kk_inprocess


@pytest.fixture
def trained(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A tiny project with two identical linear runs and one with an override."""
    paths = make_tiny_project(projects_dir, "tiny")
    kk = lambda *a: run_kk_inprocess(capsys, monkeypatch, *a)  # noqa: E731
    assert kk("fetch", "tiny", "--from", str(paths["mirror"]))[0] == 0
    assert kk("folds", "tiny")[0] == 0
    for extra in ([], [], ["--set", "models.linear.params.C=0.5"]):
        code, _, err = kk("train", "tiny", "--model", "linear", *extra)
        assert code == 0, err
    return paths["project"]


def _rows(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> list[dict]:
    code, out, err = run_kk_inprocess(capsys, monkeypatch, "runs", "tiny", "--json", *args)
    assert code == 0, err
    return [json.loads(line) for line in out.strip().splitlines()]


def test_runs_show_overrides_params_and_fold_hash(
    trained: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = _rows(capsys, monkeypatch)
    assert len(rows) == 3
    assert sorted(len(r["overrides"]) for r in rows) == [0, 0, 1]
    changed = next(r for r in rows if r["overrides"])
    assert changed["overrides"] == ["models.linear.params.C=0.5"] and changed["params"]["C"] == 0.5
    assert all(r["fold_hash"] and r["current_folds"] for r in rows)
    code, out, _ = run_kk_inprocess(capsys, monkeypatch, "runs", "tiny")
    assert code == 0 and "models.linear.params.C=0.5" in out
    assert rows[0]["fold_hash"][:8] in out


def test_runs_on_replaced_folds_are_hidden_unless_all(
    trained: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = trained / "config.toml"
    config.write_text(config.read_text().replace("seed = 7", "seed = 8", 1))
    code, _, err = run_kk_inprocess(capsys, monkeypatch, "folds", "tiny", "--force")
    assert code == 0, err
    assert _rows(capsys, monkeypatch) == []
    old = _rows(capsys, monkeypatch, "--all")
    assert len(old) == 3 and not any(r["current_folds"] for r in old)
    code, out, _ = run_kk_inprocess(capsys, monkeypatch, "runs", "tiny")
    assert "3 on replaced folds: --all shows them" in out
    code, out, _ = run_kk_inprocess(capsys, monkeypatch, "runs", "tiny", "--all")
    assert out.count("(replaced)") == 3


def test_duplicates_count_once_in_the_default_ensemble_and_the_cv_plot(
    trained: Path, tmp_path: Path
) -> None:
    project = open_project("tiny", trained.parent)
    runs = records.list_runs(project.runs_dir)
    fold_hash = runs[0].record["fold_hash"]
    # Run ids started in the same second sort by their random suffix: find them by content.
    plain = [r for r in runs if not r.record["overrides"]]
    [changed] = [r for r in runs if r.record["overrides"]]
    assert len(plain) == 2
    assert records.duplicate_key(plain[0]) == records.duplicate_key(plain[1])
    assert records.duplicate_key(changed) != records.duplicate_key(plain[0])
    unique = records.unique_runs(runs)
    assert len(unique) == 2 and changed in unique
    [kept] = [r for r in unique if r is not changed]
    assert kept.record["started_at"] == max(r.record["started_at"] for r in plain)
    chosen = ensembling.select_runs(project, fold_hash)
    assert [r.run_id for r in chosen] == [r.run_id for r in unique]
    with_duplicate = reports.plot_cv_scores(runs, tmp_path / "a.png").read_bytes()
    without = reports.plot_cv_scores(unique, tmp_path / "b.png").read_bytes()
    assert with_duplicate == without


def test_clean_removes_failed_and_abandoned_runs(
    trained: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    runs_dir = trained / "runs"
    failed = records.start_run(runs_dir, model="linear", repo_dir=trained)
    failed.finish("FAILED", error="boom")
    gone = records.start_run(runs_dir, model="linear", repo_dir=trained)
    gone.update(pid=2**22 + 12345)  # no such process: ABANDONED
    assert {r.status for r in records.list_runs(runs_dir)} == {"COMPLETE", "FAILED", "ABANDONED"}
    code, out, _ = run_kk_inprocess(capsys, monkeypatch, "runs", "tiny")
    assert "2 FAILED/ABANDONED run(s): `kk runs tiny --clean` deletes them" in out
    code, _, err = run_kk_inprocess(capsys, monkeypatch, "runs", "tiny", "--clean")
    assert code == 1 and "add --yes" in err and failed.folder.exists()
    code, out, _ = run_kk_inprocess(capsys, monkeypatch, "runs", "tiny", "--clean", "--yes")
    assert code == 0 and "deleted 2 run folder(s)" in out
    assert not failed.folder.exists() and not gone.folder.exists()
    assert [r.status for r in records.list_runs(runs_dir)] == ["COMPLETE"] * 3


def test_a_damaged_record_is_listed_and_named_by_submit(
    trained: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run = records.list_runs(trained / "runs")[0]
    (run.folder / "record.json").write_text('{"run_id": "x", ')
    code, out, _ = run_kk_inprocess(capsys, monkeypatch, "runs", "tiny")
    assert code == 0
    [line] = [line for line in out.splitlines() if "DAMAGED" in line]
    assert run.run_id in line and "cannot be read" in line
    assert any(r["status"] == "DAMAGED" for r in _rows(capsys, monkeypatch))
    code, _, err = run_kk_inprocess(
        capsys, monkeypatch, "submit", "tiny", "--run", run.run_id, "--dry-run"
    )
    assert code == 1 and f"run {run.run_id} is damaged" in err and "not known" not in err


# --- issue 33: run names, whole ids, interrupted and broken runs --------------------------


def test_a_run_is_named_by_best_row_model_prefix_or_suffix(
    trained: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kagglekit.errors import KKError
    from kagglekit.training.run import resolve_run

    project = open_project("tiny", trained.parent)
    rows = _rows(capsys, monkeypatch)
    best = rows[0]["run_id"]
    assert resolve_run(project, "best").run_id == best
    assert resolve_run(project, "linear").run_id == best  # a model name: its best run
    for number, row in enumerate(rows, start=1):  # row numbers as kk runs shows them
        assert resolve_run(project, str(number)).run_id == row["run_id"]
    other = rows[-1]["run_id"]
    assert resolve_run(project, other[-4:]).run_id == other  # a unique suffix
    assert resolve_run(project, other[:-2]).run_id == other  # a unique prefix
    with pytest.raises(KKError, match=r"matches 3 runs \(.*linear.*\); give more of it"):
        resolve_run(project, rows[0]["run_id"][:4])
    with pytest.raises(KKError, match=r"run 'lightgbm': model lightgbm has no COMPLETE run"):
        records.start_run(project.runs_dir, model="lightgbm", repo_dir=trained).finish("FAILED")
        resolve_run(project, "lightgbm")
    code, out, err = run_kk_inprocess(
        capsys, monkeypatch, "submit", "tiny", "--run", "best", "--dry-run"
    )
    assert code == 0 and f"runs/{best}/submission.csv" in out, err
    code, _, err = run_kk_inprocess(
        capsys, monkeypatch, "submit", "tiny", "--run", "nosuchrun", "--dry-run"
    )
    assert code == 1 and "'best', a row number of `kk runs`" in err and len(err.splitlines()) == 1


def test_run_ids_are_whole_in_narrow_terminals(trained: Path) -> None:
    from rich.console import Console

    from kagglekit.cli.train import _runs_table

    project = open_project("tiny", trained.parent)
    runs = records.leaderboard(records.list_runs(project.runs_dir))
    rows = [r.row(None) for r in runs]
    for width in (80, 120):
        console = Console(width=width, record=True, color_system=None)
        console.print(_runs_table(project, rows, width))
        text = console.export_text()
        assert all(len(line) <= width for line in text.splitlines())
        for row in rows:
            assert row["run_id"] in text, (width, text)


def test_an_interrupted_run_is_listed_as_resumable_and_goes_on(
    trained: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kagglekit import training
    from kagglekit.training.run import RunInterrupted

    project = open_project("tiny", trained.parent)
    cfg = project.config()

    def ctrl_c(fold, done):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt  # after the first fold was kept

    with pytest.raises(RunInterrupted) as stopped:
        training.train(project, cfg, model_name="lightgbm", on_fold=ctrl_c)
    assert str(stopped.value).endswith(
        "interrupted: 1 of 3 folds kept; rerun the same command to continue (--fresh starts over)"
    )
    run = records.find_run(project.runs_dir, stopped.value.run_id)
    assert run.record["status"] == "FAILED" and run.interrupted  # stored status unchanged
    code, out, _ = run_kk_inprocess(capsys, monkeypatch, "runs", "tiny")
    assert code == 0 and "INTERRUPTED (resumable)" in out
    assert "rerun its command to continue (kk train tiny --model lightgbm, with its" in out
    assert "--clean deletes them" not in out
    run_kk_inprocess(capsys, monkeypatch, "runs", "tiny", "--clean", "--yes")
    assert run.folder.is_dir()  # --clean keeps what the same command goes on with
    row = next(r for r in _rows(capsys, monkeypatch) if r["run_id"] == run.run_id)
    assert row["status"] == "FAILED" and row["resumable"]
    resumed = training.train(project, cfg, model_name="lightgbm")
    assert resumed.run.run_id == run.run_id and resumed.run.status == "COMPLETE"
    assert not records.find_run(project.runs_dir, run.run_id).interrupted


def test_a_run_that_learned_nothing_is_flagged(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kagglekit.testing import tiny_config

    # C = 1e-9: the weights stay at zero, so every row gets the majority class.
    extra = 'params = { C = 1.0 }\n\n[models.flat]\nbackend = "logistic_regression"\nparams = { C = 1e-9 }\n'
    paths = make_tiny_project(
        projects_dir, "tiny", config=tiny_config("tiny", metric="f1", extra=extra)
    )
    kk = lambda *a: run_kk_inprocess(capsys, monkeypatch, *a)  # noqa: E731
    assert kk("fetch", "tiny", "--from", str(paths["mirror"]))[0] == 0
    assert kk("folds", "tiny")[0] == 0
    code, out, err = kk("train", "tiny", "--model", "flat")
    assert code == 0, err
    lines = out.splitlines()
    cv_at = next(i for i, line in enumerate(lines) if line.startswith("CV f1"))
    assert lines[cv_at + 1].startswith("warning: this run looks broken: it predicts class 0")
    assert "does not beat the trivial baseline" in lines[cv_at + 1]
    code, out, err = kk("train", "tiny", "--model", "linear")
    assert code == 0 and "looks broken" not in out, err
    code, out, _ = kk("train", "tiny", "--smoke", "--model", "flat")
    assert code == 0 and "warning: it predicts class 0" in out
    rows = _rows(capsys, monkeypatch)
    flat = next(r for r in rows if r["model"] == "flat")
    good = next(r for r in rows if r["model"] == "linear")
    assert flat["degenerate"] and flat["baseline_cv"] == good["baseline_cv"] is not None
    assert not good["degenerate"]
    # A record from before the flag shows nothing.
    old = records.find_run(paths["project"] / "runs", flat["run_id"])
    old.record.pop("degenerate"), old.record.pop("degenerate_why"), old.record.pop("baseline_cv")
    old.save()
    code, out, _ = kk("runs", "tiny")
    assert code == 0 and " !" not in out and "trivial baseline" not in out
    old_row = next(r for r in _rows(capsys, monkeypatch) if r["run_id"] == flat["run_id"])
    assert old_row["baseline_cv"] is None and not old_row["degenerate"]


def test_a_number_that_is_also_a_run_ids_suffix_is_not_taken_as_a_row(trained: Path) -> None:
    """Run ids end in four hex digits: "0003" is that suffix, never row 3; a row number
    that is also a whole suffix is refused as ambiguous."""
    from kagglekit.errors import KKError
    from kagglekit.training.run import resolve_run

    project = open_project("tiny", trained.parent)
    runs = records.leaderboard(records.list_runs(project.runs_dir))
    src = runs[-1].folder
    copies = [src.with_name(f"{src.name.rsplit('-', 1)[0]}-{t}") for t in ("0003", "3")]
    for dst in copies:  # "-3": a suffix that is also row 3
        shutil.copytree(src, dst)
        record = json.loads((dst / "record.json").read_text())
        (dst / "record.json").write_text(json.dumps({**record, "run_id": dst.name}))
    assert resolve_run(project, "0003").run_id.endswith("-0003")
    with pytest.raises(KKError, match=r"run '3' is row 3 of `kk runs` and also ends"):
        resolve_run(project, "3")
    for dst in copies:  # the fixture's project is shared by the module's tests
        shutil.rmtree(dst)


def test_a_rare_class_found_with_precision_is_not_flagged_as_one_class() -> None:
    """4 % positives, 1.8 % of the rows predicted positive at precision 0.8 (F1 0.5): a
    working model on imbalanced data; predicting no positive at all is what is flagged."""
    import numpy as np

    from kagglekit.metrics import get_metric
    from kagglekit.tasks import get_task
    from kagglekit.training.baseline import degenerate_reason

    y = np.zeros(1000, dtype=np.int64)
    y[:40] = 1
    found = np.zeros(1000)
    found[:14] = 0.9  # 14 true positives
    found[500:504] = 0.9  # 4 false positives: 18 predicted, precision 0.78
    task, f1 = get_task("binary"), get_metric("f1")
    args = {"threshold": 0.5, "baseline": 0.0}
    assert degenerate_reason(task, f1, y, found, score=0.48, **args) is None
    flagged = degenerate_reason(task, f1, y, np.zeros(1000), score=0.0, **args)
    assert flagged is not None and "predicts class 0 for 100.0% of the rows" in flagged


def test_an_error_after_a_run_completed_leaves_it_complete(tmp_path: Path) -> None:
    """Ctrl-C (or any error) that lands after ``complete`` (say, while finished folds are
    tidied away) does not turn a COMPLETE run into a FAILED or resumable one."""
    from kagglekit.training.run import failing

    for error in (KeyboardInterrupt, OSError):
        run = records.start_run(tmp_path / "runs", model="m", repo_dir=tmp_path)
        run.update(resume_key="k")
        with pytest.raises(error), failing(run):
            run.finish("COMPLETE")
            raise error
        again = records.load_run(run.folder)
        assert again.status == "COMPLETE" and not again.interrupted


def test_a_name_in_a_config_takes_run_ids_only(trained: Path) -> None:
    """A pseudo-label teacher written as `best` or a model name would change as runs
    finish; such names are for commands, not configs."""
    from kagglekit.errors import KKError

    project = open_project("tiny", trained.parent)
    assert records.find_run(project.runs_dir, "best").status == "COMPLETE"
    with pytest.raises(KKError, match="run 'best' is not known"):
        records.find_run(project.runs_dir, "best", by_name=False)
