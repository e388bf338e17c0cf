"""Scaffolding commands: ``kk new`` (a project from a template) and ``kk update``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import typer

from kagglekit.cli.app import app, make_console
from kagglekit.errors import KKError


def _ask(key: str, prompt: str, default: str, choices: Sequence[str] | None) -> str:
    from rich.prompt import Prompt

    return Prompt.ask(
        prompt, default=default, choices=list(choices) if choices else None, console=make_console()
    )


@app.command()
def new(
    kind: Annotated[str, typer.Argument(help="Project kind: tabular, vision, recsys or nlp.")],
    slug: Annotated[str, typer.Argument(help="Folder name under projects/.", show_default=False)],
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Ask nothing; take defaults for what is not given.")
    ] = False,
    competition: Annotated[
        str | None, typer.Option("--competition", help="Kaggle competition slug.")
    ] = None,
    id_column: Annotated[str | None, typer.Option("--id-column", help="Id column.")] = None,
    target: Annotated[str | None, typer.Option("--target", help="Target column.")] = None,
    task: Annotated[
        str | None,
        typer.Option("--task", help="binary, multiclass, regression (or ranking: recsys)."),
    ] = None,
    metric: Annotated[
        str | None, typer.Option("--metric", help="Metric, as Kaggle names it.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Any other template answer: KEY=VALUE (repeatable)."),
    ] = None,
) -> None:
    """Generate projects/SLUG/ from the KIND template (answers checked before writing)."""
    from kagglekit.scaffold import new_project

    given = {
        key: value
        for key, value in {
            "competition": competition,
            "id_column": id_column,
            "target_column": target,
            "task": task,
            "metric": metric,
        }.items()
        if value is not None
    }
    for item in set_ or []:
        if "=" not in item:
            raise KKError(f"--set '{item}' is not KEY=VALUE; write e.g. --set n_splits=10")
        key, value = item.split("=", 1)
        given[key.strip()] = value.strip()
    path = new_project(kind, slug, given, ask=None if no_input else _ask)
    console = make_console()
    console.print(f"[green]created[/green] {path} from templates/{kind}")
    console.print(
        f"next: kk fetch {slug} [--from DIR]; kk folds {slug}; kk train {slug}; "
        f"kk submit {slug} --run RUN_ID --dry-run"
    )


@app.command()
def update(
    slug: Annotated[str, typer.Argument(help="Project folder name under projects/.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what would change; write nothing.")
    ] = False,
) -> None:
    """Merge the current template into a generated project, keeping your edits."""
    from kagglekit.scaffold import update_project

    report = update_project(slug, dry_run=dry_run)
    console = make_console()
    if report.up_to_date:
        console.print(f"{slug} is up to date with its template ({report.to_tree[:10]})")
        return
    verb = "would " if dry_run else ""
    console.print(f"{slug}: template {report.from_tree[:10]} -> {report.to_tree[:10]}")
    for label, items in (
        ("merged", report.merged),
        ("added", report.added),
        ("removed", report.removed),
        ("kept as is", report.skipped),
    ):
        for item in items:
            console.print(f"  {verb}{label}: {item}")
    for item in report.conflicts:
        console.print(f"  [red]{verb}conflict[/red]: {item}")
    if report.conflicts:
        where = " (not written: --dry-run)" if dry_run else ""
        raise KKError(
            f"{len(report.conflicts)} conflict(s){where} in {', '.join(report.conflicts)}: "
            "resolve the <<<<<<< / >>>>>>> markers there, then commit"
        )
