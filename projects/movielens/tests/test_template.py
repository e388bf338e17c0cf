"""Owned by templates/recsys (``kk update`` keeps it in step; add your own tests beside it).

Every configured model runs end to end on a tiny generated competition of this
project's shape and columns: fetch, folds, the ``--smoke`` check, a training run, a
validated submission and a local score against each user's held-out latest rows.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from kagglekit.config import load_config
from kagglekit.recsys.testing import check_recsys_project_on_fixture

PROJECT = Path(__file__).resolve().parents[1]
CONFIG = load_config(PROJECT / "config.toml")
MODELS = sorted(CONFIG.models)


@pytest.mark.parametrize("model", MODELS)
def test_model_runs_end_to_end_on_a_tiny_competition(model: str, tmp_path: Path) -> None:
    backend = CONFIG.models[model].backend
    if backend in ("als", "bpr") and importlib.util.find_spec("implicit") is None:
        pytest.skip("implicit is not installed (pip install 'kagglekit[recsys]')")
    if backend == "neumf" and importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    result = check_recsys_project_on_fixture(PROJECT, tmp_path, model=model)
    assert result["status"] == "COMPLETE"
    assert result["n_submission_rows"] == result["n_test"]
    assert math.isfinite(result["local_score"]) and math.isfinite(result["cv_mean"])
    assert math.isfinite(result["smoke_score"])
