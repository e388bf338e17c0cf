"""Competition files: fetching them into ``data/raw/`` and loading them, checked.

Raw files are immutable: ``kk fetch`` writes them once (read-only, with a sha256
manifest) and every later load verifies them against that manifest.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import stat
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np
import pandas as pd

from kagglekit import atomic
from kagglekit.config import CompetitionConfig, ProjectConfig
from kagglekit.errors import KKError, plain, short_list
from kagglekit.project import Project

log = logging.getLogger(__name__)

MANIFEST = "MANIFEST.json"
MIRROR_ENV = "KK_DATA_MIRROR"


class DataSource(Protocol):
    """Something that can place a competition's files into a folder."""

    @property
    def description(self) -> str:
        """Where the files come from, for messages and the manifest."""
        ...

    def fetch(self, dest: Path) -> list[Path]:
        """Write the competition files into ``dest`` and return their paths."""
        ...


@dataclass(frozen=True)
class MirrorSource:
    """An offline copy of a competition's files in a local folder."""

    folder: Path

    @property
    def description(self) -> str:
        return f"local mirror {self.folder}"

    def fetch(self, dest: Path) -> list[Path]:
        if not self.folder.is_dir():
            raise KKError(
                f"mirror folder {self.folder} does not exist; pass --from with the folder that "
                f"holds the competition files, or fix {MIRROR_ENV}"
            )
        files = sorted(
            p for p in self.folder.rglob("*") if p.is_file() and not p.name.startswith(".")
        )
        if not files:
            raise KKError(f"mirror folder {self.folder} has no files; check the path")
        written = []
        for src in files:
            target = dest / src.relative_to(self.folder)
            atomic.write_atomic(target, partial(_copy_into, src))
            written.append(target)
        return written


def _copy_into(src: Path, fh: IO[bytes]) -> None:
    with open(src, "rb") as fin:
        shutil.copyfileobj(fin, fh)


def resolve_source(cfg: CompetitionConfig, from_dir: Path | None) -> DataSource:
    """Pick the data source: ``--from`` first, then ``KK_DATA_MIRROR``, then the config's."""
    if from_dir is not None:
        return MirrorSource(Path(from_dir))
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        folder = cfg.source.mirror_folder or cfg.slug or cfg.name
        return MirrorSource(Path(mirror) / folder)
    if cfg.source.kind == "mirror":
        raise KKError(
            f"competition '{cfg.name}' reads a local mirror; pass --from DIR or set {MIRROR_ENV}"
        )
    from kagglekit.sources import remote_source

    return remote_source(cfg)


def fetch(project: Project, cfg: ProjectConfig, *, from_dir: Path | None = None) -> dict[str, str]:
    """Copy the competition's files into ``data/raw/`` once, recording sha256 checksums.

    Returns the manifest ``{relative path: sha256}``. If ``data/raw/`` already holds the
    same files nothing is written; if it holds different ones this refuses (raw data is
    immutable: delete ``data/raw/`` to fetch again).
    """
    source = resolve_source(cfg.competition, from_dir)
    raw = project.raw_dir
    manifest_path = raw / MANIFEST
    if getattr(source, "remote", False) and manifest_path.exists():
        # Downloading costs time and rate limit: files already there and intact are enough.
        existing = verify_raw(project)
        recorded = json.loads(manifest_path.read_text()).get("source")
        log.info("%s already holds the files (from %s); nothing to download", raw, recorded)
        return existing
    staging = raw.parent / ".raw-staging"
    if staging.exists():
        _remove_tree(staging)
    staging.mkdir(parents=True)
    try:
        files = source.fetch(staging)
        fresh = {str(p.relative_to(staging)): atomic.sha256_file(p) for p in files}
        _check_required(_required_files(project, cfg), set(fresh), source.description)
        if manifest_path.exists():
            existing = _read_manifest(manifest_path)
            if existing == fresh:
                log.info("data/raw already matches %s", source.description)
                return existing
            changed = sorted(
                k for k in set(existing) | set(fresh) if existing.get(k) != fresh.get(k)
            )
            raise KKError(
                f"{raw} already holds different files ({', '.join(changed[:3])}) than "
                f"{source.description}; raw data is immutable: delete {raw} to fetch again"
            )
        if raw.exists() and any(raw.iterdir()):
            raise KKError(f"{raw} has files but no {MANIFEST}; delete {raw} and fetch again")
        for path in staging.rglob("*"):
            if path.is_file():
                path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        atomic.write_json(staging / MANIFEST, {"source": source.description, "sha256": fresh})
        if raw.exists():
            raw.rmdir()
        os.replace(staging, raw)
        return fresh
    finally:
        if staging.exists():
            _remove_tree(staging)


