"""Core commands: fetch, folds, train, runs, submit, score, make-competition, demo."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kagglekit.cli import JsonOpt, ProjectArg, SetOpt, _console, _progress, _project, app

if TYPE_CHECKING:
    from rich.console import Console

    from kagglekit.project import Project


@app.command()
def fetch(
    project: ProjectArg,
    from_dir: Annotated[
        Path | None,
        typer.Option("--from", help="A local mirror folder holding the competition files."),
    ] = None,
) -> None:
    """Copy a competition's files into projects/PROJECT/data/raw/ with checksums."""
    from kagglekit import data

    proj = _project(project)
    manifest = data.fetch(proj, proj.config(), from_dir=from_dir)
    console = _console()
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

    proj = _project(project)
    cfg = proj.config(set_)
    result = assign_project_folds(proj, cfg, force=force)
    console = _console()
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


def _resolve_params(
    proj: Project, cfg: Any, name: str, params: str | None
) -> dict[str, Any] | None:
    """``--params best`` (the model's tuning study) or a params file path."""
    if params is None:
        return None
    if params == "best":
        from kagglekit.tuning import best_params

        return best_params(proj, cfg, model_name=name)[0]
    from kagglekit.config import read_params_file

    return read_params_file(Path(params)).params


def _train_one(
    proj: Project,
    model: str | None,
    set_: list[str] | None,
    console: Console,
    params: str | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    from rich.table import Table

    from kagglekit.training import train as train_cv

    cfg = proj.config(set_)
    name, _ = cfg.model(model)
    chosen = _resolve_params(proj, cfg, name, params)
    progress = _progress(console)
    task_id: list[Any] = []

    def on_start(total: int) -> None:
        task_id.append(progress.add_task(f"{proj.name}/{name}", total=total, last=""))

    def on_fold(fold: Any, done: list[Any]) -> None:
        progress.update(
            task_id[0], advance=1, last=f"fold {fold.repeat}.{fold.fold}: {fold.score:.5f}"
        )
        if epoch_id:
            progress.remove_task(epoch_id.pop())

    epoch_id: list[Any] = []

    def on_epoch(report: dict[str, Any]) -> None:
        line = (
            f"epoch {report['epoch'] + 1}/{report['n_epochs']}: valid {report['valid_score']:.5f}, "
            f"loss {report['train_loss']:.4f}, {report['samples_per_second']:.0f} rows/s"
        )
        if not console.is_terminal:  # plain lines in logs and CI
            console.print(line)
            return
        if not epoch_id:
            epoch_id.append(progress.add_task("  epochs", total=report["n_epochs"], last=""))
        progress.update(epoch_id[0], completed=report["epoch"] + 1, last=line)

    with progress:
        result = train_cv(
            proj,
            cfg,
            model_name=name,
            params=chosen,
            overrides=set_ or [],
            on_start=on_start,
            on_fold=on_fold,
            on_progress=on_epoch,
            fresh=fresh,
        )
    if result.run.record.get("resumed"):
        console.print(f"went on with interrupted run {result.run.run_id} (finished folds kept)")
    table = Table(title=f"{proj.name} / {name}: {result.metric.name} by fold", title_justify="left")
    for col in (
        "repeat",
        "fold",
        result.metric.name,
        "seconds",
        "train rows",
        "valid rows",
        "best iteration",
    ):
        table.add_column(col, justify="right")
    for f in result.cv.folds:
        best = f.learned.get("best_iteration")
        table.add_row(
            str(f.repeat),
            str(f.fold),
            f"{f.score:.5f}",
            f"{f.seconds:.2f}",
            str(f.n_train),
            str(f.n_valid),
            "" if best is None else str(best),
        )
    console.print(table)
    record = result.run.record
    console.print(
        f"[bold]CV {result.metric.name}: {result.cv.mean:.5f} +- {result.cv.std:.5f}[/bold]  "
        f"(OOF {record['oof_score']:.5f}, {record['wall_seconds']:.1f} s)  run {result.run.run_id}"
    )
    console.print(f"submission: {result.submission_path}")
    return result.summary()


@app.command()
def train(
    project: ProjectArg,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Model entry from config.toml.")
    ] = None,
    set_: SetOpt = None,
    params: Annotated[
        str | None,
        typer.Option(
            "--params",
            help="'best' (the model's best tuning trial) or a params file from kk tune --write-params.",
        ),
    ] = None,
    fresh: Annotated[
        bool,
        typer.Option(
            "--fresh", help="Start a new run even if the same run was interrupted (no resume)."
        ),
    ] = False,
    smoke: Annotated[
        bool,
        typer.Option(
            "--smoke",
            help="Check that it runs: one short fold on a few hundred rows, one or two epochs, "
            "nothing recorded; every model entry unless --model is given.",
        ),
    ] = False,
    as_json: JsonOpt = False,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            help="Train in N processes with PyTorch DDP through torchrun (gloo on CPU cores, "
            "NCCL on GPUs); torch models only.",
        ),
    ] = 1,
    dist_backend: Annotated[
        str, typer.Option("--dist-backend", help="auto, gloo or nccl (with --nproc).")
    ] = "auto",
) -> None:
    """Train a model with cross-validation; write a run folder and a submission.

    An interrupted run of the same config goes on where it stopped (use --fresh not to).
    """
    from kagglekit import distributed
    from kagglekit.errors import KKError

    if smoke:
        _smoke(_project(project), model, set_, as_json)
        return
    if nproc != 1 and distributed.world_size() == 1:
        _project(project)  # a misspelt project fails here, not in N processes
        code = distributed.launch(sys.argv[1:], nproc, dist_backend)
        if code != 0:
            raise KKError(
                f"a training process of --nproc {nproc} failed (exit {code}); the run is "
                f"FAILED with its last epoch's checkpoint: run kk train {project} again to resume"
            )
        return
    if distributed.is_follower():  # ranks 1.. of --nproc: train, report nothing
        from kagglekit.training import train as train_cv

        proj = _project(project)
        cfg = proj.config(set_)
        name, _ = cfg.model(model)
        chosen = _resolve_params(proj, cfg, name, params)
        train_cv(proj, cfg, model_name=name, params=chosen, overrides=set_ or [], fresh=fresh)
        return
    summary = _train_one(_project(project), model, set_, _console(stderr=as_json), params, fresh)
    if as_json:
        print(json.dumps(summary))


