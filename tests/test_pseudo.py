"""Pseudo-labelling: fold k trains on the test rows its teacher's fold-k model labelled
confidently, and every teacher that cannot serve honestly is refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit import data, folds, records, training, tuning
from kagglekit.errors import KKError
from kagglekit.models.base import concat, take
from kagglekit.project import Project, open_project
from kagglekit.tasks import get_task
from kagglekit.testing import make_tiny_project
from kagglekit.text.loaders import Texts
from kagglekit.training.pseudo import confident_labels


def _ready(projects_dir: Path, task: str = "binary") -> Project:
    paths = make_tiny_project(projects_dir, "tiny", task=task)
    project = open_project("tiny")
    data.fetch(project, project.config(), from_dir=paths["mirror"])
    folds.assign_project_folds(project, project.config())
    return project


def _pl(run_id: str, confidence: float | None = None) -> list[str]:
    sets = [f"models.linear.pseudo_labels.run={run_id}"]
    if confidence is not None:
        sets.append(f"models.linear.pseudo_labels.confidence={confidence}")
    return sets


def test_confident_labels_binary_and_multiclass() -> None:
    rows, labels = confident_labels(get_task("binary"), np.array([0.95, 0.5, 0.05, 0.89]), 0.9)
    np.testing.assert_array_equal(rows, [0, 2])
    np.testing.assert_array_equal(labels, [1, 0])
    proba = np.array([[0.1, 0.85, 0.05], [0.4, 0.3, 0.3], [0.02, 0.02, 0.96]])
    rows, labels = confident_labels(get_task("multiclass"), proba, 0.8)
    np.testing.assert_array_equal(rows, [0, 2])
    np.testing.assert_array_equal(labels, [1, 2])


@pytest.mark.parametrize(
    "X",
    [
        np.arange(12).reshape(6, 2),
        pd.DataFrame({"a": range(6), "b": list("abcdef")}, index=range(10, 16)),
        list("abcdef"),
        {"ids": np.arange(6), "mask": np.ones(6)},
        Texts.of(list("abcdef"), pd.DataFrame({"kw": list("uvwxyz")})),
    ],
    ids=["array", "frame", "list", "dict", "texts"],
)
def test_concat_undoes_take(X: object) -> None:
    head, tail = take(X, np.arange(4)), take(X, np.arange(4, 6))
    joined = concat([head, tail])
    assert type(joined) is type(X)
    if isinstance(X, Texts):
        assert isinstance(joined, Texts)
        assert list(joined.text) == list(X.text) and joined.side.equals(X.side)
    elif isinstance(X, pd.DataFrame):
        assert joined.reset_index(drop=True).equals(X.reset_index(drop=True))
    elif isinstance(X, dict):
        assert all(np.array_equal(joined[k], X[k]) for k in X)  # type: ignore[index]
    else:
        np.testing.assert_array_equal(np.asarray(joined), np.asarray(X))


def test_each_fold_trains_on_its_own_teachers_confident_rows(projects_dir: Path) -> None:
    project = _ready(projects_dir)
    teacher = training.train(project, project.config(), model_name="linear").run
    per_fold = teacher.load_array("test_folds")
    n_test = teacher.record["n_test"]
    assert per_fold.shape == (3, n_test)
    # The fold models differ, and their mean is the run's test prediction.
    assert not np.allclose(per_fold[0], per_fold[1])
    np.testing.assert_allclose(per_fold.mean(axis=0), teacher.load_array("test"))
    # A teacher whose fold k is sure of exactly k + 1 test rows: each fold of the student
    # must take its own fold's rows, not the fold-averaged labels.
    made_up = np.full((3, n_test), 0.5)
    for k in range(3):
        made_up[k, : k + 1] = 0.99
    teacher.save_array("test_folds", made_up)
    overrides = _pl(teacher.run_id)
    student = training.train(
        project, project.config(overrides), model_name="linear", overrides=overrides
    ).run.record
    assert student["status"] == "COMPLETE"
    assert [f["learned"]["pseudo_label_rows"] for f in student["fold_scores"]] == [1, 2, 3]
    assert student["pseudo_labels"] == {"run": teacher.run_id, "confidence": 0.9, "rows": [1, 2, 3]}
    assert [f["n_train"] for f in student["fold_scores"]] == [
        f["n_train"] for f in teacher.record["fold_scores"]
    ]  # n_train counts the competition's rows only


def test_real_pseudo_labels_change_the_fold_models(projects_dir: Path) -> None:
    project = _ready(projects_dir)
    teacher = training.train(project, project.config(), model_name="linear").run
    overrides = _pl(teacher.run_id[:-2], confidence=0.8)  # a unique prefix is enough
    student = training.train(
        project, project.config(overrides), model_name="linear", overrides=overrides
    ).run
    rows = [f["learned"]["pseudo_label_rows"] for f in student.record["fold_scores"]]
    expected = [
        len(confident_labels(get_task("binary"), p, 0.8)[0])
        for p in teacher.load_array("test_folds")
    ]
    assert rows == expected and all(r > 0 for r in rows)
    assert not np.allclose(student.load_array("oof"), teacher.load_array("oof"))


def test_a_teacher_from_another_machine_serves_from_its_committed_copy(
    projects_dir: Path,
) -> None:
    import shutil

    project = _ready(projects_dir)
    teacher = training.train(project, project.config(), model_name="linear").run
    records.archive_records([teacher], project.root / records.RECORDS_DIR)  # kk report
    shutil.rmtree(teacher.folder)  # a fresh clone: the committed copy only
    overrides = _pl(teacher.run_id, confidence=0.8)
    student = training.train(
        project, project.config(overrides), model_name="linear", overrides=overrides
    ).run
    assert student.record["pseudo_labels"]["run"] == teacher.run_id
    assert all(f["learned"]["pseudo_label_rows"] > 0 for f in student.record["fold_scores"])


def test_smoke_and_tune_use_pseudo_labels(projects_dir: Path) -> None:
    project = _ready(projects_dir)
    teacher = training.train(project, project.config(), model_name="linear").run
    cfg = project.config(_pl(teacher.run_id))
    smoke = training.smoke_test(project, cfg, model_name="linear")
    assert smoke.learned["pseudo_label_rows"] > 0
    overrides = tuple(_pl(teacher.run_id))
    result = tuning.tune(
        project, project.config(list(overrides)), model_name="linear", n_trials=1,
        overrides=overrides,
    )  # fmt: skip
    (trial,) = result.study.get_trials()
    assert trial.state.name == "COMPLETE"


def test_a_teacher_that_cannot_serve_is_refused_in_one_line(projects_dir: Path) -> None:
    project = _ready(projects_dir)

    def refused(overrides: list[str]) -> str:
        with pytest.raises(KKError) as err:
            training.train(project, project.config(overrides), model_name="linear")
        return str(err.value)

    assert "no-such-run" in refused(_pl("no-such-run"))
    teacher = training.train(project, project.config(), model_name="linear").run
    # A run from before runs kept their fold models' test predictions.
    saved = teacher.load_array("test_folds")
    teacher.path("test_folds.npy").unlink()
    assert "train the teacher again" in refused(_pl(teacher.run_id))
    teacher.save_array("test_folds", saved)
    # Not finished.
    teacher.update(status="RUNNING")
    assert "is RUNNING" in refused(_pl(teacher.run_id))
    teacher.update(status="COMPLETE")
    # Other folds: its fold models saw rows these folds score on.
    fold_hash = teacher.record["fold_hash"]
    teacher.update(fold_hash="0123456789ab")
    assert "other folds" in refused(_pl(teacher.run_id))
    teacher.update(fold_hash=fold_hash)
    # Another test set.
    teacher.save_array("test_folds", saved[:, :-1])
    assert "the data changed" in refused(_pl(teacher.run_id))
    teacher.save_array("test_folds", saved)
    # An ensemble chose its weights on every fold's rows.
    teacher.update(backend="ensemble")
    assert "is an ensemble" in refused(_pl(teacher.run_id))
    teacher.update(backend="logistic_regression")
    # Confidence is a probability above a coin flip.
    for bad in (0.5, 1.0):
        with pytest.raises(KKError, match="confidence"):
            project.config(_pl(teacher.run_id, confidence=bad))
    # No run folder was left behind by any refusal.
    assert [r.run_id for r in records.list_runs(project.runs_dir)] == [teacher.run_id]


def test_regression_has_no_labels_to_lend(projects_dir: Path) -> None:
    project = _ready(projects_dir, task="regression")
    teacher = training.train(project, project.config(), model_name="linear").run
    assert not teacher.path("test_folds.npy").exists()
    with pytest.raises(KKError, match="no class labels"):
        training.train(project, project.config(_pl(teacher.run_id)), model_name="linear")
