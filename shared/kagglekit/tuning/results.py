"""What a study found: its summary, its best parameters (as a params file), importances."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kagglekit.atomic as atomic
from kagglekit.config import ProjectConfig, read_params_file
from kagglekit.errors import KKError
from kagglekit.folds import folds_meta
from kagglekit.metrics import get_metric
from kagglekit.project import Project
from kagglekit.tuning.storage import default_study_name, import_optuna, journal_file
from kagglekit.tuning.study import TuneSpec, load_study

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)

# The evaluator behind ``importances``, named where the importances are shown. It is
# passed explicitly (it is Optuna's default since 4.x), so the label stays true even if
# Optuna changes its default again.
IMPORTANCE_EVALUATOR = "PED-ANOVA"


@dataclass
class TuneResult:
    """A finished ``tune`` call: the study and this command's numbers."""

    study: optuna.Study
    n_new: int
    wall_seconds: float
    recovered: list[int]

    def summary(self) -> dict[str, Any]:
        """The ``--json`` line of ``kk tune``."""
        return study_summary(self.study) | {
            "n_new": self.n_new,
            "recovered": self.recovered,
            "wall_seconds": round(self.wall_seconds, 3),
            "trials_per_minute": round(60.0 * self.n_new / max(self.wall_seconds, 1e-9), 3),
        }


def study_summary(study: optuna.Study) -> dict[str, Any]:
    """Study-wide counts and the best trial."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    counts = {s: sum(t.state == s for t in trials) for s in TrialState}
    best = best_trial(study)
    return {
        "study": study.study_name,
        "best_value": None if best is None else best.value,
        "best_trial": None if best is None else best.number,
        "best_params": None if best is None else best_params_of(best),
        "n_trials": len(trials),
        "n_complete": counts[TrialState.COMPLETE],
        "n_pruned": counts[TrialState.PRUNED],
        "pruned_after_folds": pruned_after_folds(trials),
        "n_failed": counts[TrialState.FAIL],
        "n_running": counts[TrialState.RUNNING],
        "n_waiting": counts[TrialState.WAITING],
    }


def pruned_after_folds(trials: list[optuna.trial.FrozenTrial]) -> dict[int, int]:
    """Pruned trials counted by the folds each had finished when it was pruned: ``{1: 12,
    2: 8}``. The fold pruners decide between folds; the epoch rule of models that train in
    epochs stops a trial inside the next fold, counted here with the folds it finished
    (0: inside its first fold)."""
    from optuna.trial import TrialState

    counts = Counter(len(t.intermediate_values) for t in trials if t.state == TrialState.PRUNED)
    return dict(sorted(counts.items()))


def pruning_line(summary: dict[str, Any]) -> str:
    """``pruned 23 of 40 trials: after fold 1: 12, fold 2: 8, fold 3: 3`` (what ``--show``
    prints), or ``no trial pruned (of 40)``."""
    n, by_fold = summary["n_pruned"], summary["pruned_after_folds"]
    if not n:
        return f"no trial pruned (of {summary['n_trials']})"
    parts = [f"inside fold 1: {by_fold[0]}"] if 0 in by_fold else []
    after = [f"fold {k}: {count}" for k, count in by_fold.items() if k > 0]
    parts += [f"after {after[0]}", *after[1:]] if after else []
    return f"pruned {n} of {summary['n_trials']} trials: {', '.join(parts)}"


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    return study.best_trial


def best_params_of(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """Every parameter the trial's models got (searched and fixed)."""
    return dict(trial.user_attrs.get("kk_params") or trial.params)


def best_study_name(study_name: str | None, model: str) -> str:
    return study_name or default_study_name(model)


# --- reading a study back -------------------------------------------------------------


def tuned_model(project: Project, cfg: ProjectConfig) -> str | None:
    """The model to show when ``--model`` is not given: the default model if it has a study,
    else the one model entry with a study in the project's journal files (None: none).

    Raises ``KKError`` when several models have studies but not the default one.
    """
    studies = project.root / "studies"
    tuned = sorted(p.stem for p in studies.glob("*.journal")) if studies.is_dir() else []
    if cfg.default_model in tuned:
        return cfg.default_model
    models = [name for name in tuned if name in cfg.models]
    if len(models) == 1:
        return models[0]
    if not models:
        return None
    raise KKError(
        f"the default model '{cfg.default_model}' has no study; studies of: {', '.join(models)}; "
        f"pick one with kk tune {project.name} --model NAME --show"
    )


