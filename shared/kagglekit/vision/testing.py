"""Tiny image competitions in each layout the image loaders read, for tests.

``write_image_competition`` writes a few hundred small images (a class-dependent bright
patch on noise, so a net can learn something in one epoch) as idx files, a CSV of
pixels, an image folder with a labels CSV, or CIFAR python batches.
``check_image_project_on_fixture`` runs a generated vision project's config end to end
on such a competition; the vision template's ``tests/test_template.py`` calls it.
No torch here: the files are written with numpy, pandas and Pillow.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import kagglekit.atomic as atomic

LAYOUTS = ("idx", "pixels_csv", "image_folder", "cifar_batches")


def tiny_images(
    n: int, shape: tuple[int, int, int], n_classes: int, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``(images (n, C, H, W) uint8, labels (n,) int64)``: class k brightens patch k."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes  # every class present, balanced
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, *shape), dtype=np.uint8)
    _, h, w = shape
    band = max(1, w // n_classes)
    for k in range(n_classes):
        images[labels == k, :, : h // 2, k * band : (k + 1) * band] = 220
    return images, labels.astype(np.int64)


def _idx_bytes(arr: np.ndarray) -> bytes:
    header = struct.pack(">I", 0x0800 | arr.ndim) + b"".join(
        struct.pack(">I", d) for d in arr.shape
    )
    return header + arr.astype(np.uint8).tobytes()


def write_image_competition(
    folder: Path,
    layout: str,
    *,
    n_train: int = 120,
    n_test: int = 40,
    n_classes: int = 3,
    shape: tuple[int, int, int] | None = None,
    params: dict[str, Any] | None = None,
    id_column: str = "id",
    target_column: str = "label",
    train_file: str = "train.csv",
    test_file: str = "test.csv",
    seed: int = 0,
) -> Path:
    """Write a tiny competition in ``layout`` into ``folder``; return ``folder``.

    ``params`` are the project's ``[data.params]`` (file names are taken from them, so a
    project's own names are honoured). Test labels are written where the layout carries
    them (idx, pixels CSV, CIFAR), so the loader builds a local solution; the image
    folder layout gets a ``solution.csv`` beside it instead.
    """
    params = params or {}
    one_channel = layout in ("idx", "pixels_csv")
    # CIFAR batches are 3 x 32 x 32 by definition; the others are kept small.
    shape = shape or ((1, 16, 16) if one_channel else (3, 16, 16))
    if layout == "cifar_batches":
        shape = (3, 32, 32)
    x, y = tiny_images(n_train, shape, n_classes, seed=seed)
    x_test, y_test = tiny_images(n_test, shape, n_classes, seed=seed + 1)
    folder.mkdir(parents=True, exist_ok=True)
    if layout == "idx":
        names = {
            "train_images": "train-images-idx3-ubyte.gz",
            "train_labels": "train-labels-idx1-ubyte.gz",
            "test_images": "t10k-images-idx3-ubyte.gz",
            "test_labels": "t10k-labels-idx1-ubyte.gz",
        }
        names.update({k: v for k, v in params.items() if k in names})
        for key, arr in (
            ("train_images", x[:, 0]),
            ("train_labels", y),
            ("test_images", x_test[:, 0]),
            ("test_labels", y_test),
        ):
            data = _idx_bytes(arr.astype(np.uint8))
            name = str(names[key])
            atomic.write_bytes(folder / name, gzip.compress(data) if name.endswith(".gz") else data)
    elif layout == "pixels_csv":
        for name, images, labels in ((train_file, x, y), (test_file, x_test, y_test)):
            frame = pd.DataFrame(
                images.reshape(len(images), -1), columns=[f"pixel{i}" for i in range(x[0].size)]
            )
            frame.insert(0, target_column, labels)
            atomic.write_bytes(folder / name, frame.to_csv(index=False).encode())
    elif layout == "image_folder":
        from PIL import Image

        ext = str(params.get("ext", ".png"))
        start = int(params.get("id_start", 1))
        for sub, images in (
            (str(params.get("train_dir", "train")), x),
            (str(params.get("test_dir", "test")), x_test),
        ):
            (folder / sub).mkdir(parents=True, exist_ok=True)
            for i, img in enumerate(images):
                Image.fromarray(np.ascontiguousarray(img.transpose(1, 2, 0))).save(
                    folder / sub / f"{start + i}{ext}"
                )
        class_names = [str(n) for n in params.get("label_names", [])] or [
            f"class{k}" for k in range(n_classes)
        ]
        labels_file = str(params.get("labels_file", "trainLabels.csv"))
        for name, labels in ((labels_file, y), ("solution.csv", y_test)):
            frame = pd.DataFrame(
                {
                    id_column: np.arange(start, start + len(labels)),
                    target_column: np.asarray(class_names, dtype=object)[labels],
                }
            )
            atomic.write_bytes(folder / name, frame.to_csv(index=False).encode())
    elif layout == "cifar_batches":
        batch_dir = folder / str(params.get("folder", "cifar-10-batches-py"))
        batch_dir.mkdir(parents=True, exist_ok=True)
        batches = [
            str(b) for b in params.get("train_batches", [f"data_batch_{i}" for i in range(1, 6)])
        ]
        for name, idx in zip(
            batches, np.array_split(np.arange(n_train), len(batches)), strict=True
        ):
            batch = {b"data": x[idx].reshape(len(idx), -1), b"labels": y[idx].tolist()}
            atomic.write_bytes(batch_dir / name, pickle.dumps(batch, protocol=4))
        test = {b"data": x_test.reshape(n_test, -1), b"labels": y_test.tolist()}
        atomic.write_bytes(
            batch_dir / str(params.get("test_batch", "test_batch")), pickle.dumps(test)
        )
    else:
        raise ValueError(f"layout '{layout}' is not one of {', '.join(LAYOUTS)}")
    return folder


def fixture_layout(cfg: Any) -> str:
    """The layout to write for a project: its loader's, or ``idx`` for ``auto``."""
    loader = str(cfg.data.loader)
    return loader if loader in LAYOUTS else "idx"


