"""The ``ranking`` task (top-K recommendation): lists, their fusion, their submissions.

Rows are interactions, like every other kind: one row per (user, item) pair, so folds,
the CV loop and run records stay the same. The encoded target ``y`` has shape (n, 3):
(user code, item code, relevance). A prediction for a row is the ranked list of the
row's user, as item codes: shape (n, depth) with ``depth = 2 K`` (the first K are the
recommendation; the rest let ``kk ensemble`` fuse lists by rank before the cut). Rows of
the same user in the same fold carry the same list; -1 pads a list when the user has
fewer unseen items than ``depth``. Items the user has in the fold's training rows are
never in the list.

Scoring groups the validation rows by user: a user's relevant items are their held-out
rows, and MAP@K (Kaggle's: precision at each hit, over min(#relevant, K)), Precision@K,
Recall@K and NDCG@K are means over users (pure numpy, in ``kagglekit.metrics``, importable
from here too). Test lists of the fold models are combined by reciprocal rank fusion, and
so are ensemble members' lists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from kagglekit.errors import KKError

# The scores are pure numpy and live with the other metrics; importable from here as before.
from kagglekit.metrics import coverage, hit_positions, k_of, map_at_k_rows, ranking_scores
from kagglekit.tasks import Competition, Task, register_task

__all__ = [
    "RRF_K",
    "Ranking",
    "coverage",
    "fuse",
    "hit_positions",
    "k_of",
    "map_at_k_rows",
    "ranking_scores",
    "top_items",
]

RRF_K = 60  # reciprocal rank fusion constant (Cormack et al. 2009)


def fuse(
    list_sets: Sequence[np.ndarray], depth: int, weights: Sequence[float] | None = None
) -> np.ndarray:
    """Reciprocal rank fusion of ranked lists (n, L) each -> one (n, depth), -1 padded.

    Each list gives item ``i`` at position ``p`` the score ``w / (RRF_K + p + 1)``; the
    fused list orders items by their summed score (ties: the lower code first).
    """
    import scipy.sparse as sp

    stacks = [np.asarray(x).astype(np.int64) for x in list_sets]
    n_rows = stacks[0].shape[0]
    weights = list(weights) if weights is not None else [1.0] * len(stacks)
    rows, cols, vals = [], [], []
    for lists, weight in zip(stacks, weights, strict=True):
        r, p = np.nonzero(lists >= 0)
        rows.append(r)
        cols.append(lists[r, p])
        vals.append(weight / (RRF_K + p + 1.0))
    n_items = int(max((c.max() for c in cols if len(c)), default=0)) + 1
    scores = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n_rows, n_items),
    ).toarray()
    return top_items(scores, depth, present=scores > 0)


def top_items(scores: np.ndarray, depth: int, *, present: np.ndarray | None = None) -> np.ndarray:
    """The ``depth`` best item codes per row of a dense score matrix, best first, -1 padded.

    ``present`` (same shape, bool) marks the candidates; others are never listed.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if present is not None:
        scores = np.where(present, scores, -np.inf)
    n_rows, n_items = scores.shape
    take = min(depth, n_items)
    # argpartition then a sort of the few kept: O(n_items) per row, not O(n log n).
    part = (
        np.argpartition(-scores, take - 1, axis=1)[:, :take]
        if take < n_items
        else np.tile(np.arange(n_items), (n_rows, 1))
    )
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(part_scores, order, axis=1)
    out = np.full((n_rows, depth), -1, dtype=np.int64)
    out[:, :take] = np.where(np.isfinite(best_scores), best, -1)
    return out


