"""Submitting to Kaggle and keeping a ledger of what was submitted.

The ledger is ``projects/<name>/submissions.jsonl``, one JSON object per submission, and
is meant to be committed: it holds the submission ref, run id, CV score, git commit,
fold hash, message, time and, once Kaggle scores it, the public and private scores. It
never holds credentials (only the fields listed in ``LEDGER_FIELDS`` are written).

A file is validated against the sample submission before anything is uploaded, the
day's remaining submissions are read from Kaggle (not assumed), and a failed upload is
reported as a failure.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kagglekit.atomic as atomic
import kagglekit.kaggle.api as kaggle_api
from kagglekit.config import ProjectConfig
from kagglekit.errors import KKError
from kagglekit.loaders import load_dataset
from kagglekit.project import Project
from kagglekit.provenance import git_state
from kagglekit.records import Run, list_runs
from kagglekit.submission import check_against_data, read_submission, validate_submission

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

LEDGER = "submissions.jsonl"
MIN_POLL_SECONDS = 5.0
LEDGER_FIELDS = (
    "submitted_at",
    "competition",
    "ref",
    "run_id",
    "model",
    "metric",
    "cv_mean",
    "cv_std",
    "greater_is_better",
    "git_commit",
    "git_dirty",
    "fold_hash",
    "file",
    "file_sha256",
    "message",
    "reply",
    "status",
    "public_score",
    "private_score",
    "error",
    "scored_at",
)


# ----------------------------------------------------------------------------- ledger


def ledger_path(project: Project) -> Path:
    return project.root / LEDGER


def read_ledger(project: Project, *, strict: bool = True) -> list[dict[str, Any]]:
    """Every ledger entry, oldest first.

    An unreadable line is an error naming it, or with ``strict=False`` (reports, which
    must not fail on it) skipped with a log message.
    """
    path = ledger_path(project)
    if not path.is_file():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            if strict:
                raise KKError(
                    f"{path} line {number} is not JSON; fix or remove that line"
                ) from None
            log.warning("%s line %d is not JSON; skipped", path, number)
    return entries


def _write_ledger(project: Project, entries: list[dict[str, Any]]) -> None:
    clean = [{k: e.get(k) for k in LEDGER_FIELDS} for e in entries]
    text = "".join(json.dumps(e, sort_keys=False) + "\n" for e in clean)
    atomic.write_text(ledger_path(project), kaggle_api.scrub(text))


def _update_entry(project: Project, ref: int, **fields: Any) -> dict[str, Any]:
    entries = read_ledger(project)
    for entry in entries:
        if entry.get("ref") == ref:
            entry.update(fields)
            _write_ledger(project, entries)
            return entry
    raise KKError(f"submission {ref} is not in {ledger_path(project)}")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ----------------------------------------------------------------------------- submit


def competition_slug(cfg: ProjectConfig) -> str:
    """The Kaggle competition slug (``competition.slug``, else the name)."""
    slug = cfg.competition.slug or cfg.competition.name
    if "/" in slug:
        raise KKError(
            f"competition.slug '{slug}' names a Kaggle dataset; submissions, leaderboards and "
            "kernels need a competition slug"
        )
    return slug


def run_submission(
    project: Project, run_name: str | None, file: Path | None
) -> tuple[Path, Run | None]:
    """The submission that ``--run NAME`` or ``--file PATH`` names (exactly one) and its run
    (None for a file). Only a COMPLETE run has one, or a FAILED run whose submission was
    rebuilt from its test.npy."""
    from kagglekit.training.run import resolve_run

    if (run_name is None) == (file is None):
        raise KKError("give exactly one of --run ID or --file PATH")
    if file is not None:
        return Path(file), None
    run = resolve_run(project, str(run_name))
    rebuilt = run.status == "FAILED" and run.record.get("submission_rebuilt")
    if run.status != "COMPLETE" and not rebuilt:
        hint = (
            f" (it saved test.npy: kk submit {project.name} --run {run.run_id} --rebuild)"
            if run.path("test.npy").exists() and run.status == "FAILED"
            else ""
        )
        raise KKError(
            f"run {run.run_id} is {run.status}; only COMPLETE runs have a submission{hint}"
        )
    return run.path("submission.csv"), run


def submission_labels(project: Project, cfg: ProjectConfig, run: Run | None) -> list[Any] | None:
    """The labels a submission may hold: the run's classes, else the train data's (None
    where a submission holds numbers)."""
    from kagglekit.tasks import get_task

    task = get_task(cfg.competition.task)

    def load_classes() -> list[Any] | None:
        dataset = load_dataset(project, cfg)
        return task.encode(dataset.target, classes=dataset.classes)[1]

    classes = run.record.get("classes") if run is not None else None
    return task.allowed_labels(classes, load_classes)


def validate_file(
    project: Project,
    cfg: ProjectConfig,
    path: Path,
    *,
    allowed_labels: Sequence[Any] | None,
) -> pd.DataFrame:
    """Validate ``path`` against the sample submission (and ``data/raw`` against its
    checksums); return the submission as read."""
    dataset = load_dataset(project, cfg)  # raw files checked first
    sub = read_submission(path)
    validate_submission(
        sub, dataset.sample_submission, cfg.competition, allowed_labels=allowed_labels
    )
    check_against_data(sub, dataset, cfg.competition)
    return sub


def submit(
    project: Project,
    cfg: ProjectConfig,
    path: Path,
    *,
    run: Run | None = None,
    message: str = "",
    allowed_labels: Sequence[Any] | None = None,
    validated: bool = False,
) -> dict[str, Any]:
    """Validate ``path``, check the day's quota, upload it and record it in the ledger.

    Returns the ledger entry (status ``PENDING`` until scored; see ``wait_for_score``).
    Raises ``KKError`` before uploading when the file is invalid or no submission is
    left today, and after uploading when Kaggle did not accept it. ``validated=True``
    skips ``validate_file`` for a caller that has just run it on the same file (it
    hashes every raw file, which is slow on large competitions).
    """
    slug = competition_slug(cfg)
    path = Path(path)
    if not validated:
        validate_file(project, cfg, path, allowed_labels=allowed_labels)
    # Read the ledger now: an unreadable one must stop us before a submission is spent.
    ledger = read_ledger(project)
    api = kaggle_api.client()
    refusal = _quota_refusal(slug, kaggle_api.submission_limits(api, slug))
    if refusal:
        raise KKError(f"{refusal}; nothing was uploaded")
    message = message or _default_message(run)
    try:
        reply = kaggle_api.submit(api, slug, path, message)
    except kaggle_api.KaggleError as err:
        if err.rpc != "CreateSubmission" or err.status in (None, 401):
            raise
        # The real service's refusal says nothing readable: ask the quota again (a
        # teammate, or another machine, may have used the last submission meanwhile).
        try:
            refusal = _quota_refusal(slug, kaggle_api.submission_limits(api, slug))
        except kaggle_api.KaggleError:
            raise err from None
        if not refusal:
            raise
        raise KKError(f"{refusal}; nothing was submitted") from None
    record = run.record if run is not None else {}
    git = record.get("git") or git_state(project.root)
    entry = {
        "submitted_at": _now(),
        "competition": slug,
        "ref": reply["ref"],
        "run_id": run.run_id if run is not None else None,
        "model": record.get("model"),
        "metric": record.get("metric") or cfg.competition.metric,
        "cv_mean": record.get("cv_mean"),
        "cv_std": record.get("cv_std"),
        "greater_is_better": record.get("greater_is_better"),
        "git_commit": git.get("commit"),
        "git_dirty": git.get("dirty"),
        "fold_hash": record.get("fold_hash"),
        "file": _relative(path, project.root),
        "file_sha256": atomic.sha256_file(path),
        "message": message,
        "reply": reply["message"],
        "status": "PENDING",
    }
    _write_ledger(project, [*ledger, entry])
    if run is not None:
        refs = [*run.record.get("kaggle_submissions", []), reply["ref"]]
        run.update(kaggle_submissions=refs)
    log.info("submitted %s to %s as ref %s", path, slug, reply["ref"])
    return read_ledger(project)[-1]


def _quota_refusal(slug: str, limits: dict[str, Any]) -> str:
    """Why no submission can be made now ('' when one can), from Kaggle's limits."""
    if limits["num_allowed_now"] > 0:
        return ""
    if not (limits["num_today"] or limits["num_total"] or limits["limited_by_total"]):
        # Documented: all zero when the user is not on a team (has not joined) yet.
        return (
            f"you have not joined competition '{slug}' (Kaggle reports no submissions made and "
            f"none allowed): join it and accept its rules at "
            f"https://www.kaggle.com/competitions/{slug}/rules (the API cannot)"
        )
    if limits["limited_by_total"]:
        return (
            f"no submissions left for '{slug}': the competition's total limit is reached "
            f"({limits['num_total']} made)"
        )
    return (
        f"no submissions left today for '{slug}' ({limits['num_today']} made today); "
        "the daily limit resets at 00:00 UTC: submit then"
    )


