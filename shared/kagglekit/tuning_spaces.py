"""Search spaces: a default per backend, overridable per model in ``config.toml``.

A space maps parameter names to a range (``SearchRange``), a choice (``SearchChoices``)
or a fixed value. The project's ``[models.<name>.search]`` table is laid over the
backend's default key by key: a range replaces the default range, a plain value fixes
the parameter (which also removes it from the search)::

    [models.lightgbm.search]
    num_leaves = { low = 8, high = 128, log = true }
    boosting_type = { choices = ["gbdt", "goss"] }
    n_jobs = 1

Everything here is plain data; Optuna is imported only when a space is sampled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kagglekit.config import ModelConfig, SearchChoices, SearchRange
from kagglekit.errors import KKError

if TYPE_CHECKING:
    import optuna

Dimension = SearchRange | SearchChoices


def _r(low: float, high: float, *, log: bool = False) -> SearchRange:
    return SearchRange(low=low, high=high, log=log)


def _c(*choices: Any) -> SearchChoices:
    return SearchChoices(choices=list(choices))


# Boosters keep the adapter's 2000 rounds and stop early on each fold's validation rows,
# so the number of rounds is not searched: the learning rate and the tree shape are
# (a model with early_stopping_rounds = 0 gets n_estimators searched too).
_LIGHTGBM: dict[str, Any] = {
    "learning_rate": _r(0.01, 0.3, log=True),
    "num_leaves": _r(4, 128, log=True),
    "min_child_samples": _r(5, 100, log=True),
    "subsample": _r(0.5, 1.0),
    "subsample_freq": 1,
    "colsample_bytree": _r(0.4, 1.0),
    "reg_alpha": _r(1e-8, 10.0, log=True),
    "reg_lambda": _r(1e-8, 10.0, log=True),
}
_XGBOOST: dict[str, Any] = {
    "learning_rate": _r(0.01, 0.3, log=True),
    "max_depth": _r(2, 10),
    "min_child_weight": _r(0.1, 20.0, log=True),
    "subsample": _r(0.5, 1.0),
    "colsample_bytree": _r(0.4, 1.0),
    "reg_alpha": _r(1e-8, 10.0, log=True),
    "reg_lambda": _r(1e-8, 10.0, log=True),
    "gamma": _r(1e-8, 5.0, log=True),
}
_FOREST: dict[str, Any] = {
    "max_depth": _r(3, 30, log=True),
    "min_samples_leaf": _r(1, 30, log=True),
    "max_features": _r(0.1, 1.0),
}
DEFAULT_SPACES: dict[str, dict[str, Any]] = {
    "lightgbm": _LIGHTGBM,
    "xgboost": _XGBOOST,
    "logistic_regression": {"C": _r(1e-3, 1e3, log=True)},
    "ridge": {"alpha": _r(1e-3, 1e3, log=True)},
    "decision_tree": {
        "max_depth": _r(2, 20),
        "min_samples_leaf": _r(1, 50, log=True),
        "max_features": _r(0.3, 1.0),
    },
    "random_forest": _FOREST,
    "extra_trees": _FOREST,
    "svm": {"C": _r(1e-2, 1e3, log=True), "gamma": _r(1e-4, 1.0, log=True)},
    "knn": {
        "n_neighbors": _r(1, 100, log=True),
        "weights": _c("uniform", "distance"),
        "p": _c(1, 2),
    },
    # recommenders (kagglekit.recsys)
    "biases": {"reg_user_bias": _r(0.5, 50.0, log=True), "reg_item_bias": _r(0.5, 50.0, log=True)},
    "mf": {
        "factors": _r(5, 100, log=True),
        "reg": _r(0.02, 0.5, log=True),
        "reg_bias": _r(0.1, 20.0, log=True),
    },
    "item_knn": {"k": _r(10, 200, log=True), "shrinkage": _r(1.0, 300.0, log=True)},
    "user_knn": {"k": _r(10, 200, log=True), "shrinkage": _r(1.0, 300.0, log=True)},
    "ease": {"lambda_": _r(10.0, 5000.0, log=True)},
    "als": {
        "factors": _r(16, 256, log=True),
        "regularization": _r(1e-3, 1.0, log=True),
        "alpha": _r(0.5, 50.0, log=True),
    },
    "bpr": {
        "factors": _r(16, 256, log=True),
        "learning_rate": _r(1e-3, 0.1, log=True),
        "regularization": _r(1e-4, 0.1, log=True),
    },
    "neumf": {
        "factors": _r(8, 64, log=True),
        "weight_decay": _r(1e-3, 0.2, log=True),
        "lr": _r(1e-3, 1e-2, log=True),
    },
}
# Text backends (kagglekit.text): the regularisation of the linear heads, the nets' rates.
_TEXT_C = {"C": _r(0.1, 30.0, log=True)}
DEFAULT_SPACES.update(
    {
        "tfidf_lr": _TEXT_C,
        "tfidf_nbsvm": _TEXT_C,
        "word2vec_lr": _TEXT_C,
        "sentence_lr": _TEXT_C,
        "tfidf_svm": {"C": _r(0.01, 3.0, log=True)},
        "tfidf_ridge": {"alpha": _r(0.1, 30.0, log=True)},
        "lstm": {
            "lr": _r(3e-4, 1e-2, log=True),
            "dropout": _r(0.0, 0.5),
            "hidden": _c(32, 64, 128),
        },
        "transformer": {"lr": _r(1e-5, 1e-4, log=True)},
    }
)


_BOOSTERS = ("lightgbm", "xgboost")


@dataclass(frozen=True)
class SearchSpace:
    """The searched dimensions and the fixed values of one model's tuning."""

    dimensions: dict[str, Dimension]
    fixed: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        """A JSON-able description (stored on the study to notice a changed space)."""
        return {
            "dimensions": {k: v.model_dump() for k, v in sorted(self.dimensions.items())},
            "fixed": dict(sorted(self.fixed.items())),
        }

    def distributions(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """Optuna distributions of the searched dimensions."""
        return {name: to_distribution(dim) for name, dim in self.dimensions.items()}

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Sample every dimension and add the fixed values: the model's parameters."""
        params = dict(self.fixed)
        for name, dim in self.dimensions.items():
            if isinstance(dim, SearchChoices):
                params[name] = trial.suggest_categorical(name, dim.choices)
            elif dim.is_int:
                step = int(dim.step or 1)
                params[name] = trial.suggest_int(
                    name, int(dim.low), int(dim.high), log=dim.log, step=step
                )
            else:
                params[name] = trial.suggest_float(
                    name, float(dim.low), float(dim.high), log=dim.log, step=dim.step
                )
        return params


def to_distribution(dim: Dimension) -> optuna.distributions.BaseDistribution:
    """The Optuna distribution of one dimension (int when both ends are ints)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if isinstance(dim, SearchChoices):
        return CategoricalDistribution(dim.choices)
    if dim.is_int:
        return IntDistribution(int(dim.low), int(dim.high), log=dim.log, step=int(dim.step or 1))
    return FloatDistribution(float(dim.low), float(dim.high), log=dim.log, step=dim.step)


def search_space(model_name: str, entry: ModelConfig) -> SearchSpace:
    """The backend's default space with the model's ``search`` table laid over it.

    Raises a one-line ``KKError`` when nothing is left to search.
    """
    default = dict(DEFAULT_SPACES.get(entry.backend, {}))
    if entry.backend in _BOOSTERS and entry.early_stopping_rounds == 0:
        default["n_estimators"] = _r(50, 1000, log=True)  # no early stopping: search the rounds
    merged: dict[str, Any] = {**default, **entry.search}
    dims = {k: v for k, v in merged.items() if isinstance(v, SearchRange | SearchChoices)}
    fixed = {k: v for k, v in merged.items() if k not in dims}
    if not dims:
        reason = (
            "every parameter is fixed"
            if merged
            else f"backend '{entry.backend}' has no default search space"
        )
        raise KKError(
            f"model '{model_name}' has an empty search space ({reason}); add ranges under "
            f"[models.{model_name}.search] in config.toml, e.g. alpha = {{ low = 0.001, high = 10, log = true }}"
        )
    return SearchSpace(dimensions=dims, fixed=fixed)
