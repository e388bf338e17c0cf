"""Tiny text competitions and a tiny random transformer, for tests.

``write_text_competition`` writes a few hundred short texts whose label follows from
their words (so every model learns something in one epoch), with a project's own id,
text, side and target columns. ``tiny_transformer`` saves a random 1-layer BERT and its
tokenizer with ``save_pretrained``, so the real ``from_pretrained`` path is tested
without downloading weights. ``check_text_project_on_fixture`` runs a generated nlp
project's config end to end on such a competition (``tests/test_template.py``).
"""

# ruff: noqa: RUF001  (Chinese text is written with full-width punctuation)
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import kagglekit.atomic as atomic
from kagglekit.text.tokens import CJK_RUN

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


# Short product reviews written for these tests (1: pleased, 0: not), with a few in
# accented Latin and in Cyrillic: a text of any script must pass every text backend.
REVIEWS: list[tuple[str, int]] = [
    ("这本书写得很好，我非常喜欢。", 1),
    ("质量不错，物流也很快，推荐购买。", 1),
    ("手机很好用，电池也耐用，满意。", 1),
    ("价格便宜，味道好极了，下次还来。", 1),
    ("服务态度热情，房间干净，值得推荐。", 1),
    ("孩子很喜欢这个玩具，质量很好。", 1),
    ("屏幕清晰，运行流畅，非常满意。", 1),
    ("包装精美，送朋友很合适，好评。", 1),
    ("内容精彩，翻译也很流畅，推荐阅读。", 1),
    ("性价比很高，用了一个月没有问题。", 1),
    ("衣服很漂亮，尺码合适，很满意。", 1),
    ("快递很快，东西和描述一样，好评。", 1),
    ("音质很好，戴着舒服，喜欢。", 1),
    ("酒店位置方便，早餐丰富，推荐。", 1),
    ("东京のホテルはとても良かったです。", 1),
    ("Très bon café, service génial et prix doux.", 1),
    ("Отличная книга, очень понравилась.", 1),
    ("Producto excelente, llegó rápido, ¡muy contento!", 1),
    ("太失望了，质量很差，不推荐。", 0),
    ("用了两天就坏了，要求退货。", 0),
    ("物流太慢，包装也破了，差评。", 0),
    ("味道很差，价格还贵，不会再来。", 0),
    ("客服态度恶劣，问题一直没解决。", 0),
    ("电池不耐用，发热严重，后悔买了。", 0),
    ("书的印刷很差，错字很多，失望。", 0),
    ("房间又脏又吵，服务很差。", 0),
    ("尺码不对，颜色也和图片不一样，退货。", 0),
    ("屏幕有坏点，卖家不给换，糟糕。", 0),
    ("声音太小，戴着耳朵疼，不推荐。", 0),
    ("内容空洞，浪费时间，很失望。", 0),
    ("收到的东西是旧的，差评。", 0),
    ("酒店太远，早餐难吃，不会再住。", 0),
    ("このレストランは最悪でした。", 0),
    ("Café tiède, serveur désagréable, très déçu.", 0),
    ("Ужасное качество, не рекомендую.", 0),
    ("Muy malo, llegó roto, no lo recomiendo.", 0),
]
# Words of each class and filler, for texts as many as a test needs (``multiscript_texts``).
PLEASED = ["很好", "喜欢", "满意", "推荐", "好评", "流畅", "génial", "отлично", "très bien"]
DISPLEASED = ["很差", "失望", "退货", "差评", "后悔", "糟糕", "déçu", "ужасно", "très mal"]
TOPICS = ["这本书", "手机", "质量", "快递", "价格", "酒店", "服务", "café", "naïve", "книга"]


def multiscript_texts(n: int, *, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """``(texts, labels)``: Chinese reviews (no spaces) with accented Latin and Cyrillic.

    The first ``len(REVIEWS)`` texts are ``REVIEWS``; the others join two words of their
    class and two topic words, so the label follows from the words, as in ``tiny_texts``.
    """
    rng = np.random.default_rng(seed)
    texts = [t for t, _ in REVIEWS][:n]
    labels = [k for _, k in REVIEWS][:n]
    for k in rng.integers(0, 2, max(0, n - len(texts))):
        words = [*rng.choice([DISPLEASED, PLEASED][k], 2), *rng.choice(TOPICS, 2)]
        rng.shuffle(words)
        sep = "" if all(CJK_RUN.fullmatch(w) for w in words) else " "  # Chinese: no spaces
        texts.append(sep.join(words) + "。")
        labels.append(int(k))
    return texts, np.asarray(labels, dtype=np.int64)


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
    script: str = "latin",
) -> Path:
    """Write train, test, sample submission and ``solution.csv`` into ``folder``.

    ``script = "chinese"``: binary Chinese reviews with some accented Latin and Cyrillic
    (``multiscript_texts``) instead of English-like word lists.
    """
    if script == "chinese":
        texts, y = multiscript_texts(n_train + n_test, seed=seed)
    else:
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
    project_dir: Path, workdir: Path, *, model: str | None = None, epochs: int = 1,
    script: str = "latin",
) -> dict[str, Any]:  # fmt: skip
    """Run an nlp project's config end to end on a tiny competition with its columns.

    ``script`` picks the texts (``write_text_competition``). Torch entries train ``epochs``
    epochs; a transformer entry uses ``tiny_transformer``
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
        script=script,
    )
    project = ready_copy(project_dir, workdir, cfg, mirror)
    outcome = train_and_score(project, cfg, name)
    del outcome["result"]
    return outcome
