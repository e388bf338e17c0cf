"""Tiny interaction competitions of both shapes, for tests.

``write_interactions_competition`` writes a few thousand ratings with a low-rank
structure (so collaborative filtering beats popularity) and timestamps, and a test set
of each user's most recent interactions held out: as (id, user, item) rows to rate
(``shape="pairs"``) or as users to recommend for (``shape="users"``), with the local
solution. ``check_recsys_project_on_fixture`` runs a generated recsys project's config
end to end on such a competition; the recsys template's ``tests/test_template.py``
calls it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import kagglekit.atomic as atomic


def tiny_interactions(
    n_users: int = 80, n_items: int = 50, per_user: int = 20, *, seed: int = 0
) -> pd.DataFrame:
    """Ratings 1..5 from two latent tastes plus noise: columns user, item, rating, timestamp."""
    rng = np.random.default_rng(seed)
    taste_u = rng.normal(size=(n_users, 2))
    taste_i = rng.normal(size=(n_items, 2))
    pop = np.linspace(2, 0, n_items)  # a popularity slope, so popularity is a baseline
    rows = []
    for u in range(n_users):
        affinity = taste_u[u] @ taste_i.T + pop
        prob = np.exp(affinity) / np.exp(affinity).sum()
        items = rng.choice(n_items, size=per_user, replace=False, p=prob)
        rows.append(np.c_[np.full(per_user, u), items, affinity[items]])
    data = np.vstack(rows)
    score = data[:, 2] + rng.normal(0, 0.3, len(data))
    rating = np.clip(np.round(3 + 1.2 * (score - score.mean()) / score.std()), 1, 5)
    return pd.DataFrame(
        {
            "user": data[:, 0].astype(int) + 1,
            "item": data[:, 1].astype(int) + 100,
            "rating": rating.astype(int),
            "timestamp": 1_600_000_000 + rng.permutation(len(data)) * 60,
        }
    )


def write_interactions_competition(
    folder: Path,
    shape: str,
    *,
    user_column: str = "user_id",
    item_column: str = "item_id",
    rating_column: str = "rating",
    timestamp_column: str = "timestamp",
    id_column: str = "id",
    target_column: str = "rating",
    n_test_per_user: int = 2,
    seed: int = 0,
    fmt: str = "csv",
) -> Path:
    """train.csv, test.csv, sample_submission.csv and solution.csv in ``folder``; or, for
    ``fmt = "movielens100k"`` / ``"movielens_latest"``, all rows as ``u.data`` /
    ``ratings.csv`` (the loader holds out the latest rows itself)."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = tiny_interactions(seed=seed)
    if fmt == "movielens100k":
        frame.to_csv(folder / "u.data", sep="\t", header=False, index=False)
        return folder
    if fmt == "movielens_latest":
        frame.columns = ["userId", "movieId", "rating", "timestamp"]
        frame.to_csv(folder / "ratings.csv", index=False)
        return folder
    latest = frame.groupby("user")["timestamp"].rank(ascending=False, method="first")
    held = (latest <= n_test_per_user).to_numpy()
    names = {
        "user": user_column,
        "item": item_column,
        "rating": rating_column,
        "timestamp": timestamp_column,
    }
    train = frame[~held][[k for k, v in names.items() if v]].rename(columns=names)
    test = frame[held].reset_index(drop=True)
    if shape == "pairs":
        ids = np.arange(1, len(test) + 1)
        test_frame = pd.DataFrame({id_column: ids, user_column: test.user, item_column: test.item})
        sample = pd.DataFrame({id_column: ids, target_column: 3.0})
        solution = pd.DataFrame({id_column: ids, target_column: test.rating.astype(float)})
    else:
        lists = test.groupby("user")["item"].agg(lambda s: " ".join(map(str, s)))
        test_frame = pd.DataFrame({user_column: lists.index.to_numpy()})
        sample = pd.DataFrame({user_column: lists.index.to_numpy(), target_column: ""})
        solution = pd.DataFrame(
            {user_column: lists.index.to_numpy(), target_column: lists.to_numpy()}
        )
    for name, table in (
        ("train.csv", train),
        ("test.csv", test_frame),
        ("sample_submission.csv", sample),
        ("solution.csv", solution),
    ):
        atomic.write_bytes(folder / name, table.to_csv(index=False).encode())
    return folder


def check_recsys_project_on_fixture(
    project_dir: Path, workdir: Path, *, model: str | None = None
) -> dict[str, Any]:
    """Run a recsys project's config end to end on a tiny competition of its shape.

    The competition uses the project's column names; the project's folds, the
    ``--smoke`` check, one training run of ``model`` (default: the config's), its
    validated submission and the local score (against the held-out latest rows), and a
    popularity (ranking) or biases (rating) run on the same folds for comparison.
    """
    import tomllib

    from kagglekit.config import validate_config
    from kagglekit.testing import ready_copy, train_and_score

    raw = tomllib.loads((Path(project_dir) / "config.toml").read_text(encoding="utf-8"))
    name = raw.get("default_model") if model is None else model
    fmt = raw.get("data", {}).get("params", {}).get("format", "csv")
    if fmt == "csv":  # MovieLens formats hold out the latest rows themselves (test_last_n)
        raw["competition"]["solution_file"] = "solution.csv"
    raw["competition"]["source"] = {"kind": "kaggle"}
    for entry in raw["models"].values():  # short fits: the check is that each entry runs
        params = entry.setdefault("params", {})
        if entry.get("backend") in ("neumf",):
            params["epochs"] = 2
    baseline = "popularity" if raw["competition"]["task"] == "ranking" else "biases"
    raw["models"].setdefault("_baseline", {"backend": baseline})
    cfg = validate_config(raw, source=f"{project_dir}/config.toml for the fixture")
    comp = cfg.competition
    params = cfg.data.params
    mirror = write_interactions_competition(
        workdir / "mirror",
        "users" if comp.task == "ranking" else "pairs",
        fmt=fmt,
        user_column=str(params.get("user_column", "user_id")),
        item_column=str(params.get("item_column", "item_id")),
        rating_column=str(params.get("rating_column", "rating")),
        timestamp_column=str(params.get("timestamp_column", "timestamp")),
        id_column=comp.id_column,
        target_column=comp.target_column,
    )
    project = ready_copy(project_dir, workdir, cfg, mirror)
    outcome = train_and_score(project, cfg, name)
    base = train_and_score(project, cfg, "_baseline", smoke=False)
    result = outcome["result"]
    return {
        "status": result.run.status,
        "smoke_score": outcome["smoke_score"],
        "cv_mean": result.cv.mean,
        "baseline_cv_mean": base["cv_mean"],
        "greater_is_better": result.metric.greater_is_better,
        "n_test": outcome["n_test"],
        "n_submission_rows": outcome["n_submission_rows"],
        "local_score": outcome["local_score"],
        "baseline_local_score": base["local_score"],
        "learned": result.cv.folds[0].learned,
    }
