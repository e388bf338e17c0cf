"""Shared fixtures: a tiny synthetic competition and the local data mirror."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def mirror_dir(folder: str) -> Path:
    """The mirror folder for a competition, or skip the test saying why."""
    root = os.environ.get("KK_DATA_MIRROR")
    if not root:
        pytest.skip("KK_DATA_MIRROR is not set: real-data tests need a local mirror (e.g. ../shared/data)")
    path = Path(root) / folder
    if not path.is_dir():
        pytest.skip(f"no {folder}/ in the mirror {root}")
    return path


@pytest.fixture
def projects_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty projects root that kk and the library use for this test."""
    root = tmp_path / "projects"
    root.mkdir()
    monkeypatch.setenv("KK_PROJECTS_DIR", str(root))
    return root


def make_tiny_frame(n_rows: int = 240, *, seed: int = 0, task: str = "binary") -> pd.DataFrame:
    """A small competition table with numeric, categorical and missing values."""
    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=n_rows)
    x2 = rng.uniform(0, 10, size=n_rows)
    colour = rng.choice(["red", "green", "blue"], size=n_rows)
    x2_missing = np.where(rng.random(n_rows) < 0.1, np.nan, x2)
    signal = 1.5 * x1 + 0.3 * x2 + (colour == "red") * 1.0
    if task == "regression":
        target = signal + rng.normal(scale=0.5, size=n_rows)
    elif task == "multiclass":
        target = np.digitize(signal + rng.normal(scale=0.5, size=n_rows), np.quantile(signal, [0.33, 0.66]))
    else:
        target = (signal + rng.normal(scale=0.8, size=n_rows) > np.median(signal)).astype(int)
    return pd.DataFrame(
        {"id": np.arange(1000, 1000 + n_rows), "x1": x1, "x2": x2_missing, "colour": colour, "target": target}
    )
