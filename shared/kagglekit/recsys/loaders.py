"""The ``interactions`` loader: (user, item, rating, timestamp) rows as one ``Dataset``.

Formats (``data.params.format``):

- ``movielens100k``: GroupLens ml-100k ``u.data`` (tab-separated user, item, rating, unix
  seconds), with ``u.item`` titles when present;
- ``movielens_latest``: ml-latest(-small) ``ratings.csv`` (``userId,movieId,rating,
  timestamp``), with ``movies.csv`` titles when present;
- ``csv`` (the default): any Kaggle-style interactions CSV, columns named by
  ``data.params.user_column`` / ``item_column`` / ``rating_column`` (empty = implicit
  feedback, every row counts 1) / ``timestamp_column`` (empty = none).

Both competition shapes come from the test file: a test file with the item column is a
list of (user, item) rows to rate (``competition.task = "regression"``); one without is
a list of users to recommend for (``competition.task = "ranking"``). Without a test file
(MovieLens), ``data.params.test_last_n = n`` holds out each user's n most recent
interactions as the test rows, with their ratings as the local solution (``kk score``),
and ``ranking`` tasks recommend for every user.

Rows are ``X`` = int64 array (n, 2) of (user code, item code), codes shared by train and
test (a test-only user or item gets a code with no training rows: cold start); a users
test row has item -1. ``info`` carries ``n_users``, ``n_items``, ``rating_scale``
(``[low, high]``), ``rating_step`` (0.5 for half stars; None when the ratings are not on
a grid), ``rating_scale_from`` (``"config"`` or ``"data"``), ``implicit`` and ``seen`` (a
CSR users x items matrix of every train interaction, so a recommendation for the test
users leaves out what they already have).

Rating scale: ``data.params.rating_scale = [low, high]`` when given (a rating outside it
is an error); otherwise read from the train file's ratings (lowest, highest and the grid
step), so half stars (0.5-5) and 1-10 scales need no setting. Rating predictions are
clipped to it.

A blank user or item id is an error naming the column (pandas would code it -1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kagglekit.data.tables import read_table
from kagglekit.errors import KKError, plain, short_list
from kagglekit.loaders import (
    Dataset,
    Loader,
    check_params,
    default_sample_submission,
    param,
    register_loader,
)
from kagglekit.metrics import get_metric, k_of
from kagglekit.tasks import get_task

if TYPE_CHECKING:
    from kagglekit.config import ProjectConfig
    from kagglekit.project import Project

log = logging.getLogger(__name__)

FORMATS = {
    # format -> (train file, item-names file, columns, separator); no scale: read from the data
    "movielens100k": ("u.data", "u.item", ("user_id", "item_id", "rating", "timestamp"), "\t"),
    "movielens_latest": (
        "ratings.csv",
        "movies.csv",
        ("userId", "movieId", "rating", "timestamp"),
        ",",
    ),
}
PARAMS = {
    "format",
    "user_column",
    "item_column",
    "rating_column",
    "timestamp_column",
    "rating_scale",
    "test_last_n",
    "items_file",
}


def _format(cfg: ProjectConfig) -> str:
    fmt = str(param(cfg, "format", "csv", kind=str))
    if fmt not in (*FORMATS, "csv"):
        raise KKError(
            f"data.params.format = {fmt!r} is not known; use one of csv, {', '.join(FORMATS)}"
        )
    return fmt


def _train_file(cfg: ProjectConfig) -> str:
    fmt = _format(cfg)
    return FORMATS[fmt][0] if fmt in FORMATS else cfg.competition.train_file


def _has_test_file(cfg: ProjectConfig) -> bool:
    return _format(cfg) == "csv" and not int(param(cfg, "test_last_n", 0, kind=int))


def _required(cfg: ProjectConfig) -> list[str]:
    files = [_train_file(cfg)]
    if _has_test_file(cfg):
        files.append(cfg.competition.test_file)
    return files


def _columns(cfg: ProjectConfig) -> tuple[str, str, str, str]:
    fmt = _format(cfg)
    user, item, rating, ts = FORMATS[fmt][2] if fmt in FORMATS else ("", "", "", "")
    return (
        str(param(cfg, "user_column", user or None, kind=str)),
        str(param(cfg, "item_column", item or None, kind=str)),
        str(param(cfg, "rating_column", rating, kind=str)),
        str(param(cfg, "timestamp_column", ts, kind=str)),
    )


def _read(project: Project, cfg: ProjectConfig, name: str) -> pd.DataFrame:
    fmt = _format(cfg)
    path = project.raw_dir / name
    if fmt == "movielens100k" and name == FORMATS[fmt][0]:
        return pd.read_csv(path, sep="\t", header=None, names=list(FORMATS[fmt][2]))
    return read_table(path)


def _need_column(frame: pd.DataFrame, column: str, key: str, file: str) -> None:
    if column not in frame.columns:
        raise KKError(
            f"data.params.{key} '{column}' is not a column of {file} (columns: "
            f"{short_list(frame.columns)}); fix data.params.{key} in config.toml"
        )


def parse_timestamps(values: pd.Series, column: str, file: str) -> np.ndarray:
    """Seconds since 1970 as int64 from unix numbers or date strings; bad values are an error."""
    if pd.api.types.is_numeric_dtype(values):
        bad = values.isna()
        seconds = values
    else:
        parsed = pd.to_datetime(values, errors="coerce", utc=True, format="mixed")
        bad = parsed.isna()
        seconds = (parsed - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)
    if bad.any():
        first = plain(values[bad].iloc[0])
        raise KKError(
            f"timestamp column '{column}' of {file} has {int(bad.sum())} value(s) that do not "
            f"parse as dates or unix seconds (first: {first!r} in row {int(np.flatnonzero(bad)[0])}); "
            'fix the data, or set data.params.timestamp_column = "" to load without times'
        )
    return np.asarray(seconds, dtype=np.int64)


def check_ratings(ratings: np.ndarray, scale: tuple[float, float] | None, column: str) -> None:
    """Ratings must be numbers inside the declared scale (None: any numbers)."""
    if np.isnan(ratings).any():
        raise KKError(
            f"rating column '{column}' has {int(np.isnan(ratings).sum())} missing or "
            f"non-numeric value(s) of {len(ratings)} (first: row "
            f"{int(np.flatnonzero(np.isnan(ratings))[0])}); drop those rows or fill them"
        )
    if scale is None:
        return
    low, high = scale
    outside = (ratings < low) | (ratings > high)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise KKError(
            f"rating column '{column}' has {int(outside.sum())} value(s) outside the declared "
            f"scale [{low:g}, {high:g}] (first: {ratings[row]:g} in row {row}; the ratings "
            f"go from {ratings.min():g} to {ratings.max():g}); fix the data or "
            "data.params.rating_scale (remove it to read the scale from the ratings)"
        )


def check_ids(values: pd.Series, column: str, key: str, file: str) -> None:
    """Every row names its user and item: pandas would code a blank id as -1."""
    missing = values.isna()
    if not pd.api.types.is_numeric_dtype(values):  # text ids: a cell of spaces is blank too
        missing |= values.astype(str).str.strip().eq("")
    blank = missing.to_numpy(dtype=bool)
    if blank.any():
        raise KKError(
            f"data.params.{key} '{column}' of {file} is blank in {int(blank.sum())} of "
            f"{len(values)} row(s) (first: row {int(np.flatnonzero(blank)[0])}); drop those "
            "rows or fill the ids before loading"
        )


def check_duplicates(users: pd.Series, items: pd.Series, file: str) -> None:
    """One interaction per (user, item) pair: a duplicate would count twice and leak."""
    dupes = pd.DataFrame({"u": users.to_numpy(), "i": items.to_numpy()}).duplicated()
    if dupes.any():
        row = int(np.flatnonzero(dupes.to_numpy())[0])
        raise KKError(
            f"{file} has {int(dupes.sum())} duplicate (user, item) pair(s) (first: user "
            f"{plain(users.iloc[row])!r}, item {plain(items.iloc[row])!r} in row {row}); keep one row per "
            "pair (e.g. the latest rating) before loading"
        )


@dataclass(frozen=True)
class RatingScale:
    """The ratings' range, their grid step (None: not on a grid) and where it came from."""

    low: float
    high: float
    step: float | None
    source: str  # "config" or "data"

    def describe(self) -> str:
        step = f" in steps of {self.step:g}" if self.step else ""
        origin = "data.params.rating_scale" if self.source == "config" else "the training ratings"
        return f"{self.low:g} to {self.high:g}{step} (from {origin})"


