"""The shared PyTorch trainer on tiny synthetic data, on the CPU (GPU tests skip here)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from kagglekit.errors import KKError  # noqa: E402
from kagglekit.metrics import Metric, get_metric  # noqa: E402
from kagglekit.models.base import BuildContext, FoldContext  # noqa: E402
from kagglekit.torch import (  # noqa: E402
    TRAIN_PARAM_NAMES,
    BatchTransform,
    TrainConfig,
    split_params,
    torch_backend,
    train_config_from,
)
from kagglekit.torch.trainer import GPUOutOfMemoryError, TorchModel, lr_factor  # noqa: E402
from kagglekit.vision.tta import flip_tta  # noqa: E402

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # the test machine's cores are shared


# ----------------------------------------------------------------------------- helpers
def blobs(n: int = 160, d: int = 5, k: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``k`` well-separated Gaussian blobs: (n, d) float64 features, int64 labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centres = rng.normal(scale=4.0, size=(k, d))
    return centres[y] + rng.normal(size=(n, d)), y.astype(np.int64)


def mlp(d: int, n_out: int, dropout: float = 0.1) -> Callable[[], nn.Module]:
    return lambda: nn.Sequential(
        nn.Linear(d, 16), nn.ReLU(), nn.Dropout(dropout), nn.Linear(16, n_out)
    )


def make_model(
    task: str = "binary",
    *,
    d: int = 5,
    n_classes: int = 2,
    metric: Any = None,
    seed: int = 0,
    net: Callable[[], nn.Module] | None = None,
    holdout: float = 0.0,
    **config: Any,
) -> TorchModel:
    settings: dict[str, Any] = {"epochs": 4, "batch_size": 32, "lr": 0.05, "device": "cpu"}
    n_out = n_classes if task == "multiclass" else 1
    default_metric = {"binary": "roc_auc", "multiclass": "accuracy", "regression": "rmse"}[task]
    return TorchModel(
        net or mlp(d, n_out),
        TrainConfig(**{**settings, **config}),
        task=task,
        n_classes=n_classes if task == "multiclass" else 0,
        seed=seed,
        metric=metric or get_metric(default_metric),
        holdout=holdout,
        test_time_augment=flip_tta,  # what the image backends pass (used when tta is set)
    )


def split(X: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Fit keyword arguments: the first 3/4 of the rows train, the rest validate."""
    cut = 3 * len(y) // 4
    return {"X": X[:cut], "y": y[:cut], "X_valid": X[cut:], "y_valid": y[cut:]}


def fit(model: TorchModel, data: dict[str, Any], fold: FoldContext | None = None) -> TorchModel:
    return model.fit(
        data["X"], data["y"], X_valid=data["X_valid"], y_valid=data["y_valid"], fold=fold
    )


def scripted(scores: list[float], *, greater_is_better: bool = True) -> tuple[Metric, list]:
    """A metric that returns ``scores`` epoch by epoch and records the predictions scored."""
    seen: list[np.ndarray] = []

    def fn(y: Any, pred: Any) -> float:
        seen.append(np.array(pred))
        return scores[len(seen) - 1]

    return Metric("scripted", fn, greater_is_better, "probabilities", ("binary",)), seen


# --------------------------------------------------------------------------- learning
def test_learns_a_separable_binary_problem() -> None:
    data = split(*blobs())
    model = fit(make_model(epochs=6), data)
    pred = model.predict(data["X_valid"])
    assert pred.shape == (len(data["y_valid"]),) and pred.dtype == np.float64
    assert ((pred >= 0) & (pred <= 1)).all()
    assert get_metric("roc_auc")(data["y_valid"], pred) >= 0.99
    history = model.learned()["history"]
    assert history["train_loss"][-1] < history["train_loss"][0]


def test_multiclass_predicts_probability_rows() -> None:
    data = split(*blobs(k=3))
    model = fit(make_model("multiclass", n_classes=3, epochs=6), data)
    pred = model.predict(data["X_valid"])
    assert pred.shape == (len(data["y_valid"]), 3) and pred.dtype == np.float64
    np.testing.assert_allclose(pred.sum(axis=1), 1.0, atol=1e-6)
    assert get_metric("accuracy")(data["y_valid"], pred) >= 0.9


def test_regression_predicts_values() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(160, 5))
    y = X @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 10.0  # far from 0: values, not probabilities
    data = split(X, y)
    model = fit(make_model("regression", epochs=8, lr=0.05, net=mlp(5, 1, 0.0)), data)
    pred = model.predict(data["X_valid"])
    assert pred.shape == (len(data["y_valid"]),) and pred.dtype == np.float64
    assert pred.max() > 1.0  # not squashed into [0, 1]
    history = model.learned()["history"]
    assert history["valid_score"][-1] < history["valid_score"][0]  # rmse falls


