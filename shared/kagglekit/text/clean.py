"""Text cleaning: an explicit, tested step before any features or tokenizer.

Two presets. ``general`` (the default, ``clean = true``) keeps letters of every alphabet:
it applies Unicode NFKC normalisation (full-width ``ＡＢＣ１２３`` and ``，`` become
``ABC123`` and ``,``; ligatures and composed accents become one form) and collapses
whitespace; ASCII text comes out as it went in, whitespace aside.

``tweets`` (``clean = "tweets"``) adds the repairs that scraped tweets need and no other
text does: links and user handles become placeholder words (that a tweet has a link is
itself a signal), HTML entities (``&amp;``) are unescaped and mojibake is dropped, UTF-8
decoded as Latin-1 and re-encoded, such as ``Û_`` or ``åÊ`` in Kaggle's disaster
tweets. Dropping mojibake drops every Latin-1 letter (``é``, ``ñ``) with it, which is why
it is not the default. Every step can be turned on or off on top of either preset
(``data.params.cleaning = { entities = true }``). Vectorised with pandas' string methods.
"""

# ruff: noqa: RUF002  (Chinese text is written with full-width punctuation)
from __future__ import annotations

import html
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from kagglekit.errors import KKError

URL = r"(?:https?://|www\.)\S+"
MENTION = r"@\w+"
# Latin-1 supplement characters (U+0080-U+00FF) come from mis-decoded UTF-8 here: runs of
# them, with the "_" or "ª"-like byte that often follows, are dropped. English text has
# few real accented letters: the tweets preset only, and mojibake = false turns it off.
MOJIBAKE = r"[\u0080-\u00ff]+_?"
SPACES = r"\s+"


@dataclass(frozen=True)
class Cleaning:
    """What ``clean_texts`` does; ``Cleaning()`` is the ``general`` preset.

    Parameters
    ----------
    normalize
        Unicode NFKC normalisation (full-width forms, ligatures, composed accents).
    urls, mentions
        Replace links by ``url_token`` and ``@handles`` by ``mention_token`` ("" drops
        them).
    entities
        Unescape HTML entities (``&amp;`` -> ``&``, ``&gt;`` -> ``>``).
    mojibake
        Drop runs of U+0080-U+00FF characters (mis-decoded UTF-8 such as ``Û_``), and
        with them every Latin-1 letter.
    lowercase
        Lower-case the text (TF-IDF lower-cases anyway; transformers have their own).
    """

    normalize: bool = True
    urls: bool = False
    mentions: bool = False
    entities: bool = False
    mojibake: bool = False
    lowercase: bool = False
    url_token: str = "http"
    mention_token: str = "@user"


PRESETS: dict[str, Cleaning] = {
    "general": Cleaning(),
    # The cleaning kagglekit's tweet projects were made with, step for step (no NFKC).
    "tweets": Cleaning(normalize=False, urls=True, mentions=True, entities=True, mojibake=True),
}


def cleaning_preset(name: str, **overrides: Any) -> Cleaning:
    """The preset ``name`` (``"general"`` or ``"tweets"``) with some steps changed.

    >>> cleaning_preset("tweets", mojibake=False).urls
    True
    """
    if name not in PRESETS:
        raise KKError(
            f"clean = {name!r} is not a cleaning preset; use true (general: any script), "
            '"tweets" (links, handles, HTML entities, mojibake) or false'
        )
    unknown = [k for k in overrides if k not in Cleaning.__dataclass_fields__]
    if unknown:
        raise KKError(
            f"cleaning has an unknown key ({', '.join(unknown)}); known: "
            f"{', '.join(Cleaning.__dataclass_fields__)}"
        )
    return replace(PRESETS[name], **overrides)


def as_cleaning(clean: Any, overrides: dict[str, Any] | None = None) -> Cleaning | None:
    """A ``clean`` setting as a ``Cleaning``: true/"general", "tweets", or false (None)."""
    if clean is False:
        return None
    if clean is True:
        clean = "general"
    if not isinstance(clean, str):
        raise KKError(
            f'clean = {clean!r} must be true, false, "general" or "tweets"; e.g. '
            'clean = "tweets" for tweets'
        )
    return cleaning_preset(clean, **(overrides or {}))


def clean_texts(texts: Any, cleaning: Cleaning | None = None) -> np.ndarray:
    """Cleaned texts as an object array of ``str`` (whitespace collapsed and stripped).

    >>> clean_texts(["Café  naïve ＡＢＣ，Привет"]).tolist()
    ['Café naïve ABC,Привет']
    >>> clean_texts(["Fire!! &amp; smoke Û_ http://t.co/x @bob"], PRESETS["tweets"]).tolist()
    ['Fire!! & smoke http @user']
    """
    c = cleaning or Cleaning()
    s = pd.Series(np.asarray(texts, dtype=object)).fillna("").astype(str)
    if c.normalize:
        s = s.str.normalize("NFKC")
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
