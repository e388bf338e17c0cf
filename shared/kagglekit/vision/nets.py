"""Image nets, one short factory per architecture, registered by name in ``NETS``.

Every factory is ``factory(input_shape, n_outputs, **params) -> nn.Module`` with
``input_shape = (C, H, W)``; its keyword-only parameters are its config parameters, listed
by ``net_params(name)`` so a backend can reject a misspelt one before training.
The nets return logits (B, n_outputs); the trainer owns the loss.

- ``mlp``: flatten and fully connected layers (the learning path's first network).
- ``lenet5``: LeCun's LeNet-5 (1998).
- ``cnn``: VGG-style 3x3 conv blocks with max pooling; batch norm and dropout optional.
- ``resnet``: a ResNet-9 (Page's DAWNBench CIFAR-10 net), widths configurable.
- ``fastnet``: a net in the spirit of Keller Jordan's cifar10-airbench: a frozen
  patch-whitening first convolution set from the training images, three conv-pool-BN
  groups with BatchNorm tuned for short training, a scaled linear head.
- ``vit``: a small Vision Transformer (Dosovitskiy et al., 2021) trained from scratch.
- ``timm_backbone``: any ``timm`` model, when timm is installed.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from kagglekit.errors import DoesNotFit, KKError, did_you_mean, unknown_name

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
}

Shape = Sequence[int]

# The way out of "too small" that every net's message names (kagglekit.vision.resize).
_ENLARGE = "enlarge the images with data.params.image_size = [H, W] in config.toml"


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise unknown_name("activation", name, ACTIVATIONS)
    return ACTIVATIONS[name]()


def _check_shape(input_shape: Shape, n_outputs: int, net: str) -> tuple[int, int, int]:
    if len(input_shape) != 3 or any(int(d) < 1 for d in input_shape):
        raise KKError(f"{net}: input_shape {tuple(input_shape)} is not (C, H, W)")
    if n_outputs < 1:
        raise KKError(f"{net}: n_outputs must be >= 1, got {n_outputs}")
    c, h, w = (int(d) for d in input_shape)
    return c, h, w


def _check_dropout(dropout: float, net: str) -> None:
    if not 0.0 <= dropout < 1.0:
        raise KKError(f"{net}: dropout must be in [0, 1), got {dropout}")


def mlp(
    input_shape: Shape,
    n_outputs: int,
    *,
    hidden: Sequence[int] = (256, 128),
    activation: str = "relu",
    dropout: float = 0.0,
    batch_norm: bool = False,
) -> nn.Module:
    """Flatten, then ``Linear -> [BatchNorm] -> activation -> [Dropout]`` per hidden width.

    ``hidden=[]`` is multinomial logistic regression on the pixels.
    """
    c, h, w = _check_shape(input_shape, n_outputs, "mlp")
    _check_dropout(dropout, "mlp")
    layers: list[nn.Module] = [nn.Flatten()]  # (B, C*H*W)
    width = c * h * w
    for size in hidden:
        layers.append(nn.Linear(width, int(size), bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm1d(int(size)))
        layers.append(_activation(activation))
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = int(size)
    layers.append(nn.Linear(width, n_outputs))  # (B, n_outputs)
    return nn.Sequential(*layers)


def lenet5(
    input_shape: Shape, n_outputs: int, *, activation: str = "tanh", pool: str = "avg"
) -> nn.Module:
    """LeNet-5: conv5(6) - pool - conv5(16) - pool - fc120 - fc84 - fc(n_outputs).

    The original reads 32 x 32 inputs (MNIST digits centred in a 32 x 32 field). Smaller
    inputs are zero-padded to 32 by the first convolution (28 x 28 gets ``padding=2``,
    as most modern LeNet-5s for MNIST do), so C5 still sees a 5 x 5 map; larger inputs
    keep their size and the first fully connected layer grows. ``activation="tanh"`` and
    average pooling are the classic choices; ``relu`` and ``max`` the modern ones.
    """
    c, h, w = _check_shape(input_shape, n_outputs, "lenet5")
    pools = {"avg": nn.AvgPool2d, "max": nn.MaxPool2d}
    if pool not in pools:
        raise unknown_name("lenet5 pool", pool, pools)
    pad = max(0, (32 - min(h, w) + 1) // 2)
    h1, w1 = (h + 2 * pad - 4) // 2, (w + 2 * pad - 4) // 2  # after conv1 and pool
    h2, w2 = (h1 - 4) // 2, (w1 - 4) // 2  # after conv2 and pool
    return nn.Sequential(
        nn.Conv2d(c, 6, 5, padding=pad),  # (B, 6, 28, 28) for a 32 x 32 field
        _activation(activation),
        pools[pool](2),  # (B, 6, 14, 14)
        nn.Conv2d(6, 16, 5),  # (B, 16, 10, 10)
        _activation(activation),
        pools[pool](2),  # (B, 16, 5, 5)
        nn.Flatten(),  # (B, 400)
        nn.Linear(16 * h2 * w2, 120),
        _activation(activation),
        nn.Linear(120, 84),
        _activation(activation),
        nn.Linear(84, n_outputs),
    )


def cnn(
    input_shape: Shape,
    n_outputs: int,
    *,
    channels: Sequence[int] = (32, 64, 128),
    convs_per_block: int = 2,
    batch_norm: bool = True,
    dropout: float = 0.0,
    head: str = "gap",
    activation: str = "relu",
) -> nn.Module:
    """VGG-style blocks: ``convs_per_block`` x (3x3 conv -> [BN] -> act), 2x2 max pool, [dropout].

    One block per entry of ``channels``; the head is global average pooling (``gap``) or
    ``flatten`` then a linear layer. For 28 x 28 inputs the default maps go
    28 -> 14 -> 7 -> 3.
    """
    c, h, w = _check_shape(input_shape, n_outputs, "cnn")
    _check_dropout(dropout, "cnn")
    if not channels or convs_per_block < 1:
        raise KKError(
            f"cnn: needs at least one block and one conv per block, got channels={list(channels)}, "
            f"convs_per_block={convs_per_block}"
        )
    if head not in ("gap", "flatten"):
        raise unknown_name("cnn head", head, ("gap", "flatten"))
    if min(h, w) < 2 ** len(channels):
        raise DoesNotFit(
            f"cnn: {h} x {w} inputs are too small for {len(channels)} pooling blocks; "
            f"use at most {max(1, min(h, w).bit_length() - 1)} channels entries, or "
            f"{_ENLARGE}"
        )
    layers: list[nn.Module] = []
    width = c
    for out in channels:
        for _ in range(convs_per_block):
            layers.append(nn.Conv2d(width, int(out), 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(int(out)))
            layers.append(_activation(activation))
            width = int(out)
        layers.append(nn.MaxPool2d(2))  # (B, out, H/2, W/2), rounded down
        if dropout:
            layers.append(nn.Dropout(dropout))
        h, w = h // 2, w // 2
    if head == "gap":
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]  # (B, width)
        features = width
    else:
        layers.append(nn.Flatten())  # (B, width * h * w)
        features = width * h * w
    layers.append(nn.Linear(features, n_outputs))
    return nn.Sequential(*layers)


def _conv_bn(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()
    )


class _Residual(nn.Module):
    """``x + f(x)`` with ``f`` two conv-BN-ReLU layers of the same width."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv_bn(width, width), _conv_bn(width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class _Scale(nn.Module):
    """Multiply by a constant (ResNet-9 scales its logits by 1/8)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def resnet(
    input_shape: Shape,
    n_outputs: int,
    *,
    widths: Sequence[int] = (64, 128, 256, 512),
    logit_scale: float = 0.125,
) -> nn.Module:
    """ResNet-9 (Page, "How to train your ResNet", 2018): prep conv, three pooled stages.

    prep conv(w0) -> conv(w1) + pool + residual -> conv(w2) + pool -> conv(w3) + pool +
    residual -> global max pool -> linear, logits times ``logit_scale``. With the default
    widths on 32 x 32: (B, 64, 32, 32) -> (B, 128, 16, 16) -> (B, 256, 8, 8) ->
    (B, 512, 4, 4) -> (B, n_outputs).
    """
    c, h, w = _check_shape(input_shape, n_outputs, "resnet")
    if len(widths) != 4:
        raise KKError(f"resnet: widths needs 4 entries (prep, stage 1, 2, 3), got {list(widths)}")
    if min(h, w) < 8:
        raise DoesNotFit(
            f"resnet: {h} x {w} inputs are too small for three pooling stages (8 x 8 at "
            f"least); {_ENLARGE}"
        )
    w0, w1, w2, w3 = (int(v) for v in widths)
    return nn.Sequential(
        _conv_bn(c, w0),  # (B, w0, H, W)
        _conv_bn(w0, w1),
        nn.MaxPool2d(2),  # (B, w1, H/2, W/2)
        _Residual(w1),
        _conv_bn(w1, w2),
        nn.MaxPool2d(2),  # (B, w2, H/4, W/4)
        _conv_bn(w2, w3),
        nn.MaxPool2d(2),  # (B, w3, H/8, W/8)
        _Residual(w3),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),  # (B, w3)
        nn.Linear(w3, n_outputs, bias=False),
        _Scale(logit_scale),
    )


class PatchWhitening(nn.Module):
    """A frozen ``k`` x ``k`` convolution that whitens image patches, then GELU.

    ``init_from_data(x)`` (the trainer calls it once, on normalised training images)
    sets the filters to the eigenvectors of the ``C*k*k`` patch covariance divided by
    the square root of their eigenvalues, each with its negation (so GELU keeps both
    signs): ``2*C*k*k`` output channels, decorrelated and of unit variance on the data.
    The filters are not trained (``requires_grad = False``); the bias is.
    No PyTorch layer does this, hence written here (cifar10-airbench's first layer).
    """

    def __init__(self, c_in: int, kernel: int = 2, eps: float = 5e-4) -> None:
        super().__init__()
        self.kernel, self.eps = kernel, eps
        self.out_channels = 2 * c_in * kernel * kernel
        self.conv = nn.Conv2d(c_in, self.out_channels, kernel, padding=0, bias=True)
        self.conv.weight.requires_grad_(False)
        self.act = nn.GELU()

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor) -> None:
        """Set the filters from images ``x`` (B, C, H, W), float, already normalised."""
        k = self.kernel
        patches = x.float().unfold(2, k, 1).unfold(3, k, 1)  # (B, C, H-k+1, W-k+1, k, k)
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, x.shape[1] * k * k).double()
        cov = patches.T @ patches / len(patches)  # (C*k*k, C*k*k)
        eigenvalues, eigenvectors = torch.linalg.eigh(cov)
        filters = eigenvectors.T / torch.sqrt(eigenvalues.clamp_min(0) + self.eps)[:, None]
        filters = filters.reshape(-1, x.shape[1], k, k)
        self.conv.weight.copy_(torch.cat([filters, -filters]).to(self.conv.weight))
        self.conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class _ShortBatchNorm(nn.BatchNorm2d):
    """BatchNorm for a few epochs of training: fast running statistics, no learnt scale.

    Running statistics follow the batches closely (``momentum = 0.4``: the last few
    batches count, as the net changes fast) and the scale stays 1 (only the shift is
    learnt), as in cifar10-airbench.
    """

    def __init__(self, width: int, momentum: float = 0.4, eps: float = 1e-12) -> None:
        super().__init__(width, eps=eps, momentum=momentum)
        self.weight.requires_grad_(False)


def _conv_group(c_in: int, c_out: int, bn_momentum: float) -> nn.Sequential:
    """conv3x3 -> max pool 2 -> BN -> GELU -> conv3x3 -> BN -> GELU (airbench's ConvGroup)."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.MaxPool2d(2),
        _ShortBatchNorm(c_out, bn_momentum),
        nn.GELU(),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        _ShortBatchNorm(c_out, bn_momentum),
        nn.GELU(),
    )


class FastNet(nn.Module):
    """Whitening -> three conv groups -> global max pool -> linear / ``logit_scale``."""

    def __init__(
        self,
        c_in: int,
        n_outputs: int,
        widths: Sequence[int],
        whiten_kernel: int,
        bn_momentum: float,
        logit_scale: float,
    ) -> None:
        super().__init__()
        self.whiten = PatchWhitening(c_in, whiten_kernel)
        w1, w2, w3 = (int(v) for v in widths)
        self.groups = nn.Sequential(
            _conv_group(self.whiten.out_channels, w1, bn_momentum),  # (B, w1, 15, 15) at 32
            _conv_group(w1, w2, bn_momentum),  # (B, w2, 7, 7)
            _conv_group(w2, w3, bn_momentum),  # (B, w3, 3, 3)
        )
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(w3, n_outputs, bias=False)
        self.logit_scale = logit_scale

    def init_from_data(self, x: torch.Tensor) -> None:
        """The trainer's data hook: set the whitening filters from training images."""
        self.whiten.init_from_data(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.whiten(x)  # (B, 2*C*k*k, H-k+1, W-k+1)
        x = self.pool(self.groups(x)).flatten(1)  # (B, w3)
        return self.head(x) * self.logit_scale  # (B, n_outputs)


def fastnet(
    input_shape: Shape,
    n_outputs: int,
    *,
    widths: Sequence[int] = (64, 256, 256),
    whiten_kernel: int = 2,
    bn_momentum: float = 0.4,
    logit_scale: float = 1 / 9,
) -> nn.Module:
    """A net in the spirit of cifar10-airbench (Jordan, 2024), written from its ideas.

    A frozen patch-whitening ``whiten_kernel`` x ``whiten_kernel`` convolution whose
    filters come from the training images (``init_from_data``), then three groups of
    conv -> pool -> BN -> GELU -> conv -> BN -> GELU of ``widths`` channels, global max
    pooling and a bias-free linear head scaled by ``logit_scale``. BatchNorm has no
    learnt scale and fast running statistics (``bn_momentum``), for short training.
    The trainer adds the rest of the recipe (Lookahead, label smoothing, flip-and-shift
    TTA) and the batch augmentation the alternating flips and translations.
    """
    c, h, w = _check_shape(input_shape, n_outputs, "fastnet")
    if len(widths) != 3:
        raise KKError(f"fastnet: widths needs 3 entries (one per conv group), got {list(widths)}")
    # Three pooling groups need 8 x 8 maps after the k x k whitening (H - k + 1 >= 8), and
    # k <= min(H, W) // 8 keeps the patches small against the image: 2 from 16 x 16 up.
    largest = min(h, w) // 8
    if largest < 1:
        raise DoesNotFit(
            f"fastnet: {h} x {w} inputs are too small for three pooling groups (8 x 8 at "
            f"least); {_ENLARGE}"
        )
    if whiten_kernel < 1:
        raise KKError(f"fastnet: whiten_kernel must be 1 or more, got {whiten_kernel}")
    if whiten_kernel > largest:
        raise DoesNotFit(
            f"fastnet: whiten_kernel = {whiten_kernel} needs inputs of at least "
            f"{8 * whiten_kernel} x {8 * whiten_kernel}, these are {h} x {w}; set "
            f"whiten_kernel = {largest} in the entry's params, or {_ENLARGE}"
        )
    if not 0 < bn_momentum <= 1:
        raise KKError(f"fastnet: bn_momentum must be in (0, 1], got {bn_momentum}; try 0.4")
    return FastNet(c, n_outputs, widths, whiten_kernel, bn_momentum, logit_scale)


class ViT(nn.Module):
    """Patches -> tokens -> pre-norm Transformer encoder -> pooled token -> linear head.

    The encoder layers are PyTorch's own (``nn.TransformerEncoderLayer``: multi-head
    self-attention and a GELU MLP, each behind a LayerNorm and a residual connection).
    """

    def __init__(
        self, c: int, h: int, w: int, n_outputs: int, *, patch: int, dim: int, depth: int,
        heads: int, mlp_ratio: float, dropout: float, pool: str,
    ) -> None:  # fmt: skip
        super().__init__()
        n_patches = (h // patch) * (w // patch)
        self.pool = pool
        # A conv with kernel = stride = patch cuts the image into patches and projects each.
        self.embed = nn.Conv2d(c, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, n_patches + 1, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)  # positions are learnt: no 2-D prior
        layer = nn.TransformerEncoderLayer(
            dim, heads, int(dim * mlp_ratio), dropout, activation="gelu", batch_first=True,
            norm_first=True,
        )  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x).flatten(2).transpose(1, 2)  # (B, N, dim): N = (H/p) * (W/p)
        x = torch.cat([self.cls.expand(len(x), -1, -1), x], dim=1) + self.pos  # (B, N+1, dim)
        x = self.norm(self.encoder(x))  # (B, N+1, dim): every token attends to every other
        return self.head(x[:, 0] if self.pool == "cls" else x[:, 1:].mean(dim=1))  # (B, out)


def vit(
    input_shape: Shape,
    n_outputs: int,
    *,
    patch: int = 4,
    dim: int = 192,
    depth: int = 6,
    heads: int = 3,
    mlp_ratio: float = 2.0,
    dropout: float = 0.0,
    pool: str = "mean",
) -> nn.Module:
    """A small Vision Transformer: ``patch`` x ``patch`` patches as tokens of width ``dim``,
    ``depth`` encoder layers of ``heads`` attention heads, then a linear head on the mean
    of the patch tokens (``pool = "mean"``) or on a class token (``"cls"``, the paper's).

    With the defaults a 32 x 32 image is 64 tokens and the net has about 1.8M weights.
    Unlike a convolution, attention has no built-in notion that nearby pixels belong
    together: it must learn that from the data, which is why a ViT trained from scratch
    on a few tens of thousands of images needs strong augmentation and many epochs.
    """
    c, h, w = _check_shape(input_shape, n_outputs, "vit")
    if pool not in ("mean", "cls"):
        raise unknown_name("vit pool", pool, ("mean", "cls"))
    if patch < 1 or h % patch or w % patch:
        raise DoesNotFit(
            f"vit: patch = {patch} must divide the {h} x {w} inputs; pick a divisor of both "
            f"(e.g. 4 for 32 x 32, 7 or 4 for 28 x 28), or {_ENLARGE}"
        )
    if dim < 1 or heads < 1 or dim % heads:
        raise KKError(
            f"vit: dim = {dim} must be a multiple of heads = {heads}; e.g. dim = 192, heads = 3"
        )
    if depth < 1 or mlp_ratio <= 0:
        raise KKError(f"vit: depth ({depth}) and mlp_ratio ({mlp_ratio}) must be positive")
    _check_dropout(dropout, "vit")
    return ViT(
        c, h, w, n_outputs, patch=patch, dim=dim, depth=depth, heads=heads,
        mlp_ratio=mlp_ratio, dropout=dropout, pool=pool,
    )  # fmt: skip


def timm_backbone(
    input_shape: Shape,
    n_outputs: int,
    *,
    name: str = "resnet18",
    pretrained: bool = False,
    in_chans: int | None = None,
    drop_rate: float = 0.0,
) -> nn.Module:
    """A ``timm`` model with a fresh ``n_outputs`` head (``timm.create_model``).

    ``in_chans`` defaults to the input's channels; timm adapts pretrained first-layer
    weights to 1 channel by summing them. Pretrained weights come from the Hugging Face
    hub, or its local cache when offline (``HF_HUB_OFFLINE=1``).
    """
    c, _, _ = _check_shape(input_shape, n_outputs, "timm_backbone")
    try:
        import timm
    except ImportError:
        raise KKError(
            "net 'timm_backbone' needs the timm library; install it with: pip install timm"
        ) from None
    if not timm.is_model(name):
        hint = did_you_mean(name, timm.list_models())
        raise KKError(
            f"timm model '{name}' is not known;{hint} list them with timm.list_models('*pattern*')"
        )
    try:
        return timm.create_model(
            name,
            pretrained=pretrained,
            num_classes=n_outputs,
            in_chans=in_chans or c,
            drop_rate=drop_rate,
        )
    except (OSError, RuntimeError, ValueError) as exc:
        if not pretrained:
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KKError(
            f"timm model '{name}': could not load its pretrained weights ({first}); without "
            "internet put them in the Hugging Face cache first, or set pretrained = false"
        ) from None


NetFactory = Callable[..., nn.Module]

NETS: dict[str, NetFactory] = {
    "mlp": mlp,
    "lenet5": lenet5,
    "cnn": cnn,
    "resnet": resnet,
    "fastnet": fastnet,
    "vit": vit,
    "timm_backbone": timm_backbone,
}


def net_params(name: str) -> frozenset[str]:
    """The parameter names net ``name`` accepts (its factory's keyword-only arguments)."""
    if name not in NETS:
        raise unknown_name("net", name, NETS)
    signature = inspect.signature(NETS[name])
    return frozenset(
        p.name for p in signature.parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY
    )


def build_net(
    name: str, input_shape: Shape, n_outputs: int, params: dict[str, Any] | None = None
) -> nn.Module:
    """Build net ``name``, rejecting parameters it does not take with a did-you-mean hint."""
    params = dict(params or {})
    known = net_params(name)
    for key in params:
        if key not in known:
            raise unknown_name(f"{name} net parameter", key, known)
    return NETS[name](tuple(input_shape), int(n_outputs), **params)


def count_parameters(net: nn.Module) -> int:
    """The number of trainable parameters."""
    return sum(math.prod(p.shape) for p in net.parameters() if p.requires_grad)
