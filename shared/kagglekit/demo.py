"""The offline demo: scikit-learn's breast-cancer data laid out as a Kaggle competition."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import kagglekit.atomic as atomic
from kagglekit.data.synthetic import make_competition

PROJECT = "breast-cancer"
MODELS = ("lightgbm", "logistic_regression")

# The demo project's config, as a user would write it in projects/<name>/config.toml.
CONFIG = """\
default_model = "lightgbm"

[competition]
name = "breast-cancer"
source = { kind = "mirror", mirror_folder = "breast-cancer" }
id_column = "id"
target_column = "target"
task = "binary"
metric = "roc_auc"
submission_format = "probabilities"
solution_file = "solution.csv"

[cv]
kind = "stratified"
n_splits = 5
seed = 42

[models.lightgbm]
backend = "lightgbm"
params = { learning_rate = 0.05, num_leaves = 15, min_child_samples = 10, n_jobs = 2 }
early_stopping_rounds = 50

[models.logistic_regression]
backend = "logistic_regression"
params = { C = 0.5 }
"""


def prepare_demo(workdir: Path) -> dict[str, Any]:
    """Write the CSV, the competition files and the project config under ``workdir``.

    The folder is rebuilt from scratch each time so the demo always runs the same way.
    """
    from sklearn.datasets import load_breast_cancer

    workdir = Path(workdir).resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    frame = load_breast_cancer(as_frame=True).frame
    csv = workdir / "breast_cancer.csv"
    atomic.write_bytes(csv, frame.to_csv(index=False).encode("utf-8"))
    mirror = workdir / "mirror" / PROJECT
    make_competition(csv, target="target", out=mirror, test_size=0.3, seed=0)
    projects = workdir / "projects"
    atomic.write_text(projects / PROJECT / "config.toml", CONFIG)
    return {
        "csv": csv,
        "mirror": mirror,
        "projects": projects,
        "project": PROJECT,
        "models": MODELS,
    }
