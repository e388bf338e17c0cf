"""The notebooks run top to bottom: each project's start-here notebook on the real data
(small settings, a copy of the project: the repository's runs and README are untouched),
and each ``kk new`` template's starter notebook on a generated project.

A project notebook reads ``KK_NOTEBOOK_SMALL=1`` and trains its one model for an epoch or
a few rounds; all five take a few minutes on two cores.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

REPO = Path(__file__).resolve().parents[1]
PROJECTS = ["titanic", "fashion-mnist", "cifar10", "movielens", "disaster-tweets"]
MIRRORS = {"movielens": "movielens-100k"}
NOTEBOOK = "notebooks/start-here.ipynb"
# What a project copy needs to run: its config, its own code and its notebooks.
PROJECT_FILES = ("config.toml", "features.py", "notebooks")


def copy_project(name: str, projects: Path) -> Path:
    """``projects/NAME``'s config, code and notebooks copied under ``projects``."""
    source, dest = REPO / "projects" / name, projects / name
    dest.mkdir(parents=True)
    for item in PROJECT_FILES:
        if (source / item).is_dir():
            shutil.copytree(source / item, dest / item)
        elif (source / item).is_file():
            shutil.copy(source / item, dest / item)
    return dest


def execute(path: Path, env: dict[str, str], *, timeout: int = 600) -> Any:
    """Run the notebook at ``path`` in a fresh kernel (its folder as the working
    directory, ``env`` laid over this process's) and return it with its outputs."""
    nb = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    os.environ.update(env)  # the kernel inherits this process's environment
    try:
        client = nbclient.NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(path.parent)}},
            record_timing=False,
        )
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return nb


def outputs_text(nb: Any) -> str:
    """Every stream and plain-text output of the notebook, joined."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", "") or out.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def test_every_project_has_a_notebook_with_outputs() -> None:
    """Committed with outputs (GitHub shows them) and no error among them."""
    for name in PROJECTS:
        nb = nbformat.read(REPO / "projects" / name / NOTEBOOK, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        # Every cell after the imports shows something.
        assert all(c.get("outputs") for c in code[1:]), f"{name}: a code cell has no output"
        errors = [o for c in code for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{name}: {errors[0].get('evalue')}"
        source = "\n".join(c.source for c in code)
        assert f'kk.Project("{name}")' in source and ".train(" in source and ".oof" in source
        assert 'os.environ.get("KK_NOTEBOOK_SMALL")' in source


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize("name", PROJECTS)
def test_project_notebook_runs_on_small_settings(name: str, tmp_path: Path) -> None:
    import kagglekit.testing as testing

    mirror = testing.mirror_dir(MIRRORS.get(name, name)).parent
    projects = tmp_path / "projects"
    copy = copy_project(name, projects)
    env = {
        "KK_PROJECTS_DIR": str(projects),
        "KK_DATA_MIRROR": str(mirror),
        "KK_NOTEBOOK_SMALL": "1",
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2"),
    }
    own_runs = REPO / "projects" / name / "runs"
    before = sorted(own_runs.iterdir()) if own_runs.is_dir() else []
    nb = execute(copy / NOTEBOOK, env)
    runs = [json.loads(p.read_text()) for p in (copy / "runs").glob("*/record.json")]
    assert [r["status"] for r in runs] == ["COMPLETE"]  # the notebook's one model
    assert runs[0]["run_id"] in outputs_text(nb)  # its summary line and repr were shown
    # The repository's own project was not written to.
    assert (sorted(own_runs.iterdir()) if own_runs.is_dir() else []) == before


def test_template_starter_notebooks_render(projects_dir: Path) -> None:
    """Each kind's ``kk new`` writes a starter notebook naming the new project."""
    from kagglekit.scaffold import new_project, template_kinds

    for kind in template_kinds():
        slug = f"start-{kind}"
        folder = new_project(kind, slug, {"competition": slug}, ask=None)
        nb = nbformat.read(folder / "notebooks" / "starter.ipynb", as_version=4)
        nbformat.validate(nb)
        source = "\n".join(c.source for c in nb.cells)
        assert f'kk.Project("{slug}")' in source and "{{" not in source, kind


@pytest.mark.slow
def test_tabular_starter_notebook_runs(projects_dir: Path) -> None:
    """A generated tabular project's starter notebook, run on a tiny competition."""
    import kagglekit.atomic as atomic
    from kagglekit.scaffold import new_project
    from kagglekit.testing import make_tiny_frame

    frame = make_tiny_frame(200, seed=1)
    mirror = projects_dir.parent / "mirror" / "tiny-comp"
    test = frame.iloc[150:].drop(columns="target")
    atomic.write_text(mirror / "train.csv", frame.iloc[:150].to_csv(index=False))
    atomic.write_text(mirror / "test.csv", test.to_csv(index=False))
    sample = test[["id"]].assign(target=0)
    atomic.write_text(mirror / "sample_submission.csv", sample.to_csv(index=False))
    folder = new_project(
        "tabular",
        "tiny-comp",
        {"competition": "tiny-comp", "task": "binary", "metric": "accuracy", "n_splits": "3"},
        ask=None,
    )
    env = {
        "KK_PROJECTS_DIR": str(projects_dir),
        "KK_DATA_MIRROR": str(mirror.parent),
        "KK_NOTEBOOK_SMALL": "1",
    }
    nb = execute(folder / "notebooks" / "starter.ipynb", env, timeout=300)
    runs = list((folder / "runs").glob("*/record.json"))
    assert len(runs) == 1 and json.loads(runs[0].read_text())["status"] == "COMPLETE"
    assert "CV accuracy" in outputs_text(nb)