def test_dict_inputs_reach_the_net_as_a_dict() -> None:
    X, y = blobs()

    class TwoInputs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.dense = nn.Linear(5, 1)
            self.ids = nn.Embedding(4, 1)

        def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            assert batch["ids"].dtype == torch.long  # ids stay integers for the embedding
            return self.dense(batch["dense"]) + self.ids(batch["ids"])

    ids = (np.arange(len(y)) % 4).astype(np.int32)
    model = make_model(net=TwoInputs)
    model.fit({"dense": X, "ids": ids}, y)
    assert model.predict({"dense": X[:7], "ids": ids[:7]}).shape == (7,)


# --------------------------------------------------------------- best epoch, stopping
def test_the_best_epochs_weights_are_kept() -> None:
    data = split(*blobs())
    metric, seen = scripted([0.5, 0.9, 0.6, 0.4])
    model = fit(make_model(metric=metric, epochs=4), data)
    learned = model.learned()
    assert learned["best_epoch"] == 1 and learned["n_epochs_run"] == 4
    # The predictions after fit are epoch 1's, not the last epoch's.
    np.testing.assert_array_equal(model.predict(data["X_valid"]), seen[1])
    assert not np.array_equal(seen[1], seen[3])


def test_keep_last_keeps_the_last_epoch_and_still_scores_each() -> None:
    # keep = "last": the scored rows choose nothing (honest CV for a fixed schedule), but
    # each epoch is still scored for the history and the pruning hook.
    data = split(*blobs())
    metric, seen = scripted([0.5, 0.9, 0.6, 0.4])
    calls: list[int] = []
    fold = FoldContext(repeat=0, fold=0, on_epoch=lambda e, s: calls.append(e))
    model = fit(make_model(metric=metric, epochs=4, keep="last"), data, fold)
    assert model.learned()["best_epoch"] == 3 and calls == [0, 1, 2, 3]
    np.testing.assert_array_equal(model.predict(data["X_valid"]), seen[3])
    assert model.learned()["history"]["valid_score"] == [0.5, 0.9, 0.6, 0.4]


def test_early_stopping_holdout_chooses_the_epoch_on_training_rows_not_the_scored_ones() -> None:
    # early_stopping_holdout = 0.25: a stratified quarter of the 120 training rows is held
    # out of the fit and every epoch is scored on those 30, never on the 40 validation rows
    # the fold is scored on; the best of them is kept, patience counts on them.
    data = split(*blobs())
    metric, seen = scripted([0.5, 0.9, 0.6, 0.4])
    model = fit(make_model(metric=metric, epochs=4, holdout=0.25), data)
    assert [len(p) for p in seen] == [30, 30, 30, 30]
    learned = model.learned()
    assert learned["best_epoch"] == 1 and learned["early_stopping_holdout_rows"] == 30
    assert model.predict(data["X_valid"]).shape == (40,)  # it still predicts the fold's rows
    # patience counts on the held-out rows too: two epochs worse than epoch 1 stop it.
    metric, seen = scripted([0.5, 0.9, 0.6, 0.4, 0.95, 0.99])
    stopped = fit(make_model(metric=metric, epochs=6, patience=2, holdout=0.25), data)
    assert stopped.learned()["stopped_early"] and stopped.learned()["n_epochs_run"] == 4
    assert [len(p) for p in seen] == [30, 30, 30, 30]
    # Token-id dicts (texts) are split row-wise the same way.
    X, y = blobs()
    ids = {"a": X[:120].astype(np.float32), "b": X[:120].astype(np.float32)}
    held = TorchModel(
        lambda: _TwoInputs(), TrainConfig(epochs=1, batch_size=32, device="cpu"),
        task="binary", n_classes=0, seed=0, metric=get_metric("roc_auc"), holdout=0.25,
    ).fit(ids, y[:120])  # fmt: skip
    assert held.learned()["early_stopping_holdout_rows"] == 30
    assert len(held.learned()["history"]["valid_score"]) == 1  # scored on the held rows
    with pytest.raises(KKError, match=r"early_stopping_holdout = 1.5 must be in \[0, 1\)"):
        make_model(holdout=1.5)


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(10, 1)

    def forward(self, batch: dict[str, Any]) -> Any:
        return self.head(torch.cat([batch["a"], batch["b"]], dim=1))


def test_keep_last_refuses_patience_and_unknown_keeps() -> None:
    with pytest.raises(KKError, match=r"^patience = 2 stops .* set patience = 0 or keep = 'best'"):
        TrainConfig(keep="last", patience=2)
    with pytest.raises(KKError, match="keep"):
        TrainConfig(keep="final")