def _remove_tree(path: Path) -> None:
    for p in path.rglob("*"):
        if p.is_file():
            p.chmod(stat.S_IWUSR | stat.S_IRUSR)
    shutil.rmtree(path)


def _read_manifest(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text())
    return dict(data["sha256"])


def _required_files(project: Project, cfg: ProjectConfig) -> list[str]:
    """The files the project's loader needs (a project's own loader registers on import)."""
    from kagglekit.loaders import project_loader

    return project_loader(project, cfg.data.loader).required_files(cfg)


def _check_required(required: list[str], names: set[str], where: str) -> None:
    for name in required:
        if name not in names:
            raise KKError(
                f"{where} has no '{name}' (found: {', '.join(sorted(names)[:6])}); "
                "point --from at the competition's folder or fix the file names in config.toml"
            )


def verify_raw(project: Project) -> dict[str, str]:
    """Check ``data/raw/`` against its manifest; raise if a file changed or is missing."""
    manifest_path = project.raw_dir / MANIFEST
    if not manifest_path.exists():
        raise KKError(
            f"{project.raw_dir} has no data; run `kk fetch {project.name} --from DIR` "
            f"(or set {MIRROR_ENV})"
        )
    manifest = _read_manifest(manifest_path)
    for rel, digest in manifest.items():
        path = project.raw_dir / rel
        if not path.exists():
            raise KKError(f"{path} is missing; delete {project.raw_dir} and fetch again")
        if atomic.sha256_file(path) != digest:
            raise KKError(
                f"{path} no longer matches its checksum; raw data is immutable: "
                f"delete {project.raw_dir} and fetch again"
            )
    return manifest


@dataclass
class Competition:
    """The loaded, checked competition frames."""

    train: pd.DataFrame
    test: pd.DataFrame
    sample_submission: pd.DataFrame
    solution: pd.DataFrame | None


def read_table(path: Path) -> pd.DataFrame:
    """Read a competition CSV (gz/zip allowed), with a clear error when it is missing."""
    if not path.exists():
        raise KKError(
            f"data file {path} is missing; run kk fetch or fix the file name in config.toml"
        )
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise KKError(
            f"data file {path} is not a readable CSV ({str(err).strip()}); "
            "check that it is a comma-separated text file"
        ) from None


def load_competition(project: Project, cfg: ProjectConfig, *, verify: bool = True) -> Competition:
    """Load train, test, sample submission and (if configured) solution, and check them."""
    if verify:
        verify_raw(project)
    comp = cfg.competition
    raw = project.raw_dir
    train = read_table(raw / comp.train_file)
    test = read_table(raw / comp.test_file)
    sample = read_table(raw / comp.sample_submission_file)
    solution = read_table(raw / comp.solution_file) if comp.solution_file else None
    test = check_frames(train, test, comp)
    return Competition(train=train, test=test, sample_submission=sample, solution=solution)


