"""Push a model kernel, follow it, pull its run back (``kk kernel --push/--status/--pull``).

What was pushed is kept beside the kernel, in ``pushed.json`` (kernel id, version, the
resolved config, the fold hash, the git state, the deps dataset): ``--status`` polls
that version (a bare kernel id can answer the previous session's status,
Kaggle/kaggle-cli#1177) and ``--pull`` checks the run against it. ``status.json`` keeps
the last poll: Kaggle is asked at most every ``POLL_SECONDS`` and never before a
Retry-After has passed, whoever asks. A pulled run is staged outside ``runs/`` and
moved in with one rename, so ``runs/`` never holds half a run.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import kagglekit.atomic as atomic
import kagglekit.folds as folds_mod
import kagglekit.kaggle.api_kernels as kapi
import kagglekit.records as records
from kagglekit.errors import KKError
from kagglekit.kaggle.api import username
from kagglekit.kaggle.kernel.bundle import OUTPUT_INFO, OUTPUT_RUN, build_model_kernel
from kagglekit.kaggle.kernel.deps import (
    DepsFolder,
    build_folder,
    dataset_ref,
    needed,
    read_options,
)
from kagglekit.project import Project
from kagglekit.provenance import git_state, now

log = logging.getLogger(__name__)

PUSHED = "pushed.json"
STATUS = "status.json"
DEPS_SENT = "deps-sent.json"
# Kaggle publishes no rate limits for status calls and does not retry them
# (Kaggle/kaggle-cli#217): poll every 30 s or slower.
POLL_SECONDS = 30.0
DATASET_POLL_SECONDS = 5.0
DATASET_WAIT_SECONDS = 600.0
TERMINAL = ("COMPLETE", "ERROR", "CANCEL_ACKNOWLEDGED")
LOG_TAIL_LINES = 8


def _clock() -> float:
    """Seconds since the epoch (a seam: tests run a poll loop on a fake clock)."""
    return time.time()


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def push_model(
    api: Any,
    project: Project,
    *,
    model: str,
    overrides: list[str],
    gpu: bool,
    out: Path,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Build the kernel of model entry ``model``, send its deps, push it; what was pushed.

    The quota is read first: a GPU push with no GPU hours left is refused before anything
    is sent.
    """
    options = read_options(project)
    cfg = project.config(overrides)
    name, _ = cfg.model(model)
    quota = kapi.accelerator_quota(api)
    if gpu and quota["gpu_left_h"] <= 0:
        raise KKError(_no_quota(quota))
    owner = username(api)
    deps = needed(project, cfg, name, options)
    ref = dataset_ref(owner, project)
    built = None if deps.empty else build_folder(out / "deps", deps, ref, project)
    kernel = build_model_kernel(
        project,
        cfg,
        model=name,
        overrides=overrides,
        options=options,
        deps=deps,
        deps_ref=ref,
        deps_hash=built.content_hash if built else "",
        gpu=gpu,
        out=out,
        username=owner,
    )
    git = git_state(project.root)
    sent = None
    if built is not None:
        sent = send_deps(api, built, out, project)
        wait_ready(api, ref, sleep=sleep or _sleep)
    slug = next(iter(kernel["metadata"]["competition_sources"]), project.name)
    reply = kapi.push_kernel(api, out, slug=slug)
    pushed = {
        "mode": "run",
        "ref": kernel["id"],
        "version": reply["version"],
        "url": reply["url"],
        "pushed_at": now(),
        "project": project.name,
        "model": name,
        "overrides": overrides,
        "config": kernel["spec"]["config"],
        "fold_hash": kernel["spec"]["fold_hash"],
        "gpu": gpu,
        "accelerator": options.machine_shape if gpu else "CPU",
        "git": git,
        "deps": sent,
        "quota": quota,
        "bundle_bytes": kernel["bundle_bytes"],
        "script_bytes": kernel["script"].stat().st_size,
    }
    atomic.write_json(out / PUSHED, pushed)
    (out / STATUS).unlink(missing_ok=True)
    return pushed