def test_lower_is_better_metrics_pick_the_lowest_epoch() -> None:
    data = split(*blobs())
    metric, seen = scripted([0.5, 0.3, 0.1, 0.4], greater_is_better=False)
    model = fit(make_model(metric=metric, epochs=4), data)
    assert model.learned()["best_epoch"] == 2
    np.testing.assert_array_equal(model.predict(data["X_valid"]), seen[2])


def test_a_nan_score_never_beats_a_real_one() -> None:
    data = split(*blobs())
    metric, seen = scripted([math.nan, 0.5, 0.9, math.nan])
    model = fit(make_model(metric=metric, epochs=4), data)
    assert model.learned()["best_epoch"] == 2
    np.testing.assert_array_equal(model.predict(data["X_valid"]), seen[2])


def test_early_stopping_stops_after_patience_epochs_without_progress() -> None:
    data = split(*blobs())
    metric, _ = scripted([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    calls: list[tuple[int, float]] = []
    fold = FoldContext(repeat=0, fold=0, on_epoch=lambda e, s: calls.append((e, s)))
    model = fit(make_model(metric=metric, epochs=6, patience=2), data, fold)
    learned = model.learned()
    assert learned["n_epochs_run"] == 3 and learned["stopped_early"]
    assert calls == [(0, 0.9), (1, 0.8), (2, 0.7)]


def test_history_is_a_dict_of_per_epoch_lists() -> None:
    data = split(*blobs())
    model = fit(make_model(epochs=3), data)
    history = model.learned()["history"]
    assert set(history) == {"train_loss", "valid_loss", "valid_score", "lr", "seconds"}
    assert all(len(v) == 3 for v in history.values())
    assert all(isinstance(x, float) and math.isfinite(x) for v in history.values() for x in v)
    # The recorded score of the best epoch is the score of what predict returns.
    best = model.learned()["best_epoch"]
    score = get_metric("roc_auc")(data["y_valid"], model.predict(data["X_valid"]))
    assert history["valid_score"][best] == pytest.approx(score)


def test_without_validation_rows_the_last_epoch_is_kept() -> None:
    X, y = blobs()
    calls: list[int] = []
    model = make_model(epochs=3).fit(
        X, y, fold=FoldContext(repeat=0, fold=0, on_epoch=lambda e, s: calls.append(e))
    )
    assert model.learned()["best_epoch"] == 2 and calls == []
    assert all(math.isnan(s) for s in model.learned()["history"]["valid_score"])


def test_no_metric_scores_with_the_validation_loss() -> None:
    data = split(*blobs())
    model = TorchModel(
        mlp(5, 1),
        TrainConfig(epochs=3, batch_size=32, device="cpu"),
        task="binary",
        n_classes=0,
        seed=0,
    )
    history = fit(model, data).learned()["history"]
    assert history["valid_score"] == history["valid_loss"]
    assert model.learned()["best_epoch"] == int(np.argmin(history["valid_loss"]))


# ---------------------------------------------------------- optimisers and schedules
@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "step", "constant"])
@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_each_optimizer_and_schedule_steps_and_follows_the_schedule(
    optimizer: str, schedule: str
) -> None:
    X, y = blobs(n=128)
    cfg: dict[str, Any] = {
        "optimizer": optimizer,
        "schedule": schedule,
        "epochs": 4,
        "warmup_epochs": 1.5,
        "step_size": 1,
        "gamma": 0.5,
        "lr": 0.1,
        "batch_size": 32,
    }
    model = make_model(**cfg)
    torch.manual_seed(0)
    before = [p.detach().clone() for p in mlp(5, 1)().parameters()]  # same seed: same init
    model.fit(X, y)
    after = list(model.net_.parameters())  # type: ignore[union-attr]
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True))
    # history["lr"] is the rate of each epoch's last step: lr * factor(step).
    factor = lr_factor(model.config, 4, 4)
    expected = [0.1 * factor(4 * (e + 1) - 1) for e in range(4)]
    np.testing.assert_allclose(model.learned()["history"]["lr"], expected, rtol=1e-6)


class Stacked(nn.Module):
    """Three linear layers that name their groups, bottom first, as an encoder does."""

    def __init__(self) -> None:
        super().__init__()
        self.low, self.mid, self.head = nn.Linear(5, 8), nn.Linear(8, 8), nn.Linear(8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.mid(torch.relu(self.low(x)))))

    def layer_groups(self) -> list[list[nn.Parameter]]:
        return [
            list(self.low.parameters()),
            list(self.mid.parameters()),
            list(self.head.parameters()),
        ]


