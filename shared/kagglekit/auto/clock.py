"""The budget's clock, and a deadline that stops whatever runs when it passes.

``deadline(at)`` arms a SIGALRM timer that raises ``BudgetSpent`` at monotonic time
``at``, so a long fold (or smoke fold) stops between two Python steps: a batch, a
boosting round, a tree. Only the main thread takes signals; elsewhere nothing is armed
and the fold-by-fold checks of ``auto.run`` alone stop a run.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["BudgetSpent", "Timer", "deadline", "now"]

# The clock budgets are counted on; a module global so that tests can move it.
_clock = time.monotonic


def now() -> float:
    """The budget's clock (monotonic seconds)."""
    return _clock()


class BudgetSpent(KeyboardInterrupt):
    """The budget ran out while an entry trained: it stops as after Ctrl-C (folds kept).

    A KeyboardInterrupt so that the run lifecycle (``training.run.failing``) keeps the
    run resumable, and so that no ``except Exception`` in a backend swallows it.
    """


class Timer:
    """A one-shot timer raising ``BudgetSpent`` in the main thread (``deadline``)."""

    def __init__(self) -> None:
        self.armed = False

    def fire(self, signum: int, frame: Any) -> None:
        if self.armed:
            self.armed = False
            raise BudgetSpent("the deadline passed")

    def disarm(self) -> None:
        """Let the block end in peace (a run whose folds are all done completes)."""
        self.armed = False  # first: a signal arriving now does nothing
        if threading.current_thread() is threading.main_thread():
            signal.setitimer(signal.ITIMER_REAL, 0)


@contextmanager
def deadline(at: float | None) -> Iterator[Timer]:
    """Raise ``BudgetSpent`` at ``at`` (on ``now()``'s clock) inside the block; None: never.

    The previous SIGALRM handler is put back when the block ends.
    """
    timer = Timer()
    if at is None or threading.current_thread() is not threading.main_thread():
        yield timer
        return
    previous = signal.signal(signal.SIGALRM, timer.fire)
    timer.armed = True
    signal.setitimer(signal.ITIMER_REAL, max(at - now(), 0.001))
    try:
        yield timer
    finally:
        timer.disarm()
        signal.signal(signal.SIGALRM, previous)
