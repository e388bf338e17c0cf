"""Project scaffolding: ``kk new`` renders a cookiecutter template, ``kk update`` merges.

- :mod:`~kagglekit.scaffold.answers`: the templates (``cookiecutter.json`` at the
  repository root lists one per project kind) and the answers a user gives them, resolved
  and validated before anything is written.
- :mod:`~kagglekit.scaffold.render`: rendering a template into ``projects/<slug>/`` and the
  ``.kk-template.json`` record of kind, answers and template version (a git tree hash).
- :mod:`~kagglekit.scaffold.update`: ``kk update``, which renders the recorded and the
  current template with the same answers and merges the difference into the project file
  by file with ``git merge-file``.

Every name lives on here too: templates' hooks import ``validate_answers``,
``record_answers`` and ``resolve_template_dir`` from ``kagglekit.scaffold``.
"""

from __future__ import annotations

# Names with a leading underscore are the old module's private helpers, kept importable
# for code that reached into it.
from kagglekit.scaffold.answers import (  # noqa: F401
    _SLUG_HINT,
    TEMPLATES_ENV,
    Ask,
    Template,
    _read_json,
    _render_default,
    load_template,
    not_available,
    resolve_answers,
    template_kinds,
    templates_root,
    validate_answers,
)
from kagglekit.scaffold.render import (  # noqa: F401
    ANSWERS_FILE,
    TemplateVersion,
    _answers_for,
    _git,
    extract_tree,
    new_project,
    read_answers,
    record_answers,
    render,
    render_from_record,
    resolve_template_dir,
    template_version,
)
from kagglekit.scaffold.update import (  # noqa: F401
    UpdateReport,
    _files,
    copy_template_owned,
    drifted_owned_files,
    merge_file,
    update_project,
)

__all__ = [
    "ANSWERS_FILE",
    "TEMPLATES_ENV",
    "Ask",
    "Template",
    "TemplateVersion",
    "UpdateReport",
    "copy_template_owned",
    "drifted_owned_files",
    "extract_tree",
    "load_template",
    "merge_file",
    "new_project",
    "not_available",
    "read_answers",
    "record_answers",
    "render",
    "render_from_record",
    "resolve_answers",
    "resolve_template_dir",
    "template_kinds",
    "template_version",
    "templates_root",
    "update_project",
    "validate_answers",
]
