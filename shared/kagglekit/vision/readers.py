"""Readers for the image layouts Kaggle and the classic datasets ship, numpy only.

Every reader returns images as one uint8 array of shape (N, C, H, W) with C in 1 or 3, and
labels as an int64 array of shape (N,). Every bad input raises a one-line
:class:`~kagglekit.errors.KKError` that names the file, what is wrong and the fix.

Layouts:

- ``read_idx`` / ``read_idx_pair``: LeCun's idx files (MNIST, Zalando's Fashion-MNIST),
  gzipped or not.
- ``read_pixels_csv``: a CSV with one row per image and one column per pixel (Kaggle's
  digit-recognizer, the Fashion-MNIST Kaggle dataset).
- ``read_image_folder`` + ``read_labels_csv`` / ``match_labels``: one image file per id and
  a labels CSV (Kaggle's cifar-10 competition: ``train/1.png`` and ``trainLabels.csv``).
- ``read_cifar_batches``: the CIFAR-10 "python version" pickles.

torch is never imported here: reading and splitting data must work without it.
"""

from __future__ import annotations

import gzip
import math
import os
import pickle
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kagglekit.errors import KKError

IDX_LABELS_MAGIC = 0x0801  # unsigned bytes, 1 dimension
IDX_IMAGES_MAGIC = 0x0803  # unsigned bytes, 3 dimensions
_GZIP_MAGIC = b"\x1f\x8b"
_CIFAR_ROW = 3 * 32 * 32
_MODES = {"L": 1, "RGB": 3}


# ---------------------------------------------------------------- checks


def check_images(images: Any, where: str) -> np.ndarray:
    """Check that ``images`` is a uint8 (N, C, H, W) array with C in 1 or 3.

    Parameters
    ----------
    images
        The array to check.
    where
        What the array is (a file name, "train images"), for the error message.

    Returns
    -------
    numpy.ndarray
        ``images`` itself.
    """
    if not isinstance(images, np.ndarray):
        raise KKError(f"{where}: expected a numpy array of images, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise KKError(
            f"{where}: images have dtype {images.dtype}, expected uint8 (0..255); "
            "convert them with np.clip(x, 0, 255).astype(np.uint8)"
        )
    if images.ndim != 4:
        raise KKError(
            f"{where}: images have shape {images.shape}, expected 4 dimensions (N, C, H, W); "
            "add the channel axis with x[:, None] for grey images"
        )
    if images.shape[1] not in (1, 3):
        raise KKError(
            f"{where}: images have {images.shape[1]} channels (shape {images.shape}), expected "
            "1 or 3 in (N, C, H, W) order; transpose channels-last arrays with "
            "x.transpose(0, 3, 1, 2)"
        )
    return images


def check_labels(labels: Any, n_classes: int, *, where: str = "labels") -> np.ndarray:
    """Check integer class labels: 1-D, integer, every value in ``0 .. n_classes - 1``.

    Returns the labels as int64.
    """
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise KKError(f"{where}: labels have shape {arr.shape}, expected one label per row (N,)")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise KKError(
            f"{where}: labels have dtype {arr.dtype}, expected integer class codes "
            f"0..{n_classes - 1}; encode text labels to codes first"
        )
    bad = np.flatnonzero((arr < 0) | (arr >= n_classes))
    if bad.size:
        i = int(bad[0])
        raise KKError(
            f"{where}: label {arr[i]} at row {i} is outside 0..{n_classes - 1} "
            f"({bad.size} labels out of range); check n_classes ({n_classes}) or the label file"
        )
    return arr.astype(np.int64, copy=False)


# ---------------------------------------------------------------- idx


