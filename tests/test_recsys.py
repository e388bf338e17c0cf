"""Recommenders: the interactions loader, the ranking task, per-user folds, the models,
the recsys template end to end (both shapes), and MovieLens 100k (realdata)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit import folds as folds_mod
from kagglekit import loaders
from kagglekit.config import CVConfig, load_config, validate_config
from kagglekit.errors import KKError
from kagglekit.metrics import get_metric, mean_average_precision_at_k
from kagglekit.models.base import BuildContext, get_backend
from kagglekit.project import Project
from kagglekit.recsys.ranking import fuse, ranking_scores, top_items
from kagglekit.recsys.testing import tiny_interactions, write_interactions_competition
from kagglekit.tasks import get_task
from kagglekit.testing import mirror_dir


def _project(tmp_path: Path, task: str = "regression", **params: object) -> tuple[Project, object]:
    ranking = task == "ranking"
    cfg = validate_config(
        {
            "default_model": "m",
            "competition": {
                "name": "x",
                "id_column": "user_id" if ranking else "id",
                "target_column": "items" if ranking else "rating",
                "task": task,
                "metric": "map@10" if ranking else "rmse",
                "submission_format": "ranked_list" if ranking else "values",
            },
            "data": {
                "loader": "interactions",
                "params": {"user_column": "user_id", "item_column": "item_id", **params},
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
    {"user_id": [1, 1, 2, 2, 3], "item_id": [10, 11, 10, 12, 11], "rating": [4, 5, 3, 2, 1]}
)
TEST = pd.DataFrame({"id": [1, 2], "user_id": [1, 9], "item_id": [12, 99]})


# --- the loader -------------------------------------------------------------------------


def test_loader_codes_pairs_and_marks_cold_ids(tmp_path: Path) -> None:
    project, cfg = _project(tmp_path, rating_column="rating", rating_scale=[1, 5])
    _write(project, TRAIN, TEST)
    ds = loaders.load_dataset(project, cfg, verify=False)
    assert ds.kind == "pairs" and ds.X.shape == (5, 2) and ds.X_test.shape == (2, 2)
    assert ds.info["n_users"] == 4 and ds.info["n_items"] == 4  # user 9, item 99: test only
    assert ds.info["seen"].sum() == 5
    assert ds.test_ids.tolist() == [1, 2]


@pytest.mark.parametrize(
    ("train", "params", "expected"),
    [
        (
            TRAIN.assign(rating=[4, 5, 3, 7, 1]),
            {"rating_scale": [1, 5]},
            "outside the declared scale [1, 5] (first: 7",
        ),
        (
            pd.concat([TRAIN, TRAIN.iloc[[0]]]),
            {},
            "1 duplicate (user, item) pair(s) (first: user 1, item 10",
        ),
        (
            TRAIN.rename(columns={"user_id": "uid"}),
            {},
            "data.params.user_column 'user_id' is not a column of train.csv",
        ),
        (
            TRAIN.assign(ts=["2020-01-01", "x", "2020-01-02", "2020-01-03", "2020-01-04"]),
            {"timestamp_column": "ts"},
            "do not parse as dates or unix seconds (first: 'x'",
        ),
    ],
)
def test_loader_refuses_bad_input_in_one_line(
    tmp_path: Path, train: pd.DataFrame, params: dict[str, object], expected: str
) -> None:
    project, cfg = _project(tmp_path, rating_column="rating", **params)
    _write(project, train, TEST)
    with pytest.raises(KKError, match=None) as err:
        loaders.load_dataset(project, cfg, verify=False)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_k_larger_than_the_catalogue_is_refused(tmp_path: Path) -> None:
    project, cfg = _project(tmp_path, "ranking", rating_column="rating")
    _write(project, TRAIN, pd.DataFrame({"user_id": [1, 2]}))
    with pytest.raises(KKError, match=r"asks for 10 items per user but the catalogue has 3"):
        loaders.load_dataset(project, cfg, verify=False)


def test_movielens_formats_read_their_files(tmp_path: Path) -> None:
    project, cfg = _project(
        tmp_path,
        format="movielens100k",
        user_column="user_id",
        item_column="item_id",
        test_last_n=1,
    )
    rows = tiny_interactions(n_users=5, n_items=8, per_user=4)
    rows.to_csv(project.raw_dir / "u.data", sep="\t", header=False, index=False)
    ds = loaders.load_dataset(project, cfg, verify=False)
    assert len(ds.X) == 15 and len(ds.X_test) == 5  # each user's latest row held out
    assert ds.solution is not None and len(ds.solution) == 5


# --- the ranking task and its metrics ---------------------------------------------------


def test_row_metrics_match_kaggle_map_at_k_on_lists() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items, k = 30, 25, 5
    rows, actual, predicted = [], [], []
    for u in range(n_users):
        held = rng.choice(n_items, size=int(rng.integers(1, 8)), replace=False)
        ranked = rng.permutation(n_items)[: 2 * k]
        actual.append(list(held))
        predicted.append(list(ranked))
        rows += [(u, i, 1.0, *ranked) for i in held]
    table = np.array(rows, dtype=float)
    scores = ranking_scores(table[:, :3], table[:, 3:], k)
    assert scores["map@5"] == pytest.approx(mean_average_precision_at_k(actual, predicted, k))
    assert get_metric("map@5")(table[:, :3], table[:, 3:]) == pytest.approx(scores["map@5"])
    hits = [len(set(a) & set(p[:k])) for a, p in zip(actual, predicted, strict=True)]
    assert scores["precision@5"] == pytest.approx(np.mean(hits) / k)
    assert 0 < scores["ndcg@5"] <= 1


def test_top_items_and_rank_fusion() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.7], [1.0, 0.0, 0.2, 0.3]])
    present = np.array([[True, True, False, True], [True, True, True, True]])
    assert top_items(scores, 3, present=present).tolist() == [[1, 3, 0], [0, 3, 2]]
    a, b = np.array([[1, 2, 3]]), np.array([[2, 1, 4]])
    fused = fuse([a, b], 4)
    assert set(fused[0, :2].tolist()) == {1, 2} and fused[0, 2] in (3, 4)


def test_ranked_list_submission_problems() -> None:
    task = get_task("ranking")
    comp = validate_config(
        {
            "default_model": "m",
            "competition": {
                "name": "x",
                "id_column": "u",
                "target_column": "items",
                "task": "ranking",
                "metric": "map@2",
                "submission_format": "ranked_list",
            },
            "models": {"m": {"backend": "biases"}},
        }
    ).competition
    values = pd.Series(["a b", "a b c", "c c", "z"])
    problems = task.value_problems("items", values, comp, ["a", "b", "c"])
    assert any("longer than K=2" in p for p in problems)
    assert any("repeated item" in p for p in problems)
    assert any("not in the catalogue (first: 'z')" in p for p in problems)


# --- folds: no validation or test interaction reaches training ---------------------------


@pytest.mark.parametrize(
    "cv",
    [
        {"kind": "kfold", "n_splits": 3},
        {"kind": "user_kfold", "n_splits": 3, "group_column": "user"},
        {"kind": "user_holdout", "valid_size": 0.25, "group_column": "user"},
        {"kind": "user_last", "n_last": 2, "group_column": "user", "order_column": "timestamp"},
    ],
)
def test_no_validation_interaction_reaches_training(cv: dict[str, object]) -> None:
    from kagglekit.training import cross_validate

    frame = tiny_interactions(n_users=30, n_items=20, per_user=8)
    cvc = CVConfig(**cv)
    assignment = folds_mod.assign_fold_arrays(
        len(frame),
        cvc,
        groups=frame["user"].to_numpy() if cvc.group_column else None,
        order=frame["timestamp"].to_numpy() if cvc.kind == "user_last" else None,
        stratified=False,
    )
    n_splits = 1 if cvc.kind in ("user_holdout", "user_last") else cvc.n_splits
    folds = folds_mod.Folds(assignment=assignment, hash="h", kind=cvc.kind, n_splits=n_splits)
    X = frame[["user", "item"]].to_numpy()
    fitted: list[set[tuple[int, int]]] = []

    class Spy:
        def fit(self, X_tr, y, *, X_valid=None, y_valid=None, fold=None):  # type: ignore[no-untyped-def]
            fitted.append({tuple(r) for r in X_tr.tolist()})
            overlap = fitted[-1] & {tuple(r) for r in X_valid.tolist()}
            assert not overlap, f"validation pairs in training: {sorted(overlap)[:3]}"
            return self

        def predict(self, X_):  # type: ignore[no-untyped-def]
            return np.zeros(len(X_))

        def learned(self):  # type: ignore[no-untyped-def]
            return {}

    cross_validate(
        X,
        frame["rating"].to_numpy(float),
        folds,
        Spy,
        get_metric("rmse"),
        task=get_task("regression"),
    )
    assert len(fitted) == n_splits
    valid = assignment[0] >= 0
    per_user_valid = pd.Series(valid).groupby(frame["user"].to_numpy()).sum()
    if cvc.kind == "user_last":
        latest = frame.groupby("user")["timestamp"].rank(ascending=False) <= 2
        assert np.array_equal(valid, latest.to_numpy())
    if cvc.kind in ("user_holdout", "user_last"):
        assert (per_user_valid > 0).all()  # every user is validated ...
        assert (
            pd.Series(~valid).groupby(frame["user"].to_numpy()).sum() > 0
        ).all()  # ... and trains


def test_held_out_test_rows_never_reach_training(tmp_path: Path) -> None:
    project, cfg = _project(tmp_path, format="movielens100k", test_last_n=2)
    tiny_interactions(n_users=10, n_items=12, per_user=6).to_csv(
        project.raw_dir / "u.data", sep="\t", header=False, index=False
    )
    ds = loaders.load_dataset(project, cfg, verify=False)
    train_pairs = {tuple(r) for r in ds.X.tolist()}
    assert not train_pairs & {tuple(r) for r in ds.X_test.tolist()}
    assert len(ds.X_test) == 20


# --- models -----------------------------------------------------------------------------

REGRESSION_MODELS = ["biases", "mf", "item_knn", "user_knn", "bpmf"]
RANKING_MODELS = ["popularity", "biases", "mf", "item_knn", "user_knn", "ease", "als", "bpr"]


def _ctx(task: str, info: dict[str, object], **params: object) -> BuildContext:
    metric = get_metric("map@5" if task == "ranking" else "rmse")
    return BuildContext(
        task=task,
        n_classes=0,
        seed=0,
        params=params,
        early_stopping_rounds=0,
        metric=metric,
        info=info,
    )


def _data() -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    frame = tiny_interactions()
    X = np.c_[frame.user - 1, frame.item - 100]
    info = {"n_users": 82, "n_items": 51, "rating_scale": [1.0, 5.0]}  # user 80-81, item 50: cold
    return X, frame.rating.to_numpy(float), info


@pytest.mark.parametrize("name", REGRESSION_MODELS)
def test_rating_models_beat_the_mean_and_fall_back_on_cold_ids(name: str) -> None:
    X, r, info = _data()
    rng = np.random.default_rng(0)
    valid = rng.random(len(X)) < 0.2
    model = get_backend(name).build(_ctx("regression", info)).fit(X[~valid], r[~valid])
    pred = model.predict(X[valid])
    rmse = float(np.sqrt(np.mean((pred - r[valid]) ** 2)))
    assert rmse < float(np.std(r[valid]))
    cold = model.predict(np.array([[80, 0], [0, 50], [81, 50]]))
    assert np.isfinite(cold).all() and ((cold >= 1) & (cold <= 5)).all()
    assert cold[2] == pytest.approx(model.mu_)


@pytest.mark.parametrize("name", RANKING_MODELS)
def test_ranking_models_leave_out_seen_items_and_serve_cold_users(name: str) -> None:
    X, r, info = _data()
    y = np.c_[X, r].astype(float)
    valid = np.random.default_rng(1).random(len(X)) < 0.25
    model = get_backend(name).build(
        _ctx("ranking", info, **({"iterations": 3} if name in ("als", "bpr") else {}))
    )
    model.fit(X[~valid], y[~valid], X_valid=X[valid], y_valid=y[valid])
    lists = model.predict(X[valid]).astype(int)
    assert lists.shape == (int(valid.sum()), 10)
    seen = {tuple(p) for p in X[~valid].tolist()}
    assert not any((u, i) in seen for u, row in zip(X[valid, 0], lists, strict=True) for i in row)
    scores = model.learned()["ranking"]
    assert set(scores) == {"map@5", "precision@5", "recall@5", "ndcg@5", "coverage@5"}
    cold = model.predict(np.array([[81, -1]])).astype(int)[0]
    assert (cold >= 0).all() and len(set(cold.tolist())) == 10  # popularity, no repeats


def test_ease_with_fewer_users_than_items_gives_the_item_gram_scores() -> None:
    # 30 users, 80 items: EASE scores through the users' Gram matrix (Woodbury) equal
    # x_u B with B from the items' (80 x 80) inverse, as Steck writes it.
    rng = np.random.default_rng(4)
    X = (rng.random((30, 80)) < 0.2).astype(float)
    X[0, :] = 0.0
    X[0, :3] = 1.0  # item 79 and others may have no rows: both paths leave them at 0
    users, items = np.nonzero(X)
    info = {"n_users": 30, "n_items": 80}
    model = get_backend("ease").build(_ctx("ranking", info, lambda_=7.0))
    model.fit(np.c_[users, items], np.c_[users, items, np.ones(len(users))])
    active = np.flatnonzero(X.sum(axis=0) > 0)
    G = X[:, active].T @ X[:, active] + 7.0 * np.eye(len(active))
    P = np.linalg.inv(G)
    B = np.eye(len(active)) - P / np.diag(P)
    expected = np.zeros((30, 80))
    expected[:, active] = X[:, active] @ B
    assert hasattr(model, "XB_")
    np.testing.assert_allclose(model._score_users(np.arange(30)), expected, atol=1e-9)


# --- the template, end to end on both shapes --------------------------------------------


@pytest.mark.parametrize(
    ("task", "cv", "rating"),
    [
        ("ranking", "user_last", "rating"),
        ("ranking", "user_holdout", ""),
        ("regression", "user_kfold", "rating"),
    ],
)
def test_generated_recsys_project_runs_end_to_end(
    tmp_path: Path, task: str, cv: str, rating: str
) -> None:
    from kagglekit.recsys.testing import check_recsys_project_on_fixture
    from kagglekit.scaffold import new_project

    project = new_project(
        "recsys",
        "rs",
        {
            "competition": "c",
            "task": task,
            "cv": cv,
            "user_column": "uid",
            "item_column": "movie",
            "rating_column": rating,
        },
        projects=tmp_path / "projects",
    )
    text = (project / "config.toml").read_text()
    assert "{{" not in text and "{%" not in text
    result = check_recsys_project_on_fixture(project, tmp_path / "w")
    assert result["status"] == "COMPLETE" and result["n_submission_rows"] == result["n_test"]
    better = (lambda a, b: a > b) if result["greater_is_better"] else (lambda a, b: a < b)
    # the default model beats popularity / the biases on the users' latest rows
    assert better(result["local_score"], result["baseline_local_score"])
    assert math.isfinite(result["smoke_score"])


def test_the_fixture_writes_both_shapes(tmp_path: Path) -> None:
    pairs = write_interactions_competition(tmp_path / "a", "pairs")
    users = write_interactions_competition(tmp_path / "b", "users", target_column="items")
    assert set(pd.read_csv(pairs / "test.csv").columns) == {"id", "user_id", "item_id"}
    assert list(pd.read_csv(users / "test.csv").columns) == ["user_id"]


# --- MovieLens 100k ---------------------------------------------------------------------


@pytest.mark.realdata
def test_movielens_100k_loads_and_mf_beats_the_biases(tmp_path: Path) -> None:
    mirror = mirror_dir("movielens-100k")
    project, cfg = _project(tmp_path, format="movielens100k", test_last_n=5)
    (project.raw_dir / "u.data").write_bytes((mirror / "u.data").read_bytes())
    ds = loaders.load_dataset(project, cfg, verify=False)
    assert len(ds.X) + len(ds.X_test) == 100_000 and ds.info["n_users"] == 943
    y = ds.target.to_numpy()
    truth = ds.solution["rating"].to_numpy()
    rmse = {}
    for name in ("biases", "mf"):
        model = get_backend(name).build(_ctx("regression", ds.info)).fit(ds.X, y)
        rmse[name] = float(np.sqrt(np.mean((model.predict(ds.X_test) - truth) ** 2)))
    assert rmse["mf"] < rmse["biases"] < 1.1


def test_ranking_runs_ensemble_by_rank_fusion(tmp_path: Path) -> None:
    from kagglekit import ensembling, training
    from kagglekit.scaffold import new_project
    from kagglekit.testing import ready_copy

    folder = new_project(
        "recsys", "rs", {"competition": "c", "task": "ranking"}, projects=tmp_path / "projects"
    )
    raw_cfg = load_config(folder / "config.toml")
    mirror = write_interactions_competition(tmp_path / "mirror", "users", target_column="items")
    project = ready_copy(folder, tmp_path / "w", raw_cfg, mirror)
    runs = [
        training.train(project, raw_cfg, model_name=m) for m in ("ease", "item_knn", "popularity")
    ]
    result = ensembling.ensemble(project, raw_cfg, method="hill", nested=False)  # one split
    best = max(r.cv.mean for r in runs)
    assert result.cv_mean >= best  # hill climbing starts from the best member
    lists = result.run.load_array("oof")
    assert lists.shape == runs[0].run.load_array("oof").shape
    row = lists[0][lists[0] >= 0].astype(int)
    assert len(set(row.tolist())) == len(row)  # a fused list repeats no item
    assert pd.read_csv(result.submission_path)["items"].str.split().map(len).max() == 10
    with pytest.raises(KKError, match="use --method hill"):
        ensembling.ensemble(project, raw_cfg, method="stack")


def test_a_list_with_items_the_user_already_rated_is_refused(tmp_path: Path) -> None:
    from kagglekit.submission import check_against_data

    project, cfg = _project(tmp_path, "ranking", rating_column="rating")
    train = tiny_interactions(n_users=6, n_items=15, per_user=5).rename(
        columns={"user": "user_id", "item": "item_id"}
    )
    _write(project, train, pd.DataFrame({"user_id": [1, 2]}))
    ds = loaders.load_dataset(project, cfg, verify=False)
    first_item = int(train[train.user_id == 1].item_id.iloc[0])
    unseen = [i for i in train.item_id.unique() if i not in set(train[train.user_id == 2].item_id)]
    good = pd.DataFrame({"user_id": [1, 2], "items": ["", " ".join(map(str, unseen[:2]))]})
    check_against_data(good, ds, cfg.competition)
    bad = good.assign(items=[str(first_item), good["items"][1]])
    with pytest.raises(
        KKError, match=f"already has in train \\(first: user 1, item {first_item}\\)"
    ):
        check_against_data(bad, ds, cfg.competition)


def test_projects_movielens_is_the_template_rendered_with_its_recorded_answers(
    tmp_path: Path,
) -> None:
    from kagglekit.scaffold import drifted_owned_files, render_from_record, templates_root

    movielens = templates_root() / "projects" / "movielens"
    rendered = render_from_record(movielens, tmp_path)
    assert (rendered / "config.toml").read_text() == (movielens / "config.toml").read_text()
    assert drifted_owned_files(movielens) == []
    cfg = load_config(movielens / "config.toml")
    assert (cfg.data.loader, cfg.data.params["format"], cfg.cv.kind) == (
        "interactions",
        "movielens100k",
        "user_last",
    )
    readme = (movielens / "README.md").read_text()
    assert 0 <= readme.find("<!-- kk:results:start -->") < readme.find("<!-- kk:results:end -->")


def test_neumf_chooses_its_epoch_on_held_out_training_ratings_with_early_stopping_holdout() -> None:
    """NeuMF keeps its best epoch on the fold's validation ratings by default (the rows
    the fold is scored on); early_stopping_holdout chooses on training ratings instead."""
    import dataclasses

    pytest.importorskip("torch")
    X, r, info = _data()
    valid = np.random.default_rng(0).random(len(X)) < 0.2
    params = {"epochs": 3, "batch_size": 64, "factors": 4, "hidden": [8]}
    fit = {"X_valid": X[valid], "y_valid": r[valid]}
    plain = get_backend("neumf").build(_ctx("regression", info, **params))
    plain.fit(X[~valid], r[~valid], **fit)
    assert "early_stopping_holdout_rows" not in plain.learned()
    ctx = dataclasses.replace(_ctx("regression", info, **params), early_stopping_holdout=0.25)
    held = get_backend("neumf").build(ctx).fit(X[~valid], r[~valid], **fit)
    n_train = int((~valid).sum())
    assert held.learned()["early_stopping_holdout_rows"] == n_train - int(n_train * 0.75)
    assert len(held.learned()["history"]["valid_score"]) == 3
    assert np.isfinite(held.predict(X[valid])).all()
    # A ranking NeuMF keeps its last epoch: the setting would do nothing, so it is refused.
    ranking = dataclasses.replace(_ctx("ranking", info, **params), early_stopping_holdout=0.25)
    with pytest.raises(KKError, match=r"^neumf: early_stopping_holdout = 0.25 .*; remove it$"):
        get_backend("neumf").build(ranking)