def test_layer_decay_gives_each_lower_group_a_smaller_rate_and_logs_the_heads() -> None:
    X, y = blobs(n=128)
    model = make_model(net=Stacked, layer_decay=0.5, lr=0.1, schedule="constant", epochs=2)
    model.fit(X, y)
    from kagglekit.torch.optim import make_optimizer

    optimizer = make_optimizer(Stacked(), model.config)
    assert [g["lr"] for g in optimizer.param_groups] == pytest.approx([0.025, 0.05, 0.1])
    assert model.learned()["history"]["lr"] == pytest.approx([0.1, 0.1])  # the head's rate
    # 1 (the default) is one group at lr, and leaves the checkpoint fingerprint as it was.
    assert len(make_optimizer(Stacked(), TrainConfig(lr=0.1)).param_groups) == 1
    assert "layer_decay" not in TrainConfig().fingerprint_fields()
    assert TrainConfig(layer_decay=0.8).fingerprint_fields()["layer_decay"] == 0.8


def test_layer_decay_is_refused_outside_zero_one_and_for_nets_without_groups() -> None:
    for bad in (0.0, 1.5, -0.2):
        with pytest.raises(KKError, match=rf"layer_decay = {bad} must be in \(0, 1\]; try 0.8"):
            TrainConfig(layer_decay=bad)
    X, y = blobs(n=64)
    with pytest.raises(KKError, match=r"needs a net that names its layer groups.*Sequential"):
        make_model(layer_decay=0.8).fit(X, y)


def test_lr_factor_warms_up_then_follows_each_schedule() -> None:
    def factors(**kw: Any) -> list[float]:
        f = lr_factor(TrainConfig(epochs=4, **kw), 2, 4)
        return [round(f(s), 4) for s in range(8)]

    # Fractional warm-up: 1.5 epochs x 2 steps = 3 warm-up steps, rising linearly.
    assert factors(schedule="constant", warmup_epochs=1.5) == [0.3333, 0.6667, 1, 1, 1, 1, 1, 1]
    assert factors(schedule="step", step_size=1, gamma=0.5) == [
        1,
        1,
        0.5,
        0.5,
        0.25,
        0.25,
        0.125,
        0.125,
    ]
    cosine = factors(schedule="cosine")
    assert cosine[0] == 1 and cosine == sorted(cosine, reverse=True) and cosine[-1] < 0.05
    assert factors(schedule="onecycle", warmup_epochs=1) == [
        0.5,
        1,
        1,
        0.8333,
        0.6667,
        0.5,
        0.3333,
        0.1667,
    ]


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_label_smoothing_caps_confidence_at_its_optimum(task: str) -> None:
    # With smoothing e, the loss is lowest at P(true class) = 1 - e/2 (two classes).
    X, y = blobs(n=64)
    n_out = 2 if task == "multiclass" else 1

    def max_prob(smoothing: float) -> float:
        model = make_model(
            task,
            n_classes=2,
            epochs=30,
            lr=0.05,
            batch_size=64,
            schedule="constant",
            label_smoothing=smoothing,
            net=mlp(5, n_out, 0.0),
        )
        pred = model.fit(X, y).predict(X)
        p_true = pred[np.arange(len(y)), y] if task == "multiclass" else np.where(y, pred, 1 - pred)
        return float(p_true.mean())

    assert max_prob(0.4) == pytest.approx(0.8, abs=0.03)
    assert max_prob(0.0) > 0.97


def test_grad_clip_bounds_the_update() -> None:
    # One plain SGD step (no momentum, one batch): the update is lr x the clipped gradient.
    X, y = blobs(n=32)
    X = X * 100  # a gradient far larger than the clip

    def linear() -> nn.Module:
        net = nn.Linear(5, 1)
        nn.init.zeros_(net.weight)
        nn.init.zeros_(net.bias)
        return net

    def step_norm(grad_clip: float) -> float:
        model = make_model(
            epochs=1,
            batch_size=32,
            optimizer="sgd",
            momentum=0.0,
            nesterov=False,
            lr=0.1,
            schedule="constant",
            grad_clip=grad_clip,
            net=linear,
        )
        model.fit(X, y)
        return float(torch.cat([p.detach().flatten() for p in model.net_.parameters()]).norm())  # type: ignore[union-attr]

    assert step_norm(0.5) == pytest.approx(0.1 * 0.5, rel=1e-5)
    assert step_norm(0.0) > 1.0


# --------------------------------------------------------------------------- predict
def test_flip_tta_is_the_mean_of_plain_and_mirrored_predictions() -> None:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(48, 1, 6, 6), dtype=np.uint8)
    y = (X[:, 0, :, :3].mean(axis=(1, 2)) > X[:, 0, :, 3:].mean(axis=(1, 2))).astype(np.int64)

    def conv() -> nn.Module:
        return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))

    model = make_model("multiclass", n_classes=3, epochs=2, batch_size=16, net=conv)
    model.fit(X, y)
    plain, mirrored = model.predict(X), model.predict(X[..., ::-1].copy())
    assert not np.allclose(plain, mirrored)
    model.config = replace(model.config, tta="flip")
    np.testing.assert_allclose(model.predict(X), (plain + mirrored) / 2, atol=1e-6)


