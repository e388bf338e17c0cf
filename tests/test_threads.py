"""Thread defaults that hold up on a shared machine (bench/threads.py measures why)."""

from __future__ import annotations

import os
import subprocess
import sys


def _policy_after_import(env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env.update(env_extra)
    code = "import os, kagglekit; print(os.environ.get('OMP_WAIT_POLICY', ''))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_sets_passive_openmp_waits_before_torch_or_boosters_load() -> None:
    assert _policy_after_import({}) == "PASSIVE"


def test_a_users_own_wait_policy_wins() -> None:
    assert _policy_after_import({"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"


def test_kk_entry_point_imports_kagglekit_before_any_openmp_library() -> None:
    # The console script's module is kagglekit.cli, so the package __init__ (which sets the
    # policy) runs before torch, LightGBM or XGBoost can load their OpenMP runtime.
    code = (
        "import sys; import kagglekit.cli; "
        "print(any(m in sys.modules for m in ('torch', 'lightgbm', 'xgboost')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
