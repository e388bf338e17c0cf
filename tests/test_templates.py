"""Templates: generating projects with kk new, answer validation, and the generated tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kagglekit.config import load_config
from kagglekit.errors import KKError
from kagglekit.scaffold import (
    ANSWERS_FILE,
    drifted_owned_files,
    load_template,
    new_project,
    templates_root,
)

REPO = templates_root()
KK = [str(Path(sys.executable).parent / "kk")]


def _all_paths(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if "__pycache__" not in p.parts)


def _assert_fully_rendered(project: Path) -> None:
    for path in _all_paths(project):
        assert "{{" not in path.name and "{%" not in path.name, path
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert "{{" not in text and "{%" not in text, path


@pytest.mark.parametrize(
    ("task", "metric", "fmt"),
    [
        ("binary", None, "probabilities"),  # defaults: roc_auc
        ("binary", "accuracy", "labels"),
        ("binary", "f1", "labels"),
        ("multiclass", None, "probabilities"),  # log_loss
        ("multiclass", "f1_macro", "labels"),
        ("regression", None, "values"),  # rmse
        ("regression", "rmsle", "values"),
        ("regression", "mae", "values"),
    ],
)
def test_generates_every_task_and_metric(
    projects_dir: Path, task: str, metric: str | None, fmt: str
) -> None:
    given = {"task": task} | ({"metric": metric} if metric else {})
    project = new_project("tabular", f"p-{task}", given)
    _assert_fully_rendered(project)
    cfg = load_config(project / "config.toml")
    default_metric = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}[task]
    assert cfg.competition.task == task
    assert cfg.competition.metric == (metric or default_metric)
    assert cfg.competition.submission_format == fmt
    assert cfg.features.auto is True
    assert cfg.default_model == "lightgbm" and cfg.models["lightgbm"].early_stopping_rounds > 0
    backends = {entry.backend for entry in cfg.models.values()}
    # A portfolio for kk auto: two boosters and other families, for ensembling.
    assert {"lightgbm", "xgboost", "random_forest"} <= backends
    assert len(backends) == (3 if metric == "rmsle" else 4)
    files = {p.relative_to(project).as_posix() for p in _all_paths(project) if p.is_file()}
    assert files == {
        ANSWERS_FILE,
        "README.md",
        "config.toml",
        "features.py",
        "notebooks/starter.ipynb",
        "tests/test_features.py",
        "tests/test_template.py",
    }
    readme = (project / "README.md").read_text()
    assert "<!-- kk:results:start -->" in readme and "<!-- kk:results:end -->" in readme
    record = json.loads((project / ANSWERS_FILE).read_text())
    assert record["template"] == "tabular"
    assert record["template_version"] == load_template("tabular").version
    assert len(record["template_tree"]) == 40
    assert record["answers"]["task"] == task and record["answers"]["slug"] == f"p-{task}"
    assert drifted_owned_files(project) == []


def test_non_default_answers_reach_the_config(projects_dir: Path) -> None:
    project = new_project(
        "tabular",
        "house-prices",
        {
            "competition": "house-prices-advanced-regression-techniques",
            "id_column": "Id",
            "target_column": "SalePrice",
            "task": "regression",
            "metric": "rmsle",
            "sample_submission_file": "sample.csv",
            "solution_file": "solution.csv",
            "n_splits": "10",
            "seed": "7",
        },
    )
    cfg = load_config(project / "config.toml")
    comp = cfg.competition
    assert (comp.name, comp.slug) == ("house-prices", "house-prices-advanced-regression-techniques")
    assert (comp.id_column, comp.target_column) == ("Id", "SalePrice")
    assert (comp.sample_submission_file, comp.solution_file) == ("sample.csv", "solution.csv")
    assert (cfg.cv.kind, cfg.cv.n_splits, cfg.cv.seed) == ("kfold", 10, 7)
    # rmsle: no linear model (it may predict below zero)
    assert set(cfg.models) == {"lightgbm", "xgboost", "random_forest"}
    assert "SalePrice" in (project / "README.md").read_text()


def test_generated_projects_own_tests_pass(projects_dir: Path) -> None:
    new_project("tabular", "bin", {"task": "binary", "metric": "accuracy"})
    new_project("tabular", "multi", {"task": "multiclass", "metric": "f1_macro"})
    new_project(
        "tabular",
        "reg",
        {"task": "regression", "metric": "rmsle", "id_column": "Key", "target_column": "Price"},
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib"],
        cwd=projects_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
    # (4 + 4 + 3 models (rmsle: no linear one)) + 3 features tests
    assert "14 passed" in proc.stdout


@pytest.mark.parametrize(
    ("slug", "given", "message"),
    [
        ("Bad Slug", {}, "project slug 'Bad Slug' is not valid"),
        ("ok", {"metric": "acuracy"}, "did you mean 'accuracy'"),
        ("ok", {"task": "binary", "metric": "rmse"}, "does not fit task 'binary'"),
        ("ok", {"task": "regression", "metric": "roc_auc"}, "does not fit task 'regression'"),
        ("ok", {"task": "ranking"}, "task 'ranking' is not one of"),
        ("ok", {"submission_format": "values"}, "does not fit a binary task"),
        ("ok", {"n_splits": "five"}, "n_splits 'five' is not a whole number"),
        ("ok", {"n_splits": "1"}, "n_splits"),
        ("ok", {"target_column": "id"}, "must differ"),
        ("ok", {"colour": "red"}, "question 'colour' is not known"),
    ],
)
def test_bad_answers_fail_in_one_line_and_leave_nothing(
    projects_dir: Path, slug: str, given: dict[str, str], message: str
) -> None:
    with pytest.raises(KKError) as err:
        new_project("tabular", slug, given)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert list(projects_dir.iterdir()) == []


def test_cli_bad_metric_is_one_line_and_writes_nothing(projects_dir: Path) -> None:
    proc = subprocess.run(
        [*KK, "new", "tabular", "x", "--no-input", "--task", "binary", "--metric", "rmse"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "KK_PROJECTS_DIR": str(projects_dir)},
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: answers: metric 'rmse' does not fit task 'binary'; it is for regression tasks"
    ]
    assert list(projects_dir.iterdir()) == []


def test_cli_new_scripted_then_refuses_an_existing_folder(projects_dir: Path) -> None:
    env = {**os.environ, "KK_PROJECTS_DIR": str(projects_dir)}
    args = [*KK, "new", "tabular", "comp", "--no-input", "--task", "multiclass"]
    args += ["--competition", "some-comp", "--id-column", "row", "--target", "label"]
    args += ["--metric", "accuracy", "--set", "n_splits=4"]
    first = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
    assert first.returncode == 0, first.stderr
    cfg = load_config(projects_dir / "comp" / "config.toml")
    assert (cfg.competition.slug, cfg.competition.id_column) == ("some-comp", "row")
    assert (cfg.competition.metric, cfg.cv.n_splits) == ("accuracy", 4)
    (projects_dir / "comp" / "features.py").write_text("# my edits\n")
    again = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
    assert again.returncode == 1
    assert "already exists; kk new never overwrites" in again.stderr
    assert (projects_dir / "comp" / "features.py").read_text() == "# my edits\n"


def test_new_refuses_a_folder_that_is_not_a_project(projects_dir: Path) -> None:
    (projects_dir / "notes").mkdir()
    (projects_dir / "notes" / "todo.txt").write_text("keep me")
    with pytest.raises(KKError, match="already exists"):
        new_project("tabular", "notes")
    assert [p.name for p in (projects_dir / "notes").iterdir()] == ["todo.txt"]


def test_interactive_answers_are_asked_for_what_is_not_given(projects_dir: Path) -> None:
    asked: list[str] = []

    def ask(key: str, prompt: str, default: str, choices: object) -> str:
        asked.append(key)
        return {"task": "regression", "target_column": "y"}.get(key, default)

    project = new_project("tabular", "asked", {"id_column": "key"}, ask=ask)
    cfg = load_config(project / "config.toml")
    assert "id_column" not in asked and "slug" not in asked and "task" in asked
    # The metric's default follows the task answered before it.
    assert (cfg.competition.task, cfg.competition.metric) == ("regression", "rmse")
    assert cfg.competition.target_column == "y"


def test_every_kind_in_cookiecutter_json_is_available() -> None:
    kinds = json.loads((REPO / "cookiecutter.json").read_text())["templates"]
    assert set(kinds) == {"tabular", "vision", "recsys", "nlp"}
    for kind, entry in kinds.items():
        assert load_template(kind).available, kind
        assert "NOT YET" not in entry["description"], kind


def test_plain_cookiecutter_at_the_root(tmp_path: Path) -> None:
    from cookiecutter.exceptions import FailedHookException
    from cookiecutter.main import cookiecutter

    config = tmp_path / "cc.yaml"
    config.write_text(f"replay_dir: {json.dumps(str(tmp_path / 'replay'))}\n")
    out = tmp_path / "out"
    # No input: the first nested template, tabular; its hooks validate and record answers.
    path = Path(
        cookiecutter(
            str(REPO),
            no_input=True,
            extra_context={"slug": "plain", "task": "regression"},
            output_dir=str(out),
            config_file=str(config),
        )
    )
    assert path == out / "plain"
    _assert_fully_rendered(path)
    assert json.loads((path / ANSWERS_FILE).read_text())["answers"]["metric"] == "rmse"
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(REPO),
            no_input=True,
            extra_context={"slug": "bad", "task": "binary", "metric": "rmse"},
            output_dir=str(out),
            config_file=str(config),
        )
    assert sorted(p.name for p in out.iterdir()) == ["plain"]


@pytest.mark.parametrize("pwd", ["repo", "elsewhere"])
def test_the_cookiecutter_command_with_a_relative_template_path(tmp_path: Path, pwd: str) -> None:
    """`cookiecutter templates/tabular --no-input -o OUT`, as cookiecutter's docs show it:
    the post-generation hook resolves the relative path (PWD, else this repository)."""
    import shutil

    command = shutil.which("cookiecutter") or str(Path(sys.executable).with_name("cookiecutter"))
    config = tmp_path / "cc.yaml"
    config.write_text(f"replay_dir: {json.dumps(str(tmp_path / 'replay'))}\n")
    out = tmp_path / "out"
    env = {**os.environ, "PWD": str(REPO) if pwd == "repo" else str(tmp_path)}
    proc = subprocess.run(
        [command, "templates/tabular", "--no-input", "-o", str(out), "--config-file", str(config)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    project = out / "my-competition"
    _assert_fully_rendered(project)
    record = json.loads((project / ANSWERS_FILE).read_text())
    assert record["template"] == "tabular" and record["answers"]["slug"] == "my-competition"


def test_project_readmes_have_a_human_title() -> None:
    """Issue 33: a project README's title is what a reader calls it, not the Kaggle slug."""
    import tomllib

    projects = Path(__file__).resolve().parents[1] / "projects"
    for config in sorted(projects.glob("*/config.toml")):
        competition = tomllib.loads(config.read_text())["competition"]
        title = (config.parent / "README.md").read_text().splitlines()[0]
        slugs = {competition.get("slug"), competition.get("name"), config.parent.name}
        assert title.startswith("# ") and title[2:] not in slugs, (config.parent.name, title)
