"""Record the template version and the answers in the new project (.kk-template.json)."""

import json
import sys
from pathlib import Path

ANSWERS = json.loads(r"""{{ cookiecutter | jsonify }}""")

try:
    from kagglekit.scaffold import record_answers
except ImportError:
    sys.exit(0)

record_answers(
    Path.cwd(),
    "tabular",
    {k: v for k, v in ANSWERS.items() if not k.startswith("_")},
    template_dir=Path(ANSWERS["_repo_dir"]),
)
