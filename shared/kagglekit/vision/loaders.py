"""Image data loaders: the file layouts image competitions ship, as one ``Dataset`` each.

- ``idx``: Zalando's / LeCun's idx files (Fashion-MNIST, MNIST; what torchvision downloads).
- ``pixels_csv``: Kaggle's CSV of pixels (``label,pixel0..pixel783``: digit-recognizer,
  the Fashion-MNIST Kaggle dataset, whose test CSV carries labels).
- ``image_folder``: one image file per id plus a labels CSV (Kaggle's cifar-10).
- ``cifar_batches``: CIFAR-10's python pickles.

Rows are uint8 arrays N x C x H x W (numpy: ``kk folds`` needs no torch). Decoded arrays
are cached in ``data/interim/`` keyed by the raw files' checksums. Test labels, where the
files carry them, become the local solution that ``kk score`` reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kagglekit.errors import KKError
from kagglekit.loaders import (
    Dataset,
    Loader,
    cached_arrays,
    check_params,
    default_sample_submission,
    param,
    register_loader,
)
from kagglekit.vision import readers

if TYPE_CHECKING:
    from kagglekit.config import ProjectConfig
    from kagglekit.project import Project


def _sample_or_none(project: Project, cfg: ProjectConfig) -> pd.DataFrame | None:
    """The competition's sample submission when the raw files have one."""
    from kagglekit.data import read_table

    path = project.raw_dir / cfg.competition.sample_submission_file
    return read_table(path) if path.is_file() else None


def _test_ids(project: Project, cfg: ProjectConfig, n_test: int) -> pd.Series:
    """Test ids: the sample submission's when it has one row per image, else positions.

    ``data.params.id_start`` shifts the positions (digit-recognizer's ImageId starts at 1).
    """
    id_column = cfg.competition.id_column
    sample = _sample_or_none(project, cfg)
    if sample is not None and len(sample) == n_test:
        return pd.Series(sample.iloc[:, 0].to_numpy(), name=id_column)
    start = int(param(cfg, "id_start", 0, kind=int))
    return pd.Series(np.arange(start, start + n_test), name=id_column)


def _dataset(
    project: Project,
    cfg: ProjectConfig,
    arrays: dict[str, np.ndarray],
    *,
    label_names: list[str] | None = None,
    train_ids: pd.Series | None = None,
    test_ids: pd.Series | None = None,
) -> Dataset:
    """One images ``Dataset`` from decoded arrays ``x``, ``y``, ``x_test`` [, ``y_test``]."""
    comp = cfg.competition
    X, y, X_test = arrays["x"], arrays["y"], arrays["x_test"]
    readers.check_images(X, "train")
    readers.check_images(X_test, "test")
    if X.shape[1:] != X_test.shape[1:]:
        raise KKError(
            f"train images are {X.shape[1:]} but test images are {X_test.shape[1:]}; "
            "train and test must have one image size (resize one of them)"
        )
    names = label_names or param(cfg, "label_names", [], kind=list) or None
    ids = train_ids if train_ids is not None else pd.Series(np.arange(len(X)), name=comp.id_column)
    test_ids = test_ids if test_ids is not None else _test_ids(project, cfg, len(X_test))
    use_names = bool(param(cfg, "submit_label_names", False, kind=bool)) and names is not None
    target = pd.Series(
        np.asarray(names, dtype=object)[y] if use_names else y, name=comp.target_column
    )
    classes: list[Any] | None = None
    if use_names and names is not None:
        classes = list(names)  # the data's own order, not the sorted names
    elif names is not None:
        classes = list(range(len(names)))
    if classes is not None:
        readers.check_labels(y, len(classes), where="train labels")
    sample = _sample_or_none(project, cfg)
    if sample is None:
        fill = classes[0] if classes else target.iloc[0]
        sample = default_sample_submission(test_ids, comp.target_column, fill)
    solution = None
    if "y_test" in arrays:
        y_test = arrays["y_test"]
        truth = np.asarray(names, dtype=object)[y_test] if use_names and names else y_test
        solution = pd.DataFrame({comp.id_column: test_ids.to_numpy(), comp.target_column: truth})
    info: dict[str, Any] = {"input_shape": tuple(int(d) for d in X.shape[1:])}
    if names is not None:
        info["label_names"] = list(names)
    return Dataset(
        kind="images",
        X=X,
        X_test=X_test,
        target=target,
        ids=ids,
        test_ids=test_ids,
        sample_submission=sample,
        classes=classes,
        info=info,
        solution=solution,
    )


# --- idx -------------------------------------------------------------------------------------

