"""Commands on a submission: submit (validate, then upload to Kaggle), score locally."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kagglekit.cli.app import JsonOpt, ProjectArg, app, fmt_number, get_project, make_console
from kagglekit.errors import KKError

if TYPE_CHECKING:
    from kagglekit.config import ProjectConfig
    from kagglekit.project import Project
    from kagglekit.records import Run


@app.command()
def submit(
    project: ProjectArg,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            help="Run whose submission to use: an id (or a unique prefix/suffix), 'best', "
            "a row number of kk runs, or a model name (its best run).",
        ),
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Any submission CSV.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate only; upload nothing.")
    ] = False,
    message: Annotated[
        str, typer.Option("--message", "-m", help="Submission description on Kaggle.")
    ] = "",
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the public score and record it.")
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds --wait waits at most.")
    ] = 600.0,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="First rebuild the run's submission.csv from its test.npy with the "
            "current submission settings (no retraining).",
        ),
    ] = False,
) -> None:
    """Validate a submission, then upload it to Kaggle and record it (--dry-run: validate only)."""
    from kagglekit.kaggle.submit import run_submission, submission_labels, validate_file

    proj = get_project(project)
    cfg = proj.config()
    if rebuild:
        from kagglekit.training import rebuild_run_submission
        from kagglekit.training.run import resolve_run

        if run is None or file is not None:
            raise KKError("--rebuild needs --run ID (a run's saved test.npy), not --file")
        rebuilt = rebuild_run_submission(proj, cfg, resolve_run(proj, run))
        make_console().print(
            f"[green]rebuilt[/green] {rebuilt} from test.npy "
            f"(submission_format {cfg.competition.submission_format})"
        )
    path, run_obj = run_submission(proj, run, file)
    labels = submission_labels(proj, cfg, run_obj)
    sub = validate_file(proj, cfg, path, allowed_labels=labels)
    make_console().print(
        f"[green]valid[/green]: {path} ({len(sub)} rows, columns {list(sub.columns)})"
    )
    if not dry_run:
        upload_submission(
            proj,
            cfg,
            path,
            run_obj,
            allowed_labels=labels,
            message=message,
            wait=wait,
            timeout=timeout,
        )


@app.command()
def score(
    project: ProjectArg,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            help="Run whose submission to score: an id (or a unique prefix/suffix), 'best', "
            "a row number of kk runs, or a model name (its best run).",
        ),
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Any submission CSV.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a submission against the project's local solution file (a local leaderboard)."""
    from kagglekit.kaggle.submit import run_submission, submission_labels
    from kagglekit.loaders import load_dataset
    from kagglekit.submission import (
        check_against_data,
        local_solution,
        read_submission,
        score_submission,
        validate_submission,
    )

    proj = get_project(project)
    cfg = proj.config()
    comp = cfg.competition
    solution = local_solution(proj, cfg)  # no solution: say so before anything else
    path, run_obj = run_submission(proj, run, file)
    dataset = load_dataset(proj, cfg)  # raw files checked first
    sub = read_submission(path)
    labels = submission_labels(proj, cfg, run_obj)
    validate_submission(sub, dataset.sample_submission, comp, allowed_labels=labels)
    check_against_data(sub, dataset, comp)
    scores = score_submission(sub, solution, comp, classes=labels or [])
    if run_obj is not None:
        run_obj.update(local_scores=scores)
    parts = ", ".join(f"{k} {v:.5f}" for k, v in scores.items())
    make_console(stderr=as_json).print(f"[bold]{comp.metric}[/bold] of {path}: {parts}")
    if as_json:
        print(json.dumps({"metric": comp.metric, **scores}))


def upload_submission(
    proj: Project,
    cfg: ProjectConfig,
    path: Path,
    run: Run | None,
    *,
    allowed_labels: list[Any] | None,
    message: str,
    wait: bool,
    timeout: float,
) -> None:
    """The upload half of ``kk submit`` (``path`` already validated): quota, upload, ledger,
    optional wait for a score."""
    import kagglekit.kaggle.submit as submitting

    console = make_console()
    entry = submitting.submit(
        proj, cfg, path, run=run, message=message, allowed_labels=allowed_labels, validated=True
    )
    console.print(
        f"[green]submitted[/green] to {entry['competition']}: ref {entry['ref']} "
        f"({entry['reply']}); recorded in {submitting.ledger_path(proj)}"
    )
    if not wait:
        console.print(f"scores: kk submissions {proj.name}")
        return
    console.print(f"waiting up to {timeout:.0f} s for the score (polling every 5 s)...")
    entry = submitting.wait_for_score(proj, cfg, entry["ref"], timeout=timeout)
    if entry["status"] == "COMPLETE":
        cv = entry.get("cv_mean")
        cv_text = f"CV {fmt_number(cv)} vs " if cv is not None else ""
        console.print(
            f"[bold]{cv_text}public LB {fmt_number(entry['public_score'])}[/bold] "
            f"(submission {entry['ref']})"
        )
    else:
        console.print(
            f"submission {entry['ref']} is still {entry['status']} after {timeout:.0f} s; "
            f"kk submissions {proj.name} shows the score later"
        )
