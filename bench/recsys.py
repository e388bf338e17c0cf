"""Recommenders on MovieLens 100k: kagglekit's models beside Surprise on the same folds.

Rating prediction: 5-fold CV over the 100,000 ratings (scikit-learn ``KFold(5,
shuffle=True, random_state=0)``, the same row indices handed to both libraries), RMSE
and wall time per model (fit + predict of the five folds). kagglekit's models go through
``training.cross_validate`` with the fold assignment saved as ``Folds``, exactly as
``kk train`` runs them; Surprise gets a trainset and testset built from the same rows.
The blend is hill climbing over the kagglekit OOF predictions, nested (weights chosen
on the other four folds; the honest figure).

Top-10: one per-user random 75/25 split (``cv.kind = "user_holdout"``, seed 42), every
unseen item ranked for each user, NDCG@10 / MAP@10 / Recall@10 / coverage from the
ranking task's metrics; popularity is the baseline of the ratios.

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
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
