"""The fold-fitted feature pipeline of one model, built from its config.

In order: the steps fitted on the feature frame as the project function returns it (the
project's own ``FOLD_STEPS``, ``group_target_rate``, ``text``), ``AutoFeatures``, target
and count encoding, the model family's preprocessing (gradient-boosted trees take ordinal
codes and NaN as they are; linear, SVM and k-NN models get imputation, one-hot and
scaling), then steps appended on its numeric output (``kmeans``, ``pca``).
"""

from __future__ import annotations

import importlib
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from kagglekit.config import FeaturesConfig, StepConfig
from kagglekit.errors import KKError, unknown_name
from kagglekit.features.encoders import (
    AutoFeatures,
    ClusterFeatures,
    CountEncoder,
    GroupTargetRate,
    PCAFeatures,
    _shuffled_target_encoder,
)
from kagglekit.tasks import Task, as_task

Family = Literal["gbdt", "tree", "linear"]

_NON_NUMERIC = ["object", "category", "bool", "string"]

# Steps fitted on the feature frame as the project function returns it (before encoding
# and the model's preprocessing), like a project's own FOLD_STEPS ...
RAW_STEPS: dict[str, type[BaseEstimator]] = {"group_target_rate": GroupTargetRate}
# ... and the text kind's features for a table's free-text columns (kagglekit.text.columns,
# imported when a step names it: TF-IDF and its imports stay out of other runs) ...
LAZY_RAW_STEPS: dict[str, str] = {"text": "kagglekit.text.columns:TextColumns"}
# ... and steps appended after the preprocessing, on its numeric output.
PACKAGE_STEPS: dict[str, type[BaseEstimator]] = {"kmeans": ClusterFeatures, "pca": PCAFeatures}


def _make_step(
    step: StepConfig, registry: dict[str, type[BaseEstimator]], seed: int
) -> BaseEstimator:
    cls = registry.get(step.kind)
    if cls is None and step.kind in LAZY_RAW_STEPS:
        module, _, name = LAZY_RAW_STEPS[step.kind].partition(":")
        cls = getattr(importlib.import_module(module), name)
    if cls is None:
        raise unknown_name("feature step", step.kind, {**registry, **LAZY_RAW_STEPS})
    params = dict(step.params)
    if "random_state" in cls().get_params() and "random_state" not in params:
        params["random_state"] = seed
    try:
        made = cls(**params)
    except TypeError as err:
        raise KKError(f"feature step '{step.kind}': bad parameters {params}: {err}") from None
    if not callable(getattr(made, "set_output", None)):
        # The fold pipeline passes DataFrames between steps (Pipeline.set_output).
        raise KKError(
            f"feature step '{step.kind}' ({cls.__name__}) cannot return a DataFrame; "
            "give it a get_feature_names_out method (or set_output)"
        )
    return made


def _encoders(cfg: FeaturesConfig, *, task: Task | str, seed: int) -> ColumnTransformer | None:
    parts: list[tuple[str, Any, list[str]]] = []
    if cfg.target_encode:
        target_type = as_task(task).sklearn_target_type
        # TargetEncoder cross-fits inside fit_transform, so even the fold's own training
        # rows get encodings learned without their own target.
        parts.append(
            (
                "target",
                _shuffled_target_encoder(target_type, seed),
                list(cfg.target_encode),
            )
        )
    if cfg.count_encode:
        parts.append(("count", CountEncoder(), list(cfg.count_encode)))
        # Count-encoded columns are also kept as categoricals unless target-encoded.
        keep = [c for c in cfg.count_encode if c not in cfg.target_encode]
        if keep:
            parts.append(("keep", "passthrough", keep))
    if not parts:
        return None
    return ColumnTransformer(parts, remainder="passthrough", verbose_feature_names_out=False)


