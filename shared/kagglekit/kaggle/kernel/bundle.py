"""Building a kernel: one script that carries kagglekit, the project's code and a spec.

A push sends the script's text only (``shared/KAGGLE_KERNELS.md``), so everything the
run needs that is small travels inside it as one zip (base64): the kagglekit package,
the project's own Python files, the saved folds (the kernel trains on the very folds of
the local runs, so its fold hash matches theirs), a pseudo-label teacher's predictions,
and ``kernel.json``, the spec ``kagglekit.kaggle.kernel.remote`` follows inside Kaggle.
What is big travels in the deps dataset (``deps``).

Two kinds of kernel:

* ``build_model_kernel``: train one model entry with the project's config and ``--set``
  overrides; its run folder comes back with ``kk kernel --pull``.
* ``build_kernel``: rerun a recorded run to write ``submission.csv`` (code competitions).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

import kagglekit
import kagglekit.atomic as atomic
import kagglekit.folds as folds_mod
import kagglekit.records as records
from kagglekit.config import ProjectConfig
from kagglekit.errors import KKError
from kagglekit.kaggle.api import config_dir
from kagglekit.kaggle.kernel.deps import Deps, KernelOptions, data_travels
from kagglekit.kaggle.submit import competition_slug
from kagglekit.project import Project
from kagglekit.records import Run, list_runs, ranked_by_cv
from kagglekit.training.run import resolve_run

SCRIPT = "kagglekit_run.py"
METADATA = "kernel-metadata.json"
SPEC = "kernel.json"
USERNAME_PLACEHOLDER = "your-kaggle-username"
# Where the kernel leaves its run (``remote``) and what ``--pull`` reads back.
OUTPUT_RUN = "kagglekit-run"
OUTPUT_INFO = "kagglekit-kernel.json"


def slugify(text: str) -> str:
    """Kaggle's kernel slug of a title: lower case, runs of other characters become '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def choose_run(project: Project, run_id: str | None) -> Run:
    """The run ``run_id``, or the best COMPLETE run by CV when none is given."""
    if run_id:
        run = resolve_run(project, run_id)
        if run.status != "COMPLETE":
            raise KKError(f"run {run.run_id} is {run.status}; choose a COMPLETE run")
        return run
    done = ranked_by_cv(list_runs(project.runs_dir))
    if not done:
        raise KKError(f"project '{project.name}' has no COMPLETE run; run kk train first")
    return done[0]


def _zip_entry(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name)
    info.date_time = (2020, 1, 1, 0, 0, 0)  # fixed: same package, same bytes
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def _package_files() -> list[tuple[str, bytes]]:
    root = Path(kagglekit.__file__).parent
    return [
        (f"kagglekit/{path.relative_to(root).as_posix()}", path.read_bytes())
        for path in sorted(root.rglob("*.py"))
        if "__pycache__" not in path.parts
    ]


def package_zip() -> bytes:
    """The kagglekit package's Python files as a zip (``kagglekit/...``)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in _package_files():
            _zip_entry(zf, name, data)
    return buf.getvalue()


def bundle_zip(project: Project, spec: dict[str, Any], extra: dict[str, bytes]) -> bytes:
    """kagglekit, the project's Python files (``project/``), ``extra`` and the spec."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in _package_files():
            _zip_entry(zf, name, data)
        for path in sorted(project.root.glob("*.py")):
            _zip_entry(zf, f"project/{path.name}", path.read_bytes())
        for name, data in sorted(extra.items()):
            _zip_entry(zf, name, data)
        _zip_entry(zf, SPEC, json.dumps(spec, sort_keys=True).encode())
    return buf.getvalue()


def _folds_files(project: Project) -> dict[str, bytes]:
    """The saved fold file and its metadata, to sit at ``project/data/`` in the kernel."""
    meta = project.folds_path.with_suffix(folds_mod.META_SUFFIX)
    return {
        f"project/data/{project.folds_path.name}": project.folds_path.read_bytes(),
        f"project/data/{meta.name}": meta.read_bytes(),
    }


