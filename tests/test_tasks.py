"""The Task methods that replaced branches on a task's name: each gives, for every task,
what the branch it replaced gave (the old branch is written out here as ``_old_*``)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from kagglekit.errors import KKError
from kagglekit.tasks import Task, as_task, get_task, task_name

NAMES = ("binary", "multiclass", "regression", "ranking")
PLAIN = ("binary", "multiclass", "regression")  # the tasks a model predicts rows for


# --- flags --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_flags_say_what_the_name_comparisons_said(name: str) -> None:
    task = get_task(name)
    # features.py mapped the name to scikit-learn's target type twice.
    assert task.sklearn_target_type == {"binary": "binary", "multiclass": "multiclass"}.get(
        name, "continuous"
    )
    assert task.uses_threshold == (name == "binary")  # text models' threshold, NB-SVM
    assert task.predicts_lists == (name == "ranking")  # recsys loaders and models
    assert task.is_classification == (name in ("binary", "multiclass"))
    # Holdouts were stratified for `task != "regression"`; no ranking model holds rows out.
    if name in PLAIN:
        assert task.stratifies == (name != "regression")
    assert not get_task("ranking").stratifies


# --- predictions of a scikit-learn estimator ----------------------------------------------
def _old_tabular_predict(name: str, estimator: Any, X: Any) -> np.ndarray:
    if name == "regression":
        return np.asarray(estimator.predict(X), dtype=np.float64)
    proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    return proba[:, 1] if name == "binary" else proba


@pytest.mark.parametrize("name", PLAIN)
def test_sklearn_predict_and_from_proba(name: str) -> None:
    from sklearn.linear_model import LinearRegression, LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    task = get_task(name)
    if name == "regression":
        estimator: Any = LinearRegression().fit(X, X @ [1.0, 2.0, 3.0])
    else:
        y = np.arange(60) % (2 if name == "binary" else 3)
        estimator = LogisticRegression().fit(X, y)
        proba = estimator.predict_proba(X)
        expected = proba[:, 1] if name == "binary" else proba
        np.testing.assert_array_equal(task.from_proba(proba), expected)
    got = task.sklearn_predict(estimator, X)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, _old_tabular_predict(name, estimator, X))


def test_tasks_without_probabilities_refuse_them() -> None:
    for name in ("regression", "ranking"):
        with pytest.raises(KKError, match="no class probabilities"):
            get_task(name).from_proba(np.ones((2, 2)))


# --- pseudo-labels ------------------------------------------------------------------------
def _old_confident_labels(name: str, pred: np.ndarray, confidence: float) -> Any:
    pred = np.asarray(pred, dtype=float)
    if name == "binary":
        keep = (pred >= confidence) | (pred <= 1.0 - confidence)
        rows = np.flatnonzero(keep)
        return rows, (pred[rows] >= 0.5).astype(np.int64)
    top = pred.max(axis=1)
    rows = np.flatnonzero(top >= confidence)
    return rows, pred[rows].argmax(axis=1).astype(np.int64)


@pytest.mark.parametrize("name", ["binary", "multiclass"])
@pytest.mark.parametrize("confidence", [0.6, 0.9])
def test_confident_labels(name: str, confidence: float) -> None:
    rng = np.random.default_rng(1)
    pred = rng.random(200) if name == "binary" else rng.dirichlet([0.3] * 4, size=200)
    rows, labels = get_task(name).confident_labels(pred, confidence)
    old_rows, old_labels = _old_confident_labels(name, pred, confidence)
    np.testing.assert_array_equal(rows, old_rows)
    np.testing.assert_array_equal(labels, old_labels)
    assert labels.dtype == np.int64


@pytest.mark.parametrize("name", ["regression", "ranking"])
def test_tasks_without_labels_refuse_pseudo_labels(name: str) -> None:
    with pytest.raises(KKError, match="no class labels to pseudo-label"):
        get_task(name).confident_labels(np.ones(3), 0.9)


# --- stacking -----------------------------------------------------------------------------
def _old_member_weights(name: str, coefs: np.ndarray, n_members: int, n_classes: int) -> Any:
    if name == "multiclass":
        return np.array(
            [
                np.mean([coefs[c, m * n_classes + c] for c in range(n_classes)])
                for m in range(n_members)
            ]
        )
    return coefs[0]


@pytest.mark.parametrize("name", PLAIN)
def test_member_weights(name: str) -> None:
    rng = np.random.default_rng(2)
    n_members, n_classes = 3, (3 if name == "multiclass" else 2)
    shape = (n_classes, n_members * n_classes) if name == "multiclass" else (1, n_members)
    coefs = rng.normal(size=shape)
    got = get_task(name).member_weights(coefs, n_members, n_classes)
    np.testing.assert_array_equal(got, _old_member_weights(name, coefs, n_members, n_classes))
    assert got.shape == (n_members,)


# --- submissions --------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_allowed_labels(name: str) -> None:
    """cli: regression -> None (without reading data); else the run's classes, or the
    train data's when the run has none."""
    task = get_task(name)
    loads: list[int] = []

    def load() -> list[Any]:
        loads.append(1)
        return ["from", "data"]

    if name == "regression":
        assert task.allowed_labels(["a"], load) is None
        assert task.allowed_labels(None, load) is None
        assert loads == []
        return
    assert task.allowed_labels(("a", "b"), load) == ["a", "b"] and loads == []
    assert task.allowed_labels(None, load) == ["from", "data"] and loads == [1]


