"""``kk auto`` (every model entry within a budget, then an ensemble) and ``kk train --all``
(every entry, no budget, no ensemble): one machinery, ``kagglekit.auto``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from kagglekit.cli.app import JsonOpt, ProjectArg, app, fmt_number, get_project, make_console
from kagglekit.errors import KKError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from kagglekit.auto import AutoResult
    from kagglekit.project import Project


@app.command()
def auto(
    project: ProjectArg,
    budget: Annotated[
        str | None,
        typer.Option(
            "--budget",
            help="Wall time for the whole command, e.g. 90s, 30m, 2h, 1h30m (default: "
            "train every entry).",
        ),
    ] = None,
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--models", help="Entries to train: a,b,c or repeated (default: every entry)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train the project's model entries within a budget, cheap and strong first, then
    ensemble them (hill climbing, nested CV) and write the submission.

    Each entry's cost comes from an earlier run or a smoke fold; entries that cannot
    finish in what is left are skipped and said so. Every run is an ordinary run; a
    finished entry is reused, an interrupted one goes on, so a second call with a larger
    budget adds to the first.
    """
    from kagglekit.auto import auto as run_auto
    from kagglekit.auto import parse_budget
    from kagglekit.training.run import RunInterrupted

    seconds = None if budget is None else parse_budget(budget)
    names = [n for text in models or [] for n in text.replace(",", " ").split()]
    proj = get_project(project)
    console = make_console(stderr=as_json)
    try:
        result = run_auto(
            proj, budget=seconds, models=names or None, say=lambda line: _say(console, line)
        )
    except RunInterrupted as stopped:  # Ctrl-C: the next kk auto goes on from here
        console.print(f"{stopped}; or rerun kk auto, which goes on with it", markup=False)
        raise
    console.print(summary_table(proj, result))
    _print_final(console, result)
    if result.final_summary is None:
        raise KKError(
            f"no entry of {proj.name} finished (the table says why); nothing to submit"
            + (f": give a larger --budget than {budget}" if budget else "")
        )
    if as_json:
        print(json.dumps(result.summary()))


def train_all(proj: Project, overrides: list[str], *, fresh: bool, as_json: bool) -> None:
    """``kk train PROJECT --all``: every entry, no budget, no ensemble; entries with a
    COMPLETE run of their config are kept (``--fresh`` trains them again). With
    ``--json``, one line per entry: ``kk train --json``'s keys for a run, or its status
    and reason."""
    from kagglekit.auto import auto as run_auto
    from kagglekit.records import load_run
    from kagglekit.training.run import run_summary

    console = make_console(stderr=as_json)
    result = run_auto(
        proj,
        ensemble=False,
        reuse=not fresh,
        overrides=overrides,
        command="kk train --all",
        say=lambda line: _say(console, line),
    )
    console.print(summary_table(proj, result, "kk train --all"))
    if as_json:
        for entry in result.entries:
            line = {"model": entry.name, "status": entry.status, "reason": entry.reason}
            if entry.status in ("trained", "reused") and entry.run_id:
                run = load_run(proj.runs_dir / entry.run_id)
                rec = run.record
                line |= run_summary(
                    run, result.metric, rec["cv_mean"], rec["cv_std"], run.path("submission.csv")
                )
            print(json.dumps(line))
    failed = [e.name for e in result.entries if e.status == "failed"]
    if failed:
        raise KKError(
            f"{len(failed)} entr{'y' if len(failed) == 1 else 'ies'} failed: "
            f"{', '.join(failed)} (the table says why)"
        )


def _say(console: Console, line: str) -> None:
    console.print(line, markup=False, highlight=False)


def summary_table(proj: Project, result: AutoResult, command: str = "kk auto") -> Table:
    """One row per entry: CV, time, estimate, its weight in the ensemble, what happened."""
    from rich.markup import escape
    from rich.table import Table

    from kagglekit.auto import fmt_duration

    title = f"{proj.name}: {command}" + (
        f" ({fmt_duration(result.seconds)} of a {fmt_duration(result.budget)} budget)"
        if result.budget
        else f" ({fmt_duration(result.seconds)})"
    )
    table = Table(title=title, title_justify="left")
    for col in ("entry", f"CV {result.metric.name}", "time", "estimate", "kept (weight)", "run"):
        table.add_column(col, justify="right" if col not in ("entry", "run") else "left")
    table.add_column("what happened", overflow="fold")
    styles = {"failed": "red", "skipped": "yellow", "stopped": "yellow"}
    for e in result.entries:
        kept = ""
        if e.weight is not None:
            kept = f"yes {e.weight:.2f}" if e.weight > 0 else "no"
        what = escape(e.status + (f": {e.reason}" if e.reason else ""))
        style = styles.get(e.status, "")
        table.add_row(
            e.name,
            fmt_number(e.cv_mean),
            "" if e.seconds is None else fmt_duration(e.seconds),
            "" if not e.estimate or e.status == "reused" else fmt_duration(e.estimate),
            kept,
            e.run_id or "",
            f"[{style}]{what}[/{style}]" if style else what,
        )
    return table


def _print_final(console: Console, result: AutoResult) -> None:
    from kagglekit.auto import fmt_duration

    for note in result.notes:
        console.print(note, markup=False)
    summary = result.final_summary
    if summary is None:
        return
    line = f"[bold]final: {summary['model']} CV {result.metric.name} {summary['cv_mean']:.5f}"
    line += f" +- {summary['cv_std']:.5f}[/bold]"
    if summary.get("nested_cv_mean") is not None:
        line += (
            f"  nested CV {summary['nested_cv_mean']:.5f} (weights chosen without the scored fold)"
        )
    console.print(line + f"  run {summary['run_id']}")
    if result.ensemble_seconds is not None and summary.get("runs"):
        reserved = result.ensemble_estimate
        console.print(
            f"ensemble: {fmt_duration(result.ensemble_seconds)}"
            + (
                f" (about {fmt_duration(reserved * len(summary['runs']))} kept free for it)"
                if reserved
                else ""
            ),
            markup=False,
        )
    console.print(f"submission: {summary['submission']}")