def _read_maybe_gzip(path: Path) -> bytes:
    """The file's bytes, decompressed when it starts with the gzip magic (whatever its name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KKError(f"{path}: file not found; check the path (or run kk fetch)") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise KKError(
            f"{path}: a damaged gzip file ({exc}); download it again (its checksum will differ)"
        ) from None


def read_idx(path: str | Path) -> np.ndarray:
    """Read one idx file: images as (N, 1, H, W) uint8 or labels as (N,) int64.

    The format (LeCun's MNIST page): a big-endian header of two zero bytes, a type byte
    (0x08 = unsigned byte), the number of dimensions, then one uint32 per dimension, then
    the data. Magic 0x0801 is a label file, 0x0803 an image file. Gzipped files are
    recognised by their first two bytes, not by the name.

    Examples
    --------
    >>> images = read_idx("train-images-idx3-ubyte.gz")  # doctest: +SKIP
    >>> images.shape                                      # doctest: +SKIP
    (60000, 1, 28, 28)
    """
    path = Path(path)
    data = _read_maybe_gzip(path)
    if len(data) < 4:
        raise KKError(f"{path}: {len(data)} bytes, too short for an idx header; download it again")
    magic = int.from_bytes(data[:4], "big")
    if magic not in (IDX_LABELS_MAGIC, IDX_IMAGES_MAGIC):
        raise KKError(
            f"{path}: magic number 0x{magic:08x} is not an idx label file (0x00000801) or image "
            "file (0x00000803) of unsigned bytes; is it the right file (not an HTML error page "
            "or a different format)?"
        )
    n_dims = data[3]
    header_end = 4 + 4 * n_dims
    if len(data) < header_end:
        raise KKError(
            f"{path}: truncated header ({len(data)} bytes, {header_end} needed); download it again"
        )
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims))
    expected = header_end + math.prod(dims)
    if len(data) < expected:
        raise KKError(
            f"{path}: truncated: the header says {dims} = {expected - header_end} bytes of data "
            f"but the file holds {len(data) - header_end}; download it again"
        )
    if len(data) > expected:
        raise KKError(
            f"{path}: the header's dims {dims} account for {expected - header_end} bytes of data "
            f"but the file holds {len(data) - header_end}; the header and data do not match"
        )
    arr = np.frombuffer(data, dtype=np.uint8, offset=header_end).reshape(dims)
    if magic == IDX_LABELS_MAGIC:
        return arr.astype(np.int64)
    # (N, H, W) -> (N, 1, H, W); copy so the array owns writable memory, not the bytes object.
    return arr[:, None].copy()


def read_idx_pair(
    images_path: str | Path, labels_path: str | Path
) -> tuple[np.ndarray, np.ndarray]:
    """Read an idx image file and its label file: images (N, 1, H, W) uint8, labels (N,) int64."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 4:
        raise KKError(
            f"{images_path}: is an idx label file, not an image file; pass the images first "
            "(read_idx_pair(images_path, labels_path))"
        )
    if labels.ndim != 1:
        raise KKError(
            f"{labels_path}: is an idx image file, not a label file; pass the labels second "
            "(read_idx_pair(images_path, labels_path))"
        )
    if len(images) != len(labels):
        raise KKError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} "
            "labels; pair the files of the same split (train with train, t10k with t10k)"
        )
    return check_images(images, str(images_path)), labels


# ---------------------------------------------------------------- pixels CSV


_COLUMNS_HINT = "the label and id columns (competition.target_column, data.params.id_column)"


def _square_shape(n_pixels: int, path: Path) -> tuple[int, int, int]:
    side = math.isqrt(n_pixels)
    if side * side != n_pixels:
        raise KKError(
            f"{path}: {n_pixels} pixel columns is not a square image (28 x 28 = 784); "
            f"set data.params.shape = [C, H, W], or check {_COLUMNS_HINT}"
        )
    return (1, side, side)


