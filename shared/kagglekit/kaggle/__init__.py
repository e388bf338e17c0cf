"""Kaggle I/O: everything that talks to Kaggle, or pretends to.

``api`` wraps the official ``kaggle`` client (imported lazily: it is heavy, optional and
authenticates on import) behind plain functions and one-line errors; ``submit`` checks a
submission, sends it and keeps the project's ledger; ``kernel`` builds (and pushes) a
Kaggle kernel that re-runs a recorded run; ``stub`` is a local stand-in for Kaggle's API
for tests and offline demos. Nothing is imported here, so ``import kagglekit.kaggle.api``
stays light; inside this package ``import kaggle`` is still the official client
(imports are absolute).
"""
