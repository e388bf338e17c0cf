"""Text models that are features plus a linear model (scikit-learn), one class for all.

``LinearTextModel`` fits a featurizer on the fold's training rows (TF-IDF, word2vec
document vectors or sentence embeddings), then a linear model on them: logistic
regression, a linear SVM, ridge, or NB-SVM (logistic regression on NB log-count-ratio
scaled features). Models without probabilities (SVM, ridge) are Platt-scaled on inner
out-of-fold decision values of the training rows; a binary task's decision threshold is
tuned on inner out-of-fold probabilities of the training rows too (``text.threshold``),
so neither ever sees the rows the fold is scored on.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any, Protocol

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge, RidgeClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.svm import LinearSVC

from kagglekit.errors import KKError, unknown_name
from kagglekit.models.base import FoldContext, require
from kagglekit.tasks import Task, as_task
from kagglekit.text import threshold as thr
from kagglekit.text.embeddings import embed
from kagglekit.text.features import TextVectorizer, nb_ratios
from kagglekit.text.loaders import as_texts
from kagglekit.text.tokens import get_tokenizer, no_tokens

log = logging.getLogger(__name__)

CLASSIFIERS = ("lr", "svm", "ridge", "nbsvm")
# Word vectors trained on the fold's texts: word2vec, or FastText (word2vec over a word's
# character 3-6-grams as well, so a misspelt or hashtagged word gets a vector from its
# pieces: "#earthquake" shares "earthq" with "earthquake").
VECTORS = ("word2vec", "fasttext")


class Featurizer(Protocol):
    def fit_transform(self, X: Any) -> Any: ...
    def transform(self, X: Any) -> Any: ...


class Word2VecFeaturizer:
    """Mean word vectors, word2vec or FastText trained (gensim) on the fold's training texts.

    ``init_vectors`` of an LSTM embedding layer use the same training (``train_word2vec``).
    ``tokens`` names the tokenizer (``text.tokens``), ``column`` the text column (errors).
    With ``vectors = "fasttext"`` a word seen fewer than ``min_count`` times, or never,
    still counts: its vector is built from its character n-grams.
    """

    def __init__(
        self, *, vector_size: int = 100, window: int = 5, min_count: int = 2,
        epochs: int = 10, sg: bool = True, seed: int = 0, tokens: str = "words",
        column: str = "text", vectors: str = "word2vec",
    ) -> None:  # fmt: skip
        if vectors not in VECTORS:
            raise unknown_name("vectors", vectors, VECTORS)
        self.options: dict[str, Any] = dict(
            vector_size=vector_size, window=window, min_count=min_count, epochs=epochs, sg=sg,
            tokens=tokens, column=column, vectors=vectors,
        )  # fmt: skip
        self.seed = seed
        self.tokenize = get_tokenizer(tokens)

    def fit_transform(self, X: Any) -> np.ndarray:
        self.wv_ = train_word2vec(as_texts(X).text, seed=self.seed, **self.options)
        Z = self._mean(X)
        self.mean_, self.std_ = Z.mean(axis=0), Z.std(axis=0) + 1e-6
        return (Z - self.mean_) / self.std_

    def transform(self, X: Any) -> np.ndarray:
        return (self._mean(X) - self.mean_) / self.std_

    def _mean(self, X: Any) -> np.ndarray:
        wv = self.wv_
        out = np.zeros((len(X), wv.vector_size), dtype=np.float32)
        for i, text in enumerate(as_texts(X).text):
            # Python per text, but the work per row is one numpy mean over its tokens.
            # ``w in wv``: word2vec knows its vocabulary; FastText every word with n-grams.
            words = [w for w in self.tokenize(text) if w in wv]
            if words:
                out[i] = wv[words].mean(axis=0)
        return out


def train_word2vec(
    texts: Any, *, vector_size: int = 100, window: int = 5, min_count: int = 2,
    epochs: int = 10, sg: bool = True, seed: int = 0, tokens: str = "words",
    column: str = "text", vectors: str = "word2vec",
) -> Any:  # fmt: skip
    """gensim ``KeyedVectors`` trained on ``texts`` (one worker: seeded runs repeat):
    ``Word2Vec``'s, or with ``vectors = "fasttext"`` ``FastText``'s (character 3-6-gram
    vectors too, gensim's defaults; the keyed vectors then answer for any word).

    Texts with no word, or no word ``min_count`` times, are a one-line error naming
    ``column`` (gensim's own is a traceback about building a vocabulary).
    """
    if vectors not in VECTORS:
        raise unknown_name("vectors", vectors, VECTORS)
    models = require("gensim.models", "nlp")
    tokenize = get_tokenizer(tokens)
    sentences = [tokenize(t) for t in texts]
    if not any(sentences):
        raise no_tokens(texts, column=column, tokens=tokens)
    counts = Counter(w for sentence in sentences for w in sentence)
    if max(counts.values()) < min_count:
        raise KKError(
            f"{vectors}: no word of text column '{column}' appears min_count = {min_count} "
            f"times in the {len(sentences)} training texts; lower min_count (e.g. 1)"
        )
    trainer = models.FastText if vectors == "fasttext" else models.Word2Vec
    model = trainer(
        sentences, vector_size=vector_size, window=window, min_count=min_count,
        epochs=epochs, sg=int(sg), workers=1, seed=seed,
    )  # fmt: skip
    return model.wv


class EmbeddingFeaturizer:
    """Sentence embeddings (``text.embeddings.embed``, cached on disk); nothing to fit."""

    def __init__(self, *, model: str, cache_dir: str | None, batch_size: int, device: str):
        self.model, self.cache_dir = model, cache_dir
        self.batch_size, self.device = batch_size, device

    def fit_transform(self, X: Any) -> np.ndarray:
        return self.transform(X)

    def transform(self, X: Any) -> np.ndarray:
        return embed(
            as_texts(X).text, model=self.model, cache_dir=self.cache_dir,
            batch_size=self.batch_size, device=self.device,
        )  # fmt: skip


class LinearTextModel:
    """A featurizer and a linear model; implements ``kagglekit.models.Model``.

    Parameters
    ----------
    featurizer
        Fitted on the fold's training rows (``fit_transform``), applied to the others.
    classifier
        ``"lr"`` | ``"svm"`` | ``"ridge"`` | ``"nbsvm"`` (ridge regression for a
        regression task whatever this says).
    task, n_classes, seed
        The ``kagglekit.tasks.Task`` (or its name), class count and seed.
    C, alpha, nb_alpha
        Inverse regularisation (LR, SVM, NB-SVM); ridge's penalty; NB smoothing.
    metric, threshold, tune_threshold
        The competition metric and ``competition.threshold``; with ``tune_threshold`` a
        binary task whose metric scores labels gets its threshold tuned (module doc).
    inner_folds
        Inner folds of the training rows for Platt scaling and the threshold.
    """

    def __init__(
        self,
        featurizer: Featurizer,
        classifier: str = "lr",
        *,
        task: Task | str,
        n_classes: int = 2,
        seed: int = 0,
        C: float = 1.0,
        alpha: float = 1.0,
        nb_alpha: float = 1.0,
        metric: Any = None,
        threshold: float = 0.5,
        tune_threshold: bool = True,
        inner_folds: int = 3,
        class_weight: str | None = None,
    ) -> None:
        if classifier not in CLASSIFIERS:
            raise unknown_name("classifier", classifier, CLASSIFIERS)
        task = as_task(task)
        if classifier == "nbsvm" and not task.uses_threshold:
            # Its log-count ratios and its probability are of the positive class.
            raise KKError(f"NB-SVM needs a binary task, not {task.name}; use classifier 'lr'")
        self.featurizer = featurizer
        self.classifier = classifier
        self.task, self.n_classes, self.seed = task, n_classes, seed
        self.C, self.alpha, self.nb_alpha = C, alpha, nb_alpha
        self.metric, self.threshold = metric, thr.check_threshold(threshold)
        self.tune = thr.needs_tuning(task, metric, tune_threshold)
        self.inner_folds = inner_folds
        self.class_weight = class_weight
        self._learned: dict[str, Any] = {}

    def _estimator(self) -> Any:
        if not self.task.is_classification:
            return Ridge(alpha=self.alpha)
        if self.classifier == "svm":
            return LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.seed)
        if self.classifier == "ridge":
            return RidgeClassifier(alpha=self.alpha, class_weight=self.class_weight)
        # One probability column (binary): liblinear; a class axis: lbfgs's multinomial fit.
        solver = "liblinear" if self.task.n_outputs(range(self.n_classes)) == 1 else "lbfgs"
        return LogisticRegression(
            C=self.C, solver=solver, max_iter=2000, class_weight=self.class_weight,
            random_state=self.seed,
        )  # fmt: skip

    def _scores(self, estimator: Any, Z: Any) -> np.ndarray:
        """Probabilities (LR) or decision values (SVM, ridge) of ``estimator``."""
        if hasattr(estimator, "predict_proba"):
            proba = estimator.predict_proba(Z)
            return np.asarray(self.task.from_proba(proba))
        return np.asarray(estimator.decision_function(Z))

    def fit(
        self,
        X: Any,
        y: np.ndarray,
        *,
        X_valid: Any = None,
        y_valid: np.ndarray | None = None,
        fold: FoldContext | None = None,
    ) -> LinearTextModel:
        started = time.perf_counter()
        Z = self.featurizer.fit_transform(X)
        if self.classifier == "nbsvm":
            self.ratios_ = nb_ratios(Z, y, alpha=self.nb_alpha)
            Z = Z.multiply(self.ratios_).tocsr()
        features_seconds = time.perf_counter() - started
        estimator = self._estimator()
        self.platt_: LogisticRegression | None = None
        self.tuned_ = self.threshold
        probabilistic = hasattr(estimator, "predict_proba")
        if self.task.uses_threshold and (self.tune or not probabilistic):
            inner = StratifiedKFold(self.inner_folds, shuffle=True, random_state=self.seed)
            method = "predict_proba" if probabilistic else "decision_function"
            oof = cross_val_predict(estimator, Z, y, cv=inner, method=method)
            oof = oof[:, 1] if probabilistic else oof
            if not probabilistic:
                self.platt_ = LogisticRegression().fit(oof[:, None], y)
                oof = self.platt_.predict_proba(oof[:, None])[:, 1]
            if self.tune:
                self.tuned_ = thr.tune_threshold(y, oof, self.metric)
        elif self.task.is_classification and not probabilistic:  # a class axis
            from sklearn.calibration import CalibratedClassifierCV

            estimator = CalibratedClassifierCV(
                estimator, method="sigmoid", cv=self.inner_folds, ensemble=False
            )
        estimator.fit(Z, y)
        self.estimator_ = estimator
        self._learned = {
            "n_features": int(Z.shape[1]),
            "features_seconds": round(features_seconds, 3),
            "fit_seconds": round(time.perf_counter() - started, 3),
        }
        if self.task.uses_threshold:
            self._learned["threshold"] = self.tuned_
        return self

    def predict(self, X: Any) -> np.ndarray:
        if not hasattr(self, "estimator_"):
            raise KKError("the text model was used before fit; fit it first")
        Z = self.featurizer.transform(X)
        if self.classifier == "nbsvm":
            Z = Z.multiply(self.ratios_).tocsr()
        if not self.task.is_classification:
            return np.asarray(self.estimator_.predict(Z), dtype=np.float64)
        scores = self._scores(self.estimator_, Z)
        if self.platt_ is not None:
            scores = self.platt_.predict_proba(scores[:, None])[:, 1]
        if self.task.uses_threshold and self.tuned_ != self.threshold:
            scores = thr.shift(scores, self.tuned_, self.threshold)
        return np.asarray(scores, dtype=np.float64)

    def learned(self) -> dict[str, Any]:
        return dict(self._learned)


def tfidf_featurizer(
    params: dict[str, Any], *, tokens: str = "words", column: str = "text"
) -> TextVectorizer:
    """A ``TextVectorizer`` from a model entry's feature params (and the loader's tokens)."""
    names = ("word_ngrams", "char_ngrams", "min_df", "max_features", "sublinear_tf", "side",
             "side_weight")  # fmt: skip
    options = {k: params[k] for k in names if k in params}
    return TextVectorizer(**options, tokens=tokens, column=column)
