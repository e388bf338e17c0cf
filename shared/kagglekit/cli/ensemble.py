"""Ensembling commands: ensemble (hill climbing or stacking) and adversarial validation."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from kagglekit.cli.app import JsonOpt, ProjectArg, app, get_project, make_console
from kagglekit.errors import KKError


def run_names(given: list[str] | None, extra: list[str]) -> list[str] | None:
    """The runs ``--runs A B``, ``--runs A,B`` or ``--runs A --runs B`` named.

    Click gives an option one value: the names after the first arrive as extra arguments
    (``extra``), which only ``--runs`` may have.
    """
    if extra and not given:
        raise KKError(
            f"unexpected argument(s) {' '.join(extra)}; name runs with --runs A B (ids, "
            "'best', row numbers of kk runs or model names)"
        )
    names = [n for text in [*(given or []), *extra] for n in text.replace(",", " ").split()]
    return names or None


@app.command(context_settings={"allow_extra_args": True})
def ensemble(
    ctx: typer.Context,
    project: ProjectArg,
    runs: Annotated[
        list[str] | None,
        typer.Option(
            "--runs",
            help="Runs to combine: --runs A B C (or A,B,C; ids, unique prefixes/suffixes, "
            "'best', row numbers of kk runs, model names; default: every COMPLETE run on "
            "the current folds).",
        ),
    ] = None,
    method: Annotated[
        str, typer.Option("--method", help="hill (Caruana hill climbing) or stack (level-2 model).")
    ] = "hill",
    as_json: JsonOpt = False,
) -> None:
    """Combine runs made on the same folds into a new run with its own OOF, CV and submission."""
    from rich.table import Table

    from kagglekit.ensembling import ensemble as make_ensemble
    from kagglekit.records import find_run

    proj = get_project(project)
    cfg = proj.config()
    result = make_ensemble(proj, cfg, run_ids=run_names(runs, list(ctx.args)), method=method)
    console = make_console(stderr=as_json)
    record = result.run.record
    kind = "weight" if method == "hill" else "level-2 coefficient"
    table = Table(title=f"{proj.name} / ensemble-{method}: members", title_justify="left")
    for col in ("run id", "model", f"CV {result.metric.name}", kind):
        table.add_column(col, justify="right" if col != "run id" else "left")
    member_cv = record.get("member_cv", {})
    for rid in result.members:
        model = find_run(proj.runs_dir, rid, copies=True).record.get("model")
        cv = member_cv.get(rid)
        table.add_row(
            rid, str(model), "" if cv is None else f"{cv:.5f}", f"{result.weights[rid]:.4f}"
        )
    console.print(table)
    line = (
        f"[bold]CV {result.metric.name}: {result.cv_mean:.5f} +- {result.cv_std:.5f}[/bold]  "
        f"(OOF {record['oof_score']:.5f})"
    )
    if result.nested_scores is not None:
        line += (
            f"  nested CV {result.nested_scores.mean():.5f} "
            "(weights chosen without the scored fold: the honest figure)"
        )
    console.print(line + f"  run {result.run.run_id}")
    console.print(f"submission: {result.submission_path}")
    if as_json:
        print(json.dumps(result.summary()))


@app.command()
def adversarial(
    project: ProjectArg,
    top: Annotated[int, typer.Option("--top", help="How many features to list.")] = 15,
    n_jobs: Annotated[int, typer.Option("--n-jobs", help="LightGBM threads.")] = 2,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Whose fold steps give the columns (default model)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Adversarial validation: CV AUC of a classifier telling train rows from test rows,
    on the columns the model sees (after its fold steps and auto features)."""
    from rich.table import Table

    from kagglekit.adversarial import project_adversarial

    proj = get_project(project)
    result = project_adversarial(proj, proj.config(), n_jobs=n_jobs, model=model)
    console = make_console(stderr=as_json)
    table = Table(title=f"{proj.name}: features that tell train from test", title_justify="left")
    for col in ("#", "feature", "importance (gain)", "share", "drift statistic"):
        table.add_column(col, justify="left" if col == "feature" else "right")
    for rank, row in enumerate(result.table.head(top).itertuples(), start=1):
        table.add_row(
            str(rank),
            str(row.feature),
            f"{row.importance:.1f}",
            f"{row.share:.1%}",
            f"{row.statistic:.3f} ({row.test})",
        )
    console.print(table)
    verdict = result.verdict()
    console.print(
        f"[bold]adversarial AUC {result.auc:.4f} +- {result.auc_std:.4f}[/bold] "
        f"({result.n_train} train vs {result.n_test} test rows): {verdict}"
    )
    if as_json:
        print(json.dumps(result.summary()))
