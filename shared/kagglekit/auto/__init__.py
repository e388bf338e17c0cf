"""``kk auto``: every model entry of a project within a time budget, then an ensemble.

- ``budget``: ``--budget 30m`` read as seconds, durations written for people.
- ``clock``: the budget's clock, and a timer that stops a fold when the budget is
  spent (``BudgetSpent``, a KeyboardInterrupt: the run stays resumable).
- ``lock``: one ``kk auto`` per project at a time (``runs/auto.lock``, an ``flock`` the
  kernel drops when its holder dies, so a killed run's lock is taken over).
- ``plan``: each entry's expected cost and strength (a reused or interrupted run, an
  earlier run's duration, a smoke fold) and the cheap-and-strong-first order.
- ``run``: ``auto`` itself: train what fits, stop what would overrun (its folds kept),
  ensemble the COMPLETE runs with the nested score, name the final run.
"""

from kagglekit.auto.budget import fmt_duration, parse_budget, suggest_budget
from kagglekit.auto.clock import BudgetSpent, deadline
from kagglekit.auto.lock import project_lock
from kagglekit.auto.plan import Entry, portfolio_order, smoke_estimate
from kagglekit.auto.run import AutoResult, auto, select_entries

__all__ = [
    "AutoResult",
    "BudgetSpent",
    "Entry",
    "auto",
    "deadline",
    "fmt_duration",
    "parse_budget",
    "portfolio_order",
    "project_lock",
    "select_entries",
    "smoke_estimate",
    "suggest_budget",
]