@dataclass(frozen=True, eq=False)
class Ranking(Task):
    """Top-K recommendation: a space-separated list of K items per user."""

    name: ClassVar[str] = "ranking"
    formats: ClassVar[tuple[str, ...]] = ("ranked_list",)
    predicts_lists: ClassVar[bool] = True

    def check_format(self, submission_format: str) -> None:
        """Nothing to refuse: a ranking submission is ranked lists whatever
        ``submission_format`` says (a config that leaves it at its default loads, as it
        always has); ``value_problems`` checks the lists themselves."""

    def encode(
        self, target: Any, *, classes: Sequence[Any] | None = None
    ) -> tuple[np.ndarray, list[Any] | None]:
        if not isinstance(target, pd.DataFrame) or list(target.columns) != [
            "user",
            "item",
            "relevance",
        ]:
            raise KKError(
                "task 'ranking' needs interaction rows; set data.loader = \"interactions\" "
                "(a table of users and items)"
            )
        return target.to_numpy(dtype=np.float64), list(classes) if classes is not None else None

    def outputs_for(self, comp: Competition, classes: Sequence[Any] | None) -> int:
        return 2 * k_of(comp.metric)

    def stratify_labels(self, y: np.ndarray) -> np.ndarray:
        return np.zeros(len(y), dtype=np.int64)

    def empty_predictions(self, n_repeats: int, n_rows: int, n_outputs: int) -> np.ndarray:
        # float32 holds item codes exactly up to 2**24 and halves the OOF file.
        return np.full((n_repeats, n_rows, n_outputs), np.nan, dtype=np.float32)

    def combine(self, fold_predictions: Sequence[np.ndarray]) -> np.ndarray:
        depth = np.asarray(fold_predictions[0]).shape[1]
        if len(fold_predictions) == 1:
            return np.asarray(fold_predictions[0])
        return fuse(fold_predictions, depth).astype(np.float32)

    def constant_prediction(self, n_rows: int, n_outputs: int) -> np.ndarray:
        return np.tile(np.arange(n_outputs), (n_rows, 1))

    def submission_body(
        self,
        pred: np.ndarray,
        comp: Competition,
        columns: list[str],
        classes: Sequence[Any] | None,
    ) -> pd.DataFrame:
        if classes is None:
            raise KKError(
                "a ranked_list submission needs the item catalogue; the run record has none"
            )
        k = k_of(comp.metric)
        catalogue = np.asarray([str(c) for c in classes], dtype=object)
        codes = np.asarray(pred)[:, :k].astype(np.int64)
        names = np.where(codes >= 0, catalogue[np.clip(codes, 0, None)], "")
        text = [" ".join(v for v in row if v) for row in names]
        return pd.DataFrame({columns[1]: text})

    def value_problems(
        self, col: str, values: pd.Series, comp: Competition, allowed: Sequence[Any] | None
    ) -> list[str]:
        k = k_of(comp.metric)
        lists = values.fillna("").astype(str).str.split()
        lengths = lists.map(len)
        problems = []
        if (lengths > k).any():
            row = int(np.flatnonzero(lengths > k)[0])
            problems.append(
                f"column '{col}' has {int((lengths > k).sum())} list(s) longer than K={k} "
                f"(first: row {row}, {int(lengths.iloc[row])} items); keep the first {k}"
            )
        repeated = lists.map(lambda items: len(set(items)) != len(items))
        if repeated.any():
            row = int(np.flatnonzero(repeated.to_numpy())[0])
            problems.append(
                f"column '{col}' has {int(repeated.sum())} list(s) with a repeated item (first: "
                f"row {row}); list each item once"
            )
        if allowed is not None:
            known = {str(a) for a in allowed}
            flat = pd.Series([i for items in lists for i in items], dtype=object)
            unknown = flat[~flat.isin(known)]
            if len(unknown):
                problems.append(
                    f"column '{col}' names {len(unknown)} item(s) not in the catalogue "
                    f"(first: {unknown.iloc[0]!r}); use item ids from the train file"
                )
        return problems

    def scored_arrays(
        self,
        truth: pd.Series,
        sub: pd.DataFrame,
        pred_cols: list[str],
        comp: Competition,
        classes: Sequence[Any],
        needs: str,
    ) -> tuple[np.ndarray, np.ndarray]:
        actual = truth.fillna("").astype(str).str.split().tolist()
        predicted = sub[pred_cols[0]].fillna("").astype(str).str.split().tolist()
        return np.asarray(actual, dtype=object), np.asarray(predicted, dtype=object)

    blends_by_average: ClassVar[bool] = False

    def blend(self, preds: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Members' lists (n_members, ..., depth) fused by weighted reciprocal rank; rows
        a member has no list for (NaN: never validated) stay NaN."""
        preds = np.asarray(preds)
        depth = preds.shape[-1]
        flat = preds.reshape(preds.shape[0], -1, depth)
        missing = np.isnan(flat).any(axis=(0, 2))
        out = np.full(flat.shape[1:], np.nan, dtype=np.float32)
        keep = [m for m, w in enumerate(weights) if w > 0]
        rows = np.flatnonzero(~missing)
        if len(rows):
            fused = fuse([flat[m][rows] for m in keep], depth, [float(weights[m]) for m in keep])
            out[rows] = fused
        return out.reshape(preds.shape[1:])

    def dataset_problems(self, sub: pd.DataFrame, dataset: Any, comp: Competition) -> list[str]:
        """Items a user already has in train, recommended to them again."""
        seen = dataset.info.get("seen") if dataset.kind == "pairs" else None
        if seen is None or comp.target_column not in sub.columns or not dataset.classes:
            return []
        user_code = dict(zip(dataset.test_ids.astype(str), dataset.X_test[:, 0], strict=True))
        item_code = {str(c): i for i, c in enumerate(dataset.classes)}
        lists = sub[comp.target_column].fillna("").astype(str).str.split()
        pairs = pd.DataFrame(
            {"user": sub.iloc[:, 0].astype(str).to_numpy(), "item": lists.to_numpy()}
        ).explode("item")
        u = pairs["user"].map(user_code)
        i = pairs["item"].map(item_code)
        known = (u.notna() & i.notna()).to_numpy()
        if not known.any():
            return []
        hit = np.zeros(len(pairs), dtype=bool)
        hit[known] = (
            np.asarray(
                seen[u[known].astype(np.int64).to_numpy(), i[known].astype(np.int64).to_numpy()]
            ).ravel()
            > 0
        )
        if not hit.any():
            return []
        first = pairs[hit].iloc[0]
        return [
            f"column '{comp.target_column}' recommends {int(hit.sum())} item(s) the user already "
            f"has in train (first: user {first['user']}, item {first['item']}); leave out each "
            "user's train items"
        ]

    def level2_features(self, preds: np.ndarray) -> np.ndarray:
        raise KKError(
            "ranked lists are combined by rank fusion, not by a stacker; use --method hill"
        )


register_task(Ranking())
