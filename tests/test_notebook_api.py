"""The Python surface (``kk.Project``, ``kk.Run``) on a tiny synthetic competition.

Every name of the contract a notebook uses: ``kk.Project(name or path)``, ``fetch``,
``folds``, ``train`` (``set=`` as ``--set``) returning a ``Run`` with ``cv_mean``,
``oof``, ``test`` and ``record``, ``runs``, ``ensemble``, ``report``, ``submit(dry_run=
True)`` and ``kk.Project.new``; each checked against what the ``kk`` command does.
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import kagglekit as kk
import kagglekit.notebook as notebook
from kagglekit.config import parse_override
from kagglekit.errors import KKError
from kagglekit.metrics import get_metric
from kagglekit.testing import make_tiny_project, run_kk_inprocess

pytest.importorskip("lightgbm")

LR = "models.lightgbm.params.learning_rate"


@pytest.fixture
def tiny(projects_dir: Path) -> dict[str, Any]:
    """The tiny competition fetched, with folds and one lightgbm run made through the API."""
    made = make_tiny_project(projects_dir, "tiny")
    p = kk.Project("tiny", progress="off")
    p.fetch(made["mirror"])
    folds = p.folds()
    run = p.train("lightgbm", set={LR: 0.03})
    return {"p": p, "run": run, "folds": folds, **made}


def test_train_returns_a_run_recorded_like_kk_train(tiny: dict[str, Any]) -> None:
    run, p = tiny["run"], tiny["p"]
    assert isinstance(run, kk.Run) and run.status == "COMPLETE"
    assert run.cv_mean == pytest.approx(run.record["cv_mean"])
    assert run.cv_std == pytest.approx(run.record["cv_std"])
    assert run.record["overrides"] == [f"{LR}=0.03"]  # what --set records
    assert run.record["config"]["models"]["lightgbm"]["params"]["learning_rate"] == 0.03
    assert run.folder.parent == p.runs_dir and run.submission.is_file()
    assert "CV accuracy" in repr(run) and run.run_id in repr(run)


def test_oof_frame_lines_up_with_the_folds_and_the_train_file(tiny: dict[str, Any]) -> None:
    run, folds = tiny["run"], tiny["folds"]
    oof = run.oof
    assert list(oof.columns) == ["id", "fold", "target", "prediction"]
    train = pd.read_csv(tiny["project"] / "data" / "raw" / "train.csv")
    assert oof["id"].tolist() == train["id"].tolist() == folds["id"].tolist()
    assert oof["fold"].tolist() == folds["fold_0"].tolist()
    assert oof["target"].tolist() == train["target"].tolist()
    np.testing.assert_array_equal(oof["prediction"], run.load_array("oof"))
    # The frame scores as the run recorded it.
    score = get_metric("accuracy")(oof["target"].to_numpy(), oof["prediction"].to_numpy())
    assert score == pytest.approx(run.record["oof_score"])


def test_test_frame_holds_the_test_ids_in_order(tiny: dict[str, Any]) -> None:
    run = tiny["run"]
    test = pd.read_csv(tiny["project"] / "data" / "raw" / "test.csv")
    frame = run.test
    assert list(frame.columns) == ["id", "prediction"]
    assert frame["id"].tolist() == test["id"].tolist()
    np.testing.assert_array_equal(frame["prediction"], run.load_array("test"))


def test_multiclass_predictions_get_one_column_per_class(projects_dir: Path) -> None:
    made = make_tiny_project(projects_dir, "multi", task="multiclass")
    p = kk.Project("multi", progress="off")
    p.fetch(made["mirror"])
    p.folds()
    run = p.train("linear")
    classes = run.record["classes"]
    assert list(run.oof.columns) == ["id", "fold", "target", *(f"prediction_{c}" for c in classes)]
    assert set(run.oof["target"]) <= set(classes)
    np.testing.assert_allclose(run.oof.filter(like="prediction_").sum(axis=1), 1.0)
    assert list(run.test.columns)[1:] == [f"prediction_{c}" for c in classes]


def test_runs_is_the_leaderboard_of_kk_runs(
    tiny: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    p, first = tiny["p"], tiny["run"]
    second = p.train("linear")
    board = p.runs()
    code, out, _ = run_kk_inprocess(capsys, monkeypatch, "runs", "tiny", "--json")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert board["run_id"].tolist() == [r["run_id"] for r in rows]
    assert set(board["run_id"]) == {first.run_id, second.run_id}
    assert list(board.columns) == list(rows[0])
    assert board.index.tolist() == [1, 2]  # kk runs' row numbers
    assert p.run("1").run_id == board.loc[1, "run_id"] == p.run("best").run_id
    assert p.run(first).oof.equals(first.oof)


def test_runs_of_a_project_without_runs_is_an_empty_frame(projects_dir: Path) -> None:
    make_tiny_project(projects_dir, "empty")
    board = kk.Project("empty").runs()
    assert board.empty and "run_id" in board.columns and "cv_mean" in board.columns


def test_ensemble_report_and_a_dry_run_submission(tiny: dict[str, Any]) -> None:
    p, first = tiny["p"], tiny["run"]
    second = p.train("linear")
    blended = p.ensemble([first, second.run_id], method="hill")
    assert isinstance(blended, kk.Run) and blended.model == "ensemble-hill"
    assert set(blended.record["weights"]) <= {first.run_id, second.run_id}
    assert len(blended.oof) == len(first.oof) and blended.oof["fold"].equals(first.oof["fold"])

    readme = tiny["project"] / "README.md"
    readme.write_text("# tiny\n\n<!-- kk:results:start -->\n<!-- kk:results:end -->\n")
    report = p.report()
    assert report.readme == readme and report.changed
    assert "lightgbm" in readme.read_text() and "ensemble-hill" in readme.read_text()

    check = p.submit(first, dry_run=True)
    n_test = len(pd.read_csv(tiny["project"] / "data" / "raw" / "test.csv"))
    assert check["rows"] == n_test and check["submitted"] is None
    assert check["run_id"] == first.run_id and check["columns"] == ["id", "target"]
    assert not (tiny["project"] / "submissions.jsonl").exists()  # nothing was uploaded


def test_project_by_path_and_new_from_a_template(projects_dir: Path) -> None:
    pytest.importorskip("cookiecutter")
    made = make_tiny_project(projects_dir, "tiny")
    by_path = kk.Project(made["project"])
    assert by_path.name == "tiny" and by_path.root == made["project"].resolve()
    assert kk.Project(str(made["project"])).root == by_path.root

    p = kk.Project.new("vision", "my-comp", competition="someone/my-comp")
    assert isinstance(p, kk.Project) and p.name == "my-comp"
    assert p.root == projects_dir / "my-comp"
    assert p.config().competition.slug == "someone/my-comp"
    assert (p.root / "notebooks" / "starter.ipynb").is_file()
    with pytest.raises(KKError, match="already exists"):
        kk.Project.new("vision", "my-comp")


def test_user_errors_are_one_line_kk_errors(tiny: dict[str, Any]) -> None:
    p = tiny["p"]
    for call, message in [
        (lambda: kk.Project("tinny"), "did you mean 'tiny'"),
        (lambda: kk.Project("/nowhere/at/all"), "has no config.toml"),
        (lambda: kk.Project("tiny", progress="loud"), "progress 'loud'"),
        (lambda: p.train("lightgbn"), "lightgbm"),
        (lambda: p.train(set="cv.seed=1"), "give a dict"),
        (lambda: p.train(set={"cv.nope": 1}), "cv.nope"),
        (lambda: p.run("nosuchrun"), "nosuchrun"),
        (lambda: kk.Project.new("tabular", "x", colour="red"), "colour"),
    ]:
        with pytest.raises(KKError, match=message) as err:
            call()
        assert "\n" not in str(err.value)


def test_oof_refuses_runs_made_on_replaced_folds(tiny: dict[str, Any]) -> None:
    p, run = tiny["p"], tiny["run"]
    p.folds(force=True, set={"cv.seed": 99})
    with pytest.raises(KKError, match="was made on folds"):
        _ = p.run(run.run_id).oof
    # A run read without its project says how to read it.
    bare = kk.Run(run.folder, run.record)
    with pytest.raises(KKError, match=r"kk.Project\(NAME\).run"):
        _ = bare.oof


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.03, "k=0.03"),
        (10, "k=10"),
        (True, "k=true"),
        ("last", "k=last"),  # a bare word, as typed after --set
        ("true", 'k="true"'),  # a string that would read back as a bool is quoted
        ("a b", "k=a b"),
        (" padded ", 'k=" padded "'),  # --set strips a bare value's spaces
        ([64, 32], "k=[64, 32]"),
        ({"a": 1, "b": "x"}, 'k={ a = 1, b = "x" }'),
        (np.float64(0.5), "k=0.5"),
    ],
)
def test_set_values_become_the_overrides_kk_records(value: Any, expected: str) -> None:
    [item] = notebook.overrides({"k": value})
    assert item == expected
    assert parse_override(item)[1] == (value.item() if isinstance(value, np.generic) else value)


def test_progress_prints_lines_outside_jupyter(
    projects_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = make_tiny_project(projects_dir, "tiny")
    p = kk.Project("tiny")  # auto: plain lines, no terminal and no Jupyter here
    p.fetch(made["mirror"])
    p.folds()
    capsys.readouterr()
    run = p.train("linear")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "tiny/linear: 3 fold(s)"
    assert [line.split(":")[0].strip() for line in lines[1:4]] == [
        "fold 0.0",
        "fold 0.1",
        "fold 0.2",
    ]
    assert lines[-1].startswith("CV accuracy: ") and lines[-1].endswith(run.run_id)
    kk.Project("tiny", progress="off").train("linear")
    assert capsys.readouterr().out == ""
    kk.Project("tiny", progress="bar").train("linear")  # a rich bar, silent off a terminal
    assert "fold" not in capsys.readouterr().out


def test_kk_errors_show_as_one_line_in_ipython(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[Any] = []

    class Shell:
        def set_custom_exc(self, types_: tuple[type, ...], handler: Any) -> None:
            self.types, self.handler = types_, handler

        def _showtraceback(self, etype: type, value: BaseException, stb: list[str]) -> None:
            shown.append(stb)

    shell = Shell()
    fake = types.SimpleNamespace(get_ipython=lambda: shell)
    monkeypatch.setitem(sys.modules, "IPython", fake)
    notebook._one_line_errors()
    assert shell.types == (KKError,)
    err = KKError("model 'x' is not known")
    assert shell.handler(shell, KKError, err, None) == ["KKError: model 'x' is not known"]
    assert shown == [["KKError: model 'x' is not known"]]


def test_the_surface_loads_light() -> None:
    """``kk.Project`` imports no torch, no booster and no training code until it trains."""
    code = (
        "import sys, kagglekit as kk; kk.Project; kk.Run; "
        "print(sorted(m for m in ('torch', 'lightgbm', 'xgboost', 'optuna', "
        "'kagglekit.training', 'IPython') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
