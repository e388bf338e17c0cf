"""The project's feature function on the raw frames, and the checks that train and test agree.

``build_features(train, test) -> (train, test)`` is a plain function of the raw frames
(the target column is removed before it is called, so it cannot leak the answer across
rows). ``prepare_frames`` runs it, removes the id column and ``features.drop``, and checks
that train and test still have the same columns in the same order and of the same kinds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from kagglekit.config import ProjectConfig
from kagglekit.errors import KKError
from kagglekit.project import project_feature_function, user_code_error

FeatureFunction = Callable[[pd.DataFrame, pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]]

log = logging.getLogger(__name__)


def apply_feature_function(
    fn: FeatureFunction | None, train: pd.DataFrame, test: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the project's feature function and check that train and test still agree."""
    if fn is None:
        return train, test
    try:
        result = fn(train.copy(), test.copy())
    except KKError:
        raise
    except Exception as err:
        described = user_code_error(
            err, what=f"running {getattr(fn, '__name__', 'the features function')}"
        )
        if described is None:
            raise
        raise described from err
    if not (
        isinstance(result, tuple)
        and len(result) == 2
        and all(isinstance(frame, pd.DataFrame) for frame in result)
    ):
        raise KKError(
            f"features function {getattr(fn, '__name__', fn)!r} returned "
            f"{type(result).__name__}, not a (train, test) pair of DataFrames; "
            "end it with `return train, test`"
        )
    new_train, new_test = result
    if len(new_train) != len(train) or len(new_test) != len(test):
        raise KKError(
            f"features function changed the row count (train {len(train)} -> {len(new_train)}, "
            f"test {len(test)} -> {len(new_test)}); it must keep every row in order"
        )
    # Kinds are checked once the id and features.drop columns are gone (training.prepare).
    check_same_columns(new_train, new_test, where="after the features function", kinds=False)
    return new_train, new_test


def prepare_frames(
    train: pd.DataFrame, test: pd.DataFrame, cfg: ProjectConfig, module: ModuleType | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Table rows ready for the model: the project's feature function, then the id column
    and ``features.drop`` removed, with train and test checked to agree.
    """
    fn = project_feature_function(module, cfg.features.function)
    # Train-only columns named in features.drop (Bike Sharing's casual and registered:
    # parts of the target) go first: the feature function sees frames that agree.
    train_only = [c for c in cfg.features.drop if c in train.columns and c not in test.columns]
    X, X_test = apply_feature_function(fn, train.drop(columns=train_only), test)
    unknown = [c for c in cfg.features.drop if c not in X.columns and c not in train_only]
    if unknown:
        raise KKError(f"features.drop names column(s) {unknown} that do not exist; fix config.toml")
    drop = [cfg.competition.id_column, *cfg.features.drop]
    X = X.drop(columns=[c for c in drop if c in X.columns])
    X_test = X_test.drop(columns=[c for c in drop if c in X_test.columns])
    check_same_columns(X, X_test, where="after dropping id and features.drop")
    categorical = [] if cfg.features.categorical == "auto" else cfg.features.categorical
    for name in (*cfg.features.target_encode, *cfg.features.count_encode, *categorical):
        if name not in X.columns:
            raise KKError(
                f"features encoder column '{name}' is not a feature column; fix config.toml"
            )
    return X, X_test


def check_same_columns(
    train: pd.DataFrame, test: pd.DataFrame, *, where: str, kinds: bool = True
) -> None:
    """Raise unless train and test have the same columns in the same order and kinds.

    A column numeric in train but text in test is an error (the model would be fitted on
    numbers and handed strings); text in train but numbers in test is allowed (the column
    is a category in both) but logged as a warning, since it is usually a parsing slip.
    ``kinds=False`` checks the names only (before ``features.drop`` may remove a column).
    """
    if list(train.columns) == list(test.columns):
        if kinds:
            check_same_kinds(train, test, where=where)
        return
    only_train = [c for c in train.columns if c not in test.columns]
    only_test = [c for c in test.columns if c not in train.columns]
    if only_train or only_test:
        raise KKError(
            f"train and test columns disagree {where}: only in train {only_train}, "
            f"only in test {only_test}"
        )
    raise KKError(
        f"train and test columns are in a different order {where}; models such as LightGBM "
        "would silently mismatch them: return both frames with the same column order"
    )


def _first_text(series: pd.Series) -> Any:
    """The first value of ``series`` that does not parse as a number (for a message)."""
    values = series.dropna()
    numeric = pd.to_numeric(values, errors="coerce")
    bad = values[numeric.isna()]
    first = bad.iloc[0] if len(bad) else (values.iloc[0] if len(values) else None)
    return first.item() if isinstance(first, np.generic) else first


def check_same_kinds(train: pd.DataFrame, test: pd.DataFrame, *, where: str = "") -> None:
    """Raise when a column is numeric in train but text in test; warn on the reverse.

    The columns are those both frames share. A test column with no values at all (read
    as float) is not a disagreement.
    """
    place = f" {where}" if where else ""
    for col in train.columns:
        if col not in test.columns:
            continue
        in_train, in_test = train[col], test[col]
        train_numeric = pd.api.types.is_numeric_dtype(in_train) and not pd.api.types.is_bool_dtype(
            in_train
        )
        test_numeric = pd.api.types.is_numeric_dtype(in_test) and not pd.api.types.is_bool_dtype(
            in_test
        )
        if train_numeric and not test_numeric and not pd.api.types.is_bool_dtype(in_test):
            if in_test.notna().any():
                raise KKError(
                    f"column '{col}' is numeric in train but text in test{place} (first text value "
                    f"{_first_text(in_test)!r}); clean it in build_features (e.g. "
                    f"pd.to_numeric(test['{col}'], errors='coerce')) or drop it with features.drop"
                )
        elif not train_numeric and test_numeric and in_test.notna().any():
            if pd.api.types.is_bool_dtype(in_train) or in_train.dropna().empty:
                continue
            log.warning(
                "column '%s' is text in train (e.g. %r) but numeric in test%s; it is treated "
                "as a category in both: convert it in build_features if it is a number",
                col,
                _first_text(in_train),
                place,
            )
