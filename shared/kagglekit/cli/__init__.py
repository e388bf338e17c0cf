"""``kk``: the command line, a thin shell over the library.

This module holds the app, shared helpers and the entry point; the commands live in
sibling modules grouped by concern (``core``: data, folds, training, submissions).

Heavy imports happen inside each command, so ``kk --help`` starts fast. A user error
(``KKError``) prints one line and exits 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import logging
import sys
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

_state: dict[str, Any] = {"debug": False}

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


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        # Piped or captured output: wide enough that ids and paths are never folded.
        console = Console(stderr=stderr, highlight=False, width=200)
    return console


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
    _state["debug"] = debug
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=_console(stderr=True), show_path=False, show_time=False)],
    )


def _progress(console: Console) -> Any:
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


def _project(name: str) -> Project:
    from kagglekit.project import open_project

    return open_project(name)


def _click_exception_types() -> tuple[
    tuple[type[BaseException], ...], tuple[type[BaseException], ...]
]:
    """(aborts, usage errors) from click and from the copy of click newer typer vendors."""
    import click

    aborts: list[type[BaseException]] = [click.exceptions.Abort, typer.Abort]
    errors: list[type[BaseException]] = [click.ClickException]
    try:
        from typer._click import exceptions as vendored
    except ImportError:
        pass
    else:
        errors.append(vendored.ClickException)
    return tuple(aborts), tuple(errors)


def main() -> None:
    """Console-script entry point: one line per user error, tracebacks with --debug."""
    from kagglekit.errors import KKError

    aborts, click_errors = _click_exception_types()
    try:
        # Typer turns Ctrl-C (and typer.Exit) into a returned exit code when not standalone.
        code = app(standalone_mode=False)
    except KKError as err:
        if _state["debug"]:
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    except aborts:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except click_errors as err:
        # A usage error (unknown option, missing argument, unknown command): one line too.
        ctx = getattr(err, "ctx", None)
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        message = err.format_message()  # type: ignore[attr-defined]
        if message:  # empty when the help was shown instead (plain `kk`)
            print(f"error: {message}{hint}", file=sys.stderr)
        sys.exit(err.exit_code)  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        code = 130
    except Exception as err:
        # An error raised in the user's own code (a project's features.py or FOLD_STEPS):
        # one line naming its file:line, not the library's traceback. Library bugs keep theirs.
        from kagglekit.features import user_code_error

        described = None if _state["debug"] else user_code_error(err)
        if described is None:
            raise
        print(f"error: {described}", file=sys.stderr)
        sys.exit(1)
    if isinstance(code, int) and code != 0:
        if code == 130:
            print("interrupted", file=sys.stderr)
        sys.exit(code)


# Command modules register themselves on ``app`` when imported; each imports its heavy
# dependencies inside the command bodies, so this stays cheap.
from kagglekit.cli import core as _core  # noqa: E402,F401
from kagglekit.cli import ensemble as _ensemble  # noqa: E402,F401
from kagglekit.cli import kaggle as _kaggle  # noqa: E402,F401
from kagglekit.cli import new as _new  # noqa: E402,F401
from kagglekit.cli import report as _report  # noqa: E402,F401
from kagglekit.cli import tune as _tune  # noqa: E402,F401
