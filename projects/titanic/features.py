"""Titanic features: what strong honest entries use, with group survival learned in folds.

``build_features`` is a plain function of the raw train and test frames (the target is
removed before it is called). Counts and medians over train+test use no target, so they
are legitimate. The one target-aware feature, the survival of a passenger's family and
ticket group, is ``GroupSurvival``: a fold step fitted on each fold's training rows only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from kagglekit.errors import KKError

# Titles with a handful of passengers each: one "Rare" level instead of many tiny ones.
TITLE_MAP = {"Mlle": "Miss", "Ms": "Miss", "Mme": "Mrs"}
COMMON_TITLES = ("Mr", "Mrs", "Miss", "Master")
FAMILY_KEY = "family_group"
TICKET_KEY = "ticket_group"


def _title(name: pd.Series) -> pd.Series:
    raw = name.str.extract(r",\s*([^\.]+)\.", expand=False).str.strip().replace(TITLE_MAP)
    return raw.where(raw.isin(COMMON_TITLES), "Rare")


def build_features(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Engineered Titanic features for train and test (same columns, same order).

    Parameters
    ----------
    train, test : DataFrame
        The raw competition frames without the target (PassengerId, Pclass, Name, Sex,
        Age, SibSp, Parch, Ticket, Fare, Cabin, Embarked).

    Returns
    -------
    (train, test)
        Numeric and categorical features plus two group keys (``family_group``,
        ``ticket_group``) that the ``group_survival`` fold step consumes and drops.
    """
    n_train = len(train)
    both = pd.concat([train, test], ignore_index=True)
    out = pd.DataFrame({"PassengerId": both["PassengerId"]})

    title = _title(both["Name"])
    out["Pclass"] = both["Pclass"].astype(int)
    out["is_female"] = (both["Sex"] == "female").astype(int)
    out["title"] = title
    family_size = both["SibSp"] + both["Parch"] + 1
    out["family_size"] = family_size
    out["is_alone"] = (family_size == 1).astype(int)
    # Adult men are the group that mostly died; women and boys ("Master") survive or die
    # with their family, which is what the group survival feature picks up.
    out["woman_or_child"] = ((title != "Mr") & (title != "Rare") | (out["is_female"] == 1)).astype(
        int
    )

    ticket_size = both.groupby("Ticket")["Ticket"].transform("size")
    out["ticket_group_size"] = ticket_size
    fare = both["Fare"].fillna(both.groupby("Pclass")["Fare"].transform("median"))
    # Fare is per ticket: split it over the passengers who share the ticket.
    out["fare_per_person"] = fare / ticket_size
    out["log_fare_per_person"] = np.log1p(out["fare_per_person"])

    deck = both["Cabin"].str[0].fillna("U").replace({"T": "U"})
    out["deck"] = deck
    out["has_cabin"] = both["Cabin"].notna().astype(int)
    out["embarked"] = both["Embarked"].fillna(both["Embarked"].mode().iloc[0])

    age_by_title = both.groupby(title)["Age"].transform("median")
    out["age_missing"] = both["Age"].isna().astype(int)
    out["age"] = both["Age"].fillna(age_by_title)
    out["is_child"] = (out["age"] < 14).astype(int)

    surname = both["Name"].str.split(",", n=1).str[0].str.strip()
    # A family travels in one class, on tickets that differ at most in the last digit,
    # from one port (Deotte's grouping); ticket groups also catch friends and servants.
    out[FAMILY_KEY] = (
        surname
        + "|"
        + both["Pclass"].astype(str)
        + "|"
        + both["Ticket"].str[:-1]
        + "|"
        + out["embarked"]
    )
    out[TICKET_KEY] = both["Ticket"].astype(str)

    out = out.astype({"title": "category", "deck": "category", "embarked": "category"})
    new_train = out.iloc[:n_train].reset_index(drop=True)
    new_test = out.iloc[n_train:].reset_index(drop=True)
    new_train.index = train.index
    new_test.index = test.index
    return new_train, new_test