def rating_step(ratings: np.ndarray) -> float | None:
    """The grid the ratings lie on (1 for stars, 0.5 for half stars), or None.

    The greatest common divisor of the distinct ratings' gaps, found on integers in
    thousandths; ratings with finer parts (a mean, a score) are on no grid.
    """
    values = np.unique(ratings)
    if len(values) < 2:
        return None
    milli = (values - values[0]) * 1000
    if not np.allclose(milli, np.round(milli), atol=1e-6):
        return None
    return float(np.gcd.reduce(np.round(milli).astype(np.int64))) / 1000


def _declared_scale(cfg: ProjectConfig) -> tuple[float, float] | None:
    """``data.params.rating_scale`` as (low, high), checked; None when not given."""
    raw = cfg.data.params.get("rating_scale")
    if raw is None:
        return None
    if not (
        isinstance(raw, list)
        and len(raw) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
    ):
        raise KKError(
            f"data.params.rating_scale = {raw!r} should be [low, high] (e.g. [0.5, 5]); "
            "fix config.toml, or remove it to read the scale from the ratings"
        )
    if raw[0] >= raw[1]:
        raise KKError(f"data.params.rating_scale = {raw!r}: low must be below high")
    return (float(raw[0]), float(raw[1]))


def rating_scale(ratings: np.ndarray, declared: tuple[float, float] | None) -> RatingScale:
    """The declared scale, else the one the ratings show (their lowest and highest).

    Reading it from the data is what lets half stars (MovieLens latest: 0.5-5) and 1-10
    scales run with no setting; ``check_ratings`` has refused ratings outside a declared one.
    """
    step = rating_step(ratings)
    if declared is None:
        return RatingScale(float(ratings.min()), float(ratings.max()), step, "data")
    return RatingScale(declared[0], declared[1], step, "config")


