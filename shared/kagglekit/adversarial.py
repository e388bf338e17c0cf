"""Adversarial validation: can a classifier tell train rows from test rows?

The columns a model sees (the project's ``build_features``, then its fold steps, auto
features and encoders, fitted on the train rows and applied to the test rows) of train
and test are stacked, labelled 0 and 1, and a LightGBM classifier is cross-validated on
them with the package's CV loop.
A CV AUC near 0.5 means train and test look alike, so the local CV should track the
leaderboard; a high AUC means they drift, and the features the classifier leans on most
are the ones that drift. Each feature also gets a plain two-sample statistic
(Kolmogorov-Smirnov for numbers, total variation distance for categories) with a
p-value, so a drifting column is reported even when the classifier cannot use it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

import kagglekit.training as training
from kagglekit.config import CVConfig, FeaturesConfig, ProjectConfig
from kagglekit.errors import KKError
from kagglekit.features import build_feature_pipeline
from kagglekit.folds import Folds, assign_folds
from kagglekit.metrics import get_metric
from kagglekit.models import get_backend
from kagglekit.models.base import BuildContext
from kagglekit.models.tabular import make_tabular_model
from kagglekit.project import Project
from kagglekit.tasks import get_task

log = logging.getLogger(__name__)

DEFAULT_PARAMS: dict[str, Any] = {
    "n_estimators": 200,
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_child_samples": 20,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "importance_type": "gain",
}

# The AUC under which the classifier is said to barely tell train from test, and the
# drift statistic (with a Bonferroni-corrected p-value under 1 %) a column must reach to be
# called drifting whatever the AUC: a KS or total-variation distance of 0.1 is a tenth of
# the rows' mass moved.
AUC_ALIKE = 0.6
DRIFT_STATISTIC = 0.1
DRIFT_P_VALUE = 0.01


@dataclass
class AdversarialResult:
    """CV AUC of train-vs-test and a per-feature drift table (most drifting first)."""

    fold_aucs: np.ndarray
    table: pd.DataFrame  # feature, importance, share, statistic, test, p_value
    n_train: int
    n_test: int

    @property
    def auc(self) -> float:
        return float(self.fold_aucs.mean())

    @property
    def auc_std(self) -> float:
        return float(self.fold_aucs.std())

    def drifting(self) -> list[str]:
        """Features whose own two-sample statistic says they drift, largest first."""
        table = self.table
        if "p_value" not in table:
            return []
        limit = DRIFT_P_VALUE / max(len(table), 1)
        hits = table[(table["statistic"] >= DRIFT_STATISTIC) & (table["p_value"] < limit)]
        return [str(f) for f in hits.sort_values("statistic", ascending=False)["feature"]]

    def verdict(self) -> str:
        """One sentence for the summary line; never "alike" when a column drifts."""
        drifting = self.drifting()
        if self.auc >= AUC_ALIKE:
            return "train and test differ: check the top features"
        if drifting:
            shown = ", ".join(drifting[:3]) + (", ..." if len(drifting) > 3 else "")
            return (
                f"the classifier barely tells them apart, but {len(drifting)} feature(s) "
                f"drift on their own ({shown}): check them"
            )
        return "train and test look alike"

    def summary(self) -> dict[str, Any]:
        return {
            "auc": self.auc,
            "auc_std": self.auc_std,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "verdict": self.verdict(),
            "drifting": self.drifting(),
            "features": self.table.to_dict(orient="records"),
        }


def drift_statistic(train: pd.Series, test: pd.Series) -> tuple[float, str]:
    """Two-sample distance of one column: KS statistic (numbers) or total variation (others)."""
    if pd.api.types.is_numeric_dtype(train) and not pd.api.types.is_bool_dtype(train):
        from scipy.stats import ks_2samp

        a, b = train.dropna().to_numpy(), test.dropna().to_numpy()
        if len(a) == 0 or len(b) == 0:
            return float("nan"), "ks"
        return float(ks_2samp(a, b).statistic), "ks"
    p = train.astype(str).value_counts(normalize=True, dropna=False)
    q = test.astype(str).value_counts(normalize=True, dropna=False)
    both = p.index.union(q.index)
    tv = 0.5 * (p.reindex(both, fill_value=0) - q.reindex(both, fill_value=0)).abs().sum()
    return float(tv), "tv"


def _drift_p_value(train: pd.Series, test: pd.Series, kind: str) -> float:
    """p-value of the same-distribution hypothesis: KS test, or chi-squared on categories."""
    if kind == "ks":
        from scipy.stats import ks_2samp

        a, b = train.dropna().to_numpy(), test.dropna().to_numpy()
        if len(a) == 0 or len(b) == 0:
            return float("nan")
        return float(ks_2samp(a, b).pvalue)
    from scipy.stats import chi2_contingency

    counts = pd.concat(
        [train.astype(str).value_counts(dropna=False), test.astype(str).value_counts(dropna=False)],
        axis=1,
    ).fillna(0)
    if len(counts) < 2:
        return 1.0
    return float(chi2_contingency(counts.to_numpy().T).pvalue)


def adversarial_validation(
    X: pd.DataFrame,
    X_test: pd.DataFrame,
    *,
    n_splits: int = 5,
    seed: int = 0,
    n_jobs: int = 1,
    params: dict[str, Any] | None = None,
) -> AdversarialResult:
    """Cross-validated AUC of LightGBM telling ``X`` (train) rows from ``X_test`` rows.

    Folds are stratified on the train/test label. The table ranks features by the
    classifier's mean gain importance over folds, with each one's share of the total.
    """
    if list(X.columns) != list(X_test.columns):
        only_train = [str(c) for c in X.columns if c not in X_test.columns]
        only_test = [str(c) for c in X_test.columns if c not in X.columns]
        raise KKError(
            f"train and test feature columns differ (only in train: {only_train or 'none'}, "
            f"only in test: {only_test or 'none'}, else the order); make build_features "
            "return the same columns for both"
        )
    if len(X_test) < n_splits or len(X) < n_splits:
        raise KKError(f"adversarial validation needs at least {n_splits} train and test rows")
    both = pd.concat([X, X_test], ignore_index=True)
    is_test = np.r_[np.zeros(len(X), dtype=np.int64), np.ones(len(X_test), dtype=np.int64)]
    labels = pd.DataFrame({"row": np.arange(len(both)), "is_test": is_test})
    cv = CVConfig(kind="stratified", n_splits=n_splits, seed=seed)
    frame = assign_folds(labels, cv, id_column="row", target_column="is_test", task="binary")
    folds = Folds(
        assignment=frame[["fold_0"]].to_numpy(dtype=np.int64).T,
        hash="adversarial",
        kind="stratified",
        n_splits=n_splits,
    )
    binary = get_task("binary")  # is this row a test row?
    backend = get_backend("lightgbm", task=binary)
    ctx = BuildContext(
        task=binary,
        n_classes=2,
        seed=seed,
        params={**DEFAULT_PARAMS, "n_jobs": n_jobs, **(params or {})},
        # No early stopping: stopping on the scored fold would bias the AUC upwards,
        # which is exactly the wrong direction for a check that should read 0.5.
        early_stopping_rounds=0,
    )

    def make() -> Any:
        features = build_feature_pipeline(FeaturesConfig(), family="gbdt", task=binary, seed=seed)
        return make_tabular_model(backend, ctx, features)

    result = training.cross_validate(both, is_test, folds, make, get_metric("roc_auc"), task=binary)
    tables = [f.learned.get("feature_importance") or {} for f in result.folds]
    importance = pd.DataFrame(tables).fillna(0.0).mean().to_dict()
    rows = []
    total = sum(importance.values()) or 1.0
    for col in X.columns:
        stat, test_name = drift_statistic(X[col], X_test[col])
        value = float(importance.get(str(col), 0.0))
        rows.append(
            {
                "feature": str(col),
                "importance": value,
                "share": value / total,
                "statistic": stat,
                "test": test_name,
                "p_value": _drift_p_value(X[col], X_test[col], test_name),
            }
        )
    columns = ["feature", "importance", "share", "statistic", "test", "p_value"]
    table = (
        pd.DataFrame(rows, columns=columns)
        .sort_values(["importance", "statistic"], ascending=False)
        .reset_index(drop=True)
    )
    log.info("adversarial AUC %.4f +- %.4f", result.mean, result.std)
    return AdversarialResult(
        fold_aucs=result.scores, table=table, n_train=len(X), n_test=len(X_test)
    )


def model_view(
    prepared: training.Prepared, cfg: ProjectConfig, *, model: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The columns a model sees: ``prepared``'s frames through the fold feature pipeline.

    The pipeline of ``model`` (default: the project's default model) with its fold steps,
    auto features and encoders is fitted on all train rows (with their target) and applied
    to the test rows, with the gradient-boosted-tree preprocessing; its ordinal-coded
    categoricals are turned back into category values, so they get a category statistic.
    """
    _, entry = cfg.model(model)
    pipe = build_feature_pipeline(
        cfg.features,
        family="gbdt",
        task=cfg.competition.task,
        seed=entry.seed,
        model_steps=list(entry.steps),
        project_steps=prepared.project_steps,
    )
    X = pd.DataFrame(pipe.fit_transform(prepared.X, prepared.y)).reset_index(drop=True)
    X_test = pd.DataFrame(pipe.transform(prepared.X_test)).reset_index(drop=True)
    prep = pipe.named_steps["prep"]
    categorical = [c for name, _, cols in prep.transformers_ if name == "cat" for c in cols]
    for col in categorical:
        if col in X.columns:
            for frame in (X, X_test):
                codes = frame[col]
                frame[col] = (
                    codes.astype("Int64").astype(str).where(codes >= 0, np.nan).astype(object)
                )
    return X, X_test


def project_adversarial(
    project: Project,
    cfg: ProjectConfig,
    *,
    n_splits: int = 5,
    n_jobs: int = 1,
    model: str | None = None,
) -> AdversarialResult:
    """Adversarial validation on the columns a project's model sees (see ``model_view``)."""
    prepared = training.prepare(project, cfg)
    X, X_test = model_view(prepared, cfg, model=model)
    return adversarial_validation(X, X_test, n_splits=n_splits, seed=cfg.cv.seed, n_jobs=n_jobs)