def test_tta_on_images_without_a_test_time_augment_hook_is_a_one_line_error() -> None:
    X = np.random.default_rng(0).integers(0, 256, size=(32, 1, 6, 6), dtype=np.uint8)
    y = np.arange(32) % 2
    cfg = TrainConfig(epochs=1, batch_size=16, device="cpu", tta="flip")
    flat = lambda: nn.Sequential(nn.Flatten(), nn.Linear(36, 1))  # noqa: E731
    model = TorchModel(flat, cfg, task="binary", n_classes=0, seed=0).fit(X, y)
    with pytest.raises(KKError, match="pass test_time_augment="):
        model.predict(X)


def test_predict_before_fit_is_an_error() -> None:
    with pytest.raises(KKError, match="before fit"):
        make_model().predict(np.zeros((2, 5)))


def test_bad_targets_and_net_outputs_are_one_line_errors() -> None:
    X, y = blobs()
    with pytest.raises(KKError, match="class indices"):
        make_model().fit(X, y + 5)
    with pytest.raises(KKError, match="n_outputs = 1"):
        make_model(net=mlp(5, 2)).fit(X, y)
    with pytest.raises(KKError, match="numeric arrays"):
        make_model().fit(np.array([["a"] * 5] * len(y), dtype=object), y)


# ----------------------------------------------------------------- checkpoint, resume
class Interrupt(Exception):
    """Stands in for Ctrl-C or optuna.TrialPruned raised from the per-epoch hook."""


def _raise_at(epoch: int) -> Callable[[int, float], None]:
    def hook(e: int, score: float) -> None:
        if e == epoch:
            raise Interrupt(f"stopped at epoch {e}")

    return hook


@pytest.mark.parametrize("extra", [{}, {"ema_decay": 0.8}], ids=["plain", "ema"])
def test_resume_after_an_interrupt_gives_the_uninterrupted_result(
    tmp_path: Path, extra: dict[str, Any]
) -> None:
    # With ema_decay the average is in the checkpoint too: a resumed fit continues it.
    data = split(*blobs())
    config = {"epochs": 5, "optimizer": "sgd", "schedule": "onecycle", "warmup_epochs": 1, **extra}
    whole = fit(make_model(**config), data, FoldContext(0, 0, checkpoint_dir=tmp_path / "a"))

    fold = FoldContext(0, 0, checkpoint_dir=tmp_path / "b", on_epoch=_raise_at(2))
    with pytest.raises(Interrupt):
        fit(make_model(**config), data, fold)
    resumed = fit(make_model(**config), data, FoldContext(0, 0, checkpoint_dir=tmp_path / "b"))

    assert resumed.learned()["resumed_at_epoch"] == 3
    np.testing.assert_allclose(
        resumed.predict(data["X_valid"]), whole.predict(data["X_valid"]), atol=1e-6, rtol=0
    )
    for key in ("train_loss", "valid_loss", "valid_score", "lr"):
        assert resumed.learned()["history"][key] == whole.learned()["history"][key]
    assert resumed.learned()["best_epoch"] == whole.learned()["best_epoch"]


def test_keep_last_resumes_exactly_and_checkpoints_one_copy_of_the_weights(
    tmp_path: Path,
) -> None:
    # keep = "last" copies the weights only at the last epoch: a mid-run checkpoint holds
    # the net once (no best_state), and resuming from it gives the uninterrupted fit.
    data = split(*blobs())
    config = {"epochs": 4, "optimizer": "sgd", "schedule": "onecycle", "keep": "last"}
    whole = fit(make_model(**config), data, FoldContext(0, 0, checkpoint_dir=tmp_path / "a"))
    fold = FoldContext(0, 0, checkpoint_dir=tmp_path / "b", on_epoch=_raise_at(1))
    with pytest.raises(Interrupt):
        fit(make_model(**config), data, fold)
    saved = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert saved["best_state"] is None and saved["net"] is not None and saved["best_epoch"] == 1
    resumed = fit(make_model(**config), data, FoldContext(0, 0, checkpoint_dir=tmp_path / "b"))
    assert resumed.learned()["resumed_at_epoch"] == 2 and resumed.learned()["best_epoch"] == 3
    np.testing.assert_allclose(
        resumed.predict(data["X_valid"]), whole.predict(data["X_valid"]), atol=1e-6, rtol=0
    )
    done = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert done["done"] and done["net"] is None and done["best_state"] is not None
    again = fit(make_model(**config), data, FoldContext(0, 0, checkpoint_dir=tmp_path / "b"))
    np.testing.assert_array_equal(again.predict(data["X_valid"]), resumed.predict(data["X_valid"]))


