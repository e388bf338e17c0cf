"""The model protocol every backend implements, and the backend registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from kagglekit.errors import DoesNotFit, KKError, did_you_mean, unknown_name
from kagglekit.tasks import Task, as_task, task_name


def take(X: Any, idx: np.ndarray) -> Any:
    """Rows ``idx`` of a DataFrame, array, tensor or list, keeping its type; of each value
    of a dict of them (token ids and masks)."""
    if isinstance(X, dict):
        return {k: take(v, idx) for k, v in X.items()}
    if hasattr(X, "iloc"):  # a pandas DataFrame or Series (pandas is not imported here)
        return X.iloc[idx]
    if isinstance(X, list):
        return [X[i] for i in idx]
    return X[idx]


def concat(parts: Sequence[Any]) -> Any:
    """Rows of ``parts`` one after another, keeping their type: ``take``'s inverse."""
    first = parts[0]
    if hasattr(type(first), "concat"):  # a row container of our own (text.loaders.Texts)
        return type(first).concat(parts)
    if isinstance(first, dict):
        return {k: concat([p[k] for p in parts]) for k in first}
    if hasattr(first, "iloc"):
        import pandas as pd

        return pd.concat(parts, ignore_index=True)
    if isinstance(first, list):
        return [row for p in parts for row in p]
    if hasattr(first, "new_tensor"):  # a torch tensor (torch is not imported here)
        import torch

        return torch.cat(list(parts))
    return np.concatenate(parts)


def holdout_split(
    y: np.ndarray, share: float, seed: int, *, stratify: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (fit, held out) of a ``share`` of the training rows held out of the fit
    (to stop on, or to tune a threshold on): stratified by ``y`` for classes."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    try:
        fit_idx, held_idx = train_test_split(
            rows, test_size=share, random_state=seed, stratify=y if stratify else None
        )
    except ValueError:
        # A class with one training row, or fewer held-out rows than classes: a plain
        # split still gives rows to hold out.
        fit_idx, held_idx = train_test_split(rows, test_size=share, random_state=seed)
    return fit_idx, held_idx


class FitFailure(KKError):
    """A model could not be fitted with these settings (a value the backend rejects, a GPU
    out of memory): one line for the user, and only that trial's failure for a tuner,
    since other sampled settings may fit."""


@dataclass(frozen=True)
class FoldContext:
    """What the CV loop tells a model about the fold it is fitting.

    ``checkpoint_dir`` is this fold's folder inside the run: a model that trains for many
    epochs keeps its checkpoints there and resumes from the last one when the same run is
    started again after an interrupt. ``on_epoch(epoch, score)`` is called by models that
    train in epochs after each epoch with the validation score in the competition metric
    (epochs count from 0); it may raise (e.g. ``optuna.TrialPruned``), and the model must
    let that exception pass. ``cache`` (tuning) is a store that lives across the fits of
    the same fold in one process, one trial after another: a model may keep there what
    does not depend on its own parameters (the tabular backends keep the fold's fitted
    feature pipeline and its matrices), keyed by everything that result depends on.
    """

    repeat: int
    fold: int
    checkpoint_dir: Path | None = None
    on_epoch: Callable[[int, float], None] | None = None
    cache: dict[Any, Any] | None = None


@runtime_checkable
class Model(Protocol):
    """What the CV loop needs from a model, whatever its backend.

    ``X`` is whatever the project's data is (a DataFrame, a uint8 image array N x C x H x W,
    a list of texts); ``y`` is the encoded target (class indices or values).
    """

    def fit(
        self,
        X: Any,
        y: np.ndarray,
        *,
        X_valid: Any = None,
        y_valid: np.ndarray | None = None,
        fold: FoldContext | None = None,
    ) -> Model:
        """Fit on one fold's training rows; use the validation rows for early stopping."""
        ...

    def predict(self, X: Any) -> np.ndarray:
        """Predictions in the task's prediction space (see ``kagglekit.metrics``)."""
        ...

    def learned(self) -> dict[str, Any]:
        """What the fit learned worth recording: best iteration, feature importances, ..."""
        ...


@dataclass(frozen=True)
class BuildContext:
    """Everything a backend needs to build a fresh model for one fold.

    ``task`` is the ``kagglekit.tasks.Task`` (a task name given here is looked up): a
    backend asks it what differs between tasks instead of comparing names.
    """

    task: Task
    n_classes: int
    seed: int
    params: dict[str, Any]
    early_stopping_rounds: int
    early_stopping_holdout: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)
    # The competition metric (a ``kagglekit.metrics.Metric``) and its decision threshold,
    # for models that score their validation rows while training (per-epoch history).
    metric: Any = None
    threshold: float = 0.5
    # What the data loader says the model needs to know: ``input_shape`` (C, H, W),
    # ``n_classes``, ``vocabulary``, ``n_users`` / ``n_items``, ...
    info: dict[str, Any] = field(default_factory=dict)
    # ``kk train --smoke``: one or two epochs on a few hundred rows, to see that it runs.
    smoke: bool = False
    # Tables: the project's [features] config, the model entry's steps and the project's
    # own FOLD_STEPS, which tabular backends turn into a fold-fitted feature pipeline.
    features: Any = None
    steps: tuple[Any, ...] = ()
    project_steps: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", as_task(self.task))


