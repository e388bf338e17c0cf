"""A free-text column inside a tabular project: fold step ``text`` (issue 13).

The step gives any tabular model the text kind's features (cleaning, TF-IDF) as SVD
components and a cross-fitted linear score; these tests check its leakage guard, its
one-line errors, a tabular run through the CV loop, and (realdata) the disaster tweets
read as a plain CSV table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kagglekit import data, folds, records, training
from kagglekit.errors import KKError
from kagglekit.project import open_project
from kagglekit.testing import _mirror, competition_toml, mirror_dir
from kagglekit.text.columns import TextColumns

GOOD, BAD = ["great", "lovely", "superb", "fine"], ["awful", "broken", "poor", "sad"]
FILLER = ["the", "a", "item", "arrived", "box", "it", "was", "very", "and", "then"]


def _reviews(n_rows: int = 300, seed: int = 0) -> pd.DataFrame:
    """Reviews whose words carry most of the signal, a weak numeric column, an id."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 2, n_rows)
    texts = []
    for t in target:
        words = list(rng.choice(FILLER, 6))
        # 80 % of reviews carry one word of their class, 10 % one of the other class.
        r = rng.random()
        if r < 0.8:
            words.append(str(rng.choice(GOOD if t else BAD)))
        elif r < 0.9:
            words.append(str(rng.choice(BAD if t else GOOD)))
        rng.shuffle(words)
        texts.append(" ".join(words))
    return pd.DataFrame(
        {
            "id": np.arange(n_rows),
            "price": rng.normal(size=n_rows) + 0.2 * target,
            "review": texts,
            "target": target,
        }
    )


def test_the_step_drops_the_text_and_appends_components_and_a_score() -> None:
    frame = _reviews()
    X, y = frame[["price", "review"]], frame["target"].to_numpy()
    out = TextColumns(columns="review", components=4).fit_transform(X, y)
    assert list(out.columns) == ["price", *(f"review_svd_{i}" for i in range(4)), "review_score"]
    # The cross-fitted score separates the classes (the review words are the signal).
    score = out["review_score"].to_numpy()
    assert ((score > 0.5) == y).mean() > 0.7  # the words allow about 0.85


def test_training_rows_scores_never_saw_their_own_label() -> None:
    # Every review is one unique word: nothing generalises, so an honest score is chance,
    # while a model that saw each row's label memorises it.
    rng = np.random.default_rng(1)
    n = 400
    y = rng.integers(0, 2, n)
    X = pd.DataFrame({"review": [f"w{i}" for i in range(n)]})
    step = TextColumns(columns=["review"], components=0, C=100.0)
    honest = step.fit_transform(X, y)["review_score"].to_numpy()
    memorised = step.transform(X)["review_score"].to_numpy()
    assert ((memorised > 0.5) == y).mean() > 0.95
    assert abs(((honest > 0.5) == y).mean() - 0.5) < 0.1


def test_multiclass_and_regression_targets_get_their_own_scores() -> None:
    frame = _reviews()
    X = frame[["review"]]
    three = np.where(frame["target"] == 1, 2, frame["price"].gt(0).astype(int))
    out = TextColumns(columns=["review"], components=2).fit_transform(X, three)
    assert [c for c in out.columns if "score" in c] == [f"review_score_{k}" for k in range(3)]
    value = frame["target"].to_numpy() * 3.0 + frame["price"].to_numpy()
    out = TextColumns(columns=["review"], components=0).fit_transform(X, value)
    assert list(out.columns) == ["review_score"]
    assert np.corrcoef(out["review_score"], value)[0, 1] > 0.3  # cross-fitted: no memorising


def test_bad_input_is_one_line_naming_the_fix() -> None:
    frame = _reviews(60)
    X, y = frame[["price", "review"]], frame["target"].to_numpy()
    with pytest.raises(KKError, match=r"column\(s\) \['reveiw'\] are not in .*price, review"):
        TextColumns(columns=["reveiw"]).fit(X, y)
    with pytest.raises(KKError, match="needs columns"):
        TextColumns().fit(X, y)
    with pytest.raises(KKError, match="needs the target"):
        TextColumns(columns=["review"]).fit(X)
    with pytest.raises(KKError, match="'review' has no word in any of its 60 training texts"):
        TextColumns(columns=["review"]).fit(X.assign(review=""), y)
    y_rare = np.r_[np.ones(2, dtype=int), np.zeros(58, dtype=int)]
    with pytest.raises(KKError, match="a class has 2 training row"):
        TextColumns(columns=["review"], inner_folds=5).fit_transform(X, y_rare)
    # With no target the score is off and the components still work.
    assert "review_score" not in TextColumns(columns=["review"], score=False).fit(X).transform(X)