def _last_n(users: np.ndarray, times: np.ndarray, n: int) -> np.ndarray:
    """Mask of each user's ``n`` most recent rows (ties broken by row order)."""
    order = np.lexsort((np.arange(len(users)), times, users))
    sorted_users = users[order]
    # position from the end inside each user's block
    ends = np.r_[np.flatnonzero(np.diff(sorted_users)) + 1, len(users)]
    starts = np.r_[0, ends[:-1]]
    sizes = ends - starts
    pos_from_end = np.repeat(ends, sizes) - np.arange(len(users)) - 1
    mask = np.zeros(len(users), dtype=bool)
    # a user keeps at least one training row
    keep = pos_from_end < np.minimum(n, np.repeat(sizes, sizes) - 1)
    mask[order[keep]] = True
    return mask


def load_interactions(project: Project, cfg: ProjectConfig) -> Dataset:
    """Interactions as (user, item) pair rows; see the module docstring."""
    check_params(cfg, PARAMS)
    comp = cfg.competition
    user_col, item_col, rating_col, ts_col = _columns(cfg)
    frame, ratings, times, scale = _read_train(project, cfg)

    n_last = int(param(cfg, "test_last_n", 0, kind=int))
    test_frame: pd.DataFrame | None = None
    solution_values: np.ndarray | None = None
    if _has_test_file(cfg):
        test_frame = _read(project, cfg, comp.test_file)
        _need_column(test_frame, user_col, "user_column", comp.test_file)
        check_ids(test_frame[user_col], user_col, "user_column", comp.test_file)
        if item_col in test_frame.columns:
            check_ids(test_frame[item_col], item_col, "item_column", comp.test_file)
    elif n_last > 0:
        user_codes_all = pd.factorize(frame[user_col])[0]
        held = _last_n(user_codes_all, times, n_last)
        test_frame = frame[held].reset_index(drop=True)
        solution_values = ratings[held]
        frame, ratings, times = frame[~held].reset_index(drop=True), ratings[~held], times[~held]
    pairs_test = test_frame is not None and item_col in test_frame.columns
    ranking = get_task(comp.task).predicts_lists  # lists of items per user, not ratings
    _check_test_shape(cfg, ranking=ranking, pairs_test=pairs_test, n_last=n_last)

    codes = _Codes.of(frame, test_frame, user_col, item_col, pairs_test=pairs_test)
    if ranking:
        _check_k(comp.metric, len(codes.item_index))
    X = np.column_stack([codes.users, codes.items]).astype(np.int64)
    X_test, test_ids = _test_rows(cfg, codes, test_frame, ranking=ranking, pairs_test=pairs_test)
    ids = (
        pd.Series(frame[comp.id_column].to_numpy(), name=comp.id_column)
        if comp.id_column in frame.columns and comp.id_column not in (user_col, item_col)
        else pd.Series(np.arange(len(frame)), name=comp.id_column)
    )
    side = pd.DataFrame(
        {user_col: frame[user_col].to_numpy(), item_col: frame[item_col].to_numpy()}
    )
    side[ts_col or "order"] = times
    info = _info(codes, scale, implicit=not rating_col)
    sample = _sample(project, cfg, test_ids, ranking)
    solution = _solution(cfg, codes, test_frame, test_ids, solution_values, ranking=ranking)
    if ranking:
        target: Any = pd.DataFrame({"user": codes.users, "item": codes.items, "relevance": ratings})
    else:
        target = pd.Series(ratings, name=comp.target_column)
    return Dataset(
        kind="pairs",
        X=X,
        X_test=X_test,
        target=target,
        ids=ids,
        test_ids=test_ids,
        sample_submission=sample,
        classes=[_plain(v) for v in codes.item_index] if ranking else None,
        side=side,
        info=info,
        solution=solution,
    )


