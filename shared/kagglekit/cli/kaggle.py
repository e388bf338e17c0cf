"""Kaggle commands: submissions, leaderboard, kernel (``kk submit`` lives in ``submissions``).

Every command goes through the official client (``kagglekit.kaggle.api``), imported
lazily inside the command bodies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kagglekit.cli.app import ProjectArg, app, fmt_number, get_project, make_console

if TYPE_CHECKING:
    pass


@app.command()
def submissions(
    project: ProjectArg,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the submissions as JSON lines.")
    ] = False,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Only the local ledger (offline; scores as last recorded). Also what is "
            "shown, with a note, when Kaggle cannot be reached or no credentials are set.",
        ),
    ] = False,
) -> None:
    """Your Kaggle submissions with CV vs public/private LB, joined with the ledger and runs.

    When Kaggle cannot be reached (offline, no client, no credentials), the local ledger
    is shown instead, with a note.
    """
    from rich.table import Table

    from kagglekit.kaggle.api import KaggleError, KaggleUnavailable
    from kagglekit.kaggle.submit import history, ledger_path, local_history

    proj = get_project(project)
    console = make_console()
    if not local:
        try:
            rows = history(proj, proj.config())
        except (KaggleError, KaggleUnavailable) as err:
            # Unreachable, not installed or not signed in: the ledger; a failed call is an error.
            if isinstance(err, KaggleError) and not err.network:
                raise
            local = True
            typer.echo(f"{err}; showing the local ledger (kk submissions --local)", err=True)
    if local:
        rows = local_history(proj)
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return
    if not rows:
        where = f"in {ledger_path(proj)}" if local else "on Kaggle"
        console.print(f"no submissions {where} yet; kk submit {proj.name} --run ID")
        return
    title = f"{proj.name}: {'ledger ' if local else ''}submissions (newest first)"
    table = Table(title=title, title_justify="left")
    for col in ("ref", "date", "run", "model", "CV", "public", "private", "status", "description"):
        table.add_column(col)
    for row in rows:
        cv = row["cv_mean"]
        cv_text = "" if cv is None else f"{fmt_number(cv)} +- {fmt_number(row['cv_std'])}"
        table.add_row(
            str(row["ref"]),
            (row["date"] or "")[:16],
            row["run_id"] or ("" if row["in_ledger"] else "(not in ledger)"),
            str(row["model"] or ""),
            cv_text,
            fmt_number(row["public_score"]),
            fmt_number(row["private_score"]),
            str(row["status"]),
            str(row["description"] or ""),
        )
    console.print(table)
    console.print(f"ledger: {ledger_path(proj)}")


@app.command()
def leaderboard(
    project: ProjectArg,
    top: Annotated[int, typer.Option("--top", "-n", help="How many top rows to show.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """The top of the public leaderboard and where you stand."""
    from rich.table import Table

    from kagglekit.kaggle.submit import standing

    proj = get_project(project)
    result = standing(proj, proj.config(), top=top)
    if as_json:
        print(json.dumps(result))
        return
    console = make_console()
    table = Table(title=f"{result['competition']}: public leaderboard", title_justify="left")
    for col in ("rank", "team", "score", "date"):
        table.add_column(col)
    for row in result["top"]:
        style = "bold green" if row == result["mine"] else ""
        cells = [str(row["rank"]), str(row["team_name"]), str(row["score"]), row["date"] or ""]
        table.add_row(*cells, style=style)
    console.print(table)
    mine = result["mine"]
    if mine is not None:
        console.print(
            f"you ({result['team']}): rank {mine['rank']} of "
            f"{result['n_rows']}{'' if result['complete'] else '+'}, score {mine['score']}"
        )
    elif result["team"]:
        console.print(
            f"you ({result['team']}) are not on the first {result['n_rows']} rows of the "
            "public leaderboard"
        )


@app.command()
def kernel(
    project: ProjectArg,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            help="Run to rerun on Kaggle (default: best CV): an id (or a unique "
            "prefix/suffix), 'best', a row number of kk runs, or a model name.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the kernel (default: build/kernels/PROJECT)."),
    ] = None,
    push: Annotated[
        bool, typer.Option("--push", help="Upload the kernel with the Kaggle client and run it.")
    ] = False,
) -> None:
    """Build a Kaggle script that reruns a run offline (code competitions); --push uploads it."""
    import kagglekit.kaggle.api as kaggle_api
    from kagglekit.kaggle.kernel import build_kernel, local_username

    proj = get_project(project)
    cfg = proj.config()
    api = kaggle_api.client() if push else None
    user = kaggle_api.username(api) if api is not None else local_username()
    built = build_kernel(proj, cfg, run_id=run, out=out, username=user)
    console = make_console()
    size_kb = built["script"].stat().st_size / 1024
    console.print(
        f"[green]kernel built[/green] from run {built['run_id']}: {built['script']} "
        f"({size_kb:.0f} KiB, kagglekit bundled) and {built['folder'] / 'kernel-metadata.json'}"
    )
    if not push:
        console.print(f"upload: kk kernel {proj.name} --push  (kernel id {built['id']})")
        return
    reply = kaggle_api.push_kernel(
        api, built["folder"], slug=built["metadata"]["competition_sources"][0]
    )
    console.print(
        f"[green]pushed[/green] {reply['ref']} version {reply['version']}: {reply['url']}"
    )
