"""Submissions: built in the sample's layout, validated (naming what is wrong), scored."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit import submission as subm
from kagglekit.config import CompetitionConfig
from kagglekit.errors import KKError


def _comp(task: str = "binary", fmt: str = "labels", metric: str = "accuracy") -> CompetitionConfig:
    return CompetitionConfig(
        name="c",
        id_column="id",
        target_column="y",
        task=task,
        metric=metric,
        submission_format=fmt,  # type: ignore[arg-type]
    )


SAMPLE = pd.DataFrame({"id": [3, 1, 2], "y": [0, 0, 0]})


def test_build_labels_in_the_samples_id_order() -> None:
    sub = subm.build_submission(
        pd.Series([1, 2, 3]),
        np.array([0.9, 0.2, 0.5]),
        _comp(),
        classes=["no", "yes"],
        sample=SAMPLE,
    )
    assert sub["id"].tolist() == [3, 1, 2]
    assert sub["y"].tolist() == ["yes", "yes", "no"]  # 0.5 >= threshold 0.5
    strict = _comp().model_copy(update={"threshold": 0.95})
    sub = subm.build_submission(
        pd.Series([1, 2, 3]), np.array([0.9, 0.2, 0.5]), strict, classes=[0, 1], sample=SAMPLE
    )
    assert sub["y"].tolist() == [0, 0, 0]


def test_build_probabilities_and_values() -> None:
    sub = subm.build_submission(
        pd.Series([3, 1, 2]),
        np.array([0.1, 0.2, 0.3]),
        _comp(fmt="probabilities", metric="roc_auc"),
        classes=[0, 1],
        sample=SAMPLE,
    )
    assert sub["y"].tolist() == [0.1, 0.2, 0.3]
    reg = _comp(task="regression", fmt="values", metric="rmse")
    sub = subm.build_submission(
        pd.Series([3, 1, 2]), np.array([1.5, 2.5, 3.5]), reg, classes=None, sample=SAMPLE
    )
    assert sub["y"].tolist() == [1.5, 2.5, 3.5]


def test_build_multiclass_probabilities_maps_class_columns() -> None:
    comp = _comp(task="multiclass", fmt="probabilities", metric="log_loss")
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1]])
    sample = pd.DataFrame({"id": [5, 6], "a": 0.3, "b": 0.3, "c": 0.4})
    sub = subm.build_submission(
        pd.Series([5, 6]), proba, comp, classes=["a", "b", "c"], sample=sample
    )
    assert list(sub.columns) == ["id", "a", "b", "c"]
    np.testing.assert_allclose(sub[["a", "b", "c"]].to_numpy(), proba)
    named = pd.DataFrame({"id": [5, 6], "Class_1": 0.3, "Class_2": 0.3, "Class_3": 0.4})
    sub = subm.build_submission(pd.Series([5, 6]), proba, comp, classes=[1, 2, 3], sample=named)
    np.testing.assert_allclose(sub["Class_2"].to_numpy(), [0.2, 0.8])
    with pytest.raises(
        KKError, match=r"has 2 prediction column\(s\) but .* needs one per class \(3\)"
    ):
        subm.build_submission(
            pd.Series([5, 6]), proba, comp, classes=[1, 2, 3], sample=named.iloc[:, :3]
        )


@pytest.mark.parametrize(
    ("sub", "fmt", "needle"),
    [
        (SAMPLE.assign(y=[0.1, np.inf, 0.2]), "probabilities", "1 inf value(s)"),
        (SAMPLE.assign(y=[0.1, 1.5, -0.2]), "probabilities", "2 value(s) outside [0, 1]"),
        (SAMPLE.assign(y=["a", "b", "c"]), "probabilities", "is not numeric"),
        (SAMPLE.assign(y=[0, 1, 5]), "labels", "not labels (5)"),
        (
            SAMPLE.assign(y=[0.12, 0.93, 0.5]),
            "labels",
            "these look like probabilities (values between 0 and 1); this competition wants "
            "labels (one of ['0', '1']): for a run, `kk submit PROJECT --run ID --rebuild`",
        ),
        (SAMPLE.assign(y=[0, np.nan, 1]), "labels", "1 NaN value(s) (ids 1)"),
        (SAMPLE.assign(id=[3, 1, 1]), "labels", "1 duplicated id(s): 1; 1 id(s) missing: 2"),
        (
            SAMPLE.assign(id=[3, 1, 9]),
            "labels",
            "1 id(s) missing: 2; 1 id(s) not in the test set: 9",
        ),
        (SAMPLE[["y", "id"]], "labels", "wrong order"),
        (
            SAMPLE.rename(columns={"y": "Y"}),
            "labels",
            "columns are ['id', 'Y'], expected ['id', 'y']",
        ),
        (SAMPLE.iloc[:2], "labels", "2 rows, expected 3; 1 id(s) missing: 2"),
    ],
)
def test_every_problem_is_named_on_one_line(sub: pd.DataFrame, fmt: str, needle: str) -> None:
    comp = _comp(fmt=fmt, metric="roc_auc" if fmt == "probabilities" else "accuracy")
    with pytest.raises(KKError) as err:
        subm.validate_submission(sub, SAMPLE, comp, allowed_labels=[0, 1])
    message = str(err.value)
    assert needle in message and "\n" not in message and message.startswith("invalid submission: ")


def test_a_valid_submission_passes() -> None:
    assert subm.submission_problems(SAMPLE.iloc[::-1], SAMPLE, _comp(), allowed_labels=[0, 1]) == []


def test_read_submission_errors(tmp_path: Path) -> None:
    with pytest.raises(KKError, match=r"does not exist"):
        subm.read_submission(tmp_path / "none.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(KKError, match=r"is not a readable CSV"):
        subm.read_submission(empty)


def test_score_against_a_solution_with_public_and_private_parts() -> None:
    solution = pd.DataFrame(
        {"id": [1, 2, 3, 4], "y": [1, 0, 1, 0], "Usage": ["Public", "Public", "Private", "Private"]}
    )
    sub = pd.DataFrame({"id": [4, 3, 2, 1], "y": [0, 0, 0, 1]})
    scores = subm.score_submission(sub, solution, _comp(), classes=[0, 1])
    assert scores == {"all": 0.75, "public": 1.0, "private": 0.5}
    reg = _comp(task="regression", fmt="values", metric="mae")
    scores = subm.score_submission(
        sub.assign(y=[0.5, 1, 0, 1]), solution.drop(columns="Usage"), reg, classes=[]
    )
    assert scores == {"all": pytest.approx(0.125)}
    with pytest.raises(KKError, match=r"lacks predictions"):
        subm.score_submission(sub.iloc[1:], solution, _comp(), classes=[0, 1])
