"""Titanic: features on hand-made rows, the leave-one-out group survival, and end to end."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from kagglekit.config import FeaturesConfig, StepConfig
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


def _groups() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "g": ["a", "a", "a", "b", "c"],
            "wc": [1, 1, 0, 1, 1],
            "x": [0.1, 0.2, 0.3, 0.4, 0.5],
        }
    )


def test_group_survival_leaves_own_label_out(titanic: ModuleType) -> None:
    y = np.array([1, 0, 1, 1, 0])
    out = titanic.GroupSurvival(keys=["g"]).fit_transform(_groups(), y)
    # Group a has labels 1, 0, 1: each row sees only the other two.
    assert out["g_survival"].tolist()[:3] == pytest.approx([0.5, 1.0, 0.5])
    assert out["g_known"].tolist()[:3] == [2.0, 2.0, 2.0]
    # Singletons b and c have no other member: neutral, even though their own label is known.
    assert out["g_survival"].tolist()[3:] == [0.5, 0.5]
    assert out["g_known"].tolist()[3:] == [0.0, 0.0]
    assert "g" not in out.columns and out["x"].tolist() == _groups()["x"].tolist()


def test_group_survival_own_label_does_not_move_own_value(titanic: ModuleType) -> None:
    X = _groups()
    step = titanic.GroupSurvival(keys=["g"])
    y = np.array([1, 0, 1, 1, 0])
    flipped = y.copy()
    flipped[0] = 0
    first = step.fit_transform(X, y)["g_survival"].iloc[0]
    again = titanic.GroupSurvival(keys=["g"]).fit_transform(X, flipped)["g_survival"].iloc[0]
    assert first == again


def test_group_survival_new_rows_use_all_known_members(titanic: ModuleType) -> None:
    step = titanic.GroupSurvival(keys=["g"], neutral=0.4).fit(_groups(), [1, 0, 1, 1, 0])
    new = pd.DataFrame({"g": ["a", "zzz", None], "wc": [0, 1, 1], "x": [0.0, 0.0, 0.0]})
    out = step.transform(new)
    assert out["g_survival"].tolist() == pytest.approx([2 / 3, 0.4, 0.4])
    assert out["g_known"].tolist() == [3.0, 0.0, 0.0]


def test_group_survival_member_column(titanic: ModuleType) -> None:
    y = np.array([1, 0, 1, 1, 0])
    out = titanic.GroupSurvival(keys=["g"], member_column="wc").fit_transform(_groups(), y)
    # Row 2 is not a member (wc=0): it sees members 0 and 1 (1, 0), and its own label
    # (1) never counts; members 0 and 1 see only each other.
    assert out["g_survival"].tolist()[:3] == pytest.approx([0.0, 1.0, 0.5])
    assert out["g_known"].tolist()[:3] == [1.0, 1.0, 2.0]


def test_group_survival_errors(titanic: ModuleType) -> None:
    with pytest.raises(NotFittedError):
        titanic.GroupSurvival(keys=["g"]).transform(_groups())
    with pytest.raises(KKError, match="missing_key"):
        titanic.GroupSurvival(keys=["missing_key"]).fit(_groups(), [1, 0, 1, 1, 0])
    with pytest.raises(KKError, match="target"):
        titanic.GroupSurvival(keys=["g"]).fit(_groups())


def test_group_survival_as_a_fold_step(titanic: ModuleType) -> None:
    train, test = titanic.build_features(TRAIN.copy(), TEST.copy())
    X, X_test = train.drop(columns="PassengerId"), test.drop(columns="PassengerId")
    step = StepConfig(kind="group_survival", params={"member_column": "woman_or_child"})
    cfg_features = FeaturesConfig(function="build_features", steps=[step])
    pipe = build_feature_pipeline(
        cfg_features, family="gbdt", task="binary", seed=0, project_steps=titanic.FOLD_STEPS
    )
    out = pipe.fit_transform(X, np.array([0, 1, 1, 0]))
    assert "family_group_survival" in out.columns and "ticket_group_survival" in out.columns
    assert "family_group" not in out.columns and "ticket_group" not in out.columns
    # Mr Smith's only known woman-or-child relative (Mrs Smith) survived.
    assert out["family_group_survival"].iloc[0] == 1.0
    # Master Smith (test) sees Mrs Smith the same way; Mrs White is in no known group.
    out_test = pipe.transform(X_test)
    assert out_test["family_group_survival"].tolist() == [1.0, 0.5, 0.5]


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
    assert result.cv.mean > 0.80  # the gender rule alone gets about 0.787
    sub = pd.read_csv(result.submission_path)
    assert len(sub) == 418 and list(sub.columns) == ["PassengerId", "Survived"]
    assert set(sub["Survived"].unique()) <= {0, 1}

    cli = CliRunner().invoke(app, ["submit", "titanic", "--run", result.run.run_id, "--dry-run"])
    assert cli.exit_code == 0, cli.output
    assert "valid" in cli.output and "418 rows" in cli.output
