"""PCA and k-Means for a learner: the fold steps' ``replace`` option (a model on the
components alone) and the report's view of a table's rows (``reports.embedding_view``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from kagglekit.cli.app import app
from kagglekit.features.encoders import ClusterFeatures, PCAFeatures
from kagglekit.project import open_project
from kagglekit.reports.embedding_view import _axis_label, plot_embedding_view, write_embedding_view
from kagglekit.testing import make_tiny_project


def _frame(n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "c": rng.normal(size=n)})


@pytest.mark.parametrize(("step", "prefix"), [(PCAFeatures(n_components=2), "pca"),
                                              (ClusterFeatures(n_clusters=3), "kmeans_dist")])  # fmt: skip
def test_replace_keeps_only_the_new_columns(
    step: PCAFeatures | ClusterFeatures, prefix: str
) -> None:
    X = _frame()
    appended = step.fit(X).transform(X)
    alone = step.set_params(replace=True).fit(X).transform(X)
    new = [c for c in appended.columns if c.startswith(prefix)]
    assert list(appended.columns[:3]) == ["a", "b", "c"] and len(new) in (2, 3)
    assert list(alone.columns) == new
    assert list(step.get_feature_names_out()) == new
    pd.testing.assert_frame_equal(alone, appended[new])


def test_the_axis_label_names_the_components_largest_weights_with_their_signs() -> None:
    label = _axis_label(1, 0.234, np.array([0.1, -0.8, 0.5, 0.05]), ["w", "x", "y", "z"])
    assert label == "PC1 (23% of the variance)\n-x, +y, +w"


def test_the_view_draws_rows_coloured_by_class(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(1)
    y = np.arange(80) % 2
    features = pd.DataFrame(rng.normal(size=(80, 4)) + 3.0 * y[:, None], columns=list("abcd"))
    path = plot_embedding_view(features, y, ["died", "survived"], tmp_path / "v.png", n_clusters=3)
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    # Both class colours are drawn (red for the first class, blue for the second).
    for colour in ((0xC4, 0x4E, 0x52), (0x4C, 0x72, 0xB0)):
        assert (np.abs(pixels.astype(int) - colour).sum(axis=1) < 30).sum() > 200


def test_write_embedding_view_for_a_table_once_and_not_for_regression(projects_dir: Path) -> None:
    runner = CliRunner()
    for name, task in (("tiny", "binary"), ("values", "regression")):
        paths = make_tiny_project(projects_dir, name, task=task)
        for args in (["fetch", name, "--from", str(paths["mirror"])], ["folds", name]):
            result = runner.invoke(app, args)
            assert result.exit_code == 0, result.output
    out = projects_dir / "tiny" / "reports"
    plots = write_embedding_view(open_project("tiny"), out)
    assert [p.path.name for p in plots] == ["pca_kmeans.png"]
    first = plots[0].path.read_bytes()
    write_embedding_view(open_project("tiny"), out)
    assert plots[0].path.read_bytes() == first  # kk report twice: the same file
    assert write_embedding_view(open_project("values"), projects_dir / "values" / "reports") == []


def test_kk_report_draws_the_view_and_keeps_it(projects_dir: Path) -> None:
    # write_plots removes PNGs it did not draw; the view comes in as an extra plot it keeps.
    paths = make_tiny_project(projects_dir, "tiny")
    (paths["project"] / "README.md").write_text(
        "# tiny\n\n<!-- kk:results:start -->\n<!-- kk:results:end -->\n"
    )
    runner = CliRunner()
    for args in (
        ["fetch", "tiny", "--from", str(paths["mirror"])],
        ["folds", "tiny"],
        ["train", "tiny", "--model", "linear"],
        ["report", "tiny"],
        ["report", "tiny"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    assert (paths["project"] / "reports" / "pca_kmeans.png").is_file()
    assert "reports/pca_kmeans.png" in (paths["project"] / "README.md").read_text()
