"""AutoFeatures: the per-fold automatic handling a generated tabular project relies on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from kagglekit.config import FeaturesConfig
from kagglekit.features import AutoFeatures, build_feature_pipeline
from kagglekit.testing import make_mixed_frame


def _xy(task: str = "binary", n_rows: int = 240) -> tuple[pd.DataFrame, np.ndarray]:
    frame = make_mixed_frame(n_rows, task=task)
    return frame.drop(columns=["target"]), frame["target"].to_numpy()


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_detects_dates_and_high_cardinality_only(task: str) -> None:
    X, y = _xy(task)
    auto = AutoFeatures(task=task, random_state=0)
    out = auto.fit_transform(X, y)
    assert auto.date_formats_ == {"signup_date": "%Y-%m-%d"}
    assert auto.high_cardinality_ == ["city"]
    assert "signup_date" not in out and "city" not in out
    assert {"x1", "x2", "colour"} <= set(out.columns)  # numeric and low-cardinality kept
    parts = [f"signup_date_{p}" for p in ("year", "month", "day", "dayofweek")]
    assert out[parts].iloc[0].tolist() == [float(v) for v in _date_parts(X["signup_date"].iloc[0])]
    n_te = 3 if task == "multiclass" else 1
    assert len([c for c in out.columns if c.startswith("city_te")]) == n_te
    assert out["city_count"].min() >= 1
    assert list(auto.transform(X.iloc[:7]).columns) == list(out.columns)


def _date_parts(text: str) -> tuple[int, int, int, int]:
    when = pd.Timestamp(text)
    return when.year, when.month, when.day, when.day_of_week


def test_target_encoding_never_sees_a_rows_own_target() -> None:
    # One category per row: an encoder fitted on a row's own target would reproduce y.
    rng = np.random.default_rng(0)
    n_rows = 400
    X = pd.DataFrame({"key": [f"k{i}" for i in range(n_rows)], "x": rng.normal(size=n_rows)})
    y = rng.integers(0, 2, size=n_rows)
    out = AutoFeatures(task="binary", max_categories=10).fit_transform(X, y)
    assert abs(np.corrcoef(out["key_te"], y)[0, 1]) < 0.2


def test_excluded_columns_and_text_that_is_not_a_date_are_left_alone() -> None:
    X, y = _xy()
    X["code"] = [f"{i % 7}-x" for i in range(len(X))]
    auto = AutoFeatures(exclude=("city",))
    out = auto.fit_transform(X, y)
    assert "city" in out and "code" in out
    assert auto.high_cardinality_ == []


def test_missing_and_unparseable_dates_become_nan() -> None:
    X, y = _xy()
    X.loc[:3, "signup_date"] = None
    auto = AutoFeatures()
    auto.fit(X, y)
    test = X.iloc[:6].copy()
    test.loc[4, "signup_date"] = "not a date"
    out = auto.transform(test)
    assert out["signup_date_year"].isna().tolist() == [True] * 5 + [False]


def test_transform_before_fit_raises() -> None:
    X, _ = _xy()
    with pytest.raises(NotFittedError):
        AutoFeatures().transform(X)


@pytest.mark.parametrize("family", ["gbdt", "linear"])
def test_pipeline_with_auto_gives_numeric_features(family: str) -> None:
    X, y = _xy("regression")
    pipe = build_feature_pipeline(
        FeaturesConfig(auto=True), family=family, task="regression", seed=0
    )
    out = pipe.fit_transform(X, y)
    assert all(pd.api.types.is_numeric_dtype(out[c]) for c in out.columns)
    assert "city_te" in out.columns
    without = build_feature_pipeline(FeaturesConfig(), family=family, task="regression", seed=0)
    assert "city_te" not in without.fit_transform(X, y).columns