def _read_train(
    project: Project, cfg: ProjectConfig
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, RatingScale]:
    """The train file, checked: (rows, ratings, timestamps or row order, rating scale)."""
    train_name = _train_file(cfg)
    user_col, item_col, rating_col, ts_col = _columns(cfg)
    frame = _read(project, cfg, train_name)
    if frame.empty:
        raise KKError(f"{train_name} has no rows; fetch the data again (kk fetch)")
    for column, key in ((user_col, "user_column"), (item_col, "item_column")):
        _need_column(frame, column, key, train_name)
    for column, key in ((rating_col, "rating_column"), (ts_col, "timestamp_column")):
        if column:
            _need_column(frame, column, key, train_name)
    implicit = not rating_col
    ratings = (
        np.ones(len(frame))
        if implicit
        else pd.to_numeric(frame[rating_col], errors="coerce").to_numpy(float)
    )
    check_ids(frame[user_col], user_col, "user_column", train_name)
    check_ids(frame[item_col], item_col, "item_column", train_name)
    declared = _declared_scale(cfg)
    check_ratings(ratings, declared, rating_col or "(implicit)")
    scale = rating_scale(ratings, declared)
    if not implicit:
        log.info("rating scale: %s", scale.describe())
    check_duplicates(frame[user_col], frame[item_col], train_name)
    times = parse_timestamps(frame[ts_col], ts_col, train_name) if ts_col else np.arange(len(frame))
    return frame, ratings, times, scale


def _check_test_shape(cfg: ProjectConfig, *, ranking: bool, pairs_test: bool, n_last: int) -> None:
    """The test rows fit the task: users to recommend for, or (user, item) rows to rate."""
    comp = cfg.competition
    item_col = _columns(cfg)[1]
    if ranking and pairs_test and n_last == 0:
        raise KKError(
            f"task 'ranking' but {comp.test_file} has an item column '{item_col}' (rows to "
            'rate); set competition.task = "regression", or give a test file of users only'
        )
    if not ranking and not pairs_test:
        raise KKError(
            f"task '{comp.task}' needs (user, item) test rows to rate, but there is no test file "
            f"with column '{item_col}'; set competition.task = \"ranking\" to recommend lists, "
            "or data.params.test_last_n"
        )


@dataclass(frozen=True)
class _Codes:
    """User and item codes over train and test together (a test-only id: no train rows)."""

    users: np.ndarray  # (n_train,)
    items: np.ndarray  # (n_train,)
    test_users: np.ndarray  # (n_test,) one per test row, repeats kept
    test_items: np.ndarray  # (n_test,) or (0,) when the test rows are users
    user_index: pd.Index  # code -> user id
    item_index: pd.Index  # code -> item id

    @classmethod
    def of(
        cls,
        frame: pd.DataFrame,
        test_frame: pd.DataFrame | None,
        user_col: str,
        item_col: str,
        *,
        pairs_test: bool,
    ) -> _Codes:
        """Codes of the train rows, the test users and (``pairs_test``) the test items."""
        test_users = (
            test_frame[user_col] if test_frame is not None else pd.Series(frame[user_col].unique())
        )
        user_keys, user_index = pd.factorize(
            pd.concat([frame[user_col], test_users], ignore_index=True)
        )
        test_items = (
            test_frame[item_col]
            if (test_frame is not None and pairs_test)
            else frame[item_col].iloc[:0]
        )
        item_keys, item_index = pd.factorize(
            pd.concat([frame[item_col], test_items], ignore_index=True)
        )
        n = len(frame)
        return cls(
            user_keys[:n], item_keys[:n], user_keys[n:], item_keys[n:], user_index, item_index
        )


