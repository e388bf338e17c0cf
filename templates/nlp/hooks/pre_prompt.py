"""The nlp template is designed (see cookiecutter.json) but not built yet: refuse cleanly."""

import sys

print(
    "error: the 'nlp' template is not yet available: its questions are designed in "
    "templates/nlp/cookiecutter.json and it arrives with its own issue; use tabular for now",
    file=sys.stderr,
)
sys.exit(1)
