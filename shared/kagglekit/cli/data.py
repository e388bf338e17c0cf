"""Commands on a project's data: fetch its files, assign its folds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kagglekit.cli.app import ProjectArg, SetOpt, app, get_project, make_console


@app.command()
def fetch(
    project: ProjectArg,
    from_dir: Annotated[
        Path | None,
        typer.Option("--from", help="A local mirror folder holding the competition files."),
    ] = None,
) -> None:
    """Copy a competition's files into projects/PROJECT/data/raw/ with checksums."""
    from kagglekit.data.raw import fetch as fetch_files
    from kagglekit.loaders import required_files

    proj = get_project(project)
    cfg = proj.config()
    manifest = fetch_files(proj, cfg, from_dir=from_dir, required=required_files(proj, cfg))
    console = make_console()
    for rel, digest in sorted(manifest.items()):
        console.print(f"  {rel}  sha256:{digest[:16]}")
    console.print(f"[green]{len(manifest)} file(s) in {proj.raw_dir}[/green]")


@app.command()
def folds(
    project: ProjectArg,
    force: Annotated[
        bool, typer.Option("--force", help="Replace folds that existing runs used.")
    ] = False,
    set_: SetOpt = None,
) -> None:
    """Assign cross-validation folds once and save them with a content hash."""
    from kagglekit.folds import assign_project_folds

    proj = get_project(project)
    cfg = proj.config(set_)
    result = assign_project_folds(proj, cfg, force=force)
    console = make_console()
    cv = cfg.cv
    splits = {
        "holdout": f"{cv.valid_size:g} of the rows",
        "user_holdout": f"{cv.valid_size:g} of each user's rows",
        "user_last": f"each user's {cv.n_last} latest rows",
    }.get(cv.kind, f"{cv.n_splits}-fold")
    scheme = f"{cv.kind} {splits} x{cv.n_repeats} (seed {cv.seed})"
    if not result.changed:
        console.print(f"folds unchanged: {scheme}, hash {result.hash[:12]}")
    else:
        console.print(
            f"[green]folds saved[/green]: {scheme}, hash {result.hash[:12]} -> {proj.folds_path}"
        )
    if result.group_mates is not None:
        valid, test = result.group_mates
        console.print(
            f"rows with a labelled '{cv.group_column}'-mate: {valid:.1%} of validation rows, "
            f'{test:.1%} of test rows (cv.kind = "matched_group" makes them alike, '
            f'"stratified_group" gives validation none)'
        )
    if not result.changed:
        return
    if result.incomparable_runs:
        console.print(
            f"[yellow]{len(result.incomparable_runs)} run(s) used the old folds and are not comparable "
            f"with new runs:[/yellow] {', '.join(result.incomparable_runs)}"
        )
