"""Tuning commands: ``kk tune`` (run trials, ``--show`` results, ``--write-params``)."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kagglekit.cli.app import (
    JsonOpt,
    ProjectArg,
    SetOpt,
    app,
    get_project,
    make_console,
    progress_bar,
    state,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from rich.console import Console
    from rich.progress import Progress, TaskID

    from kagglekit.project import Project


def _fmt(value: Any) -> str:
    return "" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)


@app.command()
def tune(
    project: ProjectArg,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model entry from config.toml.")
    ] = None,
    trials: Annotated[
        int | None,
        typer.Option(
            "--trials", "-n", help="Trials this command runs (default 50 without --timeout)."
        ),
    ] = None,
    timeout: Annotated[
        float | None, typer.Option("--timeout", help="Start no trial after this many seconds.")
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", "-w", help="Local worker processes sharing the study.")
    ] = 1,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="postgresql://USER:PASSWORD@HOST/DB (many machines) or a .journal file; "
            "default: projects/PROJECT/studies/STUDY.journal.",
        ),
    ] = None,
    study: Annotated[
        str | None, typer.Option("--study", help="Study name (default: the model's name).")
    ] = None,
    no_prune: Annotated[
        bool, typer.Option("--no-prune", help="Never prune between folds.")
    ] = False,
    sampler: Annotated[str, typer.Option("--sampler", help="tpe or random.")] = "tpe",
    pruner: Annotated[
        str, typer.Option("--pruner", help="paired (default), median, percentile or none.")
    ] = "paired",
    seed: Annotated[
        int | None, typer.Option("--seed", help="Sampler seed (default: the model's seed).")
    ] = None,
    show: Annotated[
        bool, typer.Option("--show", help="Print the top trials and parameter importances.")
    ] = False,
    top: Annotated[int, typer.Option("--top", help="Trials shown by --show.")] = 10,
    write_params: Annotated[
        bool,
        typer.Option(
            "--write-params", help="Write the best trial's parameters to params/MODEL.toml."
        ),
    ] = False,
    set_: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tune a model's parameters over the saved folds with Optuna (pruning between folds)."""
    import kagglekit.tuning as tuning

    proj = get_project(project)
    cfg = proj.config(set_)
    console = make_console(stderr=as_json)
    if not state["debug"]:
        import optuna

        optuna.logging.set_verbosity(logging.WARNING)
    if show or write_params:
        summary = _results(proj, cfg, model, study, storage, console, top, show, write_params)
        if as_json:
            print(json.dumps(summary, default=str))
        return
    name, _ = cfg.model(model)
    progress = progress_bar(console)
    total = trials if trials is not None else (None if timeout else tuning.DEFAULT_TRIALS)
    task = progress.add_task(f"{proj.name}/{name}", total=total, last="")
    on_trial = _trial_reporter(progress, task, cfg)
    with progress:
        result = tuning.tune(
            proj,
            cfg,
            model_name=name,
            n_trials=trials,
            timeout=timeout,
            workers=workers,
            storage=storage,
            study_name=study,
            prune=not no_prune,
            sampler=sampler,
            pruner=pruner,
            seed=seed,
            overrides=tuple(set_ or []),
            on_trial=on_trial,
        )
    summary = result.summary()
    _print_study(console, proj, cfg, name, summary, n_new=result.n_new)
    if as_json:
        print(json.dumps(summary, default=str))


def _trial_reporter(progress: Progress, task: TaskID, cfg: Any) -> Callable[[dict[str, Any]], None]:
    """The ``on_trial`` callback: advance the bar, show the last trial and the best so far."""
    from kagglekit.metrics import get_metric

    metric = get_metric(cfg.competition.metric)
    best: list[float] = []

    def on_trial(event: dict[str, Any]) -> None:
        value = event["value"]  # None for a failed trial
        if event["state"] == "COMPLETE" and (not best or metric.better(value, best[0])):
            best[:] = [value]
        last = f"#{event['number']} {event['state'].lower()}"
        if value is not None:
            last += f" {value:.5f}"
        if best:
            last += f"  best {best[0]:.5f}"
        progress.update(task, advance=1, last=last)

    return on_trial


