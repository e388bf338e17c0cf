"""The vision template is designed (see cookiecutter.json) but not built yet: refuse cleanly."""

import sys

print(
    "error: the 'vision' template is not yet available: its questions are designed in "
    "templates/vision/cookiecutter.json, but no project can be generated from it yet; "
    "supported today: tabular (kk new tabular SLUG)",
    file=sys.stderr,
)
sys.exit(1)
