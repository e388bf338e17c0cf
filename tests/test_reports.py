"""Reports: the results table from run records and the README section it replaces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kagglekit.cli import app
from kagglekit.errors import KKError
from kagglekit.records import Run
from kagglekit.reports import (
    END_MARKER,
    START_MARKER,
    ablation_table_markdown,
    last_epoch_cv,
    results_table_markdown,
    update_readme_section,
)
from kagglekit.testing import make_tiny_project


def _run(run_id: str, model: str, cv_mean: float, **extra: Any) -> Run:
    record = {
        "run_id": run_id,
        "model": model,
        "status": "COMPLETE",
        "metric": "accuracy",
        "greater_is_better": True,
        "cv_mean": cv_mean,
        "cv_std": 0.01,
        "oof_score": cv_mean,
        "wall_seconds": 1.25,
        "fold_hash": "abc123def4567890",
        "git": {"commit": "0123456789abcdef", "dirty": False},
        "fold_scores": [{"repeat": r, "fold": f} for r in range(2) for f in range(5)],
        **extra,
    }
    return Run(Path("/nonexistent") / run_id, record)


def test_table_has_the_best_complete_run_per_model_best_first() -> None:
    runs = [
        _run("r1", "svm", 0.80),
        _run("r2", "lightgbm", 0.84),
        _run("r3", "svm", 0.82),
        _run("r4", "knn", 0.99, status="FAILED"),
    ]
    table = results_table_markdown(runs)
    body = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert body[0].startswith("| model | accuracy (CV mean +- std)")
    assert body[1].startswith("| lightgbm | 0.8400 +- 0.0100 | 0.8400 | 5x2 | 1.2")
    assert body[2].startswith("| svm | 0.8200") and "`r3`" in body[2]
    assert len(body) == 3  # the failed knn run and the worse svm run are left out
    assert "`01234567`" in body[1]


def test_table_lower_is_better_sorts_ascending() -> None:
    runs = [
        _run("a", "m1", 0.5, greater_is_better=False, metric="rmse"),
        _run("b", "m2", 0.3, greater_is_better=False, metric="rmse"),
        _run("c", "m2", 0.4, greater_is_better=False, metric="rmse"),
    ]
    rows = [line for line in results_table_markdown(runs).splitlines() if line.startswith("| m")]
    assert rows[1].startswith("| m2 | 0.3000") and rows[2].startswith("| m1 | 0.5000")


def test_table_refuses_runs_on_different_folds() -> None:
    runs = [_run("a", "m1", 0.5), _run("b", "m2", 0.6, fold_hash="ffffffffffff0000")]
    with pytest.raises(KKError, match="different fold assignments"):
        results_table_markdown(runs)


def _fold(score: float, history: list[float], best: int) -> dict[str, Any]:
    return {"repeat": 0, "fold": 0, "score": score,
            "learned": {"best_epoch": best, "history": {"valid_score": history}}}  # fmt: skip


def test_last_epoch_cv_undoes_the_epoch_picked_on_the_scored_rows() -> None:
    # Fold 0 kept epoch 0 (0.80) over its last (0.78); fold 1 kept its last: mean 0.79.
    folds = [_fold(0.80, [0.80, 0.78], 0), _fold(0.80, [0.70, 0.80], 1)]
    assert last_epoch_cv({"fold_scores": folds}) == pytest.approx(0.79)
    # A history that scores otherwise than the fold (TTA, a tuned threshold) says nothing.
    assert last_epoch_cv({"fold_scores": [_fold(0.85, [0.80, 0.78], 0)]}) is None
    assert last_epoch_cv({"fold_scores": [{"repeat": 0, "fold": 0, "score": 0.8}]}) is None


def test_table_shows_the_last_epoch_column_only_where_an_epoch_was_picked() -> None:
    picked = _run("a", "net", 0.80, fold_scores=[_fold(0.80, [0.80, 0.70], 0)])
    plain = _run("b", "svm", 0.75)
    table = results_table_markdown([picked, plain])
    assert "accuracy, last epoch (CV) |" in table
    row = next(line for line in table.splitlines() if line.startswith("| net "))
    assert "| 0.7000 |" in row
    kept_last = _run("c", "net", 0.80, fold_scores=[_fold(0.80, [0.70, 0.80], 1)])
    assert "last epoch" not in results_table_markdown([kept_last, plain])


def test_table_reads_the_last_epoch_cv_the_run_saved() -> None:
    # Runs save cv_last_epoch; only records from before (no such key) read the histories.
    plain = _run("b", "svm", 0.75)
    saved = _run("a", "net", 0.80, cv_last_epoch=0.77)
    row = next(
        line
        for line in results_table_markdown([saved, plain]).splitlines()
        if line.startswith("| net ")
    )
    assert "| 0.7700 |" in row
    # The saved null wins over a history that would give a value.
    null = _run("c", "net", 0.80, cv_last_epoch=None, fold_scores=[_fold(0.80, [0.80, 0.70], 0)])
    assert "last epoch" not in results_table_markdown([null, plain])


def test_best_tree_run_reads_the_backend_family(monkeypatch: pytest.MonkeyPatch) -> None:
    """A backend a project registers is a tree (importance plot) by its family, not by name."""
    from kagglekit.models import base
    from kagglekit.reports import best_tree_run

    for name, family in (("my_forest", "tree"), ("my_linear", "linear")):
        backend = base.Backend(
            name=name,
            tasks=("binary",),
            build=lambda ctx: None,
            known_params=lambda task: set(),
            family=family,
        )
        monkeypatch.setitem(base._REGISTRY, name, backend)
    importances = {"feature_importance": {"x": 1.0}}
    forest = _run("f", "forest", 0.70, backend="my_forest", **importances)
    linear = _run("l", "linear", 0.90, backend="my_linear", **importances)
    unknown = _run("u", "mystery", 0.95, backend="not_registered", **importances)
    assert best_tree_run([forest, linear, unknown]) is forest
    gbdt = _run("g", "lightgbm", 0.80, backend="lightgbm", **importances)
    assert best_tree_run([forest, linear, gbdt]) is gbdt
    assert best_tree_run([linear, unknown]) is None


def test_ablation_table_lists_every_run_of_a_model_with_what_set_changed() -> None:
    runs = [
        _run("a1", "finetune", 0.83),
        _run("a2", "finetune", 0.84, overrides=["models.finetune.params.lr=1e-4"]),
        _run(
            "a3",
            "finetune",
            0.85,
            overrides=["models.finetune.pseudo_labels.run=t1", "cv.n_splits=5"],
            local_scores={"all": 0.8123},
        ),
        _run("a4", "tfidf", 0.80),  # never changed with --set: not in the table
    ]
    body = [
        line
        for line in ablation_table_markdown(runs).splitlines()
        if line.startswith("| finetune") or line.startswith("| tfidf")
    ]
    assert body == [
        "| finetune | `pseudo_labels.run=t1`, `cv.n_splits=5` | 0.8500 | 0.8123 | 1.2 | `a3` |",
        "| finetune | `lr=1e-4` | 0.8400 |  | 1.2 | `a2` |",
        "| finetune | config as is | 0.8300 |  | 1.2 | `a1` |",
    ]
    assert ablation_table_markdown(runs[3:]) == ""


def test_update_readme_section_replaces_only_the_section(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    before = f"# Title\n\nIntro.\n\n{START_MARKER}\nold table\n{END_MARKER}\n\nAfter.\n"
    readme.write_text(before)
    assert update_readme_section(readme, "| new | table |\n") is True
    after = readme.read_text()
    assert (
        after == f"# Title\n\nIntro.\n\n{START_MARKER}\n| new | table |\n{END_MARKER}\n\nAfter.\n"
    )
    assert update_readme_section(readme, "| new | table |") is False
    assert readme.read_text() == after


def test_update_readme_section_needs_the_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(KKError, match="kk:results:start"):
        update_readme_section(readme, "x")
    assert readme.read_text() == "# no markers\n"
    with pytest.raises(KKError, match="does not exist"):
        update_readme_section(tmp_path / "missing.md", "x")


def test_kk_report_regenerates_the_readme(projects_dir: Path) -> None:
    paths = make_tiny_project(projects_dir, "tiny")
    runner = CliRunner()
    for args in (
        ["fetch", "tiny", "--from", str(paths["mirror"])],
        ["folds", "tiny"],
        ["report", "tiny"],
    ):
        result = runner.invoke(app, args)
        if args[0] == "report":
            assert isinstance(result.exception, KKError)
            assert "no complete run" in str(result.exception)
        else:
            assert result.exit_code == 0, result.output
    readme = paths["project"] / "README.md"
    readme.write_text(f"# tiny\n\n{START_MARKER}\n{END_MARKER}\n")
    assert runner.invoke(app, ["train", "tiny", "--model", "linear"]).exit_code == 0
    first = runner.invoke(app, ["report", "tiny"])
    assert first.exit_code == 0, first.output
    assert "results updated" in first.output
    text = readme.read_text()
    assert "| linear | " in text and text.startswith("# tiny\n")
    second = runner.invoke(app, ["report", "tiny"])
    assert "results unchanged" in second.output
    assert readme.read_text() == text


def test_kk_report_commits_record_copies_so_a_fresh_clone_reports_the_same_table(
    projects_dir: Path,
) -> None:
    """runs/ is not committed: the report keeps each record it reports under
    reports/records/, and a machine without the run folders regenerates the same tables."""
    import json
    import shutil

    from kagglekit.project import open_project
    from kagglekit.records import RECORDS_DIR, archive_records, archived_runs, ranked_by_cv
    from kagglekit.reports import current_runs

    paths = make_tiny_project(projects_dir, "tiny")
    (paths["project"] / "README.md").write_text(f"# tiny\n\n{START_MARKER}\n{END_MARKER}\n")
    runner = CliRunner()
    for args in (
        ["fetch", "tiny", "--from", str(paths["mirror"])],
        ["folds", "tiny"],
        ["train", "tiny", "--model", "linear"],
        ["train", "tiny", "--model", "linear", "--set", "models.linear.params.C=0.5"],
        ["train", "tiny", "--model", "lightgbm"],
        ["report", "tiny"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    project = open_project("tiny", projects_dir)
    copies = sorted((project.root / RECORDS_DIR).glob("*.json"))
    local = current_runs(project)
    assert [c.stem for c in copies] == [r.run_id for r in local] and len(copies) == 3
    for copy in copies:
        record = json.loads(copy.read_text())
        assert "host" not in record and "pid" not in record
        assert (
            record["cv_mean"] == next(r for r in local if r.run_id == copy.stem).record["cv_mean"]
        )
    before = (project.root / "README.md").read_text()
    # Reporting again writes no copy; a run here and its copy count once.
    assert archive_records(local, project.root / RECORDS_DIR) == []
    assert [r.run_id for r in current_runs(project)] == [r.run_id for r in local]

    # Arrays only for the best run of each model entry (the table's rows): two of three.
    arrays = sorted((project.root / RECORDS_DIR).glob("*.npz"))
    best = {r.record["model"]: r.run_id for r in reversed(ranked_by_cv(local))}
    assert [a.stem for a in arrays] == sorted(best.values()) and len(arrays) == 2
    oof_here = {r.run_id: r.load_array("oof") for r in local}

    shutil.rmtree(project.runs_dir)  # a fresh clone: the copies only
    again = runner.invoke(app, ["report", "tiny"])
    assert again.exit_code == 0, again.output
    after = (project.root / "README.md").read_text()
    table = before.split("### Runs with --set")[0]
    assert after.split("### Runs with --set")[0] == table  # OOF plots too: read from the copy
    assert "| linear | `C=0.5` |" in after and "| linear | config as is |" in after
    assert sorted(p.name for p in (project.root / RECORDS_DIR).iterdir()) == sorted(
        p.name for p in [*copies, *arrays]
    )  # the copies are left as they were: nothing to rewrite
    copy = archived_runs(project.root / RECORDS_DIR, project.runs_dir)[0]
    assert copy.archived and copy.status == "COMPLETE" and copy.has_array("test")
    assert (copy.load_array("oof") == oof_here[copy.run_id]).all()  # byte-exact, not float32
    assert copy.load_array("oof").dtype == oof_here[copy.run_id].dtype

    # kk runs lists them from their copies, saying so.
    listed = runner.invoke(app, ["runs", "tiny", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert sorted((r["run_id"], r["copy"]) for r in rows) == [
        (c.stem, "arrays" if c.stem in best.values() else "record") for c in copies
    ]
    assert "COMPLETE (copy)" in runner.invoke(app, ["runs", "tiny"]).output

    # kk ensemble combines runs made on another machine from their committed arrays.
    ens = runner.invoke(app, ["ensemble", "tiny", "--method", "stack"])
    assert ens.exit_code == 0, ens.output
    assert all(a.stem in ens.output for a in arrays)

    # A copy whose arrays were over the limit (or deleted) has its record only.
    copy.arrays_copy.unlink()  # type: ignore[union-attr]
    copy = archived_runs(project.root / RECORDS_DIR, project.runs_dir)[0]
    assert copy.arrays_copy is None and not copy.has_array("oof")
    with pytest.raises(KKError, match=r"has only its record here .* rerun it"):
        copy.load_array("oof")
    # Deleting a copy drops its run from the next report.
    (project.root / RECORDS_DIR / f"{copy.run_id}.json").unlink()
    assert runner.invoke(app, ["report", "tiny"]).exit_code == 0
    assert copy.run_id not in (project.root / "README.md").read_text()
    assert copies[0].stem not in [r.run_id for r in current_runs(project)]


def test_arrays_over_the_copy_limit_stay_out_of_git(
    projects_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kagglekit import records
    from kagglekit.project import open_project

    paths = make_tiny_project(projects_dir, "tiny")
    runner = CliRunner()
    for args in (
        ["fetch", "tiny", "--from", str(paths["mirror"])],
        ["folds", "tiny"],
        ["train", "tiny", "--model", "linear"],
    ):
        assert runner.invoke(app, args).exit_code == 0
    project = open_project("tiny", projects_dir)
    (run,) = records.list_runs(project.runs_dir)
    folder = project.root / records.RECORDS_DIR
    monkeypatch.setattr(records, "ARRAYS_COPY_LIMIT", 100)
    assert records.archive_records([run], folder) == [folder / f"{run.run_id}.json"]
    monkeypatch.undo()
    assert records.archive_records([run], folder) == [folder / f"{run.run_id}.npz"]
    # A damaged array copy is named with the fix, as a damaged record copy is.
    (folder / f"{run.run_id}.npz").write_bytes(b"PK not a zip")
    (copy,) = records.archived_runs(folder, tmp := project.root / "elsewhere")
    assert copy.folder == tmp / run.run_id
    with pytest.raises(KKError, match=rf"{run.run_id}\.npz cannot be read.*git checkout"):
        copy.has_array("oof")
    # A zip whose member is not an array: one line naming the file, not a traceback.
    import zipfile

    with zipfile.ZipFile(folder / f"{run.run_id}.npz", "w") as zf:
        zf.writestr("oof.npy", b"not an npy file")
    (copy,) = records.archived_runs(folder, tmp)
    with pytest.raises(KKError, match=rf"{run.run_id}\.npz cannot be read \(ValueError.*git"):
        copy.load_array("oof")


def test_a_damaged_record_copy_is_named_with_the_fix(tmp_path: Path) -> None:
    from kagglekit.records import archived_runs

    (tmp_path / "20261204-000000-linear-abcd.json").write_text('{"run_id": "20261204-0000')
    with pytest.raises(KKError, match=r"20261204-000000-linear-abcd\.json cannot be read.*git"):
        archived_runs(tmp_path, tmp_path / "runs")
    (tmp_path / "20261204-000000-linear-abcd.json").write_text('{"run_id": "other"}')
    with pytest.raises(KKError, match="its run_id is not"):
        archived_runs(tmp_path, tmp_path / "runs")
