"""Every model entry of every project runs end to end on its real data (``kk train --smoke``).

Each project's config and code are copied into a temporary projects root, fetched from the
mirror and given folds there, so the project's own data, folds and runs are untouched.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from kagglekit.project import open_project
from kagglekit.testing import mirror_dir, run_kk_inprocess

REPO = Path(__file__).resolve().parents[1]
PROJECTS = sorted(p.parent.name for p in (REPO / "projects").glob("*/config.toml"))


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("name", PROJECTS)
def test_every_model_entry_of_the_project_runs(
    name: str,
    projects_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = REPO / "projects" / name
    cfg = open_project(name, REPO / "projects").config()
    if any(
        b in ("mlp", "lenet5", "cnn", "resnet", "fastnet", "timm")
        for b in (m.backend for m in cfg.models.values())
    ):
        pytest.importorskip("torch")
    mirror = mirror_dir(cfg.competition.source.mirror_folder or name)
    target = projects_dir / name
    target.mkdir()
    for item in source.iterdir():
        if item.name not in ("data", "runs", "studies", "reports") and item.is_file():
            shutil.copy(item, target / item.name)
    for args in (("fetch", name, "--from", str(mirror)), ("folds", name)):
        code, _, err = run_kk_inprocess(capsys, monkeypatch, *args)
        assert code == 0, err
    code, out, err = run_kk_inprocess(capsys, monkeypatch, "train", name, "--smoke", "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["model"] for r in rows) == sorted(cfg.models)
    assert not (target / "runs").exists()
