"""The nlp template: kk new with text/target answers, then fetch, folds, train, no code.

The project is generated through ``kk new`` (the cookiecutter path) on a tiny generated
text competition with its own column names (``kagglekit.text.testing``).
projects/disaster-tweets is a generated nlp project: its recorded answers reproduce it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kagglekit.config import load_config
from kagglekit.scaffold import (
    ANSWERS_FILE,
    drifted_owned_files,
    load_template,
    templates_root,
    validate_answers,
)
from kagglekit.testing import run_kk_inprocess
from kagglekit.text.testing import write_text_competition

TWEETS = templates_root() / "projects" / "disaster-tweets"


def test_kk_new_nlp_then_fetch_folds_and_train_with_zero_code(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def kk(*args: str) -> str:
        code, out, err = run_kk_inprocess(capsys, monkeypatch, *args)
        assert code == 0, err
        return out

    kk("new", "nlp", "reviews", "--no-input", "--competition", "some-reviews",
       "--id-column", "review_id", "--target", "label", "--set", "text_column=body",
       "--set", "side_columns=product")  # fmt: skip
    project = projects_dir / "reviews"
    for path in project.rglob("*"):
        if path.is_file():
            assert "{{" not in path.read_text(encoding="utf-8"), path  # nothing unrendered
    cfg = load_config(project / "config.toml")
    assert cfg.data.loader == "text_csv" and cfg.default_model == "tfidf"
    assert cfg.data.params["text_column"] == "body"
    assert cfg.data.params["side_columns"] == ["product"]
    assert (cfg.competition.metric, cfg.competition.target_column) == ("f1", "label")
    mirror = write_text_competition(
        projects_dir.parent / "mirror", id_column="review_id", text_column="body",
        side_columns=("product",), target_column="label",
    )  # fmt: skip
    kk("fetch", "reviews", "--from", str(mirror))
    kk("folds", "reviews")
    kk("train", "reviews")
    [run] = [p for p in (project / "runs").iterdir() if (p / "record.json").is_file()]
    record = json.loads((run / "record.json").read_text())
    assert record["status"] == "COMPLETE" and record["data_kind"] == "texts"
    assert record["cv_mean"] > 0.9  # the tiny texts' labels follow from their words
    assert all(0.05 <= f["learned"]["threshold"] <= 0.95 for f in record["fold_scores"])
    submission = (run / "submission.csv").read_text().splitlines()
    assert submission[0] == "review_id,label" and len(submission) == 41
    assert "2 complete" in kk("tune", "reviews", "--trials", "2")  # default space: C


def test_disaster_tweets_records_answers_that_describe_it() -> None:
    record = json.loads((TWEETS / ANSWERS_FILE).read_text())
    assert record["template"] == "nlp"
    answers = record["answers"]
    assert set(answers) == set(load_template("nlp").questions)
    validate_answers("nlp", answers)
    cfg = load_config(TWEETS / "config.toml")
    assert answers["slug"] == TWEETS.name == cfg.competition.name
    assert cfg.data.params["side_columns"] == ["keyword", "location"]
    assert cfg.competition.source.mirror_folder == "disaster-tweets"  # type: ignore[union-attr]


def test_disaster_tweets_template_owned_files_have_not_drifted() -> None:
    owned = load_template("nlp").owned
    assert owned and all((TWEETS / rel).is_file() for rel in owned)
    assert drifted_owned_files(TWEETS) == []


@pytest.mark.realdata
def test_disaster_tweets_load_clean_and_a_tfidf_fold_learns(tmp_path: Path) -> None:
    from kagglekit import training
    from kagglekit.testing import mirror_dir, ready_copy

    cfg = load_config(TWEETS / "config.toml")
    project = ready_copy(TWEETS, tmp_path, cfg, mirror_dir("disaster-tweets"))
    prepared = training.prepare(project, cfg)
    X = prepared.X
    assert (len(X), len(prepared.X_test)) == (7613, 3263) and prepared.kind == "texts"
    assert not any("Û" in t or "http://" in t or "&amp;" in t for t in X.text)
    assert (X.side["keyword"] != "").mean() > 0.99  # "body%20bags" -> "body bags"
    assert not X.side["keyword"].str.contains("%20").any()
    smoke = training.smoke_test(project, cfg, model_name="tfidf", n_rows=1500)
    assert smoke.score > 0.6  # binary F1 on 500 held-out real tweets