def _old_matching_answers(name: str, submission_format: str) -> tuple[str, str]:
    if name == "regression":
        return "rmse", "values"
    if submission_format == "labels":
        return "accuracy", "labels"
    return ("roc_auc" if name == "binary" else "log_loss"), "probabilities"


@pytest.mark.parametrize("name", PLAIN)
@pytest.mark.parametrize("fmt", ["labels", "probabilities"])
def test_default_scoring(name: str, fmt: str) -> None:
    assert get_task(name).default_scoring(fmt) == _old_matching_answers(name, fmt)


def test_ranking_has_no_default_metric_and_accepts_any_format() -> None:
    ranking = get_task("ranking")
    with pytest.raises(KKError, match=r"set competition\.metric"):
        ranking.default_scoring("labels")
    # The config's validator skipped ranking before; the task now says so itself.
    for fmt in ("labels", "ranked_list", "values"):
        ranking.check_format(fmt)
    from kagglekit.config import CompetitionConfig

    comp = CompetitionConfig(
        name="c", id_column="u", target_column="items", task="ranking", metric="map@10"
    )
    assert comp.submission_format == "labels"  # the default, as before


# --- torch nets ---------------------------------------------------------------------------
def _old_n_outputs(name: str, n_classes: int) -> int:
    return n_classes if name == "multiclass" else 1


@pytest.mark.parametrize("name", PLAIN)
def test_net_outputs(name: str) -> None:
    for n_classes in (2, 5):
        assert get_task(name).net_outputs(n_classes) == _old_n_outputs(name, n_classes)


def test_net_outputs_refuses_what_the_trainer_refused() -> None:
    with pytest.raises(KKError, match=r"task 'multiclass' needs n_classes >= 2, got 1"):
        get_task("multiclass").net_outputs(1)
    with pytest.raises(KKError, match="not one the torch trainer serves"):
        get_task("ranking").net_outputs(2)


def _old_check_target(name: str, y: np.ndarray, n_classes: int) -> bool:
    """True when the old trainer accepted ``y``."""
    y = np.asarray(y)
    if name == "regression":
        return True
    high = n_classes if name == "multiclass" else 2
    return not (y.size and (y.min() < 0 or y.max() >= high or not np.all(y == np.round(y))))


@pytest.mark.parametrize("name", PLAIN)
@pytest.mark.parametrize(
    "y", [[0, 1, 1], [0, 1, 2], [0, 3], [-1, 0], [0.5, 1.0], [0.0, 1.0], []], ids=str
)
def test_check_codes(name: str, y: list[float]) -> None:
    task, arr = get_task(name), np.asarray(y, dtype=float)
    if _old_check_target(name, arr, 3):
        task.check_codes(arr, 3, "y")
    else:
        with pytest.raises(KKError, match=rf"y must hold encoded class indices .* {name} task"):
            task.check_codes(arr, 3, "y")


