"""scikit-learn's own estimator checks on the package's fold steps (issue 15).

Declared exceptions: the steps take and return DataFrames of mixed dtypes (tags:
categorical and string input, NaN allowed, no preserved dtype), and GroupTargetRate's
fit_transform leaves each row's own label out, so by design it differs from
fit().transform() (as scikit-learn's TargetEncoder does).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from kagglekit import features as feat
from kagglekit.config import FeaturesConfig, StepConfig
from kagglekit.testing import make_mixed_frame

STEPS = [
    feat.CountEncoder(),
    feat.CountEncoder(normalize=True),
    feat.AutoFeatures(),
    feat.ClusterFeatures(n_clusters=2),
    feat.PCAFeatures(n_components=1),
    feat.GroupTargetRate(keys=["x0"]),
]

LEAVE_ONE_OUT = (
    "fit_transform leaves each row's own label out (a leave-one-out encoder): it differs "
    "from fit().transform() by design"
)


def _expected_failures(estimator: object) -> dict[str, str]:
    if isinstance(estimator, feat.GroupTargetRate):
        return {
            "check_transformer_general": LEAVE_ONE_OUT,
            "check_transformer_data_not_an_array": LEAVE_ONE_OUT,
        }
    return {}


@parametrize_with_checks(STEPS, expected_failed_checks=_expected_failures)
def test_scikit_learn_estimator_checks(estimator: object, check: object) -> None:
    check(estimator)  # type: ignore[operator]


def _frame(n_rows: int = 200) -> tuple[pd.DataFrame, np.ndarray]:
    frame = make_mixed_frame(n_rows, seed=0)
    y = frame.pop("target").to_numpy()
    return frame.drop(columns=["id"]), y


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
@pytest.mark.parametrize("step", STEPS[:5], ids=lambda s: type(s).__name__)
def test_a_transform_with_other_columns_is_refused(step: object) -> None:
    X, y = _frame()
    numeric = X[["x1", "x2"]].assign(x3=X["x1"] * 2)
    fitted = sklearn.base.clone(step).fit(numeric, y)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"X has 2 features, but .* is expecting 3"):
        fitted.transform(numeric[["x1", "x2"]].to_numpy())
    with pytest.raises(ValueError, match="missing:\n- x3"):
        fitted.transform(numeric[["x1", "x2"]])
    with pytest.raises(ValueError, match="feature names should match"):
        fitted.transform(numeric.rename(columns={"x3": "other"}))


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_auto_features_refuses_one_column_less() -> None:
    X, y = _frame()
    auto = feat.AutoFeatures().fit(X, y)
    assert auto.n_features_in_ == X.shape[1]
    with pytest.raises(ValueError, match="feature names should match"):
        auto.transform(X.iloc[:, :-1])
    n = X.shape[1]
    with pytest.raises(
        ValueError, match=f"X has {n - 1} features, but AutoFeatures is expecting {n}"
    ):
        auto.transform(X.iloc[:, :-1].to_numpy())


@pytest.mark.parametrize("output", ["default", "pandas"])
def test_get_feature_names_out_names_the_output(output: str) -> None:
    X, y = _frame()
    cases = [
        (feat.AutoFeatures(), X),
        (feat.CountEncoder(), X[["colour", "city"]]),
        (feat.ClusterFeatures(n_clusters=3), X[["x1", "x2"]]),
        (feat.PCAFeatures(n_components=2), X[["x1", "x2"]]),
        (feat.GroupTargetRate(keys=["colour"]), X),
    ]
    for step, data in cases:
        step.set_output(transform=output)
        out = step.fit_transform(data, y)
        assert list(out.columns) == list(step.get_feature_names_out()), type(step).__name__
        assert list(step.transform(data).columns) == list(step.get_feature_names_out())


def test_count_encoder_names_do_not_change_with_set_output() -> None:
    X, _ = _frame()
    plain = feat.CountEncoder().fit_transform(X[["colour"]])
    pandas = feat.CountEncoder().set_output(transform="pandas").fit_transform(X[["colour"]])
    assert list(plain.columns) == list(pandas.columns) == ["colour_count"]
    pd.testing.assert_frame_equal(plain, pandas)


def test_a_kagglekit_pipeline_names_its_output() -> None:
    """Pipeline.get_feature_names_out() works on the fold pipeline kk builds."""
    X, y = _frame()
    cfg = FeaturesConfig(
        auto=True,
        count_encode=["colour"],
        steps=[StepConfig(kind="pca", params={"n_components": 2})],
    )
    pipe = feat.build_feature_pipeline(cfg, family="gbdt", task="binary", seed=0)
    out = pipe.fit_transform(X, y)
    assert list(pipe.get_feature_names_out()) == list(out.columns)
    assert {"city_te", "city_count", "colour_count", "pca_0", "pca_1"} <= set(out.columns)
    outer = make_pipeline(pipe)
    assert list(outer.get_feature_names_out()) == list(out.columns)


def test_auto_features_under_a_global_pandas_output() -> None:
    X, y = _frame()
    expected = feat.AutoFeatures().fit_transform(X, y)
    with sklearn.config_context(transform_output="pandas"):
        auto = feat.AutoFeatures()
        got = auto.fit_transform(X, y)
        again = auto.transform(X.iloc[:50])
    pd.testing.assert_frame_equal(got, expected)
    assert list(again.columns) == list(expected.columns)
    with sklearn.config_context(transform_output="pandas"):
        cluster = feat.ClusterFeatures(n_clusters=2).fit_transform(X[["x1", "x2"]])
    assert list(cluster.columns) == ["x1", "x2", "kmeans_dist_0", "kmeans_dist_1"]
