"""Tabular backends: LightGBM, XGBoost and scikit-learn estimators behind one adapter.

A ``TabularModel`` is a fold-fitted feature pipeline (``kagglekit.features``) followed
by an estimator. Gradient-boosted trees stop early on the fold's validation rows.
"""

from __future__ import annotations

import contextlib
import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from kagglekit.errors import KKError
from kagglekit.features import FeatureStepError, build_feature_pipeline
from kagglekit.models.base import (
    Backend,
    BuildContext,
    FoldContext,
    holdout_split,
    register_backend,
    require,
    take,
)
from kagglekit.tasks import Task, as_task

CLASSIFICATION = ("binary", "multiclass")
REGRESSION = ("regression",)
ALL_TASKS = CLASSIFICATION + REGRESSION

# Boosters get many rounds and rely on early stopping; without a validation set
# (a final fit on all rows) they use the configured n_estimators.
_DEFAULT_ROUNDS = 2000


class TabularModel:
    """Feature pipeline + estimator, fitted together on one fold.

    Parameters
    ----------
    features : sklearn Pipeline
        Unfitted fold steps and preprocessing; fitted on the fold's training rows only.
    make_estimator : callable
        ``make_estimator(early_stopping)`` returns a fresh unfitted estimator.
    kind : {"lightgbm", "xgboost", "sklearn"}
        How to pass the validation set for early stopping.
    task : Task
        The ``kagglekit.tasks.Task`` (or its name): how predictions are read off the
        estimator and whether the holdout is stratified.
    early_stopping_rounds : int
        Rounds without improvement before a booster stops (0 disables early stopping).
    early_stopping_holdout : float
        0: stop on the validation rows given to ``fit``. Above 0: hold out this share of
        the training rows (stratified for classification, ``seed``) and stop on them; the
        features and the booster are fitted on the rest, and the validation rows are unused.
    seed : int
        Seed of the holdout split.
    """

    def __init__(
        self,
        features: Any,
        make_estimator: Callable[[bool], Any],
        *,
        kind: str,
        task: Task | str,
        early_stopping_rounds: int,
        early_stopping_holdout: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.features = features
        self.make_estimator = make_estimator
        self.kind = kind
        self.task = as_task(task)
        self.early_stopping_rounds = early_stopping_rounds
        self.early_stopping_holdout = early_stopping_holdout
        self.seed = seed
        # (the validation rows given to fit, their transformed matrix): predict reuses it once
        self._valid_seen: tuple[Any, Any] | None = None

    def fit(
        self,
        X: Any,
        y: np.ndarray,
        *,
        X_valid: Any = None,
        y_valid: np.ndarray | None = None,
        fold: FoldContext | None = None,
    ) -> TabularModel:
        is_booster = self.kind in ("lightgbm", "xgboost") and self.early_stopping_rounds > 0
        held_out = is_booster and self.early_stopping_holdout > 0
        if held_out:
            X, X_valid, y, y_valid = self._holdout(X, y)
        key = _cache_key(self, fold, X, y, X_valid)
        cached = (
            fold.cache.get(key) if key is not None and fold and fold.cache is not None else None
        )
        if cached is not None:  # the same fold's features, fitted by an earlier trial
            self.features, Xt, Xv = cached
        else:
            with _feature_errors():
                Xt = self.features.fit_transform(X, y)
                Xv = None if X_valid is None else self.features.transform(X_valid)
            if key is not None and fold is not None and fold.cache is not None:
                _remember(fold.cache, key, (self.features, Xt, Xv))
        if not held_out and X_valid is not None:
            self._valid_seen = (X_valid, Xv)  # predict(X_valid) needs no second transform
        self.columns_ = list(Xt.columns)
        self.booster_columns_ = _booster_names(self.columns_) if self.kind != "sklearn" else None
        Xt = self._for_booster(Xt)
        use_es = (
            self.kind in ("lightgbm", "xgboost")
            and self.early_stopping_rounds > 0
            and X_valid is not None
        )
        self.estimator_ = self.make_estimator(use_es)
        if not use_es:
            self.estimator_.fit(Xt, y)
            if hasattr(self.estimator_, "estimators_") and "n_jobs" in self.estimator_.get_params():
                # A forest sums its trees' outputs in whatever order threads finish, so a
                # parallel predict is not byte-reproducible; fitting in parallel is.
                self.estimator_.set_params(n_jobs=1)
            return self
        Xv = self._for_booster(Xv)
        if self.kind == "lightgbm":
            lgb = require("lightgbm", "tabular")
            stop = [lgb.early_stopping(self.early_stopping_rounds, verbose=False)]
            # LightGBM 4.7 renamed eval_set to eval_X/eval_y; older releases only know eval_set.
            if "eval_X" in inspect.signature(self.estimator_.fit).parameters:
                self.estimator_.fit(Xt, y, eval_X=(Xv,), eval_y=(y_valid,), callbacks=stop)
            else:
                self.estimator_.fit(Xt, y, eval_set=[(Xv, y_valid)], callbacks=stop)
        else:
            self.estimator_.fit(Xt, y, eval_set=[(Xv, y_valid)], verbose=False)
        return self

    def _holdout(self, X: Any, y: np.ndarray) -> tuple[Any, Any, np.ndarray, np.ndarray]:
        """Split the training rows into rows to fit on and rows to stop on."""
        fit_idx, stop_idx = holdout_split(
            y, self.early_stopping_holdout, self.seed, stratify=self.task.stratifies
        )
        return take(X, fit_idx), take(X, stop_idx), y[fit_idx], y[stop_idx]

    def _for_booster(self, Xt: Any) -> Any:
        """The frame under the names the booster accepts (unchanged when they are fine)."""
        names = getattr(self, "booster_columns_", None)
        if names is None or names == list(Xt.columns):
            return Xt
        return Xt.set_axis(names, axis=1)

    def predict(self, X: Any) -> np.ndarray:
        if not hasattr(self, "estimator_"):  # not the inner Pipeline's NotFittedError
            raise KKError("TabularModel.predict was called before fit; fit it first")
        seen = self._valid_seen
        if seen is not None and X is seen[0] and seen[1] is not None:
            Xt = self._for_booster(seen[1])  # the validation rows, transformed in fit
            self._valid_seen = None  # held no longer than this first use
        else:
            Xt = self._for_booster(self.features.transform(X))
        return self.task.sklearn_predict(self.estimator_, Xt)

    def learned(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n_features": len(self.columns_)}
        best = getattr(self.estimator_, "best_iteration_", None)
        if best is None:
            best = getattr(self.estimator_, "best_iteration", None)
        # LightGBM reports 0 and XGBoost raises/None when no early stopping happened.
        if best is not None and int(best) > 0:
            out["best_iteration"] = int(best)
        importances = getattr(self.estimator_, "feature_importances_", None)
        if importances is None and hasattr(self.estimator_, "coef_"):
            coef = np.atleast_2d(self.estimator_.coef_)
            importances = np.abs(coef).mean(axis=0)
        if importances is not None and len(importances) == len(self.columns_):
            out["feature_importance"] = {
                c: float(v) for c, v in zip(self.columns_, importances, strict=True)
            }
        return out


# What one process keeps of the folds' features across tuning trials: beyond this many
# bytes of matrices, further folds are refitted per trial rather than held in memory.
CACHE_BYTES = 1 << 30


def _cache_key(
    model: TabularModel, fold: FoldContext | None, X: Any, y: np.ndarray, X_valid: Any
) -> tuple[Any, ...] | None:
    """What a fold's fitted features depend on: the fold, the unfitted pipeline (all its
    parameters), the rows and labels, the holdout; None where no cache is given, the
    pipeline cannot be fingerprinted, or one of its steps sets ``kk_cacheable = False``
    (it draws fresh random numbers on purpose, say, and must be refitted every trial)."""
    if fold is None or fold.cache is None or not hasattr(X, "index"):
        return None
    import joblib
    import pandas as pd

    try:
        parts = model.features.get_params(deep=True).values()
        if any(getattr(part, "kk_cacheable", True) is False for part in parts):
            return None  # a step that must run again in every trial says so
        pipeline = joblib.hash(model.features)
    except Exception:  # an unpicklable step: refit every trial, as without a cache
        return None
    rows = int(pd.util.hash_pandas_object(X.index, index=False).sum())
    valid = None
    if X_valid is not None and hasattr(X_valid, "index"):
        valid = int(pd.util.hash_pandas_object(X_valid.index, index=False).sum())
    labels = joblib.hash(np.asarray(y))
    return ("tabular", fold.repeat, fold.fold, pipeline, rows, valid, labels,
            model.early_stopping_holdout, model.seed, model.kind, model.early_stopping_rounds)  # fmt: skip


def _remember(cache: dict[Any, Any], key: tuple[Any, ...], value: tuple[Any, Any, Any]) -> None:
    """Keep a fold's fitted features while the cache's matrices stay under CACHE_BYTES."""
    size = sum(int(m.memory_usage(deep=False).sum()) for m in value[1:] if m is not None)
    used = cache.get("tabular_bytes", 0)
    if used + size <= CACHE_BYTES:
        cache[key], cache["tabular_bytes"] = value, used + size


# LightGBM refuses feature names with JSON's special characters ("Do not support special
# JSON characters in feature name") and XGBoost names with [, ] or <; ordinary column names
# such as `a[b]` or `x,y` reach the boosters renamed, and records keep the real names.
_BOOSTER_UNSAFE = re.compile(r'[\[\]{}":,<>]')


def _booster_names(columns: list[Any]) -> list[str] | None:
    """Names the boosters accept, one per column and distinct (None: keep the names)."""
    text = [str(c) for c in columns]
    if not any(_BOOSTER_UNSAFE.search(c) for c in text):
        return None
    out: list[str] = []
    seen: set[str] = set(text)
    for name in text:
        safe = _BOOSTER_UNSAFE.sub("_", name)
        if safe != name:
            base, k = safe, 1
            while safe in seen:
                safe, k = f"{base}_{k}", k + 1
            seen.add(safe)
        out.append(safe)
    return out


@contextlib.contextmanager
def _feature_errors() -> Iterator[None]:
    """Report the feature pipeline's own ValueErrors/TypeErrors as ``FeatureStepError``."""
    try:
        yield
    except (ValueError, TypeError) as err:
        if isinstance(err, KKError):
            raise
        raise FeatureStepError(str(err)) from err


# name -> ``estimator(ctx) -> make_estimator(early_stopping) -> estimator``
_ESTIMATORS: dict[str, Callable[[BuildContext], Callable[[bool], Any]]] = {}
# name -> ``TabularModel.kind``: how the estimator is given validation rows to stop on
_FIT_KINDS: dict[str, str] = {}


def _register_tabular(
    name: str,
    *,
    tasks: tuple[str, ...],
    estimator: Callable[[BuildContext], Callable[[bool], Any]],
    known_params: Callable[[str], set[str]],
    family: str,
    strict_params: bool = True,
    fit_kind: str = "sklearn",
    **metadata: Any,
) -> None:
    """Register a tabular backend: its estimator behind the family's feature pipeline.

    ``metadata``: the ``Backend`` fields the rest of the package reads (``default_space``,
    ``stops_on_rounds``, ``param_errors``, ``packages``, ``install_hint``).
    """
    _ESTIMATORS[name] = estimator
    _FIT_KINDS[name] = fit_kind
    backend: Backend

    def build(ctx: BuildContext) -> TabularModel:
        features = build_feature_pipeline(
            ctx.features,
            family=family,  # type: ignore[arg-type]
            task=ctx.task,
            seed=ctx.seed,
            model_steps=list(ctx.steps),
            project_steps=ctx.project_steps,
        )
        return make_tabular_model(backend, ctx, features)

    backend = register_backend(
        Backend(
            name=name,
            tasks=tasks,
            build=build,
            known_params=known_params,
            family=family,
            strict_params=strict_params,
            accepts=("frame",),
            check_values=lambda ctx: check_param_values(backend, ctx),
            holds_out=family == "gbdt",
            **metadata,
        )
    )


def _accepts(cls: Any, name: str) -> bool:
    return name in inspect.signature(cls).parameters


def _register_sklearn(
    name: str,
    classes: dict[str, Callable[[], type[BaseEstimator]]],
    *,
    prep: str,
    defaults: dict[str, Any] | None = None,
    default_space: dict[str, Any] | None = None,
) -> None:
    """Register a scikit-learn estimator; ``classes`` maps task -> a loader of its class;
    ``default_space`` is its default search space for ``kk tune``."""

    def build(ctx: BuildContext) -> Any:
        cls = classes[ctx.task.name]()
        params = {**(defaults or {}), **ctx.params}
        if _accepts(cls, "random_state") and "random_state" not in params:
            params["random_state"] = ctx.seed
        if name == "svm" and ctx.task.is_classification:
            # SVC(probability=True) is deprecated in scikit-learn 1.9: get probabilities
            # the recommended way, Platt scaling fitted on internal CV, one final SVC.
            from sklearn.calibration import CalibratedClassifierCV

            params.pop("probability", None)
            return lambda _es: CalibratedClassifierCV(cls(**params), ensemble=False)
        return lambda _es: cls(**params)

    def known(task: str) -> set[str]:
        cls = (classes.get(task) or next(iter(classes.values())))()
        return set(cls().get_params())

    _register_tabular(
        name,
        tasks=tuple(t for t in ALL_TASKS if t in classes),
        estimator=build,
        known_params=known,
        family=prep,
        default_space=default_space or {},
        packages=("scikit-learn",),
    )


def _sk(module: str, attr: str) -> Callable[[], type[BaseEstimator]]:
    def load() -> type[BaseEstimator]:
        import importlib

        return getattr(importlib.import_module(f"sklearn.{module}"), attr)

    return load


_FOREST_SPACE = {
    "max_depth": {"low": 3, "high": 30, "log": True},
    "min_samples_leaf": {"low": 1, "high": 30, "log": True},
    "max_features": {"low": 0.1, "high": 1.0},
}
_register_sklearn(
    "logistic_regression",
    {t: _sk("linear_model", "LogisticRegression") for t in CLASSIFICATION},
    prep="linear",
    defaults={"max_iter": 5000},
    default_space={"C": {"low": 1e-3, "high": 1e3, "log": True}},
)
_register_sklearn(
    "linear_regression", {"regression": _sk("linear_model", "LinearRegression")}, prep="linear"
)
_register_sklearn(
    "ridge",
    {"regression": _sk("linear_model", "Ridge")},
    prep="linear",
    default_space={"alpha": {"low": 1e-3, "high": 1e3, "log": True}},
)
_register_sklearn(
    "decision_tree",
    {
        **{t: _sk("tree", "DecisionTreeClassifier") for t in CLASSIFICATION},
        "regression": _sk("tree", "DecisionTreeRegressor"),
    },
    prep="tree",
    default_space={
        "max_depth": {"low": 2, "high": 20},
        "min_samples_leaf": {"low": 1, "high": 50, "log": True},
        "max_features": {"low": 0.3, "high": 1.0},
    },
)
_register_sklearn(
    "random_forest",
    {
        **{t: _sk("ensemble", "RandomForestClassifier") for t in CLASSIFICATION},
        "regression": _sk("ensemble", "RandomForestRegressor"),
    },
    prep="tree",
    defaults={"n_estimators": 500, "n_jobs": -1},
    default_space=_FOREST_SPACE,
)
_register_sklearn(
    "extra_trees",
    {
        **{t: _sk("ensemble", "ExtraTreesClassifier") for t in CLASSIFICATION},
        "regression": _sk("ensemble", "ExtraTreesRegressor"),
    },
    prep="tree",
    defaults={"n_estimators": 500, "n_jobs": -1},
    default_space=_FOREST_SPACE,
)
_register_sklearn(
    "svm",
    {**{t: _sk("svm", "SVC") for t in CLASSIFICATION}, "regression": _sk("svm", "SVR")},
    prep="linear",
    default_space={
        "C": {"low": 1e-2, "high": 1e3, "log": True},
        "gamma": {"low": 1e-4, "high": 1.0, "log": True},
    },
)
_register_sklearn(
    "knn",
    {
        **{t: _sk("neighbors", "KNeighborsClassifier") for t in CLASSIFICATION},
        "regression": _sk("neighbors", "KNeighborsRegressor"),
    },
    prep="linear",
    default_space={
        "n_neighbors": {"low": 1, "high": 100, "log": True},
        "weights": {"choices": ["uniform", "distance"]},
        "p": {"choices": [1, 2]},
    },
)


def _build_lightgbm(ctx: BuildContext) -> Callable[[bool], Any]:
    lgb = require("lightgbm", "tabular")
    cls = lgb.LGBMClassifier if ctx.task.is_classification else lgb.LGBMRegressor
    params: dict[str, Any] = {
        "n_estimators": _DEFAULT_ROUNDS,
        "learning_rate": 0.05,
        "random_state": ctx.seed,
        "verbose": -1,
        # Same result on every run and thread count: byte-identical OOF predictions.
        "deterministic": True,
        "force_row_wise": True,
        **ctx.params,
    }
    return lambda _es: cls(**params)


def _build_xgboost(ctx: BuildContext) -> Callable[[bool], Any]:
    xgb = require("xgboost", "tabular")
    cls = xgb.XGBClassifier if ctx.task.is_classification else xgb.XGBRegressor
    params: dict[str, Any] = {
        "n_estimators": _DEFAULT_ROUNDS,
        "learning_rate": 0.05,
        "tree_method": "hist",
        "random_state": ctx.seed,
        **ctx.params,
    }

    def make(use_es: bool) -> Any:
        extra = {"early_stopping_rounds": ctx.early_stopping_rounds} if use_es else {}
        return cls(**params, **extra)

    return make


def _gbdt_known(module: str, attr: str) -> Callable[[str], set[str]]:
    def known(task: str) -> set[str]:
        mod = require(module, "tabular")
        return set(getattr(mod, attr)().get_params())

    return known


_register_tabular(
    "lightgbm",
    tasks=ALL_TASKS,
    estimator=_build_lightgbm,
    known_params=_gbdt_known("lightgbm", "LGBMModel"),
    family="gbdt",
    strict_params=False,  # LightGBM takes native parameter names and aliases too
    fit_kind="lightgbm",
    # Boosters keep the adapter's 2000 rounds and stop early on each fold's validation
    # rows, so the rounds are not searched: the learning rate and the tree shape are.
    default_space={
        "learning_rate": {"low": 0.01, "high": 0.3, "log": True},
        "num_leaves": {"low": 4, "high": 128, "log": True},
        "min_child_samples": {"low": 5, "high": 100, "log": True},
        "subsample": {"low": 0.5, "high": 1.0},
        "subsample_freq": 1,
        "colsample_bytree": {"low": 0.4, "high": 1.0},
        "reg_alpha": {"low": 1e-8, "high": 10.0, "log": True},
        "reg_lambda": {"low": 1e-8, "high": 10.0, "log": True},
    },
    stops_on_rounds=True,
    param_errors=("LightGBMError",),  # a plain Exception; XGBoost's are ValueErrors
    packages=("lightgbm",),
    install_hint="pip install 'kagglekit[tabular]'",
)
_register_tabular(
    "xgboost",
    tasks=ALL_TASKS,
    estimator=_build_xgboost,
    known_params=_gbdt_known("xgboost", "XGBModel"),
    family="gbdt",
    strict_params=False,
    fit_kind="xgboost",
    default_space={
        "learning_rate": {"low": 0.01, "high": 0.3, "log": True},
        "max_depth": {"low": 2, "high": 10},
        "min_child_weight": {"low": 0.1, "high": 20.0, "log": True},
        "subsample": {"low": 0.5, "high": 1.0},
        "colsample_bytree": {"low": 0.4, "high": 1.0},
        "reg_alpha": {"low": 1e-8, "high": 10.0, "log": True},
        "reg_lambda": {"low": 1e-8, "high": 10.0, "log": True},
        "gamma": {"low": 1e-8, "high": 5.0, "log": True},
    },
    stops_on_rounds=True,
    packages=("xgboost",),
    install_hint="pip install 'kagglekit[tabular]'",
)


_NUMBER = re.compile(r"\b(int|float)\b")


def _numeric_annotations(cls: type) -> set[str]:
    """Constructor parameters annotated as numbers only (``Optional[float]``, not ``str``)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = vars(klass).get("__init__")
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters
        except (TypeError, ValueError):
            continue
        for name, param in parameters.items():
            text = str(param.annotation)
            if _NUMBER.search(text) and "str" not in text and "Callable" not in text:
                names.add(name)
    return names


def check_param_values(backend: Backend, ctx: BuildContext) -> None:
    """Reject parameter values of the wrong type before any fold runs.

    Without this a typo such as ``learning_rate = "fast"`` surfaces as a library
    traceback inside the first fold, after a run folder was created.
    """
    estimator = _ESTIMATORS[backend.name](ctx)(False)
    defaults = type(estimator)().get_params()
    annotated = _numeric_annotations(type(estimator))  # XGBoost's defaults are all None
    for key, value in ctx.params.items():
        default = defaults.get(key)
        numeric = isinstance(default, int | float) and not isinstance(default, bool)
        if (numeric or key in annotated) and isinstance(value, str):
            raise KKError(
                f"{backend.name} parameter '{key}' = {value!r} is not a number "
                f"(default {default!r}); fix models.*.params in config.toml"
            )
    if hasattr(estimator, "_parameter_constraints"):
        # scikit-learn's own declarative constraints (types and ranges).
        try:
            estimator._validate_params()
        except (ValueError, TypeError) as err:
            message = " ".join(str(err).split())
            raise KKError(f"{backend.name} parameters are invalid: {message}") from None


def make_tabular_model(
    backend: Backend,
    ctx: BuildContext,
    features: Any,
) -> TabularModel:
    """A fresh ``TabularModel`` for one fold, behind the feature pipeline ``features``."""
    make_estimator = _ESTIMATORS[backend.name](ctx)
    return TabularModel(
        features,
        make_estimator,
        kind=_FIT_KINDS[backend.name],
        task=ctx.task,
        early_stopping_rounds=ctx.early_stopping_rounds,
        early_stopping_holdout=ctx.early_stopping_holdout,
        seed=ctx.seed,
    )
