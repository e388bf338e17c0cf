"""A Kaggle API stub on 127.0.0.1 for tests and offline demos of the real client.

It speaks the protocol the official client uses (``POST /v1/{Service}/{Method}`` with
camelCase JSON, 302 redirects for downloads, a raw ``PUT`` for submission uploads; see
``shared/KAGGLE_API.md``), checks HTTP Basic credentials, and records every request so a
test can assert what reached "Kaggle" (e.g. that an invalid file was never uploaded).

``serve()`` points the in-process client at the stub by replacing the production entry
of ``kagglesdk.kaggle_env``'s endpoint table, and restores it afterwards.

It is as strict as the real service where kagglekit depends on it: errors carry no
``{"code", "message"}`` body (so the client raises requests' own ``403 Client Error:
Forbidden for url: ...``, which is what users of the real service see, Kaggle/kaggle-cli#831),
a user who has not joined a competition gets all-zero submission limits (as the API
documents), the daily quota and a file size limit are enforced when a submission is made,
a kernel's unknown competition source is reported in ``invalidCompetitionSources`` of a
successful reply, and list endpoints are paged. Kernels, datasets, blob uploads and the
accelerator quota are answered by ``stub_kernels`` (mixed in).
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kagglekit.kaggle.stub_kernels import KernelsService

Reply = tuple[int, dict[str, Any], dict[str, str]]


def zip_folder(folder: Path) -> bytes:
    """The files of ``folder`` as a zip archive (flat, as Kaggle serves competitions)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
            zf.write(path, path.relative_to(folder).as_posix())
    return buf.getvalue()


@dataclass
class Request:
    """One request the stub received."""

    method: str
    path: str
    rpc: str
    body: dict[str, Any]
    data: bytes
    auth: str | None


