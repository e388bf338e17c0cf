"""Recommenders on ordinary data (issue 33 section 4, issue 34): blank ids, a rating scale
read from the ratings (half stars, 1-10), format presets' column names, and the recsys
template's README that ``kk report`` fills; MovieLens latest-small end to end (realdata)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from kagglekit import loaders
from kagglekit.config import load_config, validate_config
from kagglekit.errors import KKError
from kagglekit.metrics import get_metric
from kagglekit.models.base import BuildContext, get_backend
from kagglekit.project import Project
from kagglekit.recsys.loaders import rating_step
from kagglekit.recsys.testing import tiny_interactions, write_interactions_competition


def _project(tmp_path: Path, task: str = "regression", **params: object) -> tuple[Project, Any]:
    ranking = task == "ranking"
    cfg = validate_config(
        {
            "default_model": "m",
            "competition": {
                "name": "x",
                "id_column": "user_id" if ranking else "id",
                "target_column": "items" if ranking else "rating",
                "task": task,
                "metric": "map@2" if ranking else "rmse",
                "submission_format": "ranked_list" if ranking else "values",
            },
            "data": {
                "loader": "interactions",
                "params": {
                    "user_column": "user_id",
                    "item_column": "item_id",
                    "rating_column": "rating",
                    **params,
                },
            },
            "cv": {"kind": "kfold"},
            "models": {"m": {"backend": "biases"}},
        }
    )
    project = Project(name="x", root=tmp_path / "p")
    project.raw_dir.mkdir(parents=True)
    return project, cfg


def _write(project: Project, train: pd.DataFrame, test: pd.DataFrame) -> None:
    train.to_csv(project.raw_dir / "train.csv", index=False)
    test.to_csv(project.raw_dir / "test.csv", index=False)


TRAIN = pd.DataFrame(
    {
        "user_id": [1, 1, 2, 2, 3, 3],
        "item_id": [10, 11, 10, 12, 11, 12],
        "rating": [4.0, 5.0, 3.0, 2.0, 1.0, 4.0],
    }
)
TEST = pd.DataFrame({"id": [1, 2], "user_id": [1, 3], "item_id": [12, 10]})


# --- blank ids --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("train", "test", "task", "expected"),
    [
        # one blank user: pandas codes it -1 and scipy failed with "negative axis 0 index"
        (
            TRAIN.assign(user_id=[1, 1, None, 2, 3, 3]),
            TEST,
            "regression",
            "'user_id' of train.csv is blank in 1 of 6 row(s) (first: row 2)",
        ),
        # two blank items of one user read as a "duplicate (user, item) pair"
        (
            TRAIN.assign(item_id=[10, 11, 10, 12, None, None]),
            TEST,
            "regression",
            "'item_id' of train.csv is blank in 2 of 6 row(s) (first: row 4)",
        ),
        # ids that are text: a cell of spaces is as blank as an empty one
        (
            TRAIN.assign(user_id=["a", "a", "b", "b", " ", "c"]),
            TEST.assign(user_id=["a", "c"]),
            "regression",
            "'user_id' of train.csv is blank in 1 of 6 row(s) (first: row 4)",
        ),
        (
            TRAIN,
            TEST.assign(item_id=[12, None]),
            "regression",
            "'item_id' of test.csv is blank in 1 of 2 row(s) (first: row 1)",
        ),
        (
            TRAIN,
            pd.DataFrame({"user_id": [1, None, 3]}),
            "ranking",
            "'user_id' of test.csv is blank in 1 of 3 row(s) (first: row 1)",
        ),
    ],
)
def test_a_blank_user_or_item_id_is_one_line_naming_column_count_and_fix(
    tmp_path: Path, train: pd.DataFrame, test: pd.DataFrame, task: str, expected: str
) -> None:
    project, cfg = _project(tmp_path, task)
    _write(project, train, test)
    with pytest.raises(KKError) as err:
        loaders.load_dataset(project, cfg, verify=False)
    message = str(err.value)
    assert expected in message, message
    assert "drop those rows or fill the ids" in message and "\n" not in message


def test_a_blank_rating_names_the_rows_and_the_fix(tmp_path: Path) -> None:
    project, cfg = _project(tmp_path)
    _write(project, TRAIN.assign(rating=[4, 5, None, 2, "x", 4]), TEST)
    with pytest.raises(KKError, match=r"2 missing or non-numeric value\(s\) of 6 \(first: row 2\)"):
        loaders.load_dataset(project, cfg, verify=False)


# --- the rating scale -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ratings", "step"),
    [
        ([0.5, 1.0, 3.5, 5.0], 0.5),  # half stars
        ([1, 2, 7, 10], 1.0),  # a 1-10 scale
        ([2, 4, 6], 2.0),
        ([0.5, 2.0, 3.0], 0.5),  # the gcd of the gaps, not the smallest gap (1)
        ([1.0, 2.37, 3.1415926], None),  # means or scores: on no grid
        ([3.0], None),
    ],
)
def test_the_rating_step_is_the_grid_the_ratings_lie_on(
    ratings: list[float], step: float | None
) -> None:
    assert rating_step(np.asarray(ratings, dtype=float)) == step


@pytest.mark.parametrize(
    ("ratings", "params", "scale", "step", "source"),
    [
        ([0.5, 5.0, 3.5, 1.0, 4.5, 2.0], {}, [0.5, 5.0], 0.5, "data"),  # MovieLens latest
        ([1, 10, 7, 2, 9, 4], {}, [1.0, 10.0], 1.0, "data"),
        ([1, 9, 7, 2, 8, 4], {"rating_scale": [0, 10]}, [0.0, 10.0], 1.0, "config"),  # given wins
    ],
)
def test_the_rating_scale_is_read_from_the_ratings_unless_given(
    tmp_path: Path,
    ratings: list[float],
    params: dict[str, object],
    scale: list[float],
    step: float,
    source: str,
) -> None:
    project, cfg = _project(tmp_path, **params)
    _write(project, TRAIN.assign(rating=ratings), TEST)
    info = loaders.load_dataset(project, cfg, verify=False).info
    assert (info["rating_scale"], info["rating_step"], info["rating_scale_from"]) == (
        scale,
        step,
        source,
    )


def test_a_given_scale_the_ratings_contradict_is_one_line(tmp_path: Path) -> None:
    project, cfg = _project(tmp_path, rating_scale=[1, 5])
    _write(project, TRAIN.assign(rating=[0.5, 5.0, 3.5, 1.0, 4.5, 2.0]), TEST)
    with pytest.raises(KKError) as err:
        loaders.load_dataset(project, cfg, verify=False)
    message = str(err.value)
    assert "1 value(s) outside the declared scale [1, 5] (first: 0.5 in row 0" in message
    assert "the ratings go from 0.5 to 5" in message and "remove it to read the scale" in message
    assert "\n" not in message


def _ctx(info: dict[str, Any], **params: object) -> BuildContext:
    return BuildContext(
        task="regression",
        n_classes=0,
        seed=0,
        params=params,
        early_stopping_rounds=0,
        metric=get_metric("rmse"),
        info=info,
    )


@pytest.mark.parametrize(("shift", "stretch", "step"), [(0.5, 1, 0.5), (1, 2, 1.0)])
def test_rating_predictions_are_clipped_to_the_scale_read_from_the_ratings(
    tmp_path: Path, shift: float, stretch: int, step: float
) -> None:
    """Half stars 0.5-5 and a 1-10 scale: a 1-5 assumption would clip predictions to
    [1, 5]; the data's own scale is kept, and the model records which scale it used."""
    frame = tiny_interactions(n_users=30, n_items=20, per_user=8)
    # 1..5 stars -> 0.5..5 in half stars, or 1..10
    frame["rating"] = frame["rating"] * stretch - shift * (frame["user"] % 2)
    frame.loc[frame["user"] == 1, "rating"] = frame["rating"].min()  # a user who hates all
    frame.loc[frame["user"] == 2, "rating"] = frame["rating"].max()  # one who loves all
    train = frame.rename(columns={"user": "user_id", "item": "item_id"})
    project, cfg = _project(tmp_path)
    pairs = train[["user_id", "item_id"]].drop_duplicates("user_id")
    _write(project, train, pairs.assign(id=range(len(pairs))))
    ds = loaders.load_dataset(project, cfg, verify=False)
    low, high = ds.info["rating_scale"]
    assert (low, high) == (0.5, 5.0) if stretch == 1 else (1.0, 10.0)
    model = get_backend("biases").build(_ctx(ds.info, reg_user_bias=0.1, reg_item_bias=0.1))
    pred = model.fit(ds.X, ds.target.to_numpy()).predict(ds.X_test)
    assert ((pred >= low) & (pred <= high)).all()
    assert pred.min() < 1 if stretch == 1 else pred.max() > 5  # outside a 1-5 scale
    assert model.learned()["rating_scale"] == {
        "low": low,
        "high": high,
        "step": step,
        "from": "data",
    }


