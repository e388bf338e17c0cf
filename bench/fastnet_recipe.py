"""Short fastnet runs to choose the recipe (issue 11): 10,000 CIFAR-10 images, a few epochs.

Trains ``fastnet`` (widths 32-64-128) on the first N images of data_batch_1..2 and scores
the first 2,000 of data_batch_4 after every epoch (flip-and-shift TTA), once per JSON
override of the fastnet defaults given on the command line:

    .venv/bin/python bench/fastnet_recipe.py 10000 '{"epochs":3}' '{"epochs":3,"lr":1.0}'

Prints the per-epoch validation accuracy and the wall seconds of each. Needs the mirror
(KK_DATA_MIRROR or ../shared/data) with ``cifar10/``.
"""

from __future__ import annotations

import json
import sys
import time

from _common import default_mirror

from kagglekit.metrics import get_metric
from kagglekit.torch.config import TrainConfig, split_params
from kagglekit.torch.trainer import TorchModel
from kagglekit.vision import nets
from kagglekit.vision.backends import AUGMENT_PARAMS, DEFAULTS, _transform
from kagglekit.vision.readers import read_cifar_batches


def main() -> None:
    folder = default_mirror() / "cifar10" / "cifar-10-batches-py"
    x, y, _ = read_cifar_batches([folder / "data_batch_1", folder / "data_batch_2"])
    xv, yv, _ = read_cifar_batches([folder / "data_batch_4"])
    n = int(sys.argv[1])
    xv, yv = xv[:2000], yv[:2000]
    for spec in sys.argv[2:]:
        params = {**DEFAULTS["fastnet"], "widths": [32, 64, 128], **json.loads(spec)}
        train, net_params = split_params(params)
        net_params = {k: v for k, v in net_params.items() if k not in AUGMENT_PARAMS}
        transform = _transform(params)
        model = TorchModel(
            lambda net_params=net_params: nets.build_net("fastnet", (3, 32, 32), 10, net_params),
            TrainConfig(**train),
            task="multiclass",
            n_classes=10,
            seed=0,
            metric=get_metric("accuracy"),
            batch_transform=transform.prepare,
            fit_stats=transform.fit_stats,
            transform_takes_rows=transform.takes_rows,
            test_time_augment=transform.test_time_augment,
        )
        started = time.time()
        model.fit(x[:n], y[:n], X_valid=xv, y_valid=yv)
        scores = [round(v, 3) for v in model.learned()["history"]["valid_score"]]
        print(spec, scores, f"{time.time() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
