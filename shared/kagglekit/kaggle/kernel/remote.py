"""Inside Kaggle: what a kernel built by ``kk kernel`` runs.

The kernel's script unpacks its bundle and calls ``run_bundle``, which runs kagglekit the
ordinary way: it lays out the project (its code, the saved folds) in a scratch folder,
copies the attached competition files into ``data/raw`` with ``kk fetch``'s own
``fetch``, and calls ``training.train``, the function behind ``kk train``. Internet is
off in the kernel: wheels and pretrained files come from the attached deps dataset,
found by its manifest wherever Kaggle mounts it.

Kaggle keeps what ``/kaggle/working`` holds at the end. A model kernel leaves there its
run folder (``kagglekit-run/RUN_ID/``, fold checkpoints left out unless asked for),
``submission.csv`` and ``kagglekit-kernel.json`` (what ran where, and any error), which
``kk kernel --pull`` reads; a code-competition kernel leaves ``submission.csv`` only.

Environment (for running a kernel locally, as the tests do): ``KK_KAGGLE_INPUT`` (the
inputs' root, ``/kaggle/input``), ``KK_KERNEL_INPUT`` (the data folder itself),
``KK_KERNEL_WORKING`` (``/kaggle/working``), ``KK_KERNEL_SCRATCH``.
"""

from __future__ import annotations

import copy
import importlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import kagglekit
import kagglekit.atomic as atomic
import kagglekit.folds as folds_mod
from kagglekit.config import validate_config
from kagglekit.data.kaggle_input import find_competition_folder, input_root
from kagglekit.data.raw import fetch
from kagglekit.errors import KKError
from kagglekit.kaggle.kernel.bundle import OUTPUT_INFO, OUTPUT_RUN, SPEC
from kagglekit.kaggle.kernel.deps import DATA_ENTRY, MANIFEST
from kagglekit.loaders import required_files
from kagglekit.project import Project
from kagglekit.provenance import now
from kagglekit.training import train

INPUT_ENV = "KK_KERNEL_INPUT"
WORKING_ENV = "KK_KERNEL_WORKING"
# Kaggle mounts inputs a few folders deep (datasets/OWNER/SLUG/...); a bounded search
# does not walk a whole image folder of 60,000 files.
SEARCH_DEPTH = 5


def run_bundle(bundle: bytes, scratch: Path) -> dict[str, Any]:
    """Run the kernel's spec; returns what it wrote to ``kagglekit-kernel.json``."""
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        spec = json.loads(zf.read(SPEC))
        project_files = {
            n.removeprefix("project/"): zf.read(n)
            for n in zf.namelist()
            if n.startswith("project/") and not n.endswith("/")
        }
    print("kagglekit", kagglekit.__version__, "from", Path(kagglekit.__file__).parent)
    work = Path(os.environ.get(WORKING_ENV, "/kaggle/working"))
    work.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {
        "project": spec["project"],
        "model": spec["model"],
        "started_at": now(),
        "run_type": os.environ.get("KAGGLE_KERNEL_RUN_TYPE", ""),
        "gpus": gpu_names(),
        "python": platform.python_version(),
    }
    try:
        _run(spec, project_files, scratch, work, info)
    except BaseException as err:
        info["error"] = f"{type(err).__name__}: {err}"
        if spec["mode"] == "run":
            atomic.write_json(work / OUTPUT_INFO, info)
        raise
    return info


def _run(
    spec: dict[str, Any],
    project_files: dict[str, bytes],
    scratch: Path,
    work: Path,
    info: dict[str, Any],
) -> None:
    input_root = input_root_or_default()
    deps = find_deps(spec, input_root)
    info["wheels"] = install_wheels(deps, scratch / "site") if deps is not None else []
    root = scratch / "projects" / spec["project"]
    shutil.rmtree(root, ignore_errors=True)
    for name, data in project_files.items():
        atomic.write_bytes(root / name, data)
    project = Project(name=spec["project"], root=root)
    config = copy.deepcopy(spec["config"])
    rewrites = []
    for param, entry in spec["folder_params"]:
        path = entry_folder(deps, entry, scratch)
        config["models"][spec["model"]]["params"][param] = str(path)
        rewrites.append(f"models.{spec['model']}.params.{param}")
    cfg = validate_config(config, source="kernel spec")
    data_dir = find_data(spec, project, cfg, input_root, deps, scratch)
    solution = config["competition"].get("solution_file")
    if solution and not (data_dir / solution).is_file():
        # Kaggle's inputs hold no solution file: the hidden test set is scored by Kaggle.
        config["competition"]["solution_file"] = ""
        rewrites.append("competition.solution_file")
        cfg = validate_config(config, source="kernel spec")
    info["config_rewrites"] = rewrites
    fetch(project, cfg, from_dir=data_dir, required=required_files(project, cfg))
    if not project.folds_path.is_file():  # a code-competition rerun of a run on older folds
        saved = folds_mod.assign_project_folds(project, cfg)
        if saved.hash != spec["fold_hash"]:
            print(
                "warning: fold hash", saved.hash, "differs from the local run's", spec["fold_hash"]
            )
    result = train(project, cfg, model_name=spec["model"], overrides=spec["overrides"])
    shutil.copyfile(result.submission_path, work / "submission.csv")
    print(json.dumps(result.summary()))
    if spec["mode"] != "run":
        return
    target = work / OUTPUT_RUN / result.run.run_id
    shutil.rmtree(target, ignore_errors=True)
    top = str(result.run.folder)

    def checkpoints(folder: str, names: list[str]) -> list[str]:
        # The fold store keeps each fold's checkpoint (90 MB a fold for a transformer).
        keep = spec.get("keep_checkpoints") or folder != top
        return [] if keep else [n for n in names if n == "folds"]

    shutil.copytree(result.run.folder, target, ignore=checkpoints)
    info.update(run_id=result.run.run_id, cv_mean=result.cv.mean, ended_at=now())
    atomic.write_json(work / OUTPUT_INFO, info)


