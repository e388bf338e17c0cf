"""OpenMP wait policy chosen from the machine's load (bench/threads.py measures why)."""

from __future__ import annotations

import os
import subprocess
import sys

import kagglekit


def _policy_after_import(env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env.update(env_extra)
    code = "import os, kagglekit; print(os.environ.get('OMP_WAIT_POLICY', ''))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_passive_waits_only_when_others_keep_half_the_cores_busy() -> None:
    # Beside one busy process on 2 cores passive waits were faster (1.6-2.8x); on an idle
    # machine spinning was (2-3.5x): the load at import decides.
    policy = kagglekit._busy_machine_wait_policy
    assert policy(1.0, 2) == "PASSIVE" and policy(7.3, 2) == "PASSIVE"
    assert policy(0.3, 2) is None and policy(1.5, 4) is None and policy(3.0, 4) == "PASSIVE"


def test_a_users_own_wait_policy_wins_over_the_load() -> None:
    assert _policy_after_import({"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE"


def test_kk_entry_point_imports_kagglekit_before_any_openmp_library() -> None:
    # The console script's module is kagglekit.cli, so the package __init__ (which chooses
    # the policy) runs before torch, LightGBM or XGBoost can load their OpenMP runtime.
    code = (
        "import sys; import kagglekit.cli; "
        "print(any(m in sys.modules for m in ('torch', 'lightgbm', 'xgboost')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
