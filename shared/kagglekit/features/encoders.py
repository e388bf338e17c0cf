"""Fold steps: DataFrame-native scikit-learn transformers fitted on a fold's training rows.

A catalogue, read top to bottom: the shared base (``_FrameStep``, scikit-learn's input
contract on DataFrames), then one transformer per treatment: ``CountEncoder``,
``AutoFeatures`` (dates and high-cardinality categoricals), ``ClusterFeatures`` and
``PCAFeatures`` (appended numeric columns), ``GroupTargetRate`` (leave-one-out group target
rates). Each stores its constructor arguments unchanged, learns state in attributes ending
in ``_`` and raises ``NotFittedError`` before ``fit``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler, TargetEncoder
from sklearn.utils.validation import check_is_fitted

from kagglekit.errors import KKError
from kagglekit.tasks import Task, as_task

if TYPE_CHECKING:
    # sklearn.cluster, .decomposition and .impute cost ~0.15 s to import; they are
    # imported where used, so a gradient-boosted-tree run never pays for them.
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA


class FeatureStepError(ValueError):
    """The per-fold feature pipeline (a step or the preprocessing) rejected its input.

    Raised by model backends around the feature pipeline's fit so that the CV loop can
    tell a feature-step mistake from a model parameter the backend rejects.
    """


class _FrameStep(TransformerMixin, BaseEstimator):
    """Base of the package's DataFrame-native fold steps: scikit-learn's input contract.

    ``_frame`` checks input as ``validate_data`` would (2-D, not sparse or complex, at
    least one row and column, the fitted number and names of columns) and returns a
    DataFrame; an array's columns are the fitted ones by position, or ``x0, x1, ...``. Steps return a
    DataFrame whatever ``set_output`` says (their columns have mixed dtypes), with the
    columns ``get_feature_names_out`` gives, so pandas or polars output only wraps it.
    """

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        # Output is a DataFrame of mixed dtypes, not one array of the input's dtype.
        tags.transformer_tags.preserves_dtype = []
        return tags

    def _frame(self, X: Any, *, reset: bool) -> pd.DataFrame:
        import scipy.sparse as sp
        from sklearn.utils.validation import validate_data

        name = type(self).__name__
        if sp.issparse(X):
            raise TypeError(f"{name} does not support sparse input; pass a pandas DataFrame")
        if not isinstance(X, pd.DataFrame):
            array = np.asarray(X)
            if array.ndim != 2:
                raise ValueError(
                    f"Expected 2D array, got {array.ndim}D array instead: {name} takes a "
                    "table. Reshape your data (a single feature: reshape(-1, 1)) or pass a "
                    "DataFrame"
                )
            if np.iscomplexobj(array):
                raise ValueError(f"Complex data not supported by {name}")
            # An array sets n_features_in_ but no feature_names_in_ (scikit-learn's rule);
            # inside, its columns are the fitted ones by position, or x0, x1, ...
            validate_data(self, array, reset=reset, skip_check_array=True)
            fitted = None if reset else getattr(self, "_columns_in", None)
            columns = fitted or [f"x{i}" for i in range(array.shape[1])]
            X = pd.DataFrame(array, columns=columns).infer_objects()
        else:
            validate_data(self, X, reset=reset, skip_check_array=True)
        for axis, what in ((0, "sample(s)"), (1, "feature(s)")):
            if X.shape[axis] == 0:
                raise ValueError(
                    f"Found array with 0 {what} (shape={X.shape}) while a minimum of 1 is "
                    f"required by {name}."
                )
        if reset:
            self._columns_in = list(X.columns)
        return X

    def _names_out(self, input_features: Any) -> np.ndarray:
        """Check ``input_features`` against the fitted columns (scikit-learn's rule)."""
        from sklearn.utils.validation import _check_feature_names_in

        check_is_fitted(self, "n_features_in_")
        if input_features is not None:
            _check_feature_names_in(self, input_features)
        return np.asarray(self._output_names, dtype=object)


class CountEncoder(_FrameStep):
    """Replace each category by how often it occurs in the fitted rows.

    scikit-learn has no count/frequency encoder, hence this small one. Unseen and
    missing categories get 0 (or their own count, if NaN was seen during fit).

    Parameters
    ----------
    normalize : bool
        Frequencies (count / n_rows) instead of counts.
    """

    def __init__(self, normalize: bool = False) -> None:
        self.normalize = normalize

    def fit(self, X: pd.DataFrame, y: Any = None) -> CountEncoder:
        X = self._frame(X, reset=True)
        denominator = len(X) if self.normalize else 1
        self.counts_ = {col: X[col].value_counts(dropna=False) / denominator for col in X.columns}
        self._output_names = [f"{c}_count" for c in X.columns]
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """``<col>_count`` per column (the names do not change with ``set_output``)."""
        check_is_fitted(self, "counts_")
        X = self._frame(X, reset=False)
        out = {
            f"{col}_count": X[col].map(self.counts_[col]).astype(float).fillna(0.0).to_numpy()
            for col in self._columns_in
        }
        return pd.DataFrame(out, index=X.index)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return self._names_out(input_features)


_DATE_SHAPE = r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}"
_DATE_PARTS = {"year": "year", "month": "month", "day": "day", "dayofweek": "day_of_week"}


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _date_format(series: pd.Series, *, min_share: float = 0.95) -> str | None:
    """The strftime format of a text column of dates ("mixed" if none fits), or None."""
    values = series.dropna()
    if values.empty:
        return None
    sample = values.astype(str).iloc[:1000]
    if sample.str.match(_DATE_SHAPE).mean() < min_share:
        return None
    from pandas.tseries.api import guess_datetime_format

    fmt = guess_datetime_format(sample.iloc[0]) or "mixed"
    parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
    if parsed.notna().mean() < min_share:
        fmt = "mixed"
        parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
    return fmt if parsed.notna().mean() >= min_share else None


