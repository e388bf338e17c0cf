"""Titanic features: what strong honest entries use, with group survival learned in folds.

``build_features`` is a plain function of the raw train and test frames (the target is
removed before it is called). Counts and medians over train+test use no target, so they
are legitimate. The one target-aware feature, the survival of a passenger's family and
ticket group, is kagglekit's ``group_target_rate`` fold step (config.toml), fitted on each
fold's training rows only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

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
