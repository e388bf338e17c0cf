"""Titanic: features on hand-made rows, the group survival fold step, and end to end."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from kagglekit.config import load_config
from kagglekit.errors import KKError
from kagglekit.features import build_feature_pipeline, load_project_module
from kagglekit.testing import mirror_dir

PROJECT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def titanic() -> ModuleType:
    module = load_project_module(PROJECT / "features.py")
    assert module is not None
    return module


def _raw(rows: list[tuple]) -> pd.DataFrame:
    cols = ["PassengerId", "Pclass", "Name", "Sex", "Age", "SibSp", "Parch", "Ticket", "Fare"]
    cols += ["Cabin", "Embarked"]
    return pd.DataFrame(rows, columns=cols)


NAN = np.nan
TRAIN = _raw(
    [
        (1, 3, "Smith, Mr. John", "male", 40.0, 1, 1, "A/5 100", 21.0, NAN, "S"),
        (2, 3, "Smith, Mrs. Jane (Jane Doe)", "female", NAN, 1, 1, "A/5 100", 21.0, NAN, "S"),
        (3, 1, "Brown, Mlle. Anna", "female", 24.0, 0, 0, "PC 500", 80.0, "B22", NAN),
        (4, 1, "Green, Dr. Paul", "male", 50.0, 0, 0, "PC 501", 30.0, "T", "C"),
    ]
)
TEST = _raw(
    [
        (5, 3, "Smith, Master. Tom", "male", NAN, 1, 1, "A/5 100", 21.0, NAN, "S"),
        (6, 2, "Black, the Countess. of Rothes", "female", NAN, 0, 0, "111", NAN, "E10", "Q"),
        (7, 3, "White, Mrs. Amy", "female", 30.0, 0, 0, "222", 7.0, NAN, "S"),
    ]
)


def test_build_features_values(titanic: ModuleType) -> None:
    train, test = titanic.build_features(TRAIN.copy(), TEST.copy())
    assert list(train.columns) == list(test.columns)
    assert len(train) == 4 and len(test) == 3
    assert train["title"].astype(str).tolist() == ["Mr", "Mrs", "Miss", "Rare"]
    assert test["title"].astype(str).tolist() == ["Master", "Rare", "Mrs"]
    assert train["family_size"].tolist() == [3, 3, 1, 1]
    assert train["is_alone"].tolist() == [0, 0, 1, 1]
    # Cabin letter, unknown and the lone "T" cabin both become "U".
    assert train["deck"].astype(str).tolist() == ["U", "U", "B", "U"]
    # The Smiths share one ticket across train and test: a group of 3 paying 21 in all.
    assert train["ticket_group_size"].tolist() == [3, 3, 1, 1]
    assert test["ticket_group_size"].tolist() == [3, 1, 1]
    assert train["fare_per_person"].iloc[0] == pytest.approx(7.0)
    # Missing fare: the median fare of its class over train+test (class 2 has none -> NaN
    # median; this row is the only one), so it stays missing rather than invented.
    assert np.isnan(test["fare_per_person"].iloc[1])
    assert train["embarked"].astype(str).iloc[2] == "S"  # the mode fills the missing port


def test_build_features_age_by_title(titanic: ModuleType) -> None:
    train, test = titanic.build_features(TRAIN.copy(), TEST.copy())
    # Mrs: ages 30 (test) is the only known one, so Mrs Smith gets 30; Master has none.
    assert train["age"].iloc[1] == pytest.approx(30.0)
    assert train["age_missing"].tolist() == [0, 1, 0, 0]
    assert np.isnan(test["age"].iloc[0])
    # Rare: Dr Green 50 is the only known Rare age, so the Countess gets 50.
    assert test["age"].iloc[1] == pytest.approx(50.0)


def test_build_features_group_keys_and_flags(titanic: ModuleType) -> None:
    train, test = titanic.build_features(TRAIN.copy(), TEST.copy())
    assert train["family_group"].iloc[0] == train["family_group"].iloc[1]
    assert test["family_group"].iloc[0] == train["family_group"].iloc[0]
    assert train["family_group"].iloc[2] != train["family_group"].iloc[3]
    assert train["woman_or_child"].tolist() == [0, 1, 1, 0]
    assert test["woman_or_child"].tolist() == [1, 1, 1]


def test_build_features_keeps_the_frames_index(titanic: ModuleType) -> None:
    train_in = TRAIN.set_index(pd.Index([10, 11, 12, 13]))
    train, test = titanic.build_features(train_in, TEST.copy())
    assert list(train.index) == [10, 11, 12, 13]
    assert list(test.index) == [0, 1, 2]


def test_woman_child_group_as_a_fold_step(titanic: ModuleType) -> None:
    train, test = titanic.build_features(TRAIN.copy(), TEST.copy())
    X, X_test = train.drop(columns="PassengerId"), test.drop(columns="PassengerId")
    cfg = load_config(PROJECT / "config.toml")
    assert [s.kind for s in cfg.features.steps] == ["woman_child_group"]
    pipe = build_feature_pipeline(
        cfg.features, family="gbdt", task="binary", seed=0, project_steps=titanic.FOLD_STEPS
    )
    # Mrs Smith died: her husband's known woman-or-child relative died.
    out = pipe.fit_transform(X, np.array([0, 0, 1, 0]))
    assert "family_group_survival" in out.columns and "family_group" not in out.columns
    assert out["family_group_survival"].iloc[0] == 0.0
    # Mrs Smith leaves her own label out: no other known member, the gender rule stands.
    assert out["wcg_rule"].tolist() == [0, 1, 1, 0]
    assert out["wcg_decided"].tolist() == [0, 0, 0, 0]
    # Test: Master Smith's known group (Mrs Smith) all died -> he dies as the gender rule
    # says; the Countess and Mrs White have no known group -> the gender rule.
    out_test = pipe.transform(X_test)
    assert out_test["group_survival"].tolist() == [0.0, 0.5, 0.5]
    assert out_test["wcg_rule"].tolist() == [0, 1, 1]
    # Had Mrs Smith survived, the boy would live: the rule overrides the gender rule.
    pipe.fit_transform(X, np.array([0, 1, 1, 0]))
    out_test = pipe.transform(X_test)
    assert out_test["wcg_rule"].tolist() == [1, 1, 1]
    assert out_test["wcg_decided"].tolist() == [1, 0, 0]


def test_woman_child_group_kills_a_woman_whose_group_died(titanic: ModuleType) -> None:
    train, test = titanic.build_features(TRAIN.copy(), TEST.copy())
    step = titanic.WomanChildGroup()
    X = train.drop(columns="PassengerId")
    with pytest.raises(KKError, match="before fit"):
        step.transform(X)
    step.fit(X, np.array([0, 0, 1, 0]))
    # The test boy is the only other WC member of the Smiths: move him to "train" as dead.
    both = pd.concat([X, test.drop(columns="PassengerId").iloc[[0]]], ignore_index=True)
    out = titanic.WomanChildGroup().fit_transform(both, np.array([0, 1, 1, 0, 0]))
    assert out["wcg_rule"].iloc[1] == 0 and out["wcg_decided"].iloc[1] == 1


def test_keep_columns(titanic: ModuleType) -> None:
    frame = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
    assert list(titanic.KeepColumns(columns=["b"]).fit_transform(frame).columns) == ["b"]
    with pytest.raises(KKError, match="not features"):
        titanic.KeepColumns(columns=["c"]).fit(frame)


@pytest.mark.realdata
def test_titanic_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from kagglekit import data, folds, training
    from kagglekit.cli import app
    from kagglekit.project import open_project

    mirror = mirror_dir("titanic")
    root = tmp_path / "projects"
    (root / "titanic").mkdir(parents=True)
    for name in ("config.toml", "features.py"):
        shutil.copy(PROJECT / name, root / "titanic" / name)
    monkeypatch.setenv("KK_PROJECTS_DIR", str(root))
    project = open_project("titanic", root)
    cfg = project.config()
    data.fetch(project, cfg, from_dir=mirror)
    folds.assign_project_folds(project, cfg)
    result = training.train(project, cfg)

    assert result.run.status == "COMPLETE"
    assert result.run.record["model"] == cfg.default_model
    assert len(result.cv.folds) == 5
    # The default (the woman-child-group rule) must add to the gender rule on the same folds.
    prepared = training.prepare(project, cfg)
    female = (prepared.dataset.side["Sex"] == "female").to_numpy()
    gender = np.mean(
        [np.mean(female[s.valid_idx] == prepared.y[s.valid_idx]) for s in prepared.folds.splits()]
    )
    assert result.cv.mean > gender + 0.003, (result.cv.mean, gender)
    sub = pd.read_csv(result.submission_path)
    assert len(sub) == 418 and list(sub.columns) == ["PassengerId", "Survived"]
    assert set(sub["Survived"].unique()) <= {0, 1}

    cli = CliRunner().invoke(app, ["submit", "titanic", "--run", result.run.run_id, "--dry-run"])
    assert cli.exit_code == 0, cli.output
    assert "valid" in cli.output and "418 rows" in cli.output
