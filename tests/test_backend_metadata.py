"""What the package knows about a backend is given where the backend registers.

Tuning reads ``default_space`` and ``stops_on_rounds``, the CV loop ``param_errors``, runs
record ``family`` and the versions of ``packages``, reports plot importances of a tree
``family``. So a project that registers its own backend in its ``features.py`` gets all of
that without a change to the package; and the lazy registry (backend name -> the module
that registers it, kept so that ``kk --help`` imports no torch) must agree with what those
modules really register.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

import kagglekit.models.base as base
from kagglekit import data, folds, records, training
from kagglekit.models.base import Backend, get_backend, is_param_error
from kagglekit.project import open_project
from kagglekit.testing import make_tiny_project, run_kk_inprocess, tiny_config

# --- the lazy registry ------------------------------------------------------------------

_REGISTERED = """
import json, sys
import kagglekit.models.base as base
eager = set(base._REGISTRY)
try:
    __import__(sys.argv[1])
except ImportError as err:
    print(json.dumps({"missing": str(err)}))
else:
    print(json.dumps({"eager": sorted(eager), "registered": sorted(set(base._REGISTRY) - eager)}))
"""


@functools.cache
def _import_in_fresh_python(module: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _REGISTERED, module], capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _registered_by(module: str) -> set[str]:
    """The backends a fresh interpreter registers on importing ``module`` (beyond the
    built-in ones of ``kagglekit.models``), or a skip when its extra is not installed."""
    out = _import_in_fresh_python(module)
    if "missing" in out:
        pytest.skip(f"{module}: {out['missing']}")
    return set(out["registered"])


@pytest.mark.parametrize("module", sorted({module for module, _ in base._LAZY.values()}))
def test_lazy_registry_names_what_each_module_registers(module: str) -> None:
    """Both ways: every name listed for a module is registered by importing it, and every
    backend it registers is listed (for it, or for a module it imports)."""
    registered = _registered_by(module)
    listed = {name for name, (where, _) in base._LAZY.items() if where == module}
    assert listed <= registered, f"{module} does not register {sorted(listed - registered)}"
    unlisted = registered - set(base._LAZY)
    assert not unlisted, f"{module} registers {sorted(unlisted)}, missing from models.base._LAZY"
    for name in registered - listed:  # registered by a module it imports: listed there
        assert name in _registered_by(base._LAZY[name][0])


def test_no_lazy_name_is_registered_at_start_up() -> None:
    """A name is either registered by ``kagglekit.models`` itself or listed as lazy."""
    eager = set(_import_in_fresh_python("kagglekit.models")["eager"])
    assert "lightgbm" in eager
    assert not eager & set(base._LAZY), sorted(eager & set(base._LAZY))


# --- metadata the package reads -------------------------------------------------------


def test_builtin_metadata() -> None:
    lightgbm, forest, ridge = (get_backend(n) for n in ("lightgbm", "random_forest", "ridge"))
    assert lightgbm.stops_on_rounds and lightgbm.is_tree and "lightgbm" in lightgbm.packages
    assert forest.is_tree and not forest.stops_on_rounds and forest.default_space
    assert not ridge.is_tree and ridge.default_space == {
        "alpha": {"low": 1e-3, "high": 1e3, "log": True}
    }


def test_param_errors_are_read_from_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    class OddLibraryError(Exception):
        pass

    assert is_param_error(ValueError("num_leaves must be > 1"))
    assert not is_param_error(OddLibraryError("bad value"))
    odd = Backend(
        name="odd",
        tasks=("binary",),
        build=lambda ctx: None,
        known_params=lambda task: set(),
        param_errors=("OddLibraryError",),
    )
    monkeypatch.setitem(base._REGISTRY, "odd", odd)
    assert is_param_error(OddLibraryError("bad value"))
    assert not is_param_error(RuntimeError("out of memory"))


def test_a_missing_package_is_one_line_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    needy = Backend(
        name="needy",
        tasks=("binary",),
        build=lambda ctx: None,
        known_params=lambda task: set(),
        packages=("not-a-package-kk",),
        install_hint="pip install 'needy[all]'",
    )
    monkeypatch.setitem(base._REGISTRY, "needy", needy)
    with pytest.raises(
        Exception,
        match=r"backend 'needy' needs not-a-package-kk, which is not installed; "
        r"install it with: pip install 'needy\[all\]'",
    ):
        get_backend("needy")
    # Reading what a run recorded needs no library: reports still see its family.
    assert get_backend("needy", installed=False).name == "needy"
    tree = Backend(
        name="needy_tree",
        tasks=("binary",),
        build=lambda ctx: None,
        known_params=lambda task: set(),
        family="tree",
        packages=("not-a-package-kk",),
    )
    monkeypatch.setitem(base._REGISTRY, "needy_tree", tree)
    from kagglekit.reports.plots import is_tree_backend

    assert is_tree_backend("needy_tree") and not is_tree_backend("no-such-backend")


# --- a project's own tree backend ---------------------------------------------------------

OWN_BACKEND = '''
"""This project's own tree model: registered here, nothing changed in kagglekit."""
from sklearn.ensemble import ExtraTreesClassifier