_IDX_PARAMS = {"train_images", "train_labels", "test_images", "test_labels", "label_names"}
_IDX_PARAMS |= {"id_start", "submit_label_names"}


def _idx_required(cfg: ProjectConfig) -> list[str]:
    names = ["train_images", "train_labels", "test_images"]
    return [str(param(cfg, n, kind=str)) for n in names]


def load_idx(project: Project, cfg: ProjectConfig) -> Dataset:
    """Fashion-MNIST / MNIST idx files; ``test_labels`` (optional) becomes the solution."""
    check_params(cfg, _IDX_PARAMS)
    raw = project.raw_dir

    def decode() -> dict[str, np.ndarray]:
        x, y = readers.read_idx_pair(
            raw / param(cfg, "train_images", kind=str), raw / param(cfg, "train_labels", kind=str)
        )
        out = {"x": x, "y": y}
        test_labels = param(cfg, "test_labels", "", kind=str)
        if test_labels:
            out["x_test"], out["y_test"] = readers.read_idx_pair(
                raw / param(cfg, "test_images", kind=str), raw / test_labels
            )
        else:
            out["x_test"] = readers.read_idx(raw / param(cfg, "test_images", kind=str))
        return out

    return _dataset(project, cfg, cached_arrays(project, cfg, decode))


# --- pixels_csv ----------------------------------------------------------------------------

_PIXEL_PARAMS = {"label_names", "id_start", "submit_label_names", "id_column", "shape"}


def _csv_required(cfg: ProjectConfig) -> list[str]:
    return [cfg.competition.train_file, cfg.competition.test_file]


def load_pixels_csv(project: Project, cfg: ProjectConfig) -> Dataset:
    """Kaggle's CSV of pixels; a label column in the test file becomes the solution."""
    check_params(cfg, _PIXEL_PARAMS)
    comp, raw = cfg.competition, project.raw_dir
    id_column = param(cfg, "id_column", "", kind=str) or None
    shape_param = param(cfg, "shape", [], kind=list)
    shape = tuple(int(v) for v in shape_param) if shape_param else None

    def decode() -> dict[str, np.ndarray]:
        x, y, ids = readers.read_pixels_csv(
            raw / comp.train_file,
            label_column=comp.target_column,
            id_column=id_column,
            shape=shape,  # type: ignore[arg-type]
        )
        if y is None:
            raise KKError(
                f"{raw / comp.train_file} has no '{comp.target_column}' column; fix "
                "competition.target_column (the label column of the pixels CSV)"
            )
        x_test, y_test, test_ids = readers.read_pixels_csv(
            raw / comp.test_file,
            label_column=comp.target_column,
            id_column=id_column,
            shape=shape,  # type: ignore[arg-type]
        )
        out = {"x": x, "y": y, "x_test": x_test}
        if y_test is not None:
            out["y_test"] = y_test
        if ids is not None and test_ids is not None:
            out["ids"], out["test_ids"] = ids, test_ids
        return out

    arrays = cached_arrays(project, cfg, decode)
    name = comp.id_column
    train_ids = pd.Series(arrays["ids"], name=name) if "ids" in arrays else None
    test_ids = pd.Series(arrays["test_ids"], name=name) if "test_ids" in arrays else None
    return _dataset(project, cfg, arrays, train_ids=train_ids, test_ids=test_ids)


# --- image_folder --------------------------------------------------------------------------

_FOLDER_PARAMS = {"train_dir", "test_dir", "labels_file", "ext", "mode", "label_names"}
_FOLDER_PARAMS |= {"submit_label_names", "id_start"}


def _folder_required(cfg: ProjectConfig) -> list[str]:
    return [str(param(cfg, "labels_file", "trainLabels.csv", kind=str))]


def _numeric_first(ids: list[str]) -> list[str]:
    """Ids in numeric order when they are all numbers (``2.png`` before ``10.png``)."""
    if all(i.isdigit() for i in ids):
        return sorted(ids, key=int)
    return sorted(ids)


