"""Tests of this project's own features (yours to extend)."""

from __future__ import annotations

from pathlib import Path

from kagglekit.config import load_config
from kagglekit.features import apply_feature_function, load_project_module
from kagglekit.testing import make_mixed_frame

PROJECT = Path(__file__).resolve().parents[1]


def test_build_features_keeps_rows_and_aligns_columns() -> None:
    cfg = load_config(PROJECT / "config.toml").competition
    frame = make_mixed_frame(
        60, task=cfg.task, id_column=cfg.id_column, target_column=cfg.target_column
    )
    train = frame.iloc[:40].drop(columns=[cfg.target_column])
    test = frame.iloc[40:].drop(columns=[cfg.target_column])
    module = load_project_module(PROJECT / "features.py")
    new_train, new_test = apply_feature_function(module.build_features, train, test)
    assert len(new_train) == len(train) and len(new_test) == len(test)
    assert list(new_train.columns) == list(new_test.columns)