def check_frames(train: pd.DataFrame, test: pd.DataFrame, comp: CompetitionConfig) -> pd.DataFrame:
    """Check raw train/test agreement; return ``test`` with columns in train's order.

    Raises on: target missing from train or present in test, id column missing or
    duplicated, or a column set that disagrees between train and test.
    """
    if comp.target_column not in train.columns:
        raise KKError(
            f"target column '{comp.target_column}' is not in train (columns: "
            f"{short_list(train.columns)}); fix competition.target_column"
        )
    if comp.target_column in test.columns:
        raise KKError(
            f"target column '{comp.target_column}' is present in test; the test file must not "
            "contain the answer: check competition.test_file"
        )
    for name, frame in (("train", train), ("test", test)):
        if comp.id_column not in frame.columns:
            raise KKError(
                f"id column '{comp.id_column}' is not in {name}; fix competition.id_column"
            )
        dupes = frame[comp.id_column][frame[comp.id_column].duplicated()]
        if len(dupes):
            raise KKError(
                f"id column '{comp.id_column}' has {len(dupes)} duplicated value(s) in {name} "
                f"(first: {plain(dupes.iloc[0])!r}); ids must be unique"
            )
    if train[comp.target_column].isna().any():
        n_missing = int(train[comp.target_column].isna().sum())
        raise KKError(
            f"target column '{comp.target_column}' has {n_missing} missing value(s) in train"
        )
    expected = [c for c in train.columns if c != comp.target_column]
    missing = [c for c in expected if c not in test.columns]
    extra = [c for c in test.columns if c not in expected]
    if missing or extra:
        raise KKError(
            f"train and test columns disagree: missing from test {missing}, only in test {extra}; "
            "check that both files come from the same competition"
        )
    if list(test.columns) != expected:
        # Same columns, other order: align explicitly so no model ever sees them swapped.
        log.warning("test columns are in a different order than train's; aligning them")
        test = test[expected]
    if pd.api.types.is_float_dtype(train[comp.target_column]) and comp.task != "regression":
        values = train[comp.target_column].to_numpy()
        if not np.all(np.equal(np.mod(values, 1), 0)):
            raise KKError(
                f"target '{comp.target_column}' has fractional values but task is '{comp.task}'; "
                'set competition.task = "regression"'
            )
    return test


def infer_task(target: pd.Series) -> str:
    """binary / multiclass / regression from a target column's values."""
    n_unique = target.nunique(dropna=True)
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        return "binary" if n_unique == 2 else "multiclass"
    values = target.dropna().to_numpy(dtype=float)
    if np.all(np.mod(values, 1) == 0) and n_unique <= 20:
        return "binary" if n_unique == 2 else "multiclass"
    return "regression"


def _short(values: list[Any], n: int = 5) -> str:
    """The first ``n`` values, for a message."""
    return ", ".join(map(repr, values[:n])) + (", ..." if len(values) > n else "")