def make_preprocessor(family: Family) -> ColumnTransformer:
    """Preprocessing for a model family, choosing columns by dtype at fit time."""
    categorical = make_column_selector(dtype_include=_NON_NUMERIC)
    numeric = make_column_selector(dtype_include="number")
    if family in ("gbdt", "tree"):
        # Trees split on ordinal codes fine and LightGBM/XGBoost and scikit-learn's trees
        # route NaN themselves, so missing values are kept.
        cat = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=-1,
            encoded_missing_value=-1,
            dtype=np.float64,
        )
        return ColumnTransformer(
            [("cat", cat, categorical), ("num", "passthrough", numeric)],
            verbose_feature_names_out=False,
        )
    from sklearn.impute import SimpleImputer

    cat_pipe = make_pipeline(
        SimpleImputer(strategy="constant", fill_value="__missing__"),
        OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            min_frequency=5,
            max_categories=30,
            sparse_output=False,
        ),
    )
    num_pipe = make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler())
    return ColumnTransformer(
        [("cat", cat_pipe, categorical), ("num", num_pipe, numeric)],
        verbose_feature_names_out=False,
    )


class _AsString(TransformerMixin, BaseEstimator):
    """Turn non-numeric columns, and the ``categorical`` ones, into object strings (NaN kept).

    ``categorical`` names numeric-coded categories (``Pclass``) that the encoders and
    the one-hot/ordinal preprocessing must treat as categories, not numbers.
    """

    def __init__(self, categorical: tuple[str, ...] = ()) -> None:
        self.categorical = categorical

    def fit(self, X: pd.DataFrame, y: Any = None) -> _AsString:
        self.feature_names_in_ = np.asarray(pd.DataFrame(X).columns, dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        X = pd.DataFrame(X).copy()
        for col in X.columns:
            if (
                col in self.categorical
                or not pd.api.types.is_numeric_dtype(X[col])
                or pd.api.types.is_bool_dtype(X[col])
            ):
                # pandas string/bool/category dtypes and mixed objects become one object
                # dtype of str values with NaN for missing, which every encoder accepts.
                values = X[col].astype(object)
                missing = values.isna()
                X[col] = values.astype(str).where(~missing, np.nan).astype(object)
        return X

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return self.feature_names_in_

    def set_output(self, *, transform: str | None = None) -> _AsString:
        return self


def build_feature_pipeline(
    cfg: FeaturesConfig,
    *,
    family: Family,
    task: Task | str,
    seed: int,
    model_steps: list[StepConfig] | None = None,
    project_steps: dict[str, type[BaseEstimator]] | None = None,
) -> Pipeline:
    """The fold-fitted feature pipeline for one model: project steps, encoders, prep, extras.

    Everything here is fitted on a fold's training rows only.
    """
    registry = {**RAW_STEPS, **PACKAGE_STEPS, **(project_steps or {})}
    steps: list[tuple[str, Any]] = []
    extra: list[StepConfig] = [*cfg.steps, *(model_steps or [])]
    own = [s for s in extra if s.kind not in PACKAGE_STEPS]
    appended = [s for s in extra if s.kind in PACKAGE_STEPS]
    for i, step in enumerate(own):
        steps.append((f"{step.kind}_{i}", _make_step(step, registry, seed)))
    if cfg.auto:
        exclude = (*cfg.target_encode, *cfg.count_encode)
        auto = AutoFeatures(
            task=task, max_categories=cfg.high_cardinality, exclude=exclude, random_state=seed
        )
        steps.append(("auto", auto))
    categorical = () if cfg.categorical == "auto" else tuple(cfg.categorical)
    steps.append(("as_string", _AsString(categorical=categorical)))
    encoders = _encoders(cfg, task=task, seed=seed)
    if encoders is not None:
        steps.append(("encode", encoders))
    steps.append(("prep", make_preprocessor(family)))
    for i, step in enumerate(appended):
        steps.append((f"{step.kind}_{i}", _make_step(step, registry, seed)))
    pipe = Pipeline(steps)
    pipe.set_output(transform="pandas")
    return pipe
