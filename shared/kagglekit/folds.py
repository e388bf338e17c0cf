"""Fold assignment: done once per project, saved with a content hash, read by everyone.

The fold file ``data/folds.csv`` has the id column and one column per repeat
(``fold_0``, ``fold_1``, ...) holding the validation fold of each row, or -1 for rows
that are never validated (the first block of a time-series split). Its sha256 is the
fold hash: runs record it, and runs made on different hashes are not comparable.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    ShuffleSplit,
    StratifiedGroupKFold,
    StratifiedKFold,
    StratifiedShuffleSplit,
    TimeSeriesSplit,
)

import kagglekit.atomic as atomic
import kagglekit.recsys.splits as splits
from kagglekit.config import SINGLE_SPLIT_KINDS, CVConfig, ProjectConfig
from kagglekit.errors import KKError
from kagglekit.loaders import load_dataset
from kagglekit.project import Project
from kagglekit.records import list_runs
from kagglekit.tasks import get_task

META_SUFFIX = ".json"


def make_splitter(
    cv: CVConfig, *, repeat: int = 0, stratified: bool = True, test_groups: Any = None
) -> Any:
    """The scikit-learn splitter for one repeat of ``cv`` (seed ``cv.seed + repeat``)."""
    seed = cv.seed + repeat
    if cv.kind == "kfold":
        return KFold(cv.n_splits, shuffle=True, random_state=seed)
    if cv.kind == "stratified":
        return StratifiedKFold(cv.n_splits, shuffle=True, random_state=seed)
    if cv.kind == "group":
        return GroupKFold(cv.n_splits, shuffle=True, random_state=seed)
    if cv.kind == "stratified_group":
        return StratifiedGroupKFold(cv.n_splits, shuffle=True, random_state=seed)
    if cv.kind == "matched_group":
        return MatchedGroupKFold(cv.n_splits, test_groups=test_groups, random_state=seed)
    if cv.kind.startswith("user_"):
        if cv.kind == "user_holdout":
            return splits.UserHoldout(cv.valid_size, random_state=seed)
        if cv.kind == "user_kfold":
            return splits.UserKFold(cv.n_splits, random_state=seed)
        return splits.UserLastN(cv.n_last)
    if cv.kind == "holdout":
        # One split: a CNN trained five times on a CPU is rarely what a user wants.
        cls = StratifiedShuffleSplit if stratified else ShuffleSplit
        return cls(1, test_size=cv.valid_size, random_state=seed)
    return TimeSeriesSplit(cv.n_splits)


class MatchedGroupKFold:
    """K-fold whose validation rows have labelled group-mates as often as the test rows do.

    When groups (a family, a ticket, a patient, a user) span train and test, a test row is
    scored with every labelled member of its group in the training data, while under
    ``KFold`` a validation row loses the mates that share its fold and under
    ``GroupKFold`` it loses all of them. This splitter measures, on the test rows, the
    share that has at least one labelled group-mate in train, and gives the validation
    rows the same share: a random subset of the multi-row train groups is "spread" (its
    rows go to different folds, so each validation row sees its mates in the other
    folds), the other groups are kept whole in one fold (no labelled mate), chosen until
    the share of rows in spread groups is as close to the test share as the group sizes
    allow. Rows (spread) and whole groups (kept) are then placed greedily, largest first,
    in the fold that keeps every class's share closest to even (stratified by ``y``).
    With no test row in a train group it behaves like ``StratifiedGroupKFold``; when every
    test row has labelled mates it spreads every group.

    Parameters
    ----------
    n_splits : int
        Number of folds (at least 2).
    test_groups : array-like of shape (n_test,)
        The group of every test row; missing values count as a group of one.
    random_state : int or None
        Seed of the choice of groups and of the tie-breaking order.

    Examples
    --------
    >>> groups = np.array(["a", "a", "b", "b", "c", "d"])
    >>> cv = MatchedGroupKFold(2, test_groups=np.array(["a", "e"]), random_state=0)
    >>> [len(v) for _, v in cv.split(np.zeros((6, 1)), np.array([0, 1, 0, 1, 0, 1]), groups)]
    [3, 3]
    """

    def __init__(self, n_splits: int = 5, *, test_groups: Any, random_state: int | None = None):
        self.n_splits = n_splits
        self.test_groups = test_groups
        self.random_state = random_state

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    @staticmethod
    def _codes(train_groups: Any, test_groups: Any) -> tuple[np.ndarray, np.ndarray]:
        """Integer group codes shared by train and test; a missing key is its own group."""
        both = pd.Series(
            np.concatenate(
                [np.asarray(train_groups, dtype=object), np.asarray(test_groups, dtype=object)]
            )
        )
        codes, uniques = pd.factorize(both)
        lone = codes < 0
        codes[lone] = len(uniques) + np.arange(int(lone.sum()))
        n_train = len(train_groups)
        return codes[:n_train], codes[n_train:]

    def test_share(self, groups: Any) -> float:
        """Share of test rows whose group has at least one row in ``groups`` (train)."""
        train_codes, test_codes = self._codes(groups, self.test_groups)
        return float(np.isin(test_codes, train_codes).mean()) if len(test_codes) else 0.0

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield (train_idx, valid_idx) for each fold; ``groups`` are the train rows' groups."""
        if groups is None:
            raise KKError(
                "MatchedGroupKFold needs the train rows' groups; set cv.group_column in config.toml"
            )
        n_rows = len(groups)
        if self.n_splits < 2 or n_rows < self.n_splits:
            raise KKError(
                f"MatchedGroupKFold needs 2 <= n_splits <= {n_rows} rows; got n_splits={self.n_splits}"
            )
        rng = np.random.default_rng(self.random_state)
        codes, _ = self._codes(groups, self.test_groups)
        labels = np.zeros(n_rows, dtype=np.int64) if y is None else pd.factorize(np.asarray(y))[0]
        n_classes = int(labels.max()) + 1
        sizes = np.bincount(codes)
        multi = np.flatnonzero(sizes >= 2)
        # Spread groups in random order until their rows are the test share of all rows.
        target = self.test_share(groups) * n_rows
        spread: set[int] = set()
        covered = 0
        for g in rng.permutation(multi):
            if abs(covered + sizes[g] - target) < abs(covered - target):
                spread.add(int(g))
                covered += int(sizes[g])
        # Units to place: a kept group is one unit, a spread group's rows are one unit each
        # (with the group remembered, so its rows avoid each other's folds).
        order = rng.permutation(n_rows)
        members: dict[int, list[int]] = {}
        for row in order:
            members.setdefault(int(codes[row]), []).append(int(row))
        units: list[tuple[list[int], int]] = []
        for g, rows in members.items():
            if g in spread:
                units.extend(([r], g) for r in rows)
            else:
                units.append((rows, -1))
        units.sort(key=lambda u: -len(u[0]))  # stable: ties keep the shuffled order
        class_total = np.maximum(np.bincount(labels, minlength=n_classes), 1)
        counts = np.zeros((self.n_splits, n_classes))
        used: dict[int, set[int]] = {}
        fold_of = np.empty(n_rows, dtype=np.int64)
        for rows, g in units:
            add = np.bincount(labels[rows], minlength=n_classes)
            # Per fold: the largest class share after adding the unit, then the fold size.
            cost = ((counts + add) / class_total).max(axis=1) + 1e-9 * counts.sum(axis=1)
            taken = used.get(g, set()) if g >= 0 else set()
            if taken and len(taken) < self.n_splits:
                cost[list(taken)] = np.inf  # a spread group's rows go to different folds
            fold = int(np.argmin(cost))
            fold_of[rows] = fold
            counts[fold] += add
            if g >= 0:
                taken = used.setdefault(g, set())
                taken.add(fold)
                if len(taken) == self.n_splits:
                    taken.clear()
        for fold in range(self.n_splits):
            yield np.flatnonzero(fold_of != fold), np.flatnonzero(fold_of == fold)