TABULAR_FAMILIES = ("gbdt", "tree", "linear")
# Families of tree models: their feature importances are split gains or impurity
# decreases, which the reports plot (a linear model's |coefficients| are not comparable).
TREE_FAMILIES = ("gbdt", "tree")


@dataclass(frozen=True)
class Backend:
    """A registered backend: its name, the tasks it serves and how to build it.

    ``build(ctx)`` returns a ready ``Model`` that the CV loop fits and predicts with, for
    every family: tabular backends put their feature preprocessing inside the model.
    ``family`` groups backends (``gbdt``, ``tree``, ``linear``, ``torch``, ...);
    ``accepts`` names the kinds of data it reads (``kagglekit.loaders.KINDS``), so a
    backend given data it cannot read is a one-line error before any fold.
    ``check_values(ctx)`` rejects parameter values before a run folder exists.

    What the rest of the package reads about a backend is given here, where it registers,
    so a project's own backend gets tuning, reports and records without a change to the
    package:

    - ``default_space``: the default search space of ``kk tune``, in the form of a
      ``[models.<name>.search]`` table (``kagglekit.tuning.spaces``);
    - ``stops_on_rounds``: it stops on rounds (``early_stopping_rounds``), so tuning
      searches ``n_estimators`` only when early stopping is off;
    - ``param_errors``: names of its library's exception classes that mean a parameter
      value was rejected (besides ``ValueError`` and ``TypeError``), matched by name so the
      library need not be imported: the fold's failure is then one line naming the params;
    - ``packages``: the distributions whose versions its runs record, and which must be
      installed to use it (else one line with ``install_hint``);
    - ``family``: ``is_tree`` (importance plots) and the feature pipeline of tables.
    """

    name: str
    tasks: tuple[str, ...]
    build: Callable[[BuildContext], Any]
    known_params: Callable[[str], set[str]]
    family: str = "gbdt"
    strict_params: bool = True
    install_hint: str = ""
    accepts: tuple[str, ...] = ("frame",)
    check_values: Callable[[BuildContext], None] | None = None
    # It chooses rounds or epochs on validation rows, so early_stopping_holdout (a share
    # of the training rows to choose on instead of the scored rows) means something to it.
    holds_out: bool = False
    default_space: Mapping[str, Any] = field(default_factory=dict, hash=False)  # a dict: unhashed
    stops_on_rounds: bool = False
    param_errors: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()

    @property
    def is_tabular(self) -> bool:
        return self.family in TABULAR_FAMILIES

    @property
    def is_tree(self) -> bool:
        """A tree model, whose feature importances the reports plot."""
        return self.family in TREE_FAMILIES

    def check_installed(self) -> None:
        """One line naming the first of ``packages`` that is not installed, and the fix."""
        for package in self.packages:
            if not _installed(package):
                hint = self.install_hint or f"pip install {package}"
                raise KKError(
                    f"backend '{self.name}' needs {package}, which is not installed; "
                    f"install it with: {hint}"
                )

    def check_accepts(self, kind: str, *, model: str) -> None:
        """Refuse data of a kind this backend cannot read, naming the ones it can."""
        if kind not in self.accepts:
            raise DoesNotFit(
                f"model '{model}' uses backend '{self.name}', which reads {' or '.join(self.accepts)} "
                f"data, but this project's data are {kind}; pick a model entry whose backend "
                f"reads {kind} (kk train PROJECT --model NAME)"
            )

    def check_params(self, params: dict[str, Any], task: Task | str) -> None:
        """Reject misspelt parameter names before any fold is trained."""
        known = self.known_params(task_name(task))
        for key in params:
            # A lenient backend (native names and aliases) only rejects a near-miss typo.
            if key not in known and (self.strict_params or did_you_mean(key, known)):
                raise unknown_name(f"{self.name} parameter", key, known)


