"""Rendering a template into a project, and the answers a project records.

A generated project records its kind, the answers and the exact template version (the git
tree hash of ``templates/<kind>/`` as it was rendered) in ``.kk-template.json``, so
``kk update`` can render that old version again. A new project is rendered into a
temporary folder beside its destination and moved into place only once its config loads.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kagglekit.atomic as atomic
from kagglekit.config import load_config
from kagglekit.errors import KKError
from kagglekit.project import PROJECT_NAME, projects_root
from kagglekit.scaffold.answers import (
    _SLUG_HINT,
    Ask,
    Template,
    _read_json,
    load_template,
    not_available,
    resolve_answers,
    templates_root,
    validate_answers,
)

log = logging.getLogger(__name__)

ANSWERS_FILE = ".kk-template.json"


# --- git: template versions -------------------------------------------------------------


def _git(args: list[str], cwd: Path, *, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise KKError(f"git {args[0]} failed in {cwd}: {last}")
    return proc.stdout.strip()


@dataclass(frozen=True)
class TemplateVersion:
    """Where a template's files stand in git."""

    tree: str  # tree hash of the template folder as rendered (committed or not)
    commit: str  # last commit that touched the folder ("" if never committed)
    dirty: bool  # the folder differs from HEAD (the tree was written from the work tree)
    git_root: Path
    rel: str  # the folder relative to the git root


def template_version(template_dir: Path) -> TemplateVersion | None:
    """The git tree hash of ``template_dir`` as it is on disk now (None outside git).

    The tree is built with a throw-away index, so uncommitted template edits get their own
    hash and the real index is untouched.
    """
    template_dir = template_dir.resolve()
    try:
        top = Path(_git(["rev-parse", "--show-toplevel"], template_dir))
    except (KKError, FileNotFoundError):
        return None
    rel = template_dir.relative_to(top.resolve()).as_posix()
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(["read-tree", "--empty"], top, env=env)
        _git(["add", "-A", "--", rel], top, env=env)
        tree = _git(["write-tree", f"--prefix={rel}/"], top, env=env)
    commit = _git(["log", "-1", "--format=%H", "--", rel], top)
    try:
        head_tree = _git(["rev-parse", f"HEAD:{rel}"], top)
    except KKError:
        head_tree = ""
    return TemplateVersion(tree=tree, commit=commit, dirty=tree != head_tree, git_root=top, rel=rel)


