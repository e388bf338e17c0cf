"""Bag-of-words features: TF-IDF word and character n-grams plus side columns.

``TextVectorizer`` is a scikit-learn transformer over ``Texts``: word n-grams
(``TfidfVectorizer``), character n-grams inside word boundaries (``char_wb``) and, per
side column (``keyword``, ``location``), a TF-IDF of its words, stacked side by side as
one sparse matrix. ``nb_ratios`` gives NB-SVM's log-count ratios (Wang & Manning 2012),
which scikit-learn has no transformer for.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer

from kagglekit.errors import KKError
from kagglekit.text.loaders import as_texts
from kagglekit.text.tokens import get_tokenizer, no_tokens, tokenize

__all__ = ["TextVectorizer", "nb_ratios", "tokenize"]


def _ngrams(value: Any, name: str) -> tuple[int, int] | None:
    """``[lo, hi]`` from a config as a tuple; ``None``/``[]``/0 turns the block off."""
    if value in (None, 0, [], ()):
        return None
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int) and v >= 1 for v in value)
        or value[0] > value[1]
    ):
        raise KKError(f"{name} = {value!r} must be [low, high] with 1 <= low <= high, or []")
    return int(value[0]), int(value[1])


class TextVectorizer(BaseEstimator, TransformerMixin):
    """TF-IDF of word n-grams, character n-grams and side columns, hstacked.

    Parameters
    ----------
    word_ngrams, char_ngrams
        ``[low, high]`` n-gram ranges; ``[]`` leaves that block out.
    min_df
        Minimum document frequency of a word n-gram (characters use 2 * min_df).
    max_features
        Cap on each block's vocabulary (0 = none).
    sublinear_tf
        ``1 + log(tf)`` term frequencies.
    side
        Add a TF-IDF block for each side column of the ``Texts`` (``keyword``, ...).
    side_weight
        Multiplier of the side blocks (their rows have few terms).
    tokens
        The word tokenizer: ``"words"`` (any script, Chinese segmented) or ``"ascii"``
        (``text.tokens``).
    column
        The text column's name, for the error when its texts have no word at all.
    """

    def __init__(
        self,
        *,
        word_ngrams: Any = (1, 2),
        char_ngrams: Any = (),
        min_df: int = 1,
        max_features: int = 0,
        sublinear_tf: bool = True,
        side: bool = True,
        side_weight: float = 1.0,
        tokens: str = "words",
        column: str = "text",
    ) -> None:
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.side = side
        self.side_weight = side_weight
        self.tokens = tokens
        self.column = column

    def _blocks(self, side_columns: list[str]) -> list[tuple[str, TfidfVectorizer, float]]:
        words, chars = (
            _ngrams(self.word_ngrams, "word_ngrams"),
            _ngrams(self.char_ngrams, "char_ngrams"),
        )
        cap = self.max_features or None
        tokenizer = get_tokenizer(self.tokens)
        blocks: list[tuple[str, TfidfVectorizer, float]] = []
        if words:
            vec = TfidfVectorizer(
                tokenizer=tokenizer, token_pattern=None, lowercase=False, ngram_range=words,
                min_df=self.min_df, max_features=cap, sublinear_tf=self.sublinear_tf,
            )  # fmt: skip
            blocks.append(("", vec, 1.0))
        if chars:
            vec = TfidfVectorizer(
                analyzer="char_wb", ngram_range=chars, min_df=2 * self.min_df,
                max_features=cap, sublinear_tf=self.sublinear_tf,
            )  # fmt: skip
            blocks.append(("", vec, 1.0))
        if self.side:
            for col in side_columns:
                vec = TfidfVectorizer(
                    tokenizer=tokenizer, token_pattern=None, lowercase=False, min_df=2
                )
                blocks.append((col, vec, float(self.side_weight)))
        if not blocks:
            raise KKError("TextVectorizer has no block: set word_ngrams or char_ngrams")
        return blocks

    def fit(self, X: Any, y: Any = None) -> TextVectorizer:
        self.fit_transform(X)
        return self

    def fit_transform(self, X: Any, y: Any = None, **_: Any) -> sp.csr_matrix:
        texts = as_texts(X)
        self.side_columns_ = list(texts.side.columns)
        parts, fitted = [], []
        for col, vec, weight in self._blocks(self.side_columns_):
            column = texts.side[col].to_numpy() if col else texts.text
            try:
                parts.append(vec.fit_transform(column) * weight)
                fitted.append((col, vec, weight))
            except ValueError as err:  # a side column with no word in min_df rows: left out
                if not col:
                    raise self._no_vocabulary(column, vec, err) from None
        self.blocks_ = fitted
        return sp.hstack(parts, format="csr")

    def _no_vocabulary(self, texts: Any, vec: TfidfVectorizer, err: ValueError) -> KKError:
        """scikit-learn's "empty vocabulary" as one line naming the column and the cause."""
        if vec.analyzer == "word" and not any(vec.tokenizer(t) for t in texts):
            return no_tokens(texts, column=self.column, tokens=self.tokens)
        what = "word" if vec.analyzer == "word" else "character"
        return KKError(
            f"text column '{self.column}': no {what} n-gram is left to learn from in its "
            f"{len(texts)} training texts ({err}); lower min_df"
        )

    def transform(self, X: Any) -> sp.csr_matrix:
        if not hasattr(self, "blocks_"):
            raise NotFittedError("TextVectorizer is not fitted yet; call fit first")
        texts = as_texts(X)
        parts = [
            vec.transform(texts.side[col].to_numpy() if col else texts.text) * weight
            for col, vec, weight in self.blocks_
        ]
        return sp.hstack(parts, format="csr")


def nb_ratios(X: sp.spmatrix, y: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """NB-SVM's log-count ratios ``r = log((p / |p|_1) / (q / |q|_1))`` per feature.

    ``p`` (``q``) sums the feature values of the positive (negative) rows plus ``alpha``.
    The linear model is then fitted on ``X`` scaled column-wise by ``r``.
    """
    y = np.asarray(y)
    p = alpha + np.asarray(X[y == 1].sum(axis=0)).ravel()
    q = alpha + np.asarray(X[y == 0].sum(axis=0)).ravel()
    return np.asarray(np.log((p / p.sum()) / (q / q.sum())))