class GroupSurvival(TransformerMixin, BaseEstimator):
    """Survival rate of the other known members of each passenger's groups.

    ``fit`` learns per group the sum and count of the target over the fold's training
    rows. ``transform`` gives every row the survival rate of the known members of its
    group; ``fit_transform`` (what a pipeline calls on the training rows) leaves each
    row's own label out, so a training row never sees its own answer. A row whose group
    has no other known member gets ``neutral``. Like scikit-learn's ``TargetEncoder``,
    calling ``transform`` on the training rows after ``fit`` would include their own
    labels: use ``fit_transform`` for them.

    Parameters
    ----------
    keys : sequence of str
        Group-key columns; each adds ``<key>_survival`` and ``<key>_known`` (how many
        other members have a known label).
    member_column : str
        If set, only rows where this 0/1 column is 1 count as informative members
        (e.g. ``woman_or_child``); every row still gets its group's value.
    neutral : float
        Value for rows with no other known member.
    drop_keys : bool
        Drop the key columns from the output (they are high-cardinality strings).

    Examples
    --------
    >>> X = pd.DataFrame({"g": ["a", "a", "b"]})
    >>> GroupSurvival(keys=["g"]).fit_transform(X, np.array([1, 0, 1]))["g_survival"].tolist()
    [0.0, 1.0, 0.5]
    """

    def __init__(
        self,
        keys: Sequence[str] = (FAMILY_KEY, TICKET_KEY),
        member_column: str = "",
        neutral: float = 0.5,
        drop_keys: bool = True,
    ) -> None:
        self.keys = keys
        self.member_column = member_column
        self.neutral = neutral
        self.drop_keys = drop_keys

    def _check_columns(self, X: pd.DataFrame) -> None:
        needed = [*self.keys, *([self.member_column] if self.member_column else [])]
        missing = [c for c in needed if c not in X.columns]
        if missing:
            raise KKError(
                f"group_survival needs column(s) {missing} in the feature frame; "
                "return them from build_features or fix the step's keys"
            )

    def _members(self, X: pd.DataFrame) -> np.ndarray:
        if not self.member_column:
            return np.ones(len(X), dtype=np.float64)
        return X[self.member_column].to_numpy(dtype=np.float64)

    def fit(self, X: pd.DataFrame, y: Any = None) -> GroupSurvival:
        if y is None:
            raise KKError("group_survival needs the target to fit; it is a fold step")
        X = pd.DataFrame(X)
        self._check_columns(X)
        weight = self._members(X)
        target = np.asarray(y, dtype=np.float64) * weight
        # Per key: the known groups and, aligned with them, their label sum and count.
        self.stats_: dict[str, tuple[pd.Index, np.ndarray, np.ndarray]] = {}
        for key in self.keys:
            codes, groups = pd.factorize(X[key])  # a missing key gets code -1
            has_key = codes >= 0
            sums = np.bincount(codes[has_key], weights=target[has_key], minlength=len(groups))
            counts = np.bincount(codes[has_key], weights=weight[has_key], minlength=len(groups))
            self.stats_[key] = (pd.Index(groups), sums, counts)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def _encode(
        self, X: pd.DataFrame, own_sum: np.ndarray | None, own_count: np.ndarray | None
    ) -> pd.DataFrame:
        check_is_fitted(self, "stats_")
        X = pd.DataFrame(X)
        self._check_columns(X)
        new = {}
        for key, (groups, sums, counts) in self.stats_.items():
            idx = groups.get_indexer(pd.Index(X[key]))  # -1: unseen or missing key
            seen = idx >= 0
            group_sum = np.where(seen, sums[idx], 0.0)
            group_count = np.where(seen, counts[idx], 0.0)
            if own_sum is not None and own_count is not None:
                # A row with a missing key belongs to no group: nothing to leave out.
                group_sum = group_sum - own_sum * seen
                group_count = group_count - own_count * seen
            known = group_count > 0
            rate = np.full(len(X), float(self.neutral))
            rate[known] = group_sum[known] / group_count[known]
            new[f"{key}_survival"] = rate
            new[f"{key}_known"] = group_count
        kept = X.drop(columns=list(self.keys)) if self.drop_keys else X
        return pd.concat([kept, pd.DataFrame(new, index=X.index)], axis=1)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Group survival from all the fitted rows (for validation and test rows)."""
        return self._encode(X, None, None)

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        """Fit, then encode the same rows leaving each row's own label out."""
        self.fit(X, y)
        X = pd.DataFrame(X)
        weight = self._members(X)
        own_sum = np.asarray(y, dtype=np.float64) * weight
        return self._encode(X, own_sum, weight)

    def set_output(self, *, transform: str | None = None) -> GroupSurvival:
        return self  # always returns a DataFrame


FOLD_STEPS = {"group_survival": GroupSurvival}
