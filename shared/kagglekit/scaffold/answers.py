"""The templates ``kk new`` renders, and the answers a user gives them.

The repository root holds ``cookiecutter.json`` whose ``templates`` entry lists one
cookiecutter template per project kind (``templates/<kind>/``). Answers are resolved
(given, asked or defaulted, defaults rendered from earlier answers as cookiecutter does)
and validated before anything is written.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kagglekit.config import validate_config
from kagglekit.errors import KKError, unknown_name
from kagglekit.project import PROJECT_NAME

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
    # parents[3]: the repository root above shared/kagglekit/scaffold/.
    candidates = [Path(__file__).resolve().parents[3], *[Path.cwd(), *Path.cwd().parents]]
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


def _check_rating_scale(raw: Any) -> None:
    """A recommender's ``rating_scale`` answer: empty (read from the ratings) or ``low,high``."""
    text = "" if raw is None else str(raw).strip()
    if not text:
        return
    parts = [p.strip() for p in text.split(",")]
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        low = high = float("nan")
    if not low < high:  # also false for nan, i.e. not two numbers
        raise KKError(
            f"rating_scale '{text}' should be low,high (e.g. --set rating_scale=0.5,5) or "
            "empty to read it from the training ratings"
        )


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
    _check_rating_scale(answers.get("rating_scale"))
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
