"""Mistakes in the user's data and code read as one line naming them (issue 15, item 3)."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from kagglekit import features as feat
from kagglekit.testing import make_tiny_project, run_kk_inprocess


def _fetched(
    projects_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    edit_test: bool = False,
    features: str | None = None,
) -> Path:
    """A tiny project whose mirror's test file has text in the numeric column ``x2``."""
    paths = make_tiny_project(projects_dir, "tiny")
    if edit_test:
        test_csv = paths["mirror"] / "test.csv"
        test = pd.read_csv(test_csv)
        test["x2"] = test["x2"].astype(object)
        test.loc[3, "x2"] = "unknown"
        test.to_csv(test_csv, index=False)
    if features is not None:
        (paths["project"] / "features.py").write_text(features)
        config = paths["project"] / "config.toml"
        config.write_text(config.read_text() + '\n[features]\nfunction = "build_features"\n')
    assert (
        run_kk_inprocess(capsys, monkeypatch, "fetch", "tiny", "--from", str(paths["mirror"]))[0]
        == 0
    )
    assert run_kk_inprocess(capsys, monkeypatch, "folds", "tiny")[0] == 0
    return paths["project"]


def _one_line(result: tuple[int, str, str]) -> str:
    code, _, err = result
    assert code == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_numeric_in_train_text_in_test_is_one_line(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fetched(projects_dir, capsys, monkeypatch, edit_test=True)
    line = _one_line(run_kk_inprocess(capsys, monkeypatch, "train", "tiny", "--model", "lightgbm"))
    assert "column 'x2' is numeric in train but text in test" in line
    assert "'unknown'" in line and "features.drop" in line


def test_text_in_train_numeric_in_test_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    train = pd.DataFrame({"a": ["1", "2", "x"], "b": [1.0, 2.0, 3.0]})
    test = pd.DataFrame({"a": [1, 2, 3], "b": [1.0, None, 2.0]})
    with caplog.at_level(logging.WARNING, logger="kagglekit.features"):
        feat.check_same_columns(train, test, where="here")
    [record] = caplog.records
    assert "column 'a' is text in train" in record.getMessage()
    assert "treated as a category" in record.getMessage()


def test_an_all_missing_test_column_is_not_a_disagreement(caplog: pytest.LogCaptureFixture) -> None:
    train = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    test = pd.DataFrame({"a": [None, None], "b": [None, None]}).astype({"a": object})
    with caplog.at_level(logging.WARNING, logger="kagglekit.features"):
        feat.check_same_columns(train, test, where="here")
    assert caplog.records == []


def test_the_kinds_wait_for_features_drop(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A text column the user drops is not an error."""
    project = _fetched(projects_dir, capsys, monkeypatch, edit_test=True)
    config = project / "config.toml"
    config.write_text(config.read_text() + '\n[features]\ndrop = ["x2"]\n')
    code, _, err = run_kk_inprocess(capsys, monkeypatch, "train", "tiny", "--model", "lightgbm")
    assert code == 0, err


BROKEN_FEATURES = """
import pandas as pd


def _ratio(frame):
    return frame["x1"] / frame["no_such_column"]


def build_features(train, test):
    train["ratio"] = _ratio(train)
    test["ratio"] = _ratio(test)
    return train, test
"""


def test_an_error_in_the_users_features_names_their_lines(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fetched(projects_dir, capsys, monkeypatch, features=BROKEN_FEATURES)
    line = _one_line(run_kk_inprocess(capsys, monkeypatch, "train", "tiny", "--model", "lightgbm"))
    assert "KeyError: 'no_such_column'" in line
    assert "features.py:10 (build_features) -> " in line and "features.py:6 (_ratio)" in line
    assert 'frame["no_such_column"]' in line and "kk --debug" in line


def test_an_error_while_importing_features_names_the_line(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fetched(projects_dir, capsys, monkeypatch, features="import pandas\nX = 1 / 0\n")
    line = _one_line(run_kk_inprocess(capsys, monkeypatch, "train", "tiny", "--model", "lightgbm"))
    assert "importing features.py: ZeroDivisionError" in line and "features.py:2 (<module>)" in line


FAILING_STEP = """
from sklearn.base import BaseEstimator, TransformerMixin


class Boom(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        raise LookupError("no such group")

    def transform(self, X):
        return X

    def get_feature_names_out(self, input_features=None):
        return input_features


FOLD_STEPS = {"boom": Boom}


def build_features(train, test):
    return train, test
"""


def test_an_error_in_a_users_fold_step_names_their_line(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _fetched(projects_dir, capsys, monkeypatch, features=FAILING_STEP)
    config = project / "config.toml"
    config.write_text(config.read_text() + 'steps = [{ kind = "boom" }]\n')
    line = _one_line(run_kk_inprocess(capsys, monkeypatch, "train", "tiny", "--model", "lightgbm"))
    assert "LookupError: no such group" in line and "features.py:7 (fit)" in line


def test_debug_keeps_the_traceback(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _fetched(projects_dir, capsys, monkeypatch, features=BROKEN_FEATURES)
    with pytest.raises(feat.KKError, match="no_such_column"):
        run_kk_inprocess(capsys, monkeypatch, "--debug", "train", "tiny", "--model", "lightgbm")


def test_kk_version(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from kagglekit import __version__

    code, out, err = run_kk_inprocess(capsys, monkeypatch, "--version")
    assert (code, out.strip(), err) == (0, f"kk (kagglekit) {__version__}", "")


@pytest.mark.parametrize(
    ("setting", "needles"),
    [
        ("early_stopping_holdout=0.1", ["early_stopping_holdout = 0.1", "nothing to hold"]),
        ("early_stopping_rounds=50", ["early_stopping_rounds = 50", "cannot stop early"]),
    ],
)
def test_early_stopping_settings_a_backend_cannot_use_are_refused(
    setting: str,
    needles: list[str],
    projects_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A linear model chooses no rounds or epochs: a setting it would silently ignore is
    one line before any fold, naming the setting and the fix."""
    _fetched(projects_dir, capsys, monkeypatch)
    args = ["train", "tiny", "--model", "linear", "--set", f"models.linear.{setting}"]
    line = _one_line(run_kk_inprocess(capsys, monkeypatch, *args))
    assert all(n in line for n in needles) and "remove it" in line
    assert not (projects_dir / "tiny" / "runs").exists() or not any(
        (projects_dir / "tiny" / "runs").iterdir()
    )