def make_competition(
    csv: Path,
    *,
    target: str,
    out: Path,
    id_column: str | None = None,
    test_size: float = 0.3,
    seed: int = 0,
    public_fraction: float = 0.5,
    submission_format: str = "labels",
) -> dict[str, Any]:
    """Turn any CSV into a competition: train, test, sample submission and a solution.

    The solution has Kaggle's ``Usage`` column (``Public``/``Private``) so ``kk score``
    can show both leaderboards. Classification splits are stratified. With
    ``submission_format="probabilities"`` a multiclass sample submission has one column
    per class (named after the labels), as Kaggle's multiclass competitions do.
    """
    from sklearn.model_selection import train_test_split

    if submission_format not in ("labels", "probabilities"):
        raise KKError(f"--format '{submission_format}' is not known; use labels or probabilities")
    if not 0.0 < test_size < 1.0:
        raise KKError(f"--test-size {test_size} must be between 0 and 1 (e.g. 0.3)")
    frame = read_table(Path(csv))
    if target not in frame.columns:
        raise KKError(
            f"--target '{target}' is not a column of {csv} (columns: {short_list(frame.columns, 10)})"
        )
    if frame[target].isna().any():
        raise KKError(f"--target '{target}' has missing values in {csv}; drop those rows first")
    if id_column is None:
        id_column = "id"
        if id_column in frame.columns:
            raise KKError(f"{csv} already has an 'id' column; pass --id id to use it")
        frame.insert(0, id_column, np.arange(len(frame)))
    elif id_column not in frame.columns:
        raise KKError(f"--id '{id_column}' is not a column of {csv}")
    elif frame[id_column].duplicated().any():
        raise KKError(f"--id '{id_column}' has duplicated values in {csv}; ids must be unique")
    if out.exists() and any(out.iterdir()):
        raise KKError(f"--out {out} is not empty; choose a new folder or delete it")
    task = infer_task(frame[target])
    stratify = frame[target] if task != "regression" else None
    if stratify is not None:
        counts = stratify.value_counts()
        rare = counts[counts < 2].index.tolist()
        if rare:
            raise KKError(
                f"--target '{target}' has class(es) with a single row ({_short(rare)}); the "
                "stratified split needs at least 2 rows per class: drop or merge those rows"
            )
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=stratify)
    train, test = train.sort_values(id_column), test.sort_values(id_column)
    features = [c for c in frame.columns if c != target]
    fill = train[target].mode().iloc[0] if task != "regression" else float(train[target].mean())
    sample = pd.DataFrame({id_column: test[id_column].to_numpy(), target: fill})
    if submission_format == "probabilities" and task == "multiclass":
        classes = sorted(train[target].unique().tolist())
        sample = pd.DataFrame({id_column: test[id_column].to_numpy()})
        for label in classes:
            sample[str(label)] = 1.0 / len(classes)
    elif submission_format == "probabilities":
        sample[target] = float((train[target] == sorted(train[target].unique())[-1]).mean())
    rng = np.random.default_rng(seed)
    usage = np.where(rng.random(len(test)) < public_fraction, "Public", "Private")
    solution = pd.DataFrame(
        {id_column: test[id_column].to_numpy(), target: test[target].to_numpy(), "Usage": usage}
    )
    files = {
        "train.csv": train[[*features, target]],
        "test.csv": test[features],
        "sample_submission.csv": sample,
        "solution.csv": solution,
    }
    for name, table in files.items():
        atomic.write_bytes(out / name, table.to_csv(index=False).encode("utf-8"))
    info: dict[str, Any] = {
        "out": str(out),
        "task": task,
        "id_column": id_column,
        "target_column": target,
        "n_train": len(train),
        "n_test": len(test),
        "solution_file": "solution.csv",
        **_matching_answers(task, submission_format),
    }
    info["slug"] = _slug_of(out)
    info["kk_new"] = kk_new_line(info)
    return info


def _matching_answers(task: str, submission_format: str) -> dict[str, str]:
    """The metric and submission format a project scoring this competition should use."""
    if task == "regression":
        return {"metric": "rmse", "submission_format": "values"}
    if submission_format == "labels":
        return {"metric": "accuracy", "submission_format": "labels"}
    metric = "roc_auc" if task == "binary" else "log_loss"
    return {"metric": metric, "submission_format": "probabilities"}


def _slug_of(out: Path) -> str:
    """The output folder's name as a valid project name."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", Path(out).resolve().name.lower()).strip("-_")
    return slug or "my-competition"


def kk_new_line(info: dict[str, Any]) -> str:
    """The ``kk new tabular ...`` command that makes a project for a made competition.

    Its answers (task, metric, submission format, id/target columns, the solution file)
    match what :func:`make_competition` wrote, so ``kk fetch SLUG --from OUT`` then
    ``kk score`` work with no ``--set``. ``info`` is what :func:`make_competition` returns
    (its ``slug`` is the output folder's name, made a valid project name).
    """
    parts = [
        "kk", "new", "tabular", str(info["slug"]), "--no-input",
        "--id-column", str(info["id_column"]),
        "--target", str(info["target_column"]),
        "--task", str(info["task"]),
        "--metric", str(info["metric"]),
        "--set", f"submission_format={info['submission_format']}",
        "--set", f"solution_file={info['solution_file']}",
    ]  # fmt: skip
    return shlex.join(parts)
