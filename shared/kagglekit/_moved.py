"""Old import paths of modules that moved: each old module file calls ``alias`` so that
code written against the old path keeps working for one release, with a warning.

The old name becomes the very module object of the new one (``sys.modules`` entry), so
attributes, private helpers and monkeypatching through either name all agree.
"""

from __future__ import annotations

import importlib
import sys
import warnings

__all__ = ["alias"]


def alias(old: str, new: str) -> None:
    """Make module ``old`` an alias of module ``new`` and warn that ``old`` is deprecated."""
    warnings.warn(
        f"{old} has moved to {new}; import it from there ({old} goes in the next release)",
        DeprecationWarning,
        stacklevel=3,
    )
    sys.modules[old] = importlib.import_module(new)
