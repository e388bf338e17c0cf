"""Raw competition files: fetching them into ``data/raw/`` once, and checking them after.

Raw files are immutable: ``kk fetch`` writes them once (read-only, with a sha256
manifest) and every later load verifies them against that manifest. Which files a
project needs is its loader's business (``loaders.required_files``): the caller passes
them to :func:`fetch`, so this module knows nothing of loaders.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Protocol

import kagglekit.atomic as atomic
import kagglekit.data.kaggle_input as kaggle_input
from kagglekit.config import CompetitionConfig, ProjectConfig
from kagglekit.data.sources import remote_source
from kagglekit.errors import KKError
from kagglekit.project import Project

log = logging.getLogger(__name__)

MANIFEST = "MANIFEST.json"
MIRROR_ENV = "KK_DATA_MIRROR"


class DataSource(Protocol):
    """Something that can place a competition's files into a folder."""

    @property
    def description(self) -> str:
        """Where the files come from, for messages and the manifest."""
        ...

    def fetch(self, dest: Path) -> list[Path]:
        """Write the competition files into ``dest`` and return their paths."""
        ...


@dataclass(frozen=True)
class MirrorSource:
    """An offline copy of a competition's files in a local folder."""

    folder: Path

    @property
    def description(self) -> str:
        return f"local mirror {self.folder}"

    def fetch(self, dest: Path) -> list[Path]:
        if not self.folder.is_dir():
            raise KKError(
                f"mirror folder {self.folder} does not exist; pass --from with the folder that "
                f"holds the competition files, or fix {MIRROR_ENV}"
            )
        files = sorted(
            p for p in self.folder.rglob("*") if p.is_file() and not p.name.startswith(".")
        )
        if not files:
            raise KKError(f"mirror folder {self.folder} has no files; check the path")
        written = []
        for src in files:
            target = dest / src.relative_to(self.folder)
            atomic.write_atomic(target, partial(_copy_into, src))
            written.append(target)
        return written


@dataclass(frozen=True)
class KaggleInputSource(MirrorSource):
    """A competition's or dataset's files as attached to a Kaggle notebook (read-only)."""

    @property
    def description(self) -> str:
        return f"kaggle input {self.folder}"


def _copy_into(src: Path, fh: IO[bytes]) -> None:
    with open(src, "rb") as fin:
        shutil.copyfileobj(fin, fh)


def resolve_source(
    cfg: CompetitionConfig, from_dir: Path | None, required: Sequence[str] = ()
) -> DataSource:
    """Pick the data source: ``--from`` first, then ``KK_DATA_MIRROR``, then, inside Kaggle,
    the attached input that holds the ``required`` files, then the config's.

    Inside Kaggle nothing is downloaded (internet is usually off there): an input that is
    not attached is a one-line error naming the files.
    """
    if from_dir is not None:
        return MirrorSource(Path(from_dir))
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        folder = cfg.source.mirror_folder or cfg.slug or cfg.name
        return MirrorSource(Path(mirror) / folder)
    names = (cfg.slug, cfg.name, cfg.source.mirror_folder, cfg.source.dataset)
    attached = kaggle_input.find_competition_folder(required, names)
    if attached is not None:
        return KaggleInputSource(attached)
    if cfg.source.kind == "mirror":
        raise KKError(
            f"competition '{cfg.name}' reads a local mirror; pass --from DIR or set {MIRROR_ENV}"
        )
    return remote_source(cfg)


def fetch(
    project: Project,
    cfg: ProjectConfig,
    *,
    from_dir: Path | None = None,
    required: Sequence[str] = (),
) -> dict[str, str]:
    """Copy the competition's files into ``data/raw/`` once, recording sha256 checksums.

    Returns the manifest ``{relative path: sha256}``. If ``data/raw/`` already holds the
    same files nothing is written; if it holds different ones this refuses (raw data is
    immutable: delete ``data/raw/`` to fetch again). ``required`` names the files the
    project's loader needs (``loaders.required_files(project, cfg)``, as ``kk fetch``
    passes them): a source without one of them is refused before anything is written.
    """
    local = cfg.competition.source
    if from_dir is None and local.kind == "mirror" and local.path:
        # A local competition names its own folder: read it again, never Kaggle.
        from_dir = (project.root / Path(local.path).expanduser()).resolve()  # absolute stays
    source = resolve_source(cfg.competition, from_dir, required)
    raw = project.raw_dir
    manifest_path = raw / MANIFEST
    if getattr(source, "remote", False) and manifest_path.exists():
        # Downloading costs time and rate limit: files already there and intact are enough.
        existing = verify_raw(project)
        recorded = json.loads(manifest_path.read_text()).get("source")
        log.info("%s already holds the files (from %s); nothing to download", raw, recorded)
        return existing
    staging = raw.parent / ".raw-staging"
    if staging.exists():
        _remove_tree(staging)
    staging.mkdir(parents=True)
    try:
        files = source.fetch(staging)
        fresh = {str(p.relative_to(staging)): atomic.sha256_file(p) for p in files}
        _check_required(required, set(fresh), source.description)
        if manifest_path.exists():
            existing = _read_manifest(manifest_path)
            if existing == fresh:
                log.info("data/raw already matches %s", source.description)
                return existing
            changed = sorted(
                k for k in set(existing) | set(fresh) if existing.get(k) != fresh.get(k)
            )
            raise KKError(
                f"{raw} already holds different files ({', '.join(changed[:3])}) than "
                f"{source.description}; raw data is immutable: delete {raw} to fetch again"
            )
        if raw.exists() and any(raw.iterdir()):
            raise KKError(f"{raw} has files but no {MANIFEST}; delete {raw} and fetch again")
        for path in staging.rglob("*"):
            if path.is_file():
                path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        atomic.write_json(staging / MANIFEST, {"source": source.description, "sha256": fresh})
        if raw.exists():
            raw.rmdir()
        os.replace(staging, raw)
        return fresh
    finally:
        if staging.exists():
            _remove_tree(staging)


def _remove_tree(path: Path) -> None:
    for p in path.rglob("*"):
        if p.is_file():
            p.chmod(stat.S_IWUSR | stat.S_IRUSR)
    shutil.rmtree(path)


def _read_manifest(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text())
    return dict(data["sha256"])


def _check_required(required: Sequence[str], names: set[str], where: str) -> None:
    for name in required:
        if name not in names:
            raise KKError(
                f"{where} has no '{name}' (found: {', '.join(sorted(names)[:6])}); "
                "point --from at the competition's folder or fix the file names in config.toml"
            )


def verify_raw(project: Project) -> dict[str, str]:
    """Check ``data/raw/`` against its manifest; raise if a file changed or is missing."""
    manifest_path = project.raw_dir / MANIFEST
    if not manifest_path.exists():
        raise KKError(
            f"{project.raw_dir} has no data; run `kk fetch {project.name} --from DIR` "
            f"(or set {MIRROR_ENV})"
        )
    manifest = _read_manifest(manifest_path)
    for rel, digest in manifest.items():
        path = project.raw_dir / rel
        if not path.exists():
            raise KKError(f"{path} is missing; delete {project.raw_dir} and fetch again")
        if atomic.sha256_file(path) != digest:
            raise KKError(
                f"{path} no longer matches its checksum; raw data is immutable: "
                f"delete {project.raw_dir} and fetch again"
            )
    return manifest
