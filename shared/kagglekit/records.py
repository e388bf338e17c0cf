"""Run records: ``projects/<name>/runs/<run_id>/``, enough to reproduce and audit a run.

``record.json`` holds the resolved config, git commit and dirty flag, package versions,
seeds, fold hash, per-fold scores, timings and a status that is RUNNING until the run
ends COMPLETE or FAILED. A RUNNING record whose process is gone reads as ABANDONED.
Arrays are ``.npy`` (byte-exact), written atomically like everything else.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import os
import secrets
import shutil
import socket
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

import kagglekit.atomic as atomic
from kagglekit.errors import KKError, short_list, unknown_name
from kagglekit.provenance import git_state, now, package_versions, pid_alive

RECORD = "record.json"
log = logging.getLogger(__name__)


def new_run_id(model: str) -> str:
    """``20261129-142501-lightgbm-3f9a``: sortable by time, unique across processes."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{model}-{secrets.token_hex(2)}"


@dataclass
class Run:
    """One run folder and its record."""

    folder: Path
    record: dict[str, Any]
    # True for a record read from a project's committed copies (``archived_runs``): its
    # run folder and checkpoints are not on this machine.
    archived: bool = False
    # The committed copy of its prediction arrays (``RUN_ID.npz`` beside the record copy),
    # where ``archive_records`` could keep one; read when the run folder lacks an array.
    arrays_copy: Path | None = None

    @property
    def run_id(self) -> str:
        return str(self.record["run_id"])

    @property
    def status(self) -> str:
        """COMPLETE, FAILED, RUNNING, or ABANDONED for a RUNNING run whose process died."""
        status = str(self.record.get("status"))
        if status == "RUNNING":
            same_host = self.record.get("host") == socket.gethostname()
            pid = self.record.get("pid")
            if same_host and isinstance(pid, int) and not pid_alive(pid):
                return "ABANDONED"
        return status

    @property
    def interrupted(self) -> bool:
        """Stopped by Ctrl-C with its finished folds kept: the same command goes on with it."""
        return (
            self.status == "FAILED"
            and bool(self.record.get("interrupted"))
            and (self.folder / "folds").is_dir()
        )

    @property
    def shown_status(self) -> str:
        """``kk runs``'s status: ``INTERRUPTED (resumable)`` or ``status``."""
        return "INTERRUPTED (resumable)" if self.interrupted else self.status

    def row(self, current_hash: str | None = None) -> dict[str, Any]:
        """The run as ``kk runs`` lists it (a JSON line of ``--json``, a row of
        ``kk.Project.runs()``); ``current_hash``: the project's fold hash."""
        rec = self.record
        git = rec.get("git") or {}
        entry = ((rec.get("config") or {}).get("models") or {}).get(rec.get("model")) or {}
        return {
            "run_id": self.run_id,
            "model": rec.get("model"),
            "metric": rec.get("metric"),
            "cv_mean": rec.get("cv_mean"),
            "cv_std": rec.get("cv_std"),
            "wall_seconds": rec.get("wall_seconds"),
            "started_at": rec.get("started_at"),
            "git_commit": git.get("commit"),
            "git_dirty": git.get("dirty"),
            "fold_hash": rec.get("fold_hash"),
            "current_folds": current_hash is None or rec.get("fold_hash") == current_hash,
            "overrides": list(rec.get("overrides") or []),
            "params": entry.get("params"),
            "status": self.status,
            # Stopped by Ctrl-C with its folds kept: the same kk train goes on with it.
            "resumable": self.interrupted,
            # The trivial model's CV and whether the run looks broken (records since 2026-12).
            "baseline_cv": rec.get("baseline_cv"),
            "degenerate": bool(rec.get("degenerate")),
            "degenerate_why": rec.get("degenerate_why"),
            # Where the run is: its folder here, or a committed copy (with its arrays?).
            "copy": None if not self.archived else ("arrays" if self.arrays_copy else "record"),
            # Made in a Kaggle kernel (kk kernel --pull): its accelerator, e.g. "NvidiaTeslaT4".
            "kaggle": (rec.get("kaggle") or {}).get("accelerator"),
        }

    def path(self, name: str) -> Path:
        return self.folder / name

    def save(self) -> None:
        atomic.write_json(self.folder / RECORD, self.record)

    def update(self, **fields: Any) -> None:
        self.record.update(fields)
        self.save()

    def save_array(self, name: str, array: np.ndarray) -> None:
        """Save ``array`` as ``<name>.npy`` atomically and note it in the record's files."""
        buf = io.BytesIO()
        np.save(buf, array, allow_pickle=False)
        atomic.write_bytes(self.folder / f"{name}.npy", buf.getvalue())
        self.record.setdefault("files", {})[name] = f"{name}.npy"

    def has_array(self, name: str) -> bool:
        """Whether ``<name>.npy`` can be read: in the run folder or in its committed copy."""
        if (self.folder / f"{name}.npy").is_file():
            return True
        return name in _copied_arrays(self.arrays_copy)

    def load_array(self, name: str) -> np.ndarray:
        path = self.folder / f"{name}.npy"
        if path.exists():
            return np.load(path, allow_pickle=False)
        if name in _copied_arrays(self.arrays_copy):
            assert self.arrays_copy is not None
            try:  # np.load of an .npz hands back a damaged member as raw bytes: read it here
                with zipfile.ZipFile(self.arrays_copy) as zf:
                    data = zf.read(f"{name}.npy")
                array = np.load(io.BytesIO(data), allow_pickle=False)
                if not isinstance(array, np.ndarray):
                    raise ValueError(f"{name}.npy is not one array")
                return array
            except (OSError, ValueError, zipfile.BadZipFile, zlib.error) as err:
                raise _damaged_copy(self.arrays_copy, err) from None
        if self.archived:
            raise KKError(
                f"run {self.run_id} has only its record here (reports/records/), not its "
                f"{name}.npy (arrays over {ARRAYS_COPY_LIMIT // 2**20} MiB are not copied): "
                "rerun it on this machine (`kk train` with its model and --set)"
            )
        raise KKError(f"run {self.run_id} has no {name}.npy (status {self.status})")

    def finish(self, status: str, **fields: Any) -> None:
        started = datetime.fromisoformat(self.record["started_at"])
        self.update(
            status=status,
            ended_at=now(),
            wall_seconds=round((datetime.now(UTC) - started).total_seconds(), 3),
            **fields,
        )