def extract_tree(git_root: Path, tree: str, dest: Path) -> None:
    """Write the files of git tree ``tree`` into ``dest`` (``git archive``)."""
    proc = subprocess.run(
        ["git", "archive", "--format=tar", tree], cwd=git_root, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise KKError(
            f"template version {tree[:12]} is not in the git objects of {git_root}; "
            "was the template edited without committing and the objects pruned since?"
        )
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")


# --- rendering --------------------------------------------------------------------------


def render(template_dir: Path, answers: dict[str, str], out_dir: Path) -> Path:
    """Render ``template_dir`` with ``answers`` into ``out_dir``; return the project folder.

    Hooks are off: kagglekit validates and records answers itself (the hooks do the same
    for a plain ``cookiecutter`` run).
    """
    from cookiecutter.main import cookiecutter

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        # Keep cookiecutter's replay files and clones out of the user's home folder.
        config = Path(tmp) / "cookiecutter.yaml"
        config.write_text(
            f"replay_dir: {json.dumps(str(Path(tmp) / 'replay'))}\n"
            f"cookiecutters_dir: {json.dumps(str(Path(tmp) / 'clones'))}\n"
        )
        path = cookiecutter(
            str(template_dir),
            no_input=True,
            extra_context=dict(answers),
            output_dir=str(out_dir),
            config_file=str(config),
            accept_hooks=False,
        )
    return Path(path)


def resolve_template_dir(repo_dir: str, kind: str) -> Path:
    """The template folder cookiecutter rendered from, as an absolute path.

    cookiecutter passes the template path as given (``_repo_dir``) and runs its hooks in
    the generated folder, so a relative path (``cookiecutter templates/tabular``, as its
    docs show) means nothing there. It is tried against the shell's working directory
    (``PWD``), then this repository's ``templates/<kind>``; a candidate counts only if its
    ``cookiecutter.json`` is the ``kind`` template's.
    """
    given = Path(repo_dir).expanduser()
    if given.is_absolute():
        return given
    candidates = [Path(os.environ["PWD"]) / given] if os.environ.get("PWD") else []
    with contextlib.suppress(KKError):
        candidates.append(templates_root() / "templates" / kind)
    for folder in candidates:
        with contextlib.suppress(KKError, OSError):
            if _read_json(folder / "cookiecutter.json").get("_kk_kind") == kind:
                return folder.resolve()
    raise KKError(
        f"cannot find the template folder '{repo_dir}' from {Path.cwd()}; give cookiecutter "
        "an absolute template path"
    )


def record_answers(
    project_dir: Path, kind: str, answers: dict[str, Any], *, template_dir: Path
) -> dict[str, Any]:
    """Write ``.kk-template.json``: the kind, template version and answers of a project."""
    template = Template(kind, template_dir, _read_json(template_dir / "cookiecutter.json"))
    version = template_version(template_dir)
    record = {
        "template": kind,
        "template_version": template.version,
        "template_tree": version.tree if version else "",
        "template_commit": version.commit if version else "",
        "template_dirty": version.dirty if version else None,
        "answers": {k: str(v) for k, v in answers.items()},
    }
    atomic.write_json(project_dir / ANSWERS_FILE, record)
    return record


def read_answers(project_dir: Path) -> dict[str, Any]:
    """The ``.kk-template.json`` record of a generated project."""
    path = project_dir / ANSWERS_FILE
    if not path.is_file():
        raise KKError(
            f"{project_dir} has no {ANSWERS_FILE}, so it was not generated by kk new; "
            "kk update only updates generated projects"
        )
    return _read_json(path)


def new_project(
    kind: str,
    slug: str,
    given: dict[str, Any] | None = None,
    *,
    ask: Ask | None = None,
    projects: Path | None = None,
) -> Path:
    """Generate ``projects/<slug>/`` from the ``kind`` template; return its folder.

    Refuses an existing folder. Answers are checked before anything is written, the
    project is rendered beside its destination, its ``config.toml`` is loaded (the full
    config validation) and only then is the folder moved into place.
    """
    template = load_template(kind)
    if not template.available:
        raise not_available(template)
    if not PROJECT_NAME.match(slug):
        raise KKError(f"project slug '{slug}' is not valid; {_SLUG_HINT}")
    projects = Path(projects) if projects is not None else projects_root()
    dest = projects / slug
    if dest.exists():
        raise KKError(
            f"{dest} already exists; kk new never overwrites a project: choose another slug, "
            f"or run `kk update {slug}` to bring it up to the current template"
        )
    answers = resolve_answers(template, {**(given or {}), "slug": slug}, ask=ask)
    validate_answers(kind, answers)
    projects.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=projects, prefix=f".kk-new-{slug}-") as tmp:
        rendered = render(template.path, answers, Path(tmp))
        load_config(rendered / "config.toml")
        record_answers(rendered, kind, answers, template_dir=template.path)
        if dest.exists():
            raise KKError(f"{dest} appeared while generating; nothing was written")
        os.replace(rendered, dest)
    log.info("generated %s from templates/%s", dest, kind)
    return dest


def render_from_record(project_dir: Path, out_dir: Path, *, current: bool = True) -> Path:
    """Render a project's template with its recorded answers.

    ``current=True`` uses the template as it is now; ``False`` the recorded version.
    """
    record = read_answers(project_dir)
    template = load_template(record["template"])
    if current:
        answers = _answers_for(template, record["answers"])
        return render(template.path, answers, out_dir)
    version = template_version(template.path)
    if version is None or not record.get("template_tree"):
        raise KKError(
            f"{project_dir.name}: no recorded template tree or the template is not in git; "
            "cannot render the version it was generated from"
        )
    src = out_dir / "template"
    extract_tree(version.git_root, record["template_tree"], src)
    old = Template(template.kind, src, _read_json(src / "cookiecutter.json"))
    return render(src, _answers_for(old, record["answers"]), out_dir / "project")


def _answers_for(template: Template, recorded: dict[str, Any]) -> dict[str, str]:
    """Recorded answers for the questions ``template`` has; defaults for new questions."""
    known = {k: v for k, v in recorded.items() if k in template.questions}
    return resolve_answers(template, known)
