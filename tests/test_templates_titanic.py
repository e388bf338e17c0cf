"""projects/titanic is a generated tabular project plus its own features.

Its recorded answers regenerate the tabular template; the files the template owns must
match that output byte for byte (config.toml, features.py, README.md and the project's
own tests are the user's side and may differ).
"""

from __future__ import annotations

import json
from pathlib import Path

from kagglekit.config import load_config
from kagglekit.scaffold import (
    ANSWERS_FILE,
    drifted_owned_files,
    load_template,
    templates_root,
    validate_answers,
)

TITANIC = templates_root() / "projects" / "titanic"


def test_titanic_records_answers_that_describe_it() -> None:
    record = json.loads((TITANIC / ANSWERS_FILE).read_text())
    assert record["template"] == "tabular"
    assert record["template_version"] == load_template("tabular").version
    answers = record["answers"]
    assert set(answers) == set(load_template("tabular").questions)
    validate_answers("tabular", answers)
    comp = load_config(TITANIC / "config.toml").competition
    assert answers["slug"] == TITANIC.name == comp.name
    assert (answers["competition"], answers["id_column"], answers["target_column"]) == (
        comp.slug,
        comp.id_column,
        comp.target_column,
    )
    assert (answers["task"], answers["metric"], answers["submission_format"]) == (
        comp.task,
        comp.metric,
        comp.submission_format,
    )
    assert answers["sample_submission_file"] == comp.sample_submission_file


def test_titanic_template_owned_files_have_not_drifted() -> None:
    owned = load_template("tabular").owned
    assert owned and all((TITANIC / rel).is_file() for rel in owned)
    assert drifted_owned_files(TITANIC) == []


def test_titanic_readme_keeps_the_generated_results_section() -> None:
    readme = (TITANIC / "README.md").read_text()
    start, end = readme.find("<!-- kk:results:start -->"), readme.find("<!-- kk:results:end -->")
    assert 0 <= start < end


def test_drift_is_detected(tmp_path: Path) -> None:
    copy = tmp_path / "titanic"
    copy.mkdir()
    for name in (ANSWERS_FILE, "config.toml"):
        (copy / name).write_bytes((TITANIC / name).read_bytes())
    (copy / "tests").mkdir()
    owned = load_template("tabular").owned[0]
    (copy / owned).write_text((TITANIC / owned).read_text() + "# edited by hand\n")
    assert drifted_owned_files(copy) == [owned]