def start_run(
    runs_dir: Path,
    *,
    model: str,
    repo_dir: Path,
    packages: Iterable[str] = (),
    **fields: Any,
) -> Run:
    """Create a run folder with a RUNNING record; it records the versions of ``packages``
    (the backend's) besides ``BASE_PACKAGES``."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        # Two runs of one model started in the same second share the time stamp and may
        # draw the same 4 hex digits: draw again rather than crash or share a folder.
        run_id = new_run_id(model)
        folder = runs_dir / run_id
        try:
            folder.mkdir()
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions in a row
        raise RuntimeError(f"could not create a new run folder in {runs_dir}")
    record = {
        "run_id": run_id,
        "model": model,
        "status": "RUNNING",
        "started_at": now(),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "git": git_state(repo_dir),
        "versions": package_versions(packages),
        **fields,
    }
    run = Run(folder, record)
    run.save()
    return run


def _read_record(path: Path, *, run_id: str | None = None) -> dict[str, Any]:
    """The record in ``path``; ValueError when it is no run record (or not ``run_id``'s)."""
    record = json.loads(path.read_text(encoding="utf-8"))  # JSONDecodeError is a ValueError
    if not isinstance(record, dict) or "run_id" not in record:
        raise ValueError("not a run record: no run_id")
    if run_id is not None and record["run_id"] != run_id:
        raise ValueError(f"its run_id is not {run_id!r}")
    return record


def load_run(folder: Path) -> Run:
    path = folder / RECORD
    try:
        return Run(folder, _read_record(path))
    except (OSError, ValueError) as err:
        raise KKError(
            f"run record {path} cannot be read ({err}); the run folder is damaged"
        ) from None


@dataclass
class DamagedRun:
    """A run folder whose ``record.json`` cannot be read."""

    folder: Path
    reason: str

    @property
    def run_id(self) -> str:
        return self.folder.name


def scan_runs(runs_dir: Path) -> tuple[list[Run], list[DamagedRun]]:
    """The readable runs under ``runs_dir`` (oldest first) and the damaged run folders."""
    if not runs_dir.is_dir():
        return [], []
    runs: list[Run] = []
    damaged: list[DamagedRun] = []
    for folder in sorted(runs_dir.iterdir()):
        if (folder / RECORD).is_file():
            try:
                runs.append(load_run(folder))
            except KKError as err:
                damaged.append(DamagedRun(folder, str(err)))
    return runs, damaged


def list_runs(runs_dir: Path) -> list[Run]:
    """Every readable run under ``runs_dir``, oldest first (``scan_runs`` names the damaged)."""
    return scan_runs(runs_dir)[0]


# Committed copies of the records a project's report was made from. ``runs/`` is not
# committed (checkpoints are big), so without these a fresh clone or another machine would
# regenerate a README table without the runs it reported. A copy is the record less what
# names this machine (host, pid): enough for every table, the CV plot and the learning
# curves. Beside it, ``RUN_ID.npz`` keeps the run's prediction arrays (oof, test,
# test_folds: what ``kk ensemble``, a pseudo-label teacher and the OOF plots read) when
# they compress to ARRAYS_COPY_LIMIT or less: a disaster-tweets run's take 0.1-0.2 MiB; a
# Fashion-MNIST run's OOF alone is 4.6 MiB of float64 before compression (random float
# bits compress little). Deleting a copy (and its run folder) drops the run from the next
# report.
RECORDS_DIR = "reports/records"
ARRAYS_COPY_LIMIT = 2 * 2**20
_NOT_ARCHIVED = ("host", "pid")


def archive_records(runs: Iterable[Run], folder: Path) -> list[Path]:
    """Copy each COMPLETE local run's record (and arrays) into ``folder``; the files written.

    The record goes to ``<run_id>.json``; the arrays go to ``<run_id>.npz`` only for the
    best run of each model entry among ``runs``, and only when they fit
    ``ARRAYS_COPY_LIMIT``. A file is rewritten only when its content differs, so reporting
    twice writes nothing.
    """
    runs = list(runs)
    with_arrays = _best_of_each_model(runs)
    written = []
    for run in runs:
        if run.archived or run.status != "COMPLETE":
            continue
        slim = {k: v for k, v in run.record.items() if k not in _NOT_ARCHIVED}
        path = Path(folder) / f"{run.run_id}.json"
        if _write_if_changed(path, atomic.json_text(slim).encode("utf-8")):
            written.append(path)
        if run.run_id not in with_arrays:
            continue
        arrays = _arrays_zip(run)
        if arrays is not None and _write_if_changed(path.with_suffix(".npz"), arrays):
            written.append(path.with_suffix(".npz"))
    return written


def _best_of_each_model(runs: list[Run]) -> set[str]:
    """Ids of the best COMPLETE run of each model entry (copies included), by CV.

    Only these get their arrays copied: they are the rows of the results table and what
    ``kk ensemble`` on a fresh clone combines. A learner's fifty experiments then commit
    fifty small records but arrays for at most one run per entry (plus each entry's
    earlier best, whose copy stays: nothing committed is deleted).
    """
    best: dict[str, str] = {}
    for run in ranked_by_cv(runs):
        best.setdefault(str(run.record.get("model")), run.run_id)
    return set(best.values())


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.is_file() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_bytes(path, data)
    return True


def _arrays_zip(run: Run) -> bytes | None:
    """The run's ``.npy`` arrays as the bytes of an ``.npz`` (None: none, or over the limit).

    Written with ``zipfile`` rather than ``np.savez_compressed``, which stamps each member
    with the time it was written: fixed stamps make the same arrays the same bytes, so a
    report on another machine leaves the committed copy as it is.
    """
    names = sorted(n for n, f in (run.record.get("files") or {}).items() if f == f"{n}.npy")
    names = [n for n in names if (run.folder / f"{n}.npy").is_file()]
    if not names:
        return None
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in names:
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, (run.folder / f"{name}.npy").read_bytes())
    data = buf.getvalue()
    if len(data) > ARRAYS_COPY_LIMIT:
        log.info(
            "run %s: its arrays are %.1f MiB compressed, over the %.0f MiB copy limit; only "
            "its record is copied (an ensemble on another machine cannot use it)",
            run.run_id, len(data) / 2**20, ARRAYS_COPY_LIMIT / 2**20,
        )  # fmt: skip
        return None
    return data


