"""The backend contract, in the spirit of scikit-learn's ``check_estimator``.

Every name in the registry (``backend_names()``, lazily registered sub-package backends
included), on every task it serves, is built from a ``BuildContext``, fitted for one round
or epoch on tiny data of the kind it accepts, and checked for what the CV loop relies on:

- predicting before ``fit`` is a clear error that says to fit first;
- predictions have the task's shape and range: (n,) probabilities in [0, 1] for binary,
  (n, k) rows summing to 1 for multiclass, finite (n,) values for regression, (n, 2K)
  distinct item indices for ranking;
- the same seed gives the same predictions twice.

A backend whose extra is not installed is skipped with its install hint. Parameters: the
generic one-round settings (``ONE_ROUND``) where the backend has them, and a few
narrower nets (``SMALL``) so that the whole suite stays quick on a CPU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from kagglekit.config import FeaturesConfig
from kagglekit.errors import KKError
from kagglekit.metrics import get_metric
from kagglekit.models import base
from kagglekit.models.base import Backend, BuildContext, Model, backend_names, get_backend, take
from kagglekit.recsys.testing import tiny_interactions
from kagglekit.tasks import get_task
from kagglekit.testing import make_tiny_frame
from kagglekit.text.loaders import Texts
from kagglekit.text.testing import tiny_texts
from kagglekit.vision.testing import tiny_images

# Set where a backend has the parameter: one round, epoch or iteration, small batches.
ONE_ROUND: dict[str, Any] = {
    "n_estimators": 1, "epochs": 1, "n_epochs": 1, "iterations": 1, "w2v_epochs": 1,
    "warmup_epochs": 0, "num_threads": 1, "batch_size": 16,
}  # fmt: skip
# Narrow nets and short sequences: the contract is under test, not the capacity.
SMALL: dict[str, dict[str, Any]] = {
    "mlp": {"hidden": [16]},
    "cnn": {"channels": [8, 16]},
    "resnet": {"widths": [8, 8, 16, 16]},
    "fastnet": {"widths": [8, 16, 16]},
    "timm": {"name": "test_resnet"},  # random weights: nothing is downloaded
    "lstm": {"embed_dim": 8, "hidden": 8, "max_length": 8},
    "transformer": {"max_length": 16},  # and a tiny random BERT, see _params
    "word2vec_lr": {"min_count": 1, "vector_size": 16},
    "neumf": {"factors": 4, "hidden": [8]},
    "bpmf": {"factors": 4, "n_samples": 3, "burn_in": 1},
    "lightgbm": {"num_leaves": 7, "min_child_samples": 5, "n_jobs": 1},
    "xgboost": {"max_depth": 3, "n_jobs": 1},
    "random_forest": {"n_jobs": 1},
    "extra_trees": {"n_jobs": 1},
}
# The metric each task's models see (threshold tuning, per-epoch scores, list depth 2K).
METRIC = {"binary": "f1", "multiclass": "accuracy", "regression": "rmse", "ranking": "map@5"}
# What a "predict before fit" error says, in one line: "X.predict was called before fit;
# fit it first" (not an AttributeError from inside, nor an inner Pipeline's NotFittedError).
FIT_FIRST = re.compile(r"before fit; fit (it|the model) first")
N_CLASSES = {"binary": 2, "multiclass": 3}
# implicit's advice on BLAS threads is about speed on big matrices, not the contract.
pytestmark = pytest.mark.filterwarnings("ignore:OpenBLAS is configured:RuntimeWarning")


def _ctx(
    task: str, *, n_classes: int, params: dict[str, Any], info: dict[str, Any]
) -> BuildContext:
    """The one place the suite builds a context: the task as a ``kagglekit.tasks.Task``."""
    return BuildContext(
        task=get_task(task),
        n_classes=n_classes,
        seed=0,
        params=params,
        early_stopping_rounds=0,
        metric=get_metric(METRIC[task]),
        info=info,
        features=FeaturesConfig(),
    )


@dataclass
class Data:
    """Tiny training and validation rows of one kind, for one task."""

    task: str
    X: Any
    y: np.ndarray
    X_valid: Any
    y_valid: np.ndarray
    n_classes: int = 0
    info: dict[str, Any] = field(default_factory=dict)


def _split(task: str, X: Any, y: np.ndarray, n_train: int, **kw: Any) -> Data:
    train, valid = np.arange(n_train), np.arange(n_train, len(y))
    return Data(task, take(X, train), y[train], take(X, valid), y[valid], **kw)


def _frame(task: str) -> Data:
    frame = make_tiny_frame(80, seed=1, task=task).drop(columns=["id"])
    y, classes = get_task(task).encode(frame.pop("target"))
    return _split(task, frame, np.asarray(y), 60, n_classes=len(classes or []))


def _images(task: str) -> Data:
    shape = (1, 16, 16)  # fastnet's whitening and three pools need 16 x 16
    k = N_CLASSES.get(task, 3)
    X, labels = tiny_images(32, shape, k, seed=1)
    y = labels.astype(np.float64) if task == "regression" else labels
    info = {"input_shape": shape, "n_classes": k}
    return _split(task, X, y, 24, n_classes=N_CLASSES.get(task, 0), info=info)


def _texts(task: str, tmp_path: Path) -> Data:
    texts, labels = tiny_texts(80, N_CLASSES.get(task, 3), seed=1)
    y = labels.astype(np.float64) if task == "regression" else labels
    info = {"cache_dir": str(tmp_path / "embeddings")}
    return _split(task, Texts.of(texts), y, 60, n_classes=N_CLASSES.get(task, 0), info=info)


def _pairs(task: str) -> Data:
    frame = tiny_interactions(n_users=30, n_items=20, per_user=8, seed=1)
    X = np.c_[frame.user - 1, frame.item - 100].astype(np.int64)
    rating = frame.rating.to_numpy(np.float64)
    y = np.c_[X, rating] if task == "ranking" else rating  # ranking: (user, item, rating)
    info = {"n_users": 30, "n_items": 20, "rating_scale": [1.0, 5.0]}
    rows = np.random.default_rng(0).permutation(len(X))
    return _split(task, X[rows], y[rows], 180, info=info)


def make_data(kind: str, task: str, tmp_path: Path) -> Data:
    """Tiny data of a kind of rows (``kagglekit.loaders.KINDS``) for ``task``."""
    if kind == "frame":
        return _frame(task)
    if kind == "images":
        return _images(task)
    if kind == "texts":
        return _texts(task, tmp_path)
    if kind == "pairs":
        return _pairs(task)
    raise AssertionError(f"no contract data for kind '{kind}'; add it to make_data")


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 1-layer BERT saved with ``save_pretrained`` (no download)."""
    pytest.importorskip("transformers")
    from kagglekit.text.testing import tiny_transformer

    return tiny_transformer(tmp_path_factory.mktemp("tiny-bert"))


