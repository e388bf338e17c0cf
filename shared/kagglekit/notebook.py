"""The Python surface for notebooks and scripts: ``kk.Project`` and the ``kk.Run`` it makes.

>>> import kagglekit as kk  # doctest: +SKIP
>>> p = kk.Project("titanic")  # doctest: +SKIP
>>> p.fetch(); p.folds()  # doctest: +SKIP
>>> run = p.train("lightgbm", set={"models.lightgbm.params.learning_rate": 0.03})  # doctest: +SKIP
>>> run.cv_mean, run.oof.head(), run.test.head()  # doctest: +SKIP
>>> p.runs()  # the leaderboard of ``kk runs``  # doctest: +SKIP

Each method calls the library functions the matching ``kk`` command calls (``kk fetch``,
``kk folds``, ``kk train``, ``kk runs``, ``kk ensemble``, ``kk report``, ``kk submit``,
``kk new``), so a notebook and the command line make the same runs, recorded the same way.
Errors are the same one-line ``KKError``s; in IPython they show as that line, not a
traceback (``SHOW_TRACEBACKS = True`` shows them). Training progress is a live rich bar in
Jupyter (its widget needs ipywidgets) and plain lines elsewhere.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

import kagglekit.atomic as atomic
import kagglekit.project as project_mod
import kagglekit.records as records
from kagglekit.config import ProjectConfig, parse_override
from kagglekit.errors import KKError

if TYPE_CHECKING:
    from kagglekit.folds import FoldAssignment
    from kagglekit.loaders import Dataset
    from kagglekit.reports import ProjectReport
    from kagglekit.training.smoke import SmokeResult

__all__ = ["SHOW_TRACEBACKS", "Project", "Run"]

# In IPython a KKError shows as its one line, as ``kk`` prints it; True shows tracebacks
# (what ``kk --debug`` does).
SHOW_TRACEBACKS = False
PROGRESS_MODES = ("auto", "bar", "lines", "off")


class Project:
    """A competition project for notebooks and scripts: the ``kk`` commands as methods.

    Parameters
    ----------
    name_or_path
        A project folder name under ``projects/`` (found from the working directory, or
        ``KK_PROJECTS_DIR``), or the path of a project folder (one with a config.toml).
    progress
        ``"auto"`` (a live bar in Jupyter when ipywidgets is installed, else plain lines),
        ``"bar"``, ``"lines"`` or ``"off"``.
    """

    def __init__(self, name_or_path: str | os.PathLike[str], *, progress: str = "auto") -> None:
        if progress not in PROGRESS_MODES:
            raise KKError(f"progress '{progress}' is not one of {', '.join(PROGRESS_MODES)}")
        self._project = _open(name_or_path)
        self.progress = progress
        self._test_ids: pd.Series | None = None
        _one_line_errors()

    # --- what it is -------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._project.name

    @property
    def root(self) -> Path:
        """The project folder (config.toml, features.py, data/, runs/)."""
        return self._project.root

    @property
    def runs_dir(self) -> Path:
        return self._project.runs_dir

    def __repr__(self) -> str:
        return f"Project({self.name!r}, root={str(self.root)!r})"

    def config(self, set: Mapping[str, Any] | Sequence[str] | None = None) -> ProjectConfig:
        """The validated config.toml, with ``set`` overrides (as ``--set``) laid over it."""
        return self._project.config(overrides(set))

    @classmethod
    def new(
        cls,
        kind: str,
        slug: str,
        *,
        projects_dir: str | os.PathLike[str] | None = None,
        **answers: Any,
    ) -> Project:
        """Generate ``projects/SLUG/`` from the KIND template, as ``kk new KIND SLUG --no-input``.

        ``answers`` are the template's questions (``competition``, ``id_column``,
        ``target_column``, ``task``, ``metric``, ...); the rest take their defaults.
        """
        from kagglekit.scaffold import new_project

        given = {key: value for key, value in answers.items() if value is not None}
        folder = new_project(
            kind, slug, given, ask=None, projects=Path(projects_dir) if projects_dir else None
        )
        return cls(folder)

    # --- data and folds ---------------------------------------------------------------

    def fetch(self, from_dir: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """Copy the competition files into ``data/raw/`` (``kk fetch``): {file: sha256}.

        From Kaggle, from ``KK_DATA_MIRROR`` or from ``from_dir``, as the config's source says.
        """
        from kagglekit.data.raw import fetch as fetch_files
        from kagglekit.loaders import required_files

        proj, cfg = self._project, self.config()
        folder = Path(from_dir) if from_dir is not None else None
        return fetch_files(proj, cfg, from_dir=folder, required=required_files(proj, cfg))

    def folds(
        self, *, force: bool = False, set: Mapping[str, Any] | Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Assign the cross-validation folds once (``kk folds``); the fold file as a frame.

        One row per train row: its id and ``fold_0`` (``fold_1``, ... with repeats); -1
        marks a row no fold validates. ``attrs`` holds the hash and whether it changed.
        """
        from kagglekit.folds import assign_project_folds

        result: FoldAssignment = assign_project_folds(self._project, self.config(set), force=force)
        if result.changed and result.incomparable_runs:
            _say(
                f"{len(result.incomparable_runs)} run(s) used the old folds and are not "
                f"comparable with new runs: {', '.join(result.incomparable_runs)}"
            )
        frame = pd.read_csv(self._project.folds_path)
        frame.attrs.update(hash=result.hash, changed=result.changed)
        return frame

    def dataset(self, set: Mapping[str, Any] | Sequence[str] | None = None) -> Dataset:
        """The competition's rows as the models get them (``kagglekit.loaders.Dataset``:
        ``X``, ``target``, ``ids``, ``X_test``, ``test_ids``, ``info``, ...)."""
        from kagglekit.loaders import load_dataset

        self._project.import_module()  # a project's own loaders register on import
        return load_dataset(self._project, self.config(set))

    # --- training and runs ------------------------------------------------------------

    def train(
        self,
        model: str | None = None,
        *,
        set: Mapping[str, Any] | Sequence[str] | None = None,
        params: str | Mapping[str, Any] | None = None,
        fresh: bool = False,
    ) -> Run:
        """Train a model entry with cross-validation and record the run (``kk train``).

        Parameters
        ----------
        model
            A ``[models.NAME]`` entry of config.toml (None: ``default_model``).
        set
            Config overrides: ``{"models.lightgbm.params.learning_rate": 0.03}`` or
            ``["models.lightgbm.params.learning_rate=0.03"]``, recorded like ``--set``.
        params
            ``"best"`` (the model's tuning study), a params file path, or a dict of the
            model's parameters.
        fresh
            Start a new run even if the same run was interrupted (no resume).
        """
        from kagglekit.training import train as train_cv
        from kagglekit.tuning.results import resolve_params

        sets = overrides(set)
        cfg = self._project.config(sets)
        name, _ = cfg.model(model)
        chosen = dict(params) if isinstance(params, Mapping) else None
        if isinstance(params, str):
            chosen = resolve_params(self._project, cfg, name, params)
        progress = _Progress(f"{self.name}/{name}", cfg.competition.metric, self.progress)
        with progress:
            result = train_cv(
                self._project,
                cfg,
                model_name=name,
                params=chosen,
                overrides=sets,
                on_start=progress.start,
                on_fold=progress.fold,
                on_progress=progress.epoch,
                fresh=fresh,
            )
        run = self._run(result.run)
        if self.progress != "off":
            _say(run.summary_line())
        return run

    def smoke(self, model: str | None = None) -> SmokeResult:
        """Check that a model entry runs: one short fold on a few hundred rows, nothing
        recorded (``kk train --smoke --model NAME``)."""
        from kagglekit.training import smoke_test

        return smoke_test(self._project, self.config(), model_name=model)

    def runs(self, *, show_all: bool = False) -> pd.DataFrame:
        """The leaderboard of ``kk runs`` (``--json``'s fields), best CV first.

        The index is the row number ``kk runs`` shows, which ``run()``, ``submit()`` and
        ``ensemble()`` take too. Runs on replaced folds are left out unless ``show_all``.
        """
        from kagglekit.folds import folds_meta

        meta = folds_meta(self._project)
        current = meta["hash"] if meta else None
        listed = records.runs_with_copies(self.runs_dir)
        shown = records.leaderboard(listed, current, show_all=show_all)
        columns = list(records.Run(Path(), {"run_id": ""}).row())
        frame = pd.DataFrame([run.row(current) for run in shown], columns=columns)
        frame.index = pd.RangeIndex(1, len(frame) + 1, name="#")
        return frame

    def run(self, name: str | Run) -> Run:
        """The run ``name`` names: an id (or a unique prefix or suffix), ``"best"``, a row
        number of ``runs()``, or a model name (its best run)."""
        from kagglekit.training.run import resolve_run

        return self._run(resolve_run(self._project, _run_id(name), copies=True))

    def ensemble(self, runs: Iterable[str | Run] | None = None, *, method: str = "hill") -> Run:
        """Combine runs made on the same folds into a new run (``kk ensemble``).

        ``runs``: names as ``run()`` takes them (None: every COMPLETE run on the current
        folds); ``method``: ``"hill"`` (hill climbing) or ``"stack"`` (a level-2 model).
        """
        from kagglekit.ensembling import ensemble as make_ensemble

        names = None if runs is None else [_run_id(r) for r in runs]
        result = make_ensemble(self._project, self.config(), run_ids=names, method=method)
        run = self._run(result.run)
        if self.progress != "off":
            _say(run.summary_line())
        return run

    def report(self) -> ProjectReport:
        """Regenerate README.md's results section and the plots (``kk report PROJECT``)."""
        from kagglekit.reports import write_project_report

        return write_project_report(self._project)

    def submit(
        self,
        run: str | Run,
        *,
        dry_run: bool = False,
        message: str = "",
        wait: bool = False,
        timeout: float = 600.0,
    ) -> dict[str, Any]:
        """Validate a run's submission, then upload it to Kaggle (``kk submit --run``).

        ``dry_run=True`` validates only. Returns the file, its rows and columns and, when
        uploaded, the ledger entry (``submitted``; with ``wait``, its public score).
        """
        import kagglekit.kaggle.submit as submitting

        proj, cfg = self._project, self.config()
        path, run_obj = submitting.run_submission(proj, _run_id(run), None)
        labels = submitting.submission_labels(proj, cfg, run_obj)
        sub = submitting.validate_file(proj, cfg, path, allowed_labels=labels)
        entry = None
        if not dry_run:
            entry = submitting.submit(
                proj, cfg, path, run=run_obj, message=message, allowed_labels=labels, validated=True
            )
            if wait:
                entry = submitting.wait_for_score(proj, cfg, entry["ref"], timeout=timeout)
        return {
            "file": str(path),
            "run_id": None if run_obj is None else run_obj.run_id,
            "rows": len(sub),
            "columns": list(sub.columns),
            "submitted": entry,
        }

    # --- what runs read ---------------------------------------------------------------

    def _run(self, run: records.Run) -> Run:
        return Run(run.folder, run.record, run.archived, run.arrays_copy, project=self)

    def _test_ids_series(self) -> pd.Series:
        """The test rows' ids in the order of every run's ``test.npy`` (read once)."""
        if self._test_ids is None:
            self._test_ids = self.dataset().test_ids.reset_index(drop=True)
        return self._test_ids


