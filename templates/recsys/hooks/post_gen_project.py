"""Record the template version and the answers in the new project (.kk-template.json)."""

import json
import sys
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | jsonify }}""")

try:
    from kagglekit.errors import KKError
    from kagglekit.scaffold import record_answers, resolve_template_dir
except ImportError:
    sys.exit(0)

try:
    # `cookiecutter templates/recsys` passes a path relative to where it was started,
    # and this hook runs inside the generated folder: resolve it first.
    record_answers(
        Path.cwd(),
        "recsys",
        {k: v for k, v in ANSWERS.items() if not k.startswith("_")},
        template_dir=resolve_template_dir(ANSWERS["_repo_dir"], "recsys"),
    )
except KKError as err:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(1)
