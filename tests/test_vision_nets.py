"""Every registered net builds for grey 28 x 28 and colour 32 x 32 inputs and can learn."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from kagglekit.errors import KKError  # noqa: E402
from kagglekit.vision import nets  # noqa: E402

torch.set_num_threads(1)

SHAPES = [(1, 28, 28), (3, 32, 32)]
# Small widths keep the tests fast; the defaults are checked for size separately.
SMALL: dict[str, dict[str, object]] = {
    "mlp": {"hidden": [32, 16]},
    "lenet5": {},
    "cnn": {"channels": [8, 16], "convs_per_block": 1},
    "resnet": {"widths": [8, 8, 16, 16]},
    "fastnet": {"widths": [8, 16, 16]},
    "vit": {"dim": 16, "depth": 1, "heads": 2},
    "timm_backbone": {"name": "resnet18"},
}
# Trainable parameters of the default nets for (1, 28, 28) and (3, 32, 32) inputs: sane
# ranges, not exact counts (LeNet-5 on 32 x 32 grey is LeCun's ~61.7k).
DEFAULT_SIZES = {
    "mlp": (200_000, 900_000),
    "lenet5": (40_000, 80_000),
    "cnn": (100_000, 500_000),
    "resnet": (6_000_000, 7_000_000),
    "fastnet": (1_900_000, 2_000_000),  # airbench94's widths: ~1.97M trainable
    "vit": (1_700_000, 1_900_000),  # dim 192, depth 6: a ViT-Tiny narrowed for 32 x 32
}


def needs_timm(name: str) -> None:
    if name == "timm_backbone":
        pytest.importorskip("timm")


def test_every_net_has_small_test_params() -> None:
    assert set(SMALL) == set(nets.NETS)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", sorted(nets.NETS))
def test_net_forward_shape(name: str, shape: tuple[int, int, int]) -> None:
    needs_timm(name)
    torch.manual_seed(0)
    net = nets.build_net(name, shape, 7, SMALL[name])
    net.eval()
    with torch.no_grad():
        out = net(torch.randn(3, *shape))
    assert out.shape == (3, 7) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("name", sorted(DEFAULT_SIZES))
def test_default_net_sizes(name: str, shape: tuple[int, int, int]) -> None:
    low, high = DEFAULT_SIZES[name]
    assert low <= nets.count_parameters(nets.build_net(name, shape, 10)) <= high


def test_lenet5_is_lecuns_on_32x32() -> None:
    # C1 156 + C3 2416 + C5 48120 + F6 10164 + output 850 (10 classes, fully connected C3).
    assert nets.count_parameters(nets.lenet5((1, 32, 32), 10)) == 61_706
    # 28 x 28 is padded to 32 by the first conv, so the net is the same size.
    assert nets.count_parameters(nets.lenet5((1, 28, 28), 10)) == 61_706


@pytest.mark.parametrize("name", sorted(nets.NETS))
def test_a_few_sgd_steps_reduce_the_loss(name: str) -> None:
    needs_timm(name)
    torch.manual_seed(0)
    shape = (1, 28, 28)
    net = nets.build_net(name, shape, 3, SMALL[name])
    x = torch.randn(12, *shape)
    y = torch.arange(12) % 3
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    net.train()
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    net.eval()
    with torch.no_grad():
        final = float(loss_fn(net(x), y))
    assert final < losses[0]


def test_mlp_options_change_the_layers() -> None:
    plain = nets.mlp((1, 4, 4), 2, hidden=[8])
    full = nets.mlp((1, 4, 4), 2, hidden=[8], activation="gelu", dropout=0.5, batch_norm=True)
    kinds = [type(m).__name__ for m in full]
    assert kinds == ["Flatten", "Linear", "BatchNorm1d", "GELU", "Dropout", "Linear"]
    assert [type(m).__name__ for m in plain] == ["Flatten", "Linear", "ReLU", "Linear"]
    logistic = nets.mlp((1, 4, 4), 2, hidden=[])
    assert nets.count_parameters(logistic) == 16 * 2 + 2
    for activation in nets.ACTIVATIONS:
        assert nets.mlp((1, 4, 4), 2, activation=activation)(torch.zeros(2, 1, 4, 4)).shape == (
            2,
            2,
        )


def test_cnn_options() -> None:
    with_bn = nets.cnn((1, 28, 28), 10, batch_norm=True, dropout=0.25)
    without = nets.cnn((1, 28, 28), 10, batch_norm=False)
    names = {type(m).__name__ for m in with_bn}
    assert {"BatchNorm2d", "Dropout"} <= names
    assert not {"BatchNorm2d", "Dropout"} & {type(m).__name__ for m in without}
    flat = nets.cnn((1, 28, 28), 10, head="flatten")
    assert flat(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    # 128 x 3 x 3 features into the head instead of 128.
    assert (
        nets.count_parameters(flat) - nets.count_parameters(nets.cnn((1, 28, 28), 10))
        == 8 * 128 * 10
    )


def test_net_errors() -> None:
    with pytest.raises(KKError, match=r"activation 'rleu' is not known; did you mean 'relu'"):
        nets.mlp((1, 28, 28), 10, activation="rleu")
    with pytest.raises(
        KKError, match=r"mlp net parameter 'hiden' is not known; did you mean 'hidden'"
    ):
        nets.build_net("mlp", (1, 28, 28), 10, {"hiden": [8]})
    with pytest.raises(KKError, match=r"net 'resnet50' is not known; did you mean 'resnet'"):
        nets.build_net("resnet50", (1, 28, 28), 10)
    with pytest.raises(KKError, match=r"dropout must be in \[0, 1\), got 1.5"):
        nets.cnn((1, 28, 28), 10, dropout=1.5)
    with pytest.raises(KKError, match=r"too small for 4 pooling blocks"):
        nets.cnn((1, 12, 12), 10, channels=[8, 8, 8, 8])
    with pytest.raises(KKError, match=r"cnn head 'pool' is not known"):
        nets.cnn((1, 28, 28), 10, head="pool")
    with pytest.raises(KKError, match=r"widths needs 4 entries"):
        nets.resnet((3, 32, 32), 10, widths=[8, 8])
    with pytest.raises(KKError, match=r"input_shape \(28, 28\) is not \(C, H, W\)"):
        nets.lenet5((28, 28), 10)
    with pytest.raises(KKError, match=r"lenet5 pool 'mean' is not known"):
        nets.lenet5((1, 28, 28), 10, pool="mean")


def test_net_params_list_each_factorys_keywords() -> None:
    assert nets.net_params("mlp") == {"hidden", "activation", "dropout", "batch_norm"}
    assert nets.net_params("timm_backbone") == {"name", "pretrained", "in_chans", "drop_rate"}
    assert all(nets.net_params(name) for name in nets.NETS)


def test_timm_backbone_without_timm_or_with_a_bad_name() -> None:
    try:
        import timm  # noqa: F401
    except ImportError:
        with pytest.raises(
            KKError, match=r"needs the timm library; install it with: pip install timm"
        ):
            nets.timm_backbone((3, 32, 32), 10)
        return
    with pytest.raises(KKError, match=r"timm model 'resnet81' is not known"):
        nets.timm_backbone((3, 32, 32), 10, name="resnet81")


def test_timm_pretrained_weights_offline_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """No hub and no cached weights: one line saying where to put them, not a traceback."""
    pytest.importorskip("timm")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", "/nonexistent/kk-test-hf-home")  # an empty cache
    with pytest.raises(KKError, match=r"could not load its pretrained weights.*Hugging Face cache"):
        nets.timm_backbone((3, 32, 32), 10, name="resnet18", pretrained=True)
