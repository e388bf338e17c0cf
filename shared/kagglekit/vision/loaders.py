"""Image data loaders: the file layouts image competitions ship, as one ``Dataset`` each.

- ``idx``: Zalando's / LeCun's idx files (Fashion-MNIST, MNIST; what torchvision downloads).
- ``pixels_csv``: Kaggle's CSV of pixels (``label,pixel0..pixel783``: digit-recognizer,
  the Fashion-MNIST Kaggle dataset, whose test CSV carries labels).
- ``image_folder``: one image file per id plus a labels CSV (Kaggle's cifar-10).
- ``cifar_batches``: CIFAR-10's python pickles.
- ``auto``: recognises which of these the raw files are and reads them with it.

Rows are uint8 arrays N x C x H x W (numpy: ``kk folds`` needs no torch). Decoded arrays
are cached in ``data/interim/`` keyed by the raw files' checksums. Test labels, where the
files carry them, become the local solution that ``kk score`` reads.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kagglekit.data.image_competition import IMAGE_EXTS
from kagglekit.data.tables import read_table
from kagglekit.errors import KKError
from kagglekit.loaders import (
    Dataset,
    Loader,
    cached_arrays,
    check_params,
    default_sample_submission,
    get_loader,
    param,
    register_loader,
)
from kagglekit.vision import readers, resize

if TYPE_CHECKING:
    from kagglekit.config import ProjectConfig
    from kagglekit.project import Project

log = logging.getLogger(__name__)


def _sample_or_none(project: Project, cfg: ProjectConfig) -> pd.DataFrame | None:
    """The competition's sample submission when the raw files have one."""
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
            "bring both to one size with data.params.image_size = [H, W]"
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


def _sized(
    cfg: ProjectConfig, decode: Callable[[], dict[str, np.ndarray]]
) -> Callable[[], dict[str, np.ndarray]]:
    """``decode``, then its images brought to ``data.params.image_size`` (before caching)."""
    resize.size_params(cfg.data.params)  # a bad size fails before any decoding

    def build() -> dict[str, np.ndarray]:
        arrays = decode()
        for key in ("x", "x_test"):
            arrays[key] = resize.fit_array(arrays[key], cfg.data.params)
        return arrays

    return build


# --- idx -------------------------------------------------------------------------------------

# Every image loader reads data.params.image_size and resize (kagglekit.vision.resize).
_SIZE_PARAMS = {"image_size", "resize"}
_IDX_PARAMS = {"train_images", "train_labels", "test_images", "test_labels", "label_names"}
_IDX_PARAMS |= {"id_start", "submit_label_names", *_SIZE_PARAMS}


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

    return _dataset(project, cfg, cached_arrays(project, cfg, _sized(cfg, decode)))


# --- pixels_csv ----------------------------------------------------------------------------

_PIXEL_PARAMS = {"label_names", "id_start", "submit_label_names", "id_column", "shape"}
_PIXEL_PARAMS |= _SIZE_PARAMS


def _csv_required(cfg: ProjectConfig) -> list[str]:
    return [cfg.competition.train_file, cfg.competition.test_file]


def _check_label_column(path: Path, header: list[str], target: str) -> None:
    """Name the fix when the label column is spelt in another case than target_column.

    Digit-recognizer style files say ``label`` where the submission says ``Label``:
    the pixels CSV's own spelling is the one to configure, and the submission keeps the
    sample submission's column names whatever competition.target_column says.
    """
    if target in header:
        return
    same = [c for c in header if c.lower() == target.lower()]
    if same:
        raise KKError(
            f"{path.name} has no '{target}' column but has '{same[0]}'; set "
            f'competition.target_column = "{same[0]}" (submissions keep the sample '
            "submission's column names)"
        )


def load_pixels_csv(project: Project, cfg: ProjectConfig) -> Dataset:
    """Kaggle's CSV of pixels; a label column in the test file becomes the solution."""
    check_params(cfg, _PIXEL_PARAMS)
    comp, raw = cfg.competition, project.raw_dir
    if (raw / comp.train_file).is_file():
        header = [str(c) for c in pd.read_csv(raw / comp.train_file, nrows=0).columns]
        _check_label_column(raw / comp.train_file, header, comp.target_column)
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

    arrays = cached_arrays(project, cfg, _sized(cfg, decode))
    name = comp.id_column
    train_ids = pd.Series(arrays["ids"], name=name) if "ids" in arrays else None
    test_ids = pd.Series(arrays["test_ids"], name=name) if "test_ids" in arrays else None
    return _dataset(project, cfg, arrays, train_ids=train_ids, test_ids=test_ids)


# --- image_folder --------------------------------------------------------------------------

