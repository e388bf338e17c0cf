"""Adversarial validation: chance on a random split, high on a shifted one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from kagglekit.adversarial import adversarial_validation, drift_statistic
from kagglekit.errors import KKError
from kagglekit.testing import make_tiny_frame, make_tiny_project


def _split(seed: int, n_rows: int = 400) -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = make_tiny_frame(n_rows, seed=seed).drop(columns=["id", "target"])
    is_test = np.random.default_rng(seed).random(n_rows) < 0.25
    return frame[~is_test].reset_index(drop=True), frame[is_test].reset_index(drop=True)


def test_random_split_reads_near_chance() -> None:
    train, test = _split(0)
    result = adversarial_validation(train, test, n_jobs=1)
    assert abs(result.auc - 0.5) < 0.12
    assert set(result.table["feature"]) == {"x1", "x2", "colour"}


def test_shifted_feature_is_found() -> None:
    train, test = _split(1)
    test = test.assign(x1=test["x1"] + 2.0)
    result = adversarial_validation(train, test, n_jobs=1)
    assert result.auc > 0.85
    top = result.table.iloc[0]
    assert top["feature"] == "x1" and top["share"] > 0.5 and top["statistic"] > 0.5


def test_drift_statistic_for_categories() -> None:
    same, _ = drift_statistic(pd.Series(["a", "b"] * 10), pd.Series(["b", "a"] * 5))
    apart, kind = drift_statistic(pd.Series(["a"] * 10), pd.Series(["b"] * 10))
    assert kind == "tv" and same == pytest.approx(0.0) and apart == pytest.approx(1.0)


def test_kk_adversarial_on_a_project(projects_dir: Path) -> None:
    from kagglekit.cli import app

    paths = make_tiny_project(projects_dir, "adv", n_rows=300)
    runner = CliRunner()
    assert runner.invoke(app, ["fetch", "adv", "--from", str(paths["mirror"])]).exit_code == 0
    assert runner.invoke(app, ["folds", "adv"]).exit_code == 0
    out = runner.invoke(app, ["adversarial", "adv", "--n-jobs", "1", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert 0.0 <= summary["auc"] <= 1.0
    # The id column is dropped, as in training: an id would tell train from test trivially.
    assert {f["feature"] for f in summary["features"]} == {"x1", "x2", "colour"}


def test_different_columns_are_named() -> None:
    X = make_tiny_frame(60, seed=0).drop(columns=["id", "target"])
    with pytest.raises(KKError, match=r"only in train: \['x2'\], only in test: none"):
        adversarial_validation(X, X.drop(columns=["x2"]), n_splits=3)


def test_kk_adversarial_looks_at_the_columns_the_model_sees(projects_dir: Path) -> None:
    """After the fold steps: a group_target_rate step replaces colour by its rate columns."""
    from kagglekit.cli import app

    paths = make_tiny_project(projects_dir, "adv", n_rows=300)
    config = paths["project"] / "config.toml"
    config.write_text(
        config.read_text()
        + '\n[features]\nsteps = [{ kind = "group_target_rate", params = { keys = ["colour"] } }]\n'
    )
    runner = CliRunner()
    assert runner.invoke(app, ["fetch", "adv", "--from", str(paths["mirror"])]).exit_code == 0
    assert runner.invoke(app, ["folds", "adv"]).exit_code == 0
    out = runner.invoke(app, ["adversarial", "adv", "--n-jobs", "1", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert {f["feature"] for f in summary["features"]} == {
        "x1",
        "x2",
        "colour_rate",
        "colour_known",
    }


def test_the_auto_features_dates_are_what_is_compared() -> None:
    """A text date becomes its parts (what the model sees), not one unique string per row."""
    from kagglekit.adversarial import model_view
    from kagglekit.config import FeaturesConfig
    from kagglekit.training import Prepared

    train, test = _split(2)
    days = pd.date_range("2020-01-01", periods=len(train) + len(test), freq="D").strftime(
        "%Y-%m-%d"
    )
    train["when"], test["when"] = days[: len(train)], days[len(train) :]

    class Cfg:
        features = FeaturesConfig(auto=True)

        class competition:
            task = "binary"

        def model(self, name: str | None) -> tuple[str, object]:
            return "m", type("Entry", (), {"seed": 0, "steps": []})()

    prepared = Prepared(
        X=train,
        y=(train["x1"] > 0).to_numpy(int),
        X_test=test,
        ids=None,
        test_ids=None,  # type: ignore[arg-type]
        classes=[0, 1],
        folds=None,  # type: ignore[arg-type]
        dataset=None,  # type: ignore[arg-type]
        project_steps={},
        task=None,  # type: ignore[arg-type]
    )
    X, X_test = model_view(prepared, Cfg(), model=None)  # type: ignore[arg-type]
    assert "when" not in X.columns and {"when_year", "when_month"} <= set(X.columns)
    assert list(X.columns) == list(X_test.columns)
    # colour stays a category (its codes mapped back), so it gets the category statistic.
    assert X["colour"].dtype == object


def test_the_summary_never_says_alike_when_a_feature_drifts() -> None:
    from kagglekit.adversarial import AdversarialResult

    table = pd.DataFrame(
        {
            "feature": ["a", "b"],
            "importance": [1.0, 0.0],
            "share": [1.0, 0.0],
            "statistic": [0.02, 0.4],
            "test": ["ks", "tv"],
            "p_value": [0.5, 1e-9],
        }
    )
    result = AdversarialResult(fold_aucs=np.array([0.52, 0.5]), table=table, n_train=9, n_test=9)
    assert result.drifting() == ["b"]
    assert "look alike" not in result.verdict() and "(b)" in result.verdict()
    calm = table.assign(statistic=[0.02, 0.03], p_value=[0.5, 0.4])
    assert AdversarialResult(np.array([0.5]), calm, 9, 9).verdict() == "train and test look alike"