def _smoke(proj: Project, model: str | None, set_: list[str] | None, as_json: bool) -> None:
    from kagglekit.training import smoke_test

    cfg = proj.config(set_)
    console = _console(stderr=as_json)
    for name in [model] if model else sorted(cfg.models):
        result = smoke_test(proj, cfg, model_name=name)
        if as_json:
            print(json.dumps(vars(result), default=str))
        else:
            console.print(
                f"smoke {proj.name}/{name}: {cfg.competition.metric} {result.score:.4f} on "
                f"{result.n_valid} rows after training on {result.n_train} ({result.seconds:.1f}s)"
            )


def _fmt_seconds(value: Any) -> str:
    return "" if value is None else f"{float(value):.1f}s"


@app.command()
def runs(
    project: ProjectArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the runs as JSON lines.")] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list the runs made on replaced folds.")
    ] = False,
    clean: Annotated[
        bool, typer.Option("--clean", help="Delete the FAILED and ABANDONED runs' folders.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --clean.")] = False,
) -> None:
    """List the project's runs as a leaderboard, best CV first.

    Runs on replaced folds are hidden unless --all; damaged run folders are named. Runs
    whose folders are not on this machine are listed from the copies ``kk report``
    committed (status "COMPLETE (copy)", or "(record only)" where their arrays were not
    copied).
    """
    from rich.table import Table

    from kagglekit.folds import folds_meta
    from kagglekit.records import ranked_by_cv, runs_with_copies, scan_runs

    proj = _project(project)
    all_runs, damaged = scan_runs(proj.runs_dir)
    if clean:
        _clean_runs(proj, all_runs, yes=yes)
        return
    meta = folds_meta(proj)
    current_hash = meta["hash"] if meta else None
    listed = runs_with_copies(proj.runs_dir, all_runs)
    on_old = [r for r in listed if current_hash and r.record.get("fold_hash") != current_hash]
    shown = listed if show_all else [r for r in listed if r not in on_old]
    ordered = ranked_by_cv(shown)
    ranked = {r.run_id for r in ordered}
    ordered += [r for r in shown if r.run_id not in ranked]  # then the rest, oldest first
    rows: list[dict[str, Any]] = []
    for run in ordered:
        rec = run.record
        git = rec.get("git") or {}
        model_entry = ((rec.get("config") or {}).get("models") or {}).get(rec.get("model")) or {}
        rows.append(
            {
                "run_id": run.run_id,
                "model": rec.get("model"),
                "metric": rec.get("metric"),
                "cv_mean": rec.get("cv_mean"),
                "cv_std": rec.get("cv_std"),
                "wall_seconds": rec.get("wall_seconds"),
                "started_at": rec.get("started_at"),
                "git_commit": git.get("commit"),
                "git_dirty": git.get("dirty"),
                "fold_hash": rec.get("fold_hash"),
                "current_folds": current_hash is None or rec.get("fold_hash") == current_hash,
                "overrides": list(rec.get("overrides") or []),
                "params": model_entry.get("params"),
                "status": run.status,
                # Where the run is: its folder here, or a committed copy (with its arrays?).
                "copy": None if not run.archived else ("arrays" if run.arrays_copy else "record"),
            }
        )
    if as_json:
        for row in rows:
            print(json.dumps(row))
        for broken in damaged:
            print(
                json.dumps({"run_id": broken.run_id, "status": "DAMAGED", "error": broken.reason})
            )
        return
    console = _console()
    if not rows and not damaged:
        hidden = f" ({len(on_old)} on replaced folds: --all shows them)" if on_old else ""
        console.print(f"no runs yet in {proj.runs_dir}{hidden}; run `kk train {proj.name}`")
        return
    table = Table(title=f"{proj.name}: runs", title_justify="left")
    columns = ("#", "run id", "model", "metric", "CV mean +- std", "time", "folds", "overrides")
    for col in (*columns, "commit", "status"):
        table.add_column(col)
    for rank, row in enumerate(rows, start=1):
        cv = "" if row["cv_mean"] is None else f"{row['cv_mean']:.5f} +- {row['cv_std']:.5f}"
        commit = (row["git_commit"] or "")[:8] + ("*" if row["git_dirty"] else "")
        style = {"COMPLETE": "green", "FAILED": "red", "ABANDONED": "yellow"}.get(
            str(row["status"]), ""
        )
        folds_cell = str(row["fold_hash"] or "")[:8]
        if not row["current_folds"]:
            folds_cell += " (replaced)"
        table.add_row(
            str(rank),
            row["run_id"],
            str(row["model"]),
            str(row["metric"]),
            cv,
            _fmt_seconds(row["wall_seconds"]),
            folds_cell,
            " ".join(row["overrides"]),
            commit,
            (f"[{style}]{row['status']}[/{style}]" if style else str(row["status"]))
            + {None: "", "arrays": " (copy)", "record": " (record only)"}[row["copy"]],
        )
    if rows:
        console.print(table)
    if on_old and not show_all:
        console.print(
            f"{len(on_old)} run(s) on replaced folds not shown (not comparable): "
            f"`kk runs {proj.name} --all` lists them"
        )
    for broken in damaged:
        console.print(f"[red]DAMAGED[/red] {broken.run_id}: {broken.reason}")
    n_failed = sum(r.status in ("FAILED", "ABANDONED") for r in all_runs)
    if n_failed:
        console.print(
            f"{n_failed} FAILED/ABANDONED run(s): `kk runs {proj.name} --clean` deletes them"
        )