def test_ema_scores_and_keeps_the_averaged_weights_and_leaves_training_alone() -> None:
    data = split(*blobs())
    config = {"epochs": 3, "optimizer": "sgd", "schedule": "constant", "keep": "last"}
    plain = fit(make_model(**config), data)
    averaged = fit(make_model(**config, ema_decay=0.9), data)
    # The live weights train as without it: the same losses step for step.
    assert averaged.learned()["history"]["train_loss"] == plain.learned()["history"]["train_loss"]
    # The averaged weights are scored and kept: other scores, other predictions.
    assert averaged.learned()["history"]["valid_loss"] != plain.learned()["history"]["valid_loss"]
    assert not np.allclose(averaged.predict(data["X_valid"]), plain.predict(data["X_valid"]))
    # An average over (almost) one step is the last weights: what is kept is the average,
    # and the live weights went back after each epoch's scoring.
    last = fit(make_model(**config, ema_decay=1e-9), data)
    np.testing.assert_allclose(
        last.predict(data["X_valid"]), plain.predict(data["X_valid"]), atol=1e-6, rtol=0
    )
    assert "ema_decay" not in TrainConfig().fingerprint_fields()  # old checkpoints resume
    assert TrainConfig(ema_decay=0.99).fingerprint_fields()["ema_decay"] == 0.99


def test_a_finished_fold_refits_instantly_from_its_checkpoint(tmp_path: Path) -> None:
    data = split(*blobs())
    first = fit(make_model(), data, FoldContext(0, 0, checkpoint_dir=tmp_path))
    calls: list[int] = []
    fold = FoldContext(0, 0, checkpoint_dir=tmp_path, on_epoch=lambda e, s: calls.append(e))
    again = fit(make_model(), data, fold)
    assert calls == []  # no epoch was trained
    np.testing.assert_array_equal(again.predict(data["X_valid"]), first.predict(data["X_valid"]))
    assert again.learned()["history"] == first.learned()["history"]
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temp files left


def test_a_checkpoint_from_another_config_is_a_one_line_error(tmp_path: Path) -> None:
    data = split(*blobs())
    fit(make_model(lr=0.01), data, FoldContext(0, 0, checkpoint_dir=tmp_path))
    with pytest.raises(KKError) as err:
        fit(make_model(lr=0.02), data, FoldContext(0, 0, checkpoint_dir=tmp_path))
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / "checkpoint.pt") in message
    assert "delete it" in message


def test_an_unreadable_checkpoint_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(KKError, match=r"cannot be read.*delete it"):
        fit(make_model(), split(*blobs()), FoldContext(0, 0, checkpoint_dir=tmp_path))


def test_on_epoch_exceptions_pass_through_leaving_a_whole_checkpoint(tmp_path: Path) -> None:
    data = split(*blobs())
    fold = FoldContext(0, 0, checkpoint_dir=tmp_path, on_epoch=_raise_at(0))
    with pytest.raises(Interrupt, match="epoch 0"):
        fit(make_model(), data, fold)
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert saved["epoch"] == 0 and not saved["done"]


def test_fit_stats_are_computed_once_from_the_training_rows_and_saved(tmp_path: Path) -> None:
    data = split(*blobs())
    seen: list[int] = []

    def fit_stats(X: np.ndarray) -> dict[str, Any]:
        seen.append(len(X))
        return {"mean": X.mean(axis=0).astype(np.float32), "std": X.std(axis=0).astype(np.float32)}

    def prepare(xb: Any, train: bool, generator: Any, stats: Any) -> Any:
        return (xb - stats["mean"]) / stats["std"]

    def build() -> TorchModel:
        model = make_model(epochs=3)
        model.batch_transform, model.fit_stats = prepare, fit_stats
        return model

    fold = FoldContext(0, 0, checkpoint_dir=tmp_path, on_epoch=_raise_at(1))
    with pytest.raises(Interrupt):
        fit(build(), data, fold)
    model = fit(build(), data, FoldContext(0, 0, checkpoint_dir=tmp_path))
    assert seen == [len(data["y"])]  # once, on the training rows; the resume read it back
    assert get_metric("accuracy")(data["y_valid"], model.predict(data["X_valid"])) >= 0.95