def _no_quota(quota: dict[str, Any]) -> str:
    if quota["gpu_total_h"] <= 0:
        return (
            "this Kaggle account has no GPU quota (0 h a week); GPUs need a phone-verified "
            "account: verify a phone number at https://www.kaggle.com/settings, or push "
            "without --gpu"
        )
    when = f" (it refreshes {quota['refresh']})" if quota.get("refresh") else ""
    return (
        f"the weekly GPU quota is used up: {quota['gpu_used_h']:.1f} h of "
        f"{quota['gpu_total_h']:.1f} h{when}; push without --gpu or after it refreshes"
    )


def send_deps(api: Any, built: DepsFolder, out: Path, project: Project) -> dict[str, Any]:
    """Create or version the deps dataset unless its content is what was sent last.

    ``deps-sent.json`` is written once Kaggle accepted the version: a push run again
    after a later failure (a refused push, a timeout) does not send the dataset again,
    and an upload cut short resumes in the client.
    """
    path = out / DEPS_SENT
    last = _read_json(path) or {}
    info = {"ref": built.ref, "content_hash": built.content_hash, "bytes": built.n_bytes}
    if last.get("ref") == built.ref and last.get("content_hash") == built.content_hash:
        return {**info, "sent": False}
    exists = kapi.dataset_status(api, built.ref) is not None
    kapi.upload_dataset(
        api,
        built.folder,
        ref=built.ref,
        exists=exists,
        notes=f"kk kernel {project.name}: content {built.content_hash[:12]}",
    )
    atomic.write_json(path, {**info, "sent_at": now()})
    return {**info, "sent": True, "created": not exists}


def wait_ready(
    api: Any,
    ref: str,
    *,
    sleep: Callable[[float], None] | None = None,
    limit: float | None = None,
) -> None:
    """Wait until Kaggle has processed dataset ``ref``: a kernel mounts only a ready one."""
    limit = DATASET_WAIT_SECONDS if limit is None else limit
    sleep = sleep or _sleep
    waited = 0.0
    while True:
        status = kapi.dataset_status(api, ref)
        if status == "ready":
            return
        if status in ("failed", "deleted") or waited >= limit:
            raise KKError(
                f"dataset {ref} is {status or 'missing'} on Kaggle after {waited:.0f} s, so a "
                "kernel cannot mount it; run the same command again later (what was uploaded "
                "is not sent again)"
            )
        sleep(DATASET_POLL_SECONDS)
        waited += DATASET_POLL_SECONDS


def read_pushed(folder: Path, project: Project) -> dict[str, Any]:
    """``pushed.json`` of the kernel in ``folder``; one line when nothing was pushed."""
    pushed = _read_json(folder / PUSHED)
    if pushed is None:
        raise KKError(
            f"no kernel of '{project.name}' was pushed from {folder}; push one first: "
            f"kk kernel {project.name} --model NAME --push"
        )
    return pushed


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def version_ref(pushed: dict[str, Any]) -> str:
    """``owner/slug/N``: the pushed version, not whichever ran last."""
    return f"{pushed['ref']}/{pushed['version']}"