def _print_study(
    console: Console, proj: Project, cfg: Any, name: str, summary: dict[str, Any], *, n_new: int
) -> None:
    """What this command's trials did to the study, its best trial and what to run next."""
    if summary["recovered"]:
        console.print(
            f"[yellow]recovered stale trial(s) {summary['recovered']}: failed, parameters "
            "queued again[/yellow]"
        )
    console.print(
        f"[bold]study {summary['study']}[/bold]: {n_new} trial(s) in "
        f"{summary['wall_seconds']:.1f} s ({summary['trials_per_minute']:.1f}/min); study has "
        f"{summary['n_complete']} complete, {summary['n_pruned']} pruned, "
        f"{summary['n_failed']} failed"
    )
    if summary["best_value"] is not None:
        console.print(
            f"best {cfg.competition.metric}: {summary['best_value']:.6f} (trial "
            f"{summary['best_trial']})  params {summary['best_params']}"
        )
        console.print(
            f"next: kk tune {proj.name} --model {name} --show | --write-params;  "
            f"kk train {proj.name} --model {name} --params best"
        )


def _greater(cfg: Any) -> bool:
    from kagglekit.metrics import get_metric

    return get_metric(cfg.competition.metric).greater_is_better


def _results(
    proj: Project,
    cfg: Any,
    model: str | None,
    study_name: str | None,
    storage: str | None,
    console: Console,
    top: int,
    show: bool,
    write: bool,
) -> dict[str, Any]:
    from optuna.trial import TrialState
    from rich.table import Table

    import kagglekit.tuning as tuning

    if model is None and study_name is None and storage is None:
        # `kk tune titanic --show`: the model that was tuned, when it is not the default.
        model = tuning.tuned_model(proj, cfg)
    name, _ = cfg.model(model)
    study = tuning.open_study(proj, cfg, model_name=name, study_name=study_name, storage=storage)
    summary = tuning.study_summary(study)
    if show:
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        ordered = sorted(done, key=lambda t: t.value or 0.0, reverse=_greater(cfg))[:top]
        keys = sorted({k for t in ordered for k in t.params})
        table = Table(
            title=f"{proj.name} / study {study.study_name}: top {len(ordered)} of "
            f"{summary['n_trials']} trials ({summary['n_pruned']} pruned, "
            f"{summary['n_failed']} failed)",
            title_justify="left",
        )
        for col in ("trial", cfg.competition.metric, *keys):
            table.add_column(col, justify="right")
        for t in ordered:
            table.add_row(str(t.number), _fmt(t.value), *(_fmt(t.params.get(k)) for k in keys))
        console.print(table)
        # When pruning does too much, it shows here: most trials cut after the first fold.
        console.print(tuning.pruning_line(summary))
        imp = tuning.importances(study)
        summary["importances"] = imp
        summary["importance_evaluator"] = tuning.IMPORTANCE_EVALUATOR
        if imp:
            itable = Table(
                title=f"parameter importances ({tuning.IMPORTANCE_EVALUATOR}, Optuna)",
                title_justify="left",
            )
            itable.add_column("parameter")
            itable.add_column("importance", justify="right")
            for key, value in imp.items():
                itable.add_row(key, f"{value:.3f}")
            console.print(itable)
    if write:
        path = tuning.write_params(
            proj, cfg, model_name=name, study_name=study_name, storage=storage
        )
        rel = path.relative_to(proj.root)
        summary["params_file"] = str(path)
        console.print(f"[green]wrote[/green] {path}")
        from rich.markup import escape

        console.print(
            escape(
                f'use it: add  params_file = "{rel}"  under [models.{name}] in '
                f"{proj.config_path} (or: kk train {proj.name} --model {name} --params {path})"
            )
        )
    return summary
