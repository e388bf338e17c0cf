"""Per-user splits of interaction rows (scikit-learn's splitter protocol).

``kk folds`` makes them through ``folds.assign_fold_arrays`` like every other scheme, so
they are saved and hashed the same way; ``groups`` are the users (``cv.group_column``)
and, for ``user_last``, the rows arrive sorted by time (``cv.order_column``).

- ``user_holdout``: a random ``cv.valid_size`` share of each user's rows is validated;
- ``user_kfold``: each user's rows are dealt into ``cv.n_splits`` folds, so every fold
  validates some rows of (nearly) every user;
- ``user_last``: each user's ``cv.n_last`` most recent rows are validated ("what does
  each user watch next").

A user always keeps at least one training row, so no validated user is a cold start
because of the split itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from kagglekit.errors import KKError


def _positions(groups: Any, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: its group code, its 0-based position in the group ordered by ``keys``, and
    the group's size."""
    codes = pd.factorize(np.asarray(groups))[0]
    order = np.lexsort((keys, codes))
    sorted_codes = codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_codes)) + 1]
    sizes = np.diff(np.r_[starts, len(codes)])
    pos = np.empty(len(codes), dtype=np.int64)
    pos[order] = np.arange(len(codes)) - np.repeat(starts, sizes)
    size = np.empty(len(codes), dtype=np.int64)
    size[order] = np.repeat(sizes, sizes)
    return codes, pos, size


def _need_groups(groups: Any, kind: str) -> None:
    if groups is None:
        raise KKError(
            f"cv.kind '{kind}' needs cv.group_column (the user column); set it in config.toml"
        )


class UserHoldout:
    """One split: a random ``valid_size`` share of each user's rows (rounded) is validated."""

    def __init__(self, valid_size: float = 0.2, *, random_state: int | None = None) -> None:
        self.valid_size = valid_size
        self.random_state = random_state

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return 1

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        _need_groups(groups, "user_holdout")
        rng = np.random.default_rng(self.random_state)
        _, pos, size = _positions(groups, rng.random(len(groups)))
        n_valid = np.minimum(np.rint(self.valid_size * size), size - 1)
        valid = pos < n_valid
        yield np.flatnonzero(~valid), np.flatnonzero(valid)


class UserKFold:
    """K folds; each user's rows are shuffled and dealt round-robin from a random fold."""

    def __init__(self, n_splits: int = 5, *, random_state: int | None = None) -> None:
        self.n_splits = n_splits
        self.random_state = random_state

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        _need_groups(groups, "user_kfold")
        rng = np.random.default_rng(self.random_state)
        codes, pos, _ = _positions(groups, rng.random(len(groups)))
        offset = rng.integers(0, self.n_splits, codes.max() + 1 if len(codes) else 0)
        fold_of = (pos + offset[codes]) % self.n_splits
        for fold in range(self.n_splits):
            yield np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)


class UserLastN:
    """One split: each user's ``n_last`` latest rows (rows arrive in time order)."""

    def __init__(self, n_last: int = 1) -> None:
        self.n_last = n_last

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return 1

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        _need_groups(groups, "user_last")
        # keys = row position: rows are already sorted by time (stable), so the last rows
        # of a user are their latest.
        _, pos, size = _positions(groups, np.arange(len(groups)))
        from_end = size - 1 - pos
        valid = from_end < np.minimum(self.n_last, size - 1)
        yield np.flatnonzero(~valid), np.flatnonzero(valid)
