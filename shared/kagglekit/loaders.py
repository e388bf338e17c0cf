"""Data loaders: one named loader per file layout, each returning one ``Dataset``.

A project's ``[data] loader`` names how its raw files become train and test rows: ``csv``
(tables, the default), ``idx`` (Zalando/LeCun idx images), ``pixels_csv`` (Kaggle's
CSV-of-pixels), ``image_folder`` (PNG files named by id plus a labels CSV),
``cifar_batches`` (CIFAR's python pickles). A project registers a loader of its own in
its features.py with ``register_loader``. Everything after loading (folds, the CV loop,
run records, submissions) sees only the ``Dataset``, whatever the kind of data.

Built-in loaders live in the modules that know their formats and are imported only when
used, so a table project never imports the image readers.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import kagglekit.atomic as atomic
from kagglekit.data.raw import MANIFEST, verify_raw
from kagglekit.data.tables import load_competition
from kagglekit.errors import KKError, unknown_name

if TYPE_CHECKING:
    from kagglekit.config import ProjectConfig
    from kagglekit.project import Project

log = logging.getLogger(__name__)

# Kinds of rows a backend can accept (models.base.Backend.accepts).
KINDS = ("frame", "images", "texts", "pairs")


@dataclass
class Dataset:
    """A competition's rows, whatever their kind.

    Attributes
    ----------
    kind : {"frame", "images", "texts", "pairs"}
        What ``X`` holds, so a backend that cannot read it is refused with one line.
    X, X_test : any indexable
        Train and test rows: a DataFrame (``frame``), a uint8 array N x C x H x W
        (``images``), ... ``kagglekit.models.base.take`` selects rows of each.
    target : pd.Series
        The raw train target (labels or values); the task encodes it.
    ids, test_ids : pd.Series
        Row ids, named after ``competition.id_column``; test ids go into the submission.
    sample_submission : pd.DataFrame
        The submission layout (read, or made from the ids when the files have none).
    classes : list or None
        The label order when the data declares one (e.g. CIFAR-10's names); otherwise the
        task sorts the labels.
    side : pd.DataFrame
        Train columns folds may use (``cv.group_column``, ``cv.order_column``), one row
        per train row; for tables, the whole train table. ``test_side`` is the same for
        the test rows (``matched_group`` folds read the test rows' groups).
    info : dict
        What a model needs to know: ``input_shape``, ``n_classes``, ``label_names``, ...
    solution : pd.DataFrame or None
        Test labels for ``kk score`` when the files carry them (id, target, optional Usage).
    """

    kind: str
    X: Any
    X_test: Any
    target: pd.Series
    ids: pd.Series
    test_ids: pd.Series
    sample_submission: pd.DataFrame
    classes: list[Any] | None = None
    side: pd.DataFrame = field(default_factory=pd.DataFrame)
    test_side: pd.DataFrame = field(default_factory=pd.DataFrame)
    info: dict[str, Any] = field(default_factory=dict)
    solution: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise KKError(f"a loader returned kind '{self.kind}'; use one of {', '.join(KINDS)}")
        for name, rows, ids in (("train", self.X, self.ids), ("test", self.X_test, self.test_ids)):
            if len(rows) != len(ids):
                raise KKError(
                    f"the loader returned {len(rows)} {name} rows but {len(ids)} {name} ids; "
                    "fix the project's loader"
                )
        if len(self.target) != len(self.ids):
            raise KKError(
                f"the loader returned {len(self.target)} targets for {len(self.ids)} train rows"
            )
        for name, ids in (("train", self.ids), ("test", self.test_ids)):
            dupes = ids[ids.duplicated()]
            if len(dupes):
                first = dupes.iloc[0]
                raise KKError(
                    f"id column '{ids.name}' has {len(dupes)} duplicated value(s) in {name} "
                    f"(first: {first.item() if hasattr(first, 'item') else first!r}); "
                    "ids must be unique"
                )

    def column(self, name: str) -> np.ndarray:
        """A train side column (for group or time-ordered folds), or a one-line error."""
        if name not in self.side.columns:
            shown = ", ".join(map(str, self.side.columns[:8]))
            more = ", ..." if len(self.side.columns) > 8 else ""
            raise KKError(
                f"column '{name}' is not a train column (columns: {shown or 'none'}{more}); "
                "fix it in config.toml"
            )
        return self.side[name].to_numpy()


@dataclass(frozen=True)
class Loader:
    """A registered loader: how to read the files, and which files ``kk fetch`` needs."""

    name: str
    load: Callable[[Project, ProjectConfig], Dataset]
    required_files: Callable[[ProjectConfig], list[str]]
    doc: str = ""


_REGISTRY: dict[str, Loader] = {}
# name -> module that registers it when imported (lazy, so heavy readers stay unloaded)
_BUILTIN_MODULES = {
    "idx": "kagglekit.vision.loaders",
    "pixels_csv": "kagglekit.vision.loaders",
    "image_folder": "kagglekit.vision.loaders",
    "cifar_batches": "kagglekit.vision.loaders",
    "auto": "kagglekit.vision.loaders",
    "text_csv": "kagglekit.text.loaders",
    "interactions": "kagglekit.recsys.loaders",
}


def register_loader(loader: Loader) -> Loader:
    """Add a loader to the registry (a project's features.py may add its own)."""
    _REGISTRY[loader.name] = loader
    return loader


def project_loader(project: Project, name: str) -> Loader:
    """The loader ``name``; the project's features.py is imported only when the name is
    not a built-in one (a broken features.py must not stop ``kk fetch`` or ``kk folds``)."""
    if name not in _REGISTRY and name not in _BUILTIN_MODULES:
        project.import_module()  # a project's own loader registers itself on import
    return get_loader(name)


def required_files(project: Project, cfg: ProjectConfig) -> list[str]:
    """The raw files the project's loader needs: what ``kk fetch`` passes to ``data.fetch``."""
    return project_loader(project, cfg.data.loader).required_files(cfg)


def loader_names() -> list[str]:
    return sorted({*_REGISTRY, *_BUILTIN_MODULES})


def get_loader(name: str) -> Loader:
    """The loader called ``name``, importing its module on first use."""
    if name not in _REGISTRY and name in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[name])
    loader = _REGISTRY.get(name)
    if loader is None:
        raise unknown_name("data.loader", name, loader_names())
    return loader


def param(cfg: ProjectConfig, name: str, default: Any = None, *, kind: type | None = None) -> Any:
    """One ``[data.params]`` value, checked for type; missing without default is an error."""
    params = cfg.data.params
    if name not in params:
        if default is None:
            raise KKError(
                f"loader '{cfg.data.loader}' needs data.params.{name}; add it to config.toml"
            )
        return default
    value = params[name]
    if kind is not None and not isinstance(value, kind):
        raise KKError(
            f"data.params.{name} = {value!r} should be a {kind.__name__}; fix config.toml"
        )
    return value


def check_params(cfg: ProjectConfig, known: set[str]) -> None:
    """Refuse a misspelt ``[data.params]`` key before anything is read."""
    for key in cfg.data.params:
        if key not in known:
            raise unknown_name(f"data.params key for loader '{cfg.data.loader}'", key, known)


def default_sample_submission(test_ids: pd.Series, target_column: str, fill: Any) -> pd.DataFrame:
    """The sample submission a competition would ship: ids and one prediction column."""
    return pd.DataFrame({str(test_ids.name): test_ids.to_numpy(), target_column: fill})


# --- the decoded-data cache ---------------------------------------------------------------


def cache_key(project: Project, cfg: ProjectConfig) -> str:
    """A key that changes when the raw files, the loader or its params change."""
    manifest = project.raw_dir / MANIFEST
    raw = manifest.read_bytes() if manifest.exists() else b""
    payload = json.dumps(
        {"loader": cfg.data.loader, "params": cfg.data.params, "version": 1}, sort_keys=True
    ).encode()
    return hashlib.sha256(raw + payload).hexdigest()[:16]


def cached_arrays(
    project: Project, cfg: ProjectConfig, build: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Decoded arrays from ``data/interim/``, or ``build()`` them once and cache them.

    The cache file is keyed by the raw files' checksums (the fetch manifest) and the
    loader's params, so a re-fetch or a changed param decodes again; stale files of the
    same loader are removed. Written atomically, so an interrupted write leaves no cache.
    """
    interim = project.interim_dir
    path = interim / f"{cfg.data.loader}-{cache_key(project, cfg)}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        except (OSError, ValueError) as err:
            log.warning("decoded-data cache %s is unreadable (%s); decoding again", path, err)
    arrays = build()
    for old in interim.glob(f"{cfg.data.loader}-*.npz"):
        old.unlink(missing_ok=True)

    def write(fh: Any) -> None:
        np.savez(fh, **arrays)  # type: ignore[arg-type]

    atomic.write_atomic(path, write)
    return arrays


# --- the csv loader (tables) ----------------------------------------------------------------


def _csv_required(cfg: ProjectConfig) -> list[str]:
    comp = cfg.competition
    return [comp.train_file, comp.test_file, comp.sample_submission_file]


def load_csv(project: Project, cfg: ProjectConfig) -> Dataset:
    """Tables: train, test and sample submission CSVs (and a solution file if configured)."""
    check_params(cfg, set())
    comp = cfg.competition
    frames = load_competition(project, cfg, verify=False)
    train = frames.train
    return Dataset(
        kind="frame",
        X=train.drop(columns=[comp.target_column]),
        X_test=frames.test,
        target=train[comp.target_column],
        ids=train[comp.id_column],
        test_ids=frames.test[comp.id_column],
        sample_submission=frames.sample_submission,
        side=train,
        test_side=frames.test,
        solution=frames.solution,
    )


register_loader(
    Loader("csv", load_csv, _csv_required, doc="train/test/sample-submission CSV tables")
)


def load_dataset(project: Project, cfg: ProjectConfig, *, verify: bool = True) -> Dataset:
    """The project's data through its configured loader (raw files checked first)."""
    loader = project_loader(project, cfg.data.loader)
    if verify:
        verify_raw(project)
    return loader.load(project, cfg)
