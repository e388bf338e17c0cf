"""Project scaffolding: ``kk new`` renders a cookiecutter template, ``kk update`` merges.

The repository root holds ``cookiecutter.json`` whose ``templates`` entry lists one
cookiecutter template per project kind (``templates/<kind>/``). A generated project
records its kind, the answers and the exact template version (the git tree hash of
``templates/<kind>/`` as it was rendered) in ``.kk-template.json``. ``update_project``
renders that old version (from git) and the current template with the same answers and
merges the difference into the project file by file with ``git merge-file``: the user's
edits are kept, a real overlap is written with conflict markers and reported.

Answers are validated before anything is written; a new project is rendered into a
temporary folder beside its destination and moved into place only once its config loads.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kagglekit import atomic
from kagglekit.config import load_config, validate_config
from kagglekit.errors import KKError, unknown_name
from kagglekit.project import PROJECT_NAME, open_project, projects_root

log = logging.getLogger(__name__)

ANSWERS_FILE = ".kk-template.json"
TEMPLATES_ENV = "KK_TEMPLATES_ROOT"

# ask(question, prompt, default, choices) -> answer; None means --no-input.
Ask = Callable[[str, str, str, Sequence[str] | None], str]


# --- templates --------------------------------------------------------------------------


def templates_root() -> Path:
    """The folder whose ``cookiecutter.json`` lists the templates (the repository root).

    ``KK_TEMPLATES_ROOT`` wins; otherwise the repository this package is installed from
    (editable install), then the nearest folder at or above the working directory.
    """
    env = os.environ.get(TEMPLATES_ENV)
    if env:
        return Path(env).resolve()
    candidates = [Path(__file__).resolve().parents[2], *[Path.cwd(), *Path.cwd().parents]]
    for folder in candidates:
        if (folder / "cookiecutter.json").is_file() and (folder / "templates").is_dir():
            return folder
    raise KKError(
        f"no cookiecutter.json with templates/ found; run kk inside the kagglekit repository "
        f"or set {TEMPLATES_ENV}"
    )


@dataclass(frozen=True)
class Template:
    """One project kind's cookiecutter template."""

    kind: str
    path: Path
    context: dict[str, Any]  # the template's cookiecutter.json

    @property
    def questions(self) -> dict[str, Any]:
        """The answers a user gives, in prompting order (raw defaults, lists = choices)."""
        return {k: v for k, v in self.context.items() if not k.startswith("_")}

    @property
    def prompts(self) -> dict[str, str]:
        return dict(self.context.get("__prompts__", {}))

    @property
    def available(self) -> bool:
        return bool(self.context.get("_kk_available", False))

    @property
    def version(self) -> str:
        return str(self.context.get("_kk_template_version", ""))

    @property
    def owned(self) -> list[str]:
        """Files of a generated project that belong to the template, not the user."""
        return list(self.context.get("_kk_template_owned", []))


def template_kinds(root: Path | None = None) -> dict[str, Path]:
    """``{kind: template folder}`` from the root ``cookiecutter.json``'s ``templates``."""
    root = root or templates_root()
    data = _read_json(root / "cookiecutter.json")
    entries = data.get("templates") or {}
    return {kind: (root / entry["path"]).resolve() for kind, entry in entries.items()}


def load_template(kind: str, root: Path | None = None) -> Template:
    """The template for ``kind``; an unknown kind gets a did-you-mean hint."""
    kinds = template_kinds(root)
    if kind not in kinds:
        raise unknown_name("project kind", kind, kinds)
    path = kinds[kind]
    return Template(kind=kind, path=path, context=_read_json(path / "cookiecutter.json"))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise KKError(f"{path} does not exist; is the template folder complete?") from None
    except json.JSONDecodeError as err:
        raise KKError(f"{path} is not valid JSON: {err}") from None


# --- answers ----------------------------------------------------------------------------


def resolve_answers(
    template: Template, given: dict[str, Any], *, ask: Ask | None = None
) -> dict[str, str]:
    """Every question's answer: given ones as they are, the rest asked or defaulted.

    Defaults may depend on earlier answers (the metric's default follows the task), as
    cookiecutter renders them; ``ask=None`` takes every default (``--no-input``).
    """
    from cookiecutter.environment import StrictEnvironment

    questions = template.questions
    unknown = [k for k in given if k not in questions]
    if unknown:
        raise unknown_name(f"{template.kind} template question", unknown[0], questions)
    env = StrictEnvironment(context={"cookiecutter": template.context})
    answers: dict[str, str] = {}
    for key, raw in questions.items():
        choices = [str(c) for c in raw] if isinstance(raw, list) else None
        if key in given:
            answers[key] = str(given[key])
        else:
            default = choices[0] if choices else _render_default(env, key, raw, answers)
            prompt = template.prompts.get(key, key)
            answers[key] = default if ask is None else ask(key, prompt, default, choices)
        if choices and answers[key] not in choices:
            # Later defaults are rendered from this answer: check it first.
            raise KKError(
                f"{key} '{answers[key]}' is not one of {', '.join(choices)}; "
                f"pass --{key} (or --set {key}=...) with one of them"
            )
    return answers


