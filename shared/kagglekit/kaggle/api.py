"""The official ``kaggle`` client behind one small, typed, quiet interface.

Pinned: ``kaggle==2.2.5`` with ``kagglesdk==0.1.38`` (the ``kaggle`` extra). Part of what
follows relies on private details of those versions (see ``shared/KAGGLE_API.md``).

* The client is imported lazily, after the environment is set: ``import kaggle``
  authenticates at import time and reads ``KAGGLE_CONFIG_DIR`` once.
* Its ``print`` output is captured and logged at DEBUG level with credentials removed;
  nothing it says reaches the terminal directly.
* Every failure becomes a one-line ``KKError``: 401 (stale key), 403 (rules not accepted
  or a misspelt slug), 404, 429 (retried with backoff first), size limits, network.
* Calls are plain functions returning plain dicts, so the rest of kagglekit never sees a
  ``kagglesdk`` type.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import io
import json
import logging
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from kagglekit.errors import KKError

log = logging.getLogger(__name__)

T = TypeVar("T")

TOKEN_PAGE = "https://www.kaggle.com/settings/api"
# Where kaggle 2.2.5 looks, in its words (``KaggleApi.config_dir``); one sentence everywhere.
CONFIG_RULE = (
    "KAGGLE_CONFIG_DIR, else ~/.kaggle if that folder exists, else $XDG_CONFIG_HOME/kaggle "
    "(~/.config/kaggle) on Linux"
)
NO_CREDENTIALS = (
    "no Kaggle credentials: create a token at " + TOKEN_PAGE + " and save kaggle.json in "
    "{where} (chmod 600; the client reads " + CONFIG_RULE + "), or set KAGGLE_USERNAME and "
    "KAGGLE_KEY (or KAGGLE_API_TOKEN)"
)
# What the client answers, without raising, when the file upload step of a submit failed.
UPLOAD_FAILED = "Could not submit to competition"


class KaggleError(KKError):
    """A failed Kaggle call, explained in one line.

    ``status`` is the HTTP status (or None) and ``rpc`` the API method that failed (the last
    part of the request URL, e.g. ``"CreateSubmission"``; "" when not known): what the real
    client exposes, since the real service's error bodies carry no message it reads.
    """

    def __init__(
        self, message: str, status: int | None = None, rpc: str = "", *, network: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.rpc = rpc
        self.network = network  # Kaggle could not be reached at all


class KaggleUnavailable(KKError):
    """No Kaggle client here: it is not installed, or no credentials are set. What may fall
    back to local data (``kk submissions`` to the ledger) does so on this, not on a failed
    call."""


@dataclass
class RetryPolicy:
    """How often and how long to back off on 429, 5xx and network errors."""

    tries: int = 5
    base_seconds: float = 2.0
    max_seconds: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed try ``attempt`` (1-based): Retry-After wins."""
        if retry_after is not None:
            return min(self.max_seconds, retry_after)
        return min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1))


RETRY = RetryPolicy()


# ----------------------------------------------------------------------------- credentials


def config_dir() -> Path:
    """The folder whose ``kaggle.json`` the client reads (see ``CONFIG_RULE``).

    The same rule as ``KaggleApi.config_dir`` in kaggle 2.2.5, which also creates that
    folder when it imports: the answer must not depend on whether it exists yet.
    """
    env = os.environ.get("KAGGLE_CONFIG_DIR")
    if env:
        return Path(env)
    home = Path.home() / ".kaggle"
    if sys.platform.startswith("linux") and not home.exists():
        return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "kaggle"
    return home


def _secrets() -> list[str]:
    """Every credential value the client may hold, so messages can be scrubbed of them."""
    values = [os.environ.get(k, "") for k in ("KAGGLE_KEY", "KAGGLE_API_TOKEN")]
    user = os.environ.get("KAGGLE_USERNAME", "")
    path = config_dir() / "kaggle.json"
    with contextlib.suppress(OSError, ValueError, AttributeError):
        data = json.loads(path.read_text())
        values.append(str(data.get("key", "")))
        user = user or str(data.get("username", ""))
    # The HTTP Basic form of each key, as a verbose client would echo it.
    values += [base64.b64encode(f"{user}:{v}".encode()).decode() for v in values if v]
    return [v for v in values if len(v) >= 4]


def scrub(text: str, extra: list[str] | None = None) -> str:
    """``text`` with every known credential replaced by ``***``."""
    for secret in [*_secrets(), *(extra or [])]:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    # Basic/Bearer headers that a verbose client might echo.
    return re.sub(r"(Authorization:\s*\w+\s+)\S+", r"\1***", text)