def _params(backend: Backend, task: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    known = backend.known_params(task)
    params = {k: v for k, v in ONE_ROUND.items() if k in known}
    params.update(SMALL.get(backend.name, {}))
    if backend.name == "transformer":
        params["model"] = str(request.getfixturevalue("tiny_bert"))
    return params


def check_predictions(pred: np.ndarray, data: Data) -> None:
    """Shape and range of the task's prediction space (``kagglekit.tasks``)."""
    task = get_task(data.task)
    n = len(data.y_valid)
    classes = list(range(data.n_classes)) or None
    n_outputs = task.outputs_for(SimpleNamespace(metric=METRIC[data.task]), classes)  # type: ignore[arg-type]
    assert pred.shape == ((n,) if n_outputs == 1 else (n, n_outputs))
    assert np.isfinite(pred).all()
    if task.is_classification:
        assert ((pred >= 0) & (pred <= 1)).all()
    if data.task == "multiclass":
        np.testing.assert_allclose(pred.sum(axis=1), 1.0, rtol=1e-5)
    if data.task == "ranking":  # ranked lists of distinct item indices
        items = pred.astype(np.int64)
        assert (items == pred).all() and ((items >= 0) & (items < data.info["n_items"])).all()
        assert all(len(set(row)) == len(row) for row in items.tolist())


# --- the suite -----------------------------------------------------------------------------


def _cases() -> list[Any]:
    """(backend, task, kind) for every task and kind of rows every registered backend
    serves and reads (the kind is named in the id only where a backend reads several)."""
    cases = []
    for name in backend_names():
        try:
            backend = get_backend(name)
        except KKError:  # its extra is missing: one case, skipped with the hint
            cases.append(pytest.param(name, "", "", id=name))
            continue
        for task in backend.tasks:
            for kind in backend.accepts:
                tag = f"-{kind}" if len(backend.accepts) > 1 else ""
                cases.append(pytest.param(name, task, kind, id=f"{name}-{task}{tag}"))
    return cases


CASES = _cases()


def _backend(name: str) -> Backend:
    """The registered backend, or a skip naming what to install."""
    try:
        return get_backend(name)
    except KKError as err:
        pytest.skip(str(err))


def _build(backend: Backend, data: Data, params: dict[str, Any]) -> Any:
    """A fresh model, or a skip when building needs a library that is not installed."""
    try:
        return backend.build(
            _ctx(data.task, n_classes=data.n_classes, params=params, info=data.info)
        )
    except KKError as err:
        if "install" in str(err):
            pytest.skip(str(err))
        raise


def _fit_predict(backend: Backend, data: Data, params: dict[str, Any]) -> np.ndarray:
    model = _build(backend, data, params)
    assert isinstance(model, Model), f"{backend.name} builds a {type(model).__name__}"
    fitted = model.fit(data.X, data.y, X_valid=data.X_valid, y_valid=data.y_valid)
    assert fitted is model, "fit returns the model"
    assert isinstance(model.learned(), dict)
    return np.asarray(model.predict(data.X_valid))


def test_every_registered_backend_has_contract_cases() -> None:
    names = backend_names()
    assert len(names) >= 33
    assert {case.values[0] for case in CASES} == set(names)


def test_a_backend_whose_extra_is_missing_is_skipped_with_its_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def get_absent(name: str) -> Backend:
        return base.require("kk_not_installed_module", "absent")  # what a lazy lookup does

    monkeypatch.setitem(globals(), "get_backend", get_absent)
    with pytest.raises(pytest.skip.Exception, match=r"pip install 'kagglekit\[absent\]'"):
        _backend("kk_absent")


@pytest.mark.parametrize(("name", "task", "kind"), CASES)
def test_backend_contract(
    name: str, task: str, kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    backend = _backend(name)
    assert task in backend.tasks and kind in backend.accepts
    data = make_data(kind, task, tmp_path)
    params = _params(backend, task, request)
    backend.check_params(params, task)

    # Predicting before fit: one line that says so, not an AttributeError from inside.
    with pytest.raises(Exception) as err:
        _build(backend, data, params).predict(data.X_valid)
    assert isinstance(err.value, KKError) and FIT_FIRST.search(str(err.value)), (
        f"{name}.predict before fit raised {type(err.value).__name__}: {err.value}"
    )

    pred = _fit_predict(backend, data, params)
    check_predictions(pred, data)
    again = _fit_predict(backend, data, params)
    np.testing.assert_allclose(again, pred, rtol=1e-6, atol=1e-9, err_msg="same seed, same fit")