def assign_folds(
    train: pd.DataFrame,
    cv: CVConfig,
    *,
    id_column: str,
    target_column: str,
    task: str,
    test: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Assign every row of a train table a validation fold per repeat.

    Returns a frame with ``id_column`` and ``fold_0 .. fold_{n_repeats-1}``. ``test`` is
    read only by ``cv.kind = "matched_group"``, for the test rows' groups.
    """
    task_obj = get_task(task)
    y, _ = task_obj.encode(train[target_column])
    groups = _side_column(train, cv.group_column, "cv.group_column")
    order = _side_column(
        train, cv.order_column if cv.kind == "timeseries" else "", "cv.order_column"
    )
    assignment = assign_fold_arrays(
        len(train),
        cv,
        strata=task_obj.stratify_labels(y),
        groups=groups,
        order=order,
        stratified=task_obj.is_classification,
        test_groups=_test_groups(cv, test),
    )
    return fold_frame(train[id_column], assignment)


def _test_groups(cv: CVConfig, test: pd.DataFrame | None) -> np.ndarray | None:
    """The test rows' groups, for ``matched_group`` folds (None for other schemes)."""
    if cv.kind != "matched_group":
        return None
    if test is None or cv.group_column not in test.columns:
        raise KKError(f"cv.kind 'matched_group' needs column '{cv.group_column}' in test too")
    return test[cv.group_column].to_numpy()


def _side_column(train: pd.DataFrame, name: str, key: str) -> np.ndarray | None:
    if not name:
        return None
    if name not in train.columns:
        raise KKError(f"{key} '{name}' is not a train column; fix it in config.toml")
    return train[name].to_numpy()


def fold_frame(ids: pd.Series, assignment: np.ndarray) -> pd.DataFrame:
    """The fold file's frame: the id column and one ``fold_<repeat>`` column per repeat."""
    out = pd.DataFrame({str(ids.name): ids.to_numpy()})
    for repeat, fold_of in enumerate(assignment):
        out[f"fold_{repeat}"] = fold_of
    return out


def assign_fold_arrays(
    n_rows: int,
    cv: CVConfig,
    *,
    strata: np.ndarray | None = None,
    groups: np.ndarray | None = None,
    order: np.ndarray | None = None,
    stratified: bool = True,
    test_groups: np.ndarray | None = None,
) -> np.ndarray:
    """Validation fold of every row per repeat, from arrays: shape (n_repeats, n_rows).

    Every kind of data (tables, images, texts, interactions) gets its folds here.
    ``strata`` are the labels stratified schemes balance, ``groups`` keep a group in one
    fold, ``order`` sorts rows for time-series folds; -1 marks rows never validated (the
    first block of a time-series split, the training rows of a holdout).
    """
    if cv.kind not in SINGLE_SPLIT_KINDS and n_rows < cv.n_splits:
        raise KKError(f"cv.n_splits={cv.n_splits} is more than the {n_rows} train rows; lower it")
    if cv.kind in ("group", "stratified_group", "matched_group") and groups is None:
        raise KKError(f"cv.kind '{cv.kind}' needs cv.group_column; set it in config.toml")
    if groups is not None and cv.kind not in SINGLE_SPLIT_KINDS:
        n_groups = pd.Series(groups).nunique(dropna=False)
        if n_groups < cv.n_splits:
            raise KKError(
                f"cv.group_column '{cv.group_column}' has {n_groups} groups, fewer than "
                f"cv.n_splits={cv.n_splits}; lower cv.n_splits or choose another column"
            )
    y = np.zeros(n_rows, dtype=np.int64) if strata is None else np.asarray(strata)
    if cv.kind in ("stratified", "stratified_group") or (cv.kind == "holdout" and stratified):
        smallest = int(pd.Series(y).value_counts().min())
        needed = 2 if cv.kind == "holdout" else cv.n_splits
        if smallest < needed:
            raise KKError(
                f"the rarest target class has {smallest} rows, fewer than {needed} "
                f'(cv.kind = {cv.kind!r}); lower cv.n_splits or use cv.kind = "kfold"'
            )
    rows = np.arange(n_rows) if order is None else np.argsort(order, kind="stable")
    assignment = np.full((cv.n_repeats, n_rows), -1, dtype=np.int64)
    X_dummy = np.zeros((n_rows, 1))
    # Only splitters that read groups get them (scikit-learn warns "groups ... ignored" to
    # the others, e.g. a stratified scheme with a group_column kept for `kk folds`' check).
    uses_groups = cv.kind in ("group", "stratified_group", "matched_group") or cv.kind.startswith(
        "user_"
    )
    split_groups = groups[rows] if groups is not None and uses_groups else None
    for repeat in range(cv.n_repeats):
        splitter = make_splitter(cv, repeat=repeat, stratified=stratified, test_groups=test_groups)
        splits = splitter.split(X_dummy[rows], y[rows], split_groups)
        for fold, (_, valid_pos) in enumerate(splits):
            assignment[repeat, rows[valid_pos]] = fold
    return assignment


@dataclass(frozen=True)
class Split:
    """One (repeat, fold) split: positional row indices into train."""

    repeat: int
    fold: int
    train_idx: np.ndarray
    valid_idx: np.ndarray


@dataclass(frozen=True)
class Folds:
    """Saved fold assignment: ``assignment`` has shape (n_repeats, n_rows)."""

    assignment: np.ndarray
    hash: str
    kind: str
    n_splits: int

    @property
    def n_repeats(self) -> int:
        return int(self.assignment.shape[0])

    def splits(self) -> Iterator[Split]:
        """Yield every split, repeat by repeat, fold by fold."""
        for repeat, fold_of in enumerate(self.assignment):
            for fold in range(self.n_splits):
                valid_idx = np.flatnonzero(fold_of == fold)
                if self.kind == "timeseries":
                    # Expanding window: train on everything before this block (fold < k).
                    train_idx = np.flatnonzero(fold_of < fold)
                elif self.kind in SINGLE_SPLIT_KINDS:
                    train_idx = np.flatnonzero(fold_of != fold)
                else:
                    train_idx = np.flatnonzero((fold_of != fold) & (fold_of >= 0))
                yield Split(repeat, fold, train_idx, valid_idx)

    def split(
        self, X: Any = None, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """scikit-learn splitter protocol over the saved folds (all repeats)."""
        for s in self.splits():
            yield s.train_idx, s.valid_idx

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits * self.n_repeats

    def validated_mask(self, repeat: int = 0) -> np.ndarray:
        """Rows that get an out-of-fold prediction in ``repeat``."""
        return np.asarray(self.assignment[repeat] >= 0)


def _frame_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.StringIO()
    frame.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def save_folds(project: Project, frame: pd.DataFrame, cv: CVConfig) -> str:
    """Write ``data/folds.csv`` and its metadata atomically; return the fold hash."""
    payload = _frame_bytes(frame)
    digest = hashlib.sha256(payload).hexdigest()
    atomic.write_bytes(project.folds_path, payload)
    meta = {
        "hash": digest,
        "cv": cv.model_dump(),
        "n_rows": len(frame),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    atomic.write_json(project.folds_path.with_suffix(META_SUFFIX), meta)
    return digest


def folds_meta(project: Project) -> dict[str, Any] | None:
    """The saved fold metadata, or None when folds were never assigned."""
    path = project.folds_path.with_suffix(META_SUFFIX)
    if not path.exists():
        return None
    try:
        meta = json.loads(path.read_text())
        if not isinstance(meta, dict) or not isinstance(meta.get("cv"), dict) or "hash" not in meta:
            raise ValueError("no hash or cv table")
    except (OSError, ValueError) as err:
        raise KKError(
            f"{path} cannot be read ({err}); run `kk folds {project.name} --force` "
            "to assign folds again"
        ) from None
    return meta


def load_folds(project: Project, *, ids: pd.Series, id_column: str) -> Folds:
    """Read the saved folds, check their hash and that they cover exactly ``ids`` in order."""
    meta = folds_meta(project)
    if meta is None or not project.folds_path.exists():
        raise KKError(f"project '{project.name}' has no folds yet; run `kk folds {project.name}`")
    digest = atomic.sha256_file(project.folds_path)
    if digest != meta["hash"]:
        raise KKError(
            f"{project.folds_path} was changed after it was written (hash {digest[:12]} != "
            f"{meta['hash'][:12]}); run `kk folds {project.name} --force` to assign folds again"
        )
    frame = pd.read_csv(project.folds_path)
    if (
        id_column not in frame.columns
        or len(frame) != len(ids)
        or not np.array_equal(frame[id_column].to_numpy(), ids.to_numpy())
    ):
        raise KKError(
            f"{project.folds_path} does not match the train rows (ids differ); "
            f"run `kk folds {project.name} --force`"
        )
    fold_cols = sorted(
        (c for c in frame.columns if c.startswith("fold_")), key=lambda c: int(c[5:])
    )
    cv = meta["cv"]
    return Folds(
        assignment=frame[fold_cols].to_numpy(dtype=np.int64).T,
        hash=digest,
        kind=cv["kind"],
        n_splits=1 if cv["kind"] in SINGLE_SPLIT_KINDS else int(cv["n_splits"]),
    )


@dataclass(frozen=True)
class FoldAssignment:
    """What ``kk folds`` did: the hash, whether it changed, and runs it made incomparable.

    ``group_mates``: (validation share, test share) from :func:`group_mate_shares` where
    ``cv.group_column`` is also a test column (not for time-series or user_* folds), else
    None.
    """

    hash: str
    changed: bool
    incomparable_runs: list[str]
    group_mates: tuple[float, float] | None = None


def group_mate_shares(assignment: np.ndarray, groups: Any, test_groups: Any) -> tuple[float, float]:
    """How often a validation row and a test row have a labelled group-mate.

    Returns (the share of validation rows whose group has a row among their fold's other
    rows, averaged over repeats; the share of test rows whose group has a train row).
    Where groups span train and test (a ticket, a family, a user), a model that learns
    from group-mates scores validation rows as it will score test rows only if the two
    shares are alike: ``kk folds`` prints them so the user can choose the scheme
    (``matched_group`` makes them alike, ``stratified_group`` sets the first to 0).

    >>> a = np.array([[0, 0, 1, 1, 2, 2]])
    >>> group_mate_shares(a, ["x", "x", "y", "z", "z", "z"], ["x", "v"])
    (0.5, 0.5)
    """
    train_codes, _ = MatchedGroupKFold._codes(groups, test_groups)
    shares = []
    for fold_of in np.atleast_2d(assignment):
        has = np.zeros(len(train_codes), dtype=bool)
        for k in np.unique(fold_of[fold_of >= 0]):
            valid = fold_of == k
            has[valid] = np.isin(train_codes[valid], train_codes[~valid])
        shares.append(has[fold_of >= 0].mean())
    test_share = MatchedGroupKFold(2, test_groups=test_groups).test_share(groups)
    return float(np.mean(shares)), test_share


def assign_project_folds(
    project: Project, cfg: ProjectConfig, *, force: bool = False
) -> FoldAssignment:
    """Assign and save a project's folds once.

    Re-running with the same config and data gives the same hash and changes nothing.
    Replacing folds that existing runs used is refused unless ``force``; then the result
    names the runs that are no longer comparable with new ones.
    """
    dataset = load_dataset(project, cfg)
    task = get_task(cfg.competition.task)
    y, _ = task.encode(dataset.target, classes=dataset.classes)
    cv = cfg.cv
    assignment = assign_fold_arrays(
        len(y),
        cv,
        strata=task.stratify_labels(y),
        groups=dataset.column(cv.group_column) if cv.group_column else None,
        order=dataset.column(cv.order_column)
        if cv.kind in ("timeseries", "user_last") and cv.order_column
        else None,
        stratified=task.is_classification,
        test_groups=_test_groups(cv, dataset.test_side),
    )
    frame = fold_frame(dataset.ids, assignment)
    new_hash = hashlib.sha256(_frame_bytes(frame)).hexdigest()
    try:
        meta = folds_meta(project)
    except KKError:
        if not force:
            raise
        meta = None  # a damaged metadata file: --force writes both files again
    old_hash = meta["hash"] if meta else None
    on_disk = atomic.sha256_file(project.folds_path) if project.folds_path.exists() else None
    mates = None
    test_side = dataset.test_side
    # Only where a fold trains on every other row: time-series folds train on the past
    # alone, and the user_* kinds split within each user by design.
    mates_apply = cv.kind != "timeseries" and not cv.kind.startswith("user_")
    if mates_apply and cv.group_column and cv.group_column in test_side.columns:
        mates = group_mate_shares(
            assignment, dataset.column(cv.group_column), test_side[cv.group_column].to_numpy()
        )
    if old_hash == new_hash and on_disk == new_hash:
        return FoldAssignment(new_hash, changed=False, incomparable_runs=[], group_mates=mates)
    # Same hash but an edited file: rewriting restores the folds the runs used.
    users = (
        []
        if old_hash == new_hash
        else [
            r.run_id for r in list_runs(project.runs_dir) if r.record.get("fold_hash") == old_hash
        ]
    )
    if users and not force:
        raise KKError(
            f"{len(users)} run(s) used the current folds ({', '.join(users[:3])}); replacing them makes "
            f"new runs incomparable with those: rerun with --force if you mean it"
        )
    save_folds(project, frame, cfg.cv)
    return FoldAssignment(new_hash, changed=True, incomparable_runs=users, group_mates=mates)
