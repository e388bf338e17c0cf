"""PyTorch for kagglekit: one trainer (``trainer.TorchModel``) every deep model uses.

Importing this package imports no torch: ``TrainConfig``, ``split_params`` and
``torch_backend`` let backends register and configs validate without it. The modules that
need torch (``device``, ``trainer``) raise an install hint when it is missing.
"""

from kagglekit.torch.backend import BatchTransform, torch_backend
from kagglekit.torch.config import TRAIN_PARAM_NAMES, TrainConfig, split_params, train_config_from

__all__ = [
    "TRAIN_PARAM_NAMES",
    "BatchTransform",
    "TrainConfig",
    "split_params",
    "torch_backend",
    "train_config_from",
]
