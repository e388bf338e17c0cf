"""Finding projects (``projects/<name>/`` with its config, data, folds and runs) and
loading a project's own code: its ``features.py`` (where its feature function,
``FOLD_STEPS``, loaders and backends live), with errors raised in it named by file:line.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import sys
import tempfile
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from kagglekit.config import ProjectConfig, load_config
from kagglekit.errors import KKError, unknown_name

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    FeatureFunction = Callable[[pd.DataFrame, pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]]

PROJECT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
WORKING_ENV = "KK_KAGGLE_WORKING"
KAGGLE_WORKING = Path("/kaggle/working")
# What a read-only project's twin starts from: its saved folds, runs and committed records.
_TWIN_SEEDS = ("data/folds.csv", "data/folds.json", "runs", "reports/records")


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


def is_writable(folder: Path) -> bool:
    """True when files can be made in ``folder`` (or, before it exists, in its nearest
    existing parent). A read-only mount says no even to root (``EROFS``)."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return os.access(candidate, os.W_OK)
    return False


def working_root() -> Path | None:
    """Where a read-only project writes: ``KK_KAGGLE_WORKING``, else Kaggle's
    ``/kaggle/working`` when it exists (what a kernel leaves there is its output)."""
    env = os.environ.get(WORKING_ENV)
    if env:
        return Path(env)
    return KAGGLE_WORKING if KAGGLE_WORKING.is_dir() else None


@dataclass(frozen=True)
class Project:
    """Paths of one project. Everything under ``data/`` and ``runs/`` is git-ignored.

    A project whose folder is read-only (attached to a Kaggle notebook as an input) reads
    its config and code there and writes elsewhere: its runs and folds under
    ``<working>/projects/<name>/`` (``twin``; on Kaggle ``/kaggle/working``, so runs are
    the kernel's output), its raw files and caches under the temporary folder, out of
    that output. Seeded from the project's own folds, runs and records by ``open_project``.
    """

    name: str
    root: Path

    @property
    def twin(self) -> Path | None:
        """The writable stand-in of a read-only project folder; None when it is writable
        (or no working folder is known: writes then fail as they would have)."""
        if is_writable(self.root):
            return None
        working = working_root()
        return None if working is None else working / "projects" / self.name

    @property
    def work_root(self) -> Path:
        """The folder runs and folds are written under: the project's own, or its twin."""
        return self.twin or self.root

    @property
    def config_path(self) -> Path:
        return self.root / "config.toml"

    @property
    def data_dir(self) -> Path:
        """Where raw files and decoded caches go: ``data/``, or a temporary folder for a twin."""
        if self.twin is None:
            return self.root / "data"
        # Raw copies and caches stay out of a kernel's output (/kaggle/working is saved).
        return Path(tempfile.gettempdir()) / "kagglekit" / "projects" / self.name / "data"

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def interim_dir(self) -> Path:
        """Decoded data cached by the loaders, keyed by the raw files' checksums."""
        return self.data_dir / "interim"

    @property
    def folds_path(self) -> Path:
        return self.work_root / "data" / "folds.csv"

    @property
    def runs_dir(self) -> Path:
        return self.work_root / "runs"

    @property
    def features_path(self) -> Path:
        return self.root / "features.py"

    def import_module(self) -> ModuleType | None:
        """Import the project's features.py (None without one).

        Importing it first lets a project register its own loaders and backends before
        they are looked up by name.
        """
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
    project = Project(name=name, root=folder)
    seed_twin(project)
    return project


def seed_twin(project: Project) -> None:
    """Copy a read-only project's saved folds, runs and records into its twin, once each.

    The runs then keep comparing on the same folds, and ``kk runs`` lists what the project
    came with beside what is trained here. Nothing is done for a writable project.
    """
    twin = project.twin
    if twin is None:
        return
    for rel in _TWIN_SEEDS:
        src, dest = project.root / rel, twin / rel
        if dest.exists() or not src.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dest)
        else:
            shutil.copy2(src, dest)


# --- a project's own code ------------------------------------------------------------


def load_project_module(path: Path) -> ModuleType | None:
    """Import a project's ``features.py`` by file path (None if the project has none)."""
    if not path.exists():
        return None
    # The module name includes a digest of the resolved path: two projects with the same
    # folder name (a test copy, say) must not share a cached module.
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    name = f"kk_project_{path.parent.name.replace('-', '_')}_features_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise KKError(f"cannot import {path}; is it a Python file?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as err:
        # A half-run module must not be cached: the next load (after the fix) runs it again.
        del sys.modules[name]
        if isinstance(err, SyntaxError):
            raise KKError(
                f"{path} line {err.lineno}: {err.msg}; fix the Python syntax there"
            ) from err
        if isinstance(err, Exception) and not isinstance(err, KKError):
            described = user_code_error(err, what=f"importing {path.name}")
            if described is not None:
                raise described from err
        raise
    return module


def _is_library_file(filename: str) -> bool:
    """True for frames of kagglekit, the standard library and installed packages."""
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return True
    path = os.path.abspath(filename)
    package_dir = os.path.dirname(os.path.abspath(__file__))
    roots = {package_dir, sys.prefix, sys.base_prefix, sys.exec_prefix}
    return any(path == root or path.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def user_code_error(err: BaseException, *, what: str = "") -> KKError | None:
    """One line naming where in the user's own code ``err`` was raised, or None.

    The user's frames are those outside kagglekit, the standard library and installed
    packages (a project's ``features.py``, say). The line names each of them as
    ``file:line (function)``, outermost first, then the error, so a mistake in a project's
    features reads like a project mistake instead of 69 lines of the library's traceback.
    Returns None when no frame of the traceback is the user's (a bug of the library then
    keeps its full traceback).
    """
    frames = [
        frame
        for frame in traceback.extract_tb(err.__traceback__)
        if not _is_library_file(frame.filename)
    ]
    if not frames:
        return None
    cwd = os.getcwd()

    def where(frame: traceback.FrameSummary) -> str:
        path = os.path.abspath(frame.filename)
        shown = os.path.relpath(path, cwd) if path.startswith(cwd + os.sep) else path
        return f"{shown}:{frame.lineno} ({frame.name})"

    chain = " -> ".join(where(frame) for frame in frames)
    code = (frames[-1].line or "").strip()
    detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
    error = f"{type(err).__name__}: {detail}" if detail else type(err).__name__
    context = f" while {what}" if what else ""
    quoted = f" `{code}`" if code else ""
    return KKError(
        f"your code failed{context}: {error} at {chain}{quoted}; fix it there "
        "(kk --debug shows the full traceback)"
    )


def project_feature_function(module: ModuleType | None, name: str) -> FeatureFunction | None:
    """The function ``name`` from the project's features module (None when not set)."""
    if not name:
        return None
    if module is None:
        raise KKError(f"features.function = '{name}' but the project has no features.py; create it")
    fn = getattr(module, name, None)
    if not callable(fn):
        public = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        raise unknown_name("features.function", name, public)
    return fn
