"""The issue's determinism requirement: two runs with the same seed give byte-identical
``oof.npy`` for LightGBM, XGBoost and the scikit-learn models."""

from __future__ import annotations

from pathlib import Path

import pytest

from kagglekit import data, folds, training
from kagglekit.project import Project, open_project
from kagglekit.testing import make_tiny_project, tiny_config

MODELS = """
[models.xgboost]
backend = "xgboost"
params = { n_estimators = 60, max_depth = 3, n_jobs = 1 }
early_stopping_rounds = 10

# Forests with n_jobs = 2: threads must not change the predictions either.
[models.random_forest]
backend = "random_forest"
params = { n_estimators = 15, n_jobs = 2 }

[models.extra_trees]
backend = "extra_trees"
params = { n_estimators = 15, n_jobs = 2 }

[models.decision_tree]
backend = "decision_tree"
params = { max_depth = 4 }

[models.svm]
backend = "svm"

[models.knn]
backend = "knn"
"""
CLASSIFIERS = [
    "lightgbm",
    "xgboost",
    "linear",
    "random_forest",
    "extra_trees",
    "decision_tree",
    "svm",
    "knn",
]


def _ready(projects_dir: Path, task: str) -> Project:
    config = tiny_config("tiny", task=task, extra=MODELS)
    paths = make_tiny_project(projects_dir, "tiny", task=task, n_rows=150, config=config)
    project = open_project("tiny")
    data.fetch(project, project.config(), from_dir=paths["mirror"])
    folds.assign_project_folds(project, project.config())
    return project


@pytest.mark.parametrize(
    ("task", "models"),
    [("binary", CLASSIFIERS), ("regression", ["lightgbm", "xgboost", "linear", "random_forest"])],
)
def test_same_seed_gives_byte_identical_oof(
    projects_dir: Path, task: str, models: list[str]
) -> None:
    project = _ready(projects_dir, task)
    cfg = project.config()
    for name in models:
        first = training.train(project, cfg, model_name=name).run
        second = training.train(project, cfg, model_name=name).run
        assert first.run_id != second.run_id
        a, b = first.path("oof.npy").read_bytes(), second.path("oof.npy").read_bytes()
        assert a == b, f"{name}: oof.npy differs between two runs with the same seed"
        assert first.path("test.npy").read_bytes() == second.path("test.npy").read_bytes(), name


def test_a_different_model_seed_changes_the_oof(projects_dir: Path) -> None:
    project = _ready(projects_dir, "binary")
    base = training.train(project, project.config(), model_name="random_forest").run
    other = training.train(
        project, project.config(["models.random_forest.seed=1"]), model_name="random_forest"
    ).run
    assert base.path("oof.npy").read_bytes() != other.path("oof.npy").read_bytes()
