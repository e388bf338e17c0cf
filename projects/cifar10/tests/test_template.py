"""Owned by templates/vision (``kk update`` keeps it in step; add your own tests beside it).

Every configured model runs end to end on a tiny generated competition in this project's
layout (its loader, file names, id and label columns and classes): fetch, folds, the
``--smoke`` check, a one-epoch training run, a validated submission and a local score.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from kagglekit.config import load_config
from kagglekit.vision.testing import check_image_project_on_fixture

PROJECT = Path(__file__).resolve().parents[1]
CONFIG = load_config(PROJECT / "config.toml")
MODELS = sorted(CONFIG.models)


@pytest.mark.parametrize("model", MODELS)
def test_model_runs_end_to_end_on_a_tiny_competition(model: str, tmp_path: Path) -> None:
    if CONFIG.models[model].backend == "timm" and importlib.util.find_spec("timm") is None:
        pytest.skip("timm is not installed (pip install timm)")
    result = check_image_project_on_fixture(PROJECT, tmp_path, model=model)
    assert result["status"] == "COMPLETE"
    assert result["n_submission_rows"] == result["n_test"]
    assert math.isfinite(result["local_score"]) and math.isfinite(result["cv_mean"])
    assert math.isfinite(result["smoke_score"])
