"""Splitter contracts: every kind validates each row exactly once per repeat, groups are
never split, time never flows backwards, and the saved fold file's hash is what every
consumer checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit import data, folds, records
from kagglekit.config import CVConfig, load_config
from kagglekit.errors import KKError
from kagglekit.project import open_project
from kagglekit.testing import make_tiny_frame, make_tiny_project

KINDS = ["kfold", "stratified", "group", "stratified_group", "timeseries"]


def _frame(n_rows: int = 120) -> pd.DataFrame:
    frame = make_tiny_frame(n_rows, seed=3)
    frame["grp"] = np.arange(n_rows) % 17  # 17 groups of 7-8 rows
    # A time column in shuffled file order, so ordering by it is not the file order.
    frame["day"] = np.random.default_rng(0).permutation(n_rows)
    return frame


def _cv(kind: str, **extra: object) -> CVConfig:
    group = "grp" if "group" in kind else ""
    order = "day" if kind == "timeseries" else ""
    return CVConfig(kind=kind, n_splits=4, group_column=group, order_column=order, **extra)  # type: ignore[arg-type]


def _folds(frame: pd.DataFrame, cv: CVConfig) -> folds.Folds:
    assigned = folds.assign_folds(frame, cv, id_column="id", target_column="target", task="binary")
    cols = [f"fold_{r}" for r in range(cv.n_repeats)]
    return folds.Folds(
        assignment=assigned[cols].to_numpy().T, hash="x", kind=cv.kind, n_splits=cv.n_splits
    )


@pytest.mark.parametrize(
    ("kind", "n_repeats"),
    [(k, r) for k in KINDS for r in (1, 2) if not (k == "timeseries" and r > 1)],
)
def test_each_row_validated_exactly_once_per_repeat(kind: str, n_repeats: int) -> None:
    frame = _frame()
    fold_set = _folds(frame, _cv(kind, n_repeats=n_repeats))
    assert fold_set.n_repeats == n_repeats
    assert fold_set.get_n_splits() == 4 * n_repeats
    count = np.zeros((n_repeats, len(frame)), dtype=int)
    for split in fold_set.splits():
        assert len(np.intersect1d(split.train_idx, split.valid_idx)) == 0
        assert len(split.valid_idx) > 0 and len(split.train_idx) > 0
        count[split.repeat, split.valid_idx] += 1
    if kind == "timeseries":
        # The first block is only ever trained on; every other row is validated once.
        assert set(np.unique(count)) == {0, 1}
        assert (count[0] == 0).sum() == len(frame) - fold_set.validated_mask(0).sum()
    else:
        assert (count == 1).all()
    # scikit-learn's protocol yields the same splits
    protocol = list(fold_set.split(frame))
    assert len(protocol) == fold_set.get_n_splits()


def test_repeats_differ() -> None:
    fold_set = _folds(_frame(), _cv("stratified", n_repeats=2))
    assert not np.array_equal(fold_set.assignment[0], fold_set.assignment[1])


@pytest.mark.parametrize("kind", ["group", "stratified_group"])
def test_groups_never_split(kind: str) -> None:
    frame = _frame()
    groups = frame["grp"].to_numpy()
    for split in _folds(frame, _cv(kind, n_repeats=2)).splits():
        assert not set(groups[split.train_idx]) & set(groups[split.valid_idx])


def test_timeseries_is_an_expanding_window_that_never_trains_on_the_future() -> None:
    frame = _frame()
    day = frame["day"].to_numpy()
    previous_train: set[int] = set()
    for split in _folds(frame, _cv("timeseries")).splits():
        assert day[split.train_idx].max() < day[split.valid_idx].min()
        # expanding: each fold trains on everything the previous one did, and more
        assert previous_train < set(split.train_idx.tolist())
        previous_train = set(split.train_idx.tolist())


def test_stratified_keeps_class_balance() -> None:
    frame = _frame(200)
    y = frame["target"].to_numpy()
    for split in _folds(frame, _cv("stratified")).splits():
        assert abs(y[split.valid_idx].mean() - y.mean()) < 0.05


def test_bad_cv_configs_are_one_line_errors() -> None:
    frame = _frame()
    with pytest.raises(KKError, match=r"cv.group_column 'nope'"):
        folds.assign_folds(
            frame,
            CVConfig(kind="group", group_column="nope"),
            id_column="id",
            target_column="target",
            task="binary",
        )
    with pytest.raises(KKError, match=r"n_splits=50 is more than the 20"):
        folds.assign_folds(
            frame.head(20),
            CVConfig(n_splits=50),
            id_column="id",
            target_column="target",
            task="binary",
        )
    with pytest.raises(KKError, match=r"rarest target class"):
        rare = frame.head(30).assign(target=[1] * 2 + [0] * 28)
        folds.assign_folds(
            rare, CVConfig(n_splits=5), id_column="id", target_column="target", task="binary"
        )
    with pytest.raises(KKError, match=r"'colour' has 3 groups, fewer than cv.n_splits=4"):
        folds.assign_folds(
            frame,
            CVConfig(kind="stratified_group", group_column="colour", n_splits=4),
            id_column="id",
            target_column="target",
            task="binary",
        )
    with pytest.raises(ValueError, match=r"needs cv.group_column"):
        CVConfig(kind="stratified_group")
    with pytest.raises(ValueError, match=r"cannot be repeated"):
        CVConfig(kind="timeseries", n_repeats=2)


def test_regression_target_can_be_stratified_by_bins() -> None:
    frame = make_tiny_frame(150, task="regression")
    assigned = folds.assign_folds(
        frame,
        CVConfig(kind="stratified", n_splits=3),
        id_column="id",
        target_column="target",
        task="regression",
    )
    assert sorted(assigned["fold_0"].unique()) == [0, 1, 2]


# --- the saved fold file --------------------------------------------------------------


def _ready(projects_dir: Path, **kwargs: object):
    paths = make_tiny_project(projects_dir, "tiny", **kwargs)  # type: ignore[arg-type]
    project = open_project("tiny")
    data.fetch(project, project.config(), from_dir=paths["mirror"])
    return project


def _hash_of(frame: pd.DataFrame) -> str:
    return hashlib.sha256(folds._frame_bytes(frame)).hexdigest()


def test_hash_is_stable_and_changes_with_the_config(projects_dir: Path) -> None:
    project = _ready(projects_dir)
    cfg = project.config()
    first = folds.assign_project_folds(project, cfg)
    assert first.changed and len(first.hash) == 64
    assert first.hash == _hash_of(pd.read_csv(project.folds_path))
    again = folds.assign_project_folds(project, cfg)
    assert again == folds.FoldAssignment(first.hash, changed=False, incomparable_runs=[])
    for override in ("cv.seed=8", "cv.n_splits=4", 'cv.kind="kfold"', "cv.n_repeats=2"):
        other = folds.assign_project_folds(project, project.config([override]))
        assert other.changed and other.hash != first.hash, override
    back = folds.assign_project_folds(project, cfg)
    assert back.hash == first.hash


def test_load_folds_checks_hash_and_ids(projects_dir: Path) -> None:
    project = _ready(projects_dir)
    cfg = project.config()
    with pytest.raises(KKError, match=r"has no folds yet; run `kk folds tiny`"):
        folds.load_folds(project, ids=pd.Series([1]), id_column="id")
    folds.assign_project_folds(project, cfg)
    train = data.load_competition(project, cfg).train
    loaded = folds.load_folds(project, ids=train["id"], id_column="id")
    assert loaded.assignment.shape == (1, len(train))
    assert loaded.kind == "stratified" and loaded.n_splits == 3
    with pytest.raises(KKError, match=r"does not match the train rows"):
        folds.load_folds(project, ids=train["id"].iloc[::-1], id_column="id")
    # Hand-edited fold file: every consumer refuses it.
    text = project.folds_path.read_text().replace(",0\n", ",1\n", 1)
    project.folds_path.write_text(text)
    with pytest.raises(KKError, match=r"was changed after it was written"):
        folds.load_folds(project, ids=train["id"], id_column="id")


def test_kk_folds_force_repairs_a_tampered_fold_file(projects_dir: Path) -> None:
    """The error for an edited fold file says `kk folds --force`; that must then fix it."""
    project = _ready(projects_dir)
    cfg = project.config()
    folds.assign_project_folds(project, cfg)
    train = data.load_competition(project, cfg).train
    text = project.folds_path.read_text().replace(",0\n", ",1\n", 1)
    project.folds_path.write_text(text)
    result = folds.assign_project_folds(project, cfg, force=True)
    assert result.changed
    folds.load_folds(project, ids=train["id"], id_column="id")


def test_replacing_folds_that_runs_used_is_refused_unless_forced(projects_dir: Path) -> None:
    project = _ready(projects_dir)
    cfg = project.config()
    old = folds.assign_project_folds(project, cfg)
    run = records.start_run(project.runs_dir, model="m", repo_dir=project.root, fold_hash=old.hash)
    run.finish("COMPLETE")
    before = project.folds_path.read_bytes()
    new_cfg = project.config(["cv.seed=99"])
    with pytest.raises(
        KKError, match=rf"1 run\(s\) used the current folds \({run.run_id}\).*--force"
    ):
        folds.assign_project_folds(project, new_cfg)
    assert project.folds_path.read_bytes() == before  # nothing written
    forced = folds.assign_project_folds(project, new_cfg, force=True)
    assert forced.changed and forced.incomparable_runs == [run.run_id]
    assert folds.folds_meta(project)["hash"] == forced.hash  # type: ignore[index]


def test_config_from_toml_round_trips_through_fold_meta(projects_dir: Path) -> None:
    project = _ready(projects_dir)
    cfg = load_config(project.config_path)
    folds.assign_project_folds(project, cfg)
    meta = folds.folds_meta(project)
    assert meta is not None and meta["cv"] == cfg.cv.model_dump()
    assert meta["n_rows"] == len(data.load_competition(project, cfg).train)


def test_damaged_fold_metadata_is_one_line_and_force_repairs_it(projects_dir: Path) -> None:
    project = _ready(projects_dir)
    cfg = load_config(project.config_path)
    first = folds.assign_project_folds(project, cfg)
    meta_path = project.folds_path.with_suffix(folds.META_SUFFIX)
    meta_path.write_text("{not json")
    with pytest.raises(KKError, match=r"cannot be read .*kk folds tiny --force"):
        folds.folds_meta(project)
    with pytest.raises(KKError, match=r"cannot be read"):
        folds.assign_project_folds(project, cfg)
    repaired = folds.assign_project_folds(project, cfg, force=True)
    assert repaired.hash == first.hash
    assert folds.folds_meta(project)["hash"] == first.hash  # type: ignore[index]


def test_group_mate_shares_count_validation_and_test_mates() -> None:
    # Folds 0 | 1 | 2 over rows x x | y z | z z: row 3's z-mates are in fold 2, and rows 4-5
    # see row 3; x's mates share its fold, y has none. Test: x has train rows, v has none.
    assignment = np.array([[0, 0, 1, 1, 2, 2], [2, 2, 1, 1, 0, 0]])
    groups = ["x", "x", "y", "z", "z", "z"]
    assert folds.group_mate_shares(assignment, groups, ["x", "v"]) == (0.5, 0.5)
    # Rows never validated (-1, a holdout's training rows) are not counted, but are mates.
    holdout = np.array([[-1, 0, -1, -1, 0, -1]])
    assert folds.group_mate_shares(holdout, groups, []) == (1.0, 0.0)


@pytest.mark.parametrize(
    ("kind", "valid_share"), [("stratified_group", "0.0%"), ("matched_group", "100.0%")]
)
def test_kk_folds_prints_the_group_mate_shares(
    projects_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    valid_share: str,
) -> None:
    from kagglekit.testing import run_kk_inprocess

    project = _ready(projects_dir)  # colour: 3 groups, all of them in test too
    cfg = project.config_path
    cfg.write_text(
        cfg.read_text().replace('kind = "stratified"', f'kind = "{kind}"\ngroup_column = "colour"')
    )
    code, out, err = run_kk_inprocess(capsys, monkeypatch, "folds", "tiny")
    assert code == 0, err
    assert (
        f"labelled 'colour'-mate: {valid_share} of validation rows, 100.0% of test rows"
        in " ".join(out.split())
    )


def test_no_group_mate_line_for_time_series_folds(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Time-series folds train on earlier rows only: "every other row" shares would mislead."""
    from kagglekit.testing import run_kk_inprocess

    project = _ready(projects_dir)
    cfg = project.config_path
    cfg.write_text(
        cfg.read_text().replace(
            'kind = "stratified"',
            'kind = "timeseries"\norder_column = "x1"\ngroup_column = "colour"',
        )
    )
    code, out, err = run_kk_inprocess(capsys, monkeypatch, "folds", "tiny")
    assert code == 0, err
    assert "folds saved" in out and "-mate" not in out
