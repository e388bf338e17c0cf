"""{{ cookiecutter.competition }}: this project's own features.

``build_features(train, test)`` receives the raw frames (the target already removed) and
returns both with the same rows, in the same order, and the same columns. It runs once,
before the folds, so it must not look at the target. Anything that learns from the target
belongs in a fold step: add a scikit-learn transformer class to ``FOLD_STEPS`` and name it
in config.toml (``[features] steps = [{ kind = "my_step" }]``).

Without any code here the package already handles, inside each fold: missing values,
categoricals, dates and high-cardinality categoricals (``[features] auto`` in config.toml).
"""

from __future__ import annotations

import pandas as pd

# Fold-fitted steps of this project: {"name": TransformerClass}.
FOLD_STEPS: dict[str, type] = {}


def build_features(train: pd.DataFrame, test: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(train, test)`` with this competition's own features added."""
    return train, test
