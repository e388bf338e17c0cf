"""Owned by templates/tabular (``kk update`` keeps it in step; edit tests/test_features.py).

The project's config, the package's automatic features and every configured model run
end to end on a tiny synthetic competition that has this project's id column, target and
task: fetch, folds, train, a validated submission and a local score. The project's own
feature function is switched off here (the synthetic columns are not the real ones);
tests/test_features.py tests it.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from kagglekit.config import load_config
from kagglekit.testing import check_project_on_fixture

PROJECT = Path(__file__).resolve().parents[1]
MODELS = sorted(load_config(PROJECT / "config.toml").models)


@pytest.mark.parametrize("model", MODELS)
def test_model_runs_end_to_end_on_a_tiny_competition(model: str, tmp_path: Path) -> None:
    result = check_project_on_fixture(PROJECT, tmp_path, model=model)
    assert result["status"] == "COMPLETE"
    assert result["n_submission_rows"] == result["n_test"]
    assert math.isfinite(result["local_score"]) and math.isfinite(result["cv_mean"])