# ------------------------------------------------------------- devices, determinism
def test_the_same_seed_gives_identical_predictions() -> None:
    data = split(*blobs())
    a, b, c = (fit(make_model(seed=s, deterministic=True), data) for s in (7, 7, 8))
    np.testing.assert_array_equal(a.predict(data["X"]), b.predict(data["X"]))
    assert not np.array_equal(a.predict(data["X"]), c.predict(data["X"]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_device_cuda_without_a_gpu_is_a_one_line_error() -> None:
    with pytest.raises(KKError, match='device = "cpu"') as err:
        make_model(device="cuda").fit(*blobs())
    assert "\n" not in str(err.value)


def test_fp16_on_the_cpu_is_a_one_line_error() -> None:
    with pytest.raises(KKError, match=r"fp16.*needs a CUDA GPU"):
        make_model(precision="fp16").fit(*blobs())


def test_bf16_autocast_runs_on_the_cpu() -> None:
    data = split(*blobs())
    model = fit(make_model(precision="bf16", epochs=2), data)
    assert model.learned()["precision"] == "bf16"
    assert model.predict(data["X_valid"]).dtype == np.float64


def test_gpu_out_of_memory_is_a_trial_failure_naming_the_batch_size() -> None:
    class Exhausted(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.linear = nn.Linear(5, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")

    with pytest.raises(GPUOutOfMemoryError, match=r"batch_size=32; lower batch_size \(e.g. 16\)"):
        make_model(net=Exhausted).fit(*blobs())


def test_learned_reports_throughput_memory_and_size() -> None:
    model = fit(make_model(epochs=3), split(*blobs()))
    learned = model.learned()
    assert learned["device"] == "cpu" and learned["precision"] == "fp32"
    assert learned["samples_per_second"] > 0 and learned["peak_rss_mb"] > 0
    assert learned["n_parameters"] == 5 * 16 + 16 + 16 + 1


def test_progress_is_called_once_per_epoch() -> None:
    reports: list[dict[str, Any]] = []
    model = make_model(epochs=3)
    model.progress = reports.append
    fit(model, split(*blobs()))
    assert [r["epoch"] for r in reports] == [0, 1, 2]
    assert all(r["n_epochs"] == 3 and r["samples_per_second"] > 0 for r in reports)


def test_importing_the_trainer_without_torch_gives_the_install_hint() -> None:
    code = (
        "import sys\n"
        "class NoTorch:  # an environment without torch: its import fails\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "import kagglekit.torch  # the light half needs no torch\n"
        "from kagglekit.errors import KKError\n"
        "try:\n"
        "    import kagglekit.torch.trainer\n"
        "except KKError as err:\n"
        "    print(err)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "shared")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert "torch' is not installed; install it with: pip install 'kagglekit[vision]'" in out.stdout


# ------------------------------------------------------------- params and the backend
def test_split_params_separates_trainer_and_net_settings() -> None:
    train, net = split_params({"epochs": 3, "lr": 0.1, "width": 64})
    assert train == {"epochs": 3, "lr": 0.1} and net == {"width": 64}
    assert train_config_from({"epochs": 3, "width": 64}) == TrainConfig(epochs=3)
    assert {"epochs", "patience", "tta", "precision"} <= TRAIN_PARAM_NAMES


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"epochs": 0}, "epochs = 0 must be >= 1"),
        ({"lr": -1.0}, "lr = -1.0 must be > 0"),
        ({"optimizer": "adam"}, "optimizer 'adam' is not known; did you mean 'adamw'"),
        ({"schedule": "linear"}, "schedule 'linear' is not known"),
        ({"device": "gpu"}, "device = 'gpu' is not known"),
        ({"batch_size": 2.5}, "batch_size = 2.5 must be an integer"),
        ({"channels_last": "yes"}, "channels_last = 'yes' must be true or false"),
        ({"warmup_epochs": 20}, "warmup_epochs = 20.0 must be between 0 and epochs"),
        ({"optimizer": "sgd", "momentum": 0.0}, "nesterov = true needs momentum > 0"),
        ({"label_smoothing": 1.0}, "label_smoothing = 1.0 must be in"),
        ({"ema_decay": 1.0}, r"ema_decay = 1.0 must be in \[0, 1\) \(0 = off\); try 0.99"),
    ],
)
def test_bad_train_config_values_are_one_line_errors(bad: dict[str, Any], match: str) -> None:
    with pytest.raises(KKError, match=match) as err:
        TrainConfig(**bad)
    assert "\n" not in str(err.value)


def _mlp_factory(params: dict[str, Any], *, n_outputs: int, info: dict[str, Any]) -> Any:
    return mlp(info["n_features"], n_outputs, params.get("dropout", 0.0))


def test_torch_backend_builds_a_ready_model_from_the_entry_params() -> None:
    backend = torch_backend(
        "mlp",
        _mlp_factory,
        accepts=("frame",),
        default_params={"epochs": 3, "device": "cpu"},
        net_param_names=("dropout",),
    )
    assert backend.family == "torch" and not backend.is_tabular
    backend.check_params({"epochs": 2, "dropout": 0.1}, "multiclass")
    with pytest.raises(KKError, match="did you mean 'dropout'"):
        backend.check_params({"dropuot": 0.1}, "multiclass")
    ctx = BuildContext(
        task="multiclass",
        n_classes=3,
        seed=1,
        params={"lr": 0.02, "dropout": 0.1},
        early_stopping_rounds=0,
        metric=get_metric("accuracy"),
        info={"n_features": 5},
    )
    model = backend.build(ctx)
    assert isinstance(model, TorchModel)
    assert model.config.epochs == 3 and model.config.lr == 0.02 and model.seed == 1
    data = split(*blobs(k=3))
    assert fit(model, data).predict(data["X_valid"]).shape == (len(data["y_valid"]), 3)


def test_smoke_mode_caps_epochs_and_batches() -> None:
    transform = BatchTransform(prepare=lambda xb, train, gen, stats: xb.float())
    backend = torch_backend(
        "mlp",
        _mlp_factory,
        net_param_names=("dropout",),
        batch_transform_factory=lambda c: transform,
    )
    ctx = BuildContext(
        task="binary",
        n_classes=2,
        seed=0,
        params={"epochs": 50, "batch_size": 4, "device": "cpu"},
        early_stopping_rounds=0,
        metric=get_metric("roc_auc"),
        info={"n_features": 5},
        smoke=True,
    )
    reports: list[dict[str, Any]] = []
    model = backend.build(ctx)
    model.progress = reports.append
    fit(model, split(*blobs()))
    assert model.learned()["n_epochs_run"] == 2
    assert [r["samples"] for r in reports] == [5 * 4, 5 * 4]  # 5 batches of 4 rows per epoch


# ------------------------------------------------------------------------------- GPU
@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("precision", ["auto", "bf16", "fp16"])
def test_gpu_mixed_precision_learns(precision: str) -> None:
    data = split(*blobs())
    model = fit(make_model(device="cuda", precision=precision, epochs=6), data)
    learned = model.learned()
    assert learned["device"].startswith("cuda") and learned["peak_gpu_mb"] > 0
    assert learned["precision"] in ({"bf16", "fp16"} if precision == "auto" else {precision})
    pred = model.predict(data["X_valid"])
    assert pred.dtype == np.float64 and get_metric("accuracy")(data["y_valid"], pred) >= 0.95


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("compile_net", [False, True])
def test_gpu_channels_last_images_and_compile(compile_net: bool) -> None:
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(256, 3, 8, 8), dtype=np.uint8)
    y = (X[:, 0].mean(axis=(1, 2)) > 127).astype(np.int64)

    def conv() -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, 2),
        )

    model = make_model(
        "multiclass",
        n_classes=2,
        net=conv,
        device="cuda",
        channels_last=True,
        compile=compile_net,
        tta="flip",
        epochs=3,
        batch_size=64,
    )
    model.fit(X[:192], y[:192], X_valid=X[192:], y_valid=y[192:])
    conv_weight = next(p for p in model.net_.parameters() if p.ndim == 4)  # type: ignore[union-attr]
    assert conv_weight.is_contiguous(memory_format=torch.channels_last)
    pred = model.predict(X[192:])
    assert pred.shape == (64, 2) and np.isfinite(pred).all()


