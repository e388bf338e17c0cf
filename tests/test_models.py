"""Model adapter contract: every backend on every task it serves fits on a fold, predicts
in the task's prediction space, and the boosters record early stopping."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kagglekit import features as feat
from kagglekit import training
from kagglekit.config import FeaturesConfig
from kagglekit.errors import KKError
from kagglekit.models import Model, backend_names, get_backend
from kagglekit.models.base import BuildContext, require
from kagglekit.models.tabular import check_param_values, make_tabular_model
from kagglekit.testing import make_tiny_frame

# Small and single-threaded: the contract, not the accuracy, is under test.
FAST = {
    "lightgbm": {"n_estimators": 200, "num_leaves": 7, "min_child_samples": 5, "n_jobs": 1},
    "xgboost": {"n_estimators": 200, "max_depth": 3, "n_jobs": 1},
    "random_forest": {"n_estimators": 15, "n_jobs": 1},
    "extra_trees": {"n_estimators": 15, "n_jobs": 1},
    "knn": {"n_neighbors": 7},
}
TABULAR = [
    "lightgbm", "xgboost", "logistic_regression", "linear_regression", "ridge",
    "decision_tree", "random_forest", "extra_trees", "svm", "knn",
]  # fmt: skip
CASES = [
    (name, task)
    for name in TABULAR
    for task in ("binary", "multiclass", "regression")
    if task in get_backend(name).tasks
]


def test_every_issue_backend_is_registered() -> None:
    assert set(TABULAR) <= set(backend_names())
    assert len(CASES) == 25  # 7 serve every task, logistic 2, linear and ridge 1 each


def _fit(
    name: str,
    task: str,
    *,
    early_stopping_rounds: int = 10,
    holdout: float = 0.0,
    shuffle_valid: bool = False,
) -> tuple[Model, Any, Any]:
    frame = make_tiny_frame(240, seed=1, task=task).drop(columns=["id"])
    y_raw = frame.pop("target")
    y, classes = training.encode_target(y_raw, task)
    if shuffle_valid:
        y = np.concatenate([y[:180], np.random.default_rng(0).permutation(y[180:])])
    backend = get_backend(name, task=task)
    ctx = BuildContext(
        task=task,
        n_classes=len(classes or []),
        seed=0,
        params=FAST.get(name, {}),
        early_stopping_rounds=early_stopping_rounds,
        early_stopping_holdout=holdout,
    )
    backend.check_params(ctx.params, task)
    check_param_values(backend, ctx)
    pipe = feat.build_feature_pipeline(FeaturesConfig(), family=backend.family, task=task, seed=0)  # type: ignore[arg-type]
    model = make_tabular_model(backend, ctx, pipe)
    train_idx, valid_idx = np.arange(180), np.arange(180, 240)
    model.fit(
        frame.iloc[train_idx], y[train_idx], X_valid=frame.iloc[valid_idx], y_valid=y[valid_idx]
    )
    return model, frame.iloc[valid_idx], y[valid_idx]


@pytest.mark.parametrize(("name", "task"), CASES, ids=[f"{n}-{t}" for n, t in CASES])
def test_fit_predict_in_the_prediction_space(name: str, task: str) -> None:
    model, X_valid, y_valid = _fit(name, task)
    assert isinstance(model, Model)
    pred = model.predict(X_valid)
    assert pred.dtype == np.float64 and np.isfinite(pred).all()
    if task == "multiclass":
        assert pred.shape == (60, 3)
        np.testing.assert_allclose(pred.sum(axis=1), 1.0, rtol=1e-6)
    else:
        assert pred.shape == (60,)
    if task != "regression":
        assert ((pred >= 0) & (pred <= 1)).all()
        labels = pred.argmax(axis=1) if pred.ndim == 2 else (pred >= 0.5).astype(int)
        assert (labels == y_valid).mean() > 0.5  # it learned something on a learnable target
    else:
        assert np.corrcoef(pred, y_valid)[0, 1] > 0.5
    learned = model.learned()
    assert learned["n_features"] >= 3
    if name in ("lightgbm", "xgboost"):
        # Early stopping on the validation rows: recorded, and before the 200 rounds.
        assert 0 <= learned["best_iteration"] < 200
    else:
        assert "best_iteration" not in learned


@pytest.mark.parametrize("task", ["binary", "regression"])
@pytest.mark.parametrize("name", ["lightgbm", "xgboost"])
def test_early_stopping_on_a_holdout_never_looks_at_the_validation_rows(
    name: str, task: str
) -> None:
    """With a holdout the validation labels can be anything: the fit is the same."""
    real, X_valid, _ = _fit(name, task, holdout=0.2)
    shuffled, _, _ = _fit(name, task, holdout=0.2, shuffle_valid=True)
    np.testing.assert_array_equal(real.predict(X_valid), shuffled.predict(X_valid))
    assert real.learned().get("best_iteration", 200) < 200  # it stopped on the holdout
    # Without a holdout it stops on the validation rows, so their labels change the fit.
    on_valid, _, _ = _fit(name, task)
    on_shuffled, _, _ = _fit(name, task, shuffle_valid=True)
    assert not np.array_equal(on_valid.predict(X_valid), on_shuffled.predict(X_valid))


@pytest.mark.parametrize("name", ["lightgbm", "xgboost"])
def test_boosters_without_early_stopping_use_all_rounds(name: str) -> None:
    model, X_valid, _ = _fit(name, "binary", early_stopping_rounds=0)
    assert model.estimator_.n_estimators == 200  # type: ignore[attr-defined]
    assert model.predict(X_valid).shape == (60,)


def test_registry_errors_are_one_line() -> None:
    with pytest.raises(
        KKError, match=r"model backend 'lgbm' is not known; did you mean 'lightgbm'"
    ):
        get_backend("lgbm")
    with pytest.raises(KKError, match=r"'ridge' does not serve task 'binary'"):
        get_backend("ridge", task="binary")
    with pytest.raises(KKError, match=r"'linear_regression' does not serve task 'multiclass'"):
        get_backend("linear_regression", task="multiclass")
    with pytest.raises(
        KKError,
        match=r"random_forest parameter 'n_estimator' is not known; did you mean 'n_estimators'",
    ):
        get_backend("random_forest").check_params({"n_estimator": 5}, "binary")
    # LightGBM also takes its native names and aliases; only near-misses are refused.
    get_backend("lightgbm").check_params({"min_data_in_leaf": 3, "feature_fraction": 0.8}, "binary")
    with pytest.raises(KKError, match=r"did you mean 'learning_rate'"):
        get_backend("lightgbm").check_params({"learning_rte": 0.1}, "binary")
    with pytest.raises(
        KKError,
        match=r"'not_a_module_kk' is not installed; install it with: pip install 'kagglekit\[tabular\]'",
    ):
        require("not_a_module_kk", "tabular")


@pytest.mark.parametrize(
    ("name", "params", "needle"),
    [
        ("logistic_regression", {"C": "big"}, "'C' = 'big' is not a number"),
        ("random_forest", {"max_depth": -3}, "max_depth"),
        ("lightgbm", {"num_leaves": "many"}, "'num_leaves' = 'many'"),
        ("xgboost", {"learning_rate": "fast"}, "'learning_rate' = 'fast' is not a number"),
    ],
)
def test_bad_param_values_are_caught_before_fitting(
    name: str, params: dict[str, Any], needle: str
) -> None:
    ctx = BuildContext(task="binary", n_classes=2, seed=0, params=params, early_stopping_rounds=0)
    with pytest.raises(KKError, match=needle) as err:
        check_param_values(get_backend(name), ctx)
    assert "\n" not in str(err.value)


def test_a_holdout_too_small_to_stratify_falls_back_to_a_plain_split() -> None:
    """A class with one training row cannot be stratified: the holdout is still taken."""
    frame = make_tiny_frame(60, seed=1, task="multiclass").drop(columns=["id"])
    y, classes = training.encode_target(frame.pop("target"), "multiclass")
    y = y.copy()
    y[0] = len(classes)  # a fourth class with a single row
    backend = get_backend("lightgbm", task="multiclass")
    ctx = BuildContext(
        task="multiclass",
        n_classes=len(classes) + 1,
        seed=0,
        params=FAST["lightgbm"],
        early_stopping_rounds=10,
        early_stopping_holdout=0.05,  # 3 rows for 4 classes
    )
    pipe = feat.build_feature_pipeline(FeaturesConfig(), family="gbdt", task="multiclass", seed=0)
    model = make_tabular_model(backend, ctx, pipe)
    model.fit(frame, y)
    assert model.predict(frame).shape == (60, 4)


@pytest.mark.parametrize("backend_name", ["lightgbm", "xgboost"])
def test_boosters_take_ordinary_column_names_with_json_characters(backend_name: str) -> None:
    """`a[b]`, `x,y` and `q"` used to stop LightGBM ("special JSON characters") and XGBoost."""
    import pandas as pd

    from kagglekit import features as feat
    from kagglekit.config import FeaturesConfig
    from kagglekit.models import get_backend
    from kagglekit.models.base import BuildContext
    from kagglekit.models.tabular import make_tabular_model

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 3)), columns=["a[b]", "x,y", 'q"'])
    y = (X["a[b]"] > 0).to_numpy(dtype=np.int64)
    backend = get_backend(backend_name, task="binary")
    ctx = BuildContext(
        task="binary", n_classes=2, seed=0, params={"n_estimators": 20, "n_jobs": 1},
        early_stopping_rounds=5,
    )  # fmt: skip
    pipe = feat.build_feature_pipeline(FeaturesConfig(), family="gbdt", task="binary", seed=0)
    model = make_tabular_model(backend, ctx, pipe)
    model.fit(X.iloc[:90], y[:90], X_valid=X.iloc[90:], y_valid=y[90:])
    pred = model.predict(X.iloc[90:])
    assert pred.shape == (30,) and ((pred > 0.5) == y[90:]).mean() > 0.8
    assert set(model.learned()["feature_importance"]) == {"a[b]", "x,y", 'q"'}
