"""Image backends: each net of ``kagglekit.vision.nets`` behind the shared trainer.

A model entry's params are the trainer's (``kagglekit.torch.TrainConfig``: epochs, lr,
schedule, ...), the net's (``hidden``, ``channels``, ``batch_norm``, ...) and the batch
augmentation's (``flip``, ``translate``, ``pad_mode``, ``cutout``). Normalisation uses
the per-channel mean and std of each fold's training rows only.

Imported (and torch with it) only when a project names one of these backends.
"""

from __future__ import annotations

from typing import Any

from kagglekit.errors import KKError
from kagglekit.models.base import BuildContext, register_backend
from kagglekit.torch import BatchTransform, torch_backend
from kagglekit.vision import nets

AUGMENT_PARAMS = {"flip": False, "translate": 0, "pad_mode": "reflect", "cutout": 0}
AUGMENT_PARAMS |= {"alternate_flip": False}
_TASKS = ("binary", "multiclass", "regression")

# Sensible starting points on small images on a CPU; every value can be overridden.
DEFAULTS: dict[str, dict[str, Any]] = {
    "mlp": {"epochs": 10, "batch_size": 128, "optimizer": "adamw", "lr": 2e-3,
            "weight_decay": 1e-4, "schedule": "onecycle", "warmup_epochs": 1},
    "lenet5": {"epochs": 15, "batch_size": 128, "optimizer": "adamw", "lr": 3e-3,
               "weight_decay": 1e-4, "schedule": "onecycle", "warmup_epochs": 1},
    "cnn": {"epochs": 15, "batch_size": 128, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9,
            "nesterov": True, "weight_decay": 5e-4, "schedule": "onecycle",
            "warmup_epochs": 1, "label_smoothing": 0.1},
    "resnet": {"epochs": 20, "batch_size": 256, "optimizer": "sgd", "lr": 0.2, "momentum": 0.9,
               "nesterov": True, "weight_decay": 5e-4, "schedule": "onecycle",
               "warmup_epochs": 2, "label_smoothing": 0.2},
    # cifar10-airbench's recipe in this trainer's terms: Nesterov SGD with Lookahead,
    # label smoothing 0.2, alternating flips and 2-pixel shifts, flip-and-shift TTA.
    # Short runs on 10,000 CIFAR images (3 epochs, 2 CPU cores) chose batch 128 over
    # 512 and lr 0.4 with weight decay 5e-5 over lr 0.2 with 5e-4 (projects/cifar10/README).
    "fastnet": {"epochs": 10, "batch_size": 128, "optimizer": "sgd", "lr": 0.4,
                "momentum": 0.85, "nesterov": True, "weight_decay": 5e-5,
                "schedule": "onecycle", "warmup_epochs": 0.5, "label_smoothing": 0.2,
                "lookahead_steps": 5, "lookahead_alpha": 0.25, "flip": True,
                "alternate_flip": True, "translate": 2, "tta": "flip_shift"},
    # A ViT from scratch wants AdamW with a large weight decay, warm-up, label smoothing,
    # clipped gradients, every augmentation it can get and many epochs (DeiT's recipe,
    # scaled down to 32 x 32 images): a GPU job (projects/cifar10's vit entry).
    "vit": {"epochs": 100, "batch_size": 128, "optimizer": "adamw", "lr": 1e-3,
            "weight_decay": 0.05, "schedule": "cosine", "warmup_epochs": 5,
            "label_smoothing": 0.1, "grad_clip": 1.0, "flip": True, "translate": 4,
            "cutout": 8},
    "timm_backbone": {"epochs": 5, "batch_size": 64, "optimizer": "adamw", "lr": 3e-4,
                      "weight_decay": 1e-2, "schedule": "cosine", "warmup_epochs": 1},
}  # fmt: skip


def _net_factory(net: str) -> Any:
    def factory(params: dict[str, Any], *, n_outputs: int, info: dict[str, Any]) -> Any:
        net_params = {k: v for k, v in params.items() if k not in AUGMENT_PARAMS}
        shape = info.get("input_shape")
        if shape is None:
            raise KKError(f"net '{net}' needs images: the loader gave no input_shape")
        nets.build_net(net, shape, n_outputs, net_params)  # bad params fail before a run
        return lambda: nets.build_net(net, shape, n_outputs, net_params)

    return factory


def _transform_factory(net: str) -> Any:
    """The batch transform of backend ``net``: its defaults, then the entry's params."""
    defaults = DEFAULTS.get(net, {})

    def factory(ctx: BuildContext) -> BatchTransform:
        return _transform({**defaults, **ctx.params})

    return factory


def _transform(params: dict[str, Any]) -> BatchTransform:
    from kagglekit.vision import augment, tta

    options = {k: params.get(k, v) for k, v in AUGMENT_PARAMS.items()}
    channels_last = bool(params.get("channels_last", False))
    built: dict[tuple[tuple[float, ...], tuple[float, ...]], Any] = {}

    def fit_stats(X_train: Any) -> tuple[list[float], list[float]]:
        return augment.channel_stats(X_train)

    def prepare(
        xb: Any, train: bool, generator: Any, stats: Any, rows: Any = None, epoch: int = 0
    ) -> Any:
        mean, std = stats
        key = (tuple(mean), tuple(std))
        if key not in built:
            built[key] = augment.make_batch_transform(
                mean=mean, std=std, channels_last=channels_last, **options
            )
        return built[key](xb, train, generator, rows=rows, epoch=epoch)

    return BatchTransform(
        prepare=prepare,
        fit_stats=fit_stats,
        takes_rows=bool(options["alternate_flip"]),
        test_time_augment=tta.flip_tta,  # used when the entry's tta is not "none"
    )


for _name in nets.NETS:
    register_backend(
        torch_backend(
            "timm" if _name == "timm_backbone" else _name,
            _net_factory(_name),
            tasks=_TASKS,
            accepts=("images",),
            default_params=DEFAULTS.get(_name, {}),
            net_param_names=nets.net_params(_name) | set(AUGMENT_PARAMS),
            batch_transform_factory=_transform_factory(_name),
            packages=("torch", "timm") if _name == "timm_backbone" else ("torch",),
        )
    )
