"""Where a study lives: the project's journal file, or a database shared by many machines.

By default a journal file inside the project (``projects/<name>/studies/<study>.journal``,
git-ignored), safe for many local worker processes; ``postgresql://...`` uses Optuna's RDB
storage, whose own heartbeat fails the trials of a worker that stopped beating.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kagglekit.errors import KKError
from kagglekit.project import Project

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5
GRACE_SECONDS = 30
RDB_SCHEMES = ("postgresql", "mysql", "sqlite")
_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def import_optuna() -> Any:
    """The ``optuna`` module, or a one-line install hint."""
    try:
        import optuna
    except ImportError:
        raise KKError(
            "optuna is not installed; install it with: pip install 'kagglekit[tune]'"
        ) from None
    return optuna


def default_study_name(model_name: str) -> str:
    """One study per model unless ``--study`` says otherwise."""
    return model_name


def journal_path(project: Project, study_name: str) -> Path:
    """Where the default journal storage of a study lives (git-ignored)."""
    # The name becomes a file name: '../x' or 'a/b' would put the journal outside studies/.
    if not _STUDY_NAME.match(study_name):
        raise KKError(
            f"--study '{study_name}' is not a valid study name; use letters, digits, '.', '-' "
            "and '_', starting with a letter or digit"
        )
    return project.root / "studies" / f"{study_name}.journal"


def redact(url: str) -> str:
    """``scheme://user:***@host/db``: never show a password in output or records."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}{':***' if ':' in creds else ''}@{host}"


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""


def journal_file(project: Project, study_name: str, url: str | None) -> Path | None:
    """The journal file a storage URL names, or None for a database URL."""
    if url is None:
        return journal_path(project, study_name)
    if url.startswith("journal:"):
        return Path(url.removeprefix("journal:")).expanduser()
    if _scheme(url) in RDB_SCHEMES:
        return None
    if url.endswith(".journal") and "://" not in url:
        return Path(url).expanduser()
    raise KKError(
        f"--storage '{redact(url)}' is not a storage URL; use postgresql://USER:PASSWORD@HOST/DB, "
        "a path ending in .journal, or leave it out for the project's journal file"
    )


def requeue(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Enqueue a failed trial's parameters so the next free worker runs them again."""
    if trial.params:
        study.enqueue_trial(trial.params, user_attrs={"kk_retry_of": trial.number})
        log.warning("trial %d failed stale; its parameters are queued again", trial.number)


def open_storage(project: Project, study_name: str, url: str | None) -> optuna.storages.BaseStorage:
    """The Optuna storage for ``url`` (None: the project's journal file).

    Raises a one-line ``KKError`` for an unknown URL or a database that cannot be opened.
    """
    optuna = import_optuna()
    path = journal_file(project, study_name, url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.JournalStorage(_journal_backend(path))
    assert url is not None
    if _scheme(url) == "sqlite":
        log.warning("SQLite storage locks under parallel workers; prefer the journal file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                _with_driver(url),
                engine_kwargs={"pool_pre_ping": True},
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=GRACE_SECONDS,
                heartbeat_stale_trial_callback=requeue,
            )
    except ImportError as err:
        raise KKError(
            f"storage {redact(url)} needs a database driver ({err.__cause__ or err}); "
            "install it with: pip install 'kagglekit[tune]'"
        ) from None
    except Exception as err:  # sqlalchemy's errors: bad URL, refused connection, bad login
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise KKError(
            f"cannot open storage {redact(url)}: {first}; check the URL and that the server is up"
        ) from None


# Journal operations that end or create something (a study, a trial's state and value, a
# discard): these are flushed to the disk before the call returns. The others (a trial's
# parameters, its fold-by-fold reports, its attributes) are written to the file at once
# but left to the OS to flush: a killed or interrupted process loses nothing (the bytes
# are in the OS's page cache, which the other workers read), only a power cut could, and
# then only the unfinished trial's progress, which is re-queued as after any crash.
# Optuna's JournalFileBackend fsyncs every write: on Titanic's 0.5 s trials that was
# about 15 % of a study's time (19 writes a trial), none of it spent on finished work.
_DURABLE_OPS = ("CREATE_STUDY", "DELETE_STUDY", "SET_STUDY_USER_ATTR", "SET_STUDY_SYSTEM_ATTR",
                "CREATE_TRIAL", "SET_TRIAL_STATE_VALUES", "DISCARD_TRIALS")  # fmt: skip


def _journal_backend(path: Path) -> Any:
    """Optuna's journal file backend, syncing to disk only what ``_DURABLE_OPS`` names."""
    import json

    from optuna.storages.journal import JournalFileBackend

    try:
        from optuna.storages.journal._file import get_lock_file
        from optuna.storages.journal._storage import JournalOperation

        durable_ops = {int(JournalOperation[name]) for name in _DURABLE_OPS}
    except (ImportError, KeyError):  # another Optuna's internals: its own writes, each synced
        return JournalFileBackend(str(path))

    class TrialEndSync(JournalFileBackend):
        def append_logs(self, logs: list[dict[str, Any]]) -> None:
            durable = any(entry.get("op_code") in durable_ops for entry in logs)
            if durable or not hasattr(self, "_lock") or not hasattr(self, "_file_path"):
                super().append_logs(logs)  # Optuna's own write, with its fsync
                return
            lines = [json.dumps(entry, separators=(",", ":")) for entry in logs]
            with get_lock_file(self._lock), open(self._file_path, "ab") as f:
                f.write(("\n".join(lines) + "\n").encode("utf-8"))
                f.flush()

    return TrialEndSync(str(path))


def _with_driver(url: str) -> str:
    """``postgresql://`` with the driver that is installed (SQLAlchemy 2.1 assumes psycopg 3)."""
    if not url.startswith("postgresql://"):
        return url
    for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return url.replace("postgresql://", f"postgresql+{driver}://", 1)
    return url