def kernel_state(
    api: Any,
    folder: Path,
    project: Project,
    *,
    wait: bool = False,
    timeout: float = 13 * 3600,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """The pushed version's status: ``{"status", "failure_message", "checked_at", ...}``.

    A status checked less than ``POLL_SECONDS`` ago, or before a Retry-After ends, is
    answered from ``status.json`` (``cached``: true, ``next_in`` seconds) instead of
    asking again; a finished one always is. ``wait`` polls until the run ends, sleeping
    between polls (Kaggle sessions are capped near 12 h, so ``timeout`` is 13 h).
    ERROR adds the log's last lines (``log_tail``).
    """
    clock = clock or _clock
    sleep = sleep or _sleep
    pushed = read_pushed(folder, project)
    ref = version_ref(pushed)
    path = folder / STATUS
    state = _read_json(path) or {}
    if state.get("ref") != ref:
        state = {"ref": ref}
    started = clock()
    while True:
        if state.get("status") in TERMINAL:
            return {**state, "cached": True, "next_in": 0.0}
        ahead = float(state.get("not_before", 0.0)) - clock()
        if ahead > 0 and state.get("status") is not None and not wait:
            return {**state, "cached": True, "next_in": ahead}
        if ahead > 0:
            sleep(ahead)
        asked = kapi.kernel_status(api, ref)
        t = clock()
        if asked["status"] is None:  # 429: wait as long as Kaggle asked
            state.update(not_before=t + asked["retry_after"], rate_limited=asked["retry_after"])
            atomic.write_json(path, state)
            if wait:
                continue
            shown = state.get("status") or "UNKNOWN"
            return {**state, "status": shown, "cached": True, "next_in": asked["retry_after"]}
        state = {
            "ref": ref,
            "status": asked["status"],
            "failure_message": asked["failure_message"],
            "checked_at": t,
            "not_before": t + POLL_SECONDS,
        }
        if asked["status"] == "ERROR":
            state["log_tail"] = log_tail(kapi.kernel_log(api, ref))
        atomic.write_json(path, state)
        if not wait or state["status"] in TERMINAL:
            return {**state, "cached": False, "next_in": POLL_SECONDS}
        if clock() - started > timeout:
            raise KKError(
                f"kernel {ref} is still {state['status']} after {timeout / 3600:.1f} h; a "
                "finished run can be shown as running for a while (Kaggle/kaggle-cli#473): "
                "check it on kaggle.com, then kk kernel PROJECT --pull"
            )


def log_tail(text: str, n: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``n`` non-empty lines of a kernel's log."""
    return [line for line in text.splitlines() if line.strip()][-n:]


# ----------------------------------------------------------------------------- pull


def pull_run(api: Any, project: Project, folder: Path) -> dict[str, Any]:
    """Download the pushed version's outputs and register its run under ``runs/``.

    ``{"run_id", "already", "cv_mean", "accelerator", ...}``. One line, and nothing in
    ``runs/``, when the kernel is still running, errored, left no run, or its run no
    longer matches the project (folds, config).
    """
    pushed = read_pushed(folder, project)
    ref = version_ref(pushed)
    state = kernel_state(api, folder, project)
    status = state.get("status")
    if status == "ERROR":
        raise KKError(_errored(ref, state))
    if status != "COMPLETE":
        raise KKError(
            f"kernel {ref} is still {status}; wait for it (kk kernel {project.name} --status "
            "--wait) and pull then"
        )
    out = folder / f"output-v{pushed['version']}"
    kapi.kernel_output(api, ref, out)
    info = _read_json(out / OUTPUT_INFO)
    run_id = (info or {}).get("run_id")
    run_dir = out / OUTPUT_RUN / str(run_id)
    missing = [n for n in ("record.json", "oof.npy", "test.npy") if not (run_dir / n).is_file()]
    text = kapi.kernel_log(api, ref)
    if info is None or not run_id or missing:
        if info is None:
            what = f"no {OUTPUT_INFO}"
        elif not run_id:
            what = str(info.get("error") or "no run id in " + OUTPUT_INFO)
        else:
            what = f"no {', '.join(missing)} in {OUTPUT_RUN}/{run_id}"
        tail = " | ".join(log_tail(text, 2)) or "(empty)"
        raise KKError(
            f"kernel {ref} is COMPLETE but its outputs are missing ({what}); its log ends: "
            f"{tail}; push again"
        )
    run, already = register(project, pushed, run_dir, info, text)
    return {
        "run_id": run.run_id,
        "already": already,
        "cv_mean": run.record.get("cv_mean"),
        "metric": run.record.get("metric"),
        "accelerator": pushed["accelerator"],
        "gpus": info.get("gpus") or [],
        "ref": ref,
        "uncommitted_changes": bool((pushed.get("git") or {}).get("dirty")),
    }


def _errored(ref: str, state: dict[str, Any]) -> str:
    tail = " | ".join(state.get("log_tail") or []) or "(empty)"
    message = state.get("failure_message") or "no failure message"
    return f"kernel {ref} ended in ERROR ({message}); its log ends: {tail}; fix it and push again"


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _config_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    fa, fb = _flat(a), _flat(b)
    return sorted(k for k in set(fa) | set(fb) if fa.get(k) != fb.get(k))


def check_matches(project: Project, pushed: dict[str, Any], record: dict[str, Any]) -> None:
    """Refuse a kernel's run that no longer fits the project: other folds or config."""
    model, name = pushed["model"], project.name
    meta = folds_mod.folds_meta(project)
    here = meta["hash"] if meta else None
    if record.get("fold_hash") != pushed["fold_hash"] or here != pushed["fold_hash"]:
        now_text = here[:12] if here else "none"
        raise KKError(
            f"the kernel's run of {model} was made on folds {str(record.get('fold_hash'))[:12]}"
            f", but {name}'s folds are now {now_text}: it cannot be compared or ensembled "
            f"with runs on the current folds; push it again (kk kernel {name} --model {model} "
            "--push)"
        )
    current = project.config(pushed["overrides"]).model_dump(mode="json")
    changed = _config_differences(
        records.model_config(pushed["config"], model), records.model_config(current, model)
    )
    if changed:
        raise KKError(
            f"the config of {model} changed since the push ({', '.join(changed[:3])}): the "
            f"kernel's run is of the old config; restore it to pull this run, or push again"
        )


def register(
    project: Project,
    pushed: dict[str, Any],
    run_dir: Path,
    info: dict[str, Any],
    kernel_log_text: str,
) -> tuple[records.Run, bool]:
    """Move the kernel's run folder into ``runs/`` in one rename, its record marked.

    The record keeps the config as resolved here (the kernel rewrote only the paths it
    mounts, listed in ``kaggle.config_rewrites``), the git state at the push (the code
    that ran is the code that was pushed) and ``kaggle``: the kernel, version, accelerator,
    the GPUs it saw, and whether the tree had uncommitted changes. Returns the run and
    whether it was registered before (a second pull changes nothing).
    """
    record = json.loads((run_dir / records.RECORD).read_text(encoding="utf-8"))
    if record.get("status") != "COMPLETE" or record.get("model") != pushed["model"]:
        raise KKError(
            f"the kernel's run {record.get('run_id')} is {record.get('status')} of model "
            f"{record.get('model')}, not a COMPLETE run of {pushed['model']}; push again"
        )
    check_matches(project, pushed, record)
    ran = dict(_flat(record.get("config") or {}))
    asked = _flat(pushed["config"])
    rewritten = set(info.get("config_rewrites") or [])
    differ = [k for k in set(ran) | set(asked) if k not in rewritten and ran.get(k) != asked.get(k)]
    if differ:
        raise KKError(
            f"the kernel's run used another config than was pushed ({', '.join(sorted(differ)[:3])}); "
            "push again"
        )
    run_id = str(record["run_id"])
    target = project.runs_dir / run_id
    if target.exists():
        existing = records.load_run(target)
        if (existing.record.get("kaggle") or {}).get("kernel") == pushed["ref"]:
            return existing, True
        raise KKError(f"{target} already exists and is not this kernel's run; move it away first")
    pulled_at = now()
    record.update(
        config=pushed["config"],
        overrides=pushed["overrides"],
        git=pushed["git"],
        kaggle={
            "kernel": pushed["ref"],
            "version": pushed["version"],
            "url": pushed["url"],
            "accelerator": pushed["accelerator"],
            "gpus": info.get("gpus") or [],
            "pushed_at": pushed["pushed_at"],
            "pulled_at": pulled_at,
            "uncommitted_changes": bool((pushed.get("git") or {}).get("dirty")),
            "config_rewrites": sorted(rewritten),
            "wheels": info.get("wheels") or [],
        },
    )
    staging = project.root / ".kk-pull" / run_id
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(run_dir, staging, ignore=shutil.ignore_patterns("*.kaggle-partial"))
    oof = np.load(staging / "oof.npy", allow_pickle=False)
    if record.get("n_train") is not None and len(oof) != int(record["n_train"]):
        shutil.rmtree(staging)
        raise KKError(
            f"the kernel's oof.npy has {len(oof)} rows, not {record['n_train']}; push again"
        )
    atomic.write_text(staging / "kernel.log", kernel_log_text)
    atomic.write_json(staging / records.RECORD, record)
    project.runs_dir.mkdir(parents=True, exist_ok=True)
    staging.rename(target)  # one step: runs/ holds the whole run or none of it
    shutil.rmtree(staging.parent, ignore_errors=True)
    return records.load_run(target), False
