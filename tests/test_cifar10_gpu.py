"""The GPU fast path (issue 11): bf16 autocast, channels-last, compile, CUDA-event timing.

Skipped without a CUDA device; never run while written (no GPU was lent then).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from kagglekit.metrics import get_metric  # noqa: E402
from kagglekit.models import get_backend  # noqa: E402
from kagglekit.models.base import BuildContext  # noqa: E402
from kagglekit.vision.testing import tiny_images  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


@pytest.mark.parametrize("compile_net", [False, True])
def test_fastnet_trains_in_bf16_channels_last_and_records_it(compile_net: bool) -> None:
    x, y = tiny_images(512, (3, 32, 32), 10)
    ctx = BuildContext(
        task="multiclass", n_classes=10, seed=0, early_stopping_rounds=0,
        params={"widths": [16, 32, 32], "epochs": 2, "device": "cuda", "precision": "bf16",
                "channels_last": True, "compile": compile_net},
        metric=get_metric("accuracy"), info={"input_shape": (3, 32, 32)},
    )  # fmt: skip
    model = get_backend("fastnet", task="multiclass").build(ctx)
    model.fit(x[:384], y[:384], X_valid=x[384:], y_valid=y[384:])
    learned = model.learned()
    assert learned["device"].startswith("cuda") and learned["precision"] == "bf16"
    assert math.isfinite(learned["samples_per_second"]) and learned["samples_per_second"] > 0
    assert len(learned["epoch_train_seconds"]) == 2
    pred = model.predict(x[384:])
    assert pred.shape == (128, 10) and np.allclose(pred.sum(axis=1), 1, atol=1e-3)
