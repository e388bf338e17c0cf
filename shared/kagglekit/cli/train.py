"""Commands that train and list runs: train (with --smoke and --nproc), runs.

``train_one`` is the progress-reporting training of one model entry that ``kk demo``
reuses.
"""

from __future__ import annotations

import json
import shlex
import sys
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
from kagglekit.errors import KKError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from kagglekit.project import Project


def _resolve_params(
    proj: Project, cfg: Any, name: str, params: str | None
) -> dict[str, Any] | None:
    """``--params best`` (the model's tuning study) or a params file path."""
    if params is None:  # no need to import the tuning package then
        return None
    from kagglekit.tuning.results import resolve_params

    return resolve_params(proj, cfg, name, params)


def train_one(
    proj: Project,
    model: str | None,
    set_: list[str] | None,
    console: Console,
    params: str | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    from rich.table import Table

    from kagglekit.training import train as train_cv
    from kagglekit.training.run import RunInterrupted

    cfg = proj.config(set_)
    name, _ = cfg.model(model)
    chosen = _resolve_params(proj, cfg, name, params)
    progress = progress_bar(console)
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

    try:
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
    except RunInterrupted as stopped:
        console.print(str(stopped))  # before kk's own "interrupted" line
        raise
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
    if record.get("degenerate"):
        console.print(
            f"[yellow]warning[/yellow]: this run looks broken: {record['degenerate_why']}"
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
            "nothing recorded; every model entry unless --model is given, each reported ok, "
            "skipped (it does not fit the data) or failed.",
        ),
    ] = False,
    all_: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Train every model entry (kk auto's machinery: no budget, no ensemble); "
            "an entry with a COMPLETE run of its config is kept unless --fresh.",
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
    import kagglekit.torch.distributed as distributed

    if all_ and not smoke:
        if model or params or nproc != 1:
            raise KKError(
                "--all trains every model entry: leave out --model, --params and --nproc "
                "(or drop --all)"
            )
        from kagglekit.cli.auto import train_all

        train_all(get_project(project), set_ or [], fresh=fresh, as_json=as_json)
        return
    if smoke:
        _smoke(get_project(project), model, set_, as_json)
        return
    if nproc != 1 and distributed.world_size() == 1:
        get_project(project)  # a misspelt project fails here, not in N processes
        code = distributed.launch(sys.argv[1:], nproc, dist_backend)
        if code != 0:
            raise KKError(
                f"a training process of --nproc {nproc} failed (exit {code}); the run is "
                f"FAILED with its last epoch's checkpoint: run kk train {project} again to resume"
            )
        return
    if distributed.is_follower():  # ranks 1.. of --nproc: train, report nothing
        from kagglekit.training import train as train_cv

        proj = get_project(project)
        cfg = proj.config(set_)
        name, _ = cfg.model(model)
        chosen = _resolve_params(proj, cfg, name, params)
        train_cv(proj, cfg, model_name=name, params=chosen, overrides=set_ or [], fresh=fresh)
        return
    summary = train_one(
        get_project(project), model, set_, make_console(stderr=as_json), params, fresh
    )
    if as_json:
        print(json.dumps(summary))


def _smoke(proj: Project, model: str | None, set_: list[str] | None, as_json: bool) -> None:
    """Smoke ``model``, or every entry: each reported ok, skipped (it does not fit the
    data: another kind, images too small) or failed with its reason, then a summary line;
    the exit code is non-zero when one failed. A named ``--model`` fails as any command."""
    from kagglekit.errors import DoesNotFit
    from kagglekit.training import smoke_test

    cfg = proj.config(set_)
    console = make_console(stderr=as_json)
    names = [model] if model else sorted(cfg.models)
    outcome: dict[str, list[str]] = {"ok": [], "skipped": [], "failed": []}
    reasons: list[str] = []
    for name in names:
        try:
            result = smoke_test(proj, cfg, model_name=name)
        except DoesNotFit as err:
            if model:
                raise
            _smoke_line(console, as_json, proj.name, name, "skipped", str(err))
            outcome["skipped"].append(name)
            continue
        except Exception as err:  # one entry's failure must not hide the others'
            if model or (state["debug"] and not isinstance(err, KKError)):
                raise
            reason = str(err) if isinstance(err, KKError) else f"{type(err).__name__}: {err}"
            _smoke_line(console, as_json, proj.name, name, "failed", reason)
            outcome["failed"].append(name)
            reasons.append(reason)
            continue
        outcome["ok"].append(name)
        if as_json:
            print(json.dumps({"status": "ok", **vars(result)}, default=str))
            continue
        console.print(
            f"smoke {proj.name}/{name}: {cfg.competition.metric} {result.score:.4f} on "
            f"{result.n_valid} rows after training on {result.n_train} ({result.seconds:.1f}s)"
        )
        if result.degenerate:
            console.print(f"  [yellow]warning[/yellow]: {result.degenerate}")
    if model:
        return
    if len(reasons) == len(names) and len(set(reasons)) == 1:
        raise KKError(reasons[0])  # not the entries: the data or the folds (one line)
    summary = ", ".join(
        f"{len(v)} {k}" + (f" ({', '.join(v)})" if v and k != "ok" else "")
        for k, v in outcome.items()
    )
    console.print(f"smoke {proj.name}: {summary}", markup=False)
    if outcome["failed"]:
        raise typer.Exit(1)


def _smoke_line(
    console: Console, as_json: bool, project: str, name: str, status: str, reason: str
) -> None:
    if as_json:
        print(json.dumps({"model": name, "status": status, "reason": reason}))
        return
    label = "skipped, it does not fit the data" if status == "skipped" else "FAILED"
    console.print(f"smoke {project}/{name}: {label}: {reason}", markup=False)


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
    from kagglekit.folds import folds_meta
    from kagglekit.records import leaderboard, runs_with_copies, scan_runs

    proj = get_project(project)
    all_runs, damaged = scan_runs(proj.runs_dir)
    if clean:
        _clean_runs(proj, all_runs, yes=yes)
        return
    meta = folds_meta(proj)
    current_hash = meta["hash"] if meta else None
    listed = runs_with_copies(proj.runs_dir, all_runs)
    on_old = [r for r in listed if current_hash and r.record.get("fold_hash") != current_hash]
    shown = listed if show_all else [r for r in listed if r not in on_old]
    rows = [run.row(current_hash) for run in leaderboard(shown)]
    if as_json:
        _print_runs_json(rows, damaged)
        return
    console = make_console()
    if not rows and not damaged:
        hidden = f" ({len(on_old)} on replaced folds: --all shows them)" if on_old else ""
        console.print(f"no runs yet in {proj.runs_dir}{hidden}; run `kk train {proj.name}`")
        return
    if rows:
        console.print(_runs_table(proj, rows, console.width))
    if on_old and not show_all:
        console.print(
            f"{len(on_old)} run(s) on replaced folds not shown (not comparable): "
            f"`kk runs {proj.name} --all` lists them"
        )
    for broken in damaged:
        console.print(f"[red]DAMAGED[/red] {broken.run_id}: {broken.reason}")
    for run in [r for r in all_runs if r.interrupted]:
        console.print(
            f"run {run.run_id} was interrupted with {run.record.get('folds_kept', 0)} fold(s) "
            f"kept: rerun its command to continue ({_train_command(proj, run)}, with its "
            "--params if it had one)"
        )
    n_failed = sum(r.status in ("FAILED", "ABANDONED") and not r.interrupted for r in all_runs)
    if n_failed:
        console.print(
            f"{n_failed} FAILED/ABANDONED run(s): `kk runs {proj.name} --clean` deletes them"
        )
    if any(row["degenerate"] for row in rows):
        console.print(
            "! = the run predicts one class for almost every row or does not beat the trivial "
            "baseline (majority class / mean): `kk runs --json` says why"
        )


def _train_command(proj: Project, run: Any) -> str:
    """The ``kk train`` line that goes on with ``run`` (a ``--params`` given then is part of
    its resume key too: ``kk runs`` says to give it again)."""
    sets = "".join(f" --set {shlex.quote(s)}" for s in run.record.get("overrides") or [])
    return f"kk train {proj.name} --model {run.record.get('model')}{sets}"


def _print_runs_json(rows: list[dict[str, Any]], damaged: list[Any]) -> None:
    for row in rows:
        print(json.dumps(row))
    for broken in damaged:
        print(json.dumps({"run_id": broken.run_id, "status": "DAMAGED", "error": broken.reason}))


def _runs_table(proj: Project, rows: list[dict[str, Any]], width: int = 200) -> Table:
    """The leaderboard table of ``kk runs`` for a ``width``-column terminal.

    The run id column is never cut (ids are what ``--run`` takes): the other columns
    fold, and below 120 columns the folds and commit columns are left out.
    """
    from rich.table import Table

    table = Table(title=f"{proj.name}: runs", title_justify="left")
    narrow = width < 120
    id_width = max(len(str(row["run_id"])) for row in rows)
    table.add_column("#", no_wrap=True)
    table.add_column("run id", no_wrap=True, min_width=id_width)
    for col in ("model", "metric", "CV mean +- std", "time"):
        table.add_column(col, overflow="fold")
    extra = ("overrides",) if narrow else ("folds", "overrides", "commit")
    for col in (*extra, "status"):
        table.add_column(col, overflow="fold")
    for rank, row in enumerate(rows, start=1):
        cv = "" if row["cv_mean"] is None else f"{row['cv_mean']:.5f} +- {row['cv_std']:.5f}"
        if row["degenerate"]:
            cv += " !"
        commit = (row["git_commit"] or "")[:8] + ("*" if row["git_dirty"] else "")
        shown = "INTERRUPTED (resumable)" if row["resumable"] else str(row["status"])
        style = {"COMPLETE": "green", "FAILED": "red", "ABANDONED": "yellow"}.get(shown, "")
        if row["resumable"]:
            style = "cyan"
        folds_cell = str(row["fold_hash"] or "")[:8]
        if not row["current_folds"]:
            folds_cell += " (replaced)"
        cells = {"folds": folds_cell, "overrides": " ".join(row["overrides"]), "commit": commit}
        table.add_row(
            str(rank),
            row["run_id"],
            str(row["model"]),
            str(row["metric"]),
            cv,
            _fmt_seconds(row["wall_seconds"]),
            *(cells[c] for c in extra),
            (f"[{style}]{shown}[/{style}]" if style else shown)
            + {None: "", "arrays": " (copy)", "record": " (record only)"}[row["copy"]]
            + (f" (Kaggle, {row['kaggle']})" if row["kaggle"] else ""),
        )
    return table


def _clean_runs(proj: Project, all_runs: list[Any], *, yes: bool) -> None:
    """Delete the FAILED and ABANDONED run folders (not the interrupted ones, which resume),
    after a confirmation unless ``yes``."""
    from kagglekit.records import remove_runs

    console = make_console()
    # An interrupted run's kept folds are work the same command goes on with: keep it.
    doomed = [r for r in all_runs if r.status in ("FAILED", "ABANDONED") and not r.interrupted]
    if not doomed:
        console.print(f"no FAILED or ABANDONED runs in {proj.runs_dir}")
        return
    names = ", ".join(f"{r.run_id} ({r.shown_status})" for r in doomed)
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
