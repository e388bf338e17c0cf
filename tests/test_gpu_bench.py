"""bench/gpu_cifar.py, the one prepared GPU script, runs end to end in its CPU dry run.

No GPU is lent to most sessions, so the script's tiny mode is what keeps a GPU call from
dying on a slip: every section (checks, the GPU-marked tests, vendored airbench, the fast
net, Fashion-MNIST, the tweets' fine-tuning) runs here on a fake mirror of a few hundred
images and tweets, with a random-init transformer made from a config without weights.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from kagglekit.text.testing import tiny_transformer
from kagglekit.vision.testing import write_image_competition

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ["env", "checks", "airbench", "fastnet", "fashion_mnist", "tweets", "gpu_tests"]


def _fake_mirror(root: Path) -> Path:
    """The mirror's layout (cifar10/, fashion-mnist/, disaster-tweets/) with tiny data."""
    write_image_competition(
        root / "cifar10", "cifar_batches", n_train=300, n_test=140, n_classes=10
    )
    write_image_competition(
        root / "fashion-mnist", "idx", n_train=300, n_test=140, n_classes=10, shape=(1, 28, 28)
    )
    words = ["fire", "flood", "storm", "lovely", "sunny", "cake"]
    texts = [f"{words[i % 6]} {words[(i * 7) % 6]} http://t.co/x{i}" for i in range(120)]
    frame = pd.DataFrame(
        {"id": range(120), "text": texts, "target": [int(i % 6 < 3) for i in range(120)]}
    )
    (root / "disaster-tweets").mkdir(parents=True)
    frame.to_csv(root / "disaster-tweets" / "train.csv", index=False)
    return root


@pytest.mark.slow
def test_gpu_script_dry_run_runs_every_section(tmp_path: Path) -> None:
    mirror = _fake_mirror(tmp_path / "mirror")
    model = tiny_transformer(tmp_path / "text-model")
    (model / "model.safetensors").unlink()  # a config and tokenizer only: random-init copy
    out = tmp_path / "gpu.jsonl"
    env = dict(os.environ, KK_DATA_MIRROR=str(mirror), OMP_NUM_THREADS="1",
               TOKENIZERS_PARALLELISM="false")  # fmt: skip
    done = subprocess.run(
        [sys.executable, "gpu_cifar.py", "--dry-run", "--text-model", str(model), "--out", str(out)],
        cwd=REPO / "bench", env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    by_name = {line["section"]: line for line in lines}
    assert list(by_name) == SECTIONS
    assert all("error" not in line for line in lines)
    checks = by_name["checks"]
    assert checks["ok"] and checks["ddp"]["backend"] == "gloo" and checks["ddp"]["grads_agree"]
    assert (
        by_name["gpu_tests"]["returncode"] == 0
        and "tests/test_cifar10_gpu.py" in by_name["gpu_tests"]["files"]
    )
    airbench = by_name["airbench"]
    assert (
        airbench["n_train"] == 32 and len(airbench["seconds"]) == 1 and airbench["seconds"][0] > 0
    )
    assert (
        by_name["fastnet"]["n_train"] == 256 and by_name["fastnet"]["runs"][0]["train_seconds"] > 0
    )
    assert (
        by_name["fashion_mnist"]["n_train"] == 256
        and 0 <= by_name["fashion_mnist"]["test_acc"] <= 1
    )
    tweets = by_name["tweets"]
    assert tweets["weights"] == "random-init" and tweets["texts_per_second"] > 0
    assert '"section": "summary", "failed": []' in done.stdout
