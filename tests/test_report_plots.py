"""Report plots and the portfolio index: every plot written, regeneration idempotent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from kagglekit import ensembling
from kagglekit.cli import app
from kagglekit.errors import KKError
from kagglekit.project import open_project
from kagglekit.records import Run
from kagglekit.reports import (
    END_MARKER,
    PORTFOLIO_END,
    PORTFOLIO_START,
    START_MARKER,
    write_plots,
)
from kagglekit.testing import make_tiny_project

PNG = b"\x89PNG\r\n\x1a\n"
HEAD = "# tiny\n\nHand-written intro.\n\n"
TAIL = "\n\nHand-written notes after the results.\n"


def _project_with_runs(projects_dir: Path, name: str, task: str) -> Path:
    paths = make_tiny_project(projects_dir, name, task=task)
    runner = CliRunner()
    for args in (
        ["fetch", name, "--from", str(paths["mirror"])],
        ["folds", name],
        ["train", name, "--model", "lightgbm"],
        ["train", name, "--model", "linear"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    readme = paths["project"] / "README.md"
    readme.write_text(f"{HEAD}{START_MARKER}\n{END_MARKER}{TAIL}")
    return paths["project"]


def _plots(project: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((project / "reports").glob("*.png"))}


def _check_pngs(plots: dict[str, bytes]) -> None:
    for name, data in plots.items():
        assert data.startswith(PNG) and len(data) > 5000, name


def test_project_report_plots_and_idempotence(projects_dir: Path) -> None:
    root = _project_with_runs(projects_dir, "tiny", "binary")
    project = open_project("tiny", projects_dir)
    hill = ensembling.ensemble(project, project.config(), method="hill", nested=False)
    ledger = [
        {
            "run_id": hill.run.run_id,
            "model": "ensemble-hill",
            "metric": "accuracy",
            "cv_mean": hill.cv_mean,
            "greater_is_better": True,
            "public_score": "0.81",
            "private_score": 0.8,
            "submitted_at": "2026-11-29T10:00:00",
        },
        {"run_id": "x", "model": "linear", "cv_mean": 0.8, "public_score": None},
    ]
    (root / "submissions.jsonl").write_text("".join(json.dumps(e) + "\n" for e in ledger))
    runner = CliRunner()
    first = runner.invoke(app, ["report", "tiny"])
    assert first.exit_code == 0, first.output
    assert "results updated" in first.output
    plots = _plots(root)
    assert set(plots) == {
        "cv_scores.png",
        "cv_vs_leaderboard.png",
        "feature_importance.png",
        "confusion_matrix.png",
        "roc_curve.png",
        "pca_kmeans.png",  # a table with a class target: the PCA / k-Means view
    }
    _check_pngs(plots)
    text = (root / "README.md").read_text()
    assert text.startswith(HEAD + START_MARKER) and text.endswith(END_MARKER + TAIL)
    for name in plots:
        assert f"](reports/{name})" in text
    assert "Best submission: `" + hill.run.run_id in text and "0.81000" in text
    second = runner.invoke(app, ["report", "tiny"])
    assert "results unchanged" in second.output
    assert (root / "README.md").read_text() == text
    assert _plots(root) == plots
    # Without a ledger the CV-vs-leaderboard plot is skipped and its old file removed.
    (root / "submissions.jsonl").unlink()
    assert runner.invoke(app, ["report", "tiny"]).exit_code == 0
    assert "cv_vs_leaderboard.png" not in _plots(root)
    assert "No scored Kaggle submission" in (root / "README.md").read_text()


def test_oof_plots_read_the_saved_target_without_the_raw_data(projects_dir: Path) -> None:
    """Runs save their encoded target (target.npy) and the record copy keeps it: a clone
    without runs/ and without the raw data draws the same OOF plots. A copy made before
    runs saved it (no target) gets its target rebuilt from the raw data, as before."""
    import shutil
    import zipfile

    from kagglekit.records import RECORDS_DIR, list_runs

    root = _project_with_runs(projects_dir, "tiny", "binary")
    assert all(run.has_array("target") for run in list_runs(root / "runs"))
    runner = CliRunner()
    assert runner.invoke(app, ["report", "tiny"]).exit_code == 0
    plots, text = _plots(root), (root / "README.md").read_text()
    assert {"confusion_matrix.png", "roc_curve.png"} <= set(plots)
    copies = sorted((root / RECORDS_DIR).glob("*.npz"))
    for copy in copies:
        with zipfile.ZipFile(copy) as zf:
            assert "target.npy" in zf.namelist()
    assert copies

    shutil.rmtree(root / "runs")
    shutil.rmtree(root / "data" / "raw")
    for png in (root / "reports").glob("*.png"):
        png.unlink()
    result = runner.invoke(app, ["report", "tiny"])
    assert result.exit_code == 0, result.output
    # Every plot but the PCA view (drawn from the features, so from the raw data) comes
    # back from the record copies; a committed view is kept as it is (not deleted here).
    view = "pca_kmeans.png"
    assert _plots(root) == {k: v for k, v in plots.items() if k != view}
    assert _without_line(view, (root / "README.md").read_text()) == _without_line(view, text)

    for copy in copies:  # copies from before runs saved their target
        with zipfile.ZipFile(copy) as old:
            members = {n: old.read(n) for n in old.namelist() if n != "target.npy"}
        with zipfile.ZipFile(copy, "w") as new:
            for name, data in members.items():
                new.writestr(name, data)
    for png in (root / "reports").glob("*.png"):
        png.unlink()
    assert runner.invoke(app, ["report", "tiny"]).exit_code == 0
    assert not {"confusion_matrix.png", "roc_curve.png"} & set(_plots(root))  # no raw data
    mirror = projects_dir.parent / "mirror" / "tiny"  # where make_tiny_project wrote it
    assert runner.invoke(app, ["fetch", "tiny", "--from", str(mirror)]).exit_code == 0
    assert runner.invoke(app, ["report", "tiny"]).exit_code == 0
    assert _plots(root) == plots and (root / "README.md").read_text() == text


def test_regression_report_has_residuals(projects_dir: Path) -> None:
    root = _project_with_runs(projects_dir, "reg", "regression")
    result = CliRunner().invoke(app, ["report", "reg"])
    assert result.exit_code == 0, result.output
    plots = _plots(root)
    assert {"cv_scores.png", "feature_importance.png", "residuals.png"} == set(plots)
    _check_pngs(plots)


def test_learning_curves_for_runs_with_epoch_history(tmp_path: Path) -> None:
    history = {"train_loss": [0.9, 0.6, 0.45, 0.4], "valid_loss": [0.95, 0.7, 0.62, 0.63]}
    record = {
        "run_id": "20261129-000000-mlp-abcd",
        "model": "mlp",
        "status": "COMPLETE",
        "metric": "log_loss",
        "greater_is_better": False,
        "cv_mean": 0.6,
        "cv_std": 0.02,
        "fold_scores": [{"fold": f, "learned": {"history": history}} for f in range(3)],
    }
    plots = write_plots(tmp_path / "reports", [Run(tmp_path / "run", record)])
    names = [p.path.name for p in plots]
    assert names == ["cv_scores.png", "learning_curves.png"]
    _check_pngs({p.path.name: p.path.read_bytes() for p in plots})


def test_portfolio_index(projects_dir: Path) -> None:
    _project_with_runs(projects_dir, "tiny", "binary")
    make_tiny_project(projects_dir, "fresh", task="regression")  # configured, never run
    (projects_dir / "tiny" / "submissions.jsonl").write_text(
        json.dumps({"public_score": 0.79, "private_score": 0.78, "cv_mean": 0.8}) + "\n"
    )
    readme = projects_dir.parent / "README.md"
    head, tail = "# portfolio\n\nIntro.\n\n", "\n\n## Other\n\nkept.\n"
    readme.write_text(f"{head}{PORTFOLIO_START}\n{PORTFOLIO_END}{tail}")
    runner = CliRunner()
    first = runner.invoke(app, ["report"])
    assert first.exit_code == 0, first.output
    text = readme.read_text()
    assert text.startswith(head + PORTFOLIO_START) and text.endswith(PORTFOLIO_END + tail)
    rows = {
        line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| [")
    }
    assert set(rows) == {"[fresh](projects/fresh/)", "[tiny](projects/tiny/README.md)"}
    assert "| binary | accuracy | 0." in rows["[tiny](projects/tiny/README.md)"]
    assert "0.79000 / 0.78000" in rows["[tiny](projects/tiny/README.md)"]
    assert "| regression | rmse |  |  |" in rows["[fresh](projects/fresh/)"]
    assert "portfolio unchanged" in runner.invoke(app, ["report"]).output
    assert readme.read_text() == text
    # A project whose folds are not here (its runs are on another machine) keeps its row;
    # one that has folds but no runs is blank, as "fresh" was before it had folds.
    (projects_dir / "tiny" / "data" / "folds.json").unlink()
    assert runner.invoke(app, ["report"]).exit_code == 0
    assert readme.read_text() == text
    runs = projects_dir / "tiny" / "runs"
    runs.rename(runs.with_name("runs-elsewhere"))
    assert runner.invoke(app, ["folds", "tiny"]).exit_code == 0
    assert runner.invoke(app, ["report"]).exit_code == 0
    blank = [line for line in readme.read_text().splitlines() if line.startswith("| [tiny]")]
    assert blank == [
        "| [tiny](projects/tiny/README.md) | binary | accuracy |  | 0.79000 / 0.78000 |"
    ]
    runs.with_name("runs-elsewhere").rename(runs)
    readme.write_text("# no markers\n")
    bad = runner.invoke(app, ["report"])
    assert isinstance(bad.exception, KKError) and PORTFOLIO_START in str(bad.exception)
    assert readme.read_text() == "# no markers\n"


def test_project_report_needs_a_complete_run(projects_dir: Path) -> None:
    paths = make_tiny_project(projects_dir, "empty")
    runner = CliRunner()
    assert runner.invoke(app, ["fetch", "empty", "--from", str(paths["mirror"])]).exit_code == 0
    assert runner.invoke(app, ["folds", "empty"]).exit_code == 0
    result = runner.invoke(app, ["report", "empty"])
    assert isinstance(result.exception, KKError)
    with pytest.raises(KKError, match="no complete run"):
        raise result.exception
    assert not (paths["project"] / "reports").exists()


def test_report_keeps_pngs_with_the_same_pixels(projects_dir: Path) -> None:
    """A tracked PNG written by another libpng/zlib (other bytes, same image) is kept."""
    import io
    import os

    from PIL import Image

    root = _project_with_runs(projects_dir, "tiny", "binary")
    runner = CliRunner()
    assert runner.invoke(app, ["report", "tiny"]).exit_code == 0
    plot = root / "reports" / "cv_scores.png"
    with Image.open(plot) as image:
        buf = io.BytesIO()
        image.save(buf, format="PNG", compress_level=1, pnginfo=None)
    recoded = buf.getvalue()
    assert recoded != plot.read_bytes()
    plot.write_bytes(recoded)
    os.utime(plot, (1_000_000_000, 1_000_000_000))
    assert runner.invoke(app, ["report", "tiny"]).exit_code == 0
    assert plot.read_bytes() == recoded and plot.stat().st_mtime == 1_000_000_000


def test_report_twice_in_two_processes_rewrites_nothing(projects_dir: Path) -> None:
    import os
    import subprocess
    import sys

    root = _project_with_runs(projects_dir, "tiny", "binary")
    command = [sys.executable, "-c", "from kagglekit.cli import main; main()", "report", "tiny"]
    env = {**os.environ, "PYTHONHASHSEED": "1"}
    subprocess.run(command, check=True, capture_output=True, env=env)
    files = [root / "README.md", *sorted((root / "reports").glob("*.png"))]
    for path in files:
        os.utime(path, (1_000_000_000, 1_000_000_000))
    before = {p: p.read_bytes() for p in files}
    env["PYTHONHASHSEED"] = "2"
    subprocess.run(command, check=True, capture_output=True, env=env)
    assert {p: p.read_bytes() for p in files} == before
    assert all(p.stat().st_mtime == 1_000_000_000 for p in files)


def test_the_confusion_matrix_names_classes_as_the_mistakes_grid_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 33: the loader's label names (Fashion-MNIST's "Trouser"), not class indices."""
    from kagglekit.reports import plots

    figures: list = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig) or path)
    run = Run(tmp_path, {"run_id": "r", "model": "m", "classes": [0, 1, 2]})
    y = np.array([0, 1, 2, 2])
    oof = np.eye(3)[[0, 1, 1, 2]]
    names = ["shirt", "trouser", "bag"]
    plots.plot_confusion_matrix(run, y, oof, tmp_path / "cm.png", label_names=names)
    images = np.zeros((4, 1, 8, 8), dtype=np.uint8)
    plots.plot_misclassified(run, images, y, oof, tmp_path / "mis.png", label_names=names)
    matrix, grid = figures
    ax = matrix.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert "bag\n-> trouser" in grid.axes[0].get_title()