def input_root_or_default() -> Path:
    """Kaggle's inputs (``KK_KAGGLE_INPUT`` or ``/kaggle/input``), as ``kk fetch`` finds them."""
    return input_root() or Path("/kaggle/input")


def gpu_names() -> list[str]:
    """The GPUs ``nvidia-smi`` lists (none without one); torch is not imported for this."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def find_named(root: Path, name: str, *, depth: int = SEARCH_DEPTH) -> list[Path]:
    """Paths called ``name`` under ``root``, at most ``depth`` folders down, shallow first."""
    found: list[Path] = []
    level = [root] if root.is_dir() else []
    for _ in range(depth + 1):
        below: list[Path] = []
        for folder in level:
            try:
                entries = sorted(folder.iterdir())
            except OSError:
                continue
            found += [p for p in entries if p.name == name]
            below += [p for p in entries if p.is_dir() and not p.is_symlink()]
        level = below
    return found


def find_deps(spec: dict[str, Any], input_root: Path) -> Path | None:
    """The mounted deps dataset whose content is the one this kernel was built with."""
    wanted = spec.get("deps")
    if not wanted:
        return None
    seen = []
    for manifest in find_named(input_root, MANIFEST):
        content = json.loads(manifest.read_text(encoding="utf-8")).get("content_hash")
        if content == wanted["content_hash"]:
            return manifest.parent
        seen.append(str(content)[:12])
    where = f"another version (content {', '.join(seen)})" if seen else "not attached"
    raise KKError(
        f"the deps dataset {wanted['ref']} is {where}, not content "
        f"{wanted['content_hash'][:12]}: push again once `kaggle datasets status "
        f"{wanted['ref']}` says ready"
    )


def install_wheels(deps: Path, site: Path) -> list[str]:
    """Unpack the deps' wheels into ``site`` and put it first on ``sys.path``.

    A wheel is a zip laid out for site-packages (PEP 427), so unpacking it is what
    installing it amounts to for imports; pip would need an index or write into the
    image's own site-packages. ``NAME.data/purelib|platlib`` move up as pip moves them.
    """
    manifest = json.loads((deps / MANIFEST).read_text(encoding="utf-8"))
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir(parents=True)
    for name in manifest["wheels"]:
        with zipfile.ZipFile(deps / name) as zf:
            zf.extractall(site)
    for data in site.glob("*.data"):
        for kind in ("purelib", "platlib"):
            if (data / kind).is_dir():
                shutil.copytree(data / kind, site, dirs_exist_ok=True)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    if manifest["wheels"]:
        print("wheels:", ", ".join(manifest["wheels"]))
    return list(manifest["wheels"])


def entry_folder(deps: Path | None, entry: str, scratch: Path) -> Path:
    """Where a folder of the deps dataset is: unpacked by Kaggle, or unpacked here."""
    if deps is None:
        raise KKError(f"folder '{entry}' travels in the deps dataset, which is not attached")
    archive = deps / f"{entry}.zip"
    if archive.is_file():
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(scratch / "folders")
        return scratch / "folders" / entry
    # Kaggle unpacks a .zip into the dataset: the entry's folder, perhaps inside a folder
    # named after the archive. The deepest one holds the files.
    found = [p for p in find_named(deps, entry, depth=2) if p.is_dir()]
    if not found:
        raise KKError(f"the deps dataset at {deps} has no {entry}.zip or {entry}/; push again")
    return max(found, key=lambda p: len(p.parts))


def find_data(
    spec: dict[str, Any],
    project: Project,
    cfg: Any,
    input_root: Path,
    deps: Path | None,
    scratch: Path,
) -> Path:
    """The folder holding the competition's files under the kernel's inputs."""
    explicit = os.environ.get(INPUT_ENV)
    if explicit:
        return Path(explicit)
    if spec.get("data_in_deps"):
        return entry_folder(deps, DATA_ENTRY, scratch)
    needed = required_files(project, cfg) or [cfg.competition.train_file]
    comp = cfg.competition
    # The same search ``kk fetch`` makes inside a notebook (data.kaggle_input): Kaggle's
    # layouts differ (competitions/SLUG, SLUG, datasets/OWNER/SLUG).
    found = find_competition_folder(
        needed, [str(spec["competition"]), comp.name, comp.source.mirror_folder], root=input_root
    )
    if found is None:  # pragma: no cover - a root is given, so it searches or raises
        raise KKError(f"no {needed[0]} under {input_root}: attach the data to the kernel")
    return found
