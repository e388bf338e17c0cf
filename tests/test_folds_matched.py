"""MatchedGroupKFold: validation rows get labelled group-mates as often as the test rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kagglekit import folds
from kagglekit.config import CVConfig
from kagglekit.errors import KKError
from kagglekit.folds import MatchedGroupKFold


def _groups(n_groups: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 6, n_groups)
    groups = np.repeat(np.arange(n_groups), sizes)
    y = rng.integers(0, 2, len(groups))
    return groups, y


def _valid_share(groups: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Share of rows whose group has a row in the training part of their fold."""
    has = np.zeros(len(groups), dtype=bool)
    for train_idx, valid_idx in splits:
        has[valid_idx] = np.isin(groups[valid_idx], groups[train_idx])
    return float(has.mean())


@pytest.mark.parametrize("n_test_in_train", [0, 15, 40])
def test_validation_share_matches_the_test_share(n_test_in_train: int) -> None:
    groups, y = _groups()
    # Test rows: some in train groups (they have labelled mates), the rest in new groups.
    test_groups = np.r_[np.arange(n_test_in_train) % 60, 1000 + np.arange(40 - n_test_in_train)]
    cv = MatchedGroupKFold(4, test_groups=test_groups, random_state=1)
    splits = list(cv.split(np.zeros((len(groups), 1)), y, groups))
    target = cv.test_share(groups)
    assert target == pytest.approx(n_test_in_train / 40)
    # Spreading whole groups hits the target to within one group's size; rows alone in
    # their train group can never have a mate, so that share is the most it can reach.
    reachable = min(target, float(np.isin(groups, np.flatnonzero(np.bincount(groups) >= 2)).mean()))
    assert abs(_valid_share(groups, splits) - reachable) <= 5 / len(groups) + 1e-9
    valid = np.concatenate([v for _, v in splits])
    assert np.array_equal(np.sort(valid), np.arange(len(groups)))  # each row validated once
    assert cv.get_n_splits() == 4 == len(splits)


def test_no_test_mates_keeps_groups_whole_and_all_mates_spreads_them() -> None:
    groups, y = _groups(seed=2)
    whole = MatchedGroupKFold(3, test_groups=np.array([-1, -2]), random_state=0)
    for train_idx, valid_idx in whole.split(None, y, groups):
        assert not np.isin(groups[valid_idx], groups[train_idx]).any()
    spread = MatchedGroupKFold(3, test_groups=np.unique(groups), random_state=0)
    splits = list(spread.split(None, y, groups))
    multi = np.isin(groups, np.flatnonzero(np.bincount(groups) >= 2))
    has = np.zeros(len(groups), dtype=bool)
    for train_idx, valid_idx in splits:
        has[valid_idx] = np.isin(groups[valid_idx], groups[train_idx])
    assert np.array_equal(has, multi)  # every row of a multi-row group sees a mate


def test_folds_are_balanced_stratified_and_seeded() -> None:
    groups, y = _groups(n_groups=120, seed=3)
    test_groups = np.arange(0, 120, 3)
    a = list(MatchedGroupKFold(5, test_groups=test_groups, random_state=7).split(None, y, groups))
    b = list(MatchedGroupKFold(5, test_groups=test_groups, random_state=7).split(None, y, groups))
    assert all(np.array_equal(va, vb) for (_, va), (_, vb) in zip(a, b, strict=True))
    sizes = [len(v) for _, v in a]
    assert max(sizes) - min(sizes) <= 5
    rates = [y[v].mean() for _, v in a]
    assert max(rates) - min(rates) < 0.1


def test_missing_keys_are_groups_of_one() -> None:
    groups = np.array(["a", "a", None, None, "b", "b"], dtype=object)
    cv = MatchedGroupKFold(2, test_groups=np.array([None, "a"], dtype=object), random_state=0)
    assert cv.test_share(groups) == 0.5  # the missing test key matches no train row
    assert len(list(cv.split(None, np.array([0, 1, 0, 1, 0, 1]), groups))) == 2


def test_errors_name_the_fix() -> None:
    cv = MatchedGroupKFold(3, test_groups=np.array([1]))
    with pytest.raises(KKError, match="group_column"):
        list(cv.split(np.zeros((6, 1)), np.zeros(6)))
    with pytest.raises(KKError, match="n_splits"):
        list(MatchedGroupKFold(9, test_groups=[1]).split(None, None, np.arange(4)))


def test_assign_folds_reads_the_test_groups() -> None:
    train = pd.DataFrame({"id": range(12), "t": [0, 1] * 6, "g": np.repeat(list("abcdef"), 2)})
    test = pd.DataFrame({"id": range(3), "g": ["a", "b", "z"]})
    cv = CVConfig(kind="matched_group", n_splits=3, group_column="g")
    frame = folds.assign_folds(
        train, cv, id_column="id", target_column="t", task="binary", test=test
    )
    assert sorted(frame["fold_0"].unique()) == [0, 1, 2]
    with pytest.raises(KKError, match="in test too"):
        folds.assign_folds(train, cv, id_column="id", target_column="t", task="binary")
    with pytest.raises(ValueError, match="group_column"):  # pydantic wraps the KKError
        CVConfig(kind="matched_group")