def load_image_folder(project: Project, cfg: ProjectConfig) -> Dataset:
    """One image file per id (``train/1.png``) plus a labels CSV (``id,label``).

    Labels that are text (cifar-10's ``cat``, ``dog``) are submitted as text: the class
    order is sorted, or ``data.params.label_names``.
    """
    check_params(cfg, _FOLDER_PARAMS)
    comp, raw = cfg.competition, project.raw_dir
    train_dir = raw / param(cfg, "train_dir", "train", kind=str)
    test_dir = raw / param(cfg, "test_dir", "test", kind=str)
    ext = param(cfg, "ext", ".png", kind=str)
    mode = param(cfg, "mode", "RGB", kind=str)
    labels = readers.read_labels_csv(
        raw / param(cfg, "labels_file", "trainLabels.csv", kind=str),
        id_column=comp.id_column,
        label_column=comp.target_column,
    )
    train_ids = _numeric_first(readers.list_image_ids(train_dir, ext=ext))
    y_text = readers.match_labels(train_ids, labels)
    sample = _sample_or_none(project, cfg)
    if sample is not None:
        test_ids = [str(v) for v in sample.iloc[:, 0]]
    else:
        test_ids = _numeric_first(readers.list_image_ids(test_dir, ext=ext))

    def decode() -> dict[str, np.ndarray]:
        return {
            "x": readers.read_image_folder(train_dir, train_ids, ext=ext, mode=mode),
            "x_test": readers.read_image_folder(test_dir, test_ids, ext=ext, mode=mode),
        }

    arrays = cached_arrays(project, cfg, decode)
    names = param(cfg, "label_names", [], kind=list) or sorted({str(v) for v in y_text})
    index = {str(n): i for i, n in enumerate(names)}
    unknown = sorted({str(v) for v in y_text} - set(index))
    if unknown:
        raise KKError(
            f"labels {unknown[:5]} are not in data.params.label_names; add them or fix the labels"
        )
    y = np.array([index[str(v)] for v in y_text], dtype=np.int64)

    def as_ids(values: list[str]) -> pd.Series:
        series = pd.Series(values, name=comp.id_column)
        return series.astype(np.int64) if all(v.isdigit() for v in values) else series

    text_labels = not all(str(n).lstrip("-").isdigit() for n in names)
    params_with_names = {**cfg.data.params, "submit_label_names": text_labels}
    cfg_names = cfg.model_copy(
        update={"data": cfg.data.model_copy(update={"params": params_with_names})}
    )
    return _dataset(
        project,
        cfg_names,
        {**arrays, "y": y},
        label_names=[str(n) for n in names],
        train_ids=as_ids(train_ids),
        test_ids=as_ids(test_ids),
    )


# --- cifar_batches -------------------------------------------------------------------------

_CIFAR_PARAMS = {"folder", "train_batches", "test_batch", "submit_label_names", "label_names"}


def _cifar_paths(cfg: ProjectConfig) -> tuple[list[str], str]:
    folder = str(param(cfg, "folder", "cifar-10-batches-py", kind=str))
    batches = param(cfg, "train_batches", [f"data_batch_{i}" for i in range(1, 6)], kind=list)
    test = str(param(cfg, "test_batch", "test_batch", kind=str))
    return [f"{folder}/{b}" for b in batches], f"{folder}/{test}"


def _cifar_required(cfg: ProjectConfig) -> list[str]:
    train, test = _cifar_paths(cfg)
    return [*train, test]


def load_cifar_batches(project: Project, cfg: ProjectConfig) -> Dataset:
    """CIFAR-10 python batches; test ids are the row index in ``test_batch``.

    Submissions name the classes as Kaggle's cifar-10 spells them (``airplane``, ...)
    unless ``data.params.submit_label_names = false``.
    """
    check_params(cfg, _CIFAR_PARAMS)
    train, test = _cifar_paths(cfg)
    raw = project.raw_dir
    names_holder: dict[str, list[str] | None] = {}

    def decode() -> dict[str, np.ndarray]:
        x, y, _ = readers.read_cifar_batches([raw / p for p in train])
        x_test, y_test, _ = readers.read_cifar_batches([raw / test])
        return {"x": x, "y": y, "x_test": x_test, "y_test": y_test}

    arrays = cached_arrays(project, cfg, decode)
    meta = Path(raw / train[0]).parent / "batches.meta"
    names_holder["names"] = readers.read_cifar_label_names(meta) if meta.is_file() else None
    names = param(cfg, "label_names", [], kind=list) or names_holder["names"]
    params = {"submit_label_names": True, **cfg.data.params}
    cfg_names = cfg.model_copy(update={"data": cfg.data.model_copy(update={"params": params})})
    return _dataset(project, cfg_names, arrays, label_names=names)


register_loader(Loader("idx", load_idx, _idx_required, doc="idx image + label files"))
register_loader(
    Loader("pixels_csv", load_pixels_csv, _csv_required, doc="a CSV of pixels per image")
)
register_loader(
    Loader("image_folder", load_image_folder, _folder_required, doc="image files + labels CSV")
)
register_loader(
    Loader("cifar_batches", load_cifar_batches, _cifar_required, doc="CIFAR python batches")
)
