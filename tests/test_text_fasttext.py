"""FastText vectors (``vectors = "fasttext"`` of ``word2vec_lr``): sub-words give unseen,
misspelt and hashtagged words a vector; word2vec gives them none."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytest.importorskip("gensim")

from kagglekit.errors import KKError
from kagglekit.metrics import get_metric
from kagglekit.models.base import BuildContext, get_backend
from kagglekit.text.loaders import Texts
from kagglekit.text.models import Word2VecFeaturizer, train_word2vec
from kagglekit.text.testing import tiny_texts

F1 = get_metric("f1")


def _ctx(**params: Any) -> BuildContext:
    return BuildContext(task="binary", n_classes=2, seed=0, params=params,
                        early_stopping_rounds=0, metric=F1)  # fmt: skip


def test_fasttext_gives_unseen_words_a_vector_from_their_pieces() -> None:
    texts, _ = tiny_texts(120, seed=1)
    seen = texts[0].split()[0]
    unseen = f"#{seen}zz"  # a hashtag and a misspelling of a training word
    vectors = {}
    for kind in ("word2vec", "fasttext"):
        featurizer = Word2VecFeaturizer(min_count=1, epochs=3, vectors=kind, tokens="ascii")
        featurizer.fit_transform(Texts.of(texts))
        vectors[kind] = featurizer._mean(Texts.of([unseen]))[0]
    assert not vectors["word2vec"].any()  # word2vec knows no such word: a zero row
    assert np.abs(vectors["fasttext"]).sum() > 0
    wv = train_word2vec(texts, min_count=1, epochs=3, vectors="fasttext", tokens="ascii")
    assert unseen not in wv.key_to_index
    # The misspelt hashtag lands nearer its word than most of the vocabulary.
    assert wv.similarity(unseen, seen) > np.median(
        [wv.similarity(unseen, w) for w in wv.index_to_key]
    )


def test_the_fasttext_backend_learns_and_repeats_with_its_seed() -> None:
    texts, y = tiny_texts(120, seed=1)
    preds = []
    for _ in range(2):
        model = get_backend("word2vec_lr", task="binary").build(
            _ctx(min_count=1, vectors="fasttext", w2v_epochs=5)
        )
        model.fit(Texts.of(texts[:90]), y[:90])
        preds.append(model.predict(Texts.of(texts[90:])))
    assert preds[0].shape == (30,) and F1(y[90:], preds[0]) > 0.8
    np.testing.assert_array_equal(preds[0], preds[1])


def test_an_unknown_kind_of_vectors_is_a_one_line_error() -> None:
    with pytest.raises(KKError, match=r"vectors 'glove' is not known.*fasttext, word2vec"):
        get_backend("word2vec_lr").build(_ctx(vectors="glove"))
    with pytest.raises(KKError, match="vectors 'glove' is not known"):
        train_word2vec(["a b"], vectors="glove")
