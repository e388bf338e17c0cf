"""What the bench scripts share: the data mirror and throw-away copies of competitions.

Every bench works in a temporary projects root so no project's own folds, runs or studies
change. Imported by the scripts as ``_common`` (``python bench/X.py`` puts bench/ first on
the import path).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd

from kagglekit import atomic, data, folds
from kagglekit.project import Project, open_project
from kagglekit.testing import sklearn_competition

REPO = Path(__file__).resolve().parents[1]
TITANIC = REPO / "projects" / "titanic"


def default_mirror() -> Path:
    """The local data mirror: ``KK_DATA_MIRROR``, else ``../shared/data`` beside the repo."""
    env = os.environ.get("KK_DATA_MIRROR")
    return Path(env) if env else REPO.parent / "shared" / "data"


def copy_titanic(root: Path) -> Path:
    """``projects/titanic``'s config and features copied to ``root/titanic``; its folder."""
    folder = root / "titanic"
    folder.mkdir(parents=True)
    for name in ("config.toml", "features.py"):
        shutil.copy(TITANIC / name, folder / name)
    return folder


def ready(project: Project, mirror: Path, overrides: list[str] | None = None) -> Project:
    """Fetch the project's files from ``mirror`` and assign its folds (``kk fetch``, ``kk folds``)."""
    cfg = project.config(overrides)
    data.fetch(project, cfg, from_dir=mirror)
    folds.assign_project_folds(project, cfg)
    return project


def titanic_project(root: Path, mirror: Path, overrides: list[str] | None = None) -> Project:
    """A fetched copy of the Titanic project with its folds assigned."""
    copy_titanic(root)
    return ready(open_project("titanic", root), mirror / "titanic", overrides)


def sklearn_project(
    root: Path,
    loader: str,
    name: str,
    config: str,
    *,
    split_seed: int = 0,
    fmt: str = "labels",
    overrides: list[str] | None = None,
) -> Project:
    """A scikit-learn dataset as a fetched competition with folds, under ``root/name``."""
    mirror = sklearn_competition(root.parent, loader, name, seed=split_seed, submission_format=fmt)
    atomic.write_text(root / name / "config.toml", config)
    return ready(open_project(name, root), mirror, overrides)


def frame_project(
    root: Path, frame: pd.DataFrame, name: str, config: str, *, fmt: str = "labels"
) -> Project:
    """A data frame (an ``id`` and a ``target`` column) as a fetched competition with folds."""
    csv = root.parent / f"{name}-source.csv"
    atomic.write_bytes(csv, frame.to_csv(index=False).encode())
    mirror = root.parent / "mirror" / name
    data.make_competition(
        csv, target="target", out=mirror, id_column="id", test_size=0.3, submission_format=fmt
    )
    atomic.write_text(root / name / "config.toml", config)
    return ready(open_project(name, root), mirror)
