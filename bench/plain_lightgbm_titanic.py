"""A plain, hand-written LightGBM 5-fold script for Titanic: the baseline kk is timed against.

No kagglekit: it reads the raw CSVs and the project's saved folds (``data/folds.csv``),
builds a few simple features, trains LightGBM with the parameters of the ``lightgbm``
entry in ``config.toml`` (plus the adapter's fixed settings) and prints the accuracy.

    .venv/bin/python bench/plain_lightgbm_titanic.py [--project-dir projects/titanic]
"""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def simple_features(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Pclass": frame["Pclass"],
            "is_female": (frame["Sex"] == "female").astype(int),
            "Age": frame["Age"],
            "SibSp": frame["SibSp"],
            "Parch": frame["Parch"],
            "Fare": frame["Fare"],
            "Embarked": frame["Embarked"].map({"S": 0, "C": 1, "Q": 2}),
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project-dir", type=Path, default=REPO / "projects" / "titanic")
    args = parser.parse_args()
    project = args.project_dir
    entry = tomllib.loads((project / "config.toml").read_text())["models"]["lightgbm"]
    params = {
        "n_estimators": 2000,
        "learning_rate": 0.05,
        "random_state": entry.get("seed", 42),
        "verbose": -1,
        "deterministic": True,
        "force_row_wise": True,
        **entry["params"],
    }
    train = pd.read_csv(project / "data" / "raw" / "train.csv")
    test = pd.read_csv(project / "data" / "raw" / "test.csv")
    folds = pd.read_csv(project / "data" / "folds.csv")
    assert (folds["PassengerId"].to_numpy() == train["PassengerId"].to_numpy()).all()
    X, X_test = simple_features(train), simple_features(test)
    y = train["Survived"].to_numpy()

    fold_of = folds["fold_0"].to_numpy()
    oof = np.zeros(len(y))
    test_pred = np.zeros(len(X_test))
    scores = []
    for fold in range(fold_of.max() + 1):
        train_idx, valid_idx = np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)
        model = lgb.LGBMClassifier(**params)
        model.fit(X.iloc[train_idx], y[train_idx])
        oof[valid_idx] = np.asarray(model.predict_proba(X.iloc[valid_idx]))[:, 1]
        test_pred += np.asarray(model.predict_proba(X_test))[:, 1] / (fold_of.max() + 1)
        scores.append(((oof[valid_idx] >= 0.5) == y[valid_idx]).mean())
    print(
        f"plain LightGBM, simple features: accuracy {np.mean(scores):.4f} +- {np.std(scores):.4f}"
    )


if __name__ == "__main__":
    main()