def read_pixels_csv(
    path: str | Path,
    *,
    label_column: str | None = "label",
    id_column: str | None = None,
    shape: tuple[int, int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Read a CSV with one row per image and one integer column per pixel.

    Kaggle's digit-recognizer ``train.csv`` is ``label,pixel0,...,pixel783``; its
    ``test.csv`` has no label column; the Fashion-MNIST Kaggle dataset's test CSV does.
    Every column other than the label and id columns is a pixel, in (C, H, W) row-major
    order.

    Parameters
    ----------
    path
        The CSV file (a ``.gz`` or ``.zip`` is decompressed by pandas).
    label_column
        The label column; when the file has no such column the labels are ``None``
        (a test file). ``None``: the file has no labels.
    id_column
        An id column that must be present, or ``None`` (ids are not read).
    shape
        (C, H, W); by default a square grey image (1, H, W) from the pixel count.

    Returns
    -------
    tuple
        ``(images (N, C, H, W) uint8, labels (N,) int64 or None, ids (N,) or None)``.
    """
    path = Path(path)
    if not path.is_file():
        raise KKError(f"{path}: file not found; check the path (or run kk fetch)")
    try:
        frame = pd.read_csv(path)  # the C parser: no Python loop over rows
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KKError(f"{path}: not a readable CSV ({first}); check the file") from None
    columns = [str(c) for c in frame.columns]
    frame.columns = pd.Index(columns)
    ids: np.ndarray | None = None
    if id_column is not None:
        if id_column not in columns:
            raise KKError(
                f"{path}: id column '{id_column}' is not in the header ({', '.join(columns[:5])}, "
                "...); pass the right id_column= or id_column=None"
            )
        ids = frame.pop(id_column).to_numpy()
    labels: np.ndarray | None = None
    if label_column is not None and label_column in frame.columns:
        label_values = frame.pop(label_column)
        if not pd.api.types.is_integer_dtype(label_values):
            bad = _first_non_integer(label_values)
            raise KKError(
                f"{path}: column '{label_column}' holds a non-integer label {bad[1]!r} at row "
                f"{bad[0]}; labels must be integer class codes (or pass label_column=None)"
            )
        labels = label_values.to_numpy(dtype=np.int64)
    n_pixels = frame.shape[1]
    if n_pixels == 0:
        raise KKError(f"{path}: no pixel columns left after the label and id columns")
    if shape is None:
        shape = _square_shape(n_pixels, path)
    elif math.prod(shape) != n_pixels:
        raise KKError(
            f"{path}: {n_pixels} pixel columns but shape {list(shape)} needs {math.prod(shape)}; "
            f"fix data.params.shape, or check {_COLUMNS_HINT}"
        )
    for column in frame.columns:
        values = frame[column]
        if not pd.api.types.is_integer_dtype(values):
            row, value = _first_non_integer(values)
            raise KKError(
                f"{path}: pixel column '{column}' holds {value!r} at row {row}; pixels must be "
                "integers 0..255 (missing or fractional values: fix the file)"
            )
    pixels = frame.to_numpy()
    out_of_range = (pixels < 0) | (pixels > 255)
    if out_of_range.any():
        row, col = np.argwhere(out_of_range)[0]
        raise KKError(
            f"{path}: pixel column '{frame.columns[col]}' holds {pixels[row, col]} at row {row}; "
            "pixels must be 0..255 (rescale the image data to uint8)"
        )
    images = pixels.astype(np.uint8).reshape(len(frame), *shape)
    return check_images(images, str(path)), labels, ids


def _first_non_integer(values: pd.Series) -> tuple[int, Any]:
    """The first row whose value is not a whole number (NaN, 0.5, text), and that value."""
    numeric = pd.to_numeric(values, errors="coerce")
    bad = numeric.isna().to_numpy() | (numeric.fillna(0) % 1 != 0).to_numpy()
    if not bad.any():  # whole floats only, e.g. 3.0: name the first
        first = values.iloc[0]
        return 0, first.item() if isinstance(first, np.generic) else first
    i = int(np.flatnonzero(bad)[0])
    value = values.iloc[i]
    return i, value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------- image folders


def list_image_ids(folder: str | Path, *, ext: str = ".png") -> list[str]:
    """The ids (file stems) of the ``*ext`` files in ``folder``, numerically sorted when numeric."""
    folder = Path(folder)
    if not folder.is_dir():
        raise KKError(f"{folder}: not a folder; check the path (or run kk fetch)")
    stems = [p.name[: -len(ext)] for p in folder.iterdir() if p.name.endswith(ext)]
    if all(s.isdigit() for s in stems):
        return sorted(stems, key=int)
    return sorted(stems)


def _decode(path: Path, mode: str) -> np.ndarray:
    """One image file as an (H, W, C) uint8 array."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            arr = np.asarray(img.convert(mode))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise KKError(
            f"{path}: not a readable image ({type(exc).__name__}: {exc}); replace or remove the file"
        ) from None
    return arr if arr.ndim == 3 else arr[:, :, None]


def read_image_folder(
    folder: str | Path,
    ids: Iterable[Any],
    *,
    ext: str = ".png",
    mode: str = "RGB",
    n_threads: int | None = None,
    fit: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Read ``folder/<id><ext>`` for every id, in order, as one (N, C, H, W) uint8 array.

    Larger images are decoded on a thread pool (Pillow releases the GIL while it decodes),
    and each image is written straight into its row of the output.

    Parameters
    ----------
    folder
        The folder holding one file per id (Kaggle's cifar-10: ``train/1.png``...).
    ids
        The ids to read, in the order of the returned rows.
    ext
        The file extension, with its dot.
    mode
        Pillow mode to convert to: ``"RGB"`` (C = 3) or ``"L"`` (grey, C = 1).
    n_threads
        Decoding threads; default one for images under 64 x 64 pixels (threads only
        contend for the GIL there), else ``min(8, cpu count)``.
    fit
        Applied to each decoded (H, W, C) image, e.g. ``vision.resize.image_fitter``'s
        step that brings images of many sizes to one.
    """
    if mode not in _MODES:
        raise KKError(f"image mode '{mode}' is not supported; use 'RGB' (colour) or 'L' (grey)")
    folder = Path(folder)
    if not folder.is_dir():
        raise KKError(f"{folder}: not a folder; check the path (or run kk fetch)")
    id_list = [str(i) for i in ids]
    if not id_list:
        raise KKError(f"{folder}: no ids given to read")
    paths = [folder / f"{i}{ext}" for i in id_list]
    missing = [i for i, p in zip(id_list, paths, strict=True) if not p.is_file()]
    if missing:
        raise KKError(
            f"{folder}: {len(missing)} of {len(id_list)} images are missing, e.g. "
            f"{', '.join(missing[:5])} (looked for <id>{ext}); fetch the full folder or drop "
            "those ids from the labels file"
        )

    def decode(path: Path) -> np.ndarray:
        return _decode(path, mode) if fit is None else fit(_decode(path, mode))

    first = decode(paths[0])
    height, width, channels = first.shape
    out = np.empty((len(paths), height, width, channels), dtype=np.uint8)
    out[0] = first
    sizes: dict[tuple[int, int], str] = {(height, width): id_list[0]}

    def load(rows: range) -> None:
        for i in rows:
            arr = decode(paths[i])
            if arr.shape[:2] != (height, width):
                sizes.setdefault(arr.shape[:2], id_list[i])  # dict writes are atomic (GIL)
                continue
            out[i] = arr

    # Small PNGs decode in less time than the Python around each decode holds the GIL, so
    # threads only add contention: 32 x 32 PNGs read at ~8k/s on one thread and ~5k/s on two;
    # 128 x 128 at ~0.9-2.5k/s on one and ~3k/s on two (2 busy cores).
    workers = n_threads or (1 if height * width < 64 * 64 else min(8, os.cpu_count() or 1))
    # Contiguous chunks, a few per thread: one task per image costs more in thread
    # hand-offs than decoding a 32 x 32 PNG does.
    step = max(1, math.ceil((len(paths) - 1) / (4 * workers)))
    chunks = [range(s, min(s + step, len(paths))) for s in range(1, len(paths), step)]
    if workers == 1:
        for chunk in chunks:
            load(chunk)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(load, chunks))  # list() re-raises the first error of a worker
    if len(sizes) > 1:
        examples = "; ".join(f"{i}{ext} is {w}x{h}" for (h, w), i in sizes.items())
        raise KKError(
            f"{folder}: images have {len(sizes)} different sizes ({examples}); bring them to "
            "one with data.params.image_size = [H, W] (and resize = 'resize', 'pad' or 'crop')"
        )
    images = np.ascontiguousarray(out.transpose(0, 3, 1, 2))  # (N, H, W, C) -> (N, C, H, W)
    return check_images(images, str(folder))


def read_labels_csv(path: str | Path, *, id_column: str, label_column: str) -> pd.Series:
    """Read a labels CSV (``id,label`` rows) as a Series of labels indexed by id (as text).

    Ids are read as text so that they match file names (``1`` is ``1.png``). Labels keep
    their type: class names stay text, codes stay integers.
    """
    path = Path(path)
    if not path.is_file():
        raise KKError(f"{path}: file not found; check the path (or run kk fetch)")
    frame = pd.read_csv(path, dtype={id_column: str})
    for column, what in ((id_column, "id_column"), (label_column, "label_column")):
        if column not in frame.columns:
            raise KKError(
                f"{path}: column '{column}' is not in the header ({', '.join(map(str, frame.columns))}); "
                f"pass the right {what}="
            )
    if frame[label_column].isna().any():
        row = int(np.flatnonzero(frame[label_column].isna().to_numpy())[0])
        raise KKError(
            f"{path}: row {row} (id {frame[id_column].iloc[row]}) has no label; fix the file"
        )
    duplicated = frame[id_column].duplicated()
    if duplicated.any():
        dup = frame[id_column][duplicated].iloc[0]
        raise KKError(
            f"{path}: id {dup} appears {int((frame[id_column] == dup).sum())} times; each image "
            "needs exactly one label"
        )
    return pd.Series(
        frame[label_column].to_numpy(), index=pd.Index(frame[id_column]), name=label_column
    )


def match_labels(
    ids_in_folder: Sequence[Any], labels: pd.Series, *, allow_unlabelled: bool = False
) -> np.ndarray:
    """The labels of ``ids_in_folder``, in that order.

    A label naming an image that is not in the folder is an error (the labels and the
    images do not belong together); so is an image without a label unless
    ``allow_unlabelled`` (then its label is missing: ``None``).
    """
    folder_ids = pd.Index([str(i) for i in ids_in_folder])
    label_ids = pd.Index([str(i) for i in labels.index])
    extra = label_ids.difference(folder_ids, sort=False)
    if len(extra):
        raise KKError(
            f"the labels name {len(extra)} images that are not in the folder, e.g. "
            f"{', '.join(map(str, extra[:5]))}; fetch the missing images or use the labels file "
            "of this folder"
        )
    positions = label_ids.get_indexer(folder_ids)
    if not allow_unlabelled and (positions < 0).any():
        unlabelled = folder_ids[positions < 0]
        raise KKError(
            f"{len(unlabelled)} images in the folder have no label, e.g. "
            f"{', '.join(map(str, unlabelled[:5]))}; add them to the labels file or remove them"
        )
    values = labels.to_numpy()
    if (positions < 0).any():
        values = values.astype(object)
        return np.array([values[p] if p >= 0 else None for p in positions], dtype=object)
    return values[positions]


# ---------------------------------------------------------------- CIFAR-10 pickles


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a batch file runs no other code."""

    _ALLOWED = frozenset(
        {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _load_pickle(path: Path) -> dict[bytes, Any]:
    try:
        with open(path, "rb") as fh:
            obj = _ArrayUnpickler(fh, encoding="bytes").load()
    except FileNotFoundError:
        raise KKError(f"{path}: file not found; check the path (or run kk fetch)") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as exc:
        raise KKError(
            f"{path}: not a CIFAR python batch ({type(exc).__name__}: {exc}); use the files of "
            "cifar-10-python.tar.gz (data_batch_1..5, test_batch)"
        ) from None
    if not isinstance(obj, dict):
        raise KKError(f"{path}: holds a {type(obj).__name__}, not a CIFAR batch dict")
    # Pickled by Python 2 the keys are bytes; by Python 3 they may be text.
    return {k.encode() if isinstance(k, str) else k: v for k, v in obj.items()}


def read_cifar_label_names(path: str | Path) -> list[str]:
    """Class names from a CIFAR ``batches.meta`` (``label_names``) or ``meta`` (``fine_label_names``)."""
    path = Path(path)
    meta = _load_pickle(path)
    names = meta.get(b"label_names", meta.get(b"fine_label_names"))
    if not isinstance(names, list):
        raise KKError(f"{path}: has no label_names list; is it batches.meta?")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def read_cifar_batches(
    paths: Sequence[str | Path],
) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """Read CIFAR-10 python batches and concatenate them in the order given.

    Each file is a pickle of a dict with ``data`` (N x 3072 uint8: 1024 red, 1024 green,
    1024 blue values per row, row-major) and ``labels`` (CIFAR-100: ``fine_labels``).
    Only plain containers and numpy arrays are unpickled, so a tampered file cannot run code.

    Returns
    -------
    tuple
        ``(images (N, 3, 32, 32) uint8, labels (N,) int64, label names or None)``; the names
        come from ``batches.meta`` beside the first file when it is there.
    """
    if not paths:
        raise KKError(
            "read_cifar_batches: no batch files given (e.g. data_batch_1 .. data_batch_5)"
        )
    images, labels = [], []
    for p in map(Path, paths):
        batch = _load_pickle(p)
        label_key = b"fine_labels" if b"fine_labels" in batch else b"labels"
        missing = [k.decode() for k in (b"data", label_key) if k not in batch]
        if missing:
            found = ", ".join(k.decode(errors="replace") for k in batch)
            raise KKError(
                f"{p}: a batch dict without {', '.join(missing)} (has: {found}); is it "
                "batches.meta or another dataset's file?"
            )
        data = batch[b"data"]
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
            raise KKError(
                f"{p}: 'data' is {getattr(data, 'dtype', type(data).__name__)} with shape "
                f"{getattr(data, 'shape', '?')}, expected uint8 (N, {_CIFAR_ROW})"
            )
        if data.shape[1] != _CIFAR_ROW:
            raise KKError(
                f"{p}: rows of {data.shape[1]} values, expected {_CIFAR_ROW} (3 x 32 x 32); "
                "not a CIFAR-10/100 batch"
            )
        y = np.asarray(batch[label_key])
        if y.shape != (len(data),) or not np.issubdtype(y.dtype, np.integer):
            raise KKError(
                f"{p}: {y.shape[0] if y.ndim else 0} labels for {len(data)} images (dtype {y.dtype}); "
                "the file is damaged"
            )
        images.append(data.reshape(len(data), 3, 32, 32))
        labels.append(y.astype(np.int64))
    meta = Path(paths[0]).parent / "batches.meta"
    names = read_cifar_label_names(meta) if meta.is_file() else None
    all_images = np.concatenate(images) if len(images) > 1 else images[0].copy()
    return check_images(all_images, str(paths[0])), np.concatenate(labels), names