def _without_line(needle: str, text: str) -> str:
    """``text`` less its lines naming ``needle``, the caption line before each, and blank lines."""
    lines = text.splitlines()
    drop = {i for i, line in enumerate(lines) if needle in line}
    drop |= {i - 2 for i in drop if i >= 2 and lines[i - 2].startswith("**")}
    return "\n".join(line for i, line in enumerate(lines) if i not in drop and line.strip())


def test_a_tables_class_names_label_its_plots(
    projects_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 32: a binary table's classes named in the config (Titanic's died/survived)
    reach the confusion matrix (and the ROC legend, drawn from the same names)."""
    from kagglekit.reports import plots
    from kagglekit.reports.readme import write_project_report

    project = _project_with_runs(projects_dir, "named", "binary")
    config = project / "config.toml"
    config.write_text(
        config.read_text().replace("[cv]", 'class_names = ["stayed", "left"]\n\n[cv]', 1)
    )
    seen: list[Any] = []
    real = plots.plot_confusion_matrix

    def spy(*args: Any, **kwargs: Any) -> Path:
        seen.append(kwargs.get("label_names"))
        return real(*args, **kwargs)

    monkeypatch.setattr(plots, "plot_confusion_matrix", spy)
    write_project_report(open_project("named", projects_dir))
    assert seen == [["stayed", "left"]]
