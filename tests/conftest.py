"""Shared fixtures; helpers that projects' tests need too live in ``kagglekit.testing``."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def projects_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty projects root that kk and the library use for this test."""
    root = tmp_path / "projects"
    root.mkdir()
    monkeypatch.setenv("KK_PROJECTS_DIR", str(root))
    return root
