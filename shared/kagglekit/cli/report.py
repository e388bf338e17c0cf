"""``kk report``: regenerate README sections from run records, the ledger and plots."""

from __future__ import annotations

from typing import Annotated

import typer

from kagglekit.cli.app import app, get_project, make_console


@app.command()
def report(
    project: Annotated[
        str | None,
        typer.Argument(
            help="Project folder name under projects/ (none: the root README's portfolio index "
            "and the learning-path pages' results under docs/).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Rewrite projects/PROJECT/README.md's results section and plots, or the portfolio index
    and the docs/ pages' result tables."""
    from kagglekit.project import projects_root
    from kagglekit.reports import write_portfolio, write_project_report
    from kagglekit.reports.learning_path import write_learning_path

    console = make_console()
    if project is None:
        root = projects_root()
        readme = root.parent / "README.md"
        changed = write_portfolio(root, readme)
        console.print(f"{readme}: {'portfolio updated' if changed else 'portfolio unchanged'}")
        for page, page_changed in write_learning_path(root, root.parent / "docs"):
            console.print(f"{page}: {'results updated' if page_changed else 'results unchanged'}")
        return
    result = write_project_report(get_project(project))
    console.print(
        f"{result.readme}: {'results updated' if result.changed else 'results unchanged'}"
    )
    for plot in result.plots:
        console.print(f"  {plot.path}")
