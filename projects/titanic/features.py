"""Titanic features: what strong honest entries use, with group survival learned in folds.

``build_features`` is a plain function of the raw train and test frames (the target is
removed before it is called). Counts and medians over train+test use no target, so they
are legitimate. The one target-aware feature, the survival of a passenger's family and
ticket group, is kagglekit's ``group_target_rate`` fold step (config.toml), fitted on each
fold's training rows only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from kagglekit.errors import KKError
from kagglekit.features import GroupTargetRate

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


class WomanChildGroup(TransformerMixin, BaseEstimator):
    """The woman-child-group rule as a fold step (``woman_child_group`` in config.toml).

    Women and boys live or die with the other women and boys of their family and ticket
    group; adult men die. Fitted on a fold's training rows only, with kagglekit's
    leave-one-out ``GroupTargetRate`` (member = ``woman_or_child``): a training row never
    sees its own label. Adds, per key, ``<key>_survival`` and ``<key>_known`` (from
    ``GroupTargetRate``), then ``group_survival`` (the pooled rate over both keys, 0.5 with
    no known member), ``wcg_rule`` (the rule's 0/1 prediction: the gender rule, except a
    boy whose known group all survived lives and a woman whose known group all died
    dies) and ``wcg_decided`` (1 where the group overrides the gender rule).
    """

    def __init__(self, keys: Sequence[str] = (FAMILY_KEY, TICKET_KEY)) -> None:
        self.keys = keys

    def _rule(self, X: pd.DataFrame) -> pd.DataFrame:
        keys = [self.keys] if isinstance(self.keys, str) else list(self.keys)
        known = sum(X[f"{k}_known"].to_numpy() for k in keys)
        alive = sum(X[f"{k}_known"].to_numpy() * X[f"{k}_survival"].to_numpy() for k in keys)
        rate = np.where(known > 0, alive / np.maximum(known, 1e-12), 0.5)
        female = X["is_female"].to_numpy() == 1
        boy = X["title"].astype(str).to_numpy() == "Master"
        lives = boy & (known > 0) & (rate == 1.0)
        dies = female & (known > 0) & (rate == 0.0)
        rule = np.where(lives, 1, np.where(dies, 0, female.astype(int)))
        new = {"group_survival": rate, "wcg_rule": rule, "wcg_decided": (lives | dies).astype(int)}
        return X.assign(**new)

    def fit(self, X: pd.DataFrame, y: Any = None) -> WomanChildGroup:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        """Fit on the fold's training rows and encode them leaving each row's label out."""
        self.rates_ = GroupTargetRate(
            keys=list(self.keys), member_column="woman_or_child", name="survival"
        )
        return self._rule(self.rates_.fit_transform(X, y))

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Validation and test rows: rates from every fitted training row."""
        if not hasattr(self, "rates_"):
            raise KKError("woman_child_group was used before fit; it is a fold step")
        return self._rule(self.rates_.transform(X))

    def set_output(self, *, transform: str | None = None) -> WomanChildGroup:
        return self  # always returns a DataFrame


class KeepColumns(TransformerMixin, BaseEstimator):
    """Keep only ``columns`` (fold step ``keep``): a model entry that sees just the rule."""

    def __init__(self, columns: Sequence[str] = ()) -> None:
        self.columns = columns

    def fit(self, X: pd.DataFrame, y: Any = None) -> KeepColumns:
        missing = [c for c in self.columns if c not in X.columns]
        if missing or not self.columns:
            raise KKError(f"keep: column(s) {missing or '[]'} are not features; fix its columns")
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        if not hasattr(self, "n_features_in_"):
            raise KKError("keep was used before fit; it is a fold step")
        return X[list(self.columns)]

    def set_output(self, *, transform: str | None = None) -> KeepColumns:
        return self


# Project fold steps, by the names config.toml uses.
FOLD_STEPS = {"woman_child_group": WomanChildGroup, "keep": KeepColumns}