def warn_if_exposed() -> None:
    """Warn (log) when ``kaggle.json`` is readable by the group or by others."""
    path = config_dir() / "kaggle.json"
    with contextlib.suppress(OSError):
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning(
                "%s is readable by other users (mode %o); run: chmod 600 %s",
                path,
                stat.S_IMODE(mode),
                path,
            )


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Capture what the client prints and log it at DEBUG level, scrubbed."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield
    finally:
        said = (out.getvalue() + err.getvalue()).strip()
        if said:
            log.debug("kaggle client: %s", scrub(said))


def client() -> Any:
    """An authenticated ``KaggleApi``; a one-line ``KKError`` when credentials are missing."""
    warn_if_exposed()
    folder = config_dir()
    with _quiet():
        try:
            from kaggle.api.kaggle_api_extended import KaggleApi
        except ImportError:
            raise KaggleUnavailable(
                "the Kaggle client is not installed; run: pip install 'kagglekit[kaggle]'"
            ) from None
        api = KaggleApi()
        # The class reads KAGGLE_CONFIG_DIR once, at import; follow the current environment.
        api.config_dir = str(folder)
        api.config = str(folder / "kaggle.json")
        try:
            api.authenticate()
        except SystemExit:
            raise KaggleUnavailable(NO_CREDENTIALS.format(where=folder)) from None
        except Exception as err:  # an access token is checked over the network
            raise explain(err, what="authenticating with Kaggle", slug="") from None
    return api


def username(api: Any) -> str:
    """The Kaggle user name the client authenticated as ('' when it is not known)."""
    return str(api.config_values.get("username") or "")


# ----------------------------------------------------------------------------- errors


def _status(err: BaseException) -> int | None:
    response = getattr(err, "response", None)
    code = getattr(response, "status_code", None)
    return int(code) if isinstance(code, int) else None


def _is_network(err: BaseException) -> bool:
    import requests

    return isinstance(err, requests.exceptions.ConnectionError | requests.exceptions.Timeout)


def _retry_after(err: BaseException, now: datetime | None = None) -> float | None:
    """Seconds ``Retry-After`` asks for: delay-seconds or an HTTP-date (RFC 9110 10.2.3)."""
    response = getattr(err, "response", None)
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" dates: RFC 5322 says UTC
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _rpc(err: BaseException) -> str:
    """The API method of the failed request (``.../v1/{Service}/{Method}``), or ''."""
    response = getattr(err, "response", None)
    url = str(getattr(response, "url", "") or "")
    if not url:
        url = str(getattr(getattr(response, "request", None), "url", "") or "")
    return url.rstrip("/").rsplit("/", 1)[-1] if "/v1/" in url else ""


def _server_message(err: BaseException) -> str:
    """What the server said, or '' when the error is requests' own ``N Client Error ...``.

    kagglesdk raises with the server's message only for a ``{"code", "message"}`` body; the
    real service's errors reach users as ``403 Client Error: Forbidden for url: ...``, which
    says nothing the status and the request URL do not.
    """
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if re.match(r"\d{3} (Client|Server) Error\b", text):
        return ""
    return scrub(text)[:200]


def explain(err: BaseException, *, what: str, slug: str, tries: int = 1) -> KaggleError:
    """A one-line error for a failed client call ``what`` on competition ``slug``."""
    status = _status(err)
    rpc = _rpc(err)
    message = _explain(err, status, rpc, what=what, slug=slug, tries=tries)
    return KaggleError(message, status, rpc, network=status is None and _is_network(err))


