"""movielens-100k: this project's own code (none is needed to start).

The package reads the interactions (``[data] loader = "interactions"``), assigns
per-user folds, trains the recommenders and writes submissions. This file is where a
layout the built-in loader does not read gets a loader of its own, or a model a backend
of its own, registered on import (see ``kagglekit.models.base.register_backend``; a
recommender backend declares ``accepts=("pairs",)``).
"""

from __future__ import annotations