@pytest.mark.gpu
@needs_cuda
def test_gpu_resume_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    data = split(*blobs())
    config = {"device": "cuda", "precision": "fp32", "deterministic": True, "epochs": 4}
    whole = fit(make_model(**config), data)
    with pytest.raises(Interrupt):
        fit(make_model(**config), data, FoldContext(0, 0, tmp_path, on_epoch=_raise_at(1)))
    resumed = fit(make_model(**config), data, FoldContext(0, 0, tmp_path))
    np.testing.assert_allclose(
        resumed.predict(data["X_valid"]), whole.predict(data["X_valid"]), atol=1e-6, rtol=0
    )


def test_the_cv_loop_trains_a_torch_backend_on_every_fold() -> None:
    from kagglekit import folds, training
    from kagglekit.tasks import get_task

    X, y = blobs(n=150, k=3)
    assignment = np.random.default_rng(0).permutation(np.arange(len(y)) % 3)[None, :]
    fold_set = folds.Folds(assignment=assignment, hash="h", kind="kfold", n_splits=3)
    backend = torch_backend("mlp", _mlp_factory, default_params={"epochs": 4, "device": "cpu"})
    ctx = BuildContext(
        task="multiclass",
        n_classes=3,
        seed=0,
        params={"lr": 0.05, "batch_size": 25},
        early_stopping_rounds=0,
        metric=get_metric("accuracy"),
        info={"n_features": 5},
    )
    result = training.cross_validate(
        X,
        y,
        fold_set,
        lambda: backend.build(ctx),
        get_metric("accuracy"),
        task=get_task("multiclass"),
        X_test=X[:10],
        n_outputs=3,
    )
    assert result.oof.shape == (1, 150, 3) and not np.isnan(result.oof).any()
    assert result.test_pred is not None and result.test_pred.shape == (10, 3)
    assert result.mean >= 0.9
    for fold_result in result.folds:
        history = fold_result.learned["history"]
        best = fold_result.learned["best_epoch"]
        assert history["valid_score"][best] == pytest.approx(fold_result.score)