@dataclass(repr=False)
class Run(records.Run):
    """A run folder read from a notebook: its record, scores and predictions as frames.

    Everything a ``kagglekit.records.Run`` has (``record``, ``status``, ``folder``,
    ``load_array``), plus ``cv_mean``/``cv_std``, ``oof`` and ``test``.
    """

    project: Project | None = field(default=None, compare=False)
    _frames: dict[str, pd.DataFrame] = field(default_factory=dict, init=False, compare=False)

    @property
    def cv_mean(self) -> float | None:
        """The mean of the fold scores (None until the run is COMPLETE)."""
        return None if self.record.get("cv_mean") is None else float(self.record["cv_mean"])

    @property
    def cv_std(self) -> float | None:
        """The standard deviation of the fold scores (None until the run is COMPLETE)."""
        return None if self.record.get("cv_std") is None else float(self.record["cv_std"])

    @property
    def model(self) -> str:
        return str(self.record.get("model"))

    @property
    def metric(self) -> str:
        return str(self.record.get("metric"))

    @property
    def submission(self) -> Path:
        return self.path("submission.csv")

    @property
    def oof(self) -> pd.DataFrame:
        """The out-of-fold predictions: one row per train row, in train order.

        Columns: the id column, ``fold`` (the fold that validated the row, in the first
        repeat; -1 for rows no fold validates), ``target`` (the label or value), and the
        predictions: ``prediction`` (a value, or the probability of the second class of a
        binary task) or ``prediction_<class>`` per class (per list position for rankings).
        """
        if "oof" not in self._frames:
            self._frames["oof"] = self._oof_frame()
        return self._frames["oof"]

    @property
    def test(self) -> pd.DataFrame:
        """The test predictions the submission was built from: the id column and the
        prediction columns of ``oof``."""
        if "test" not in self._frames:
            proj = self._owner()
            ids = proj._test_ids_series()
            pred = self.load_array("test")
            if len(ids) != len(pred):
                raise KKError(
                    f"run {self.run_id} has {len(pred)} test predictions but the test data has "
                    f"{len(ids)} rows now; rerun it (`kk train` with its model and --set)"
                )
            frame = pd.DataFrame({ids.name or "id": ids.to_numpy()})
            self._frames["test"] = _with_predictions(frame, pred, self.record.get("classes"))
        return self._frames["test"]

    def summary_line(self) -> str:
        """``CV accuracy: 0.81234 +- 0.01234 (OOF 0.81200, 3.2 s) run ID``."""
        rec = self.record
        if self.cv_mean is None:
            return f"run {self.run_id}: {self.shown_status}"
        line = (
            f"CV {self.metric}: {self.cv_mean:.5f} +- {self.cv_std or 0.0:.5f} "
            f"(OOF {float(rec.get('oof_score', float('nan'))):.5f}, "
            f"{float(rec.get('wall_seconds') or 0.0):.1f} s) run {self.run_id}"
        )
        if rec.get("degenerate"):
            line += f"\nwarning: this run looks broken: {rec.get('degenerate_why')}"
        return line

    def __repr__(self) -> str:
        cv = "" if self.cv_mean is None else f", CV {self.metric} {self.cv_mean:.5f}"
        return f"Run({self.run_id!r}, model={self.model!r}{cv}, status={self.shown_status!r})"

    def _owner(self) -> Project:
        if self.project is None:
            raise KKError(
                f"run {self.run_id} does not know its project; read it with "
                "kk.Project(NAME).run(RUN_ID)"
            )
        return self.project

    def _oof_frame(self) -> pd.DataFrame:
        """The OOF predictions beside the ids and folds of the fold file they were made on."""
        proj = self._owner()
        folds_path = proj._project.folds_path
        if not folds_path.is_file():
            raise KKError(
                f"project '{proj.name}' has no fold file here; assign the folds first "
                f"(p.folds() or `kk folds {proj.name}`)"
            )
        made_on = self.record.get("fold_hash")
        digest = atomic.sha256_file(folds_path)
        if made_on and made_on != digest:
            raise KKError(
                f"run {self.run_id} was made on folds {str(made_on)[:12]} but the project's "
                f"folds are now {digest[:12]}; its rows cannot be matched: rerun it"
            )
        id_column = proj.config().competition.id_column
        folds = pd.read_csv(folds_path)
        pred = self.load_array("oof")
        if len(folds) != len(pred):
            raise KKError(
                f"run {self.run_id} has {len(pred)} OOF rows but the fold file has {len(folds)}"
            )
        frame = pd.DataFrame({id_column: folds[id_column].to_numpy(), "fold": folds["fold_0"]})
        classes = self.record.get("classes")
        if self.has_array("target"):
            target = self.load_array("target")
            is_code = classes and target.ndim == 1 and np.issubdtype(target.dtype, np.integer)
            frame["target"] = np.asarray(classes)[target] if is_code else list(target)
        return _with_predictions(frame, pred, classes)