def _copied_arrays(path: Path | None) -> set[str]:
    """The array names in a committed ``.npz`` copy (empty when there is none)."""
    if path is None or not path.is_file():
        return set()
    try:
        with zipfile.ZipFile(path) as zf:
            return {n.removesuffix(".npy") for n in zf.namelist() if n.endswith(".npy")}
    except (OSError, zipfile.BadZipFile) as err:
        raise _damaged_copy(path, err) from None


def _damaged_copy(path: Path, err: Exception) -> KKError:
    return KKError(
        f"array copy {path} cannot be read ({type(err).__name__}: {err}); restore it with "
        "git (`git checkout -- PATH`) or delete it"
    )


def archived_runs(folder: Path, runs_dir: Path) -> list[Run]:
    """The records copied into ``folder`` by ``archive_records``, oldest first.

    Each ``Run`` points at where its folder would be under ``runs_dir``, is marked
    ``archived`` and knows its arrays' copy when there is one. A copy that cannot be read
    is an error naming the file: it is committed text, so a bad merge or a hand edit is
    the likely cause.
    """
    out = []
    for path in sorted(Path(folder).glob("*.json")) if Path(folder).is_dir() else []:
        try:
            record = _read_record(path, run_id=path.stem)
        except (OSError, ValueError) as err:
            raise KKError(
                f"run record copy {path} cannot be read ({err}); restore it with git "
                "(`git checkout -- PATH`) or delete it"
            ) from None
        arrays = path.with_suffix(".npz")
        out.append(
            Run(
                Path(runs_dir) / path.stem,
                record,
                archived=True,
                arrays_copy=arrays if arrays.is_file() else None,
            )
        )
    return out


