"""``torch_backend``: a registry ``Backend`` whose ``build`` returns a ready ``TorchModel``.

No torch at import: the backend registers, and its parameter names validate, without
torch installed; ``build`` imports the trainer (or raises the install hint).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kagglekit.errors import KKError, unknown_name
from kagglekit.models.base import Backend, BuildContext
from kagglekit.torch.config import TRAIN_PARAM_NAMES, TrainConfig, split_params

INSTALL_HINT = "pip install 'kagglekit[vision]'"


@dataclass(frozen=True)
class BatchTransform:
    """What turns raw device batches into net inputs, for ``TorchModel``.

    ``prepare(xb, train, generator, stats)`` (see ``TorchModel``); ``fit_stats(X_train)``
    computes ``stats`` once per fold from its training rows (``None``: no stats);
    ``takes_rows``: ``prepare`` also takes ``rows=`` and ``epoch=`` on training batches;
    ``test_time_augment``: the ``tta`` setting's augmentation of prepared batches at
    prediction (``TorchModel``'s hook; the image backends give ``vision.tta.flip_tta``).
    """

    prepare: Callable[..., Any]
    fit_stats: Callable[[Any], Any] | None = None
    takes_rows: bool = False  # training calls also pass rows= and epoch= (TorchModel)
    test_time_augment: Callable[..., Any] | None = None


# make_net_factory(net_params, *, n_outputs, info) -> make_net: a function building a
# fresh nn.Module. ``n_outputs`` is n_classes for multiclass and 1 otherwise; ``info`` is
# the loader's (``input_shape`` (C, H, W), ``vocabulary``, ``n_users``, ...).
NetFactory = Callable[..., Callable[[], Any]]


def default_torch_space(config: TrainConfig) -> dict[str, Any]:
    """``kk tune``'s default space of a torch backend that gives none: the learning rate
    from a tenth to ten times its default, and the weight decay around its default (any
    net trains with them; a net's own parameters need its ``[models.X.search]``)."""
    decay = config.weight_decay or 1e-4

    def ranged(low: float, high: float) -> dict[str, Any]:
        return {"low": float(f"{low:.3g}"), "high": float(f"{high:.3g}"), "log": True}

    return {
        "lr": ranged(config.lr / 10, config.lr * 10),
        "weight_decay": ranged(decay / 100, decay * 10),
    }


def torch_backend(
    name: str,
    make_net_factory: NetFactory,
    *,
    tasks: Iterable[str] = ("binary", "multiclass", "regression"),
    accepts: Iterable[str] = ("frame",),
    default_params: dict[str, Any] | None = None,
    net_param_names: Iterable[str] = (),
    batch_transform_factory: Callable[[BuildContext], BatchTransform] | None = None,
    **metadata: Any,
) -> Backend:
    """A ``Backend(family="torch")`` building a ``TorchModel`` from a model entry.

    The entry's params are ``default_params`` updated by the config's; names in
    ``TRAIN_PARAM_NAMES`` make the ``TrainConfig``, the rest go to ``make_net_factory``.
    ``accepts`` names the data layouts it takes (``"images"``, ``"texts"``, ...).
    ``metadata``: further ``Backend`` fields (``default_space``, ``packages``: torch unless
    given, ``install_hint``).

    Examples
    --------
    >>> def mlp(params, *, n_outputs, info):
    ...     import torch.nn as nn
    ...     return lambda: nn.Linear(info["n_features"], n_outputs)
    >>> backend = torch_backend("mlp", mlp, accepts=("frame",), net_param_names=())
    >>> backend.family, "epochs" in backend.known_params("binary")
    ('torch', True)
    """
    defaults = dict(default_params or {})
    train_defaults, net_defaults = split_params(defaults)
    train_config = TrainConfig(**train_defaults)  # a bad default fails when the backend is defined
    metadata.setdefault("default_space", default_torch_space(train_config))
    known = TRAIN_PARAM_NAMES | set(net_param_names)
    for key in net_defaults:
        if key not in known:
            raise unknown_name(f"{name} default parameter", key, known)
    tasks = tuple(tasks)

    def build(ctx: BuildContext) -> Any:
        from kagglekit.torch.trainer import TorchModel  # torch, or the install hint

        train_params, net_params = split_params({**defaults, **ctx.params})
        config = TrainConfig(**train_params)
        n_classes = ctx.n_classes or int(ctx.info.get("n_classes", 0))
        try:
            n_outputs = ctx.task.net_outputs(n_classes)
        except KKError as err:
            raise KKError(f"model '{name}': {err}") from None
        make_net = make_net_factory(net_params, n_outputs=n_outputs, info=dict(ctx.info))
        transform = batch_transform_factory(ctx) if batch_transform_factory else None
        return TorchModel(
            make_net,
            config,
            task=ctx.task,
            n_classes=n_classes,
            seed=ctx.seed,
            metric=ctx.metric,
            threshold=ctx.threshold,
            batch_transform=transform.prepare if transform else None,
            fit_stats=transform.fit_stats if transform else None,
            smoke=ctx.smoke,
            progress=ctx.extras.get("progress"),
            transform_takes_rows=bool(transform and transform.takes_rows),
            test_time_augment=transform.test_time_augment if transform else None,
            holdout=ctx.early_stopping_holdout,
        )

    return Backend(
        name=name,
        tasks=tasks,
        build=build,
        known_params=lambda task: set(known),
        family="torch",
        holds_out=True,
        strict_params=True,
        accepts=tuple(accepts),
        **{"install_hint": INSTALL_HINT, "packages": ("torch",), **metadata},
    )