def _target_type(task: Task | str | None, y: Any) -> str:
    """scikit-learn's name of the target type: the task's, or (no task) read off ``y``."""
    if task is not None:
        return as_task(task).sklearn_target_type
    from sklearn.utils.multiclass import type_of_target

    kind = str(type_of_target(y))
    return "continuous" if kind.startswith("continuous") else kind


def _shuffled_target_encoder(target_type: str, seed: int) -> TargetEncoder:
    """A ``TargetEncoder`` whose cross-fitting folds are shuffled with ``seed``."""
    import sklearn
    from sklearn.model_selection import KFold, StratifiedKFold
    from sklearn.utils.fixes import parse_version

    if parse_version(sklearn.__version__) < parse_version("1.9"):
        return TargetEncoder(target_type=target_type, shuffle=True, random_state=seed)
    # scikit-learn 1.9 deprecated shuffle/random_state in favour of a splitter.
    splitter = KFold if target_type == "continuous" else StratifiedKFold
    return TargetEncoder(target_type=target_type, cv=splitter(5, shuffle=True, random_state=seed))


class AutoFeatures(_FrameStep):
    """Automatic handling of dates and high-cardinality categoricals, fitted per fold.

    Which columns get which treatment is decided from the fold's training rows, so a
    project needs no column lists:

    - dates (a datetime column, or text such as ``2021-03-04`` or ``03/04/2021``) become
      ``<col>_year``, ``_month``, ``_day`` and ``_dayofweek``; the column is dropped;
    - categoricals with more than ``max_categories`` distinct values get a target
      encoding, cross-fitted on the training rows (scikit-learn's ``TargetEncoder``, so a
      row's encoding never saw its own target), plus a count encoding; the column is
      dropped. Fewer distinct values are left to the model's own categorical handling.

    Parameters
    ----------
    task : Task, task name or None
        Decides the target encoding's target type (``Task.sklearn_target_type``); None
        reads it off the target passed to ``fit`` (scikit-learn's ``type_of_target``).
    max_categories : int
        Categoricals with more distinct values than this are high-cardinality.
    exclude : sequence of str
        Columns left alone (e.g. those already in ``features.target_encode``).
    random_state : int
        Seed of the target encoder's cross-fitting split.
    """

    def __init__(
        self,
        *,
        task: Task | str | None = None,
        max_categories: int = 30,
        exclude: tuple[str, ...] = (),
        random_state: int = 0,
    ) -> None:
        self.task = task
        self.max_categories = max_categories
        self.exclude = exclude
        self.random_state = random_state

    def fit(self, X: pd.DataFrame, y: Any = None) -> AutoFeatures:
        self.fit_transform(X, y)
        return self

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        X = self._frame(X, reset=True)
        skip = set(self.exclude)
        self.date_formats_: dict[str, str] = {}
        for col in X.columns:
            if col in skip:
                continue
            if pd.api.types.is_datetime64_any_dtype(X[col]):
                self.date_formats_[col] = ""
            elif not _is_numeric(X[col]) and not pd.api.types.is_bool_dtype(X[col]):
                fmt = _date_format(X[col])
                if fmt is not None:
                    self.date_formats_[col] = fmt
        self.high_cardinality_ = [
            col
            for col in X.columns
            if col not in skip
            and col not in self.date_formats_
            and not _is_numeric(X[col])
            and X[col].nunique(dropna=True) > self.max_categories
        ]
        self.target_encoder_: TargetEncoder | None = None
        self.count_encoder_: CountEncoder | None = None
        encoded: np.ndarray | None = None
        if self.high_cardinality_:
            if y is None:
                raise KKError("AutoFeatures needs the target to encode high-cardinality columns")
            target_type = _target_type(self.task, y)
            # The inner encoders give arrays whatever sklearn.set_config says: _assemble
            # indexes their output by position.
            self.target_encoder_ = _shuffled_target_encoder(target_type, self.random_state)
            self.target_encoder_.set_output(transform="default")
            # fit_transform cross-fits: each training row is encoded without its own target.
            encoded = np.asarray(self.target_encoder_.fit_transform(self._categories(X), y))
            self.count_encoder_ = CountEncoder().set_output(transform="default")
            self.count_encoder_.fit(self._categories(X))
        out = self._assemble(X, encoded)
        self._output_names = list(out.columns)
        return out

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "date_formats_")
        X = self._frame(X, reset=False)
        encoded = None
        if self.target_encoder_ is not None:
            encoded = np.asarray(self.target_encoder_.transform(self._categories(X)))
        return self._assemble(X, encoded)

    def _categories(self, X: pd.DataFrame) -> pd.DataFrame:
        cats = X[self.high_cardinality_].astype(object)
        return cats.where(cats.notna(), "__missing__").astype(str)

    def _assemble(self, X: pd.DataFrame, encoded: np.ndarray | None) -> pd.DataFrame:
        new: dict[str, Any] = {}
        for col, fmt in self.date_formats_.items():
            if fmt:
                when = pd.to_datetime(X[col], format=fmt, errors="coerce")
            else:
                when = pd.to_datetime(X[col], errors="coerce")
            for part, attr in _DATE_PARTS.items():
                new[f"{col}_{part}"] = getattr(when.dt, attr).astype(float).to_numpy()
        if encoded is not None and self.count_encoder_ is not None:
            per_col = encoded.shape[1] // len(self.high_cardinality_)
            for i, col in enumerate(self.high_cardinality_):
                for k in range(per_col):
                    suffix = "_te" if per_col == 1 else f"_te{k}"
                    new[f"{col}{suffix}"] = encoded[:, i * per_col + k]
            counts = self.count_encoder_.transform(self._categories(X))
            for col in self.high_cardinality_:
                new[f"{col}_count"] = counts[f"{col}_count"].to_numpy()
        kept = X.drop(columns=[*self.date_formats_, *self.high_cardinality_])
        return pd.concat([kept, pd.DataFrame(new, index=X.index)], axis=1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return self._names_out(input_features)


class _AppendFeatures(_FrameStep):
    """Base for steps that keep every column and append new numeric ones (``replace``:
    the new columns alone, e.g. a model that sees only the first principal components)."""

    prefix = "f"
    replace = False

    def _numeric(self, X: pd.DataFrame) -> pd.DataFrame:
        return X.select_dtypes(include="number")

    def _make(self, n_rows: int) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def fit(self, X: pd.DataFrame, y: Any = None) -> _AppendFeatures:
        X = self._frame(X, reset=True)
        numeric = self._numeric(X)
        if numeric.shape[1] == 0:
            raise KKError(
                f"{type(self).__name__} needs numeric columns; there are none at this step"
            )
        from sklearn.impute import SimpleImputer

        self.columns_ = list(numeric.columns)
        # Arrays inside whatever sklearn.set_config says: _new_columns works on positions.
        self.prep_ = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
        self.prep_.set_output(transform="default")
        Z = self.prep_.fit_transform(numeric.to_numpy(dtype=float))
        self.model_ = self._make(len(Z)).set_output(transform="default").fit(Z)
        n_new = self._new_columns(Z[:1]).shape[1]
        kept = [] if self.replace else list(X.columns)
        self._output_names = [*kept, *(f"{self.prefix}_{i}" for i in range(n_new))]
        return self

    def _new_columns(self, Z: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        check_is_fitted(self, "model_")
        X = self._frame(X, reset=False)
        Z = self.prep_.transform(X[self.columns_].to_numpy(dtype=float))
        new = self._new_columns(Z)
        names = [f"{self.prefix}_{i}" for i in range(new.shape[1])]
        new_frame = pd.DataFrame(new, index=X.index, columns=names)
        return new_frame if self.replace else pd.concat([X, new_frame], axis=1)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return self._names_out(input_features)


class ClusterFeatures(_AppendFeatures):
    """k-Means on the scaled numeric columns: appends the distance to each centre
    (``replace = True``: the distances replace the columns)."""

    prefix = "kmeans_dist"

    def __init__(self, n_clusters: int = 8, random_state: int = 0, replace: bool = False) -> None:
        self.n_clusters = n_clusters
        self.random_state = random_state
        self.replace = replace

    def _make(self, n_rows: int) -> KMeans:
        from sklearn.cluster import KMeans

        return KMeans(
            n_clusters=min(self.n_clusters, n_rows), n_init=10, random_state=self.random_state
        )

    def _new_columns(self, Z: np.ndarray) -> np.ndarray:
        return np.asarray(self.model_.transform(Z))


class PCAFeatures(_AppendFeatures):
    """PCA on the scaled numeric columns: appends the first ``n_components`` components
    (``replace = True``: the components replace the columns)."""

    prefix = "pca"

    def __init__(self, n_components: int = 5, random_state: int = 0, replace: bool = False) -> None:
        self.n_components = n_components
        self.random_state = random_state
        self.replace = replace

    def _make(self, n_rows: int) -> PCA:
        from sklearn.decomposition import PCA

        return PCA(n_components=self.n_components, random_state=self.random_state)

    def _new_columns(self, Z: np.ndarray) -> np.ndarray:
        return np.asarray(self.model_.transform(Z))


class GroupTargetRate(_FrameStep):
    """Target rate of the other known members of each row's groups (fold step ``group_target_rate``).

    A leave-one-out group target encoder for binary targets (e.g. the survival of a
    passenger's family and ticket group on Titanic). scikit-learn's ``TargetEncoder``
    cross-fits and smooths towards the global mean, so a row's value depends on which
    other rows share its inner fold and singletons get the mean; this step gives exactly
    "how did the *other* known members of this group do", with a count of them, and a
    member filter. ``fit`` learns per group the sum and count of the target over the
    fold's training rows. ``transform`` gives every row the rate of the known members of
    its group; ``fit_transform`` (what a pipeline calls on the training rows) leaves each
    row's own label out, so a training row never sees its own answer. A row whose group
    has no other known member gets ``neutral``. Like scikit-learn's ``TargetEncoder``,
    calling ``transform`` on the training rows after ``fit`` would include their own
    labels: use ``fit_transform`` for them.

    Parameters
    ----------
    keys : sequence of str
        Group-key columns; each adds ``<key>_<name>`` and ``<key>_known`` (how many
        other members have a known label).
    member_column : str
        If set, only rows where this 0/1 column is 1 count as informative members
        (e.g. ``woman_or_child``); every row still gets its group's value.
    neutral : float
        Value for rows with no other known member.
    drop_keys : bool
        Drop the key columns from the output (they are high-cardinality strings).
    name : str
        Suffix of the rate columns (``"survival"`` on Titanic).

    Examples
    --------
    >>> X = pd.DataFrame({"g": ["a", "a", "b"]})
    >>> step = GroupTargetRate(keys=["g"])
    >>> step.fit_transform(X, np.array([1, 0, 1]))["g_rate"].tolist()
    [0.0, 1.0, 0.5]
    """

    def __init__(
        self,
        keys: Sequence[str] = (),
        member_column: str = "",
        neutral: float = 0.5,
        drop_keys: bool = True,
        name: str = "rate",
    ) -> None:
        self.keys = keys
        self.member_column = member_column
        self.neutral = neutral
        self.drop_keys = drop_keys
        self.name = name

    def _keys(self) -> list[str]:
        """The key columns (one name given as a string counts as one key, not its letters)."""
        return [self.keys] if isinstance(self.keys, str) else list(self.keys)

    def _check_columns(self, X: pd.DataFrame) -> None:
        if not self._keys():
            raise KKError(
                "group_target_rate needs keys: give the group columns in the step's params, "
                'e.g. params = { keys = ["family"] }'
            )
        needed = [*self._keys(), *([self.member_column] if self.member_column else [])]
        missing = [c for c in needed if c not in X.columns]
        if missing:
            raise KKError(
                f"group_target_rate needs column(s) {missing} in the feature frame; "
                "return them from build_features or fix the step's keys"
            )

    def _members(self, X: pd.DataFrame) -> np.ndarray:
        if not self.member_column:
            return np.ones(len(X), dtype=np.float64)
        return X[self.member_column].to_numpy(dtype=np.float64)

    def fit(self, X: pd.DataFrame, y: Any = None) -> GroupTargetRate:
        if y is None:
            raise KKError("group_target_rate needs the target to fit; it is a fold step")
        X = self._frame(X, reset=True)
        self._check_columns(X)
        weight = self._members(X)
        target = np.asarray(y, dtype=np.float64) * weight
        # Per key: the known groups and, aligned with them, their label sum and count.
        self.stats_: dict[str, tuple[pd.Index, np.ndarray, np.ndarray]] = {}
        for key in self._keys():
            codes, groups = pd.factorize(X[key])  # a missing key gets code -1
            has_key = codes >= 0
            sums = np.bincount(codes[has_key], weights=target[has_key], minlength=len(groups))
            counts = np.bincount(codes[has_key], weights=weight[has_key], minlength=len(groups))
            self.stats_[key] = (pd.Index(groups), sums, counts)
        kept = [c for c in X.columns if not (self.drop_keys and c in self._keys())]
        rates = [name for key in self._keys() for name in (f"{key}_{self.name}", f"{key}_known")]
        self._output_names = [*kept, *rates]
        return self

    def _encode(
        self, X: pd.DataFrame, own_sum: np.ndarray | None, own_count: np.ndarray | None
    ) -> pd.DataFrame:
        check_is_fitted(self, "stats_")
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
            new[f"{key}_{self.name}"] = rate
            new[f"{key}_known"] = group_count
        kept = X.drop(columns=self._keys()) if self.drop_keys else X
        return pd.concat([kept, pd.DataFrame(new, index=X.index)], axis=1)

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Group rates from all the fitted rows (for validation and test rows)."""
        check_is_fitted(self, "stats_")
        return self._encode(self._frame(X, reset=False), None, None)

    def fit_transform(self, X: pd.DataFrame, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        """Fit, then encode the same rows leaving each row's own label out."""
        self.fit(X, y)
        X = self._frame(X, reset=False)
        weight = self._members(X)
        own_sum = np.asarray(y, dtype=np.float64) * weight
        return self._encode(X, own_sum, weight)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return self._names_out(input_features)
