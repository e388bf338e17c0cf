"""Text backends: each a registry ``Backend`` that reads ``texts`` and returns a ready model.

- ``tfidf_lr``, ``tfidf_svm``, ``tfidf_ridge``, ``tfidf_nbsvm``: TF-IDF word (and, with
  ``char_ngrams``, character) n-grams plus side columns, then logistic regression, a
  linear SVM, ridge or NB-SVM (``text.models.LinearTextModel``).
- ``word2vec_lr``: word2vec (or, with ``vectors = "fasttext"``, FastText: sub-word
  vectors too) trained on the fold's training texts (gensim), mean vectors, logistic
  regression.
- ``sentence_lr``: sentence embeddings (all-MiniLM-L6-v2 by default, cached on disk),
  logistic regression.
- ``lstm``, ``transformer``: a recurrent net and a fine-tuned Hugging Face encoder on the
  shared trainer (``kagglekit.torch``), registered from ``text.torch_models``.

Imported when a project names one of these backends; nothing heavy is imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kagglekit.errors import KKError
from kagglekit.models.base import Backend, BuildContext, register_backend
from kagglekit.text import threshold as thr
from kagglekit.text.models import (
    EmbeddingFeaturizer,
    LinearTextModel,
    Word2VecFeaturizer,
    tfidf_featurizer,
)

TFIDF_PARAMS = {"word_ngrams", "char_ngrams", "min_df", "max_features", "sublinear_tf", "side",
                "side_weight"}  # fmt: skip
HEAD_PARAMS = {"C", "alpha", "nb_alpha", "tune_threshold", "inner_folds", "class_weight"}
W2V_PARAMS = {"vector_size", "window", "min_count", "w2v_epochs", "sg", "vectors"}
EMBED_PARAMS = {"model", "batch_size", "device"}
INSTALL_HINT = "pip install 'kagglekit[nlp]'"


def _head(ctx: BuildContext, featurizer: Any, classifier: str) -> LinearTextModel:
    p = ctx.params
    n_inner = int(p.get("inner_folds", 3))
    if n_inner < 2:
        raise KKError(f"inner_folds = {n_inner} must be >= 2 (they tune the threshold); try 3")
    return LinearTextModel(
        featurizer,
        classifier,
        task=ctx.task,
        n_classes=ctx.n_classes,
        seed=ctx.seed,
        C=float(p.get("C", 1.0)),
        alpha=float(p.get("alpha", 1.0)),
        nb_alpha=float(p.get("nb_alpha", 1.0)),
        metric=ctx.metric,
        threshold=ctx.threshold,
        tune_threshold=bool(p.get("tune_threshold", True)),
        inner_folds=n_inner,
        class_weight=p.get("class_weight"),
    )


def _tokens(ctx: BuildContext) -> dict[str, str]:
    """The loader's tokenizer and text column (``text_csv`` puts them in ``info``)."""
    return {
        "tokens": str(ctx.info.get("tokens", "words")),
        "column": str(ctx.info.get("text_column", "text")),
    }


def _tfidf(classifier: str) -> Callable[[BuildContext], LinearTextModel]:
    def build(ctx: BuildContext) -> LinearTextModel:
        return _head(ctx, tfidf_featurizer(ctx.params, **_tokens(ctx)), classifier)

    return build


def _word2vec(ctx: BuildContext) -> LinearTextModel:
    p = ctx.params
    featurizer = Word2VecFeaturizer(
        vector_size=int(p.get("vector_size", 100)), window=int(p.get("window", 5)),
        min_count=int(p.get("min_count", 2)), epochs=int(p.get("w2v_epochs", 10)),
        sg=bool(p.get("sg", True)), seed=ctx.seed, vectors=str(p.get("vectors", "word2vec")),
        **_tokens(ctx),
    )  # fmt: skip
    return _head(ctx, featurizer, "lr")


def _sentence(ctx: BuildContext) -> LinearTextModel:
    p = ctx.params
    featurizer = EmbeddingFeaturizer(
        model=str(p.get("model", "all-MiniLM-L6-v2")),
        cache_dir=ctx.info.get("cache_dir"),
        batch_size=int(p.get("batch_size", 64)),
        device=str(p.get("device", "cpu")),
    )
    return _head(ctx, featurizer, "lr")


def _check(ctx: BuildContext) -> None:
    thr.check_threshold(ctx.threshold)
    C = ctx.params.get("C", 1.0)
    if not isinstance(C, int | float) or isinstance(C, bool) or C <= 0:
        raise KKError(f"C = {C!r} must be a number > 0; try 1.0")


_CLASSIFY = ("binary", "multiclass")
# Default search spaces of `kk tune`: the regularisation of the linear heads.
_C = {"C": {"low": 0.1, "high": 30.0, "log": True}}
_SVM_C = {"C": {"low": 0.01, "high": 3.0, "log": True}}
_ALPHA = {"alpha": {"low": 0.1, "high": 30.0, "log": True}}
for _name, _classifier, _tasks, _space in (
    ("tfidf_lr", "lr", _CLASSIFY, _C),
    ("tfidf_svm", "svm", _CLASSIFY, _SVM_C),
    ("tfidf_ridge", "ridge", (*_CLASSIFY, "regression"), _ALPHA),
    ("tfidf_nbsvm", "nbsvm", ("binary",), _C),
):
    register_backend(
        Backend(
            name=_name,
            tasks=_tasks,
            build=_tfidf(_classifier),
            known_params=lambda task: TFIDF_PARAMS | HEAD_PARAMS,
            family="text",
            install_hint=INSTALL_HINT,
            accepts=("texts",),
            check_values=_check,
            default_space=_space,
            packages=("scikit-learn",),
        )
    )
register_backend(
    Backend(
        name="word2vec_lr",
        tasks=_CLASSIFY,
        build=_word2vec,
        known_params=lambda task: W2V_PARAMS | HEAD_PARAMS,
        family="text",
        install_hint=INSTALL_HINT,
        accepts=("texts",),
        check_values=_check,
        default_space=_C,
        packages=("gensim", "scikit-learn"),
    )
)
register_backend(
    Backend(
        name="sentence_lr",
        tasks=_CLASSIFY,
        build=_sentence,
        known_params=lambda task: EMBED_PARAMS | HEAD_PARAMS,
        family="text",
        install_hint=INSTALL_HINT,
        accepts=("texts",),
        check_values=_check,
        default_space=_C,
        packages=("sentence-transformers", "torch", "scikit-learn"),
    )
)

from kagglekit.text import torch_models as _torch_models  # noqa: E402,F401  (lstm, transformer)