def _explain(
    err: BaseException, status: int | None, rpc: str, *, what: str, slug: str, tries: int
) -> str:
    server = _server_message(err)
    # "(403 at GetSubmissionLimits: message)": the status, the request, and a message if any.
    said = " ".join(str(p) for p in (status, f"at {rpc}" if rpc else "") if p)
    said = f"{said}: {server}" if said and server else said or server
    kind = "dataset" if "/" in slug else "competition"
    if status == 401:
        return (
            f"{what}: Kaggle rejected the credentials (401): the API key is stale or was "
            f"regenerated; create a new token at {TOKEN_PAGE} and replace kaggle.json "
            "(or KAGGLE_USERNAME/KAGGLE_KEY)"
        )
    if status == 403:
        if kind == "dataset":
            return (
                f"{what}: Kaggle refused access to dataset '{slug}' ({said}); the dataset "
                "is private or its name is misspelt: check competition.slug in config.toml"
            )
        return (
            f"{what}: Kaggle refused access to competition '{slug}' ({said}); either its "
            f"rules are not accepted: accept them at https://www.kaggle.com/competitions/{slug}/rules "
            "(the API cannot), or the slug is misspelt: check competition.slug in config.toml"
        )
    if status == 404:
        return (
            f"{what}: '{slug}' was not found on Kaggle ({said}); check the {kind} name "
            "(competition.slug in config.toml, as in the Kaggle URL)"
        )
    # Keyed on the request that failed: the real service's message is not readable.
    too_large = status == 413 or (rpc == "StartSubmissionUpload" and status == 400)
    if too_large or re.search(r"too large|exceeds|size limit", server, re.IGNORECASE):
        return (
            f"{what}: Kaggle refused to start the upload ({said}); the usual reason is a file "
            "over the competition's size limit: zip it "
            "(e.g. `zip submission.csv.zip submission.csv`) and pass --file with the zip"
        )
    limit_words = r"daily|submission limit|limit reached|maximum number of submissions"
    if re.search(limit_words, server, re.IGNORECASE):
        return (
            f"{what}: the submission limit is reached ({said}); the daily limit resets at "
            "00:00 UTC: submit then"
        )
    if status == 429:
        return (
            f"{what}: Kaggle is rate limiting this account (429) and still did after {tries} "
            "tries; wait a few minutes and run the command again"
        )
    if status is not None and status >= 500:
        return f"{what}: Kaggle had a server error ({said}) after {tries} tries; try again later"
    if _is_network(err):
        return (
            f"{what}: cannot reach Kaggle (network failure after {tries} tries: "
            f"{type(err).__name__}); check the connection, proxy settings (HTTPS_PROXY) "
            "and that api.kaggle.com is reachable"
        )
    if rpc == "CreateSubmission" and status is not None:
        return (
            f"{what}: Kaggle refused to create the submission ({said}) after the file was "
            "uploaded; nothing was submitted"
        )
    if status is not None:
        return f"{what}: Kaggle answered {said}"
    return f"{what}: the Kaggle client failed: {type(err).__name__}: {said}"


def call(
    fn: Callable[[], T],
    *,
    what: str,
    slug: str,
    retry_network: bool = True,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run one client call quietly; back off and retry on 429 (and 5xx/network if allowed).

    ``retry_network=False`` is for calls that must not run twice by accident (creating a
    submission): a 429 is a refusal and safe to retry, a dropped connection is not.
    """
    policy = policy or RETRY
    for attempt in range(1, policy.tries + 1):
        try:
            with _quiet():
                return fn()
        except KKError:
            raise
        except Exception as err:
            status = _status(err)
            retriable = status == 429 or (
                retry_network and ((status is not None and status >= 500) or _is_network(err))
            )
            if not retriable or attempt == policy.tries:
                raise explain(err, what=what, slug=slug, tries=attempt) from None
            delay = policy.delay(attempt, _retry_after(err))
            log.warning(
                "%s: %s; retrying in %.1f s (try %d of %d)",
                what,
                f"Kaggle answered {status}" if status else "network failure",
                delay,
                attempt,
                policy.tries,
            )
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


# ----------------------------------------------------------------------------- calls


def download_competition(api: Any, slug: str, folder: Path) -> Path:
    """Download a competition's files (one archive) into ``folder``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    call(
        lambda: api.competition_download_files(slug, path=str(folder), force=True, quiet=True),
        what=f"downloading competition '{slug}'",
        slug=slug,
    )
    return _only_file(folder, slug)


