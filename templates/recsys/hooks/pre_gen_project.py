"""Refuse bad answers before cookiecutter writes anything (kk new checks the same first)."""

import json
import sys

ANSWERS = json.loads(r"""{{ cookiecutter | jsonify }}""")

try:
    from kagglekit.errors import KKError
    from kagglekit.scaffold import validate_answers
except ImportError:  # kagglekit not installed: cookiecutter alone cannot check the metric
    sys.exit(0)

try:
    validate_answers("recsys", {k: v for k, v in ANSWERS.items() if not k.startswith("_")})
except KKError as err:
    print(f"error: {err}", file=sys.stderr)
    sys.exit(1)
