"""``loss = "mse"``: a torch classifier trained on the squared error of its probabilities."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from kagglekit.errors import KKError  # noqa: E402
from kagglekit.metrics import get_metric  # noqa: E402
from kagglekit.tasks import get_task  # noqa: E402
from kagglekit.torch import TrainConfig  # noqa: E402
from kagglekit.torch.losses import squared_error_loss, train_loss  # noqa: E402
from kagglekit.torch.trainer import TorchModel  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # the test machine's cores are shared


def blobs(n: int = 150, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centres = rng.normal(scale=4.0, size=(k, 4))
    return centres[y] + rng.normal(size=(n, 4)), y.astype(np.int64)


def model(task: str, n_classes: int, **config: Any) -> TorchModel:
    n_out = n_classes if task == "multiclass" else 1
    settings = {"epochs": 6, "batch_size": 32, "lr": 0.05, "device": "cpu", **config}
    return TorchModel(
        lambda: nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, n_out)),
        TrainConfig(**settings),
        task=task,
        n_classes=n_classes if task == "multiclass" else 0,
        seed=0,
        metric=get_metric("accuracy"),
    )


def test_squared_error_is_the_brier_score_of_each_row() -> None:
    prob = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    y = torch.tensor([0, 1])
    rows = [0.09 + 0.04 + 0.01, 0.01 + 0.81 + 0.64]
    assert squared_error_loss(prob, y).item() == pytest.approx(np.mean(rows))
    assert squared_error_loss(prob, y, reduction="sum").item() == pytest.approx(sum(rows))
    # Smoothing 0.3 over 3 classes: targets 0.8 / 0.1 / 0.1.
    smoothed = (0.7 - 0.8) ** 2 + (0.2 - 0.1) ** 2 + 0.0
    assert squared_error_loss(prob[:1], y[:1], smoothing=0.3).item() == pytest.approx(smoothed)
    # Binary: P(class 1) against 0/1.
    p1 = torch.tensor([0.9, 0.4])
    assert squared_error_loss(p1, torch.tensor([1.0, 0.0])).item() == pytest.approx(
        (0.01 + 0.16) / 2
    )


def test_mse_fades_where_cross_entropy_pushes_hardest() -> None:
    """A confidently wrong row: cross-entropy's gradient on the logits stays near 1,
    MSE's vanishes with the softmax's slope (why classifiers train on cross-entropy)."""
    task = get_task("multiclass")
    y = torch.tensor([0])
    grads = {}
    for loss in ("cross_entropy", "mse"):
        logits = torch.tensor([[-6.0, 6.0, 0.0]], requires_grad=True)
        train_loss(task, logits, y, loss=loss, n_classes=3).backward()
        assert logits.grad is not None
        grads[loss] = logits.grad.abs().max().item()
    assert grads["cross_entropy"] > 0.9
    assert grads["mse"] < 0.01


@pytest.mark.parametrize(("task", "n_classes"), [("multiclass", 3), ("binary", 2)])
def test_a_classifier_trains_on_mse_and_reports_it_as_its_loss(task: str, n_classes: int) -> None:
    X, y = blobs(k=n_classes)
    if task == "binary":
        y = (y == 1).astype(np.int64)
    fit = model(task, n_classes, loss="mse").fit(X[:100], y[:100], X_valid=X[100:], y_valid=y[100:])
    pred = fit.predict(X[100:])
    labels = pred.argmax(axis=1) if task == "multiclass" else (pred >= 0.5).astype(int)
    assert (labels == y[100:]).mean() > 0.9
    # The validation loss of the kept epoch is the mean Brier score of its predictions,
    # not their log loss: the net was trained and scored on MSE.
    best = fit.learned()["best_epoch"]
    valid_loss = fit.learned()["history"]["valid_loss"][best]
    expected = squared_error_loss(torch.as_tensor(pred), torch.as_tensor(y[100:])).item()
    assert valid_loss == pytest.approx(expected, rel=1e-4)


def test_the_default_loss_is_cross_entropy_and_keeps_old_fingerprints() -> None:
    assert TrainConfig().loss == "cross_entropy"
    assert "loss" not in TrainConfig().fingerprint_fields()  # older checkpoints resume
    assert TrainConfig(loss="mse").fingerprint_fields()["loss"] == "mse"
    X, y = blobs()
    default = model("multiclass", 3).fit(X, y).predict(X)
    named = model("multiclass", 3, loss="cross_entropy").fit(X, y).predict(X)
    mse = model("multiclass", 3, loss="mse").fit(X, y).predict(X)
    np.testing.assert_array_equal(default, named)
    assert not np.allclose(default, mse)


def test_regression_trains_on_mse_whatever_the_loss_says() -> None:
    X, _ = blobs()
    target = X[:, 0] * 2.0
    preds = [
        TorchModel(
            lambda: nn.Linear(4, 1),
            TrainConfig(epochs=3, batch_size=32, device="cpu", loss=loss),
            task="regression",
            n_classes=0,
            seed=0,
            metric=get_metric("rmse"),
        )
        .fit(X, target)
        .predict(X)
        for loss in ("cross_entropy", "mse")
    ]
    np.testing.assert_array_equal(preds[0], preds[1])


def test_an_unknown_loss_is_a_one_line_error_naming_the_choices() -> None:
    with pytest.raises(KKError, match=r"loss 'mae' is not known.*cross_entropy, mse"):
        TrainConfig(loss="mae")


def test_mse_with_the_wrong_number_of_outputs_is_a_one_line_error() -> None:
    task = get_task("multiclass")
    with pytest.raises(KKError, match=r"needs \(batch, 3\)"):
        train_loss(task, torch.zeros(2, 4), torch.tensor([0, 1]), loss="mse", n_classes=3)
