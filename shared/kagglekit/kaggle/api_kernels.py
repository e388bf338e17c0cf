"""Kernels, datasets and quota through the official client: the calls ``kk kernel`` makes.

The same contract as ``kagglekit.kaggle.api`` (plain dicts, quiet client, one-line
errors), for the calls whose refusals come back inside successful replies or whose
failures a rerun resumes (``shared/KAGGLE_KERNELS.md``): a push's ``error`` and
``invalid*Sources``, a status poll's 429 with Retry-After, an output download or a
dataset upload cut short.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from kagglekit.errors import KKError
from kagglekit.kaggle.api import (
    KaggleError,
    RetryPolicy,
    _is_network,
    _quiet,
    _retry_after,
    _rpc,
    _status,
    call,
    explain,
    scrub,
)

# ----------------------------------------------------------------------------- kernels

# What a push's ``error`` says for the refusals users meet most (Kaggle/kaggle-cli#185 for
# the session count); matched loosely, since the service's wording is not published.
_PUSH_REFUSALS = (
    (
        r"phone|verif",
        "this account is not phone-verified, and GPU and internet need that: verify a phone "
        "number at https://www.kaggle.com/settings, then push again (or push without --gpu)",
    ),
    (
        r"session count|concurrent|maximum batch",
        "too many GPU sessions are running (a just-stopped one counts for a while): wait for "
        "one to end (kk kernel PROJECT --status) or stop it at https://www.kaggle.com/code, "
        "then push again",
    ),
    (
        r"quota",
        "the weekly GPU quota is used up: push without --gpu, or after the quota refreshes "
        "(kaggle quota shows when)",
    ),
    (
        r"not found",
        "the kernel is not yours or was deleted: change the id in kernel-metadata.json "
        "(or delete the folder to build a new one) and push again",
    ),
)
_INVALID_SOURCES = (
    ("invalid_competition_sources", "competition source"),
    ("invalid_dataset_sources", "dataset source"),
    ("invalid_kernel_sources", "kernel source"),
    ("invalid_model_sources", "model source"),
)


def push_kernel(api: Any, folder: Path, *, slug: str) -> dict[str, Any]:
    """Upload the kernel in ``folder`` (with its ``kernel-metadata.json``) and run it.

    ``{"ref", "url", "version"}``. The client returns a refusal (``error``) and the sources
    it could not attach (``invalid*Sources``) in a successful reply, without raising:
    each is a one-line ``KKError`` here, since a kernel without its data cannot run.
    """
    reply = call(
        lambda: api.kernels_push(str(folder)),
        what=f"pushing the kernel in {folder}",
        slug=slug,
        retry_network=False,
    )
    error = scrub(str(getattr(reply, "error", "") or ""))
    if error:
        for pattern, fix in _PUSH_REFUSALS:
            if re.search(pattern, error, re.IGNORECASE):
                raise KKError(f"Kaggle refused the kernel in {folder} ('{error}'): {fix}")
        raise KKError(f"pushing the kernel in {folder} failed: Kaggle answered '{error}'")
    for field, kind in _INVALID_SOURCES:
        invalid = list(getattr(reply, field, None) or [])
        if invalid:
            raise KKError(_invalid_source(folder, reply.version_number, kind, invalid))
    return {
        "ref": str(reply.ref or ""),
        "url": str(reply.url or ""),
        "version": reply.version_number,
    }


def _invalid_source(folder: Path, version: Any, kind: str, invalid: list[str]) -> str:
    names = ", ".join(f"'{name}'" for name in invalid)
    saved = f"Kaggle saved version {version} without its {kind} {names}"
    if kind == "competition source":
        return (
            f"pushing the kernel in {folder}: {saved} (misspelt, or its rules not "
            "accepted), so it has no data to run on; check competition.slug in config.toml, "
            f"accept the rules at https://www.kaggle.com/competitions/{invalid[0]}/rules and "
            "push again"
        )
    return (
        f"pushing the kernel in {folder}: {saved} (misspelt, private to another account, or "
        "a dataset Kaggle has not finished processing), so it cannot run; check that "
        f"`kaggle datasets status {invalid[0]}` says ready and push again"
    )


def _hours(value: Any) -> float:
    seconds = value.total_seconds() if hasattr(value, "total_seconds") else float(value or 0)
    return round(seconds / 3600, 2)


# Reading the quota is worth one retry; a push does not wait on a throttled quota call.
_ONCE = RetryPolicy(tries=2, base_seconds=2.0, max_seconds=60.0)


def accelerator_quota(api: Any) -> dict[str, Any]:
    """This week's GPU quota: ``{"gpu_used_h", "gpu_total_h", "gpu_left_h", "refresh"}``."""
    reply = call(
        lambda: api.quota_view(), what="reading the accelerator quota", slug="", policy=_ONCE
    )
    gpu = getattr(reply, "gpu_quota", None)
    used = _hours(getattr(gpu, "time_used", 0))
    total = _hours(getattr(gpu, "total_time_allowed", 0))
    refresh = getattr(reply, "quota_refresh_time", None)
    return {
        "gpu_used_h": used,
        "gpu_total_h": total,
        "gpu_left_h": round(max(0.0, total - used), 2),
        "refresh": refresh.isoformat() if isinstance(refresh, datetime) else None,
    }


