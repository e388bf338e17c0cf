"""A competition from a folder of images sorted into class folders: ``kk make-competition``.

A learner's own image data usually sits as ``digits/0/*.png``, ``digits/1/*.png`` ...
(torchvision's ``ImageFolder`` layout). :func:`make_image_competition` turns it into what
Kaggle's image competitions ship (cifar-10's layout, which the vision loaders read):
``train/<id>.png`` and ``test/<id>.png``, ``trainLabels.csv`` (id, label),
``sample_submission.csv`` and a ``solution.csv`` with Kaggle's ``Usage`` column, split
stratified by class. Ids are numbered in a random order, so an id says nothing about its
class. The files are written into a folder beside ``out`` and moved into place at the end:
an interrupted call leaves no half competition.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import kagglekit.atomic as atomic
from kagglekit.data.synthetic import (
    check_out,
    check_split,
    kk_new_line,
    matching_answers,
    scoring_frames,
    slug_of,
)
from kagglekit.data.tables import infer_task
from kagglekit.errors import KKError, short_list
from kagglekit.tasks import get_task

# The image files kagglekit reads (the vision loaders' auto layout uses the same list).
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
LABELS_FILE = "trainLabels.csv"


def class_images(folder: Path) -> list[tuple[Path, str]]:
    """``(image path, class)`` for every image in ``folder``'s class folders, in name order;
    a one-line error for a folder that is not laid out so."""
    folder = Path(folder)
    if not folder.is_dir():
        raise KKError(f"{folder} is not a folder of class folders (digits/0/*.png ...)")
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise KKError(
            f"{folder} has {len(classes)} class folder(s); put each class's images in a folder "
            f"named after the class ({folder}/cat/*.png, {folder}/dog/*.png ...)"
        )
    rows: list[tuple[Path, str]] = []
    few = []
    for cls in classes:
        images = sorted(p for p in cls.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
        if len(images) < 2:
            few.append(f"{cls.name} ({len(images)})")
        rows += [(path, cls.name) for path in images]
    if few:
        raise KKError(
            f"class folder(s) with fewer than 2 images in {folder}: {short_list(few, 5)}; the "
            f"stratified split needs 2 per class (images: {', '.join(IMAGE_EXTS)})"
        )
    return rows


def make_image_competition(
    folder: Path,
    *,
    out: Path,
    test_size: float = 0.3,
    seed: int = 0,
    public_fraction: float = 0.5,
    submission_format: str = "labels",
) -> dict[str, Any]:
    """Write a competition from ``folder``'s class folders into ``out`` (module doc); returns
    what :func:`kagglekit.data.synthetic.make_competition` returns, for the vision kind."""
    from sklearn.model_selection import train_test_split

    check_split(submission_format, test_size)
    out = Path(out)
    check_out(out)
    rows = class_images(folder)
    labels = np.array([label for _, label in rows])
    rng = np.random.default_rng(seed)
    ids = rng.permutation(len(rows)) + 1
    try:
        train_idx, test_idx = train_test_split(
            np.arange(len(rows)), test_size=test_size, random_state=seed, stratify=labels
        )
    except ValueError as err:  # a test share too small to hold every class once
        raise KKError(
            f"--test-size {test_size} leaves too few test images for {len(set(labels))} "
            f"classes ({err}); raise it"
        ) from None
    exts = {path.suffix.lower() for path, _ in rows}
    # One extension is what the loader reads (`ext`); mixed files are re-encoded as PNG.
    ext = exts.pop() if len(exts) == 1 else ".png"
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        for split, index in (("train", train_idx), ("test", test_idx)):
            (partial / split).mkdir(parents=True)
            for i in index:
                _place(rows[i][0], partial / split / f"{ids[i]}{ext}")
    except BaseException:  # nothing half-written stays beside --out
        shutil.rmtree(partial, ignore_errors=True)
        raise
    train = pd.DataFrame({"id": ids[train_idx], "label": labels[train_idx]}).sort_values("id")
    test = pd.DataFrame({"id": ids[test_idx], "label": labels[test_idx]}).sort_values("id")
    task = get_task(infer_task(pd.Series(labels)))
    sample, solution = scoring_frames(
        train["label"], test["id"], test["label"], task=task,
        submission_format=submission_format, seed=seed, public_fraction=public_fraction,
    )  # fmt: skip
    for name, table in {
        LABELS_FILE: train,
        "sample_submission.csv": sample,
        "solution.csv": solution,
    }.items():
        atomic.write_bytes(partial / name, table.to_csv(index=False).encode("utf-8"))
    if out.exists():
        out.rmdir()  # empty (checked above)
    partial.rename(out)
    info: dict[str, Any] = {
        "out": str(out),
        "task": task.name,
        "id_column": "id",
        "target_column": "label",
        "n_train": len(train),
        "n_test": len(test),
        "solution_file": "solution.csv",
        **matching_answers(task, submission_format),
        "slug": slug_of(out),
        "kind": "vision",
        "answers": {"layout": "auto"},
        "why": f"{len(rows)} images in {len(set(labels))} class folders",
    }
    info["kk_new"] = kk_new_line(info)
    return info


def _place(source: Path, dest: Path) -> None:
    """Copy an image, or re-encode it as PNG when the competition's extension differs."""
    if source.suffix.lower() == dest.suffix:
        shutil.copyfile(source, dest)
        return
    try:
        from PIL import Image
    except ImportError:
        raise KKError(
            f"{source} is one of several image formats here and re-encoding it as PNG needs "
            "Pillow: pip install -e '.[vision]'"
        ) from None
    try:
        with Image.open(source) as image:
            image.save(dest, format="PNG")
    except OSError as err:  # PIL's UnidentifiedImageError is one
        raise KKError(
            f"{source} cannot be read as an image ({err}); remove or replace it"
        ) from None
