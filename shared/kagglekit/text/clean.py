"""Text cleaning: an explicit, tested step before any features or tokenizer.

Tweets (and most scraped text) carry noise no model learns from: links, user handles,
HTML entities (``&amp;``) and mojibake, UTF-8 decoded as Latin-1 and re-encoded, such
as ``Û_`` or ``åÊ`` in Kaggle's disaster tweets. ``clean_texts`` replaces links and
handles by placeholder words (that a tweet has a link is itself a signal), unescapes
entities and drops the mojibake, vectorised with pandas' regex replace.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

URL = r"(?:https?://|www\.)\S+"
MENTION = r"@\w+"
# Latin-1 supplement characters (U+0080-U+00FF) come from mis-decoded UTF-8 here: runs of
# them, with the "_" or "ª"-like byte that often follows, are dropped. English text has
# few real accented letters; set mojibake = false for text where they matter.
MOJIBAKE = r"[\u0080-\u00ff]+_?"
SPACES = r"\s+"


@dataclass(frozen=True)
class Cleaning:
    """What ``clean_texts`` does; each step can be turned off.

    Parameters
    ----------
    urls, mentions
        Replace links by ``url_token`` and ``@handles`` by ``mention_token`` ("" drops
        them).
    entities
        Unescape HTML entities (``&amp;`` -> ``&``, ``&gt;`` -> ``>``).
    mojibake
        Drop runs of U+0080-U+00FF characters (mis-decoded UTF-8 such as ``Û_``).
    lowercase
        Lower-case the text (TF-IDF lower-cases anyway; transformers have their own).
    """

    urls: bool = True
    mentions: bool = True
    entities: bool = True
    mojibake: bool = True
    lowercase: bool = False
    url_token: str = "http"
    mention_token: str = "@user"


def clean_texts(texts: Any, cleaning: Cleaning | None = None) -> np.ndarray:
    """Cleaned texts as an object array of ``str`` (whitespace collapsed and stripped).

    >>> clean_texts(["Fire!! &amp; smoke Û_ http://t.co/x @bob"]).tolist()
    ['Fire!! & smoke http @user']
    """
    c = cleaning or Cleaning()
    s = pd.Series(np.asarray(texts, dtype=object)).fillna("").astype(str)
    if c.urls:
        s = s.str.replace(URL, f" {c.url_token} ", regex=True)
    if c.mentions:
        s = s.str.replace(MENTION, f" {c.mention_token} ", regex=True)
    if c.entities:
        # Entities are rare: unescape only the texts that have one (html.unescape is Python),
        # twice, since scraped text is sometimes escaped twice ("&amp;amp;").
        has = s.str.contains("&", regex=False)
        s[has] = s[has].map(html.unescape).map(html.unescape)
    if c.mojibake:
        s = s.str.replace(MOJIBAKE, " ", regex=True)
    if c.lowercase:
        s = s.str.lower()
    s = s.str.replace(SPACES, " ", regex=True).str.strip()
    return np.asarray(s.to_numpy(dtype=object))
