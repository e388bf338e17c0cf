"""Search spaces: the backend's default (``Backend.default_space``), overridable per model.

A space maps parameter names to a range (``SearchRange``), a choice (``SearchChoices``)
or a fixed value. The project's ``[models.<name>.search]`` table is laid over the
backend's default key by key: a range replaces the default range, a plain value fixes
the parameter (which also removes it from the search)::

    [models.lightgbm.search]
    num_leaves = { low = 8, high = 128, log = true }
    boosting_type = { choices = ["gbdt", "goss"] }
    n_jobs = 1

A backend's ``default_space`` is the same table written in Python, given where the
backend registers: ``{"num_leaves": {"low": 8, "high": 128, "log": True}, "n_jobs": 1}``.
Everything here is plain data; Optuna is imported only when a space is sampled.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kagglekit.config import ModelConfig, SearchChoices, SearchRange, parse_search_param
from kagglekit.errors import KKError
from kagglekit.models.base import Backend, backend_names, get_backend

if TYPE_CHECKING:
    import optuna

Dimension = SearchRange | SearchChoices


# Boosters keep the adapter's 2000 rounds and stop early on each fold's validation rows,
# so the number of rounds is not searched (``Backend.default_space`` holds the learning
# rate and the tree shape); a booster with early_stopping_rounds = 0 gets them searched.
ROUNDS = {"n_estimators": {"low": 50, "high": 1000, "log": True}}


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
    backend = get_backend(entry.backend)
    default = default_space(backend)
    if backend.stops_on_rounds and entry.early_stopping_rounds == 0:
        default.update(_parsed(entry.backend, ROUNDS))  # no early stopping: search the rounds
    default.update(_parsed(entry.backend, _around_the_entry(backend, entry.params)))
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
            f"[models.{model_name}.search] in config.toml, e.g. {_example_range(backend)}"
        )
    return SearchSpace(dimensions=dims, fixed=fixed)


def _around_the_entry(backend: Backend, params: dict[str, Any]) -> dict[str, Any]:
    """A torch backend's default ranges of ``lr`` and ``weight_decay``, moved to lie around
    the model entry's own values: the backend's defaults suit its default optimiser, and an
    entry with ``optimizer = "adamw", lr = 1e-3`` searched around SGD's 0.2 would diverge."""
    moved: dict[str, Any] = {}
    if backend.family != "torch":
        return moved
    for key, low, high in (("lr", 0.1, 10.0), ("weight_decay", 0.01, 10.0)):
        value = params.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            continue
        if key in backend.default_space:
            lo, hi = float(f"{value * low:.3g}"), float(f"{value * high:.3g}")
            moved[key] = {"low": lo, "high": hi, "log": True}
    return moved


def _example_range(backend: Backend) -> str:
    """A search range for the error of an empty space, of a parameter ``backend`` takes
    (an ``alpha`` means nothing to a torch net)."""
    known = backend.known_params("binary") | backend.known_params("regression")
    for name, low, high in (("lr", 1e-4, 1e-2), ("learning_rate", 0.01, 0.3), ("C", 1e-3, 1e3)):
        if name in known:
            return f"{name} = {{ low = {low:g}, high = {high:g}, log = true }}"
    if "alpha" in known or not known:
        return "alpha = { low = 0.001, high = 10, log = true }"
    return f"{sorted(known)[0]} = {{ low = ..., high = ... }}"


def default_space(backend: Backend) -> dict[str, Any]:
    """The backend's ``default_space``, its ranges and choices parsed as in config.toml."""
    return _parsed(backend.name, backend.default_space)


def _parsed(backend: str, space: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: parse_search_param(f"backend '{backend}' default_space.{key}", raw)
        for key, raw in space.items()
    }


def __getattr__(name: str) -> Any:
    """``DEFAULT_SPACES``: the default spaces now live on each backend (``default_space``)."""
    if name != "DEFAULT_SPACES":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        "DEFAULT_SPACES is gone: read get_backend(name).default_space, or give "
        "default_space= to Backend when you register one (DEFAULT_SPACES goes in the next release)",
        DeprecationWarning,
        stacklevel=2,
    )
    spaces = {}
    for backend_name in backend_names():
        with contextlib.suppress(KKError):  # its extra is not installed
            backend = get_backend(backend_name)
            if backend.default_space:
                spaces[backend_name] = default_space(backend)
    return spaces