def _render_default(env: Any, key: str, raw: Any, answers: dict[str, str]) -> str:
    from cookiecutter.prompt import render_variable
    from jinja2 import TemplateError

    try:
        return str(render_variable(env, raw, answers))
    except TemplateError as err:
        raise KKError(f"cannot work out the default of '{key}' from the answers: {err}") from None


_SLUG_HINT = "use lower-case letters, digits, '-' and '_', starting with a letter or digit"


def validate_answers(kind: str, answers: dict[str, Any]) -> None:
    """Raise a one-line ``KKError`` for the first bad answer; write nothing.

    Checks the names, the choices and, through the config's own validators and the
    metric registry, that metric, task and submission format fit together, and the CV
    scheme (k folds, or a holdout share for templates that ask ``cv``). Whatever kind a
    template is, only the answers it asks are checked.
    """
    template = load_template(kind)
    if not template.available:
        raise not_available(template)
    slug = str(answers.get("slug", ""))
    if not PROJECT_NAME.match(slug):
        raise KKError(f"project slug '{slug}' is not valid; {_SLUG_HINT}")
    for key, raw in template.questions.items():
        if isinstance(raw, list) and str(answers.get(key)) not in [str(c) for c in raw]:
            raise KKError(
                f"{key} '{answers.get(key)}' is not one of {', '.join(map(str, raw))}; "
                f"pass --{key} with one of them"
            )
    for key in ("id_column", "target_column", "competition", "sample_submission_file"):
        if key in answers and not str(answers[key]).strip():
            raise KKError(f"{key} is empty; give it a value (--set {key}=...)")
    if answers.get("id_column") == answers.get("target_column"):
        raise KKError(
            f"id column and target column are both '{answers.get('id_column')}'; "
            "they must differ (--id-column / --target)"
        )
    for key in ("n_splits", "seed"):
        if key in answers and not re.fullmatch(r"-?\d+", str(answers[key]).strip()):
            raise KKError(f"{key} '{answers[key]}' is not a whole number; e.g. --set {key}=5")
    if "valid_size" in answers:
        try:
            float(str(answers["valid_size"]))
        except ValueError:
            raise KKError(
                f"valid_size '{answers['valid_size']}' is not a number; e.g. --set valid_size=0.2"
            ) from None
    if answers.get("model") == "timm" and not str(answers.get("backbone", "")).strip():
        raise KKError("backbone is empty; name a timm model (--set backbone=resnet18)")
    names = [n.strip() for n in str(answers.get("label_names", "")).split(",")]
    if any(names) and (not all(names) or len(set(names)) != len(names)):
        raise KKError(
            f"label_names '{answers['label_names']}' has an empty or repeated name; give "
            "the class names once each, comma-separated, in label order"
        )
    competition = {
        "name": slug,
        "id_column": answers.get("id_column", "id"),
        "target_column": answers.get("target_column", "target"),
        "task": answers.get("task"),
        "metric": answers.get("metric"),
        "submission_format": answers.get("submission_format", "labels"),
    }
    if answers.get("cv") == "holdout":
        cv: dict[str, Any] = {
            "kind": "holdout",
            "valid_size": float(answers.get("valid_size", 0.2)),
        }
    else:
        cv = {"kind": "kfold", "n_splits": int(answers.get("n_splits", 5))}
    # Backends are looked up when a model is built, not here: the name only fills the slot.
    backend = str(answers.get("model", "lightgbm"))
    validate_config(
        {
            "default_model": "m",
            "competition": competition,
            "cv": cv,
            "models": {"m": {"backend": backend}},
        },
        source="answers",
    )


def not_available(template: Template) -> KKError:
    """The error for a project kind whose template is designed but not built yet."""
    ready = [k for k in template_kinds() if load_template(k).available]
    return KKError(
        f"the '{template.kind}' template is not yet available (its questions are designed in "
        f"templates/{template.kind}/cookiecutter.json, but no project can be generated from "
        f"it yet); supported today: {', '.join(ready)} (kk new {ready[0] if ready else 'KIND'} SLUG)"
    )


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


# --- update -----------------------------------------------------------------------------