def open_study(
    project: Project,
    cfg: ProjectConfig,
    *,
    model_name: str | None,
    study_name: str | None,
    storage: str | None,
) -> optuna.Study:
    """Load a study for reading (``--show``, ``--write-params``, ``--params best``)."""
    name, _ = cfg.model(model_name)
    spec = TuneSpec(
        project_name=project.name,
        project_root=str(project.root),
        model=name,
        study=best_study_name(study_name, name),
        storage=storage,
    )
    path = journal_file(project, spec.study, storage)
    if path is not None and not path.exists():
        raise KKError(
            f"no study '{spec.study}' at {path}; run kk tune {project.name} --model {name} first"
        )
    return load_study(spec)


def best_params(
    project: Project,
    cfg: ProjectConfig,
    *,
    model_name: str | None,
    study_name: str | None = None,
    storage: str | None = None,
) -> tuple[dict[str, Any], optuna.trial.FrozenTrial]:
    """The best trial's parameters, checked against the project's current folds."""
    name, _ = cfg.model(model_name)
    study = open_study(project, cfg, model_name=name, study_name=study_name, storage=storage)
    best = best_trial(study)
    if best is None:
        raise KKError(f"study '{study.study_name}' has no complete trial yet; run kk tune first")
    if study.user_attrs.get("kk_fold_hash") != _fold_hash(project):
        raise KKError(
            f"study '{study.study_name}' was tuned on other folds than the project's current "
            "ones; its best score cannot be reproduced: tune again with a new --study"
        )
    return best_params_of(best), best


def resolve_params(
    project: Project, cfg: ProjectConfig, model_name: str, params: str | None
) -> dict[str, Any] | None:
    """The parameters ``params`` names for ``model_name``: ``"best"`` (the best trial of
    the model's tuning study), a params file's path (``kk tune --write-params``), or None.

    What ``kk train --params`` and ``kk.Project.train(params=...)`` take.
    """
    if params is None:
        return None
    if params == "best":
        return best_params(project, cfg, model_name=model_name)[0]
    return read_params_file(Path(params)).params


def _fold_hash(project: Project) -> str:
    meta = folds_meta(project)
    if meta is None:
        raise KKError(f"project '{project.name}' has no folds yet; run `kk folds {project.name}`")
    return str(meta["hash"])


# --- the params file ------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    raise KKError(f"parameter value {value!r} cannot be written to TOML; fix it in config.toml")


def write_params(
    project: Project,
    cfg: ProjectConfig,
    *,
    model_name: str | None,
    study_name: str | None = None,
    storage: str | None = None,
) -> Path:
    """Write the best trial's parameters to ``params/<model>.toml`` (a typed params file).

    ``config.toml`` is never changed: reference the file with
    ``params_file = "params/<model>.toml"`` under ``[models.<model>]``.
    """
    name, entry = cfg.model(model_name)
    params, best = best_params(
        project, cfg, model_name=name, study_name=study_name, storage=storage
    )
    metric = get_metric(cfg.competition.metric)
    header = {
        "model": name,
        "backend": entry.backend,
        "study": best_study_name(study_name, name),
        "trial": best.number,
        "value": best.value,
        "metric": metric.name,
        "fold_hash": _fold_hash(project),
    }
    lines = [
        f"# Best parameters of study '{header['study']}' (kk tune {project.name} --model {name}",
        "# --write-params). Use them with params_file in config.toml.",
        *(f"{k} = {_toml_value(v)}" for k, v in header.items()),
        "",
        "[params]",
        *(f"{k} = {_toml_value(v)}" for k, v in sorted(params.items())),
        "",
    ]
    path = project.root / "params" / f"{name}.toml"
    atomic.write_text(path, "\n".join(lines))
    read_params_file(path)  # what was written must read back as a valid params file
    return path


# --- importances ----------------------------------------------------------------------


def importances(study: optuna.Study) -> dict[str, float]:
    """Parameter importances over the complete trials (empty with fewer than two).

    Computed with Optuna's ``PedAnovaImportanceEvaluator`` (``IMPORTANCE_EVALUATOR``).
    """
    optuna = import_optuna()
    from optuna.importance import PedAnovaImportanceEvaluator
    from optuna.trial import TrialState

    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
        return {}
    try:
        return dict(
            optuna.importance.get_param_importances(study, evaluator=PedAnovaImportanceEvaluator())
        )
    except (RuntimeError, ValueError) as err:
        log.warning("parameter importances unavailable: %s", err)
        return {}