@pytest.mark.parametrize("name", PLAIN)
def test_torch_targets_loss_and_predictions(name: str) -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    task = get_task(name)
    gen = torch.Generator().manual_seed(0)
    n_classes = 3 if name == "multiclass" else 2
    y_np = np.array([0, 1, 2, 1, 0]) if name == "multiclass" else np.array([0, 1, 1, 0, 1.0])
    y = task.torch_targets(y_np)
    assert y.dtype == (torch.long if name == "multiclass" else torch.float32)
    width = n_classes if name == "multiclass" else 1
    out = torch.randn(5, width, generator=gen)
    for smoothing in (0.0, 0.1):
        for reduction in ("mean", "sum"):
            got = task.torch_loss(
                out, y, n_classes=n_classes, smoothing=smoothing, reduction=reduction
            )
            if name == "multiclass":
                old = F.cross_entropy(out, y, label_smoothing=smoothing, reduction=reduction)
            elif name == "binary":
                target = y * (1 - smoothing) + 0.5 * smoothing if smoothing else y
                old = F.binary_cross_entropy_with_logits(
                    out.reshape(y.shape), target, reduction=reduction
                )
            else:
                old = F.mse_loss(out.reshape(y.shape), y, reduction=reduction)
            assert torch.equal(got, old)
    pred = task.torch_predict(out)
    if name == "multiclass":
        assert torch.equal(pred, out.softmax(dim=1))
    elif name == "binary":
        assert torch.equal(pred, out.reshape(5).sigmoid())
    else:
        assert torch.equal(pred, out.reshape(5))


@pytest.mark.parametrize("name", PLAIN)
def test_torch_loss_names_a_wrongly_shaped_net(name: str) -> None:
    torch = pytest.importorskip("torch")
    task = get_task(name)
    y = task.torch_targets(np.zeros(4))
    out = torch.zeros(4, 2 if name != "multiclass" else 5)
    with pytest.raises(KKError, match="build the net with n_outputs"):
        task.torch_loss(out, y, n_classes=3)


# --- names and objects --------------------------------------------------------------------
def test_as_task_and_task_name() -> None:
    binary = get_task("binary")
    assert as_task("binary") is binary and as_task(binary) is binary
    assert task_name(binary) == task_name("binary") == "binary"
    with pytest.raises(KKError, match="did you mean 'binary'"):
        as_task("binar")


def test_build_context_holds_the_task_and_records_keep_the_name() -> None:
    import dataclasses

    from kagglekit.models.base import BuildContext

    ctx = BuildContext(task="multiclass", n_classes=3, seed=0, params={}, early_stopping_rounds=0)
    assert isinstance(ctx.task, Task) and ctx.task is get_task("multiclass")
    assert dataclasses.replace(ctx, seed=1).task is ctx.task


def test_ranking_scores_live_in_metrics_and_stay_importable_from_ranking() -> None:
    import kagglekit.metrics as metrics
    import kagglekit.recsys.ranking as ranking

    for name in ("hit_positions", "ranking_scores", "map_at_k_rows", "coverage", "k_of"):
        assert getattr(ranking, name) is getattr(metrics, name)


def test_tasks_and_metrics_import_neither_config_nor_ranking() -> None:
    """The metrics -> recsys.ranking -> tasks -> metrics cycle (joined by config) is cut."""
    code = (
        "import sys, kagglekit.tasks, kagglekit.metrics; "
        "print(sorted(m for m in ('kagglekit.config', 'kagglekit.recsys.ranking') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_task_still_equals_its_name_for_projects_own_backends() -> None:
    """A project's backend written when ``ctx.task`` was the name keeps working."""
    from kagglekit.models.base import BuildContext

    ctx = BuildContext(task="regression", n_classes=0, seed=0, params={}, early_stopping_rounds=0)
    assert ctx.task == "regression" and ctx.task != "binary"
    assert ctx.task in ("regression",) and {"regression": 1}[ctx.task] == 1
    assert f"task {ctx.task}" == "task regression"
    assert get_task("binary") != get_task("multiclass") and get_task("ranking") == "ranking"
