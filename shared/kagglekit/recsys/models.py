"""Recommender backends that read ``pairs`` rows: one ``PairsModel`` per algorithm.

Every model predicts in the task's space: ``regression`` (rating prediction) gives one
rating per (user, item) row, clipped to the data's rating scale; ``ranking`` gives each
row's user a ranked list of item codes without the items they have in training (see
``kagglekit.recsys.ranking``).

Cold start: a user or item with no training rows in the fold gets the regularised
biases' prediction (global mean + the bias that is known) for a rating, and the most
popular items for a list; never NaN.

Hot loops are numpy / scipy.sparse: biases and MF are alternating least squares solved
for all users (then all items) at once; kNN scores batches of rows with dense slices.
Implicit ALS and BPR come from the ``implicit`` library (``pip install
'kagglekit[recsys]'``), which does them well; MF with biases, kNN and EASE are short
enough here, and ``implicit`` has no explicit-rating models.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from kagglekit.errors import KKError
from kagglekit.metrics import coverage, k_of, ranking_scores
from kagglekit.models.base import (
    Backend,
    BuildContext,
    FitFailure,
    FoldContext,
    register_backend,
    require,
)
from kagglekit.recsys.ranking import top_items

BATCH = 1024  # users (lists) or rows (kNN ratings) scored per dense slice


class PairsModel:
    """What every recommender shares: the fold's matrices, biases, cold start, lists.

    Subclasses implement ``_fit(users, items, values)`` and one or both of
    ``_predict_pairs(users, items)`` (ratings) and ``_score_users(users)`` (a dense
    (len(users), n_items) score block for lists).
    """

    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, ctx: BuildContext) -> None:
        self.task = ctx.task
        self.params = {**self.defaults, **ctx.params}
        self.seed = ctx.seed
        self.info = ctx.info
        self.smoke = ctx.smoke
        self.ranking = ctx.task.predicts_lists  # ranked item lists, not pair values
        self.k = k_of(ctx.metric.name) if (self.ranking and ctx.metric is not None) else 10
        self.n_users = int(ctx.info.get("n_users", 0))
        self.n_items = int(ctx.info.get("n_items", 0))
        low, high = ctx.info.get("rating_scale", [-np.inf, np.inf])
        self.scale = (float(low), float(high))  # rating predictions are clipped to it
        self._learned: dict[str, Any] = {}
        if "rating_scale" in ctx.info and not ctx.info.get("implicit"):
            # The record says which scale the ratings are on (rating predictions are
            # clipped to it) and whether config or data gave it.
            self._learned["rating_scale"] = {
                "low": self.scale[0],
                "high": self.scale[1],
                "step": ctx.info.get("rating_step"),
                "from": ctx.info.get("rating_scale_from", "config"),
            }

    # ------------------------------------------------------------------------------ fit
    def fit(
        self,
        X: Any,
        y: np.ndarray,
        *,
        X_valid: Any = None,
        y_valid: np.ndarray | None = None,
        fold: FoldContext | None = None,
    ) -> PairsModel:
        X = np.asarray(X, dtype=np.int64)
        y = np.asarray(y, dtype=np.float64)
        values = y[:, 2] if self.ranking else y
        users, items = X[:, 0], X[:, 1]
        if not self.n_users:
            self.n_users, self.n_items = int(users.max()) + 1, int(items.max()) + 1
        shape = (self.n_users, self.n_items)
        self.R_ = sp.csr_matrix((values, (users, items)), shape=shape)
        self.seen_ = sp.csr_matrix((np.ones(len(users), np.float32), (users, items)), shape=shape)
        self.user_n_ = np.bincount(users, minlength=self.n_users)
        self.item_n_ = np.bincount(items, minlength=self.n_items)
        self.mu_, self.bu_, self.bi_ = fit_biases(
            users,
            items,
            values,
            shape,
            reg_user=float(self.params.get("reg_user_bias", 15.0)),
            reg_item=float(self.params.get("reg_item_bias", 10.0)),
        )
        # Models that train in epochs may keep their best epoch on the fold's validation rows.
        self.valid_ = (
            None
            if X_valid is None or y_valid is None
            else (np.asarray(X_valid, dtype=np.int64), np.asarray(y_valid, dtype=np.float64))
        )
        started = time.perf_counter()
        self._fit(users, items, values)
        self._learned["fit_seconds"] = round(time.perf_counter() - started, 4)
        if self.ranking and X_valid is not None and y_valid is not None:
            lists = self.predict(X_valid)
            scores = ranking_scores(np.asarray(y_valid), lists, self.k)
            scores[f"coverage@{self.k}"] = coverage(lists, self.k, self.n_items)
            self._learned["ranking"] = {key: round(v, 6) for key, v in scores.items()}
        return self

    def _fit(self, users: np.ndarray, items: np.ndarray, values: np.ndarray) -> None:
        raise NotImplementedError

    # -------------------------------------------------------------------------- predict
    def predict(self, X: Any) -> np.ndarray:
        if not hasattr(self, "R_"):
            raise KKError(f"{type(self).__name__}.predict was called before fit; fit it first")
        X = np.asarray(X, dtype=np.int64)
        if self.ranking:
            return self._recommend(X)
        users, items = X[:, 0], X[:, 1]
        base = self.baseline(users, items)
        pred = np.asarray(self._predict_pairs(users, items), dtype=np.float64)
        cold = (self.user_n_[users] == 0) | (self.item_n_[items] == 0) | ~np.isfinite(pred)
        return np.clip(np.where(cold, base, pred), *self.scale)

    def baseline(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Global mean + user bias + item bias (a bias is 0 for an unknown id)."""
        return self.mu_ + self.bu_[users] + self.bi_[items]

    def _predict_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return self.baseline(users, items)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        """Scores of every item for ``users``: (len(users), n_items); higher is better."""
        grid_u = np.repeat(users, self.n_items)
        grid_i = np.tile(np.arange(self.n_items), len(users))
        return np.asarray(self._predict_pairs(grid_u, grid_i)).reshape(len(users), self.n_items)

    def _recommend(self, X: np.ndarray) -> np.ndarray:
        """Each row's user's top ``2K`` unseen items (see ``kagglekit.recsys.ranking``)."""
        depth = 2 * self.k
        test_rows = bool((X[:, 1] < 0).any())
        exclude = self.seen_
        full_seen = self.info.get("seen")
        if test_rows and full_seen is not None:
            exclude = (self.seen_ + full_seen.astype(np.float32)).tocsr()
        uniq, inverse = np.unique(X[:, 0], return_inverse=True)
        popularity = self.item_n_.astype(np.float64)
        lists = np.empty((len(uniq), depth), dtype=np.int64)
        for start in range(0, len(uniq), BATCH):
            batch = uniq[start : start + BATCH]
            scores = np.asarray(self._score_users(batch), dtype=np.float64)
            cold = self.user_n_[batch] == 0
            scores[cold] = popularity
            scores = np.where(np.isfinite(scores), scores, -1e300)
            present = exclude[batch].toarray() == 0
            lists[start : start + len(batch)] = top_items(scores, depth, present=present)
        return lists[inverse].astype(np.float32)

    def learned(self) -> dict[str, Any]:
        return dict(self._learned)


