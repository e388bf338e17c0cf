"""The vision template is designed (see cookiecutter.json) but not built yet: refuse cleanly."""

import sys

print(
    "error: the 'vision' template is not yet available: its questions are designed in "
    "templates/vision/cookiecutter.json and it arrives with its own issue; use tabular for now",
    file=sys.stderr,
)
sys.exit(1)
