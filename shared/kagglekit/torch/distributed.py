"""Data-parallel training over several processes: ``kk train PROJECT --nproc N``.

``launch`` checks the request and starts N copies of the same ``kk`` command through
``torchrun`` (``torch.distributed.run``), each with ``KK_DDP=1``. Every copy loads the
same data and folds and walks the same CV loop one fold at a time; inside a fold the
trainer (``kagglekit.torch.parallel``) wraps the net in ``DistributedDataParallel`` and
each process computes the gradient of its share of every global batch. Rank 0 alone
writes the run folder and the checkpoints; the other ranks read rank 0's folder (to
resume) and write nothing. When a process dies, torchrun stops the others (SIGTERM,
which here raises ``KeyboardInterrupt`` so rank 0 records the run as FAILED). A rank 0
stuck in a collective with the dead peer cannot run that handler and is killed after
torchrun's grace period, leaving its record RUNNING; rank 0 tells the launcher its run
folder (``KK_DDP_RUN_FILE``), so the launcher marks such a record FAILED once torchrun
has exited. The checkpoint of the last finished epoch stays, and ``kk train`` again
resumes from it.

No torch at import: ``kk --help`` stays fast, and a single-process run never loads it here.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import kagglekit.atomic as atomic
import kagglekit.records as records
from kagglekit.errors import KKError
from kagglekit.models.base import require

ENV_FLAG = "KK_DDP"
ENV_BACKEND = "KK_DDP_BACKEND"
ENV_RUN_FILE = "KK_DDP_RUN_FILE"  # where rank 0 writes its run folder for the launcher
BACKENDS = ("auto", "gloo", "nccl")


def world_size() -> int:
    """Processes in this ``kk`` run (1 unless started by ``launch``)."""
    if not os.environ.get(ENV_FLAG):
        return 1
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return int(os.environ.get("RANK", "0")) if world_size() > 1 else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0")) if world_size() > 1 else 0


def is_follower() -> bool:
    """True on ranks other than 0: they train but write nothing."""
    return world_size() > 1 and rank() != 0


def n_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def resolve_backend(requested: str, nproc: int) -> str:
    """``gloo`` or ``nccl`` for ``nproc`` processes on this machine, or a one-line error.

    ``auto``: NCCL when torch sees CUDA GPUs, else gloo. NCCL needs one GPU per process;
    gloo on a CPU one core per process at least.
    """
    if requested not in BACKENDS:
        raise KKError(
            f"--dist-backend {requested!r} is not known; use one of {', '.join(BACKENDS)}"
        )
    if nproc < 1:
        raise KKError(f"--nproc {nproc} must be >= 1")
    require("torch", "vision")
    import torch

    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    backend = requested if requested != "auto" else ("nccl" if n_gpus else "gloo")
    if backend == "nccl":
        if not n_gpus:
            raise KKError(
                "--dist-backend nccl needs CUDA GPUs and torch sees none; use --dist-backend "
                "gloo (or auto) on a CPU machine"
            )
        if nproc > n_gpus:
            raise KKError(
                f"--nproc {nproc} is more than the {n_gpus} CUDA GPU(s) here; use --nproc "
                f"{n_gpus} or fewer (one process per GPU)"
            )
    elif nproc > n_cores():
        raise KKError(
            f"--nproc {nproc} is more than the {n_cores()} CPU core(s) here; use --nproc "
            f"{n_cores()} or fewer"
        )
    return backend


def _without_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N`` / ``--dist-backend X``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in ("--nproc", "--dist-backend"):
            skip = True
            continue
        if arg.startswith(("--nproc=", "--dist-backend=")):
            continue
        out.append(arg)
    return out


def launch(argv: Sequence[str], nproc: int, backend: str) -> int:
    """Run ``kk ARGV`` in ``nproc`` processes through torchrun; its exit status.

    ``argv`` is the ``kk`` command line after the program name; ``--nproc`` and
    ``--dist-backend`` are taken out of it. Each process gets ``KK_DDP=1``, the chosen
    backend and (on a CPU) an equal share of the cores as its thread count. A run that
    torchrun's processes leave RUNNING when they end (a rank 0 killed, not stopped) is
    marked FAILED here, so it reads as what happened.
    """
    chosen = resolve_backend(backend, nproc)
    env = dict(os.environ, **{ENV_FLAG: "1", ENV_BACKEND: chosen})
    run_dir = tempfile.mkdtemp(prefix="kk-ddp-")
    run_file = Path(run_dir) / "run"
    env[ENV_RUN_FILE] = str(run_file)
    if chosen == "gloo":
        env["OMP_NUM_THREADS"] = str(max(1, n_cores() // nproc))
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "kagglekit.cli",
        *_without_nproc(argv),
    ]
    code = None
    try:
        code = subprocess.run(command, env=env, check=False).returncode
        return code
    finally:
        why = f"exit {code}" if code is not None else "the launcher was interrupted"
        fail_if_left_running(run_file, f"a training process of --nproc {nproc} failed ({why})")
        # ignore_errors: a rank 0 killed mid-write leaves a temp file; never hide the exit.
        shutil.rmtree(run_dir, ignore_errors=True)


def note_run(folder: Path) -> None:
    """On rank 0 of a launched run: tell the launcher which run folder it writes."""
    path = os.environ.get(ENV_RUN_FILE)
    if path and world_size() > 1 and rank() == 0:
        atomic.write_text(Path(path), str(folder))


def fail_if_left_running(run_file: Path, error: str) -> bool:
    """Mark the run named in ``run_file`` FAILED if its process is gone but its record
    still says RUNNING; True if it did. A record its process finished is left as it is."""
    if not run_file.is_file():
        return False  # rank 0 died before it started a run (or never got that far)
    folder = Path(run_file.read_text().strip())
    try:
        run = records.load_run(folder)
    except KKError:  # a missing or damaged folder: nothing to mark
        return False
    if run.status != "ABANDONED":
        return False
    run.finish("FAILED", error=error)
    return True


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signum} (another training process failed)")


def init_process_group() -> None:
    """Join the process group torchrun set up (once); SIGTERM becomes KeyboardInterrupt."""
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    backend = os.environ.get(ENV_BACKEND, "gloo")
    if backend == "nccl":
        torch.cuda.set_device(local_rank())
    signal.signal(signal.SIGTERM, _interrupt)
    dist.init_process_group(backend=backend)


def active() -> bool:
    """True inside a started process group of more than one process."""
    if world_size() < 2:
        return False
    import torch.distributed as dist

    return bool(dist.is_initialized())


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (pickled; for small things such as a path)."""
    import torch.distributed as dist

    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]
