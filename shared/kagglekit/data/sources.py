"""Remote data sources for ``kk fetch``: Kaggle (competition or dataset), a URL, torchvision.

Each one writes the files into a staging folder; ``data.raw.fetch`` checksums them and moves
them, read-only, into ``data/raw/``. A remote source is skipped entirely when
``data/raw/`` already holds its files and they still match their manifest.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import kagglekit.kaggle.api as kaggle_api
from kagglekit.config import CompetitionConfig
from kagglekit.errors import KKError, unknown_name

log = logging.getLogger(__name__)


def extract_zip(archive: Path, dest: Path, *, what: str) -> list[Path]:
    """Unpack ``archive`` into ``dest`` safely; nested ``.zip`` members are unpacked too.

    A single top-level folder shared by every member (``ml-latest-small/...``) is
    dropped, so config file names stay short. A damaged archive raises ``KKError``.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.infolist() if not m.is_dir()]
            if not members:
                raise KKError(f"{what}: the archive is empty; run kk fetch again")
            names = [PurePosixPath(m.filename) for m in members]
            roots = {n.parts[0] for n in names}
            strip = len(roots) == 1 and all(len(n.parts) > 1 for n in names)
            written = []
            for member, name in zip(members, names, strict=True):
                parts = name.parts[1:] if strip else name.parts
                if name.is_absolute() or ".." in parts or not parts:
                    raise KKError(f"{what}: the archive holds an unsafe path {name}; not extracted")
                target = dest.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as fin, open(target, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
                written.append(target)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as err:
        raise KKError(
            f"{what}: the downloaded archive is damaged ({err}); nothing was placed in data/raw: "
            "run kk fetch again"
        ) from None
    out = []
    for path in written:
        if path.suffix == ".zip" and zipfile.is_zipfile(path):
            # Kaggle wraps large single files (train.csv.zip) inside the competition zip.
            inner = extract_zip(path, path.parent, what=what)
            path.unlink()
            out.extend(inner)
        else:
            out.append(path)
    return out


def _place(download: Path, dest: Path, *, what: str) -> list[Path]:
    if zipfile.is_zipfile(download):
        return extract_zip(download, dest, what=what)
    if download.suffix == ".zip":
        raise KKError(
            f"{what}: the downloaded archive is damaged (not a zip file); nothing was placed "
            "in data/raw: run kk fetch again"
        )
    target = dest / download.name
    shutil.move(download, target)
    return [target]


@dataclass(frozen=True)
class KaggleSource:
    """A competition's files, or a dataset's (``slug`` = ``owner/name``), via the client."""

    slug: str
    remote: bool = field(default=True, init=False)

    @property
    def is_dataset(self) -> bool:
        return "/" in self.slug

    @property
    def description(self) -> str:
        kind = "dataset" if self.is_dataset else "competition"
        return f"kaggle {kind} {self.slug}"

    def fetch(self, dest: Path) -> list[Path]:
        api = kaggle_api.client()
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download-") as tmp:
            if self.is_dataset:
                archive = kaggle_api.download_dataset(api, self.slug, Path(tmp))
            else:
                archive = kaggle_api.download_competition(api, self.slug, Path(tmp))
            log.info("downloaded %s (%d bytes)", archive.name, archive.stat().st_size)
            return _place(archive, dest, what=f"downloading {self.description}")


@dataclass(frozen=True)
class UrlSource:
    """One file (often a zip) at a URL, checked against a required sha256."""

    url: str
    sha256: str
    remote: bool = field(default=True, init=False)

    @property
    def description(self) -> str:
        return f"url {self.url}"

    def fetch(self, dest: Path) -> list[Path]:
        name = PurePosixPath(self.url.split("?")[0]).name or "download"
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download-") as tmp:
            target = Path(tmp) / name
            digest = download_url(self.url, target)
            if digest != self.sha256.lower():
                raise KKError(
                    f"{self.url} has sha256 {digest}, but source.sha256 in config.toml is "
                    f"{self.sha256}; the file changed or the URL is wrong: check it and fix "
                    "source.sha256 only if you trust the new file"
                )
            return _place(target, dest, what=f"downloading {self.url}")


def download_url(
    url: str,
    target: Path,
    *,
    tries: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = 60.0,
) -> str:
    """Stream ``url`` into ``target``; back off on 429/5xx/network errors. Returns the sha256."""
    import requests

    tries = tries or kaggle_api.RETRY.tries
    for attempt in range(1, tries + 1):
        status: int | None = None
        retry_after: float | None = None
        try:
            with requests.get(url, stream=True, timeout=timeout) as response:
                status = response.status_code
                if status == 200:
                    digest = hashlib.sha256()
                    with open(target, "wb") as fh:
                        for chunk in response.iter_content(1 << 20):
                            digest.update(chunk)
                            fh.write(chunk)
                    return digest.hexdigest()
                header = response.headers.get("Retry-After")
                retry_after = float(header) if header and header.isdigit() else None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as err:
            if attempt == tries:
                raise KKError(
                    f"downloading {url}: network failure after {tries} tries "
                    f"({type(err).__name__}); check the connection and proxy settings"
                ) from None
        else:
            if status != 429 and not (status is not None and status >= 500):
                raise KKError(f"downloading {url}: the server answered {status}; check the URL")
            if attempt == tries:
                raise KKError(
                    f"downloading {url}: the server still answered {status} after {tries} "
                    "tries; try again later"
                )
        delay = kaggle_api.RETRY.delay(attempt, retry_after)
        log.warning("downloading %s failed (%s); retrying in %.1f s", url, status, delay)
        sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True)
class TorchvisionSource:
    """A torchvision dataset (``CIFAR10``, ``MNIST``, ...): the files torchvision downloads.

    Needs the ``vision`` extra (torch and torchvision).
    """

    dataset: str
    remote: bool = field(default=True, init=False)

    @property
    def description(self) -> str:
        return f"torchvision {self.dataset}"

    def fetch(self, dest: Path) -> list[Path]:
        try:
            from torchvision import datasets
        except ImportError:
            raise KKError(
                f"source kind 'torchvision' ({self.dataset}) needs the vision extra: "
                "pip install 'kagglekit[vision]'"
            ) from None
        factory = getattr(datasets, self.dataset, None)
        if factory is None:
            raise unknown_name("torchvision dataset", self.dataset, datasets.__all__)
        for train in (True, False):
            factory(root=str(dest), train=train, download=True)
        return [p for p in dest.rglob("*") if p.is_file()]


def remote_source(cfg: CompetitionConfig) -> KaggleSource | UrlSource | TorchvisionSource:
    """The remote source the config names (``source.kind`` kaggle, url or torchvision)."""
    source = cfg.source
    if source.kind == "kaggle":
        slug = cfg.slug or cfg.name
        return KaggleSource(slug)
    if source.kind == "url":
        if not source.url:
            raise KKError(f"competition '{cfg.name}' has source.kind 'url' but no source.url")
        if len(source.sha256) != 64:
            raise KKError(
                f"competition '{cfg.name}': a url source needs source.sha256 (64 hex digits) "
                "so the download can be checked; add it to config.toml"
            )
        return UrlSource(source.url, source.sha256)
    if source.kind == "torchvision":
        if not source.dataset:
            raise KKError(
                f"competition '{cfg.name}' has source.kind 'torchvision' but no source.dataset "
                '(e.g. dataset = "CIFAR10")'
            )
        return TorchvisionSource(source.dataset)
    raise KKError(f"source kind '{source.kind}' is not a remote source")