def _text_project(
    projects_dir: Path, frame: pd.DataFrame, *, extra: str = "", name: str = "reviews"
) -> Any:
    mirror = _mirror(frame, projects_dir.parent, name, test_size=0.25, seed=0, fmt="labels")
    top = competition_toml(
        name, task="binary", metric="accuracy", submission_format="labels", n_splits=3
    )
    config = (
        top
        + extra
        + (
            '\n[models.linear]\nbackend = "logistic_regression"\n'
            '\n[models.lightgbm]\nbackend = "lightgbm"\n'
            "params = { n_estimators = 80, learning_rate = 0.1, num_leaves = 7, "
            "min_child_samples = 5, n_jobs = 1 }\nearly_stopping_rounds = 0\n"
        )
    )
    (projects_dir / name).mkdir(parents=True)
    (projects_dir / name / "config.toml").write_text(config)
    project = open_project(name)
    data.fetch(project, project.config(), from_dir=mirror)
    folds.assign_project_folds(project, project.config())
    return project


TEXT_STEP = '\n[features]\nsteps = [{ kind = "text", params = { columns = ["review"] } }]\n'


@pytest.mark.parametrize("model", ["linear", "lightgbm"])
def test_a_tabular_run_learns_from_the_text_column(projects_dir: Path, model: str) -> None:
    frame = _reviews()
    drop = '\n[features]\ndrop = ["review"]\n'
    without = _text_project(projects_dir, frame, extra=drop, name="plain")
    plain = training.train(without, without.config(), model_name=model)
    project = _text_project(projects_dir, frame, extra=TEXT_STEP)
    result = training.train(project, project.config(), model_name=model)
    record = records.load_run(result.run.folder).record
    assert record["status"] == "COMPLETE"
    assert record["oof_score"] > plain.run.record["oof_score"] + 0.08
    assert any(result.run.folder.iterdir())


def test_a_misspelt_step_lists_text_among_the_kinds(projects_dir: Path) -> None:
    project = _text_project(projects_dir, _reviews(90), extra=TEXT_STEP)
    cfg = project.config(['features.steps=[{kind = "txet"}]'])
    with pytest.raises(KKError, match=r"feature step 'txet' is not known; did you mean 'text'"):
        training.train(project, cfg, model_name="linear")


@pytest.mark.realdata
def test_disaster_tweets_as_a_plain_table(projects_dir: Path) -> None:
    """The tweets through the csv loader and a tabular model: the text step is the features."""
    mirror = mirror_dir("disaster-tweets")
    config = f"""\
default_model = "linear"

[competition]
name = "tweets-table"
source = {{ kind = "mirror", mirror_folder = "{mirror.name}" }}
sample_submission_file = "sample_submission.csv"
id_column = "id"
target_column = "target"
task = "binary"
metric = "accuracy"
submission_format = "labels"

[cv]
kind = "stratified"
n_splits = 5
seed = 42

[features]
drop = ["location"]
steps = [{{ kind = "text", params = {{ columns = ["text"], components = 0, clean = "tweets" }} }}]

[models.linear]
backend = "logistic_regression"
"""
    (projects_dir / "tweets-table").mkdir(parents=True)
    (projects_dir / "tweets-table" / "config.toml").write_text(config)
    project = open_project("tweets-table")
    data.fetch(project, project.config(), from_dir=mirror)
    folds.assign_project_folds(project, project.config())
    result = training.train(project, project.config(), model_name="linear")
    # bench/nlp.py's word TF-IDF + LR on the text kind: 0.79 OOF accuracy.
    assert result.run.record["oof_score"] > 0.77, result.run.record["oof_score"]
