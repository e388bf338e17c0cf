"""Competition files: fetched once with checksums, immutable, loaded and checked."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pandas as pd
import pytest

from kagglekit import data
from kagglekit.config import CompetitionConfig
from kagglekit.errors import KKError
from kagglekit.project import open_project
from kagglekit.testing import make_tiny_frame, make_tiny_project


def _comp(**kw: object) -> CompetitionConfig:
    base: dict[str, object] = {
        "name": "c",
        "id_column": "id",
        "target_column": "target",
        "task": "binary",
        "metric": "accuracy",
    }
    return CompetitionConfig(**{**base, **kw})  # type: ignore[arg-type]


def test_fetch_records_checksums_and_makes_raw_read_only(projects_dir: Path) -> None:
    paths = make_tiny_project(projects_dir, "tiny")
    project = open_project("tiny")
    manifest = data.fetch(project, project.config(), from_dir=paths["mirror"])
    assert set(manifest) == {"train.csv", "test.csv", "sample_submission.csv", "solution.csv"}
    for name, digest in manifest.items():
        raw_file = project.raw_dir / name
        assert raw_file.read_bytes() == (paths["mirror"] / name).read_bytes()
        assert not raw_file.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        assert len(digest) == 64
    assert data.verify_raw(project) == manifest
    # Fetching the same files again is a no-op; the staging folder is gone.
    assert data.fetch(project, project.config(), from_dir=paths["mirror"]) == manifest
    assert sorted(p.name for p in project.raw_dir.parent.iterdir()) == ["raw"]


def test_kk_data_mirror_env_and_source_precedence(
    projects_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("KK_DATA_MIRROR", raising=False)  # CI sets it for real-data tests
    comp = _comp(source={"kind": "mirror", "mirror_folder": "tiny"})
    with pytest.raises(KKError, match=r"pass --from DIR or set KK_DATA_MIRROR"):
        data.resolve_source(comp, None)
    monkeypatch.setenv("KK_DATA_MIRROR", str(tmp_path / "mirror"))
    assert data.resolve_source(comp, None) == data.MirrorSource(tmp_path / "mirror" / "tiny")
    assert data.resolve_source(comp, tmp_path / "x") == data.MirrorSource(tmp_path / "x")
    paths = make_tiny_project(projects_dir, "tiny")
    project = open_project("tiny")
    monkeypatch.setenv("KK_DATA_MIRROR", str(paths["mirror"].parent))
    assert "train.csv" in data.fetch(project, project.config())


def test_missing_mirror_or_files(projects_dir: Path, tmp_path: Path) -> None:
    make_tiny_project(projects_dir, "tiny")
    project = open_project("tiny")
    with pytest.raises(KKError, match=r"mirror folder .*nowhere does not exist"):
        data.fetch(project, project.config(), from_dir=tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(KKError, match=r"has no files"):
        data.fetch(project, project.config(), from_dir=tmp_path / "empty")
    assert not project.raw_dir.exists()


def test_check_frames_aligns_reordered_test_columns(caplog: pytest.LogCaptureFixture) -> None:
    train = make_tiny_frame(30)
    test = make_tiny_frame(10, seed=1).drop(columns="target")
    reordered = test[list(test.columns[::-1])]
    with caplog.at_level(logging.WARNING):
        aligned = data.check_frames(train, reordered, _comp())
    assert list(aligned.columns) == list(test.columns)
    assert "different order" in caplog.text


@pytest.mark.parametrize(
    ("train_change", "test_change", "comp", "needle"),
    [
        ({}, {}, {"target_column": "label"}, "target column 'label' is not in train"),
        ({}, {"target": 1}, {}, "target column 'target' is present in test"),
        ({}, {}, {"id_column": "Id"}, "id column 'Id' is not in train"),
        ({"target": [None] + [1] * 29}, {}, {}, "target column 'target' has 1 missing value(s)"),
        ({"target": [0.5] * 30}, {}, {}, "fractional values but task is 'binary'"),
    ],
)
def test_check_frames_errors(
    train_change: dict, test_change: dict, comp: dict, needle: str
) -> None:
    train = make_tiny_frame(30).assign(**train_change)
    test = make_tiny_frame(10, seed=1).drop(columns="target").assign(**test_change)
    with pytest.raises(KKError) as err:
        data.check_frames(train, test, _comp(**comp))
    assert needle in str(err.value)


def test_make_competition(tmp_path: Path) -> None:
    csv = tmp_path / "d.csv"
    frame = make_tiny_frame(100, task="multiclass").drop(columns="id")
    frame.to_csv(csv, index=False)
    info = data.make_competition(
        csv,
        target="target",
        out=tmp_path / "c",
        test_size=0.3,
        seed=1,
        submission_format="probabilities",
    )
    assert info["task"] == "multiclass" and info["n_train"] == 70 and info["n_test"] == 30
    out = tmp_path / "c"
    train, test = pd.read_csv(out / "train.csv"), pd.read_csv(out / "test.csv")
    sample, solution = pd.read_csv(out / "sample_submission.csv"), pd.read_csv(out / "solution.csv")
    assert "target" not in test.columns and set(train["id"]).isdisjoint(test["id"])
    assert (
        list(sample.columns) == ["id", "0", "1", "2"]
        and sample["id"].tolist() == test["id"].tolist()
    )
    assert set(solution["Usage"]) == {"Public", "Private"}
    # stratified: class shares of test within a few rows of train's
    assert (
        train["target"].value_counts(normalize=True)
        - solution["target"].value_counts(normalize=True)
    ).abs().max() < 0.1
    with pytest.raises(KKError, match=r"--out .* is not empty"):
        data.make_competition(csv, target="target", out=out)
    with pytest.raises(KKError, match=r"--target 'nope' is not a column"):
        data.make_competition(csv, target="nope", out=tmp_path / "d")
    with pytest.raises(KKError, match=r"--test-size 1.5"):
        data.make_competition(csv, target="target", out=tmp_path / "d", test_size=1.5)
    with pytest.raises(KKError, match=r"--id 'x9' is not a column"):
        data.make_competition(csv, target="target", out=tmp_path / "d", id_column="x9")
    with pytest.raises(KKError, match=r"--format 'probs' is not known"):
        data.make_competition(csv, target="target", out=tmp_path / "d", submission_format="probs")
    lonely = tmp_path / "lonely.csv"
    pd.DataFrame({"x": range(6), "y": ["a", "a", "b", "a", "a", "c"]}).to_csv(lonely, index=False)
    with pytest.raises(
        KKError, match=r"--target 'y' has class\(es\) with a single row \('b', 'c'\)"
    ):
        data.make_competition(lonely, target="y", out=tmp_path / "e")


@pytest.mark.parametrize(
    ("values", "task"),
    [
        ([0, 1, 1, 0], "binary"),
        (["a", "b", "c"], "multiclass"),
        ([0.5, 1.2, 3.3], "regression"),
        ([True, False], "binary"),
    ],
)
def test_infer_task(values: list[object], task: str) -> None:
    assert data.infer_task(pd.Series(values)) == task


@pytest.mark.parametrize("text", ["", "a,b\n1,2\n1,2,3,4\n"])
def test_read_table_unreadable_csv_is_one_line(tmp_path: Path, text: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(KKError, match=r"bad.csv is not a readable CSV"):
        data.read_table(path)