def _kernel_failure(err: BaseException, what: str, ref: str) -> KKError:
    """A failed kernel call: access refused or unknown kernel named as such."""
    status = _status(err)
    if (isinstance(err, ValueError) and "Cannot access kernel" in str(err)) or status in (401, 403):
        return KaggleError(
            f"{what}: Kaggle refused access to kernel {ref} (not this account's, or the "
            "credentials changed); check the id in kernel-metadata.json and the credentials",
            status,
        )
    if status == 404:
        return KaggleError(
            f"{what}: kernel {ref} was not found on Kaggle; push it again (kk kernel PROJECT "
            "--model NAME --push)",
            status,
        )
    return explain(err, what=what, slug=ref)


def kernel_status(api: Any, ref: str) -> dict[str, Any]:
    """The status of kernel version ``ref`` (``owner/slug/N``) without retrying.

    ``{"status", "failure_message", "retry_after"}``: on a 429, ``status`` is None and
    ``retry_after`` the seconds Kaggle asked for (30 when it named none), so the caller
    waits rather than polling again at once. A reply without ``status`` reads as QUEUED
    (the client's default).
    """
    try:
        with _quiet():
            reply = api.kernels_status(ref)
    except Exception as err:
        if _status(err) == 429:
            wait = _retry_after(err)
            return {
                "status": None,
                "failure_message": "",
                "retry_after": 30.0 if wait is None else wait,
            }
        raise _kernel_failure(err, f"reading the status of kernel {ref}", ref) from None
    status = getattr(reply, "status", None)
    return {
        "status": getattr(status, "name", str(status or "QUEUED")),
        "failure_message": scrub(str(getattr(reply, "failure_message", "") or "")),
        "retry_after": None,
    }


def kernel_log(api: Any, ref: str) -> str:
    """The text a kernel version printed (its log's ``data`` joined; '' when none)."""
    try:
        with _quiet():
            raw = api.kernels_logs(ref)
    except Exception as err:
        raise _kernel_failure(err, f"reading the log of kernel {ref}", ref) from None
    try:
        entries = json.loads(raw) if raw else []
    except ValueError:
        return scrub(str(raw))
    if not isinstance(entries, list):
        return scrub(str(raw))
    return scrub("".join(str(e.get("data", "")) for e in entries if isinstance(e, dict)))


def kernel_output(api: Any, ref: str, folder: Path) -> list[Path]:
    """Download kernel version ``ref``'s output files into ``folder``; the paths.

    The client skips a file already there in full and resumes a partial one from its
    ``.kaggle-partial`` marker, so a pull run again after a failure goes on where it
    stopped. A failed file download aborts the rest (the client's ``raise_for_status``).
    """
    folder.mkdir(parents=True, exist_ok=True)
    try:
        with _quiet():
            paths, _ = api.kernels_output(ref, str(folder), force=False, quiet=True)
    except Exception as err:
        status = _status(err)
        if status is not None and not _rpc(err):  # a file's own URL, not the API
            name = str(getattr(getattr(err, "response", None), "url", "")).rsplit("/", 1)[-1]
            raise KaggleError(
                f"downloading kernel {ref}'s outputs stopped at {name} ({status}); run the "
                "same command again: the files already downloaded are kept",
                status,
            ) from None
        if _is_network(err):
            raise KaggleError(
                f"downloading kernel {ref}'s outputs: the connection failed "
                f"({type(err).__name__}); run the same command again: the files already "
                "downloaded are kept",
                None,
                network=True,
            ) from None
        raise _kernel_failure(err, f"downloading kernel {ref}'s outputs", ref) from None
    return [Path(p) for p in paths]


# ----------------------------------------------------------------------------- datasets


def dataset_status(api: Any, ref: str) -> str | None:
    """A dataset's status in lower case ("ready", ...), or None when there is none."""
    try:
        with _quiet():
            return str(api.dataset_status(ref))
    except Exception as err:
        if _status(err) == 404:
            return None
        raise explain(err, what=f"reading the status of dataset {ref}", slug=ref) from None


def upload_dataset(api: Any, folder: Path, *, ref: str, exists: bool, notes: str) -> None:
    """Create dataset ``ref`` from ``folder``, or add a version when it ``exists``.

    The client uploads each top-level file resumably (its state survives an error, so a
    rerun resumes a cut upload and reuses a finished one's token) and creates nothing
    when a file fails. A refusal in the reply is a one-line error.
    """
    what = f"{'versioning' if exists else 'creating'} dataset {ref}"

    def send() -> Any:
        if exists:
            return api.dataset_create_version(
                str(folder), notes, quiet=True, convert_to_csv=False, dir_mode="skip"
            )
        return api.dataset_create_new(
            str(folder), public=False, quiet=True, convert_to_csv=False, dir_mode="skip"
        )

    try:
        reply = call(send, what=what, slug=ref, retry_network=False)
    except KaggleError as err:
        if "Upload unsuccessful" in str(err):
            name = str(err).rsplit("Upload unsuccessful:", 1)[-1].strip()
            raise KaggleError(
                f"{what}: uploading {name} failed; run the same command again: the upload "
                "resumes where it stopped, and nothing was created",
                err.status,
            ) from None
        raise
    error = scrub(str(getattr(reply, "error", "") or ""))
    if error or str(getattr(reply, "status", "ok")).lower() == "error":
        raise KKError(f"{what} failed: Kaggle answered '{error or 'error'}'")
