"""Recommenders on MovieLens 100k: kagglekit's models beside Surprise on the same folds.

Rating prediction: 5-fold CV over the 100,000 ratings (scikit-learn ``KFold(5,
shuffle=True, random_state=0)``, the same row indices handed to both libraries), RMSE
and wall time per model (fit + predict of the five folds). kagglekit's models go through
``training.cross_validate`` with the fold assignment saved as ``Folds``, exactly as
``kk train`` runs them; Surprise gets a trainset and testset built from the same rows.
The blend is hill climbing over the kagglekit OOF predictions, nested (weights chosen
on the other four folds; the honest figure). ``bpmf`` is Bayesian MF by Gibbs sampling
with implicit feedback (``kagglekit.recsys.factor_models``), seed 0.

Top-10: one per-user random 75/25 split (``cv.kind = "user_holdout"``, seed 42), every
unseen item ranked for each user, NDCG@10 / MAP@10 / Recall@10 / coverage from the
ranking task's metrics; popularity is the baseline of the ratios. EASE's lambda over a
grid on the same split (the best of it is an oracle figure), and three closed-form
neighbours of EASE written here in numpy (not kagglekit backends): EDLAE's dropout
emphasis (Steck 2020), user-side EASE, and their sum.

Top-10 on each user's 5 latest ratings: the default EASE (lambda 500) against EASE with
lambda chosen on the 5 latest training ratings before those (held-out rows of the
training data only), then refitted on all training rows.

A wide catalogue: EASE on MovieLens latest-small (610 users, 9,742 films), each user's 2
latest ratings held out (the recsys template's default ``user_last``), fit seconds and
top-10 scores (fewer users than items: EASE solves on the users' Gram matrix).

Run under the shared lock; ``--threads`` caps BLAS (threadpoolctl) and ``implicit``::

    .venv/bin/python bench/recsys.py --threads 1
    .venv/bin/python bench/recsys.py --threads 2
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _common import default_mirror
from sklearn.model_selection import KFold
from threadpoolctl import threadpool_limits

from kagglekit import ensembling, training
from kagglekit.folds import Folds
from kagglekit.metrics import get_metric
from kagglekit.models.base import BuildContext, get_backend
from kagglekit.recsys.splits import UserHoldout, UserLastN
from kagglekit.tasks import get_task


def load(mirror: Path) -> pd.DataFrame:
    return pd.read_csv(
        mirror / "movielens-100k" / "u.data", sep="\t", header=None, names=["u", "i", "r", "t"]
    )


def kk_cv(
    name: str,
    params: dict[str, Any],
    X: np.ndarray,
    r: np.ndarray,
    folds: Folds,
    info: dict[str, Any],
) -> tuple[np.ndarray, float, float]:
    """OOF predictions, mean fold RMSE and wall seconds of one kagglekit model."""
    metric = get_metric("rmse")
    ctx = BuildContext(
        task="regression",
        n_classes=0,
        seed=0,
        params=params,
        early_stopping_rounds=0,
        metric=metric,
        info=info,
    )
    backend = get_backend(name.rstrip("0123456789"))  # mf50: the mf backend with 50 factors
    started = time.perf_counter()
    cv = training.cross_validate(
        X, r, folds, lambda: backend.build(ctx), metric, task=get_task("regression")
    )
    return cv.oof, cv.mean, time.perf_counter() - started


def surprise_cv(
    algo_name: str, frame: pd.DataFrame, splits: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[float, float]:
    from surprise import SVD, BaselineOnly, Dataset, KNNBaseline, Reader, SVDpp, accuracy

    make = {
        "BaselineOnly": lambda: BaselineOnly(verbose=False),
        "SVD": lambda: SVD(random_state=0),
        "SVDpp": lambda: SVDpp(random_state=0),
        "KNNBaseline": lambda: KNNBaseline(
            sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False
        ),
    }[algo_name]
    reader = Reader(rating_scale=(1, 5))
    scores = []
    started = time.perf_counter()
    for tr, va in splits:
        train_set = Dataset.load_from_df(
            frame.iloc[tr][["u", "i", "r"]], reader
        ).build_full_trainset()
        test_set = list(frame.iloc[va][["u", "i", "r"]].itertuples(index=False, name=None))
        algo = make()
        algo.fit(train_set)
        scores.append(accuracy.rmse(algo.test(test_set), verbose=False))
    return float(np.mean(scores)), time.perf_counter() - started


def numpy_baseline_cv(
    frame: pd.DataFrame, splits: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[float, float]:
    """A plain numpy global + user + item mean baseline (damped means, one pass)."""
    started = time.perf_counter()
    scores = []
    for tr, va in splits:
        t, v = frame.iloc[tr], frame.iloc[va]
        mu = t.r.mean()
        bi = (t.r - mu).groupby(t.i).sum() / (t.groupby("i").size() + 25)
        bu = (t.r - mu - t.i.map(bi)).groupby(t.u).sum() / (t.groupby("u").size() + 10)
        pred = (mu + v.i.map(bi).fillna(0) + v.u.map(bu).fillna(0)).clip(1, 5)
        scores.append(float(np.sqrt(np.mean((pred - v.r) ** 2))))
    return float(np.mean(scores)), time.perf_counter() - started


def topk(
    name: str,
    params: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    tr: np.ndarray,
    va: np.ndarray,
    info: dict[str, Any],
) -> dict[str, Any]:
    ctx = BuildContext(
        task="ranking",
        n_classes=0,
        seed=0,
        params=params,
        early_stopping_rounds=0,
        metric=get_metric("map@10"),
        info=info,
    )
    started = time.perf_counter()
    model = get_backend(name).build(ctx).fit(X[tr], y[tr], X_valid=X[va], y_valid=y[va])
    return {**model.learned()["ranking"], "seconds": time.perf_counter() - started}


def ease_variant_scores(seen: np.ndarray, name: str, lam: float, p: float = 0.0) -> np.ndarray:
    """Scores (n_users, n_items) of a closed-form neighbour of EASE on the 0/1 matrix.

    ``item``: EASE with EDLAE's emphasis penalty p / (1 - p) diag(G) added to lambda
    (p = 0: EASE); ``user``: the same on users (the user x user Gram matrix).
    """
    X = seen.astype(np.float64)
    G = X @ X.T if name == "user" else X.T @ X
    G[np.diag_indices_from(G)] += lam + p / (1 - p) * np.diag(G)
    P = np.linalg.inv(G)
    B = -P / np.diag(P)
    np.fill_diagonal(B, 0.0)
    return B.T @ X if name == "user" else X @ B


def numpy_topk(
    scores: np.ndarray, seen: np.ndarray, X: np.ndarray, va: np.ndarray
) -> dict[str, float]:
    """Top-10 scores of a dense score matrix, the user's training items left out."""
    from kagglekit.metrics import ranking_scores
    from kagglekit.recsys.ranking import top_items

    lists = top_items(scores, 10, present=seen == 0)
    y = np.c_[X[va], np.ones(len(va))]
    return ranking_scores(y, lists[X[va, 0]], 10)


