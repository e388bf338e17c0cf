"""``kk``: the command line, a thin shell over the library.

``app`` owns the Typer app and what the commands share (options, console, progress,
projects); the commands live in modules grouped by concern, and importing them here is
what registers them, in the order ``kk --help`` lists them: ``data`` (fetch, folds),
``train`` (train, runs), ``submissions`` (submit, score), ``demo`` (make-competition,
demo), ``ensemble``, ``auto``, ``kaggle``, ``new``, ``report``, ``tune``. ``main`` is the console
script.

Heavy imports happen inside each command, so ``kk --help`` starts fast. A user error
(``KKError``) prints one line and exits 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import sys

import typer

from kagglekit.cli.app import app, state
from kagglekit.errors import KKError

# Importing a command module registers its commands; kk --help lists them in this order.
# isort: off
from kagglekit.cli import data  # noqa: F401
from kagglekit.cli import train  # noqa: F401
from kagglekit.cli import submissions  # noqa: F401
from kagglekit.cli import demo  # noqa: F401
from kagglekit.cli import ensemble  # noqa: F401
from kagglekit.cli import auto  # noqa: F401
from kagglekit.cli import kaggle  # noqa: F401
from kagglekit.cli import new  # noqa: F401
from kagglekit.cli import report  # noqa: F401
from kagglekit.cli import tune  # noqa: F401

# isort: on

__all__ = ["app", "main"]


def _click_exception_types() -> tuple[
    tuple[type[BaseException], ...], tuple[type[BaseException], ...]
]:
    """(aborts, usage errors) from click and from the copy of click newer typer vendors."""
    aborts: list[type[BaseException]] = [typer.Abort]
    errors: list[type[BaseException]] = []
    try:  # typer 0.2x vendors click and no longer installs it; older typer needs it
        import click
    except ImportError:
        pass
    else:
        aborts.append(click.exceptions.Abort)
        errors.append(click.ClickException)
    try:
        from typer._click import exceptions as vendored
    except ImportError:
        pass
    else:
        errors.append(vendored.ClickException)
    return tuple(aborts), tuple(errors)


def main() -> None:
    """Console-script entry point: one line per user error, tracebacks with --debug."""
    aborts, click_errors = _click_exception_types()
    try:
        # Typer turns Ctrl-C (and typer.Exit) into a returned exit code when not standalone.
        code = app(standalone_mode=False)
    except KKError as err:
        if state["debug"]:
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
        from kagglekit.project import user_code_error

        described = None if state["debug"] else user_code_error(err)
        if described is None:
            raise
        print(f"error: {described}", file=sys.stderr)
        sys.exit(1)
    if isinstance(code, int) and code != 0:
        if code == 130:
            print("interrupted", file=sys.stderr)
        sys.exit(code)
