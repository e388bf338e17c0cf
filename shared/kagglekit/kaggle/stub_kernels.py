"""The stub's kernels, datasets, blob uploads and quota (mixed into ``stub.KaggleStub``).

It answers what ``shared/KAGGLE_KERNELS.md`` says the real service answers, driven by
the pinned official client:

* ``SaveKernel``: a refusal is ``error`` in a 200 reply (not phone-verified with GPU or
  internet, too many GPU sessions, no GPU quota left, or any queued ``push_errors``); a
  source it cannot attach is listed in ``invalid*Sources`` of a successful reply.
* ``GetKernelSessionStatus`` by ``versionLabel`` "vN": the statuses in
  ``kernel_statuses`` one per poll, then the run (``kernel_runner``) and COMPLETE or
  ERROR + ``failureMessage``; ``statusless_replies`` replies without ``status`` first.
* ``ListKernelSessionOutput``: ``{files: [{url, fileName}], log, nextPageToken}``, paged
  (at most ``output_page_size`` a page when set), file URLs served by plain GET with
  Content-Length, Last-Modified, ETag and byte ranges.
* ``StartBlobUpload`` + ``PUT createUrl``: resumable (``Content-Range: bytes */N`` is
  answered 308 with ``Range``); ``upload_cuts`` cuts the next PUTs short (the bytes
  before the cut are kept, the reply is 500, so the client raises and creates nothing).
* ``CreateDataset``/``CreateDatasetVersion`` (every file's upload must be complete),
  ``GetDatasetStatus`` (NOT_YET_PERSISTED ``dataset_pending`` times after each version,
  then READY), ``GetAcceleratorQuotaStatistics`` (durations as "Ns" strings).

``LocalKernelRunner`` runs a pushed script in a subprocess with its sources laid out as
``/kaggle/input`` lays them out, so a test gets real outputs from a real run.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

Reply = tuple[int, dict[str, Any], dict[str, str]]
FINISHED = ("COMPLETE", "ERROR", "CANCEL_ACKNOWLEDGED")
# The stub's wording; the real service's is not published (KAGGLE_KERNELS.md).
NOT_VERIFIED = "Phone verification is required to use accelerators or the internet"
TOO_MANY_GPU = "Maximum batch GPU session count of {n} reached"
NO_QUOTA = "GPU quota exceeded for this week"
SCRIPT_FAILED = "Your notebook exited with an error (exit code {code})"


def _err(status: int, message: str) -> Reply:
    return status, {"code": status, "message": message}, {}


class KernelsService:
    """The RPCs and file routes of kernels, datasets, uploads and quota.

    The state lives in ``KaggleStub``'s fields (declared there, with their defaults).
    """

    url: str
    username: str
    files: dict[str, bytes]
    rules_accepted: set[str]
    put_status: int
    kernels: list[dict[str, Any]]
    kernel_versions: dict[str, list[dict[str, Any]]]
    kernel_statuses: list[str]
    kernel_runner: Any
    statusless_replies: int
    output_page_size: int
    push_errors: list[str]
    phone_verified: bool
    max_gpu_sessions: int
    gpu_sessions_running: int
    quota_used_hours: float
    quota_total_hours: float
    datasets: dict[str, list[dict[str, bytes]]]
    dataset_pending: int
    dataset_polls: dict[str, int]
    blobs: dict[str, dict[str, Any]]
    upload_cuts: list[int]

    # -- kernels

    def _rpc_SaveKernel(self, body: dict[str, Any]) -> Reply:
        self.kernels.append(body)
        if self.push_errors:
            return 200, {"error": self.push_errors.pop(0)}, {}
        slug = str(body.get("slug", ""))
        gpu = bool(body.get("enableGpu")) or str(body.get("machineShape") or "").startswith(
            "Nvidia"
        )
        if (gpu or body.get("enableInternet", True)) and not self.phone_verified:
            return 200, {"error": NOT_VERIFIED}, {}
        if gpu and self._gpu_sessions() >= self.max_gpu_sessions:
            return 200, {"error": TOO_MANY_GPU.format(n=self.max_gpu_sessions)}, {}
        if gpu and self.quota_used_hours >= self.quota_total_hours:
            return 200, {"error": NO_QUOTA}, {}
        versions = self.kernel_versions.setdefault(slug, [])
        number = len(versions) + 1
        versions.append(
            {
                "slug": slug,
                "number": number,
                "body": body,
                "gpu": gpu,
                "queue": list(self.kernel_statuses),
                "status": "QUEUED",
                "failure": "",
                "log": [],
                "outputs": {},
                "ran": False,
            }
        )
        # Kaggle saves the kernel anyway and lists the sources it could not attach.
        reply: dict[str, Any] = {
            "ref": slug,
            "url": f"https://www.kaggle.com/code/{slug}",
            "versionNumber": number,
            "kernelId": 100 + len(self.kernel_versions),
        }
        comps = [
            c for c in body.get("competitionDataSources") or [] if c not in self.rules_accepted
        ]
        sets = [d for d in body.get("datasetDataSources") or [] if not self._dataset_ready(d)]
        if comps:
            reply["invalidCompetitionSources"] = comps
        if sets:
            reply["invalidDatasetSources"] = sets
        return 200, reply, {}

    def _gpu_sessions(self) -> int:
        mine = sum(
            1
            for versions in self.kernel_versions.values()
            for v in versions
            if v["gpu"] and v["status"] not in FINISHED
        )
        return mine + self.gpu_sessions_running

    def _version(self, body: dict[str, Any]) -> dict[str, Any] | None:
        versions = self.kernel_versions.get(f"{body.get('userName')}/{body.get('kernelSlug')}")
        if not versions:
            return None
        label = str(body.get("versionLabel") or "")
        if not label:
            return versions[-1]
        if not re.fullmatch(r"v\d+", label):  # a bare number is a 404 (kaggle-cli#1201)
            return None
        number = int(label[1:])
        return versions[number - 1] if 1 <= number <= len(versions) else None

    def _rpc_GetKernelSessionStatus(self, body: dict[str, Any]) -> Reply:
        version = self._version(body)
        if version is None:
            return _err(404, "Kernel session not found")
        if self.statusless_replies > 0:
            self.statusless_replies -= 1
            return 200, {}, {}
        if version["queue"]:
            version["status"] = version["queue"].pop(0)
        elif not version["ran"]:
            version["ran"] = True
            version["status"] = "COMPLETE"
            if self.kernel_runner is not None:
                self.kernel_runner(self, version)
        reply: dict[str, Any] = {"status": version["status"]}
        if version["failure"]:
            reply["failureMessage"] = version["failure"]
        return 200, reply, {}

    def _rpc_ListKernelSessionOutput(self, body: dict[str, Any]) -> Reply:
        version = self._version(body)
        if version is None:
            return _err(404, "Kernel session not found")
        names = sorted(version["outputs"])
        size = int(body.get("pageSize") or 20)
        if self.output_page_size:
            size = min(size, self.output_page_size)
        start = int(body.get("pageToken") or 0)
        page = names[start : start + size]
        base = f"{self.url}/kernel-output/{version['slug']}/{version['number']}"
        return (
            200,
            {
                "files": [{"url": f"{base}/{quote(n)}", "fileName": n} for n in page],
                "log": json.dumps(version["log"]),
                "nextPageToken": str(start + size) if start + size < len(names) else "",
            },
            {},
        )

    def output_file(self, path: str, range_header: str | None) -> tuple[int, bytes, dict[str, str]]:
        """GET ``/kernel-output/OWNER/SLUG/N/NAME``: the file, or the asked byte range."""
        parts = path.removeprefix("/kernel-output/").split("/", 3)
        if len(parts) < 4:
            return 404, b"not found", {}
        versions = self.kernel_versions.get(f"{parts[0]}/{parts[1]}") or []
        number = int(parts[2]) if parts[2].isdigit() else 0
        data = (
            versions[number - 1]["outputs"].get(unquote(parts[3]))
            if 0 < number <= len(versions)
            else None
        )
        if data is None:
            return 404, b"not found", {}
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": f'"{number}-{len(data)}"',
            "Last-Modified": formatdate(1_700_000_000, usegmt=True),
            "Content-Type": "application/octet-stream",
        }
        match = re.fullmatch(r"bytes=(\d+)-", range_header or "")
        if match and int(match.group(1)) < len(data):
            start = int(match.group(1))
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            return 206, data[start:], headers
        return 200, data, headers

    def _rpc_GetAcceleratorQuotaStatistics(self, body: dict[str, Any]) -> Reply:
        def quota(used: float, total: float) -> dict[str, Any]:
            return {
                "timeUsed": f"{int(used * 3600)}s",
                "timeReserved": "0s",
                "totalTimeAllowed": f"{int(total * 3600)}s",
                "minimumTimeAllowed": f"{int(total * 3600)}s",
                "hasEverRun": used > 0,
            }

        return (
            200,
            {
                "quotaRefreshTime": "2030-01-05T00:00:00Z",
                "gpuQuota": quota(self.quota_used_hours, self.quota_total_hours),
                "tpuQuota": quota(0.0, 20.0),
            },
            {},
        )

    # -- blobs and datasets

    def _rpc_StartBlobUpload(self, body: dict[str, Any]) -> Reply:
        token = f"blob-{len(self.blobs) + 1}"
        self.blobs[token] = {
            "name": body.get("name", ""),
            "size": int(body.get("contentLength") or 0),
            "data": bytearray(),
        }
        return 200, {"token": token, "createUrl": f"{self.url}/upload/{token}"}, {}

    def receive_upload(self, token: str, headers: Any, data: bytes) -> tuple[int, dict[str, str]]:
        """A ``PUT`` to an upload URL: a resume query, a (partial) upload, or a cut one."""
        blob = self.blobs.get(token)
        if blob is None:  # a submission upload (StartSubmissionUpload): stored whole
            return self.put_status, {}
        received = blob["data"]
        content_range = headers.get("Content-Range") or ""
        if content_range.startswith("bytes */"):
            if len(received) >= blob["size"]:
                return 200, {}
            return 308, ({"Range": f"bytes=0-{len(received) - 1}"} if received else {})
        match = re.match(r"bytes (\d+)-", content_range)
        start = int(match.group(1)) if match else 0
        del received[start:]
        if self.upload_cuts:
            received.extend(data[: self.upload_cuts.pop(0)])
            return 500, {}
        received.extend(data)
        return (200 if len(received) >= blob["size"] else 308), {}

    def _files_of(self, files: list[dict[str, Any]]) -> dict[str, bytes] | Reply:
        out: dict[str, bytes] = {}
        for item in files:
            blob = self.blobs.get(str(item.get("token")))
            if blob is None or len(blob["data"]) != blob["size"]:
                return _err(400, f"blob {item.get('token')} was not uploaded in full")
            out[blob["name"]] = bytes(blob["data"])
        return out

    def _rpc_CreateDataset(self, body: dict[str, Any]) -> Reply:
        ref = f"{body.get('ownerSlug')}/{body.get('slug')}"
        if body.get("ownerSlug") != self.username:
            return (
                200,
                {"status": "error", "error": "You cannot create datasets for that owner"},
                {},
            )
        if ref in self.datasets:
            return (
                200,
                {
                    "status": "error",
                    "error": f'The requested slug "{body.get("slug")}" is already in use',
                },
                {},
            )
        files = self._files_of(body.get("files") or [])
        if isinstance(files, tuple):
            return files
        self.datasets[ref] = [files]
        self.dataset_polls[ref] = self.dataset_pending
        return (
            200,
            {"ref": ref, "url": f"https://www.kaggle.com/datasets/{ref}", "status": "ok"},
            {},
        )

    def _rpc_CreateDatasetVersion(self, body: dict[str, Any]) -> Reply:
        ref = f"{body.get('ownerSlug')}/{body.get('datasetSlug')}"
        if ref not in self.datasets:
            return _err(404, "Dataset not found")
        files = self._files_of((body.get("body") or {}).get("files") or [])
        if isinstance(files, tuple):
            return files
        self.datasets[ref].append(files)
        self.dataset_polls[ref] = self.dataset_pending
        return (
            200,
            {"ref": ref, "url": f"https://www.kaggle.com/datasets/{ref}", "status": "ok"},
            {},
        )

    def _rpc_GetDatasetStatus(self, body: dict[str, Any]) -> Reply:
        ref = f"{body.get('ownerSlug')}/{body.get('datasetSlug')}"
        if ref not in self.datasets:
            return _err(404, "Dataset not found")
        if self.dataset_polls.get(ref, 0) > 0:
            self.dataset_polls[ref] -= 1
            return 200, {"status": "NOT_YET_PERSISTED"}, {}
        return 200, {"status": "READY"}, {}

    def _dataset_ready(self, ref: str) -> bool:
        return ref in self.datasets and self.dataset_polls.get(ref, 0) == 0


class LocalKernelRunner:
    """Runs a pushed kernel's script here, as Kaggle would run it, for ``kernel_runner``.

    Its competition and dataset sources are laid out under ``ROOT/SLUG-vN/input`` as
    ``/kaggle/input/competitions/SLUG`` and ``/kaggle/input/datasets/OWNER/SLUG`` (zip
    files unpacked, as Kaggle unpacks them), the script runs in a fresh interpreter
    (``-I``: only what it carries and the image's packages) with the network closed,
    and what ``working`` holds at the end becomes the version's output; its stdout and
    stderr become the log. ``env`` adds variables (a test's extra settings).
    """

    def __init__(self, root: Path, *, timeout: float = 600, env: dict[str, str] | None = None):
        self.root = Path(root)
        self.timeout = timeout
        self.env = dict(env or {})
        self.seconds: list[float] = []

    def __call__(self, stub: Any, version: dict[str, Any]) -> None:
        body = version["body"]
        folder = self.root / f"{body['slug'].replace('/', '--')}-v{version['number']}"
        inputs, working = folder / "input", folder / "working"
        working.mkdir(parents=True, exist_ok=True)
        for slug in body.get("competitionDataSources") or []:
            if slug in stub.files:
                _unzip(stub.files[slug], inputs / "competitions" / slug)
        for ref in body.get("datasetDataSources") or []:
            for name, data in (stub.datasets.get(ref) or [{}])[-1].items():
                target = inputs / "datasets" / ref
                if name.endswith(".zip"):
                    _unzip(data, target)
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    (target / name).write_bytes(data)
        script = folder / "script.py"
        script.write_text(body.get("text", ""), encoding="utf-8")
        dead = "http://127.0.0.1:9"  # internet off: any request fails at once
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(folder),
            "KAGGLE_KERNEL_RUN_TYPE": "Batch",
            "KK_KAGGLE_INPUT": str(inputs),
            "KK_KERNEL_WORKING": str(working),
            "KK_KERNEL_SCRATCH": str(folder / "scratch"),
            "HTTPS_PROXY": dead,
            "HTTP_PROXY": dead,
            "OMP_NUM_THREADS": "1",
            **self.env,
        }
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-I", str(script)],
            cwd=working,
            env=env,
            capture_output=True,
            text=True,
            timeout=self.timeout,
        )
        self.seconds.append(time.perf_counter() - started)
        version["log"] = [
            {"stream_name": stream, "time": 0.0, "data": line}
            for stream, text in (("stdout", proc.stdout), ("stderr", proc.stderr))
            for line in text.splitlines(keepends=True)
        ]
        version["outputs"] = {
            p.relative_to(working).as_posix(): p.read_bytes()
            for p in sorted(working.rglob("*"))
            if p.is_file()
        }
        if proc.returncode != 0:
            version["status"] = "ERROR"
            version["failure"] = SCRIPT_FAILED.format(code=proc.returncode)


def _unzip(data: bytes, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        zf.extractall(target)