def fit_biases(
    users: np.ndarray,
    items: np.ndarray,
    values: np.ndarray,
    shape: tuple[int, int],
    *,
    reg_user: float,
    reg_item: float,
    n_epochs: int = 10,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Regularised global/user/item biases by alternating least squares (Surprise's
    BaselineOnly with ALS, Koren 2010 section 2.1), vectorised with ``np.bincount``."""
    n_users, n_items = shape
    mu = float(values.mean()) if len(values) else 0.0
    bu, bi = np.zeros(n_users), np.zeros(n_items)
    n_u = np.bincount(users, minlength=n_users)
    n_i = np.bincount(items, minlength=n_items)
    for _ in range(n_epochs):
        bi = np.bincount(items, weights=values - mu - bu[users], minlength=n_items) / (
            reg_item + n_i
        )
        bu = np.bincount(users, weights=values - mu - bi[items], minlength=n_users) / (
            reg_user + n_u
        )
    return mu, bu, bi


# --------------------------------------------------------------------------- the models
class Biases(PairsModel):
    """r = mu + b_u + b_i; a list ranks items by their bias."""

    defaults: ClassVar[dict[str, Any]] = {"reg_user_bias": 15.0, "reg_item_bias": 10.0}

    def _fit(self, users: np.ndarray, items: np.ndarray, values: np.ndarray) -> None:
        pass

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return np.tile(self.bi_, (len(users), 1))


class Popularity(PairsModel):
    """The most popular items (training rows per item) for everyone."""

    def _fit(self, users: np.ndarray, items: np.ndarray, values: np.ndarray) -> None:
        pass

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return np.tile(self.item_n_.astype(np.float64), (len(users), 1))


def _similarity(A: sp.csr_matrix, M: sp.csr_matrix, shrinkage: float) -> np.ndarray:
    """Column-column similarity over co-rating rows, shrunk by support: dense (n, n).

    ``A`` holds the (centred) values and ``M`` the 0/1 pattern; the norms are taken over
    the rows both columns have (true cosine/Pearson on common raters), and the result is
    multiplied by ``(n_common - 1) / (n_common - 1 + shrinkage)`` (Koren 2010).
    """
    num = (A.T @ A).toarray()
    A2 = A.multiply(A).tocsr()
    left = (A2.T @ M).toarray()
    denom = np.sqrt(left * left.T)
    support = (M.T @ M).toarray()
    with np.errstate(divide="ignore", invalid="ignore"):
        sim = np.where(denom > 0, num / denom, 0.0)
    if shrinkage > 0:
        sim *= np.maximum(support - 1, 0) / (np.maximum(support - 1, 0) + shrinkage)
    np.fill_diagonal(sim, 0.0)
    return sim


class KNN(PairsModel):
    """User- or item-based k nearest neighbours over baseline residuals (KNNBaseline).

    ``similarity``: ``cosine`` (raw values), ``pearson`` (values centred on each column's
    mean) or ``pearson_baseline`` (residuals after the biases); ``shrinkage`` pulls
    similarities of columns with few common raters towards 0. A rating is
    b_ui + sum(s * residual) / sum(s) over the k most similar neighbours that rated
    (item-based: items the user rated; user-based: users who rated the item), s > 0.
    A list scores items by the user's rows times the similarities kept to each item's k
    nearest (the usual item-kNN recommender).
    """

    defaults: ClassVar[dict[str, Any]] = {
        "k": 40,
        "similarity": "pearson_baseline",
        "shrinkage": 100.0,
        "min_k": 1,
    }
    SIMILARITIES = ("cosine", "pearson", "pearson_baseline")

    def __init__(self, ctx: BuildContext, *, user_based: bool) -> None:
        super().__init__(ctx)
        self.user_based = user_based
        if self.params["similarity"] not in self.SIMILARITIES:
            raise KKError(
                f"similarity {self.params['similarity']!r} is not known; use one of "
                f"{', '.join(self.SIMILARITIES)}"
            )

    def _fit(self, users: np.ndarray, items: np.ndarray, values: np.ndarray) -> None:
        kind = self.params["similarity"]
        shape = (self.n_users, self.n_items)
        resid = values - self.baseline(users, items)
        if self.ranking:  # binary interactions: cosine over the pattern
            centred = np.ones(len(values))
        elif kind == "cosine":
            centred = values
        elif kind == "pearson":
            owner = users if self.user_based else items
            means = np.bincount(owner, weights=values) / np.maximum(np.bincount(owner), 1)
            centred = values - means[owner]
        else:
            centred = resid
        self.resid_ = sp.csr_matrix((resid, (users, items)), shape=shape)
        A = sp.csr_matrix((centred, (users, items)), shape=shape)
        M = self.seen_.astype(np.float64)
        if self.user_based:
            A, M = A.T.tocsr(), M.T.tocsr()
        self.sim_ = _similarity(A, M, float(self.params["shrinkage"]))

    def _predict_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        k = int(self.params["k"])
        # item-based: neighbours of item i among the items user u rated; user-based: swap.
        target, owner = (users, items) if self.user_based else (items, users)
        M = self.seen_.T.tocsr() if self.user_based else self.seen_
        Z = self.resid_.T.tocsr() if self.user_based else self.resid_
        out = self.baseline(users, items).copy()
        for start in range(0, len(users), BATCH):
            sl = slice(start, start + BATCH)
            S = self.sim_[target[sl]]
            rated = M[owner[sl]].toarray() > 0
            S = np.where(rated & (S > 0), S, 0.0)
            kk = min(k, S.shape[1])
            top = np.argpartition(-S, kk - 1, axis=1)[:, :kk]
            s_top = np.take_along_axis(S, top, axis=1)
            z_top = np.take_along_axis(Z[owner[sl]].toarray(), top, axis=1)
            denom = s_top.sum(axis=1)
            enough = (s_top > 0).sum(axis=1) >= int(self.params["min_k"])
            with np.errstate(divide="ignore", invalid="ignore"):
                adjust = np.where(enough & (denom > 0), (s_top * z_top).sum(axis=1) / denom, 0.0)
            out[sl] += adjust
        return out

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        if not hasattr(self, "topk_sim_"):
            k = min(int(self.params["k"]), self.sim_.shape[0] - 1)
            S = np.maximum(self.sim_, 0.0)
            # keep each column's k largest: item j's k nearest (item-based) or user's (user-based)
            cut = -np.partition(-S, k - 1, axis=0)[k - 1 : k, :]
            self.topk_sim_ = np.where(cut <= S, S, 0.0)
        seen = self.seen_[users].toarray()
        if self.user_based:
            return self.topk_sim_.T[users] @ self.seen_.toarray()
        return seen @ self.topk_sim_


class BiasedMF(PairsModel):
    """Biased matrix factorisation r = mu + b_u + b_i + p_u . q_i (what Surprise calls SVD),
    fitted by alternating least squares with weighted-lambda regularisation (Zhou et al.
    2008): every user's [p_u, b_u] is one ridge solve given the items, all users at once
    (their normal equations come from one sparse product), then every item's."""

    defaults: ClassVar[dict[str, Any]] = {
        # chosen on one ML-100k fold (factors 5-60, reg 0.05-0.2, reg_bias 2-10): 0.9115 RMSE
        "factors": 20,
        "reg": 0.13,
        "reg_bias": 2.0,
        "n_epochs": 12,
        "init_std": 0.1,
        "reg_user_bias": 15.0,
        "reg_item_bias": 10.0,
    }

    def _fit(self, users: np.ndarray, items: np.ndarray, values: np.ndarray) -> None:
        f = int(self.params["factors"])
        reg, reg_b = float(self.params["reg"]), float(self.params["reg_bias"])
        n_epochs = 1 if self.smoke else int(self.params["n_epochs"])
        if f < 1:
            raise FitFailure(f"factors = {f}; use 1 or more")
        rng = np.random.default_rng(self.seed)
        P = rng.normal(0, float(self.params["init_std"]), (self.n_users, f))
        Q = rng.normal(0, float(self.params["init_std"]), (self.n_items, f))
        bu, bi = self.bu_.copy(), self.bi_.copy()
        mu = self.mu_
        M = self.seen_.astype(np.float64)
        n_u, n_i = self.user_n_.astype(float), self.item_n_.astype(float)
        for _ in range(n_epochs):
            P, bu = _ridge_side(M, users, items, values - mu - bi[items], Q, n_u, reg, reg_b)
            Q, bi = _ridge_side(
                M.T.tocsr(), items, users, values - mu - bu[users], P, n_i, reg, reg_b
            )
        self.P_, self.Q_, self.bu_mf_, self.bi_mf_ = P, Q, bu, bi
        pred = mu + bu[users] + bi[items] + np.einsum("nf,nf->n", P[users], Q[items])
        self._learned["train_rmse"] = round(float(np.sqrt(np.mean((pred - values) ** 2))), 5)

    def _predict_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        dot = np.einsum("nf,nf->n", self.P_[users], self.Q_[items])
        return self.mu_ + self.bu_mf_[users] + self.bi_mf_[items] + dot

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return (
            self.mu_
            + self.bu_mf_[users][:, None]
            + self.bi_mf_[None, :]
            + self.P_[users] @ self.Q_.T
        )


def _ridge_side(
    M: sp.csr_matrix,
    rows: np.ndarray,
    cols: np.ndarray,
    target: np.ndarray,
    F: np.ndarray,
    counts: np.ndarray,
    reg: float,
    reg_b: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve every row's ridge problem for [factors, bias] given the other side ``F``.

    Row r's normal equations: sum over its entries of x x^T with x = [F_c, 1], and
    sum of target * x; both for all rows from one sparse-dense product each.
    """
    n, f = M.shape[0], F.shape[1]
    Xa = np.hstack([F, np.ones((F.shape[0], 1))])  # (n_cols, f+1)
    outer = (Xa[:, :, None] * Xa[:, None, :]).reshape(len(Xa), -1)  # (n_cols, (f+1)^2)
    G = (M @ outer).reshape(n, f + 1, f + 1)
    T = sp.csr_matrix((target, (rows, cols)), shape=M.shape)
    b = T @ Xa  # (n, f+1)
    # weighted-lambda on the factors (the penalty grows with the row's count, Zhou et al.);
    # a fixed penalty on the bias, as in the biases alone (Koren 2010)
    lam = np.maximum(counts, 1)[:, None] * np.r_[np.full(f, reg), 0.0][None, :]
    lam[:, f] = reg_b
    G[:, np.arange(f + 1), np.arange(f + 1)] += lam
    sol = np.linalg.solve(G, b[:, :, None])[:, :, 0]
    return sol[:, :f], sol[:, f]


class EASE(PairsModel):
    """EASE (Steck 2019): a closed-form item-item model B = I - P / diag(P),
    P = (X^T X + lambda I)^-1, on the binary user x item matrix; scores = x_u B.

    Only the items with training rows in the fold enter the inverse: an item nobody has
    is a zero row and column of X^T X, so its block of P is I / lambda and its row and
    column of B are 0. The result is the same, and a smoke fold of a 9,000-item
    catalogue inverts a few hundred items instead of all of them. With fewer users than
    items, X B itself comes from the users' Gram matrix K = X X^T + lambda I (Woodbury:
    X P = K^-1 X, diag(P) = (1 - colsum(X * K^-1 X)) / lambda, x_u B = x_u - (K^-1 X)_u /
    diag(P)): the same scores in O(users^2 items), not O(items^3), and no items^2 matrix.
    """

    defaults: ClassVar[dict[str, Any]] = {"lambda_": 500.0}

    def _fit(self, users: np.ndarray, items: np.ndarray, values: np.ndarray) -> None:
        self.active_ = np.flatnonzero(self.item_n_ > 0)  # items with training rows
        X = self.seen_[:, self.active_].astype(np.float64)
        lam = float(self.params["lambda_"])
        if X.shape[0] < X.shape[1]:
            Xd = X.toarray()
            K = Xd @ Xd.T
            K[np.diag_indices_from(K)] += lam
            W = np.linalg.solve(K, Xd)  # (n_users, n_active): X P
            self.XB_ = Xd - W / ((1.0 - np.einsum("uj,uj->j", Xd, W)) / lam)
            return
        G = (X.T @ X).toarray()
        G[np.diag_indices_from(G)] += lam
        P = np.linalg.inv(G)
        B = -P / np.diag(P)
        np.fill_diagonal(B, 0.0)
        self.B_ = B  # (n_active, n_active)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        scores = np.zeros((len(users), self.n_items))
        if hasattr(self, "XB_"):
            scores[:, self.active_] = self.XB_[users]
        else:
            scores[:, self.active_] = self.seen_[users][:, self.active_].toarray() @ self.B_
        return scores


class ImplicitModel(PairsModel):
    """ALS (Hu, Koren, Volinsky 2008) or BPR (Rendle et al. 2009) from ``implicit``."""

    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, ctx: BuildContext, *, algorithm: str) -> None:
        super().__init__(ctx)
        self.algorithm = algorithm

    def _fit(self, users: np.ndarray, items: np.ndarray, values: np.ndarray) -> None:
        require("implicit", "recsys")
        params = {
            k: v
            for k, v in self.params.items()
            if k not in ("alpha", "reg_user_bias", "reg_item_bias")
        }
        params.setdefault("num_threads", 0)
        if self.smoke:
            params["iterations"] = 1
        if self.algorithm == "als":
            from implicit.cpu.als import AlternatingLeastSquares as Algo
        else:
            from implicit.cpu.bpr import BayesianPersonalizedRanking as Algo
        weights = self.seen_ * float(self.params.get("alpha", 1.0))
        try:
            model = Algo(random_state=self.seed, **params)
        except TypeError as err:
            raise FitFailure(f"{self.algorithm}: {err}") from None
        model.fit(weights.tocsr().astype(np.float32), show_progress=False)
        self.U_, self.V_ = np.asarray(model.user_factors), np.asarray(model.item_factors)

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self.U_[users] @ self.V_.T


# ------------------------------------------------------------------------- registration
_BIAS_PARAMS = {"reg_user_bias", "reg_item_bias"}


def _known(known: set[str]) -> Any:
    def names(task: str) -> set[str]:
        return known | _BIAS_PARAMS

    return names


def _register(
    name: str,
    make: Any,
    tasks: tuple[str, ...],
    known: set[str],
    *,
    default_space: dict[str, Any] | None = None,
    packages: tuple[str, ...] = ("scipy",),
) -> None:
    """Register a recommender; ``default_space`` is its search space for ``kk tune``."""
    register_backend(
        Backend(
            name=name,
            tasks=tasks,
            build=make,
            known_params=_known(known),
            family="recsys",
            accepts=("pairs",),
            install_hint="pip install 'kagglekit[recsys]'",
            default_space=default_space or {},
            packages=packages,
        )
    )


_KNN_SPACE = {
    "k": {"low": 10, "high": 200, "log": True},
    "shrinkage": {"low": 1.0, "high": 300.0, "log": True},
}
_register(
    "biases",
    Biases,
    ("regression", "ranking"),
    set(),
    default_space={
        "reg_user_bias": {"low": 0.5, "high": 50.0, "log": True},
        "reg_item_bias": {"low": 0.5, "high": 50.0, "log": True},
    },
)
_register("popularity", Popularity, ("ranking",), set())
_register(
    "user_knn",
    lambda ctx: KNN(ctx, user_based=True),
    ("regression", "ranking"),
    set(KNN.defaults),
    default_space=_KNN_SPACE,
)
_register(
    "item_knn",
    lambda ctx: KNN(ctx, user_based=False),
    ("regression", "ranking"),
    set(KNN.defaults),
    default_space=_KNN_SPACE,
)
_register(
    "mf",
    BiasedMF,
    ("regression", "ranking"),
    set(BiasedMF.defaults),
    default_space={
        "factors": {"low": 5, "high": 100, "log": True},
        "reg": {"low": 0.02, "high": 0.5, "log": True},
        "reg_bias": {"low": 0.1, "high": 20.0, "log": True},
    },
)
_register(
    "ease",
    EASE,
    ("ranking",),
    set(EASE.defaults),
    default_space={"lambda_": {"low": 10.0, "high": 5000.0, "log": True}},
)
_register(
    "als",
    lambda ctx: ImplicitModel(ctx, algorithm="als"),
    ("ranking",),
    {"factors", "regularization", "iterations", "alpha", "num_threads"},
    default_space={
        "factors": {"low": 16, "high": 256, "log": True},
        "regularization": {"low": 1e-3, "high": 1.0, "log": True},
        "alpha": {"low": 0.5, "high": 50.0, "log": True},
    },
    packages=("scipy", "implicit"),
)
_register(
    "bpr",
    lambda ctx: ImplicitModel(ctx, algorithm="bpr"),
    ("ranking",),
    {"factors", "learning_rate", "regularization", "iterations", "num_threads"},
    default_space={
        "factors": {"low": 16, "high": 256, "log": True},
        "learning_rate": {"low": 1e-3, "high": 0.1, "log": True},
        "regularization": {"low": 1e-4, "high": 0.1, "log": True},
    },
    packages=("scipy", "implicit"),
)
