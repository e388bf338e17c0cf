"""``bpmf``: Bayesian matrix factorisation by Gibbs sampling, with implicit feedback.

The rating model is biased MF, r = mu + b_u + b_i + p_u . q_i + noise, fitted by Markov
chain Monte Carlo as in BPMF (Salakhutdinov and Mnih 2008) and Bayesian factorisation
machines (Freudenthaler, Schmidt-Thieme and Rendle 2011, libFM's MCMC): every user's
vector [p_u, b_u] is drawn from its Gaussian posterior given the items (all users at once,
from one sparse product and a batched (d x d) inverse), then every item's, then the priors'
means and precisions (Normal-Wishart) and the noise precision (Gamma); a prediction is the
mean over the draws after a burn-in. Averaging over the posterior instead of taking one
regularised fit is what lifts it above MF by ALS or SGD, with no regularisation strength
to tune (the priors' precisions are sampled too).

Implicit feedback (``implicit = true``, SVD++'s idea, Koren 2008): which items a user rated
says something about their taste whatever the ratings were. A user's prior mean is
``m + z_u A``, with z_u the user's training items scaled by 1/sqrt(count) and A one
vector per item (SVD++'s y_j), drawn from its matrix-normal posterior as in Macau (Simm et
al. 2015, "BPMF with side information"); an item's prior mean likewise comes from the users
who rated it. The SVD of Z, taken once per fit, makes each draw of A two small products.

Hand-written with numpy/scipy because no installable package does this today: myfm (the
libFM-style Gibbs FM on PyPI, 0.4.0) fails to import beside setuptools 84 (its
``__init__`` imports ``pkg_resources``, which setuptools no longer ships), fastFM's last
release is from 2017 with no wheel on PyPI, and Surprise fits SVD++ by SGD only. Memory: the kept draws,
``n_samples * (n_users + n_items) * (factors + 2)`` float32 values (12.6 MB on ML-100k).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from kagglekit.models.base import Backend, FitFailure, register_backend
from kagglekit.recsys.models import BATCH, PairsModel


class BayesianMF(PairsModel):
    """Biased MF sampled by Gibbs (BPMF), implicit feedback in the priors' means."""

    defaults: ClassVar[dict[str, Any]] = {
        "factors": 10,
        # 100 draws after 20 burn-in sweeps: 0.8840 RMSE on ML-100k's random 5 folds
        # (bench/recsys.py), 15-40 s a fold on one core of a busy machine
        "n_samples": 100,
        "burn_in": 20,
        "implicit": True,
        "init_std": 0.1,
        "reg_user_bias": 15.0,
        "reg_item_bias": 10.0,
    }

    def _fit(self, users: np.ndarray, items: np.ndarray, values: np.ndarray) -> None:
        f = int(self.params["factors"])
        n_samples, burn_in = int(self.params["n_samples"]), int(self.params["burn_in"])
        if self.smoke:
            n_samples, burn_in = 2, 1
        if f < 1 or n_samples < 1 or burn_in < 0:
            raise FitFailure(
                f"bpmf: factors = {f}, n_samples = {n_samples}, burn_in = {burn_in}; use "
                "factors and n_samples of 1 or more and burn_in of 0 or more"
            )
        rng = np.random.default_rng(self.seed)
        std = float(self.params["init_std"])
        mu = self.mu_
        # (n, f + 1): [p_u, b_u] and [q_i, b_i], started from the regularised biases
        U = np.c_[rng.normal(0, std, (self.n_users, f)), self.bu_]
        V = np.c_[rng.normal(0, std, (self.n_items, f)), self.bi_]
        M = self.seen_.astype(np.float64)
        Mt = M.T.tocsr()
        implicit = bool(self.params["implicit"])
        user_prior = _Prior(f + 1, _normalised_rows(M) if implicit else None)
        item_prior = _Prior(f + 1, _normalised_rows(Mt) if implicit else None)
        resid = values - self.baseline(users, items)
        alpha = 1.0 / max(float(resid.var()), 1e-6)  # noise precision, then sampled
        ones_i, ones_u = np.ones((self.n_items, 1)), np.ones((self.n_users, 1))
        kept_u, kept_v, alphas = [], [], []
        for step in range(burn_in + n_samples):
            U = _sample_rows(
                M,
                users,
                items,
                values - mu - V[items, f],
                np.hstack([V[:, :f], ones_i]),
                user_prior,
                alpha,
                rng,
            )
            user_prior.sample(U, rng)
            V = _sample_rows(
                Mt,
                items,
                users,
                values - mu - U[users, f],
                np.hstack([U[:, :f], ones_u]),
                item_prior,
                alpha,
                rng,
            )
            item_prior.sample(V, rng)
            pred = (
                mu + U[users, f] + V[items, f] + np.einsum("nf,nf->n", U[users, :f], V[items, :f])
            )
            sse = float(((values - pred) ** 2).sum())
            alpha = rng.gamma(1.0 + len(values) / 2, 1.0 / (1.0 + sse / 2))
            if step >= burn_in:
                kept_u.append(U.astype(np.float32))
                kept_v.append(V.astype(np.float32))
                alphas.append(alpha)
        # One row per user (item) holding every draw's [p, b_u, 1] ([q, 1, b_i]): the mean
        # prediction over the draws is then one dot product divided by the draw count.
        self.Ucat_ = np.concatenate([_augment(u, f, user_side=True) for u in kept_u], axis=1)
        self.Vcat_ = np.concatenate([_augment(v, f, user_side=False) for v in kept_v], axis=1)
        self.n_kept_ = len(kept_u)
        fitted = self._predict_pairs(users, items)
        self._learned.update(
            train_rmse=round(float(np.sqrt(np.mean((fitted - values) ** 2))), 5),
            noise_std=round(float(np.mean(np.asarray(alphas) ** -0.5)), 5),
            draws_kept=self.n_kept_,
        )

    def _predict_pairs(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        out = np.empty(len(users))
        step = 16 * BATCH  # rows per slice: bounds the (rows, draws * (f + 2)) temporaries
        for start in range(0, len(users), step):
            sl = slice(start, start + step)
            dots = np.einsum("nk,nk->n", self.Ucat_[users[sl]], self.Vcat_[items[sl]])
            out[sl] = self.mu_ + dots / self.n_kept_
        return out

    def _score_users(self, users: np.ndarray) -> np.ndarray:
        return self.mu_ + (self.Ucat_[users] @ self.Vcat_.T) / self.n_kept_


def _augment(X: np.ndarray, f: int, *, user_side: bool) -> np.ndarray:
    """[p, b, 1] for users and [q, 1, b] for items: their dot is p . q + b_u + b_i."""
    ones = np.ones((len(X), 1), dtype=X.dtype)
    return np.hstack([X, ones] if user_side else [X[:, :f], ones, X[:, f:]])


def _normalised_rows(M: sp.csr_matrix) -> sp.csr_matrix:
    """Each row's pattern scaled by 1/sqrt(its count) (SVD++'s |N(u)|^-1/2)."""
    counts = np.asarray(M.sum(axis=1)).ravel()
    scale = 1.0 / np.sqrt(np.maximum(counts, 1.0))
    return sp.csr_matrix(sp.diags(scale) @ M)


def _sample_rows(
    M: sp.csr_matrix,
    rows: np.ndarray,
    cols: np.ndarray,
    target: np.ndarray,
    design: np.ndarray,
    prior: _Prior,
    alpha: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """One draw of every row's vector from its Gaussian posterior: (n_rows, d).

    Row r's precision is Lambda + alpha * sum of x x^T over its entries (x = the design
    row of the entry's column), its mean that precision's inverse times
    Lambda m_r + alpha * sum of target * x; the sums for all rows come from one sparse
    product each (as in ``models._ridge_side``).
    """
    n, d = M.shape[0], design.shape[1]
    outer = (design[:, :, None] * design[:, None, :]).reshape(len(design), -1)
    precision = alpha * (M @ outer).reshape(n, d, d) + prior.precision
    T = sp.csr_matrix((target, (rows, cols)), shape=M.shape)
    b = alpha * (T @ design) + prior.row_means() @ prior.precision  # (n, d)
    cov = np.linalg.inv(precision)
    cov = (cov + cov.transpose(0, 2, 1)) / 2
    mean = np.einsum("nij,nj->ni", cov, b)
    chol = np.linalg.cholesky(cov)
    return mean + np.einsum("nij,nj->ni", chol, rng.standard_normal((n, d)))


class _Prior:
    """A side's prior N(m + z A, Lambda^-1): m, Lambda Normal-Wishart (BPMF's hyperprior,
    beta0 = 2, nu0 = d, W0 = I), A matrix-normal with its own Gamma-sampled precision."""

    def __init__(self, d: int, Z: sp.csr_matrix | None) -> None:
        self.d = d
        self.mean = np.zeros(d)
        self.precision = np.eye(d)
        self.Z = Z
        if Z is not None:
            # Z = Ur diag(s) Vt: every draw of A below is a few products with these.
            self.Ur, self.s, self.Vt = _thin_svd(Z)
            self.A = np.zeros((Z.shape[1], d))
            self.lam = 1.0

    def row_means(self) -> np.ndarray:
        """Each row's prior mean: (n, d)."""
        if self.Z is None:
            return np.broadcast_to(self.mean, (1, self.d))
        return self.mean + self.Z @ self.A

    def sample(self, X: np.ndarray, rng: np.random.Generator) -> None:
        """Draw A (with its precision), then m and Lambda, given the rows' vectors ``X``."""
        if self.Z is not None:
            self._sample_side(X - self.mean, rng)
            X = X - self.Z @ self.A
        n, d = X.shape
        beta0, nu = 2.0, d + n
        xbar = X.mean(axis=0)
        scatter = (X - xbar).T @ (X - xbar)
        beta = beta0 + n
        w_inv = np.eye(d) + scatter + (beta0 * n / beta) * np.outer(xbar, xbar)
        self.precision = _wishart(np.linalg.inv(w_inv), nu, rng)
        cov = np.linalg.inv(beta * self.precision)
        self.mean = rng.multivariate_normal(n * xbar / beta, (cov + cov.T) / 2)

    def _sample_side(self, W: np.ndarray, rng: np.random.Generator) -> None:
        """A | W ~ MN(K^-1 Z^T W, K^-1, Lambda^-1) with K = Z^T Z + lam I (Macau)."""
        s2, lam = self.s**2, self.lam
        root = np.sqrt(lam)
        proj = self.Ur.T @ W  # (r, d)
        E = rng.standard_normal(self.A.shape)
        L_inv = np.linalg.inv(np.linalg.cholesky(self.precision))  # rows' covariance Lambda^-1
        # mean: Vt^T diag(s / (s^2 + lam)) Ur^T W. Noise: K^-1/2 E scales E by
        # (s^2 + lam)^-1/2 along Z's row space and by lam^-1/2 on its complement; written
        # as E / sqrt(lam) plus a row-space correction, so only two products with Vt.
        inner = (self.s / (s2 + lam))[:, None] * proj + (
            ((s2 + lam) ** -0.5 - 1.0 / root)[:, None] * (self.Vt @ E)
        ) @ L_inv
        self.A = self.Vt.T @ inner + (E @ L_inv) / root
        p, d = self.A.shape
        shrink = float(np.sum((self.A @ self.precision) * self.A))
        self.lam = rng.gamma(1.0 + p * d / 2, 1.0 / (1.0 + shrink / 2))


def _thin_svd(Z: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z = Ur diag(s) Vt over its nonzero singular values, from the eigenvectors of the
    smaller Gram matrix (a few times faster than a dense SVD of Z)."""
    wide = Z.shape[0] <= Z.shape[1]
    gram = (Z @ Z.T if wide else Z.T @ Z).toarray()
    s2, vecs = np.linalg.eigh(gram)
    keep = s2 > 1e-10 * max(float(s2.max()), 1e-300)
    s = np.sqrt(s2[keep])
    vecs = vecs[:, keep]
    if wide:
        return vecs, s, np.asarray(Z.T @ vecs).T / s[:, None]
    return np.asarray(Z @ vecs) / s[None, :], s, vecs.T


def _wishart(scale: np.ndarray, df: int, rng: np.random.Generator) -> np.ndarray:
    """One Wishart(scale, df) draw (scipy's), from the fit's generator."""
    from scipy.stats import wishart

    return np.asarray(wishart.rvs(df=df, scale=(scale + scale.T) / 2, random_state=rng))


register_backend(
    Backend(
        name="bpmf",
        tasks=("regression",),
        build=BayesianMF,
        known_params=lambda task: set(BayesianMF.defaults),
        family="recsys",
        accepts=("pairs",),
        install_hint="pip install 'kagglekit[recsys]'",
        # more draws only help (at their cost), so the tuner searches the factors alone
        default_space={"factors": {"low": 5, "high": 50, "log": True}},
        packages=("scipy",),
    )
)