def download_dataset(api: Any, ref: str, folder: Path) -> Path:
    """Download a dataset ``owner/name`` (one archive) into ``folder``; return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    call(
        lambda: api.dataset_download_files(ref, path=str(folder), force=True, quiet=True),
        what=f"downloading dataset '{ref}'",
        slug=ref,
    )
    return _only_file(folder, ref)


def _only_file(folder: Path, slug: str) -> Path:
    files = [p for p in folder.iterdir() if p.is_file() and not p.name.endswith(".kaggle-partial")]
    if len(files) != 1:
        raise KKError(
            f"downloading '{slug}' left {len(files)} file(s) in {folder} instead of one archive; "
            "run kk fetch again"
        )
    return files[0]


def submission_limits(api: Any, slug: str) -> dict[str, Any]:
    """``{num_today, num_total, num_allowed_now, limited_by_total}`` for today."""
    limits = call(
        lambda: api.competition_get_submission_limits(slug),
        what=f"reading the submission limits of '{slug}'",
        slug=slug,
    )
    return {
        "num_today": int(limits.num_today),
        "num_total": int(limits.num_total),
        "num_allowed_now": int(limits.num_allowed_now),
        "limited_by_total": bool(limits.limited_by_total),
    }


def submit(api: Any, slug: str, path: Path, message: str) -> dict[str, Any]:
    """Upload ``path`` as a submission; ``{"ref", "message"}`` or a ``KKError``.

    The client answers ``"Could not submit to competition"`` without raising when the
    upload step fails: that is turned into an error here, never reported as success.
    """
    size_mb = path.stat().st_size / 2**20
    reply = call(
        lambda: api.competition_submit(str(path), message, slug, quiet=True),
        what=f"submitting {path.name} ({size_mb:.2f} MiB) to '{slug}'",
        slug=slug,
        retry_network=False,
    )
    text = str(getattr(reply, "message", "") or "")
    ref = int(getattr(reply, "ref", 0) or 0)
    if text.startswith(UPLOAD_FAILED) or not ref:
        raise KKError(
            f"submitting {path.name} to '{slug}' failed: the client answered "
            f"'{scrub(text) or 'no submission ref'}'; nothing was submitted: run kk submit again"
        )
    return {"ref": ref, "message": scrub(text)}


def _submission_dict(sub: Any) -> dict[str, Any]:
    status = getattr(sub, "status", None)
    date = getattr(sub, "date", None)
    return {
        "ref": int(sub.ref),
        "date": date.isoformat() if date is not None else None,
        "description": sub.description,
        "file_name": sub.file_name,
        "status": getattr(status, "name", str(status)),
        "public_score": sub.public_score or None,
        "private_score": sub.private_score or None,
        "error": sub.error_description or None,
        "team_name": sub.team_name or None,
    }


def get_submission(api: Any, ref: int, *, slug: str) -> dict[str, Any]:
    """One submission's status and scores."""
    from kagglesdk.competitions.types.competition_api_service import ApiGetSubmissionRequest

    def fetch() -> Any:
        with api.build_kaggle_client() as kaggle:
            request = ApiGetSubmissionRequest()
            request.ref = int(ref)
            return kaggle.competitions.competition_api_client.get_submission(request)

    return _submission_dict(call(fetch, what=f"reading submission {ref}", slug=slug))


def list_submissions(api: Any, slug: str, *, max_pages: int = 10) -> list[dict[str, Any]]:
    """The user's submissions to ``slug``, newest first, with public and private scores."""
    from kagglesdk.competitions.types.competition_api_service import ApiListSubmissionsRequest

    out: list[dict[str, Any]] = []
    token = ""
    for _ in range(max_pages):

        def fetch(token: str = token) -> Any:
            with api.build_kaggle_client() as kaggle:
                request = ApiListSubmissionsRequest()
                request.competition_name = slug
                request.page_token = token
                request.page_size = 100
                return kaggle.competitions.competition_api_client.list_submissions(request)

        reply = call(fetch, what=f"listing submissions to '{slug}'", slug=slug)
        out.extend(_submission_dict(s) for s in reply.submissions or [] if s is not None)
        token = reply.next_page_token or ""
        if not token:
            break
    return out


def leaderboard(api: Any, slug: str, *, max_rows: int = 1000) -> list[dict[str, Any]]:
    """The public leaderboard, best first, up to ``max_rows`` rows (paged, 100 a page)."""
    from kagglesdk.competitions.types.competition_api_service import ApiGetLeaderboardRequest

    rows: list[dict[str, Any]] = []
    token = ""
    while len(rows) < max_rows:

        def fetch(token: str = token) -> Any:
            with api.build_kaggle_client() as kaggle:
                request = ApiGetLeaderboardRequest()
                request.competition_name = slug
                request.page_size = 100
                request.page_token = token
                return kaggle.competitions.competition_api_client.get_leaderboard(request)

        reply = call(fetch, what=f"reading the leaderboard of '{slug}'", slug=slug)
        for entry in reply.submissions or []:
            if entry is None:
                continue
            date = entry.submission_date
            rows.append(
                {
                    "rank": len(rows) + 1,
                    "team_id": int(entry.team_id),
                    "team_name": entry.team_name,
                    "date": date.isoformat() if date is not None else None,
                    "score": entry.score,
                }
            )
        token = reply.next_page_token or ""
        if not token:
            break
    return rows[:max_rows]