def _teacher_files(project: Project, cfg: ProjectConfig, model: str) -> dict[str, bytes]:
    """A pseudo-label teacher's record and test predictions, for ``project/runs/``."""
    _, entry = cfg.model(model)
    if entry.pseudo_labels is None:
        return {}
    teacher = records.find_run(
        project.runs_dir, entry.pseudo_labels.run, copies=True, by_name=False
    )
    folder = f"project/runs/{teacher.run_id}"
    files = {f"{folder}/{records.RECORD}": atomic.json_text(teacher.record).encode()}
    for name in ("test_folds", "test"):
        if teacher.has_array(name):
            buf = io.BytesIO()
            np.save(buf, teacher.load_array(name), allow_pickle=False)
            files[f"{folder}/{name}.npy"] = buf.getvalue()
    return files


_SCRIPT_TEMPLATE = """\
# Built by `kk kernel {project}`: {what}.
# Runs offline inside Kaggle: kagglekit, the project's code, its saved folds and the run's
# spec are bundled below (a zip, base64); data and wheels come in as attached inputs.
import base64
import io
import os
import shutil
import sys
import zipfile
from pathlib import Path

PACKAGE = {package!r}


def main():
    bundle = base64.b64decode(PACKAGE)
    scratch = Path(os.environ.get("KK_KERNEL_SCRATCH", "/tmp/kagglekit"))
    lib = scratch / "package"
    shutil.rmtree(lib, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        zf.extractall(lib, [n for n in zf.namelist() if n.startswith("kagglekit/")])
    sys.path.insert(0, str(lib))
    from kagglekit.kaggle.kernel.remote import run_bundle

    run_bundle(bundle, scratch)


if __name__ == "__main__":
    main()
"""


def _script(project: Project, what: str, bundle: bytes) -> str:
    return _SCRIPT_TEMPLATE.format(
        project=project.name, what=what, package=base64.b64encode(bundle).decode("ascii")
    )


def _metadata(
    owner: str,
    title: str,
    *,
    competitions: list[str],
    datasets: list[str],
    gpu: bool,
    machine_shape: str,
) -> dict[str, Any]:
    """``kernel-metadata.json``: a private Python script, internet off."""
    metadata: dict[str, Any] = {
        "id": f"{owner or USERNAME_PLACEHOLDER}/{slugify(title)}",
        "title": title,
        "code_file": SCRIPT,
        "language": "python",
        "kernel_type": "script",
        "is_private": True,
        "enable_gpu": gpu,
        "enable_tpu": False,
        "enable_internet": False,
        "dataset_sources": datasets,
        "competition_sources": competitions,
        "kernel_sources": [],
        "model_sources": [],
    }
    if gpu:
        metadata["machine_shape"] = machine_shape
    return metadata


def _write(folder: Path, script: str, metadata: dict[str, Any]) -> None:
    atomic.write_text(folder / SCRIPT, script)
    atomic.write_json(folder / METADATA, metadata)


def data_sources(cfg: ProjectConfig, options: KernelOptions) -> tuple[list[str], list[str]]:
    """``(competition sources, dataset sources)`` holding the project's data on Kaggle."""
    if data_travels(cfg, options):
        return [], []
    slug = cfg.competition.slug or cfg.competition.name
    return ([], [slug]) if "/" in slug else ([slug], [])


