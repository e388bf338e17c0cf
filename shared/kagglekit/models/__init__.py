"""Model adapters: one protocol for every backend, and a registry from names to backends.

Heavy libraries (LightGBM, XGBoost, torch) are imported only when a model is built.
"""

from kagglekit.models.base import Backend, Model, backend_names, get_backend, register_backend

__all__ = ["Backend", "Model", "backend_names", "get_backend", "register_backend"]

# Register the built-in backends (their modules import nothing heavy at import time).
from kagglekit.models import tabular as _tabular  # noqa: F401
