"""Free-text columns inside a table: fold step ``text`` for any tabular model.

A tabular competition often has a text column beside its numbers (a product description,
a passenger's name, a review). ``TextColumns`` turns each named column into numbers with
the text kind's own features (``clean_texts``, then ``TextVectorizer``'s TF-IDF word and
character n-grams), fitted on the fold's training rows only:

- ``<col>_svd_<i>``: the first ``components`` directions of the TF-IDF (truncated SVD,
  scikit-learn's LSA), dense columns a tree or a linear model can use;
- ``<col>_score``: a linear model's prediction from the column's TF-IDF (logistic
  regression's positive-class probability for a binary target, one column per class for
  multiclass, ridge for regression). The training rows' scores are cross-fitted over
  ``inner_folds`` of those rows, so no row's score has seen its own label (what
  scikit-learn's ``TargetEncoder`` does for categories); validation and test rows get the
  model fitted on every training row.

The text columns themselves are dropped (a raw string would become one huge one-hot).

    [features]
    steps = [{ kind = "text", params = { columns = ["description"], components = 16 } }]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from kagglekit.errors import KKError, short_list
from kagglekit.features.encoders import _FrameStep
from kagglekit.text.clean import as_cleaning, clean_texts
from kagglekit.text.features import TextVectorizer


class TextColumns(_FrameStep):
    """TF-IDF components and a cross-fitted linear score per text column (fold step ``text``).

    Parameters
    ----------
    columns : sequence of str
        The text columns (one name as a string is one column).
    word_ngrams, char_ngrams, min_df, max_features
        ``TextVectorizer``'s n-gram ranges and vocabulary limits.
    components : int
        Truncated-SVD columns per text column (0: none).
    score : bool
        Add the cross-fitted linear model's prediction (needs the target).
    C, alpha
        Inverse regularisation of the logistic regression (classification), ridge's
        alpha (regression).
    inner_folds : int
        Folds of the training rows for their cross-fitted scores.
    clean : bool or str
        ``clean_texts`` first: true (the general cleaning, any script), ``"tweets"``
        (links, handles, HTML entities, mojibake) or false.
    tokens : str
        The word tokenizer (``text.tokens``): ``"words"`` (any script) or ``"ascii"``.

    Examples
    --------
    >>> X = pd.DataFrame({"n": [1, 2, 3, 4, 5, 6], "t": ["red fox", "red hen", "red cat",
    ...                   "blue sky", "blue sea", "blue ice"]})
    >>> step = TextColumns(columns=["t"], components=1, inner_folds=2)
    >>> list(step.fit_transform(X, np.array([1, 1, 1, 0, 0, 0])).columns)
    ['n', 't_svd_0', 't_score']
    """

    def __init__(
        self,
        columns: Any = (),
        word_ngrams: Any = (1, 2),
        char_ngrams: Any = (),
        min_df: int = 1,
        max_features: int = 0,
        components: int = 16,
        score: bool = True,
        C: float = 1.0,
        alpha: float = 1.0,
        inner_folds: int = 5,
        clean: bool | str = True,
        tokens: str = "words",
        random_state: int = 0,
    ) -> None:
        self.columns = columns
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.max_features = max_features
        self.components = components
        self.score = score
        self.C = C
        self.alpha = alpha
        self.inner_folds = inner_folds
        self.clean = clean
        self.tokens = tokens
        self.random_state = random_state

    def _columns(self, X: pd.DataFrame) -> list[str]:
        cols = [self.columns] if isinstance(self.columns, str) else list(self.columns)
        if not cols:
            raise KKError(
                "feature step 'text' needs columns: e.g. "
                'steps = [{ kind = "text", params = { columns = ["description"] } }]'
            )
        missing = [c for c in cols if c not in X.columns]
        if missing:
            raise KKError(
                f"feature step 'text': column(s) {missing} are not in the feature frame "
                f"(columns: {short_list(X.columns)}); fix the step's columns or keep them "
                "in build_features"
            )
        return cols

    def _texts(self, series: pd.Series) -> np.ndarray:
        cleaning = as_cleaning(self.clean)
        if cleaning is not None:
            return clean_texts(series, cleaning)
        return np.asarray(series.fillna("").astype(str), dtype=object)

    def _linear(self) -> Any:
        from sklearn.linear_model import LogisticRegression, Ridge

        if self.target_type_ == "continuous":
            return Ridge(alpha=self.alpha)
        return LogisticRegression(C=self.C, max_iter=2000)

    def _scores(self, model: Any, M: Any) -> np.ndarray:
        if self.target_type_ == "continuous":
            return np.asarray(model.predict(M), dtype=float)[:, None]
        proba = model.predict_proba(M)
        return proba[:, 1:] if proba.shape[1] == 2 else proba  # two classes: P(second)

    def _inner_splits(self, y: np.ndarray) -> Any:
        from sklearn.model_selection import KFold, StratifiedKFold

        if self.target_type_ == "continuous":
            splitter: Any = KFold(self.inner_folds, shuffle=True, random_state=self.random_state)
        else:
            smallest = int(np.unique(y, return_counts=True)[1].min())
            if smallest < self.inner_folds:
                raise KKError(
                    f"feature step 'text': a class has {smallest} training row(s), fewer "
                    f"than inner_folds = {self.inner_folds}; lower inner_folds or set "
                    "score = false"
                )
            splitter = StratifiedKFold(
                self.inner_folds, shuffle=True, random_state=self.random_state
            )
        return splitter.split(np.zeros(len(y)), y)

    def fit(self, X: Any, y: Any = None) -> TextColumns:
        self._fit(X, y)
        return self

    def _fit(self, X: Any, y: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Fit every column's vectoriser, SVD and linear model; the matrices it made."""
        from sklearn.decomposition import TruncatedSVD

        X = self._frame(X, reset=True)
        cols = self._columns(X)
        if self.score and y is None:
            raise KKError("feature step 'text' needs the target for its score; it is a fold step")
        if self.score:
            y = np.asarray(y)
            self.target_type_ = (
                "continuous" if type_of_target(y).startswith("continuous") else type_of_target(y)
            )
        self.fitted_: dict[str, dict[str, Any]] = {}
        matrices: dict[str, Any] = {}
        for col in cols:
            vec = TextVectorizer(
                word_ngrams=self.word_ngrams, char_ngrams=self.char_ngrams, min_df=self.min_df,
                max_features=self.max_features, side=False, tokens=self.tokens, column=col,
            )  # fmt: skip
            try:
                M = vec.fit_transform(self._texts(X[col]))
            except ValueError as err:  # no word at all, or none left after min_df
                raise KKError(f"feature step 'text': {err}") from None
            parts: dict[str, Any] = {"vectorizer": vec}
            n_svd = min(int(self.components), M.shape[1] - 1, M.shape[0] - 1)
            if n_svd > 0:
                parts["svd"] = TruncatedSVD(n_svd, random_state=self.random_state).fit(M)
            if self.score:
                parts["model"] = self._linear().fit(M, y)
            self.fitted_[col] = parts
            matrices[col] = M
        self.text_columns_ = cols
        kept = [c for c in X.columns if c not in cols]
        self._output_names = [*kept, *self._new_names()]
        return X, matrices

    def _new_names(self) -> list[str]:
        names: list[str] = []
        for col, parts in self.fitted_.items():
            if "svd" in parts:
                names += [f"{col}_svd_{i}" for i in range(parts["svd"].n_components)]
            if "model" in parts:
                n_classes = len(getattr(parts["model"], "classes_", ()))
                n = n_classes if n_classes > 2 else 1  # values, or P(second) of two classes
                names += [f"{col}_score"] if n == 1 else [f"{col}_score_{k}" for k in range(n)]
        return names

    def _encode(self, X: pd.DataFrame, matrices: dict[str, Any], y: Any) -> pd.DataFrame:
        blocks: list[np.ndarray] = []
        for col, parts in self.fitted_.items():
            M = matrices.get(col)
            if M is None:
                M = parts["vectorizer"].transform(self._texts(X[col]))
            if "svd" in parts:
                blocks.append(parts["svd"].transform(M))
            if "model" in parts:
                if y is None:
                    blocks.append(self._scores(parts["model"], M))
                    continue
                # The fold's own training rows: each score from a model without its label.
                oof = np.zeros((M.shape[0], self._scores(parts["model"], M[:1]).shape[1]))
                for fit_rows, score_rows in self._inner_splits(y):
                    inner = self._linear().fit(M[fit_rows], y[fit_rows])
                    oof[score_rows] = self._scores(inner, M[score_rows])
                blocks.append(oof)
        new = np.hstack(blocks) if blocks else np.zeros((len(X), 0))
        kept = X.drop(columns=self.text_columns_)
        return pd.concat(
            [kept, pd.DataFrame(new, index=X.index, columns=self._new_names())], axis=1
        )

    def transform(self, X: Any) -> pd.DataFrame:
        """Components and scores from the models fitted on every training row."""
        check_is_fitted(self, "fitted_")
        X = self._frame(X, reset=False)
        self._columns(X)
        return self._encode(X, {}, None)

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> pd.DataFrame:
        """Fit, then encode the same rows with cross-fitted scores."""
        X, matrices = self._fit(X, y)
        return self._encode(X, matrices, np.asarray(y) if self.score else None)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return self._names_out(input_features)