def _with_predictions(frame: pd.DataFrame, pred: np.ndarray, classes: Any) -> pd.DataFrame:
    """``frame`` with a ``prediction`` column, or ``prediction_<name>`` per output column."""
    if pred.ndim == 1:
        return frame.assign(prediction=pred)
    k = pred.shape[1]
    names = (
        [str(c) for c in classes] if classes and len(classes) == k else [str(j) for j in range(k)]
    )
    columns = pd.DataFrame(pred, columns=[f"prediction_{n}" for n in names], index=frame.index)
    return pd.concat([frame, columns], axis=1)


def overrides(set_: Mapping[str, Any] | Sequence[str] | None) -> list[str]:
    """``--set`` strings from a dict of dotted keys and Python values (or from strings).

    A value is written as the TOML literal ``--set`` reads back to the same value, and a
    plain word stays bare (``keep=last``), so the recorded overrides (and the resume key
    they are part of) match the command line's.
    """
    if set_ is None:
        return []
    if isinstance(set_, str):
        raise KKError(f"set={set_!r}: give a dict of KEY: VALUE (or a list of 'KEY=VALUE')")
    if not isinstance(set_, Mapping):
        return [str(item) for item in set_]
    out = []
    for key, value in set_.items():
        item = f"{key}={_toml_literal(value)}"
        if isinstance(value, str) and parse_override(f"{key}={value}")[1] == value:
            item = f"{key}={value}"  # a bare word, as typed after --set
        out.append(item)
    return out


