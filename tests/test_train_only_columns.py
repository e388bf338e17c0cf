"""Issue 33: columns only train has (Bike Sharing's casual and registered, parts of the
target) stopped ``kk train`` before ``features.drop`` could remove them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kagglekit import atomic, records
from kagglekit.testing import make_tiny_project, run_kk_inprocess


def _with_train_only_columns(mirror: Path) -> None:
    """Add two columns to train.csv only, as Bike Sharing's casual and registered."""
    train = pd.read_csv(mirror / "train.csv")
    train["casual"] = train["target"] * 3
    train["registered"] = train["target"] + 1
    atomic.write_bytes(mirror / "train.csv", train.to_csv(index=False).encode())


def test_train_only_columns_in_features_drop_train(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = make_tiny_project(projects_dir, "bikes", task="regression")
    _with_train_only_columns(paths["mirror"])
    config = paths["project"] / "config.toml"
    text = config.read_text()
    atomic.write_text(config, text + '\n[features]\ndrop = ["casual", "registered"]\n')
    kk = lambda *args: run_kk_inprocess(capsys, monkeypatch, *args)  # noqa: E731
    assert kk("fetch", "bikes", "--from", str(paths["mirror"]))[0] == 0
    assert kk("folds", "bikes")[0] == 0
    code, _, err = kk("train", "bikes", "--model", "linear")
    assert code == 0, err
    (run,) = records.list_runs(paths["project"] / "runs")
    assert run.status == "COMPLETE"


def test_train_only_columns_not_dropped_name_features_drop(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = make_tiny_project(projects_dir, "bikes", task="regression")
    _with_train_only_columns(paths["mirror"])
    kk = lambda *args: run_kk_inprocess(capsys, monkeypatch, *args)  # noqa: E731
    assert kk("fetch", "bikes", "--from", str(paths["mirror"]))[0] == 0
    code, _, err = kk("folds", "bikes")
    assert code != 0
    assert "['casual', 'registered'] in train but not in test" in err
    assert "add them to features.drop" in err