_FOLDER_PARAMS = {"train_dir", "test_dir", "labels_file", "ext", "mode", "label_names"}
_FOLDER_PARAMS |= {"submit_label_names", "id_start", *_SIZE_PARAMS}


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

    # Files of many sizes are brought to one while they are decoded: they cannot be stacked.
    fit = resize.image_fitter(cfg.data.params)

    def decode() -> dict[str, np.ndarray]:
        return {
            "x": readers.read_image_folder(train_dir, train_ids, ext=ext, mode=mode, fit=fit),
            "x_test": readers.read_image_folder(test_dir, test_ids, ext=ext, mode=mode, fit=fit),
        }

    arrays = cached_arrays(project, cfg, _sized(cfg, decode))
    names = param(cfg, "label_names", [], kind=list) or sorted({str(v) for v in y_text})
    index = {str(n): i for i, n in enumerate(names)}
    unknown = sorted({str(v) for v in y_text} - set(index))
    if unknown:
        raise KKError(
            f"labels {unknown[:5]} are not in data.params.label_names; add them or fix the labels"
        )
    # Vectorised: a categorical over the class order gives each label its code.
    y = pd.Categorical(pd.Series(y_text).astype(str), categories=list(index)).codes.astype(np.int64)

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
_CIFAR_PARAMS |= _SIZE_PARAMS


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

    arrays = cached_arrays(project, cfg, _sized(cfg, decode))
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


# --- auto ------------------------------------------------------------------------------------

_PIXEL_COLUMN = re.compile(r"pixel_?\d+")
_AUTO_LAYOUTS = ("idx", "cifar_batches", "pixels_csv", "image_folder")


def _rel(path: Path, raw: Path) -> str:
    return path.relative_to(raw).as_posix()


def _detect_idx(raw: Path, files: list[Path]) -> dict[str, Any] | None:
    """``*-idx3-ubyte[.gz]`` image files with their ``idx1`` label files beside them."""
    images = [p for p in files if re.search(r"idx3-ubyte(\.gz)?$", p.name)]
    train = [p for p in images if "train" in p.name]
    test = [p for p in images if "t10k" in p.name or "test" in p.name]
    if len(train) != 1 or len(test) != 1:
        return None

    def labels_of(path: Path) -> Path:
        name = path.name.replace("images", "labels").replace("idx3", "idx1")
        return path.with_name(name)

    if not labels_of(train[0]).is_file():
        return None
    params = {
        "train_images": _rel(train[0], raw),
        "train_labels": _rel(labels_of(train[0]), raw),
        "test_images": _rel(test[0], raw),
    }
    if labels_of(test[0]).is_file():
        params["test_labels"] = _rel(labels_of(test[0]), raw)
    return {"loader": "idx", "params": params}


def _detect_cifar(raw: Path, files: list[Path]) -> dict[str, Any] | None:
    """A folder of CIFAR ``data_batch_*`` pickles with its ``test_batch``."""
    batches = [p for p in files if re.fullmatch(r"data_batch_\d+", p.name)]
    folders = sorted({p.parent for p in batches})
    if len(folders) != 1 or not (folders[0] / "test_batch").is_file():
        return None
    names = sorted((p.name for p in batches), key=lambda n: int(n.rsplit("_", 1)[1]))
    folder = _rel(folders[0], raw) if folders[0] != raw else "."
    return {"loader": "cifar_batches", "params": {"folder": folder, "train_batches": names}}


def _pixel_header(path: Path, cfg: ProjectConfig) -> bool:
    """Whether a CSV's columns are the target (optional), an id (optional) and pixels."""
    comp = cfg.competition
    try:
        header = [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError):
        return False
    pixels = [c for c in header if _PIXEL_COLUMN.fullmatch(c)]
    others = {c.lower() for c in header} - {c.lower() for c in pixels}
    # Case-blind: a 'label' column when target_column says 'Label' is named by the loader.
    return bool(pixels) and others <= {comp.target_column.lower(), comp.id_column.lower()}


def _detect_pixels_csv(raw: Path, files: list[Path], cfg: ProjectConfig) -> dict[str, Any] | None:
    """A train and a test CSV of ``label,pixel0..pixelN`` (the configured names first)."""
    comp = cfg.competition
    csvs = [p for p in files if p.name.endswith((".csv", ".csv.gz", ".csv.zip"))]
    pixel_csvs = [p for p in csvs if _pixel_header(p, cfg)]

    def pick(configured: str, word: str) -> Path | None:
        if (raw / configured) in pixel_csvs:
            return raw / configured
        named = [p for p in pixel_csvs if word in p.name.lower()]
        return named[0] if len(named) == 1 else None

    train, test = pick(comp.train_file, "train"), pick(comp.test_file, "test")
    if train is None or test is None or train == test:
        return None
    header = [str(c) for c in pd.read_csv(train, nrows=0).columns]
    _check_label_column(train, header, comp.target_column)
    if comp.target_column not in header:
        return None
    params: dict[str, Any] = {}
    if comp.id_column in header:
        params["id_column"] = comp.id_column
    files_update = {"train_file": _rel(train, raw), "test_file": _rel(test, raw)}
    return {"loader": "pixels_csv", "params": params, "competition": files_update}


