"""The small Vision Transformer (``vit``): patches as tokens, its checks, its backend."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from kagglekit.errors import DoesNotFit, KKError  # noqa: E402
from kagglekit.metrics import get_metric  # noqa: E402
from kagglekit.models.base import BuildContext, get_backend  # noqa: E402
from kagglekit.vision import nets  # noqa: E402
from kagglekit.vision.testing import tiny_images  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # the test machine's cores are shared


def test_each_patch_is_one_token_and_both_poolings_give_logits() -> None:
    for pool in ("mean", "cls"):
        net = nets.vit((3, 32, 32), 10, patch=4, dim=16, depth=1, heads=2, pool=pool)
        assert net.pos.shape == (1, 8 * 8 + 1, 16)  # 64 patch tokens and the class token
        assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    grey = nets.vit((1, 28, 28), 3, patch=7, dim=8, depth=1, heads=1)
    assert grey.pos.shape == (1, 16 + 1, 8)


def test_the_positions_are_learnt_attention_alone_ignores_where_a_patch_is() -> None:
    """Without position embeddings a ViT cannot tell a patch's place: shuffling the
    patches leaves its mean-pooled output unchanged. With them, it can."""
    torch.manual_seed(0)
    net = nets.vit((1, 8, 8), 4, patch=4, dim=8, depth=1, heads=2).eval()
    x = torch.randn(1, 1, 8, 8)
    swapped = x.clone()
    swapped[..., :4, :], swapped[..., 4:, :] = x[..., 4:, :], x[..., :4, :]  # rows of patches
    with torch.no_grad():
        assert not torch.allclose(net(x), net(swapped), atol=1e-6)
        net.pos.zero_()
        torch.testing.assert_close(net(x), net(swapped), atol=1e-5, rtol=1e-5)


def test_vit_errors_are_one_line_and_say_what_to_change() -> None:
    with pytest.raises(DoesNotFit, match=r"patch = 5 must divide the 32 x 32 inputs"):
        nets.vit((3, 32, 32), 10, patch=5)
    with pytest.raises(KKError, match=r"dim = 100 must be a multiple of heads = 3"):
        nets.vit((3, 32, 32), 10, dim=100, heads=3)
    with pytest.raises(KKError, match=r"vit pool 'max' is not known"):
        nets.vit((3, 32, 32), 10, pool="max")
    with pytest.raises(
        KKError, match=r"vit net parameter 'depht' is not known; did you mean 'depth'"
    ):
        nets.build_net("vit", (3, 32, 32), 10, {"depht": 2})


def test_the_vit_backend_trains_with_its_recipe_and_repeats_with_its_seed() -> None:
    X, y = tiny_images(96, (3, 16, 16), 3, seed=0)
    params = {
        "dim": 16,
        "depth": 1,
        "heads": 2,
        "epochs": 3,
        "warmup_epochs": 1,
        "batch_size": 16,
        "device": "cpu",
    }
    preds = []
    for _ in range(2):
        ctx = BuildContext(
            task="multiclass", n_classes=3, seed=0, params=params, early_stopping_rounds=0,
            metric=get_metric("accuracy"), info={"input_shape": (3, 16, 16)},
        )  # fmt: skip
        model = get_backend("vit", task="multiclass").build(ctx)
        # The backend's DeiT-style defaults: AdamW, weight decay, smoothing, clipping.
        cfg = model.config
        assert (cfg.optimizer, cfg.weight_decay, cfg.label_smoothing) == ("adamw", 0.05, 0.1)
        assert cfg.grad_clip == 1.0
        model.fit(X[:72], y[:72], X_valid=X[72:], y_valid=y[72:])
        preds.append(model.predict(X[72:]))
    assert preds[0].shape == (24, 3)
    np.testing.assert_allclose(preds[0].sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(preds[0], preds[1])