def _check_k(metric: str, n_items: int) -> None:
    """A ``map@K`` metric cannot ask for more items than the catalogue has."""
    k = k_of(metric)
    if k > n_items:
        raise KKError(
            f"metric {get_metric(metric).name} asks for {k} items per user but the "
            f'catalogue has {n_items}; lower k (competition.metric = "map@{n_items}" at most)'
        )


def _test_rows(
    cfg: ProjectConfig,
    codes: _Codes,
    test_frame: pd.DataFrame | None,
    *,
    ranking: bool,
    pairs_test: bool,
) -> tuple[np.ndarray, pd.Series]:
    """``X_test`` (a users row has item -1) and the test ids."""
    comp = cfg.competition
    if ranking:
        test_user_codes = codes.test_users
        if pairs_test:  # test_last_n with ranking: recommend for each held-out user once
            test_user_codes = pd.unique(test_user_codes)
        X_test = np.column_stack([test_user_codes, np.full(len(test_user_codes), -1)]).astype(
            np.int64
        )
        test_ids = pd.Series(codes.user_index[test_user_codes], name=comp.id_column)
        if pd.Series(test_ids).duplicated().any():
            raise KKError(f"{comp.test_file} lists a user more than once; list each user once")
        return X_test, test_ids
    X_test = np.column_stack([codes.test_users, codes.test_items]).astype(np.int64)
    if test_frame is not None and comp.id_column in test_frame.columns:
        test_ids = pd.Series(test_frame[comp.id_column].to_numpy(), name=comp.id_column)
    else:
        test_ids = pd.Series(np.arange(len(X_test)), name=comp.id_column)
    return X_test, test_ids


def _info(codes: _Codes, scale: RatingScale, *, implicit: bool) -> dict[str, Any]:
    """``Dataset.info``: sizes, rating scale, implicit, and ``seen`` (users x items CSR)."""
    import scipy.sparse as sp

    n_users, n_items = len(codes.user_index), len(codes.item_index)
    seen = sp.csr_matrix(
        (np.ones(len(codes.users)), (codes.users, codes.items)),
        shape=(n_users, n_items),
        dtype=np.float32,
    )
    return {
        "n_users": n_users,
        "n_items": n_items,
        "rating_scale": [scale.low, scale.high],
        "rating_step": scale.step,
        "rating_scale_from": scale.source,
        "implicit": implicit,
        "seen": seen,
    }


def _solution(
    cfg: ProjectConfig,
    codes: _Codes,
    test_frame: pd.DataFrame | None,
    test_ids: pd.Series,
    values: np.ndarray | None,
    *,
    ranking: bool,
) -> pd.DataFrame | None:
    """The held-out rows' local solution (``kk score``): ratings, or each user's items."""
    comp = cfg.competition
    if values is not None and not ranking:
        return pd.DataFrame({comp.id_column: test_ids.to_numpy(), comp.target_column: values})
    if values is None or test_frame is None:
        return None
    item_col = _columns(cfg)[1]
    lists = (
        pd.DataFrame(
            {"u": codes.user_index[codes.test_users], "i": test_frame[item_col].astype(str)}
        )
        .groupby("u", sort=False)["i"]
        .agg(" ".join)
    )
    return pd.DataFrame(
        {
            comp.id_column: test_ids.to_numpy(),
            comp.target_column: lists.loc[test_ids].to_numpy(),
        }
    )


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _sample(
    project: Project, cfg: ProjectConfig, test_ids: pd.Series, ranking: bool
) -> pd.DataFrame:
    path: Path = project.raw_dir / cfg.competition.sample_submission_file
    if _format(cfg) == "csv" and path.is_file():
        return read_table(path)
    return default_sample_submission(
        test_ids, cfg.competition.target_column, "" if ranking else 0.0
    )


register_loader(
    Loader(
        "interactions",
        load_interactions,
        _required,
        doc="user-item interactions (MovieLens 100k / latest-small, any interactions CSV)",
    )
)
