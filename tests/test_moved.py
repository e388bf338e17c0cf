"""Modules that moved keep their old import path for one release, with a warning.

A project's ``features.py`` or a user's script written against an old path
(``kagglekit.kaggle_api``, ``kagglekit.tuning_spaces``, ...) keeps working: the old name is
the very module object of the new one, so names, private helpers and monkeypatching agree.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "shared" / "kagglekit"
_ALIAS = re.compile(r'alias\(__name__, "(kagglekit\.[\w.]+)"\)')


def _shims() -> dict[str, str]:
    """Old module name -> new module name, read from the shim files."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        match = _ALIAS.search(path.read_text())
        if match:
            rel = path.relative_to(PACKAGE.parent).with_suffix("")
            found[".".join(rel.parts)] = match.group(1)
    return found


_PROBE = """
import importlib, json, sys, warnings
pairs = json.loads(sys.argv[1])
out = {}
for old, new in pairs.items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        before = importlib.import_module(old)
    out[old] = {
        "same": before is importlib.import_module(new),
        "warned": [str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)
                   and old in str(w.message)],
    }
print(json.dumps(out))
"""


def test_every_old_path_is_the_new_module_and_warns() -> None:
    shims = _shims()
    # the rooms that moved in the house reshape (issue 31)
    assert {"kagglekit.kaggle_api", "kagglekit.tuning_spaces", "kagglekit.pruners"} <= set(shims), (
        shims
    )
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(shims)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    for old, new in shims.items():
        assert result[old]["same"], f"{old} is not the module {new}"
        assert result[old]["warned"], f"importing {old} gave no DeprecationWarning"
        assert new in result[old]["warned"][0], result[old]["warned"]
