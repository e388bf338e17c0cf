"""GPU paths the other GPU-marked tests leave out (issue 35): CUDA-event timing, NCCL
through ``kk train --nproc``, a transformer fine-tuned in bf16 on the GPU.

Skipped without a CUDA device; never run while written (no GPU was lent then).
``bench/gpu_cifar.py`` runs these with the other GPU-marked tests in its ``gpu_tests`` section.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from kagglekit import records  # noqa: E402
from kagglekit.config import load_config  # noqa: E402
from kagglekit.metrics import get_metric  # noqa: E402
from kagglekit.models import get_backend  # noqa: E402
from kagglekit.models.base import BuildContext  # noqa: E402
from kagglekit.testing import ready_copy  # noqa: E402
from kagglekit.vision.testing import write_image_competition  # noqa: E402

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
REPO = Path(__file__).resolve().parents[1]


def test_timer_uses_cuda_events_and_counts_device_work() -> None:
    from kagglekit.torch.device import Timer

    dev = torch.device("cuda")
    a = torch.randn(4096, 4096, device=dev)
    torch.cuda.synchronize()
    wall0, timer = time.perf_counter(), Timer(dev)
    for _ in range(10):
        a = (a @ a).clamp_(-1, 1)
    # The products are queued, not done, when the Python loop ends: only the events see them.
    seconds = timer.seconds()
    wall = time.perf_counter() - wall0
    assert timer.cuda and 0 < seconds <= wall * 1.05


def test_kk_train_on_nccl_with_one_process_per_gpu(tmp_path: Path) -> None:
    project = REPO / "projects" / "cifar10"
    cfg = load_config(project / "config.toml")
    params = {"label_names": cfg.data.params["label_names"],
              "train_batches": [f"data_batch_{i}" for i in range(1, 5)]}  # fmt: skip
    mirror = write_image_competition(
        tmp_path / "mirror", "cifar_batches", n_train=200, n_test=40, n_classes=10, params=params
    )
    root = Path(ready_copy(project, tmp_path, cfg, mirror).root)
    env = dict(os.environ, PYTHONPATH=str(REPO / "shared"), KK_PROJECTS_DIR=str(root.parent))
    env.pop("KK_DDP", None)
    nproc = str(min(torch.cuda.device_count(), 2))
    done = subprocess.run(
        [sys.executable, "-m", "kagglekit.cli", "train", "cifar10", "-m", "lenet5",
         "--set", "models.lenet5.params.epochs=1", "--nproc", nproc, "--dist-backend", "nccl"],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (run,) = records.list_runs(root / "runs")
    learned = run.record["fold_scores"][0]["learned"]
    assert run.status == "COMPLETE" and learned["n_processes"] == int(nproc)
    assert learned["device"].startswith("cuda")


def test_transformer_fine_tunes_in_bf16_on_the_gpu(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from kagglekit.text.testing import tiny_transformer

    model = tiny_transformer(tmp_path / "model")
    texts = np.array([f"storm fire {i}" if i % 2 else f"lovely cake {i}" for i in range(64)])
    y = (np.arange(64) % 2).astype(np.int64)
    ctx = BuildContext(
        task="binary", n_classes=2, seed=0, early_stopping_rounds=0, metric=get_metric("f1"),
        params={"model": str(model), "max_length": 32, "epochs": 1, "batch_size": 16,
                "device": "cuda", "precision": "bf16"},
    )  # fmt: skip
    fitted = get_backend("transformer", task="binary").build(ctx)
    fitted.fit(texts[:48], y[:48], X_valid=texts[48:], y_valid=y[48:])
    learned = fitted.learned()
    assert learned["device"].startswith("cuda") and learned["precision"] == "bf16"
    assert learned["samples_per_second"] > 0
    pred = fitted.predict(texts[48:])
    assert pred.shape[0] == 16 and np.isfinite(pred).all()