def _default_message(run: Run | None) -> str:
    if run is None:
        return "kagglekit submission"
    cv = run.record.get("cv_mean")
    score = f" CV {cv:.5f}" if isinstance(cv, int | float) else ""
    return f"kagglekit run {run.run_id}{score}"


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def wait_for_score(
    project: Project,
    cfg: ProjectConfig,
    ref: int,
    *,
    timeout: float = 600.0,
    poll_seconds: float = MIN_POLL_SECONDS,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Poll submission ``ref`` (never faster than every 5 s) until scored or ``timeout``.

    Records the scores in the ledger and returns the entry; its status stays ``PENDING``
    when the time limit passes first. A scoring error is recorded and raised.
    """
    slug = competition_slug(cfg)
    sleep = sleep or time.sleep
    clock = clock or time.monotonic
    interval = max(MIN_POLL_SECONDS, poll_seconds)
    api = kaggle_api.client()
    deadline = clock() + timeout
    while True:
        sleep(interval)
        try:
            sub = kaggle_api.get_submission(api, ref, slug=slug)
        except kaggle_api.KaggleError as err:
            if err.status != 404:  # a fresh submission may not be readable yet
                raise
            sub = {"status": "PENDING"}
        if sub["status"] == "COMPLETE":
            return _update_entry(
                project,
                ref,
                status="COMPLETE",
                public_score=sub["public_score"],
                private_score=sub["private_score"],
                scored_at=_now(),
            )
        if sub["status"] == "ERROR":
            _update_entry(project, ref, status="ERROR", error=sub["error"], scored_at=_now())
            raise KKError(
                f"submission {ref} failed to score on Kaggle: {sub['error'] or 'no reason given'}"
            )
        if clock() + interval > deadline:
            log.info("submission %s still %s after %.0f s", ref, sub["status"], timeout)
            return _update_entry(project, ref, status=sub["status"])


# ----------------------------------------------------------------------------- history


def history(project: Project, cfg: ProjectConfig) -> list[dict[str, Any]]:
    """Kaggle's submission list joined with the ledger and the runs, newest first.

    Scores Kaggle reports are written back into the ledger, so it stays a complete,
    committed record of CV against public and private leaderboard scores.
    """
    slug = competition_slug(cfg)
    api = kaggle_api.client()
    remote = kaggle_api.list_submissions(api, slug)
    ledger = read_ledger(project)
    by_ref = {e.get("ref"): e for e in ledger}
    runs = {r.run_id: r.record for r in list_runs(project.runs_dir)}
    changed = False
    rows = []
    for sub in remote:
        entry = by_ref.get(sub["ref"], {})
        if entry:
            fresh = {
                "status": sub["status"],
                "public_score": sub["public_score"],
                "private_score": sub["private_score"],
            }
            if any(entry.get(k) != v for k, v in fresh.items()):
                entry.update(fresh)
                changed = True
        run_id = entry.get("run_id")
        record = runs.get(run_id, {}) if run_id else {}
        rows.append(
            {
                "ref": sub["ref"],
                "date": sub["date"],
                "description": sub["description"],
                "status": sub["status"],
                "public_score": _float(sub["public_score"]),
                "private_score": _float(sub["private_score"]),
                "run_id": run_id,
                "model": entry.get("model") or record.get("model"),
                "cv_mean": entry.get("cv_mean", record.get("cv_mean")),
                "cv_std": entry.get("cv_std", record.get("cv_std")),
                "fold_hash": entry.get("fold_hash"),
                "git_commit": entry.get("git_commit"),
                "in_ledger": bool(entry),
            }
        )
    if changed:
        _write_ledger(project, ledger)
    return rows


def local_history(project: Project) -> list[dict[str, Any]]:
    """The ledger joined with the runs, newest first, in ``history``'s row shape; offline.

    Scores are the ones last recorded (by ``wait_for_score`` or an online ``history``).
    """
    runs = {r.run_id: r.record for r in list_runs(project.runs_dir)}
    rows = []
    for entry in reversed(read_ledger(project)):
        run_id = entry.get("run_id")
        record = runs.get(run_id, {}) if run_id else {}
        rows.append(
            {
                "ref": entry.get("ref"),
                "date": entry.get("submitted_at"),
                "description": entry.get("message"),
                "status": entry.get("status"),
                "public_score": _float(entry.get("public_score")),
                "private_score": _float(entry.get("private_score")),
                "run_id": run_id,
                "model": entry.get("model") or record.get("model"),
                "cv_mean": entry.get("cv_mean", record.get("cv_mean")),
                "cv_std": entry.get("cv_std", record.get("cv_std")),
                "fold_hash": entry.get("fold_hash"),
                "git_commit": entry.get("git_commit"),
                "in_ledger": True,
            }
        )
    return rows


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def standing(
    project: Project, cfg: ProjectConfig, *, top: int = 10, max_rows: int = 5000
) -> dict[str, Any]:
    """The top ``top`` rows of the public leaderboard and the user's own row (if found)."""
    slug = competition_slug(cfg)
    api = kaggle_api.client()
    rows = kaggle_api.leaderboard(api, slug, max_rows=max_rows)
    subs = kaggle_api.list_submissions(api, slug, max_pages=1)
    team = next((s["team_name"] for s in subs if s.get("team_name")), "") or kaggle_api.username(
        api
    )
    mine = next((r for r in rows if team and r["team_name"] == team), None)
    return {
        "competition": slug,
        "team": team,
        "top": rows[:top],
        "mine": mine,
        "n_rows": len(rows),
        "complete": len(rows) < max_rows,
    }