def _detect_image_folder(raw: Path, files: list[Path], cfg: ProjectConfig) -> dict[str, Any] | None:
    """A ``train/`` folder of image files plus a CSV with the id and target columns."""
    comp = cfg.competition
    train_dir = raw / "train"
    if not train_dir.is_dir():
        return None
    exts = pd.Series([p.suffix.lower() for p in train_dir.iterdir() if p.is_file()])
    exts = exts[exts.isin(IMAGE_EXTS)]
    if exts.empty:
        return None
    ext = str(exts.value_counts().index[0])
    # Keep the case the files use (".PNG" files exist in the wild).
    ext = next(p.suffix for p in train_dir.iterdir() if p.suffix.lower() == ext)
    labels = None
    # A labels file names itself (trainLabels.csv, train_labels.csv, labels.csv): try those
    # first; the sample submission and a local solution hold test ids, never train labels.
    csvs = [p for p in files if p.parent == raw and p.suffix == ".csv"]
    csvs.sort(key=lambda p: (not re.search("label|train", p.name, re.I), p.name))
    for path in csvs:
        if path.name in (comp.sample_submission_file, comp.solution_file, "solution.csv"):
            continue
        try:
            header = {str(c) for c in pd.read_csv(path, nrows=0).columns}
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError):
            continue
        if {comp.id_column, comp.target_column} <= header:
            labels = path
            break
    if labels is None:
        return None
    params: dict[str, Any] = {"labels_file": _rel(labels, raw), "ext": ext}
    if _grey(next(p for p in sorted(train_dir.iterdir()) if p.suffix == ext)):
        params["mode"] = "L"  # one channel, not three copies of it
    return {"loader": "image_folder", "params": params}


def _grey(path: Path) -> bool:
    """Whether an image file holds grey levels only (Pillow modes 1, L, I, I;16, F)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.mode in ("1", "L", "I", "I;16", "F")
    except OSError:  # unreadable: colour, as before; the decoder names the file later
        return False


def detect_layout(project: Project, cfg: ProjectConfig) -> dict[str, Any]:
    """Recognise the image layout of ``data/raw/``: the loader, its params, file names.

    Tried in order: idx files, CIFAR python batches, a CSV of pixels, an image folder
    with a labels CSV. Returns ``{"loader": name, "params": {...}}`` (plus
    ``"competition": {...}`` when the train/test file names differ from the config's).
    """
    raw = project.raw_dir
    files = sorted(p for p in raw.rglob("*") if p.is_file() and not p.name.startswith("."))
    for found in (
        _detect_idx(raw, files),
        _detect_cifar(raw, files),
        _detect_pixels_csv(raw, files, cfg),
        _detect_image_folder(raw, files, cfg),
    ):
        if found is not None:
            return found
    top = sorted({p.relative_to(raw).parts[0] for p in files})
    shown = ", ".join(top[:8]) + (", ..." if len(top) > 8 else "")
    raise KKError(
        f"data.loader 'auto' recognised no image layout in {raw} (found: {shown or 'no files'}); "
        f"set data.loader in config.toml to one of {', '.join(_AUTO_LAYOUTS)} (or csv) with "
        "its data.params"
    )


def load_auto(project: Project, cfg: ProjectConfig) -> Dataset:
    """Recognise the layout (``detect_layout``) and load it with that loader.

    The project's own ``data.params`` (``label_names``, ``id_start``, ...) are laid over
    the detected ones and checked by the loader that reads them.
    """
    found = detect_layout(project, cfg)
    log.info("data.loader 'auto': %s with %s", found["loader"], found["params"])
    data = cfg.data.model_copy(
        update={"loader": found["loader"], "params": {**found["params"], **cfg.data.params}}
    )
    update: dict[str, Any] = {"data": data}
    if found.get("competition"):
        update["competition"] = cfg.competition.model_copy(update=found["competition"])
    return get_loader(found["loader"]).load(project, cfg.model_copy(update=update))


register_loader(
    Loader("auto", load_auto, lambda cfg: [], doc="recognise the image layout from the files")
)