def runs_with_copies(runs_dir: Path, local: Sequence[Run] | None = None) -> list[Run]:
    """The runs under ``runs_dir`` (``local``, when already read) and, for runs not there,
    their committed copies.

    Sorted by run id (oldest first). The copies are read from ``reports/records/`` beside
    ``runs_dir`` (``projects/NAME/runs``).
    """
    local = list_runs(runs_dir) if local is None else local
    here = {r.run_id for r in local}
    copies = archived_runs(Path(runs_dir).parent / RECORDS_DIR, runs_dir)
    return sorted([*local, *(r for r in copies if r.run_id not in here)], key=lambda r: r.run_id)


def duplicate_key(run: Run) -> str | None:
    """What makes two runs the same run: backend, fold hash and the resolved config it used.

    The config counted is the run's own model entry plus every section that is not a model
    (competition, cv, features), so editing another model does not make runs differ.
    None when the record lacks the config (an ensemble, an old record): never a duplicate.
    """
    rec = run.record
    config = rec.get("config")
    if not isinstance(config, dict) or not rec.get("fold_hash") or not rec.get("backend"):
        return None
    model = str(rec.get("model"))
    payload = [rec.get("backend"), rec.get("fold_hash"), model, model_config(config, model)]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def model_config(config: dict[str, Any], model: str) -> dict[str, Any]:
    """A resolved project config as one model's runs use it: every section that is not a
    model (competition, data, cv, features) and that model's own entry, so adding or
    editing another model changes nothing for it."""
    shared = {k: v for k, v in config.items() if k not in ("models", "default_model")}
    return {**shared, "models": {model: (config.get("models") or {}).get(model)}}


def unique_runs(runs: Sequence[Run]) -> list[Run]:
    """``runs`` with each set of duplicates (``duplicate_key``) collapsed to its newest run.

    Two runs with one config on one fold file give the same predictions, so counting both
    gives a CV plot two bars and a stack two weights for one model. Order is kept.
    """
    newest: dict[str, Run] = {}
    for run in runs:
        key = duplicate_key(run)
        if key is None or run.status != "COMPLETE":
            continue
        seen = newest.get(key)
        if seen is None or str(run.record.get("started_at", "")) >= str(
            seen.record.get("started_at", "")
        ):
            newest[key] = run
    keep = {r.run_id for r in newest.values()}
    return [
        r for r in runs if r.status != "COMPLETE" or duplicate_key(r) is None or r.run_id in keep
    ]


def remove_runs(runs: Iterable[Run | DamagedRun]) -> list[str]:
    """Delete the run folders of ``runs``; returns their ids."""
    removed = []
    for run in runs:
        shutil.rmtree(run.folder)
        removed.append(run.run_id)
    return removed


def ranked_by_cv(runs: Iterable[Run]) -> list[Run]:
    """The COMPLETE runs that have a finite CV mean, best first in each run's metric direction.

    Ties keep the order given (``list_runs``: oldest first).
    """
    done = [r for r in runs if r.status == "COMPLETE" and r.record.get("cv_mean") is not None]
    done = [r for r in done if math.isfinite(float(r.record["cv_mean"]))]
    return sorted(done, key=lambda r: -_cv_goodness(r))


def _cv_goodness(run: Run) -> float:
    mean = float(run.record["cv_mean"])
    return mean if run.record.get("greater_is_better", True) else -mean


def leaderboard(
    runs: Iterable[Run], fold_hash: str | None = None, *, show_all: bool = False
) -> list[Run]:
    """``runs`` as ``kk runs`` lists them: those on ``fold_hash`` (all with ``show_all`` or
    without a hash), the ones with a CV score best first, then the rest, oldest first.

    Its order gives the row numbers ``find_run`` accepts.
    """
    shown = [
        r for r in runs if show_all or fold_hash is None or r.record.get("fold_hash") == fold_hash
    ]
    ordered = ranked_by_cv(shown)
    ranked = {r.run_id for r in ordered}
    return ordered + [r for r in shown if r.run_id not in ranked]