def ease_chosen_on_held_out(
    X: np.ndarray,
    y: np.ndarray,
    order: np.ndarray,
    users: np.ndarray,
    info: dict[str, Any],
    grid: tuple[float, ...],
) -> dict[str, Any]:
    """EASE's lambda chosen on each user's 5 latest training ratings (NDCG@10), then
    refitted on all training rows and scored on the 5 latest of all (the test rows)."""
    tr_pos, va_pos = next(UserLastN(5).split(X[order], None, users[order]))
    tr, va = order[tr_pos], order[va_pos]
    tr_sorted = tr[np.argsort(np.argsort(order)[tr], kind="stable")]  # time order
    in_pos, hold_pos = next(UserLastN(5).split(X[tr_sorted], None, users[tr_sorted]))
    inner, hold = tr_sorted[in_pos], tr_sorted[hold_pos]
    chosen = {lam: topk("ease", {"lambda_": lam}, X, y, inner, hold, info) for lam in grid}
    best = max(grid, key=lambda lam: chosen[lam]["ndcg@10"])
    return {
        "held_out_ndcg@10": {lam: res["ndcg@10"] for lam, res in chosen.items()},
        "chosen_lambda": best,
        "test": topk("ease", {"lambda_": best}, X, y, tr, va, info),
    }


