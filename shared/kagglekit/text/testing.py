"""Tiny text competitions and a tiny random transformer, for tests.

``write_text_competition`` writes a few hundred short texts whose label follows from
their words (so every model learns something in one epoch), with a project's own id,
text, side and target columns. ``tiny_transformer`` saves a random 1-layer BERT and its
tokenizer with ``save_pretrained``, so the real ``from_pretrained`` path is tested
without downloading weights. ``check_text_project_on_fixture`` runs a generated nlp
project's config end to end on such a competition (``tests/test_template.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import kagglekit.atomic as atomic

POSITIVE = ["fire", "flood", "storm", "earthquake", "evacuation", "crash", "smoke", "wildfire"]
NEGATIVE = ["happy", "music", "love", "party", "movie", "song", "game", "lunch"]
FILLER = ["the", "a", "is", "in", "on", "at", "my", "this", "that", "today", "now", "just"]


def tiny_texts(n: int, n_classes: int = 2, *, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """``(texts, labels)``: class k's texts draw most words from the k-th word list."""
    rng = np.random.default_rng(seed)
    lists = [POSITIVE, NEGATIVE, FILLER][: max(2, n_classes)]
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    texts = []
    for k in labels:
        words = list(rng.choice(lists[k], 3)) + list(rng.choice(FILLER, 4))
        if rng.random() < 0.3:
            words.append("&amp; http://t.co/x @someone Û_")
        texts.append(" ".join(rng.permutation(words)))
    return texts, labels.astype(np.int64)


def write_text_competition(
    folder: Path,
    *,
    n_train: int = 160,
    n_test: int = 40,
    n_classes: int = 2,
    id_column: str = "id",
    text_column: str = "text",
    side_columns: tuple[str, ...] = (),
    target_column: str = "target",
    train_file: str = "train.csv",
    test_file: str = "test.csv",
    sample_submission_file: str = "sample_submission.csv",
    seed: int = 0,
) -> Path:
    """Write train, test, sample submission and ``solution.csv`` into ``folder``."""
    texts, y = tiny_texts(n_train + n_test, n_classes, seed=seed)
    rng = np.random.default_rng(seed + 1)
    frame = pd.DataFrame({id_column: np.arange(1, n_train + n_test + 1), text_column: texts})
    for col in side_columns:
        values = pd.Series(rng.choice(["a b", "c"], len(frame)), dtype=object)
        frame[col] = values.mask(rng.random(len(frame)) < 0.3)  # some missing, as in tweets
    frame[target_column] = y
    train, test = frame.iloc[:n_train], frame.iloc[n_train:]
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        train_file: train,
        test_file: test.drop(columns=[target_column]),
        sample_submission_file: pd.DataFrame({id_column: test[id_column], target_column: 0}),
        "solution.csv": test[[id_column, target_column]],
    }
    for name, table in files.items():
        atomic.write_bytes(folder / name, table.to_csv(index=False).encode())
    return folder


def tiny_transformer(folder: Path) -> Path:
    """A random 1-layer BERT (hidden 16) and a word-level tokenizer, saved in ``folder``."""
    import transformers

    folder.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = [*specials, *POSITIVE, *NEGATIVE, *FILLER, "http", "@user", "&"]
    tokenizer = transformers.BertTokenizer(vocab={w: i for i, w in enumerate(words)})
    config = transformers.BertConfig(
        vocab_size=len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=64,
    )  # fmt: skip
    transformers.BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def check_text_project_on_fixture(
    project_dir: Path, workdir: Path, *, model: str | None = None, epochs: int = 1
) -> dict[str, Any]:
    """Run an nlp project's config end to end on a tiny competition with its columns.

    Torch entries train ``epochs`` epochs; a transformer entry uses ``tiny_transformer``
    instead of its pretrained model (nothing is downloaded), and ``max_length`` is cut
    to its 64 positions. Returns status, scores and submission size.
    """
    import tomllib

    from kagglekit.config import validate_config
    from kagglekit.testing import ready_copy, train_and_score

    raw = tomllib.loads((Path(project_dir) / "config.toml").read_text(encoding="utf-8"))
    name = raw.get("default_model") if model is None else model
    for entry in raw["models"].values():
        params = entry.setdefault("params", {})
        if entry.get("backend") in ("lstm", "transformer"):
            params.update(epochs=epochs, warmup_epochs=0)
            params["max_length"] = min(int(params.get("max_length", 64)), 64)
        if entry.get("backend") == "transformer":
            params["model"] = str(tiny_transformer(workdir / "tiny-bert"))
            params.pop("tokenizer", None)
    raw["competition"]["solution_file"] = "solution.csv"
    cfg = validate_config(raw, source=f"{project_dir}/config.toml for the fixture")
    comp = cfg.competition
    n_classes = 2 if comp.task == "binary" else 3
    mirror = write_text_competition(
        workdir / "mirror",
        n_classes=n_classes,
        id_column=comp.id_column,
        text_column=str(cfg.data.params.get("text_column", "text")),
        side_columns=tuple(cfg.data.params.get("side_columns", [])),
        target_column=comp.target_column,
        train_file=comp.train_file,
        test_file=comp.test_file,
        sample_submission_file=comp.sample_submission_file,
    )
    project = ready_copy(project_dir, workdir, cfg, mirror)
    outcome = train_and_score(project, cfg, name)
    del outcome["result"]
    return outcome
