"""Competitions without Kaggle: make-competition (any CSV), and the offline demo.

The demo runs the other commands' functions in order, as a user would type them.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated, Any

import typer

from kagglekit.cli.app import app, get_project, make_console
from kagglekit.cli.data import fetch, folds
from kagglekit.cli.submissions import score, submit
from kagglekit.cli.train import runs, train_one
from kagglekit.errors import KKError


@app.command("make-competition")
def make_competition(
    data: Annotated[
        Path,
        typer.Argument(
            help="Any CSV with a target column, or a folder of images with one folder per "
            "class (digits/0/*.png, digits/1/*.png ...).",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="Folder to write the competition into.", show_default=False),
    ],
    target: Annotated[
        str | None, typer.Option("--target", help="Target column (a CSV only).", show_default=False)
    ] = None,
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
    """Turn any CSV, or a folder of class folders of images, into a competition: train and
    test files, sample_submission.csv and solution.csv."""
    from kagglekit.data.image_competition import make_image_competition
    from kagglekit.data.synthetic import make_competition as make

    if data.is_dir():
        if target is not None or id_column is not None:
            raise KKError(
                f"{data} is a folder of images: its classes are its folder names and ids are "
                "numbered; leave out --target and --id"
            )
        info = make_image_competition(
            data, out=out, test_size=test_size, seed=seed, submission_format=fmt
        )
    elif target is None:
        raise KKError(f"--target is missing: name the column of {data} to predict")
    else:
        info = make(
            data,
            target=target,
            out=out,
            id_column=id_column,
            test_size=test_size,
            seed=seed,
            submission_format=fmt,
        )
    from kagglekit.data.synthetic import kk_new_line
    from kagglekit.scaffold import load_template

    unit = "images" if data.is_dir() else "rows"
    make_console().print(
        f"[green]competition written[/green] to {info['out']}: {info['n_train']} train {unit}, "
        f"{info['n_test']} test {unit}, task looks {info['task']}"
    )
    # The project that scores it: the template that reads such data, with answers matching
    # what was written (no --set needed later) and the folder as its local source.
    slug, kind = info["slug"], info["kind"]
    console = make_console()
    questions = load_template(kind).questions
    console.print(f"make a {kind} project for it ({info['why']}):", markup=False)
    console.print(f"  {kk_new_line(info, questions)}", markup=False, soft_wrap=True)
    console.print(
        f"  kk fetch {slug} --from {shlex.quote(str(info['out']))}", markup=False, soft_wrap=True
    )
    if "solution_file" not in questions:  # a template that does not ask it yet
        console.print(
            f'  (then, for kk score: solution_file = "{info["solution_file"]}" under '
            f"[competition] in projects/{slug}/config.toml)",
            markup=False,
            soft_wrap=True,
        )


@app.command()
def demo(
    workdir: Annotated[
        Path, typer.Option("--dir", help="Where the demo competition and project go.")
    ] = Path("build/demo"),
) -> None:
    """The whole loop offline on scikit-learn's breast-cancer data: folds, 2 models, submission, score."""
    from kagglekit.demo import prepare_demo
    from kagglekit.kaggle.kernel import choose_run

    console = make_console()
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
        train_one(get_project(info["project"]), model, None, console)
    # Best by CV in the metric's own direction, as kk kernel picks it.
    best = choose_run(get_project(info["project"]), None).run_id
    console.print(f"$ kk submit {info['project']} --run {best} --dry-run")
    submit(info["project"], best, None, True)
    console.print(f"$ kk score {info['project']} --run {best}")
    score(info["project"], best, None, False)
    console.print(f"$ kk runs {info['project']}")
    runs(info["project"], False)
    console.rule("next")
    for line in next_steps(info):
        console.print(line, markup=False, soft_wrap=True)


def next_steps(info: dict[str, Any]) -> list[str]:
    """What to run after ``kk demo``: the demo project further, then your own data."""
    here = f"KK_PROJECTS_DIR={shlex.quote(str(info['projects']))}"
    project = info["project"]
    return [
        "Next steps:",
        f"  {here} kk ensemble {project}            # combine the demo's runs",
        f"  {here} kk train {project} --model NAME  # the other models in its config.toml",
        "  kk make-competition YOUR.csv --target COLUMN --out DIR  # your own table, then "
        "the kk new / kk fetch lines it prints",
        "  kk fetch titanic && kk folds titanic && kk train titanic  # a real competition "
        "(Kaggle credentials, or kk fetch --from a copy: docs/reference.md, worked example)",
    ]
