"""kagglekit: the shared core of a Kaggle-style competition monorepo.

Folds are assigned once per project and read by everything else; every model, whatever
its backend, goes through one cross-validation loop that writes a run record.

A map of the package, lowest layer first (a module imports only from its own layer or
below; ``tests/test_layers.py`` enforces it):

=====================  ================================================================
layer                  modules
=====================  ================================================================
foundation             ``errors`` (one-line errors with the fix), ``atomic`` (atomic
                       writes), ``config`` (typed ``config.toml``), ``metrics``,
                       ``tasks`` (one object per task: binary, multiclass, regression,
                       ranking), ``records`` (run folders), ``project`` (finding projects
                       and their own code), ``kaggle.api`` (the official client's
                       wrapper: fetching competition files goes through it)
competition files      ``data/`` (``raw`` fetch and manifest, ``tables`` CSV reading,
and the vocabulary     ``synthetic`` competitions, ``sources``), ``loaders`` (one
                       ``Dataset`` for any kind of data), ``folds``, ``features/``,
                       ``models/`` (the model protocol, the backend registry, tabular
                       backends), ``submission``
kinds beyond tables    ``torch/`` (the shared trainer, DDP through torchrun),
                       ``vision/``, ``text/``, ``recsys/``: each registers its loaders
                       and backends
the loop               ``training/`` (``cv`` the loop, ``run`` the run lifecycle,
                       ``prepare``, ``smoke``, ``pseudo`` labels)
on top of runs         ``tuning/`` (Optuna studies), ``ensembling``, ``adversarial``,
                       ``auto/`` (``kk auto``: every entry within a budget, then an
                       ensemble),
                       ``reports/`` (tables, plots, READMEs), ``kaggle/`` (its stub,
                       submissions, kernels), ``scaffold/`` (templates),
                       ``demo``, ``notebook`` (``Project`` and ``Run``: the commands
                       as a Python surface)
shell                  ``cli/`` (``kk``)
=====================  ================================================================

The names in ``__all__`` are the documented surface for notebooks, scripts and projects.
They are imported on first use, so ``import kagglekit`` stays light (no torch, no
boosters) and ``kk --help`` starts fast.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"


def _busy_machine_wait_policy(load: float, cores: int) -> str | None:
    """``"PASSIVE"`` when other processes already keep about half the cores busy, else None.

    OpenMP threads (torch's CPU kernels, LightGBM, XGBoost) spin while they wait for work.
    On a machine another process keeps busy, every parallel region then waits for a
    descheduled spinner; passive waits (threads sleep) were 2.8x (torch MLP) and 1.6x
    (LightGBM) faster beside one busy process on 2 cores, and 12x and 4.7x under heavier
    load; on an idle machine they were 2-3.5x SLOWER (bench/threads.py, bench/README.md).
    So the choice is made from the load when kagglekit is imported.
    """
    return "PASSIVE" if cores > 0 and load >= 0.5 * cores else None


def _choose_openmp_waits() -> None:
    # Set before torch or the boosters load (they read it once); a user's own setting wins.
    if "OMP_WAIT_POLICY" in os.environ or not hasattr(os, "getloadavg"):
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        load = os.getloadavg()[0]
    except OSError:  # no load average on this system: leave the libraries' default
        return
    policy = _busy_machine_wait_policy(load, cores or 1)
    if policy:
        os.environ["OMP_WAIT_POLICY"] = policy


_choose_openmp_waits()

# name -> the module that defines it; looked up on first attribute access (PEP 562).
_SURFACE = {
    # errors
    "KKError": "kagglekit.errors",
    # projects, config and folds
    "open_project": "kagglekit.project",
    "list_projects": "kagglekit.project",
    "load_config": "kagglekit.config",
    "ProjectConfig": "kagglekit.config",
    "assign_project_folds": "kagglekit.folds",
    "load_folds": "kagglekit.folds",
    # data: loaders, a project's extension point for new layouts
    "Dataset": "kagglekit.loaders",
    "Loader": "kagglekit.loaders",
    "register_loader": "kagglekit.loaders",
    "load_dataset": "kagglekit.loaders",
    # tasks
    "Task": "kagglekit.tasks",
    "get_task": "kagglekit.tasks",
    "register_task": "kagglekit.tasks",
    # backends: the model protocol and the registry
    "Model": "kagglekit.models.base",
    "Backend": "kagglekit.models.base",
    "BuildContext": "kagglekit.models.base",
    "FoldContext": "kagglekit.models.base",
    "register_backend": "kagglekit.models.base",
    "get_backend": "kagglekit.models.base",
    "backend_names": "kagglekit.models.base",
    "torch_backend": "kagglekit.torch.backend",
    # the loop and what runs on top of it
    "train": "kagglekit.training",
    "cross_validate": "kagglekit.training",
    "smoke_test": "kagglekit.training",
    "tune": "kagglekit.tuning",
    "ensemble": "kagglekit.ensembling",
    # the commands as a Python surface for notebooks and scripts
    "Project": "kagglekit.notebook",
    "Run": "kagglekit.notebook",
}

__all__ = [
    "Backend",
    "BuildContext",
    "Dataset",
    "FoldContext",
    "KKError",
    "Loader",
    "Model",
    "Project",
    "ProjectConfig",
    "Run",
    "Task",
    "__version__",
    "assign_project_folds",
    "backend_names",
    "cross_validate",
    "ensemble",
    "get_backend",
    "get_task",
    "list_projects",
    "load_config",
    "load_dataset",
    "load_folds",
    "open_project",
    "register_backend",
    "register_loader",
    "register_task",
    "smoke_test",
    "torch_backend",
    "train",
    "tune",
]


def __getattr__(name: str) -> Any:
    module = _SURFACE.get(name)
    if module is None:
        raise AttributeError(f"module 'kagglekit' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # for type checkers and IDEs only; at run time the names load lazily
    from kagglekit.config import ProjectConfig, load_config
    from kagglekit.ensembling import ensemble
    from kagglekit.errors import KKError
    from kagglekit.folds import assign_project_folds, load_folds
    from kagglekit.loaders import Dataset, Loader, load_dataset, register_loader
    from kagglekit.models.base import (
        Backend,
        BuildContext,
        FoldContext,
        Model,
        backend_names,
        get_backend,
        register_backend,
    )
    from kagglekit.notebook import Project, Run
    from kagglekit.project import list_projects, open_project
    from kagglekit.tasks import Task, get_task, register_task
    from kagglekit.torch.backend import torch_backend
    from kagglekit.training import cross_validate, smoke_test, train
    from kagglekit.tuning import tune
