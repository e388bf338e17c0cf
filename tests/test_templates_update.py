"""kk update: a three-way merge of template changes into a project with its own edits.

Each test works on a throw-away git repository holding a copy of the templates, so the
template can change (and be committed) without touching the real one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kagglekit.config import load_config
from kagglekit.errors import KKError
from kagglekit.scaffold import (
    ANSWERS_FILE,
    TEMPLATES_ENV,
    drifted_owned_files,
    new_project,
    templates_root,
    update_project,
)

KK = [str(Path(sys.executable).parent / "kk")]
PROJECT_TEMPLATE = Path("templates/tabular/{{cookiecutter.slug}}")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture
def template_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with a copy of cookiecutter.json and templates/, used by kk."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(templates_root() / "cookiecutter.json", repo / "cookiecutter.json")
    shutil.copytree(
        templates_root() / "templates",
        repo / "templates",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "templates")
    monkeypatch.setenv(TEMPLATES_ENV, str(repo))
    return repo


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_update_merges_a_template_change_into_a_locally_edited_project(
    template_repo: Path, projects_dir: Path
) -> None:
    project = new_project("tabular", "comp", {"task": "binary"})
    recorded = json.loads((project / ANSWERS_FILE).read_text())["template_tree"]
    # The user edits the README's top and a model parameter.
    _edit(project / "README.md", "## Run", "My notes on this competition.\n\n## Run")
    _edit(project / "config.toml", "learning_rate = 0.05", "learning_rate = 0.01")
    # The template changes another part of the README, a template-owned file, and
    # adds a file.
    tpl = template_repo / PROJECT_TEMPLATE
    _edit(tpl / "README.md", "## Files", "## Files in this folder")
    _edit(tpl / "tests/test_template.py", "from __future__", "# harness v2\nfrom __future__")
    (tpl / "NOTES.md").write_text("Notes for {{ cookiecutter.slug }}.\n")
    _git(template_repo, "add", ".")
    _git(template_repo, "commit", "-q", "-m", "template v2")

    report = update_project("comp")

    assert report.conflicts == [] and report.skipped == []
    assert sorted(report.merged) == ["README.md", "tests/test_template.py"]
    assert report.added == ["NOTES.md"]
    readme = (project / "README.md").read_text()
    assert "My notes on this competition." in readme and "## Files in this folder" in readme
    assert "learning_rate = 0.01" in (project / "config.toml").read_text()  # untouched
    assert (project / "NOTES.md").read_text() == "Notes for comp.\n"
    assert "# harness v2\nfrom __future__" in (project / "tests/test_template.py").read_text()
    record = json.loads((project / ANSWERS_FILE).read_text())
    assert record["template_tree"] == report.to_tree != recorded
    assert drifted_owned_files(project) == []
    assert update_project("comp").up_to_date


def test_update_reports_a_real_conflict_and_keeps_both_sides(
    template_repo: Path, projects_dir: Path
) -> None:
    project = new_project("tabular", "comp", {"task": "regression"})
    config_before = (project / "config.toml").read_text()
    _edit(project / "config.toml", "learning_rate = 0.05", "learning_rate = 0.01")
    _edit(
        template_repo / PROJECT_TEMPLATE / "config.toml",
        "learning_rate = 0.05",
        "learning_rate = 0.02",
    )
    _edit(template_repo / PROJECT_TEMPLATE / "config.toml", "auto = true", "auto = true  # v2")
    # Uncommitted template edits are a version too (the tree is built from the work tree).

    proc = subprocess.run(
        [*KK, "update", "comp"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "KK_PROJECTS_DIR": str(projects_dir)},
    )

    assert proc.returncode == 1
    assert "conflict: config.toml" in proc.stdout
    assert proc.stderr.startswith("error: 1 conflict(s) in config.toml")
    merged = (project / "config.toml").read_text()
    assert merged != config_before
    assert "<<<<<<< comp (yours)" in merged and ">>>>>>> template" in merged
    assert "learning_rate = 0.01" in merged and "learning_rate = 0.02" in merged
    assert "auto = true  # v2" in merged  # the non-overlapping change merged cleanly


def test_update_dry_run_writes_nothing_and_unchanged_files_are_untouched(
    template_repo: Path, projects_dir: Path
) -> None:
    project = new_project("tabular", "comp")
    (project / "features.py").write_text("# all mine\n")
    _edit(template_repo / PROJECT_TEMPLATE / "README.md", "## Results", "## Results (v2)")
    before = {p: p.read_bytes() for p in project.rglob("*") if p.is_file()}

    report = update_project("comp", dry_run=True)

    assert report.merged == ["README.md"] and not report.up_to_date
    assert {p: p.read_bytes() for p in project.rglob("*") if p.is_file()} == before
    update_project("comp")
    assert (project / "features.py").read_text() == "# all mine\n"
    assert "## Results (v2)" in (project / "README.md").read_text()


def test_update_handles_removed_and_deleted_files_without_overwriting(
    template_repo: Path, projects_dir: Path
) -> None:
    project = new_project("tabular", "comp")
    tpl = template_repo / PROJECT_TEMPLATE
    (project / "tests/test_features.py").write_text("# my tests\n")  # edited here
    (tpl / "tests/test_features.py").unlink()  # ... and removed from the template
    (project / "README.md").unlink()  # deleted here ...
    _edit(tpl / "README.md", "## Run", "## Running")  # ... and changed in the template
    _edit(tpl / "config.toml", "[cv]", "[cv]\nn_repeats = 1")  # a new question default

    report = update_project("comp")

    assert report.merged == ["config.toml"]
    assert sorted(report.skipped) == [
        "README.md: deleted here but changed in the template; not restored",
        "tests/test_features.py: removed from the template but edited here; kept",
    ]
    assert not (project / "README.md").exists()
    assert (project / "tests/test_features.py").read_text() == "# my tests\n"
    assert load_config(project / "config.toml").cv.n_repeats == 1


def test_update_needs_a_generated_project(projects_dir: Path) -> None:
    (projects_dir / "hand").mkdir()
    (projects_dir / "hand" / "config.toml").write_text("")
    with pytest.raises(KKError, match="was not generated by kk new"):
        update_project("hand")


def test_update_of_an_unknown_project_names_it(projects_dir: Path) -> None:
    (projects_dir / "hand").mkdir()
    (projects_dir / "hand" / "config.toml").write_text("")
    with pytest.raises(KKError, match="project 'hnad' is not known; did you mean 'hand'"):
        update_project("hnad")


def test_a_file_new_in_the_template_that_the_project_already_has_is_kept(
    template_repo: Path, projects_dir: Path
) -> None:
    # The recsys template gained a README after projects/movielens wrote its own: a merge
    # against an empty base would conflict on every line.
    project = new_project("tabular", "comp")
    tpl = template_repo / PROJECT_TEMPLATE
    (project / "NOTES.md").write_text("# my notes\n")
    (tpl / "NOTES.md").write_text("# template notes\n")
    _git(template_repo, "add", ".")
    _git(template_repo, "commit", "-q", "-m", "notes")

    report = update_project("comp")

    assert report.skipped == ["NOTES.md: added to the template but this project has its own; kept"]
    assert report.conflicts == [] and (project / "NOTES.md").read_text() == "# my notes\n"