@dataclass
class UpdateReport:
    """What ``update_project`` did (or, with ``dry_run``, would do)."""

    project: str
    from_tree: str
    to_tree: str
    merged: list[str] = field(default_factory=list)  # template change applied
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # written with conflict markers
    skipped: list[str] = field(default_factory=list)  # "path: why", left as they are

    @property
    def up_to_date(self) -> bool:
        return self.from_tree == self.to_tree


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def merge_file(
    mine: bytes, base: bytes, theirs: bytes, *, labels: tuple[str, str, str]
) -> tuple[bytes, int]:
    """Three-way merge of one file with ``git merge-file``; returns (text, n_conflicts)."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for name, data in (("mine", mine), ("base", base), ("theirs", theirs)):
            path = Path(tmp) / name
            path.write_bytes(data)
            paths.append(str(path))
        args = ["git", "merge-file", "-p"]
        for label in labels:
            args += ["-L", label]
        proc = subprocess.run([*args, *paths], capture_output=True, check=False)
    if proc.returncode < 0 or proc.returncode > 127:
        raise KKError(f"git merge-file failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout, proc.returncode


def update_project(
    slug: str, *, projects: Path | None = None, dry_run: bool = False
) -> UpdateReport:
    """Bring ``projects/<slug>/`` up to its current template, keeping the user's edits.

    For every file the template changed between the recorded version and now: if the
    project still has the old template text it gets the new one; otherwise the change is
    merged three ways (``git merge-file``), and overlapping edits are written with
    conflict markers and reported. Files the template did not change are never touched.
    """
    # An unknown or misspelt slug gets "not known; did you mean", not "not generated by kk new".
    project_dir = open_project(slug, Path(projects) if projects is not None else None).root
    record = read_answers(project_dir)
    template = load_template(record["template"])
    version = template_version(template.path)
    if version is None:
        raise KKError(f"templates/{template.kind} is not in a git repository; cannot update")
    report = UpdateReport(slug, str(record.get("template_tree", "")), version.tree)
    if report.up_to_date:
        return report
    with tempfile.TemporaryDirectory() as tmp:
        old = _files(render_from_record(project_dir, Path(tmp) / "old", current=False))
        new = _files(render_from_record(project_dir, Path(tmp) / "new", current=True))
    labels = (
        f"{slug} (yours)",
        f"template {report.from_tree[:10]}",
        f"template {report.to_tree[:10]}",
    )
    writes: dict[str, bytes | None] = {}
    for rel in sorted(set(old) | set(new)):
        if rel == ANSWERS_FILE:
            continue
        base, theirs = old.get(rel), new.get(rel)
        path = project_dir / rel
        mine = path.read_bytes() if path.is_file() else None
        if base == theirs or mine == theirs:
            continue
        if theirs is None:
            if mine == base:
                writes[rel] = None
                report.removed.append(rel)
            elif mine is not None:
                report.skipped.append(f"{rel}: removed from the template but edited here; kept")
            continue
        if mine is None:
            if base is None:
                writes[rel] = theirs
                report.added.append(rel)
            else:
                report.skipped.append(
                    f"{rel}: deleted here but changed in the template; not restored"
                )
            continue
        if mine == base:
            writes[rel] = theirs
            report.merged.append(rel)
            continue
        merged, n_conflicts = merge_file(mine, base or b"", theirs, labels=labels)
        writes[rel] = merged
        (report.conflicts if n_conflicts else report.merged).append(rel)
    if dry_run:
        return report
    for rel, data in writes.items():
        if data is None:
            (project_dir / rel).unlink()
        else:
            atomic.write_bytes(project_dir / rel, data)
    answers = _answers_for(template, record["answers"])
    record_answers(project_dir, template.kind, answers, template_dir=template.path)
    return report


def drifted_owned_files(project_dir: Path) -> list[str]:
    """Template-owned files of a project that differ from a fresh render of its answers."""
    record = read_answers(project_dir)
    template = load_template(record["template"])
    with tempfile.TemporaryDirectory() as tmp:
        fresh = render_from_record(project_dir, Path(tmp), current=True)
        drifted = []
        for rel in template.owned:
            mine = project_dir / rel
            if not mine.is_file() or mine.read_bytes() != (fresh / rel).read_bytes():
                drifted.append(rel)
    return drifted


def copy_template_owned(project_dir: Path) -> list[str]:
    """Write the current template's owned files into a project; return those changed."""
    record = read_answers(project_dir)
    template = load_template(record["template"])
    changed = []
    with tempfile.TemporaryDirectory() as tmp:
        fresh = render_from_record(project_dir, Path(tmp), current=True)
        for rel in template.owned:
            data = (fresh / rel).read_bytes()
            target = project_dir / rel
            if not target.is_file() or target.read_bytes() != data:
                atomic.write_bytes(target, data)
                changed.append(rel)
    return changed