_REGISTRY: dict[str, Backend] = {}
# Backends registered by a module that imports a heavy library (torch): the module is
# imported when one of its names is first looked up, so `kk --help` never pays for it.
# tests/test_backend_metadata.py checks it against what each module registers.
_LAZY = {
    **dict.fromkeys(
        ("mlp", "lenet5", "cnn", "resnet", "fastnet", "vit", "timm"),
        ("kagglekit.vision.backends", "vision"),
    ),
    **dict.fromkeys(
        (
            "tfidf_lr",
            "tfidf_svm",
            "tfidf_ridge",
            "tfidf_nbsvm",
            "word2vec_lr",
            "sentence_lr",
            "lstm",
            "transformer",
        ),
        ("kagglekit.text.backends", "nlp"),
    ),
    **dict.fromkeys(
        ("biases", "popularity", "user_knn", "item_knn", "mf", "ease", "als", "bpr"),
        ("kagglekit.recsys.models", "recsys"),
    ),
    "neumf": ("kagglekit.recsys.neural", "recsys"),
    "bpmf": ("kagglekit.recsys.factor_models", "recsys"),
}


def register_backend(backend: Backend) -> Backend:
    """Add a backend to the registry (projects and sub-packages may add their own)."""
    _REGISTRY[backend.name] = backend
    return backend


def backend_names() -> list[str]:
    return sorted({*_REGISTRY, *_LAZY})


def get_backend(name: str, *, task: Task | str | None = None, installed: bool = True) -> Backend:
    """Look up a backend, checking that it serves ``task`` (a task or its name) and, unless
    ``installed=False`` (reading what a run recorded, as reports do), that its libraries are
    installed here."""
    if name not in _REGISTRY and name in _LAZY:
        module, extra = _LAZY[name]
        require(module, extra)  # registers it, or one line with the install hint
    backend = _REGISTRY.get(name)
    if backend is None:
        raise unknown_name("model backend", name, _REGISTRY)
    if task is not None and task_name(task) not in backend.tasks:
        raise KKError(
            f"model backend '{name}' does not serve task '{task_name(task)}' (it serves {', '.join(backend.tasks)}); "
            "pick another backend for this model entry"
        )
    if installed:
        backend.check_installed()
    return backend


def _installed(package: str) -> bool:
    """Whether distribution ``package`` is installed (or its module importable), without
    importing it."""
    import importlib.util
    from importlib import metadata

    if importlib.util.find_spec(package.replace("-", "_")) is not None:
        return True
    try:
        metadata.distribution(package)
    except metadata.PackageNotFoundError:
        return False
    return True


def is_param_error(err: BaseException) -> bool:
    """Whether ``err``, raised by a fit, means a parameter value was rejected: a
    ``ValueError`` or ``TypeError``, or a class a registered backend names in
    ``param_errors`` (LightGBM's ``LightGBMError`` is a plain ``Exception``)."""
    if isinstance(err, ValueError | TypeError):
        return True
    names = {cls.__name__ for cls in type(err).__mro__}
    return any(names.intersection(b.param_errors) for b in _REGISTRY.values())


def require(module: str, extra: str) -> Any:
    """Import an optional heavy dependency, or raise an install hint."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise KKError(
            f"'{module}' is not installed; install it with: pip install 'kagglekit[{extra}]'"
        ) from None
