"""Code competitions: a Kaggle script that reruns a chosen run offline inside Kaggle.

``build_kernel`` writes a folder with ``kernel-metadata.json`` and one Python script.
The script carries the kagglekit package (zipped, base64) and the run's resolved
config, so it needs no internet and no attached dataset: on Kaggle it copies the
attached competition data into a project, assigns the same folds, trains the same
model with the same CV loop and writes ``/kaggle/working/submission.csv``.
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

import kagglekit
import kagglekit.atomic as atomic
from kagglekit.config import ProjectConfig
from kagglekit.errors import KKError
from kagglekit.kaggle.api import config_dir
from kagglekit.kaggle.submit import competition_slug
from kagglekit.project import Project
from kagglekit.records import Run, list_runs, ranked_by_cv
from kagglekit.training.run import resolve_run

SCRIPT = "kagglekit_run.py"
METADATA = "kernel-metadata.json"
USERNAME_PLACEHOLDER = "your-kaggle-username"


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


def package_zip() -> bytes:
    """The kagglekit package's Python files as a zip (``kagglekit/...``)."""
    root = Path(kagglekit.__file__).parent
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            info = zipfile.ZipInfo(f"kagglekit/{path.relative_to(root).as_posix()}")
            info.date_time = (2020, 1, 1, 0, 0, 0)  # fixed: same package, same bytes
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    return buf.getvalue()


def kernel_spec(project: Project, cfg: ProjectConfig, run: Run, slug: str) -> dict[str, Any]:
    """What the script needs to rerun ``run``: config, model, features, expected fold hash."""
    config = json.loads(json.dumps(run.record.get("config") or cfg.model_dump(mode="json")))
    # Kaggle's inputs hold no local solution file; the hidden test set is scored by Kaggle.
    config["competition"]["solution_file"] = ""
    features = project.features_path
    return {
        "project": project.name,
        "competition": slug,
        "run_id": run.run_id,
        "model": run.record.get("model"),
        "overrides": run.record.get("overrides") or [],
        "config": config,
        "features_py": features.read_text(encoding="utf-8") if features.exists() else None,
        "fold_hash": run.record.get("fold_hash"),
        "cv_mean": run.record.get("cv_mean"),
        "metric": run.record.get("metric"),
    }


_SCRIPT_TEMPLATE = '''\
# Built by `kk kernel {project}` from run {run_id} ({metric} CV {cv}).
# Reruns that run offline inside Kaggle: the kagglekit package is bundled below and the
# competition's data is attached as an input; writes /kaggle/working/submission.csv.
import base64
import io
import json
import os
import shutil
import sys
import zipfile
from pathlib import Path

SPEC = json.loads({spec!r})
PACKAGE = {package!r}

WORK = Path(os.environ.get("KK_KERNEL_WORKING", "/kaggle/working"))
# The package and the project's run folder live outside the kernel's output.
SCRATCH = Path(os.environ.get("KK_KERNEL_SCRATCH", "/tmp/kagglekit"))
INPUT = os.environ.get("KK_KERNEL_INPUT", "")


def find_input(train_file):
    """The attached competition folder (its path differs between Kaggle layouts)."""
    if INPUT:
        return Path(INPUT)
    root = Path("/kaggle/input")
    for folder in (root / SPEC["competition"], root / "competitions" / SPEC["competition"]):
        if (folder / train_file).exists():
            return folder
    for path in sorted(root.rglob(train_file)):
        return path.parent
    raise SystemExit("no " + train_file + " under /kaggle/input: attach the competition data")


def main():
    lib = SCRATCH / "package"
    shutil.rmtree(lib, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(PACKAGE))) as zf:
        zf.extractall(lib)
    sys.path.insert(0, str(lib))
    import kagglekit
    from kagglekit import data, folds, training
    from kagglekit.config import validate_config
    from kagglekit.loaders import required_files
    from kagglekit.project import Project

    print("kagglekit", kagglekit.__version__, "from", Path(kagglekit.__file__).parent)
    root = SCRATCH / "projects" / SPEC["project"]
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    if SPEC["features_py"] is not None:
        (root / "features.py").write_text(SPEC["features_py"])
    project = Project(name=SPEC["project"], root=root)
    cfg = validate_config(SPEC["config"], source="kernel spec")
    inputs = find_input(cfg.competition.train_file)
    data.fetch(project, cfg, from_dir=inputs, required=required_files(project, cfg))
    saved = folds.assign_project_folds(project, cfg)
    if saved.hash != SPEC["fold_hash"]:
        print("warning: fold hash", saved.hash, "differs from the local run's", SPEC["fold_hash"])
    result = training.train(project, cfg, model_name=SPEC["model"], overrides=SPEC["overrides"])
    WORK.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(result.submission_path, WORK / "submission.csv")
    print(json.dumps(result.summary()))


if __name__ == "__main__":
    main()
'''


def build_kernel(
    project: Project,
    cfg: ProjectConfig,
    *,
    run_id: str | None = None,
    out: Path | None = None,
    username: str = "",
) -> dict[str, Any]:
    """Write ``out/kernel-metadata.json`` and ``out/kagglekit_run.py`` for a run.

    Returns ``{"folder", "script", "metadata", "run_id", "id"}``. ``username`` is the
    kernel owner (the id is ``username/slug``); without it a placeholder is written and
    ``--push`` will need credentials.
    """
    slug = competition_slug(cfg)
    run = choose_run(project, run_id)
    folder = Path(out) if out is not None else default_folder(project)
    spec = kernel_spec(project, cfg, run, slug)
    cv = run.record.get("cv_mean")
    script = _SCRIPT_TEMPLATE.format(
        project=project.name,
        run_id=run.run_id,
        metric=spec["metric"],
        cv=f"{cv:.5f}" if isinstance(cv, int | float) else "n/a",
        spec=json.dumps(spec, sort_keys=True),
        package=base64.b64encode(package_zip()).decode("ascii"),
    )
    title = f"{slug} kagglekit {spec['model']}"
    owner = username or USERNAME_PLACEHOLDER
    metadata = {
        "id": f"{owner}/{slugify(title)}",
        "title": title,
        "code_file": SCRIPT,
        "language": "python",
        "kernel_type": "script",
        "is_private": True,
        "enable_gpu": False,
        "enable_tpu": False,
        "enable_internet": False,
        "dataset_sources": [],
        "competition_sources": [slug],
        "kernel_sources": [],
        "model_sources": [],
    }
    atomic.write_text(folder / SCRIPT, script)
    atomic.write_json(folder / METADATA, metadata)
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
