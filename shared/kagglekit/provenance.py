"""Where and with what a run was made: the git commit and dirty flag, package versions,
the time, whether a recorded process still runs. Read by ``records`` for every run record
and by ``kaggle.submit`` for the ledger; imports nothing of the package.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "BASE_PACKAGES",
    "GENERATED_PATHSPECS",
    "git_state",
    "now",
    "package_versions",
    "pid_alive",
]

# Recorded by every run; a run adds its backend's own (``Backend.packages``).
BASE_PACKAGES = ("kagglekit", "numpy", "pandas", "scikit-learn", "optuna")


# Files kk itself regenerates (``kk report``'s plots and README sections, ``kk submit``'s
# ledger): they change nothing a run computes, so editing them does not make a run's tree
# dirty. Git pathspecs from the repository's top.
GENERATED_PATHSPECS = (
    ":(top,exclude)README.md",
    ":(top,exclude,glob)projects/*/README.md",
    ":(top,exclude,glob)projects/*/reports/*.png",
    ":(top,exclude,glob)projects/*/reports/records/*.json",
    ":(top,exclude,glob)projects/*/reports/records/*.npz",
    ":(top,exclude,glob)docs/learning-path*.md",
    ":(top,exclude,glob)projects/*/submissions.jsonl",
)


def git_state(cwd: Path) -> dict[str, Any]:
    """Commit and dirty flag of the repository holding ``cwd`` (None outside git).

    Changes to files kk generates (``GENERATED_PATHSPECS``) do not count as dirty.
    """
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", *GENERATED_PATHSPECS],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
        return {"commit": commit, "dirty": bool(status.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def package_versions(packages: Iterable[str] = ()) -> dict[str, str]:
    """Versions of Python, ``BASE_PACKAGES`` and ``packages`` (those installed)."""
    versions = {"python": platform.python_version()}
    for name in dict.fromkeys((*BASE_PACKAGES, *packages)):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def now() -> str:
    """The time now, UTC, to the second (ISO 8601)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` on this machine runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed child not yet reaped is a zombie: gone for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
