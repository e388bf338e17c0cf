"""The ``kk`` app and what its commands share: options, console, progress bar, projects.

Every command module imports this one and registers its commands on :data:`app`;
``kagglekit.cli`` imports the command modules (that is the registration) and runs the
app. Nothing here imports more than typer: rich and the package load on first use, so
``kk --help`` starts fast.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from kagglekit.project import Project


def _hide_flag_types() -> None:
    """Show flags as ``--json``, not ``--json <bool>``.

    typer 0.29 prints a value type for every option, flags included, and offers no switch
    for it (only ``metavar=""`` on each option); a flag takes no value, so showing one
    misleads. This wraps typer's (private) rich type label for flags only.
    """
    option = getattr(getattr(typer, "core", None), "TyperOption", None)
    original = getattr(option, "display_type_rich", None)
    if original is None or getattr(original, "_kk_wrapped", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        return None if getattr(self, "is_flag", False) else original(self, ctx)

    display_type_rich._kk_wrapped = True  # type: ignore[attr-defined]
    option.display_type_rich = display_type_rich  # type: ignore[union-attr]


_hide_flag_types()

app = typer.Typer(
    name="kk",
    help="kagglekit: folds, cross-validated training and validated submissions for every competition.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Set by the app's callback from the global flags; read by main() and by commands.
state: dict[str, Any] = {"debug": False}

ProjectArg = Annotated[
    str, typer.Argument(help="Project folder name under projects/.", show_default=False)
]
JsonOpt = Annotated[bool, typer.Option("--json", help="End with one JSON line of results.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override a config value: KEY=VALUE with a dotted key (repeatable)."
    ),
]


def make_console(stderr: bool = False) -> Console:
    """A rich console on stdout (or stderr), never folding lines when output is captured."""
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        # Piped or captured output: wide enough that ids and paths are never folded.
        console = Console(stderr=stderr, highlight=False, width=200)
    return console


def fmt_number(value: Any, digits: int = 5) -> str:
    """A score for a table cell: fixed digits, blank when missing, as-is when not a number."""
    if value is None or value == "":
        return ""
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _print_version(value: bool) -> None:
    if value:
        from kagglekit import __version__

        print(f"kk (kagglekit) {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print kagglekit's version and exit.",
            callback=_print_version,
            is_eager=True,
        ),
    ] = False,
) -> None:
    state["debug"] = debug
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=make_console(stderr=True), show_path=False, show_time=False)],
    )


def progress_bar(console: Console) -> Any:
    """A progress bar over folds, epochs or trials (silent when not on a terminal).

    Tasks take a ``last`` field: the latest fold score or trial value.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def get_project(name: str) -> Project:
    """The project ``projects/<name>`` (a one-line error naming the known ones if absent)."""
    from kagglekit.project import open_project

    return open_project(name)