def ease_wide(mirror: Path) -> dict[str, Any]:
    """EASE (lambda 500) on MovieLens latest-small, each user's 2 latest ratings held out."""
    frame = pd.read_csv(mirror / "movielens-latest-small" / "ratings.csv")
    users, items = pd.factorize(frame.userId)[0], pd.factorize(frame.movieId)[0]
    X = np.c_[users, items].astype(np.int64)
    y = np.c_[X, frame.rating.to_numpy()].astype(float)
    order = np.argsort(frame.timestamp.to_numpy(), kind="stable")
    tr_pos, va_pos = next(UserLastN(2).split(X[order], None, users[order]))
    info = {"n_users": int(users.max()) + 1, "n_items": int(items.max()) + 1}
    return topk("ease", {"lambda_": 500.0}, X, y, order[tr_pos], order[va_pos], info)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--svdpp", action="store_true", help="also run Surprise SVD++ (about a minute)"
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--sample", type=int, default=0, help="first N ratings only (a quick check)"
    )
    args = parser.parse_args()
    frame = load(default_mirror())
    if args.sample:
        frame = frame.iloc[: args.sample].reset_index(drop=True)
    users, items = pd.factorize(frame.u)[0], pd.factorize(frame.i)[0]
    X = np.c_[users, items].astype(np.int64)
    r = frame.r.to_numpy(float)
    info = {
        "n_users": int(users.max()) + 1,
        "n_items": int(items.max()) + 1,
        "rating_scale": [1.0, 5.0],
    }
    splits = list(KFold(5, shuffle=True, random_state=0).split(X))
    assignment = np.empty((1, len(X)), dtype=np.int64)
    for fold, (_, va) in enumerate(splits):
        assignment[0, va] = fold
    folds = Folds(assignment=assignment, hash="bench", kind="kfold", n_splits=5)
    out: dict[str, Any] = {"threads": args.threads, "rating": {}, "topk": {}}
    with threadpool_limits(args.threads):
        oofs = {}
        for name, params in (
            ("biases", {}),
            ("mf", {}),
            ("mf50", {"factors": 50}),
            ("item_knn", {"k": 40, "similarity": "pearson_baseline", "shrinkage": 100.0}),
            ("user_knn", {"k": 40, "similarity": "pearson_baseline", "shrinkage": 100.0}),
            ("neumf", {"epochs": 10, "num_threads": args.threads}),
            ("bpmf", {}),
        ):
            oof, rmse, seconds = kk_cv(name, params, X, r, folds, info)
            oofs[name] = oof
            out["rating"][f"kagglekit {name}"] = {"rmse": rmse, "seconds": seconds}
            print(f"kagglekit {name:10s} RMSE {rmse:.4f}  {seconds:6.2f} s", flush=True)
        preds = np.stack([oofs[n] for n in oofs])  # (m, 1, n)
        started = time.perf_counter()
        nested = ensembling.nested_hill_climb(preds, r, folds, get_metric("rmse"))
        fit = ensembling.hill_climb(preds, r, ensembling.eval_sets(folds), get_metric("rmse"))
        out["rating"]["kagglekit blend (nested hill climbing)"] = {
            "rmse": float(nested.mean()),
            "in_sample_rmse": fit.score,
            "weights": dict(zip(oofs, fit.weights.round(3).tolist(), strict=True)),
            "seconds": time.perf_counter() - started,
        }
        print(
            f"blend nested RMSE {nested.mean():.4f} (in-sample {fit.score:.4f}) weights {fit.weights.round(3)}",
            flush=True,
        )
        # Stacking: a non-negative linear regression on the OOF predictions, itself
        # cross-validated over the same folds (so its figure is out of fold too).
        started = time.perf_counter()
        stack_cv, coefs = ensembling.stack(
            preds[:, 0],
            preds[:, 0, :2],
            r,
            folds,
            get_metric("rmse"),
            task="regression",
            n_classes=0,
        )
        out["rating"]["kagglekit stack (linear, cross-validated)"] = {
            "rmse": stack_cv.mean,
            "coefficients": dict(zip(oofs, np.round(coefs, 3).tolist(), strict=True)),
            "seconds": time.perf_counter() - started,
        }
        print(f"stack RMSE {stack_cv.mean:.4f} coefficients {np.round(coefs, 3)}", flush=True)
        if importlib.util.find_spec("surprise") is not None:
            algos = ["BaselineOnly", "SVD", "KNNBaseline"] + (["SVDpp"] if args.svdpp else [])
            for algo in algos:
                rmse, seconds = surprise_cv(algo, frame, splits)
                out["rating"][f"surprise {algo}"] = {"rmse": rmse, "seconds": seconds}
                print(f"surprise {algo:12s} RMSE {rmse:.4f}  {seconds:6.2f} s", flush=True)
        else:
            print("scikit-surprise is not installed: plain numpy baseline instead", flush=True)
        rmse, seconds = numpy_baseline_cv(frame, splits)
        out["rating"]["plain numpy damped means"] = {"rmse": rmse, "seconds": seconds}
        print(f"numpy damped means RMSE {rmse:.4f}  {seconds:6.2f} s", flush=True)

        y = np.c_[X, r].astype(float)
        tr, va = next(UserHoldout(0.25, random_state=42).split(X, None, users))
        threads = {"num_threads": args.threads}
        for name, params in (
            ("popularity", {}),
            ("item_knn", {"k": 40, "shrinkage": 100.0}),
            ("ease", {"lambda_": 500.0}),
            ("als", {"factors": 64, "regularization": 0.05, "iterations": 15, **threads}),
            (
                "bpr",
                {
                    "factors": 64,
                    "learning_rate": 0.01,
                    "regularization": 0.01,
                    "iterations": 100,
                    **threads,
                },
            ),
        ):
            res = topk(name, params, X, y, tr, va, info)
            out["topk"][name] = res
            print(
                f"top-10 {name:10s} NDCG@10 {res['ndcg@10']:.4f} MAP@10 {res['map@10']:.4f} coverage {res['coverage@10']:.3f}  {res['seconds']:6.2f} s",
                flush=True,
            )
        for lam in (200.0, 300.0, 400.0, 650.0, 1000.0):
            res = topk("ease", {"lambda_": lam}, X, y, tr, va, info)
            out["topk"][f"ease lambda {lam:g}"] = res
            print(f"top-10 ease lambda {lam:6g} NDCG@10 {res['ndcg@10']:.4f}", flush=True)
        seen = np.zeros((info["n_users"], info["n_items"]))
        seen[X[tr, 0], X[tr, 1]] = 1
        started = time.perf_counter()
        item_side = ease_variant_scores(seen, "item", 300.0, 0.4)
        user_side = ease_variant_scores(seen, "user", 700.0)
        for name, scores in (
            ("numpy EDLAE (lambda 300, p 0.4)", item_side),
            ("numpy user-side EASE (lambda 700)", user_side),
            ("numpy EDLAE + user-side EASE (sum)", item_side + user_side),
        ):
            res = numpy_topk(scores, seen, X, va)
            out["topk"][name] = {**res, "seconds": time.perf_counter() - started}
            print(
                f"top-10 {name} NDCG@10 {res['ndcg@10']:.4f} MAP@10 {res['map@10']:.4f}", flush=True
            )
        # The "what does each user watch next" shape: each user's 5 latest ratings held out.
        out["topk_last5"] = {}
        order = np.argsort(frame.t.to_numpy(), kind="stable")
        tr_pos, va_pos = next(UserLastN(5).split(X[order], None, users[order]))
        tr, va = order[tr_pos], order[va_pos]
        for name, params in (
            ("popularity", {}),
            ("item_knn", {"k": 40, "shrinkage": 100.0}),
            ("ease", {"lambda_": 500.0}),
            ("als", {"factors": 64, "regularization": 0.05, "iterations": 15, **threads}),
        ):
            res = topk(name, params, X, y, tr, va, info)
            out["topk_last5"][name] = res
            print(
                f"top-10 last-5 {name:10s} NDCG@10 {res['ndcg@10']:.4f} MAP@10 {res['map@10']:.4f}  {res['seconds']:6.2f} s",
                flush=True,
            )
        chosen = ease_chosen_on_held_out(
            X, y, order, users, info, (100.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0)
        )
        out["topk_last5"]["ease, lambda chosen on held-out training rows"] = chosen
        print(
            f"top-10 last-5 ease lambda chosen on the 5 latest training ratings: "
            f"{chosen['chosen_lambda']:g} (held-out NDCG@10 {chosen['held_out_ndcg@10']}), "
            f"test NDCG@10 {chosen['test']['ndcg@10']:.4f} MAP@10 {chosen['test']['map@10']:.4f}",
            flush=True,
        )
        if (default_mirror() / "movielens-latest-small").is_dir():
            res = ease_wide(default_mirror())
            out["topk_latest_small_last2"] = {"ease": res}
            print(
                f"top-10 ML-latest-small last-2 ease NDCG@10 {res['ndcg@10']:.4f} "
                f"MAP@10 {res['map@10']:.4f}  {res['seconds']:6.2f} s",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