def _clean_runs(proj: Project, all_runs: list[Any], *, yes: bool) -> None:
    """Delete the FAILED and ABANDONED run folders, after a confirmation unless ``yes``."""
    from kagglekit.errors import KKError
    from kagglekit.records import remove_runs

    console = _console()
    doomed = [r for r in all_runs if r.status in ("FAILED", "ABANDONED")]
    if not doomed:
        console.print(f"no FAILED or ABANDONED runs in {proj.runs_dir}")
        return
    names = ", ".join(f"{r.run_id} ({r.status})" for r in doomed)
    if not yes:
        if not sys.stdin.isatty():
            raise KKError(
                f"kk runs --clean would delete {len(doomed)} run(s) ({names}); "
                "add --yes to confirm when not on a terminal"
            )
        if not typer.confirm(f"delete {len(doomed)} run folder(s): {names}?"):
            console.print("nothing deleted")
            return
    removed = remove_runs(doomed)
    console.print(f"deleted {len(removed)} run folder(s): {', '.join(removed)}")


def _submission_for(proj: Project, run_id: str | None, file: Path | None) -> tuple[Path, Any]:
    from kagglekit.errors import KKError
    from kagglekit.records import find_run

    if (run_id is None) == (file is None):
        raise KKError("give exactly one of --run ID or --file PATH")
    if file is not None:
        return file, None
    run = find_run(proj.runs_dir, str(run_id))
    # A FAILED run whose submission was rebuilt from its test.npy has one too.
    rebuilt = run.status == "FAILED" and run.record.get("submission_rebuilt")
    if run.status != "COMPLETE" and not rebuilt:
        hint = (
            f" (it saved test.npy: kk submit {proj.name} --run {run.run_id} --rebuild)"
            if run.path("test.npy").exists() and run.status == "FAILED"
            else ""
        )
        raise KKError(
            f"run {run.run_id} is {run.status}; only COMPLETE runs have a submission{hint}"
        )
    return run.path("submission.csv"), run


