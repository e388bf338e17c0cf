"""Metric registry: Kaggle's names, directions and values, in the task's prediction space."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from kagglekit.errors import KKError
from kagglekit.metrics import METRICS, average_precision_at_k, get_metric, to_labels

Y_BIN = np.array([0, 1, 1, 0, 1])
P_BIN = np.array([0.2, 0.7, 0.4, 0.1, 0.9])
Y_MC = np.array([0, 2, 1, 2])
P_MC = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3], [0.5, 0.1, 0.4]])
Y_REG = np.array([1.0, 2.0, 3.0, 4.0])
P_REG = np.array([1.5, 2.0, 2.5, 5.0])


def test_registry_has_the_issues_metrics_with_directions() -> None:
    expected = {
        "accuracy": True, "roc_auc": True, "log_loss": False, "f1": True, "f1_macro": True,
        "f1_micro": True, "rmse": False, "rmsle": False, "mae": False, "r2": True,
    }  # fmt: skip
    assert {name: m.greater_is_better for name, m in METRICS.items()} == expected
    assert get_metric("map@5").greater_is_better and get_metric("map@5").tasks == ("ranking",)
    assert (
        get_metric("rmse").direction == "minimize"
        and get_metric("accuracy").direction == "maximize"
    )
    assert get_metric("rmse").better(0.1, 0.2) and get_metric("r2").better(0.9, 0.2)


@pytest.mark.parametrize(
    ("name", "y", "pred", "expected"),
    [
        ("accuracy", Y_BIN, P_BIN, skm.accuracy_score(Y_BIN, [0, 1, 0, 0, 1])),
        ("roc_auc", Y_BIN, P_BIN, skm.roc_auc_score(Y_BIN, P_BIN)),
        ("log_loss", Y_BIN, P_BIN, skm.log_loss(Y_BIN, P_BIN)),
        ("f1", Y_BIN, P_BIN, skm.f1_score(Y_BIN, [0, 1, 0, 0, 1])),
        ("accuracy", Y_MC, P_MC, 0.75),
        ("log_loss", Y_MC, P_MC, skm.log_loss(Y_MC, P_MC)),
        ("roc_auc", Y_MC, P_MC, skm.roc_auc_score(Y_MC, P_MC, multi_class="ovr")),
        ("f1_macro", Y_MC, P_MC, skm.f1_score(Y_MC, [0, 2, 1, 0], average="macro")),
        ("f1_micro", Y_MC, P_MC, 0.75),
        ("rmse", Y_REG, P_REG, np.sqrt(np.mean((Y_REG - P_REG) ** 2))),
        ("rmsle", Y_REG, P_REG, np.sqrt(np.mean((np.log1p(Y_REG) - np.log1p(P_REG)) ** 2))),
        ("mae", Y_REG, P_REG, 0.5),
        ("r2", Y_REG, P_REG, skm.r2_score(Y_REG, P_REG)),
    ],
)
def test_values_in_the_prediction_space(
    name: str, y: np.ndarray, pred: np.ndarray, expected: float
) -> None:
    assert get_metric(name)(y, pred) == pytest.approx(expected)


def test_threshold_and_labels() -> None:
    assert get_metric("accuracy")(Y_BIN, P_BIN, threshold=0.3) == pytest.approx(1.0)
    assert to_labels(P_MC).tolist() == [0, 2, 1, 0]
    assert to_labels(np.array([1, 0])).tolist() == [1, 0]  # labels pass through


def test_map_at_k_matches_kaggles_definition() -> None:
    assert average_precision_at_k([1, 2], [1, 3, 2], k=3) == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert average_precision_at_k([1], [2, 1], k=1) == 0.0
    assert average_precision_at_k([], [1], k=3) == 0.0
    assert average_precision_at_k([1], [1, 1, 1], k=3) == 1.0  # repeats count once
    assert get_metric("map@3")([[1, 2], [5]], [[1, 3, 2], [5]]) == pytest.approx(
        ((1 + 2 / 3) / 2 + 1) / 2
    )
    with pytest.raises(ValueError, match=r"2 queries in truth, 1 predicted"):
        get_metric("map@3")([[1], [2]], [[1]])


def test_errors() -> None:
    with pytest.raises(KKError, match=r"metric 'acuracy' is not known; did you mean 'accuracy'\?"):
        get_metric("acuracy")
    with pytest.raises(KKError, match=r"metric 'map@0' is not known"):
        get_metric("map@0")
    # A KKError: the CV loop scores outside its fit guard, so the CLI shows one line.
    with pytest.raises(KKError, match=r"rmsle needs non-negative"):
        get_metric("rmsle")(Y_REG, -P_REG)