# --- the template -----------------------------------------------------------------------


def test_a_format_preset_fills_in_its_own_column_names(tmp_path: Path) -> None:
    from kagglekit.scaffold import new_project

    projects = tmp_path / "projects"
    latest = new_project(
        "recsys", "latest", {"competition": "c", "format": "movielens_latest"}, projects=projects
    )
    params = load_config(latest / "config.toml").data.params
    assert (params["user_column"], params["item_column"]) == ("userId", "movieId")
    assert (params["rating_column"], params["timestamp_column"]) == ("rating", "timestamp")
    assert "rating_scale" not in params  # read from the ratings (half stars there)
    cfg = load_config(latest / "config.toml")
    assert cfg.competition.id_column == "userId" and cfg.cv.group_column == "userId"
    classic = new_project(
        "recsys", "classic", {"competition": "c", "format": "movielens100k"}, projects=projects
    )
    assert load_config(classic / "config.toml").data.params["user_column"] == "user_id"
    # a column named outright still wins over the preset
    given = new_project(
        "recsys",
        "given",
        {"competition": "c", "format": "movielens_latest", "user_column": "uid"},
        projects=projects,
    )
    assert load_config(given / "config.toml").data.params["user_column"] == "uid"


def test_a_kaggle_recsys_project_readme_links_its_page(tmp_path: Path) -> None:
    from kagglekit.scaffold import new_project

    folder = new_project(
        "recsys",
        "rs",
        {"competition": "owner/ratings", "task": "regression"},
        projects=tmp_path / "projects",
    )
    readme = (folder / "README.md").read_text()
    assert readme.splitlines()[0] == "# owner/ratings"
    assert "Kaggle dataset: https://www.kaggle.com/datasets/owner/ratings" in readme
    assert "Rating scale: read from the training ratings" in readme
    assert "Predicted ratings are clipped to it." in readme
    assert "kk score" not in readme  # Kaggle scores it: no local solution
    cfg = load_config(folder / "config.toml")
    assert cfg.competition.source.kind == "kaggle" and cfg.competition.solution_file == ""


