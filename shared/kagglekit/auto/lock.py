"""One ``kk auto`` per project at a time: ``runs/auto.lock``, held with ``flock``.

The kernel drops an ``flock`` when its process ends, however it ends (kill -9
included), so a lock left by a killed process is free to take: no pid guessing, and no
window in which two processes both decide a lock is stale and both take it (which
"delete the stale file, create a new one" schemes have). The file holds the holder's
pid, host and start time, for the refusal message and to say whose lock was taken over;
it is emptied, never deleted, on a clean exit (deleting a file others may be waiting on
lets two processes lock two different files of one name). ``filelock`` would lock the
same way but records no holder, which the one-line refusal needs.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from kagglekit.errors import KKError
from kagglekit.project import Project
from kagglekit.provenance import now, pid_alive

__all__ = ["LOCK_NAME", "project_lock"]

LOCK_NAME = "auto.lock"


@contextmanager
def project_lock(project: Project, *, command: str = "kk auto") -> Iterator[str | None]:
    """Hold the project's auto lock for the block; refuse in one line if another holds it.

    Yields None, or a line saying whose lock was taken over (a process that ended
    without releasing it: killed, or its machine restarted).
    """
    import fcntl  # POSIX only, like the process checks of run records

    path = project.runs_dir / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            since = f" since {holder['started_at']}" if holder.get("started_at") else ""
            raise KKError(
                f"{holder.get('command', command)} is already running on {project.name} "
                f"(pid {holder.get('pid', '?')}{since}, lock {path}); wait for it to end or "
                "stop it, then run this again"
            ) from None
        note = _taken_over(_read(fd))
        _write(
            fd,
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "command": command,
                "started_at": now(),
            },
        )
        try:
            yield note
        finally:
            _write(fd, None)
    finally:
        os.close(fd)  # releases the flock


def _read(fd: int) -> dict[str, object]:
    """The lock file's holder record ({} when empty or unreadable)."""
    try:
        data = os.pread(fd, 4096, 0)
        holder = json.loads(data) if data.strip() else {}
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _write(fd: int, holder: dict[str, object] | None) -> None:
    os.ftruncate(fd, 0)
    if holder is not None:
        os.pwrite(fd, json.dumps(holder).encode(), 0)


def _taken_over(holder: dict[str, object]) -> str | None:
    """What to say about a holder record left in a lock nobody held (None: it was clean)."""
    pid = holder.get("pid")
    if not isinstance(pid, int):
        return None
    same_host = holder.get("host") == socket.gethostname()
    how = "is no longer running" if same_host and not pid_alive(pid) else "no longer held it"
    return (
        f"took over the lock left by {holder.get('command', 'kk auto')} (pid {pid}, "
        f"started {holder.get('started_at', '?')}), which {how}"
    )