def build_model_kernel(
    project: Project,
    cfg: ProjectConfig,
    *,
    model: str,
    overrides: list[str],
    options: KernelOptions,
    deps: Deps,
    deps_ref: str,
    deps_hash: str,
    gpu: bool,
    out: Path | None = None,
    username: str = "",
) -> dict[str, Any]:
    """Write a kernel that trains model entry ``model`` on the saved folds; its spec.

    ``cfg`` is the project's config with ``overrides`` applied. Returns ``{"folder",
    "script", "metadata", "id", "spec", "bundle_bytes"}``; the spec is what ``--pull``
    checks the returned run against (config, fold hash).
    """
    name, _ = cfg.model(model)
    meta = folds_mod.folds_meta(project)
    if meta is None or not project.folds_path.is_file():
        raise KKError(
            f"project '{project.name}' has no folds yet; run kk folds {project.name} first "
            "(the kernel trains on the saved folds, so its run compares with yours)"
        )
    spec: dict[str, Any] = {
        "mode": "run",
        "project": project.name,
        "model": name,
        "overrides": list(overrides),
        "config": cfg.model_dump(mode="json"),
        "fold_hash": meta["hash"],
        "competition": cfg.competition.slug or cfg.competition.name,
        "data_in_deps": deps.data is not None,
        "deps": {"ref": deps_ref, "content_hash": deps_hash} if not deps.empty else None,
        "folder_params": [list(p) for p in deps.params],
        "keep_checkpoints": options.keep_checkpoints,
    }
    extra = {**_folds_files(project), **_teacher_files(project, cfg, name)}
    bundle = bundle_zip(project, spec, extra)
    competitions, datasets = data_sources(cfg, options)
    if not deps.empty:
        datasets = [*datasets, deps_ref]
    title = f"{project.name} {name} kagglekit"[:50]
    metadata = _metadata(
        username,
        title,
        competitions=competitions,
        datasets=datasets,
        gpu=gpu,
        machine_shape=options.machine_shape,
    )
    folder = Path(out) if out is not None else default_folder(project)
    _write(folder, _script(project, f"trains model {name} on the saved folds", bundle), metadata)
    return {
        "folder": folder,
        "script": folder / SCRIPT,
        "metadata": metadata,
        "id": metadata["id"],
        "spec": spec,
        "bundle_bytes": len(bundle),
    }


def build_kernel(
    project: Project,
    cfg: ProjectConfig,
    *,
    run_id: str | None = None,
    out: Path | None = None,
    username: str = "",
) -> dict[str, Any]:
    """Write ``out/kernel-metadata.json`` and ``out/kagglekit_run.py`` that rerun a run.

    For code competitions: the kernel trains the run's model with its config on
    Kaggle's copy of the data and writes ``/kaggle/working/submission.csv``. The saved
    folds travel when the run was made on them; otherwise the kernel assigns folds from
    the config (and says so when their hash differs). Returns ``{"folder", "script",
    "metadata", "run_id", "id"}``; without ``username`` a placeholder owner is written.
    """
    slug = competition_slug(cfg)
    run = choose_run(project, run_id)
    config = json.loads(json.dumps(run.record.get("config") or cfg.model_dump(mode="json")))
    meta = folds_mod.folds_meta(project)
    same_folds = meta is not None and meta["hash"] == run.record.get("fold_hash")
    spec = {
        "mode": "submission",
        "project": project.name,
        "competition": slug,
        "run_id": run.run_id,
        "model": run.record.get("model"),
        "overrides": run.record.get("overrides") or [],
        "config": config,
        "fold_hash": run.record.get("fold_hash"),
        "data_in_deps": False,
        "deps": None,
        "folder_params": [],
        "keep_checkpoints": False,
    }
    extra = _folds_files(project) if same_folds else {}
    bundle = bundle_zip(project, spec, extra)
    cv = run.record.get("cv_mean")
    cv_text = f"{cv:.5f}" if isinstance(cv, int | float) else "n/a"
    what = f"reruns run {run.run_id} ({run.record.get('metric')} CV {cv_text})"
    title = f"{slug} kagglekit {spec['model']}"
    metadata = _metadata(
        username, title, competitions=[slug], datasets=[], gpu=False, machine_shape=""
    )
    folder = Path(out) if out is not None else default_folder(project)
    _write(folder, _script(project, what, bundle), metadata)
    return {
        "folder": folder,
        "script": folder / SCRIPT,
        "metadata": metadata,
        "run_id": run.run_id,
        "id": metadata["id"],
    }


def default_folder(project: Project) -> Path:
    """``build/kernels/<project>/`` beside ``projects/`` (git-ignored)."""
    return project.root.parent.parent / "build" / "kernels" / project.name


def local_username() -> str:
    """The Kaggle user name from ``KAGGLE_USERNAME`` or ``kaggle.json``, without a network call."""
    name = os.environ.get("KAGGLE_USERNAME", "")
    if name:
        return name
    try:
        return str(json.loads((config_dir() / "kaggle.json").read_text()).get("username", ""))
    except (OSError, ValueError, AttributeError):
        return ""
