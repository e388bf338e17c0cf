"""Tuning on a real PostgreSQL server: many worker processes share one study.

Needs ``KK_TEST_POSTGRES_URL`` (``.ci/run`` starts a server and sets it); skipped without.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import optuna
import pytest
from kagglekit import data, folds, tuning
from kagglekit.project import open_project
from kagglekit.testing import make_tiny_project
from optuna.trial import TrialState

POSTGRES_URL = os.environ.get("KK_TEST_POSTGRES_URL", "")

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL,
    reason="KK_TEST_POSTGRES_URL is not set: no PostgreSQL server configured "
    "(.ci/run starts one on 127.0.0.1 and sets it)",
)


def test_two_worker_processes_share_one_postgres_study(projects_dir: Path) -> None:
    paths = make_tiny_project(projects_dir, "pg")
    project = open_project("pg", projects_dir)
    cfg = project.config()
    data.fetch(project, cfg, from_dir=paths["mirror"])
    folds.assign_project_folds(project, cfg)
    study_name = f"kk-test-{uuid.uuid4().hex[:12]}"
    try:
        first = tuning.tune(
            project, cfg, n_trials=8, workers=2, storage=POSTGRES_URL, study_name=study_name
        )
        # A second command (another machine, in real use) joins the same study.
        second = tuning.tune(
            project, cfg, n_trials=3, storage=POSTGRES_URL, study_name=study_name, seed=5
        )
        study = optuna.load_study(study_name=study_name, storage=tuning._with_driver(POSTGRES_URL))
        trials = study.get_trials()
        assert (first.n_new, second.n_new) == (8, 3)
        assert sorted(t.number for t in trials) == list(range(11))  # none lost or duplicated
        assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
        assert len({t.user_attrs["kk_worker"] for t in trials[:8]}) == 2
        assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == 11
        assert not (project.root / "studies").exists()  # nothing written to the journal
        assert second.summary()["n_trials"] == 11
    finally:
        optuna.delete_study(study_name=study_name, storage=tuning._with_driver(POSTGRES_URL))