@pytest.mark.parametrize(("fmt", "task"), [("movielens_latest", "ranking"), ("csv", "regression")])
def test_a_fresh_recsys_project_has_a_readme_that_kk_report_fills(
    tmp_path: Path, fmt: str, task: str
) -> None:
    """MovieLens (its latest rows held out) and a local interactions CSV with its own
    solution file: the README says where the files are and how it is scored here, with
    no Kaggle page; after a smoke check and one run, the report fills its results."""
    from kagglekit.data.raw import fetch
    from kagglekit.folds import assign_project_folds
    from kagglekit.loaders import required_files
    from kagglekit.reports.readme import write_project_report
    from kagglekit.scaffold import new_project
    from kagglekit.testing import train_and_score

    ranking = task == "ranking"
    mirror = write_interactions_competition(
        tmp_path / "files",
        "users" if ranking else "pairs",
        fmt=fmt,
        target_column="items" if ranking else "rating",
    )
    given = {"competition": "ml-latest", "format": fmt, "task": task}
    if fmt == "csv":
        given |= {"competition": "ratings", "source_dir": str(mirror)}
        given |= {"solution_file": "solution.csv"}
    folder = new_project("recsys", "rs", given, projects=tmp_path / "projects")
    readme = (folder / "README.md").read_text()
    assert "{{" not in readme and "{%" not in readme
    assert readme.splitlines()[0] == ("# ratings" if fmt == "csv" else "# ml-latest")
    assert "kaggle.com" not in readme and "kk score rs --run RUN_ID" in readme
    if fmt == "csv":
        assert f"its files are in `{mirror}`" in readme
        assert "Local solution: `solution.csv`" in readme
    else:
        assert "each user's 2 latest rating(s) are held out" in readme
    cfg = load_config(folder / "config.toml")
    project = Project(name="rs", root=folder)
    fetch(
        project,
        cfg,
        from_dir=None if fmt == "csv" else mirror,
        required=required_files(project, cfg),
    )
    assign_project_folds(project, cfg)
    outcome = train_and_score(project, cfg, "biases")  # --smoke, a run and kk score
    assert outcome["status"] == "COMPLETE" and np.isfinite(outcome["local_score"])
    write_project_report(project)
    text = (folder / "README.md").read_text()
    section = text[text.index("<!-- kk:results:start -->") : text.index("<!-- kk:results:end -->")]
    assert "| biases |" in section and "No results yet" not in section


