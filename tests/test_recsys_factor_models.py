"""``bpmf``: Bayesian MF by Gibbs sampling with implicit feedback (recsys/factor_models)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from kagglekit.errors import KKError
from kagglekit.metrics import get_metric
from kagglekit.models.base import BuildContext, get_backend
from kagglekit.recsys.factor_models import _Prior, _thin_svd
from kagglekit.recsys.testing import tiny_interactions

FAST = {"n_samples": 40, "burn_in": 10}


def _ctx(info: dict[str, object], **params: object) -> BuildContext:
    return BuildContext(
        task="regression",
        n_classes=0,
        seed=0,
        params=params,
        early_stopping_rounds=0,
        metric=get_metric("rmse"),
        info=info,
    )


def _rmse(name: str, X: np.ndarray, r: np.ndarray, valid: np.ndarray, **params: object) -> float:
    info = {"n_users": int(X[:, 0].max()) + 1, "n_items": int(X[:, 1].max()) + 1}
    model = get_backend(name).build(_ctx({**info, "rating_scale": [1.0, 5.0]}, **params))
    model.fit(X[~valid], r[~valid])
    return float(np.sqrt(np.mean((model.predict(X[valid]) - r[valid]) ** 2)))


def test_bpmf_recovers_a_planted_low_rank_structure_better_than_the_biases() -> None:
    frame = tiny_interactions(n_users=120, n_items=60, per_user=25)
    X = np.c_[frame.user - 1, frame.item - 100]
    r = frame.rating.to_numpy(float)
    valid = np.random.default_rng(3).random(len(X)) < 0.2
    biases = _rmse("biases", X, r, valid)
    for implicit in (True, False):
        bpmf = _rmse("bpmf", X, r, valid, factors=4, implicit=implicit, **FAST)
        assert bpmf < 0.9 * biases, (implicit, bpmf, biases)


def test_implicit_feedback_tells_a_users_taste_from_which_items_they_rated() -> None:
    # Two camps of users and of items: own camp's items get 5 stars, the other's 1 star.
    # Neutral items get 3 stars from everyone, but each camp watches its own neutral
    # items. The held-out users have rated neutral items only: their ratings say nothing
    # of their camp, the items they chose do.
    rng = np.random.default_rng(0)
    n_users, camp_u = 200, np.arange(200) % 2
    camp_i = np.arange(40) % 2  # items 0-19 camp items, 20-39 neutral items of a camp
    rated = []
    for u in range(n_users):
        mine = np.flatnonzero(camp_i == camp_u[u])
        neutral = rng.choice(mine[mine >= 20], 6, replace=False)
        rated += [(u, i, 3.0) for i in neutral]
        own = rng.choice(mine[mine < 20], 6 if u < 160 else 1, replace=False)
        rated += [(u, i, 5.0) for i in own]
        if u < 160:
            other = rng.choice(np.flatnonzero((camp_i != camp_u[u]) & (np.arange(40) < 20)), 3)
            rated += [(u, i, 1.0) for i in np.unique(other)]
    data = np.array(rated)
    X, r = data[:, :2].astype(np.int64), data[:, 2]
    valid = (X[:, 0] >= 160) & (r == 5.0)  # the sparse users' one camp item
    with_implicit = _rmse("bpmf", X, r, valid, factors=2, implicit=True, **FAST)
    without = _rmse("bpmf", X, r, valid, factors=2, implicit=False, **FAST)
    assert with_implicit < 0.7 * without, (with_implicit, without)


def test_the_side_prior_draws_center_on_the_least_squares_map() -> None:
    # W = Z A + noise: the draws of A average to A (the Macau sampler's mean and noise).
    rng = np.random.default_rng(1)
    Z = sp.random(300, 20, density=0.3, random_state=2, format="csr")
    A = rng.normal(size=(20, 3))
    W = Z @ A + rng.normal(0, 0.1, (300, 3))
    prior = _Prior(3, Z)
    prior.precision = np.eye(3) * 100.0  # the noise precision of W's rows
    draws = []
    for _ in range(200):
        prior._sample_side(W, rng)
        draws.append(prior.A)
    mean = np.mean(draws, axis=0)
    assert np.abs(mean - A).max() < 0.15
    assert np.std(draws, axis=0).mean() > 0.005  # they are draws, not one fixed point
    Ur, s, Vt = _thin_svd(Z)
    np.testing.assert_allclose((Ur * s) @ Vt, Z.toarray(), atol=1e-8)


def test_bpmf_refuses_settings_it_cannot_fit_in_one_line() -> None:
    X = np.array([[0, 0], [1, 1], [0, 1]])
    model = get_backend("bpmf").build(_ctx({"n_users": 2, "n_items": 2}, factors=0))
    with pytest.raises(KKError, match="factors = 0"):
        model.fit(X, np.array([1.0, 2.0, 3.0]))