def check_image_project_on_fixture(
    project_dir: Path, workdir: Path, *, model: str | None = None, epochs: int = 1
) -> dict[str, Any]:
    """Run a vision project's config end to end on a tiny competition in its layout.

    Writes the competition (the project's loader, file names, id and target columns and
    classes) into ``workdir/mirror``, fetches it, assigns the project's folds, runs the
    ``--smoke`` check, trains ``model`` (default: the config's) for ``epochs`` epochs,
    and scores the submission against the local solution.
    """
    import tomllib

    from kagglekit.config import validate_config

    raw = tomllib.loads((Path(project_dir) / "config.toml").read_text(encoding="utf-8"))
    name = raw.get("default_model") if model is None else model
    for entry in raw["models"].values():
        # Warm-up longer than the run is refused by the trainer: none at this length.
        params = entry.setdefault("params", {})
        params.update(epochs=epochs, warmup_epochs=0)
        # Narrow nets, as the tabular fixture caps its forests: the check is that the
        # entry runs, and a full-width ResNet-9 takes many seconds per epoch on a CPU.
        if entry.get("backend") == "cnn":
            params["channels"] = [min(int(c), 8) for c in params.get("channels", [32, 64, 128])]
        if entry.get("backend") == "resnet":
            params["widths"] = [min(int(w), 16) for w in params.get("widths", [64, 128, 256, 512])]
        if entry.get("backend") == "fastnet":
            params["widths"] = [min(int(w), 16) for w in params.get("widths", [64, 256, 256])]
    cfg = validate_config(raw, source=f"{project_dir}/config.toml for the fixture")
    comp = cfg.competition
    n_classes = len(cfg.data.params.get("label_names", [])) or 3
    if comp.task == "binary":
        n_classes = 2
    mirror = write_image_competition(
        workdir / "mirror",
        fixture_layout(cfg),
        n_classes=n_classes,
        params=cfg.data.params,
        id_column=comp.id_column,
        target_column=comp.target_column,
        train_file=comp.train_file,
        test_file=comp.test_file,
    )
    from kagglekit.testing import ready_copy, train_and_score

    project = ready_copy(project_dir, workdir, cfg, mirror)
    outcome = train_and_score(project, cfg, name)
    return {k: v for k, v in outcome.items() if k not in ("record", "result")}