from kagglekit.models.base import Backend, register_backend


class SmallForest:
    def __init__(self, ctx):
        self.params = {"n_estimators": 10, "n_jobs": 1, "random_state": ctx.seed, **ctx.params}

    @staticmethod
    def _numbers(X):
        return X.select_dtypes("number").fillna(0.0)

    def fit(self, X, y, *, X_valid=None, y_valid=None, fold=None):
        numbers = self._numbers(X)
        self.columns_ = list(numbers.columns)
        self.model_ = ExtraTreesClassifier(**self.params).fit(numbers.to_numpy(), y)
        return self

    def predict(self, X):
        return self.model_.predict_proba(self._numbers(X).to_numpy())[:, 1]

    def learned(self):
        importances = self.model_.feature_importances_.tolist()
        return {"feature_importance": dict(zip(self.columns_, importances))}


register_backend(
    Backend(
        name="small_forest",
        tasks=("binary",),
        build=SmallForest,
        known_params=lambda task: {"n_estimators", "n_jobs", "max_depth", "min_samples_leaf"},
        family="tree",
        default_space={
            "max_depth": {"low": 2, "high": 6},
            "min_samples_leaf": {"low": 1, "high": 20, "log": True},
        },
        packages=("joblib",),
    )
)
'''

_REPORT = """
import json, sys
import kagglekit.reports.readme as readme
from kagglekit.project import open_project
from kagglekit.reports import write_project_report
# The table view (PCA / k-Means of the feature matrix) builds features, which imports the
# project's code and registers its backend: off here, where the point is that the family
# comes from the record alone.
readme.write_embedding_view = lambda *args, **kwargs: []
result = write_project_report(open_project("tiny"))
print(json.dumps({
    "plots": sorted(p.path.name for p in result.plots),
    "project_code_imported": any(m.startswith("kk_project_") for m in sys.modules),
}))
"""


@pytest.fixture
def registry() -> Any:
    """The registry as it was before the test (a project's backend must not leak)."""
    before = dict(base._REGISTRY)
    yield base._REGISTRY
    base._REGISTRY.clear()
    base._REGISTRY.update(before)


def test_a_projects_own_tree_backend_gets_tuning_reports_and_records(
    projects_dir: Path,
    registry: dict[str, Backend],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = tiny_config("tiny", extra='\n[models.forest]\nbackend = "small_forest"\n')
    paths = make_tiny_project(projects_dir, "tiny", config=config)
    (paths["project"] / "features.py").write_text(OWN_BACKEND)
    (paths["project"] / "README.md").write_text(
        "# tiny\n\n<!-- kk:results:start -->\n<!-- kk:results:end -->\n"
    )
    project = open_project("tiny", projects_dir)
    data.fetch(project, project.config(), from_dir=paths["mirror"])
    folds.assign_project_folds(project, project.config())
    assert "small_forest" not in registry

    # kk tune: the backend's default space is searched (nothing under [models.forest.search]).
    code, out, err = run_kk_inprocess(
        capsys, monkeypatch, "tune", "tiny", "--model", "forest", "--trials", "3", "--json"
    )
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["n_complete"] == 3
    assert {"max_depth", "min_samples_leaf"} <= set(summary["best_params"])

    # kk train: the run records the backend's family and its packages' versions.
    result = training.train(project, project.config(), model_name="forest")
    record = records.load_run(result.run.folder).record
    assert record["family"] == "tree"
    assert record["versions"]["joblib"] == metadata.version("joblib")
    assert "lightgbm" not in record["versions"]  # another backend's library is not this run's
    assert record["feature_importance"]

    # kk report, in a fresh interpreter that never imports the project's code: the run is
    # a tree model by what it recorded, so its importances are plotted.
    done = subprocess.run(
        [sys.executable, "-c", _REPORT], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert not report["project_code_imported"]
    assert "feature_importance.png" in report["plots"], report