@dataclass
class KaggleStub(KernelsService):
    """State of the fake Kaggle: competitions, quotas, submissions, leaderboard, failures,
    kernels and datasets (``stub_kernels`` says what each kernel field does)."""

    username: str = "stub-user"
    key: str = "stub-key-0123456789abcdef"
    files: dict[str, bytes] = field(default_factory=dict)
    rules_accepted: set[str] = field(default_factory=set)
    limits: dict[str, Any] = field(
        default_factory=lambda: {
            "numToday": 0,
            "numTotal": 0,
            "numAllowedNow": 5,
            "limitedByTotal": False,
        }
    )
    submissions: list[dict[str, Any]] = field(default_factory=list)
    # Statuses GetSubmission answers in turn (then the submission's stored one).
    score_after: list[str] = field(default_factory=list)
    public_score: str = "0.81234"
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    put_status: int = 200
    # Answers GetSubmissionLimits gives before the current ``limits`` (a teammate may submit
    # between a quota read and the upload).
    stale_limits: list[dict[str, Any]] = field(default_factory=list)
    # The competition's submission file size limit (StartSubmissionUpload refuses larger).
    max_file_bytes: int | None = None
    # True: error bodies ``{"code", "message"}``, which kagglesdk turns into the message;
    # False (as users of the real service see): a body the client does not read.
    coded_errors: bool = False
    # Queued failures per RPC name (or "GET /files"): (status, message, headers).
    failures: dict[str, list[tuple[int, str, dict[str, str]]]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    url: str = ""
    # -- kernels, datasets, uploads, quota (``stub_kernels.KernelsService``)
    kernels: list[dict[str, Any]] = field(default_factory=list)
    kernel_versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    kernel_statuses: list[str] = field(default_factory=lambda: ["QUEUED", "RUNNING"])
    kernel_runner: Callable[[Any, dict[str, Any]], None] | None = None
    statusless_replies: int = 0
    output_page_size: int = 0
    push_errors: list[str] = field(default_factory=list)
    phone_verified: bool = True
    max_gpu_sessions: int = 2
    gpu_sessions_running: int = 0
    quota_used_hours: float = 4.5
    quota_total_hours: float = 30.0
    datasets: dict[str, list[dict[str, bytes]]] = field(default_factory=dict)
    dataset_pending: int = 1
    dataset_polls: dict[str, int] = field(default_factory=dict)
    blobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    upload_cuts: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- set-up helpers

    def add_competition(self, slug: str, folder: Path, *, accepted: bool = True) -> None:
        """Serve the files of ``folder`` as competition ``slug`` (zipped)."""
        self.files[slug] = zip_folder(folder)
        if accepted:
            self.rules_accepted.add(slug)

    def fail(self, rpc: str, status: int, message: str = "", **headers: str) -> None:
        """Make the next call of ``rpc`` answer ``status`` (queue several for several)."""
        self.failures.setdefault(rpc, []).append((status, message or f"error {status}", headers))

    def calls(self, rpc: str) -> list[Request]:
        """The requests received for ``rpc`` (e.g. ``"CreateSubmission"`` or ``"PUT"``)."""
        return [r for r in self.requests if r.rpc == rpc]

    # -- protocol

    def _authorized(self, auth: str | None) -> bool:
        token = base64.b64encode(f"{self.username}:{self.key}".encode()).decode()
        return auth == f"Basic {token}"

    def handle(self, method: str, path: str, body: dict[str, Any]) -> Reply:
        rpc = path.rsplit("/", 1)[-1]
        queued = self.failures.get(rpc) or []
        if queued:
            status, message, headers = queued.pop(0)
            return status, {"code": status, "message": message}, headers
        competition = body.get("competitionName", "")
        if competition and rpc != "SaveKernel":
            if competition not in self.files:
                # Kaggle answers 403, not 404, for a slug that does not exist.
                return _error(403, "Permission 'competitions.participate' was denied")
            if competition not in self.rules_accepted:
                if rpc == "GetSubmissionLimits":
                    # Documented: "empty/zeros if the user is not on a team yet".
                    return 200, {}, {}
                return _error(403, "You must accept this competition's rules first")
        handler = getattr(self, f"_rpc_{rpc}", None)
        if handler is None:
            return _error(404, f"no such method {rpc}")
        reply: Reply = handler(body)
        return reply

    def _rpc_DownloadDataFiles(self, body: dict[str, Any]) -> Reply:
        return 302, {}, {"Location": f"{self.url}/files/{body['competitionName']}.zip"}

    def _rpc_DownloadDataset(self, body: dict[str, Any]) -> Reply:
        ref = f"{body.get('ownerSlug')}/{body.get('datasetSlug')}"
        if ref not in self.files:
            return _error(404, "Dataset not found")
        return 302, {}, {"Location": f"{self.url}/files/{ref}.zip"}

    def _rpc_GetSubmissionLimits(self, body: dict[str, Any]) -> Reply:
        if self.stale_limits:
            return 200, self.stale_limits.pop(0), {}
        return 200, dict(self.limits), {}

    def _rpc_StartSubmissionUpload(self, body: dict[str, Any]) -> Reply:
        size = int(body.get("contentLength") or 0)
        if self.max_file_bytes is not None and size > self.max_file_bytes:
            return _error(400, f"File size {size} exceeds the limit of {self.max_file_bytes}")
        token = f"blob-{len(self.requests)}"
        return 200, {"token": token, "createUrl": f"{self.url}/upload/{token}"}, {}

    def _rpc_CreateSubmission(self, body: dict[str, Any]) -> Reply:
        uploaded = {r.path.rsplit("/", 1)[-1] for r in self.calls("PUT")}
        if body.get("blobFileTokens") not in uploaded:
            return _error(400, "blob file token was never uploaded")
        if self.limits["numAllowedNow"] <= 0:
            return _error(400, "Daily submission limit reached")
        ref = 1000 + len(self.submissions)
        put = [r for r in self.calls("PUT") if r.path.endswith(str(body["blobFileTokens"]))]
        self.submissions.insert(
            0,
            {
                "ref": ref,
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                "description": body.get("submissionDescription", ""),
                "fileName": "submission.csv",
                "totalBytes": len(put[-1].data),
                "status": "PENDING",
                "teamName": self.username,
            },
        )
        self.limits["numToday"] += 1
        self.limits["numTotal"] += 1
        self.limits["numAllowedNow"] = max(0, self.limits["numAllowedNow"] - 1)
        return 200, {"message": "Successfully submitted", "ref": ref}, {}

    def _rpc_GetSubmission(self, body: dict[str, Any]) -> Reply:
        found = [s for s in self.submissions if s["ref"] == int(body.get("ref", 0))]
        if not found:
            return _error(404, "Submission not found")
        sub = found[0]
        status = self.score_after.pop(0) if self.score_after else "COMPLETE"
        sub["status"] = status
        if status == "COMPLETE":
            sub.setdefault("publicScore", self.public_score)
        return 200, dict(sub), {}

    def _rpc_ListSubmissions(self, body: dict[str, Any]) -> Reply:
        return _page(self.submissions, body)

    def _rpc_GetLeaderboard(self, body: dict[str, Any]) -> Reply:
        return _page(self.leaderboard, body)


def _page(rows: list[dict[str, Any]], body: dict[str, Any]) -> Reply:
    """One page of a list endpoint: ``pageSize`` rows (20 unless asked) from ``pageToken``."""
    size = int(body.get("pageSize") or 20)
    start = int(body.get("pageToken") or 0)
    token = str(start + size) if start + size < len(rows) else ""
    return 200, {"submissions": rows[start : start + size], "nextPageToken": token}, {}


def _error(status: int, message: str) -> Reply:
    # The stub's own refusals; ``Handler`` sends them as ``coded_errors`` says.
    return status, {"code": status, "message": message}, {}


def _path(target: str) -> str:
    # Through HTTP_PROXY requests arrive in absolute form (http://localhost/api/v1/...).
    return urlsplit(target).path


def _handler_for(stub: KaggleStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _record(self, rpc: str, body: dict[str, Any], data: bytes) -> None:
            with stub._lock:
                stub.requests.append(
                    Request(
                        self.command,
                        self.path,
                        rpc,
                        body,
                        data,
                        self.headers.get("Authorization"),
                    )
                )

        def _send(self, status: int, payload: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _read(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_POST(self) -> None:
            data = self._read()
            path = _path(self.path)
            rpc = path.rsplit("/", 1)[-1]
            body = json.loads(data or b"{}")
            self._record(rpc, body, data)
            if not stub._authorized(self.headers.get("Authorization")):
                status, reply, headers = _error(401, "Unauthenticated")
            else:
                with stub._lock:
                    status, reply, headers = stub.handle("POST", path, body)
            if status >= 400 and not stub.coded_errors:
                # No ``{"code", "message"}`` JSON: the client raises requests' generic error.
                message = str(reply.get("message", ""))
                self._send(status, message.encode(), {"Content-Type": "text/plain", **headers})
                return
            payload = json.dumps(reply).encode() if reply or status == 200 else b""
            self._send(status, payload, {"Content-Type": "application/json", **headers})

        def do_GET(self) -> None:
            path = _path(self.path)
            self._record("GET", {}, b"")
            if path.startswith("/kernel-output/"):
                name = path.rsplit("/", 1)[-1]
                queued = stub.failures.get(f"GET {name}") or []
                if queued:
                    status, message, headers = queued.pop(0)
                    self._send(status, message.encode(), headers)
                    return
                with stub._lock:
                    status, data, headers = stub.output_file(path, self.headers.get("Range"))
                self._send(status, data, headers)
                return
            queued = stub.failures.get("GET /files") or []
            if queued:
                status, message, headers = queued.pop(0)
                self._send(status, message.encode(), headers)
                return
            name = path.removeprefix("/files/").removesuffix(".zip")
            if not path.startswith("/files/") or name not in stub.files:
                self._send(404, b"not found", {})
                return
            self._send(200, stub.files[name], {"Content-Type": "application/zip"})

        def do_PUT(self) -> None:
            data = self._read()
            self._record("PUT", {}, data)
            token = _path(self.path).rsplit("/", 1)[-1]
            with stub._lock:
                status, headers = stub.receive_upload(token, self.headers, data)
            self._send(status, b"", headers)

    return Handler


@contextlib.contextmanager
def serve(stub: KaggleStub | None = None) -> Iterator[KaggleStub]:
    """Run ``stub`` on 127.0.0.1 and point the in-process Kaggle client at it."""
    from kagglesdk import kaggle_env

    stub = stub or KaggleStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(stub))
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    table = kaggle_env._env_to_endpoint
    saved = table[kaggle_env.KaggleEnv.PROD]
    table[kaggle_env.KaggleEnv.PROD] = stub.url
    try:
        yield stub
    finally:
        table[kaggle_env.KaggleEnv.PROD] = saved
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