# How a command's ``--run`` / ``--runs`` / pseudo-label teacher may name a run.
RUN_FORMS = (
    "a run id, a unique prefix or suffix of one, 'best', a row number of `kk runs`, "
    "or a model name (its best run)"
)


def find_run(
    runs_dir: Path,
    run_id: str,
    *,
    copies: bool = False,
    fold_hash: str | None = None,
    by_name: bool = True,
) -> Run:
    """The run that ``run_id`` names: every command that takes a run resolves it here.

    ``run_id`` is one of (first match wins): a full run id; ``best``, the best COMPLETE
    run on ``fold_hash`` (the project's current folds); a row number as ``kk runs`` shows
    it (``leaderboard``); a model name, its best COMPLETE run on ``fold_hash``; a unique
    prefix or suffix of a run id. An ambiguous or unknown name is a one-line error listing
    the candidates. ``by_name=False`` takes ids, prefixes and suffixes only: for a name
    written into a config (a pseudo-label teacher), which must not change as runs finish.

    With ``copies``, a run whose folder is not here is found by its committed record copy
    (``runs_with_copies``): for what its predictions serve (an ensemble member, a
    pseudo-label teacher), not for what needs its folder (a submission file, a resume).
    A run whose folder is there but whose record is damaged is named as damaged.
    """
    found, damaged = scan_runs(runs_dir)
    listed = runs_with_copies(runs_dir, found)
    runs = {r.run_id: r for r in (listed if copies else found)}
    if run_id in runs:
        return runs[run_id]
    named = _run_by_name(listed, list(runs.values()), run_id, fold_hash) if by_name else None
    if named is not None:
        if named.run_id not in runs:
            raise KKError(
                f"run '{run_id}' is {named.run_id}, whose folder is not on this machine (only "
                "its committed record copy is): rerun it here (`kk train` with its model and --set)"
            )
        return runs[named.run_id]
    matches = [r for rid, r in runs.items() if rid.startswith(run_id) or rid.endswith(run_id)]
    broken = [d for d in damaged if d.run_id.startswith(run_id) or d.run_id.endswith(run_id)]
    if len(matches) == 1 and not broken:
        return matches[0]
    if len(matches) + len(broken) > 1:
        names = short_list([r.run_id for r in matches] + [d.run_id for d in broken], 8)
        raise KKError(
            f"run id '{run_id}' matches {len(matches) + len(broken)} runs ({names}); give "
            "more of it, or a row number of `kk runs`"
        )
    if broken:
        raise KKError(
            f"run {broken[0].run_id} is damaged: {broken[0].reason}; restore its record.json "
            "or delete the folder"
        )
    if not runs:
        raise KKError(f"run '{run_id}' is not known: there are no runs in {runs_dir} yet")
    err = unknown_name("run", run_id, runs)
    raise KKError(f"{err}; or name it as {RUN_FORMS}")


def _run_by_name(
    runs: list[Run], usable: list[Run], name: str, fold_hash: str | None
) -> Run | None:
    """The run ``name`` picks: ``best`` or a model name (among the ``usable`` runs), or a
    row number of ``runs`` as ``kk runs`` lists them (None: neither)."""
    on_folds = [r for r in usable if fold_hash is None or r.record.get("fold_hash") == fold_hash]
    if name == "best":
        ranked = ranked_by_cv(on_folds)
        if not ranked:
            raise KKError("run 'best': there is no COMPLETE run on the current folds yet")
        return ranked[0]
    rows = leaderboard(runs, fold_hash)
    if name.isdigit() and name == str(int(name)) and 1 <= int(name) <= len(rows):
        # A run id ends in four hex digits, which may all be digits ("0003" is no row).
        clash = [r.run_id for r in runs if r.run_id.rsplit("-", 1)[-1] == name]
        if clash:
            raise KKError(
                f"run '{name}' is row {name} of `kk runs` and also ends {short_list(clash)}; "
                "give the whole run id"
            )
        return rows[int(name) - 1]
    if any(r.record.get("model") == name for r in usable):
        ranked = [r for r in ranked_by_cv(on_folds) if r.record.get("model") == name]
        if not ranked:
            raise KKError(
                f"run '{name}': model {name} has no COMPLETE run on the current folds; "
                f"train it (`kk train PROJECT --model {name}`) or give a run id"
            )
        return ranked[0]
    return None