def _toml_literal(value: Any) -> str:
    """``value`` as a TOML literal (json's strings and numbers are TOML's too)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value)
    if isinstance(value, np.generic):
        return _toml_literal(value.item())
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_literal(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_literal(v) for v in value) + "]"
    raise KKError(f"set value {value!r} is not a number, string, bool, list or dict")


def _run_id(run: str | records.Run) -> str:
    return run.run_id if isinstance(run, records.Run) else str(run)


def _open(name_or_path: str | os.PathLike[str]) -> project_mod.Project:
    """A project by folder name under ``projects/``, or by the path of its folder."""
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, Path) or os.sep in text or "/" in text or text in (".", ".."):
        folder = Path(text).expanduser().resolve()
        if not (folder / "config.toml").is_file():
            raise KKError(f"{folder} has no config.toml; give a project folder or a project name")
        return project_mod.Project(name=folder.name, root=folder)
    return project_mod.open_project(text)


def _say(line: str) -> None:
    print(line, flush=True)


class _Progress:
    """Fold and epoch progress of one training run: a rich bar (a live widget in Jupyter)
    or plain lines (logs, scripts, executed notebooks), as ``mode`` says."""

    def __init__(self, label: str, metric: str, mode: str) -> None:
        self.label, self.metric = label, metric
        self.mode = _bar_or_lines() if mode == "auto" else mode
        self.bar: Any = None
        self.task: Any = None
        self.epochs: Any = None
        self.total = 0

    def __enter__(self) -> _Progress:
        if self.mode == "bar":
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[last]}"),
                TimeElapsedColumn(),
                transient=True,
            )
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def start(self, total: int) -> None:
        self.total = total
        if self.bar is not None:
            self.task = self.bar.add_task(self.label, total=total, last="")
        elif self.mode == "lines":
            _say(f"{self.label}: {total} fold(s)")

    def fold(self, fold: Any, done: Sequence[Any]) -> None:
        line = f"fold {fold.repeat}.{fold.fold}: {self.metric} {fold.score:.5f}"
        if self.bar is not None:
            self.bar.update(self.task, advance=1, last=line)
            if self.epochs is not None:
                self.bar.remove_task(self.epochs)
                self.epochs = None
        elif self.mode == "lines":
            _say(f"  {line} ({fold.seconds:.1f} s) [{len(done)}/{self.total}]")

    def epoch(self, report: dict[str, Any]) -> None:
        line = (
            f"epoch {report['epoch'] + 1}/{report['n_epochs']}: valid {report['valid_score']:.5f}, "
            f"loss {report['train_loss']:.4f}"
        )
        if self.bar is not None:
            if self.epochs is None:
                self.epochs = self.bar.add_task("  epochs", total=report["n_epochs"], last="")
            self.bar.update(self.epochs, completed=report["epoch"] + 1, last=line)
        elif self.mode == "lines":
            _say(f"    {line}")


def _bar_or_lines() -> str:
    """``bar`` in a Jupyter kernel that can show rich's live widget, else ``lines``."""
    from rich.console import Console

    if not Console().is_jupyter:
        return "lines"
    try:
        import ipywidgets  # noqa: F401  (rich draws its live display in an ipywidgets Output)
    except ImportError:
        return "lines"
    return "bar"


def _one_line_errors() -> None:
    """In IPython, show a ``KKError`` as its one line, as ``kk`` prints it (once per shell)."""
    ipython_mod = sys.modules.get("IPython")  # never imported here: scripts stay light
    shell = ipython_mod.get_ipython() if ipython_mod is not None else None
    if shell is None or getattr(shell, "_kk_one_line_errors", False):
        return
    shell.set_custom_exc((KKError,), _show_kk_error)
    shell._kk_one_line_errors = True


def _show_kk_error(
    shell: Any, etype: type[BaseException], value: BaseException, tb: Any, tb_offset: Any = None
) -> list[str] | None:
    if SHOW_TRACEBACKS:
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
        return None
    lines = [f"KKError: {value}"]
    shell._showtraceback(etype, value, lines)
    return lines
