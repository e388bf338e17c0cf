"""Encoder contracts (scikit-learn's checks where they fit) and leakage safety: whatever
looks at the target is fitted on a fold's training rows only."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict
from sklearn.utils import estimator_checks

from kagglekit import features as feat
from kagglekit import training
from kagglekit.config import FeaturesConfig, StepConfig
from kagglekit.errors import KKError
from kagglekit.folds import Folds
from kagglekit.metrics import get_metric
from kagglekit.models import get_backend
from kagglekit.models.base import BuildContext
from kagglekit.models.tabular import make_tabular_model
from kagglekit.tasks import get_task
from kagglekit.testing import make_tiny_frame

# scikit-learn's API checks that apply to DataFrame-in/DataFrame-out transformers (the
# rest of its suite assumes numpy in and out and no missing values).
API_CHECKS = [
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
    "check_dont_overwrite_parameters",
    "check_estimators_overwrite_params",
    "check_fit_idempotent",
    "check_fit_check_is_fitted",
    "check_transformers_unfitted",
    "check_estimators_pickle",
    "check_fit_score_takes_y",
    "check_methods_subset_invariance",
    "check_methods_sample_order_invariance",
    "check_estimator_repr",
]
ENCODERS = [
    feat.CountEncoder(),
    feat.ClusterFeatures(n_clusters=2),
    feat.PCAFeatures(n_components=1),
]


@pytest.mark.parametrize("estimator", ENCODERS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("check", API_CHECKS)
def test_sklearn_api_checks(estimator: Any, check: str) -> None:
    getattr(estimator_checks, check)(type(estimator).__name__, clone(estimator))


@pytest.mark.parametrize(
    ("cls", "params"),
    [
        (feat.CountEncoder, {"normalize": True}),
        (feat.ClusterFeatures, {"n_clusters": 3, "random_state": 5}),
        (feat.PCAFeatures, {"n_components": 2, "random_state": 5}),
    ],
)
def test_constructor_args_stored_unchanged_and_not_fitted_before_fit(
    cls: type, params: dict[str, Any]
) -> None:
    est = cls(**params)
    assert est.get_params() == {**cls().get_params(), **params}
    assert clone(est).get_params() == est.get_params()
    X = make_tiny_frame(60)[["x1", "x2", "colour"]]
    with pytest.raises(NotFittedError):
        est.transform(X)
    est.fit(X)
    assert est.get_params() == {**cls().get_params(), **params}  # fit does not touch them


def test_count_encoder_counts_the_fitted_rows_only() -> None:
    fit_rows = pd.DataFrame({"c": ["a", "a", "b", None]})
    enc = feat.CountEncoder().fit(fit_rows)
    out = enc.transform(pd.DataFrame({"c": ["a", "b", "zzz", None]}))
    assert out["c_count"].tolist() == [2.0, 1.0, 0.0, 1.0]  # unseen -> 0, NaN counted as seen
    assert enc.get_feature_names_out().tolist() == ["c_count"]
    freq = feat.CountEncoder(normalize=True).fit(fit_rows).transform(fit_rows)
    assert freq["c_count"].tolist() == [0.5, 0.5, 0.25, 0.25]


@pytest.mark.parametrize(
    ("est", "prefix", "n_new"),
    [
        (feat.ClusterFeatures(n_clusters=3), "kmeans_dist", 3),
        (feat.PCAFeatures(n_components=2), "pca", 2),
    ],
)
def test_append_steps_keep_columns_and_learn_from_fit_rows_only(
    est: Any, prefix: str, n_new: int
) -> None:
    frame = make_tiny_frame(80)[["x1", "x2", "colour"]]
    fitted = clone(est).fit(frame.iloc[:40])
    out = fitted.transform(frame.iloc[40:])
    assert list(out.columns) == ["x1", "x2", "colour", *[f"{prefix}_{i}" for i in range(n_new)]]
    assert out.index.equals(frame.index[40:])
    assert not out.filter(like=prefix).isna().any().any()
    # The scaler was fitted on the first 40 rows only.
    np.testing.assert_allclose(fitted.prep_[-1].mean_[0], frame["x1"].iloc[:40].mean())
    with pytest.raises(KKError, match=r"needs numeric columns"):
        clone(est).fit(frame[["colour"]])


def test_target_encoding_inside_folds_does_not_leak() -> None:
    """A pure-noise id-like column looks predictive if encoded on all rows, not in folds."""
    rng = np.random.default_rng(0)
    n_rows = 400
    frame = pd.DataFrame({"noise": rng.integers(0, 200, n_rows).astype(str)})
    y = rng.integers(0, 2, n_rows)
    assignment = (np.arange(n_rows) % 5)[rng.permutation(n_rows)][None, :]
    fold_set = Folds(assignment=assignment, hash="h", kind="kfold", n_splits=5)

    # Leaky: mean target per category over ALL rows, then cross-validate a model on it.
    leaky = frame["noise"].map(pd.Series(y).groupby(frame["noise"]).mean()).to_frame()
    leaky_pred = cross_val_predict(
        LogisticRegression(), leaky, y, cv=list(fold_set.split()), method="predict_proba"
    )[:, 1]
    assert roc_auc_score(y, leaky_pred) > 0.75

    cfg = FeaturesConfig(target_encode=["noise"])
    backend = get_backend("logistic_regression", task="binary")
    ctx = BuildContext(task="binary", n_classes=2, seed=0, params={}, early_stopping_rounds=0)

    def make() -> Any:
        pipe = feat.build_feature_pipeline(cfg, family="linear", task="binary", seed=0)
        return make_tabular_model(backend, ctx, pipe)

    result = training.cross_validate(
        frame, y, fold_set, make, get_metric("roc_auc"), task=get_task("binary")
    )
    assert abs(roc_auc_score(y, result.oof[0]) - 0.5) < 0.1


class RecordingStep(TransformerMixin, BaseEstimator):
    """A project fold step that remembers which rows it was fitted on."""

    fitted_rows: ClassVar[list[np.ndarray]] = []

    def __init__(self, scale: float = 1.0, random_state: int = 0) -> None:
        self.scale = scale
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any = None) -> RecordingStep:
        RecordingStep.fitted_rows.append(X.index.to_numpy())
        self.mean_ = float(X["x1"].mean())
        self.columns_ = list(X.columns)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return X.assign(x1_centred=(X["x1"] - self.mean_) * self.scale)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([*self.columns_, "x1_centred"], dtype=object)


def test_project_fold_steps_are_fitted_inside_each_fold() -> None:
    RecordingStep.fitted_rows = []
    frame = make_tiny_frame(90).drop(columns=["id"])
    y = frame.pop("target").to_numpy()
    fold_set = Folds(assignment=(np.arange(90) % 3)[None, :], hash="h", kind="kfold", n_splits=3)
    cfg = FeaturesConfig(steps=[StepConfig(kind="centre", params={"scale": 2.0})])
    backend = get_backend("decision_tree", task="binary")
    ctx = BuildContext(
        task="binary", n_classes=2, seed=3, params={"max_depth": 2}, early_stopping_rounds=0
    )
    pipes: list[Any] = []

    def make() -> Any:
        pipe = feat.build_feature_pipeline(
            cfg, family="tree", task="binary", seed=3, project_steps={"centre": RecordingStep}
        )
        pipes.append(pipe)
        return make_tabular_model(backend, ctx, pipe)

    training.cross_validate(
        frame, y, fold_set, make, get_metric("accuracy"), task=get_task("binary")
    )
    for rows, split in zip(RecordingStep.fitted_rows, fold_set.splits(), strict=True):
        np.testing.assert_array_equal(rows, split.train_idx)
    step = pipes[0].steps[0][1]
    assert step.get_params() == {"scale": 2.0, "random_state": 3}  # seed passed in
    assert "x1_centred" in pipes[0].transform(frame).columns
    with pytest.raises(KKError, match=r"feature step 'nope' is not known"):
        feat.build_feature_pipeline(
            FeaturesConfig(steps=[StepConfig(kind="nope")]), family="tree", task="binary", seed=0
        )
    with pytest.raises(KKError, match=r"feature step 'centre': bad parameters"):
        feat.build_feature_pipeline(
            FeaturesConfig(steps=[StepConfig(kind="centre", params={"bogus": 1})]),
            family="tree",
            task="binary",
            seed=0,
            project_steps={"centre": RecordingStep},
        )


class NoNames(TransformerMixin, BaseEstimator):
    """A transformer without get_feature_names_out: it cannot hand on a DataFrame."""

    def fit(self, X: Any, y: Any = None) -> NoNames:
        return self

    def transform(self, X: Any) -> Any:
        return X


def test_a_project_step_that_cannot_return_a_dataframe_is_named() -> None:
    with pytest.raises(
        KKError, match=r"feature step 'plain' \(NoNames\) cannot return a DataFrame"
    ):
        feat.build_feature_pipeline(
            FeaturesConfig(steps=[StepConfig(kind="plain")]),
            family="tree",
            task="binary",
            seed=0,
            project_steps={"plain": NoNames},
        )


@pytest.mark.parametrize("family", ["gbdt", "tree", "linear"])
def test_model_family_preprocessing(family: str) -> None:
    frame = make_tiny_frame(120)[["x1", "x2", "colour"]]
    pipe = feat.build_feature_pipeline(FeaturesConfig(), family=family, task="binary", seed=0)  # type: ignore[arg-type]
    out = pipe.fit_transform(frame.iloc[:80]).astype(float)
    test_out = pipe.transform(frame.iloc[80:].assign(colour="purple"))  # unseen category
    assert list(out.columns) == list(test_out.columns) and len(test_out) == 40
    if family == "linear":
        assert not out.isna().any().any()  # imputed, one-hot, scaled
        assert any(c.startswith("colour_") for c in out.columns)
        np.testing.assert_allclose(out["x1"].mean(), 0.0, atol=1e-9)
    else:
        assert out["x2"].isna().any()  # trees route NaN themselves
        assert (test_out["colour"] == -1).all()  # unseen -> -1


def test_count_encoded_columns_stay_categorical_and_listed_categoricals_are_categories() -> None:
    frame = make_tiny_frame(90)[["x1", "x2", "colour"]].assign(grade=lambda f: (f["x1"] > 0) + 1)
    cfg = FeaturesConfig(count_encode=["colour"], categorical=["grade"])
    out = feat.build_feature_pipeline(cfg, family="linear", task="binary", seed=0).fit_transform(
        frame
    )
    assert "colour_count" in out.columns
    assert any(c.startswith("colour_") and c != "colour_count" for c in out.columns)  # one-hot
    assert {"grade_1", "grade_2"} <= set(out.columns) and "grade" not in out.columns
    both = FeaturesConfig(count_encode=["colour"], target_encode=["colour"])
    out = feat.build_feature_pipeline(both, family="gbdt", task="binary", seed=0).fit_transform(
        frame, (frame["x1"] > 0).astype(int)
    )
    assert "colour" in out.columns and "colour_count" in out.columns  # colour = its encoding
    assert out.shape[1] == 5


def test_feature_function_contract() -> None:
    train = make_tiny_frame(20).drop(columns=["target"])
    test = make_tiny_frame(10, seed=1).drop(columns=["target"])

    def adds(tr: pd.DataFrame, te: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        return tr.assign(x3=tr["x1"] * 2), te.assign(x3=te["x1"] * 2)

    new_train, new_test = feat.apply_feature_function(adds, train, test)
    assert "x3" in new_train.columns and "x3" in new_test.columns
    assert "x3" not in train.columns  # inputs untouched
    with pytest.raises(KKError, match=r"changed the row count"):
        feat.apply_feature_function(lambda tr, te: (tr.iloc[1:], te), train, test)
    with pytest.raises(KKError, match=r"only in train \['x3'\]"):
        feat.apply_feature_function(lambda tr, te: (tr.assign(x3=1), te), train, test)
    with pytest.raises(KKError, match=r"different order.*LightGBM"):
        feat.apply_feature_function(lambda tr, te: (tr, te[te.columns[::-1]]), train, test)
    with pytest.raises(KKError, match=r"returned NoneType, not a \(train, test\) pair"):
        feat.apply_feature_function(lambda tr, te: None, train, test)  # type: ignore[arg-type,return-value]
    with pytest.raises(KKError, match=r"returned tuple, not a \(train, test\) pair"):
        feat.apply_feature_function(lambda tr, te: (tr,), train, test)  # type: ignore[arg-type,return-value]
    assert feat.project_feature_function(None, "") is None
    with pytest.raises(KKError, match=r"no features.py"):
        feat.project_feature_function(None, "build")


def test_project_module_that_fails_to_import_is_not_cached(tmp_path: Any) -> None:
    path = tmp_path / "demo" / "features.py"
    path.parent.mkdir()
    path.write_text("raise RuntimeError('broken on purpose')\n")
    with pytest.raises(KKError, match=r"RuntimeError: broken on purpose at .*features.py:1"):
        feat.load_project_module(path)
    path.write_text("def build(train, test):\n    return train, test\n")
    module = feat.load_project_module(path)
    assert callable(getattr(module, "build", None))


def test_a_syntax_error_in_project_features_is_one_line(tmp_path: Any) -> None:
    path = tmp_path / "typo" / "features.py"
    path.parent.mkdir()
    path.write_text("def build(train, test)\n    return train, test\n")
    with pytest.raises(KKError, match=r"features.py line 1: expected ':'; fix the Python syntax"):
        feat.load_project_module(path)


# --- leave-one-out group target rates (from projects/titanic's GroupSurvival) -------------


def _groups() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "g": ["a", "a", "a", "b", "c"],
            "wc": [1, 1, 0, 1, 1],
            "x": [0.1, 0.2, 0.3, 0.4, 0.5],
        }
    )


def test_group_target_rate_leaves_own_label_out() -> None:
    y = np.array([1, 0, 1, 1, 0])
    out = feat.GroupTargetRate(keys=["g"]).fit_transform(_groups(), y)
    # Group a has labels 1, 0, 1: each row sees only the other two.
    assert out["g_rate"].tolist()[:3] == pytest.approx([0.5, 1.0, 0.5])
    assert out["g_known"].tolist()[:3] == [2.0, 2.0, 2.0]
    # Singletons b and c have no other member: neutral, even though their own label is known.
    assert out["g_rate"].tolist()[3:] == [0.5, 0.5]
    assert out["g_known"].tolist()[3:] == [0.0, 0.0]
    assert "g" not in out.columns and out["x"].tolist() == _groups()["x"].tolist()


def test_group_target_rate_own_label_does_not_move_own_value() -> None:
    X = _groups()
    step = feat.GroupTargetRate(keys=["g"])
    y = np.array([1, 0, 1, 1, 0])
    flipped = y.copy()
    flipped[0] = 0
    first = step.fit_transform(X, y)["g_rate"].iloc[0]
    again = feat.GroupTargetRate(keys=["g"]).fit_transform(X, flipped)["g_rate"].iloc[0]
    assert first == again


def test_group_target_rate_new_rows_use_all_known_members() -> None:
    step = feat.GroupTargetRate(keys=["g"], neutral=0.4).fit(_groups(), [1, 0, 1, 1, 0])
    new = pd.DataFrame({"g": ["a", "zzz", None], "wc": [0, 1, 1], "x": [0.0, 0.0, 0.0]})
    out = step.transform(new)
    assert out["g_rate"].tolist() == pytest.approx([2 / 3, 0.4, 0.4])
    assert out["g_known"].tolist() == [3.0, 0.0, 0.0]


def test_group_target_rate_member_column() -> None:
    y = np.array([1, 0, 1, 1, 0])
    out = feat.GroupTargetRate(keys=["g"], member_column="wc").fit_transform(_groups(), y)
    # Row 2 is not a member (wc=0): it sees members 0 and 1 (1, 0), and its own label
    # (1) never counts; members 0 and 1 see only each other.
    assert out["g_rate"].tolist()[:3] == pytest.approx([0.0, 1.0, 0.5])
    assert out["g_known"].tolist()[:3] == [1.0, 1.0, 2.0]


def test_group_target_rate_errors() -> None:
    with pytest.raises(NotFittedError):
        feat.GroupTargetRate(keys=["g"]).transform(_groups())
    with pytest.raises(KKError, match="missing_key"):
        feat.GroupTargetRate(keys=["missing_key"]).fit(_groups(), [1, 0, 1, 1, 0])
    with pytest.raises(KKError, match="target"):
        feat.GroupTargetRate(keys=["g"]).fit(_groups())


def test_group_target_rate_names_its_columns_and_needs_keys() -> None:
    out = feat.GroupTargetRate(keys=["g"], name="survival").fit_transform(
        _groups(), [1, 0, 1, 1, 0]
    )
    assert {"g_survival", "g_known"} <= set(out.columns)
    one = feat.GroupTargetRate(keys="g").fit_transform(_groups(), [1, 0, 1, 1, 0])  # keys = "g"
    assert one["g_rate"].tolist() == out["g_survival"].tolist()
    with pytest.raises(KKError, match="group_target_rate needs keys"):
        feat.GroupTargetRate().fit(_groups(), [1, 0, 1, 1, 0])


def test_group_target_rate_is_a_package_step_before_encoding() -> None:
    """It consumes the string key columns, so it runs before the encoders and preprocessing."""
    step = StepConfig(kind="group_target_rate", params={"keys": ["g"]})
    pipe = feat.build_feature_pipeline(
        FeaturesConfig(steps=[step]), family="linear", task="binary", seed=0
    )
    assert pipe.steps[0][0] == "group_target_rate_0"
    out = pipe.fit_transform(_groups(), np.array([1, 0, 1, 1, 0]))
    assert len(out) == 5 and np.isfinite(np.asarray(out, dtype=float)).all()
