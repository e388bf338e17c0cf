"""The ``text_csv`` loader: any text-classification CSV as one ``texts`` Dataset.

A train and a test CSV with an id, a text column, optional side columns (Kaggle's
disaster tweets: ``keyword`` and ``location``) and, in train, the target. Column names
come from the config (``competition.id_column``, ``target_column`` and
``[data.params] text_column`` / ``side_columns``). Texts are cleaned here, once
(``kagglekit.text.clean``: ``clean = true`` is the general cleaning that keeps every
alphabet, ``clean = "tweets"`` adds the tweet repairs, ``clean = false`` keeps them as they
are). ``tokens`` names the word tokenizer the models use (``kagglekit.text.tokens``:
``"words"``, any script, the default; ``"ascii"``, that of older projects); it reaches
them through ``Dataset.info`` with the text column's name.

Rows are ``Texts``: the texts and their side columns, indexed together, so the CV loop's
``take`` selects a fold's rows of both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kagglekit.data.tables import check_frames, read_table
from kagglekit.errors import KKError, plain, short_list
from kagglekit.loaders import (
    Dataset,
    Loader,
    check_params,
    default_sample_submission,
    param,
    register_loader,
)
from kagglekit.text.clean import Cleaning, as_cleaning, clean_texts
from kagglekit.text.tokens import get_tokenizer

if TYPE_CHECKING:
    from kagglekit.config import ProjectConfig
    from kagglekit.project import Project

PARAMS = {"text_column", "side_columns", "clean", "empty_text", "cleaning", "tokens"}
EMPTY_TEXT = ("error", "keep")


@dataclass(frozen=True)
class Texts:
    """Texts and their side columns, one row each; ``Texts[idx]`` takes rows of both.

    Attributes
    ----------
    text : np.ndarray
        (n,) object array of ``str``.
    side : pd.DataFrame
        (n, k) side columns as strings ("" where missing); k may be 0.
    """

    text: np.ndarray
    side: pd.DataFrame

    def __post_init__(self) -> None:
        if len(self.side) != len(self.text):
            raise KKError(f"Texts: {len(self.text)} texts but {len(self.side)} side rows")

    def __len__(self) -> int:
        return len(self.text)

    def __getitem__(self, idx: Any) -> Texts:
        return Texts(self.text[idx], self.side.iloc[idx].reset_index(drop=True))

    @classmethod
    def concat(cls, parts: Sequence[Texts]) -> Texts:
        """The rows of ``parts`` one after another (``models.base.concat`` calls it)."""
        return cls(
            np.concatenate([p.text for p in parts]),
            pd.concat([p.side for p in parts], ignore_index=True),
        )

    @classmethod
    def of(cls, texts: Any, side: pd.DataFrame | None = None) -> Texts:
        """``Texts`` from a list of strings (and optional side columns)."""
        text = np.asarray(list(texts), dtype=object)
        return cls(text, side if side is not None else pd.DataFrame(index=range(len(text))))


def as_texts(X: Any) -> Texts:
    """``X`` as ``Texts`` (a list or array of strings is accepted too)."""
    if isinstance(X, Texts):
        return X
    if isinstance(X, pd.Series):
        return Texts.of(X.tolist())
    if isinstance(X, list | tuple | np.ndarray):
        return Texts.of(X)
    raise KKError(f"a text model got {type(X).__name__} rows; it reads texts (loader = 'text_csv')")


def _texts_of(
    frame: pd.DataFrame,
    name: str,
    text_column: str,
    side_columns: list[str],
    id_column: str,
    *,
    cleaning: Cleaning | None,
    empty_text: str,
) -> Texts:
    for col in [text_column, *side_columns]:
        if col not in frame.columns:
            what = "text column" if col == text_column else "side column"
            key = "text_column" if col == text_column else "side_columns"
            raise KKError(
                f"{what} '{col}' is not in {name} (columns: {short_list(frame.columns)}); "
                f"set data.params.{key} in config.toml"
            )
    raw = frame[text_column]
    text = clean_texts(raw, cleaning) if cleaning is not None else raw.fillna("").astype(str)
    text = np.asarray(text, dtype=object)
    empty = np.array([not t.strip() for t in text])
    if empty.any() and empty_text == "error":
        first = frame[id_column].iloc[int(np.flatnonzero(empty)[0])]
        after = " after cleaning" if cleaning is not None else ""
        raise KKError(
            f"{int(empty.sum())} {name} row(s) have an empty or all-whitespace '{text_column}'"
            f"{after} (first {id_column} = {plain(first)!r}); fix those rows, or set "
            'data.params.empty_text = "keep" to give them an empty text'
        )
    side = frame[side_columns].fillna("").astype(str).reset_index(drop=True)
    if cleaning is not None and side_columns:
        # keyword values are URL-encoded in the disaster tweets ("body%20bags").
        side = side.apply(lambda c: c.str.replace("%20", " ", regex=False))
    return Texts(text, side)


def load_text_csv(project: Project, cfg: ProjectConfig) -> Dataset:
    """Train and test CSVs with a text column as a ``texts`` Dataset."""
    check_params(cfg, PARAMS)
    comp = cfg.competition
    text_column = str(param(cfg, "text_column", "text", kind=str))
    side_columns = [str(c) for c in param(cfg, "side_columns", [], kind=list)]
    clean = param(cfg, "clean", True)  # true, false, "general" or "tweets": as_cleaning checks
    tokens = str(param(cfg, "tokens", "words", kind=str))
    empty_text = str(param(cfg, "empty_text", "error", kind=str))
    if empty_text not in EMPTY_TEXT:
        raise KKError(
            f"data.params.empty_text = {empty_text!r} is not known; use 'error' or 'keep'"
        )
    options = dict(param(cfg, "cleaning", {}, kind=dict))
    if options and clean is True:
        # Step overrides were written against the tweet repairs (clean = true meant them
        # until the general cleaning became the default): keep that base for them.
        clean = "tweets"
    try:
        get_tokenizer(tokens)  # a misspelt name fails here, not in the first fold
        cleaning = as_cleaning(clean, options)
    except KKError as err:
        raise KKError(f"data.params.{err}") from None
    raw = project.raw_dir
    train = read_table(raw / comp.train_file)
    test = read_table(raw / comp.test_file)
    test = check_frames(train, test, comp)
    sample_path = raw / comp.sample_submission_file
    solution = read_table(raw / comp.solution_file) if comp.solution_file else None
    kwargs = dict(cleaning=cleaning, empty_text=empty_text)
    X = _texts_of(train, "train", text_column, side_columns, comp.id_column, **kwargs)  # type: ignore[arg-type]
    X_test = _texts_of(test, "test", text_column, side_columns, comp.id_column, **kwargs)  # type: ignore[arg-type]
    test_ids = test[comp.id_column].reset_index(drop=True)
    target = train[comp.target_column].reset_index(drop=True)
    sample = (
        read_table(sample_path)
        if sample_path.is_file()
        else default_sample_submission(test_ids, comp.target_column, target.iloc[0])
    )
    return Dataset(
        kind="texts",
        X=X,
        X_test=X_test,
        target=target,
        ids=train[comp.id_column].reset_index(drop=True),
        test_ids=test_ids,
        sample_submission=sample,
        side=train,
        test_side=test,
        info={
            "text_column": text_column,
            "side_columns": side_columns,
            "tokens": tokens,
            # Sentence embeddings are cached here, keyed by model and text (text.embeddings).
            "cache_dir": str(project.interim_dir / "embeddings"),
        },
        solution=solution,
    )


def _required(cfg: ProjectConfig) -> list[str]:
    comp = cfg.competition
    return [comp.train_file, comp.test_file]


register_loader(
    Loader(
        "text_csv",
        load_text_csv,
        _required,
        doc="train/test CSVs with a text column (and optional side columns)",
    )
)
