"""Kaggle commands: submissions, leaderboard, kernel (``kk submit`` lives in ``submissions``).

Every command goes through the official client (``kagglekit.kaggle.api``), imported
lazily inside the command bodies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kagglekit.cli.app import ProjectArg, SetOpt, app, fmt_number, get_project, make_console
from kagglekit.errors import KKError

if TYPE_CHECKING:
    from kagglekit.project import Project


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
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="Train this model entry on Kaggle (with --set, on the saved folds); its run "
            "comes back with --pull. Without it: a code-competition rerun of --run.",
        ),
    ] = None,
    set_: SetOpt = None,
    gpu: Annotated[
        bool,
        typer.Option("--gpu", help="Run on a GPU (machine_shape from kernel.toml, 2 x T4)."),
    ] = False,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            help="Code competitions: the run to rerun on Kaggle (default: best CV): an id "
            "(or a unique prefix/suffix), 'best', a row number of kk runs, or a model name.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the kernel (default: build/kernels/PROJECT)."),
    ] = None,
    push: Annotated[
        bool, typer.Option("--push", help="Upload the kernel with the Kaggle client and run it.")
    ] = False,
    status: Annotated[
        bool, typer.Option("--status", help="The pushed version's status (QUEUED ... COMPLETE).")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="With --status: poll until it ends (every 30 s+).")
    ] = False,
    pull: Annotated[
        bool,
        typer.Option("--pull", help="Download the pushed version's run into runs/ (resumable)."),
    ] = False,
) -> None:
    """Run a model on Kaggle's machines and bring its run back; or build a code-competition
    script that reruns a run offline (--run).

    --model NAME [--set ...] [--gpu] builds build/kernels/PROJECT (a script carrying
    kagglekit, the project's code and saved folds; internet off); --push sends it (wheels
    and model folders in kernel.toml travel as a dataset); --status follows it; --pull
    registers its run under runs/.
    """
    proj = get_project(project)
    folder = out or _kernel_folder(proj)
    if sum((push and model is not None, status, pull)) > 1:
        raise KKError("give one of --push, --status or --pull")
    if status or pull:
        _follow_kernel(proj, folder, wait=wait, pull=pull)
    elif model is not None:
        if run is not None:
            raise KKError("give --model (train on Kaggle) or --run (rerun a run), not both")
        _model_kernel(proj, folder, model, set_ or [], gpu=gpu, push=push)
    else:
        if gpu or set_:
            raise KKError("--gpu and --set go with --model NAME (a run trained on Kaggle)")
        _rerun_kernel(proj, run, out, push=push)


def _kernel_folder(proj: Project) -> Path:
    from kagglekit.kaggle.kernel import default_folder

    return default_folder(proj)


def _rerun_kernel(proj: Project, run: str | None, out: Path | None, *, push: bool) -> None:
    """The code-competition kernel: rerun a recorded run, write submission.csv."""
    import kagglekit.kaggle.api as kaggle_api
    import kagglekit.kaggle.api_kernels as kernels_api
    from kagglekit.kaggle.kernel import build_kernel, local_username

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
    reply = kernels_api.push_kernel(
        api, built["folder"], slug=built["metadata"]["competition_sources"][0]
    )
    console.print(
        f"[green]pushed[/green] {reply['ref']} version {reply['version']}: {reply['url']}"
    )


def _model_kernel(
    proj: Project, folder: Path, model: str, overrides: list[str], *, gpu: bool, push: bool
) -> None:
    """Build (and push) the kernel that trains ``model`` on the saved folds."""
    console = make_console()
    if not push:
        from kagglekit.kaggle.kernel import build_model_kernel, local_username
        from kagglekit.kaggle.kernel.deps import dataset_ref, needed, read_options

        options = read_options(proj)
        cfg = proj.config(overrides)
        deps = needed(proj, cfg, model, options)
        owner = local_username()
        built = build_model_kernel(
            proj, cfg, model=model, overrides=overrides, options=options, deps=deps,
            deps_ref=dataset_ref(owner or "OWNER", proj), deps_hash="", gpu=gpu, out=folder,
            username=owner,
        )  # fmt: skip
        size = built["script"].stat().st_size / 2**20
        console.print(
            f"[green]kernel built[/green]: {built['script']} ({size:.2f} MiB: kagglekit, "
            f"the project's code and folds) for model {model}, id {built['id']}"
        )
        if not deps.empty:
            console.print(
                f"with --push, a dataset of {len(deps.wheels)} wheel(s), "
                f"{len(deps.folders)} folder(s){' and the data' if deps.data else ''} goes too"
            )
        flags = " ".join(f"--set {s}" for s in overrides)
        console.print(
            f"run it on Kaggle: kk kernel {proj.name} --model {model} "
            f"{flags + ' ' if flags else ''}{'--gpu ' if gpu else ''}--push"
        )
        return
    import kagglekit.kaggle.api as kaggle_api
    from kagglekit.kaggle.kernel.follow import push_model

    api = kaggle_api.client()
    pushed = push_model(api, proj, model=model, overrides=overrides, gpu=gpu, out=folder)
    quota = pushed["quota"]
    console.print(
        f"Kaggle GPU quota: {quota['gpu_used_h']:.1f} h used of {quota['gpu_total_h']:.1f} h "
        f"this week, {quota['gpu_left_h']:.1f} h left"
        + (f" (refreshes {quota['refresh']})" if quota.get("refresh") else "")
    )
    if (pushed["git"] or {}).get("dirty"):
        console.print(
            "[yellow]warning[/yellow]: the project has uncommitted changes; the kernel runs "
            "what was pushed, and its run's record will say so (git dirty)"
        )
    deps = pushed["deps"]
    if deps is not None:
        what = "sent" if deps["sent"] else "unchanged, not sent again"
        console.print(f"dataset {deps['ref']}: {deps['bytes'] / 2**20:.1f} MiB, {what}")
    console.print(
        f"[green]pushed[/green] {pushed['ref']} version {pushed['version']} "
        f"({pushed['accelerator']}): {pushed['url']}"
    )
    console.print(
        f"follow it: kk kernel {proj.name} --status [--wait]; bring it back: "
        f"kk kernel {proj.name} --pull"
    )


def _follow_kernel(proj: Project, folder: Path, *, wait: bool, pull: bool) -> None:
    """``--status`` (one poll, or until it ends) and ``--pull``."""
    import kagglekit.kaggle.api as kaggle_api
    from kagglekit.kaggle.kernel.follow import kernel_state, pull_run

    api = kaggle_api.client()
    console = make_console()
    if pull:
        got = pull_run(api, proj, folder)
        if got["already"]:
            console.print(f"run {got['run_id']} is already in runs/ (pulled before)")
            return
        gpus = f", {', '.join(got['gpus'])}" if got["gpus"] else ""
        console.print(
            f"[green]pulled[/green] run {got['run_id']} from {got['ref']} ({got['accelerator']}"
            f"{gpus}): {got['metric']} CV {fmt_number(got['cv_mean'])}; it is in kk runs "
            f"{proj.name}, kk ensemble and kk submit like any run"
        )
        if got["uncommitted_changes"]:
            console.print(
                "[yellow]note[/yellow]: pushed with uncommitted changes (record: git dirty)"
            )
        return
    state = kernel_state(api, folder, proj, wait=wait)
    when = "last checked" if state["cached"] else "checked now"
    note = ""
    if state.get("rate_limited") and state["cached"]:
        note = f"; Kaggle asked to wait {state['rate_limited']:.0f} s (429)"
    elif state["cached"] and state["status"] not in ("COMPLETE", "ERROR"):
        note = f"; asked again in {state['next_in']:.0f} s at the earliest"
    console.print(f"{state['ref']}: {state['status']} ({when}{note})")
    if state["status"] == "ERROR":
        console.print(f"failure: {state.get('failure_message') or '(no message)'}")
        for line in state.get("log_tail") or []:
            console.print(f"  {line}", markup=False, highlight=False)
        raise KKError(f"kernel {state['ref']} ended in ERROR; fix it and push again")
    if state["status"] == "COMPLETE":
        console.print(f"bring it back: kk kernel {proj.name} --pull")
