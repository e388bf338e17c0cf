"""Word tokens of text in any script: the vocabulary of TF-IDF, word2vec and the LSTM.

``words`` (the default, ``data.params.tokens = "words"``) lower-cases a text and keeps runs
of letters, digits and combining marks of every alphabet (Latin with its accents,
Cyrillic, Greek, Arabic, Devanagari, Hangul, ...), with ``#``, ``@`` and ``'`` kept inside
a token as before, so ``#wildfire``, ``@user`` and ``don't`` stay one token. Chinese and
Japanese have no spaces between words: runs of Han characters and Hiragana are segmented
into words by ``jieba`` (imported the first time such text is seen; ``pip install jieba``,
part of the ``nlp`` extra) or, without jieba, into overlapping character bigrams (as
Lucene's CJK analyser does); a run of Katakana is one word. Thai, Lao, Khmer and Burmese,
also written without spaces, stay one token per run.

``ascii`` is kagglekit's first tokenizer, ``[a-z0-9#@']+`` on the lower-cased text, so
every other character splits a token (``"café"`` -> ``["caf"]``). A project made with it
(projects/disaster-tweets) keeps it to keep its results. On ASCII text the two give the
same tokens.
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
import unicodedata
from collections.abc import Callable
from typing import Any

import numpy as np

from kagglekit.errors import KKError

log = logging.getLogger(__name__)

ASCII_TOKEN = re.compile(r"[a-z0-9#@']+")
# Han (with its extensions and compatibility ideographs), the iteration mark, ideographic
# zero and Hiragana. Katakana is left out: a run of it is one loanword (ホテル, "hotel").
CJK = "\u3005\u3007\u3040-\u309f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
CJK_RUN = re.compile(f"([{CJK}]+)")


@functools.cache
def _word_pattern() -> re.Pattern[str]:
    """Letters and digits (``[^\\W_]``), combining marks of any script, ``#``, ``@``, ``'``.

    Python's ``\\w`` leaves out combining marks (Devanagari's vowel signs, Arabic's
    harakat), which would cut words in two; their ranges are read from ``unicodedata``
    once, on the first text that is not ASCII (about 30 ms).
    """
    marks = [c for c in range(0x300, 0x20000) if unicodedata.category(chr(c)) in ("Mn", "Mc")]
    ranges: list[tuple[int, int]] = []
    for c in marks:
        if ranges and c == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    cls = "".join(re.escape(chr(a)) + ("-" + re.escape(chr(b)) if b > a else "") for a, b in ranges)
    return re.compile(f"(?:[^\\W_]|[#@'{cls}])+")


@functools.cache
def _jieba() -> Any:
    """The ``jieba`` module, or ``None`` (then CJK runs become character bigrams)."""
    try:
        jieba = importlib.import_module("jieba")
    except ImportError:
        log.warning(
            "Chinese/Japanese text: jieba is not installed, so words are character bigrams; "
            "pip install jieba (or pip install 'kagglekit[nlp]') segments them into words"
        )
        return None
    jieba.setLogLevel(logging.WARNING)  # not "Building prefix dict..." on every start
    return jieba


def _bigrams(run: str) -> list[str]:
    """Overlapping character bigrams of a CJK run; a single character is itself."""
    return [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]


def segment(run: str) -> list[str]:
    """A run of Chinese/Japanese characters as words (jieba) or character bigrams."""
    jieba = _jieba()
    if jieba is None:
        return _bigrams(run)
    return [w for w in jieba.lcut(run, HMM=True) if w.strip()]


def ascii_words(text: str) -> list[str]:
    """The ``ascii`` tokens: ``[a-z0-9#@']+`` of the lower-cased text.

    >>> ascii_words("Forest FIRE near #LaRonge! café")
    ['forest', 'fire', 'near', '#laronge', 'caf']
    """
    return ASCII_TOKEN.findall(text.lower())


def words(text: str) -> list[str]:
    """The ``words`` tokens: words of any script, CJK runs segmented (module doc).

    >>> words("Forest FIRE near #LaRonge! café naïve, Привет")
    ['forest', 'fire', 'near', '#laronge', 'café', 'naïve', 'привет']
    """
    text = text.lower()
    if text.isascii():  # the common case: the same tokens as ``ascii_words``, faster
        return ASCII_TOKEN.findall(text)
    out: list[str] = []
    for token in _word_pattern().findall(text):
        if CJK_RUN.search(token) is None:
            out.append(token)
            continue
        # "iphone很好用" -> ["iphone", "很好用"]: the odd pieces are the CJK runs.
        for i, piece in enumerate(CJK_RUN.split(token)):
            if i % 2:
                out += segment(piece)
            elif piece:
                out.append(piece)
    return out


TOKENIZERS: dict[str, Callable[[str], list[str]]] = {"words": words, "ascii": ascii_words}
# The original name, which projects' own code may import.
tokenize = words


def get_tokenizer(name: str) -> Callable[[str], list[str]]:
    """The tokenizer called ``name`` (``"words"`` or ``"ascii"``)."""
    if name not in TOKENIZERS:
        raise KKError(
            f"tokens = {name!r} is not known; use 'words' (any script; the default) or "
            "'ascii' (the [a-z0-9#@']+ tokens of older projects)"
        )
    return TOKENIZERS[name]


def no_tokens(texts: Any, *, column: str, tokens: str) -> KKError:
    """The one-line error for texts none of which has a token, naming the column and why."""
    texts = [str(t) for t in np.asarray(list(texts), dtype=object)]
    n = len(texts)
    where = f"text column '{column}' has no word in any of its {n} training texts"
    if all(not t.strip() for t in texts):
        cause = f"they are all empty after cleaning; check that '{column}' is the text column"
    elif tokens == "ascii" and not all(t.isascii() for t in texts):
        cause = (
            "they are not written in ASCII letters and tokens = 'ascii' keeps only those; "
            'set tokens = "words"'
        )
    else:
        cause = (
            "they hold no letters or digits (only punctuation, symbols or emoji); check "
            f"that '{column}' is the text column, or use char_ngrams"
        )
    return KKError(f"{where}: {cause}")