# --- MovieLens latest-small -------------------------------------------------------------


@pytest.mark.realdata
def test_movielens_latest_small_runs_from_a_fresh_project_with_no_scale_given(
    tmp_path: Path,
) -> None:
    """Half stars (0.5-5) with no setting: a fresh `kk new recsys` project of format
    movielens_latest loads, trains and scores on the real file."""
    from kagglekit.scaffold import new_project
    from kagglekit.testing import mirror_dir, ready_copy, train_and_score

    mirror = mirror_dir("movielens-latest-small")
    folder = new_project(
        "recsys",
        "ml",
        {"competition": "ml-latest-small", "format": "movielens_latest", "task": "regression"},
        projects=tmp_path / "projects",
    )
    cfg = load_config(folder / "config.toml")
    assert "rating_scale" not in cfg.data.params
    project = ready_copy(folder, tmp_path / "w", cfg, mirror)
    outcome = train_and_score(project, cfg, "mf", smoke=False)
    assert outcome["status"] == "COMPLETE" and outcome["n_submission_rows"] == 671 * 2
    learned = outcome["result"].cv.folds[0].learned
    assert learned["rating_scale"] == {"low": 0.5, "high": 5.0, "step": 0.5, "from": "data"}
    test = outcome["result"].run.load_array("test")
    assert test.min() >= 0.5 and test.max() <= 5.0
    assert outcome["local_score"] < 1.0  # RMSE on each user's 2 latest ratings


# --- EASE on a big catalogue ------------------------------------------------------------


def test_ease_inverts_only_the_items_the_fold_has_and_scores_as_the_full_inverse() -> None:
    """A smoke fold of MovieLens latest (9,066 items) inverted every item; items without
    training rows add nothing to EASE, so the smaller inverse gives the same scores."""
    frame = tiny_interactions(n_users=40, n_items=30, per_user=6)
    X = np.c_[frame.user - 1, frame.item - 100]
    n_items = 30 + 20  # 20 catalogue items nobody has in this fold
    info = {"n_users": 40, "n_items": n_items}
    ctx = BuildContext(
        task="ranking",
        n_classes=0,
        seed=0,
        params={"lambda_": 5.0},
        early_stopping_rounds=0,
        metric=get_metric("map@5"),
        info=info,
    )
    y = np.c_[X, frame.rating.to_numpy(float)]
    model = get_backend("ease").build(ctx).fit(X, y)
    n_active = len(np.unique(X[:, 1]))
    assert model.B_.shape == (n_active, n_active) and n_active < n_items
    seen = np.zeros((40, n_items))
    seen[X[:, 0], X[:, 1]] = 1
    P = np.linalg.inv(seen.T @ seen + 5.0 * np.eye(n_items))
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0.0)
    users = np.arange(40)
    np.testing.assert_allclose(model._score_users(users), seen @ B, atol=1e-9)


@pytest.mark.parametrize("bad", ["1-5", "a,b", "5,1", "1,2,3"])
def test_kk_new_refuses_a_malformed_rating_scale_answer(bad: str) -> None:
    # Before, '1-5' was dropped silently, 'a,b' failed as TOML in a temp file and '5,1'
    # passed until the data loaded.
    import json

    from kagglekit.scaffold.answers import validate_answers

    root = Path(__file__).resolve().parents[1]
    answers = json.loads((root / "projects/movielens/.kk-template.json").read_text())["answers"]
    validate_answers("recsys", {**answers, "rating_scale": ""})
    validate_answers("recsys", {**answers, "rating_scale": "0.5, 5"})
    with pytest.raises(KKError, match=rf"rating_scale '{bad}' should be low,high"):
        validate_answers("recsys", {**answers, "rating_scale": bad})