def _allowed_labels(proj: Project, cfg: Any, run: Any) -> list[Any] | None:
    if cfg.competition.task == "regression":
        return None
    if run is not None and run.record.get("classes") is not None:
        return list(run.record["classes"])
    from kagglekit.loaders import load_dataset
    from kagglekit.tasks import get_task

    dataset = load_dataset(proj, cfg)
    return get_task(cfg.competition.task).encode(dataset.target, classes=dataset.classes)[1]


@app.command()
def submit(
    project: ProjectArg,
    run: Annotated[
        str | None, typer.Option("--run", help="Run id whose submission to use.")
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
    from kagglekit.submitting import validate_file

    proj = _project(project)
    cfg = proj.config()
    if rebuild:
        from kagglekit.errors import KKError
        from kagglekit.records import find_run
        from kagglekit.training import rebuild_run_submission

        if run is None or file is not None:
            raise KKError("--rebuild needs --run ID (a run's saved test.npy), not --file")
        rebuilt = rebuild_run_submission(proj, cfg, find_run(proj.runs_dir, run))
        _console().print(
            f"[green]rebuilt[/green] {rebuilt} from test.npy "
            f"(submission_format {cfg.competition.submission_format})"
        )
    path, run_obj = _submission_for(proj, run, file)
    labels = _allowed_labels(proj, cfg, run_obj)
    sub = validate_file(proj, cfg, path, allowed_labels=labels)
    _console().print(f"[green]valid[/green]: {path} ({len(sub)} rows, columns {list(sub.columns)})")
    if not dry_run:
        from kagglekit.cli.kaggle import upload_submission

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
        str | None, typer.Option("--run", help="Run id whose submission to score.")
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Any submission CSV.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a submission against the project's local solution file (a local leaderboard)."""
    from kagglekit.loaders import load_dataset
    from kagglekit.submission import (
        check_against_data,
        local_solution,
        read_submission,
        score_submission,
        validate_submission,
    )

    proj = _project(project)
    cfg = proj.config()
    comp = cfg.competition
    solution = local_solution(proj, cfg)  # no solution: say so before anything else
    path, run_obj = _submission_for(proj, run, file)
    dataset = load_dataset(proj, cfg)  # raw files checked first
    sub = read_submission(path)
    labels = _allowed_labels(proj, cfg, run_obj)
    validate_submission(sub, dataset.sample_submission, comp, allowed_labels=labels)
    check_against_data(sub, dataset, comp)
    scores = score_submission(sub, solution, comp, classes=labels or [])
    if run_obj is not None:
        run_obj.update(local_scores=scores)
    parts = ", ".join(f"{k} {v:.5f}" for k, v in scores.items())
    _console(stderr=as_json).print(f"[bold]{comp.metric}[/bold] of {path}: {parts}")
    if as_json:
        print(json.dumps({"metric": comp.metric, **scores}))


@app.command("make-competition")
def make_competition(
    data: Annotated[Path, typer.Argument(help="Any CSV with a target column.", show_default=False)],
    target: Annotated[str, typer.Option("--target", help="Target column.", show_default=False)],
    out: Annotated[
        Path,
        typer.Option("--out", help="Folder to write the competition into.", show_default=False),
    ],
    id_column: Annotated[
        str | None, typer.Option("--id", help="Id column (default: a new 'id').")
    ] = None,
    test_size: Annotated[
        float, typer.Option("--test-size", help="Fraction of rows held out as test.")
    ] = 0.3,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the split.")] = 0,
    fmt: Annotated[
        str, typer.Option("--format", help="Sample submission holds 'labels' or 'probabilities'.")
    ] = "labels",
) -> None:
    """Turn any CSV into train.csv, test.csv, sample_submission.csv and solution.csv."""
    from kagglekit.data import make_competition as make

    info = make(
        data,
        target=target,
        out=out,
        id_column=id_column,
        test_size=test_size,
        seed=seed,
        submission_format=fmt,
    )
    _console().print(
        f"[green]competition written[/green] to {info['out']}: {info['n_train']} train rows, "
        f"{info['n_test']} test rows, task looks {info['task']}"
    )
    # The project that scores it: answers matching what was written (no --set needed later).
    slug = info["slug"]
    console = _console()
    console.print("make a project for it:", markup=False)
    console.print(f"  {info['kk_new']}", markup=False, soft_wrap=True)
    console.print(
        f"  kk fetch {slug} --from {shlex.quote(str(info['out']))}", markup=False, soft_wrap=True
    )


@app.command()
def demo(
    workdir: Annotated[
        Path, typer.Option("--dir", help="Where the demo competition and project go.")
    ] = Path("build/demo"),
) -> None:
    """The whole loop offline on scikit-learn's breast-cancer data: folds, 2 models, submission, score."""
    from kagglekit.demo import prepare_demo
    from kagglekit.kernel import choose_run

    console = _console()
    info = prepare_demo(workdir)
    console.rule("kagglekit demo: breast cancer (scikit-learn) as a Kaggle competition")
    console.print(f"$ kk make-competition {info['csv']} --target target --out {info['mirror']}")
    os.environ["KK_PROJECTS_DIR"] = str(info["projects"])
    steps: list[tuple[str, Any]] = [
        (
            f"kk fetch {info['project']} --from {info['mirror']}",
            lambda: fetch(info["project"], Path(info["mirror"])),
        ),
        (f"kk folds {info['project']}", lambda: folds(info["project"], False, None)),
    ]
    for label, step in steps:
        console.print(f"$ {label}")
        step()
    for model in info["models"]:
        console.print(f"$ kk train {info['project']} --model {model}")
        _train_one(_project(info["project"]), model, None, console)
    # Best by CV in the metric's own direction, as kk kernel picks it.
    best = choose_run(_project(info["project"]), None).run_id
    console.print(f"$ kk submit {info['project']} --run {best} --dry-run")
    submit(info["project"], best, None, True)
    console.print(f"$ kk score {info['project']} --run {best}")
    score(info["project"], best, None, False)
    console.print(f"$ kk runs {info['project']}")
    runs(info["project"], False)
