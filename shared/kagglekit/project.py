"""Finding projects: ``projects/<name>/`` with its config, data, folds and runs."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from kagglekit.config import ProjectConfig, load_config
from kagglekit.errors import KKError, unknown_name

PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def projects_root() -> Path:
    """The folder that holds the projects.

    ``KK_PROJECTS_DIR`` wins; otherwise the nearest ``projects/`` folder at or above the
    working directory that sits beside a ``pyproject.toml`` (the monorepo root).
    """
    env = os.environ.get("KK_PROJECTS_DIR")
    if env:
        return Path(env).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "projects").is_dir() and (folder / "pyproject.toml").is_file():
            return folder / "projects"
    raise KKError(
        f"no projects/ folder found at or above {here}; run kk inside the kagglekit "
        "repository or set KK_PROJECTS_DIR"
    )


@dataclass(frozen=True)
class Project:
    """Paths of one project. Everything under ``data/`` and ``runs/`` is git-ignored."""

    name: str
    root: Path

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def raw_dir(self) -> Path:
        return self.root / "data" / "raw"

    @property
    def interim_dir(self) -> Path:
        """Decoded data cached by the loaders, keyed by the raw files' checksums."""
        return self.root / "data" / "interim"

    @property
    def folds_path(self) -> Path:
        return self.root / "data" / "folds.csv"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def features_path(self) -> Path:
        return self.root / "features.py"

    def import_module(self) -> ModuleType | None:
        """Import the project's features.py (None without one).

        Importing it first lets a project register its own loaders and backends before
        they are looked up by name.
        """
        from kagglekit.features import load_project_module

        return load_project_module(self.features_path)

    def config(self, overrides: list[str] | None = None) -> ProjectConfig:
        """Load and validate the project's config with optional ``--set`` overrides."""
        return load_config(self.config_path, overrides)


def list_projects(root: Path | None = None) -> list[str]:
    """Names of the folders under ``projects/`` that have a ``config.toml``."""
    root = root or projects_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "config.toml").is_file())


def open_project(name: str, root: Path | None = None) -> Project:
    """Return the project called ``name``; an unknown name gets a did-you-mean hint."""
    root = root or projects_root()
    if not PROJECT_NAME.match(name):
        raise KKError(
            f"project name '{name}' is not valid; use lower-case letters, digits, '-' and '_'"
        )
    folder = root / name
    if not (folder / "config.toml").is_file():
        raise unknown_name("project", name, list_projects(root))
    return Project(name=name, root=folder)
