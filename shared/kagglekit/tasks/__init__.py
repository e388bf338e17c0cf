"""One object per task: what differs between binary, multiclass and regression lives here.

The CV loop, submissions, ensembling, folds, pseudo-labels, reports and the backends ask
the task instead of branching on its name: how the target is encoded, the shape of OOF and
test predictions, how fold predictions are combined, how a submission is built, checked
and scored, what a stacker sees and how its weights read, which test rows make confident
pseudo-labels, how a scikit-learn estimator or a torch net predicts and what loss a net
trains on. A new task (ranking, top-K recommendation) is a new class registered here.
Names of tasks are compared only here and where a task is defined (``recsys.ranking``);
everyone else holds the ``Task`` (``BuildContext.task``, ``Prepared.task``) and run
records keep its ``name``.

Prediction spaces (the same for every model, see ``kagglekit.metrics``):

- binary: shape (n,), probability of the positive class (encoded 1);
- multiclass: shape (n, k), class probabilities in encoded class order;
- regression: shape (n,), values;
- ranking: shape (n, depth), each row's user's ranked item codes.

- ``base``: ``Task`` (what every task answers), ``Competition`` (what a task reads of
  the config) and the registry (``get_task``, ``register_task``, ``as_task``);
- ``classification``: ``Binary`` and ``Multiclass``;
- ``regression``: ``Regression``;
- ``kagglekit.recsys.ranking``: ``Ranking``, registered when ``get_task("ranking")`` is
  first asked for.
"""

from kagglekit.tasks.base import (
    Competition,
    Task,
    as_task,
    get_task,
    register_task,
    task_name,
)
from kagglekit.tasks.classification import Binary, Multiclass
from kagglekit.tasks.regression import Regression

__all__ = [
    "Binary",
    "Competition",
    "Multiclass",
    "Regression",
    "Task",
    "as_task",
    "get_task",
    "register_task",
    "task_name",
]
