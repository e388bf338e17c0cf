"""Same runs, same predictions: OOF and test arrays of cheap runs at a base commit vs now.

The safety net of a refactor (issue 31): every case below is trained through
``python -m kagglekit.cli`` twice, once with the code of ``--base`` (a git worktree of that
commit under ``build/same_predictions/``, put first on the import path with ``PYTHONPATH``)
and once with this checkout's code, each in its own throw-away projects root
(``KK_PROJECTS_DIR``) with the data fetched from the local mirror (``KK_DATA_MIRROR``).
The base side assigns the folds; the current side runs ``kk folds`` too (to show that
the fold file is unchanged) and then trains on a copy of the base's fold file, so both
train on the same folds. Every ``.npy`` the base run saved (``oof``, ``test``,
``test_folds``, ``oof_repeats``) must match the current run's to ``--tol`` (1e-6).

The base side's arrays are cached under ``build/same_predictions/<sha12>/`` (with its
fold files), so a later run trains the current side only (``--refresh-base`` redoes the
base). Children run on one thread, CPU only, with a fixed hash seed.

    .venv/bin/python bench/same_predictions.py                  # every case
    .venv/bin/python bench/same_predictions.py --cases 'titanic/*' --cases movielens/mf
    .venv/bin/python bench/same_predictions.py --base-twice     # is the base deterministic?
    .venv/bin/python bench/same_predictions.py --list

Exit status: 0 when every case matches, 1 when one differs or fails on either side.
This script imports no kagglekit itself: both sides are child processes.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build" / "same_predictions"
DEFAULT_BASE = "49bfddf"  # the commit before the issue-31 refactor
DEFAULT_MIRROR = REPO.parent / "shared" / "data"
# Copied from a side's projects/<name>/ into its projects root: the rest (data, runs,
# studies, committed record copies under reports/) would only add runs or cost time.
SKIP_IN_PROJECT = ("data", "runs", "studies", "reports", "tests", "README.md", "__pycache__")
ONE_THREAD = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


RUN_REF = re.compile(r"\{run:([^}]+)\}")


@dataclass(frozen=True)
class Case:
    """``kk`` commands of one project whose last run folder's arrays are compared.

    ``args`` follow ``python -m kagglekit.cli`` without the project name, which goes
    after the command; ``before`` are commands run first (e.g. ``kk tune``); ``members``
    are cases whose run ids an ensemble gets with ``--runs``; ``{run:CASE}`` in an
    argument becomes that case's run id on the same side.
    """

    name: str  # "<project>/<label>"
    args: tuple[str, ...]
    members: tuple[str, ...] = ()
    before: tuple[tuple[str, ...], ...] = ()

    @property
    def project(self) -> str:
        return self.name.split("/", 1)[0]

    @property
    def slug(self) -> str:
        return self.name.replace("/", "__")

    @property
    def needs(self) -> tuple[str, ...]:
        refs = [m for a in (*self.args, *sum(self.before, ())) for m in RUN_REF.findall(a)]
        return (*self.members, *refs)


def _train(
    project: str,
    model: str,
    *sets: str,
    label: str = "",
    flags: tuple[str, ...] = (),
    **kw: object,
) -> Case:
    """``kk train PROJECT --model MODEL --fresh`` with ``--set`` of each of ``sets``."""
    args = ["train", "--model", model, "--fresh", *flags]
    for item in sets:
        args += ["--set", item]
    return Case(f"{project}/{label or model}", tuple(args), **kw)  # type: ignore[arg-type]


def _ensemble(project: str, method: str, members: tuple[str, ...]) -> Case:
    runs = tuple(f"{project}/{m}" for m in members)
    return Case(f"{project}/ensemble-{method}", ("ensemble", "--method", method), runs)


TITANIC_MODELS = (
    "wcg_rule",
    "logistic_regression",
    "decision_tree",
    "random_forest",
    "svm",
    "knn",
    "lightgbm",
    "xgboost",
    "wcg_xgboost",
)
TUNE = ("tune", "--trials", "12", "--sampler", "tpe")  # 10 random start-up trials, 2 of TPE

CASES: tuple[Case, ...] = (
    *(_train("titanic", m) for m in TITANIC_MODELS),
    _ensemble("titanic", "hill", TITANIC_MODELS),
    _ensemble("titanic", "stack", TITANIC_MODELS),
    # Boosters stopping on rounds: on the validation fold, then on a holdout of the
    # fold's training rows.
    _train("titanic", "lightgbm", "models.lightgbm.early_stopping_rounds=30", label="lightgbm-es"),
    _train(
        "titanic",
        "xgboost",
        "models.xgboost.early_stopping_rounds=30",
        "models.xgboost.early_stopping_holdout=0.15",
        label="xgboost-es-holdout",
    ),
    # Pseudo-labels: confident test rows of the xgboost run's fold models.
    _train(
        "titanic",
        "xgboost",
        "models.xgboost.pseudo_labels.run={run:titanic/xgboost}",
        "models.xgboost.pseudo_labels.confidence=0.8",
        label="xgboost-pseudo",
    ),
    # Tuning (default search spaces, TPE sampler, pruning between folds), then a run
    # with the best trial's parameters.
    _train(
        "titanic",
        "lightgbm",
        flags=("--params", "best"),
        label="lightgbm-tuned",
        before=((*TUNE, "--model", "lightgbm"),),
    ),
    _train(
        "titanic",
        "svm",
        flags=("--params", "best"),
        label="svm-tuned",
        before=((*TUNE, "-m", "svm"),),
    ),
    # Repeated folds (oof_repeats.npy) and an ensemble over them.
    _train("titanic-x2", "logistic_regression"),
    _train("titanic-x2", "lightgbm"),
    _ensemble("titanic-x2", "hill", ("logistic_regression", "lightgbm")),
    # Tabular regression and multiclass from the tabular template (auto features).
    _train("fare", "lightgbm", "models.lightgbm.params.n_jobs=1"),
    _train("fare", "linear"),
    _train("pclass", "lightgbm", "models.lightgbm.params.n_jobs=1"),
    _train("pclass", "linear"),
    _ensemble("pclass", "stack", ("lightgbm", "linear")),
    _train("disaster-tweets", "tfidf"),
    _train("disaster-tweets", "nbsvm"),
    # The recurrent net for one epoch (word2vec trained on each fold's texts first).
    _train("disaster-tweets", "lstm", "models.lstm.params.epochs=1", label="lstm-1ep"),
    _train("movielens", "biases"),
    _train("movielens", "mf"),
    _train("movielens", "item_knn"),
    _train("movielens", "neumf", "models.neumf.params.epochs=2", label="neumf-2ep"),
    _train("fashion-mnist", "mlp", "models.mlp.params.epochs=2", label="mlp-2ep"),
    # A small CNN for one epoch: the image path (augmentation, flip TTA) at little cost.
    _train(
        "fashion-mnist",
        "cnn",
        "models.cnn.params.epochs=1",
        "models.cnn.params.channels=[8, 16, 32]",
        label="cnn-1ep-small",
    ),
    # Two processes (PyTorch DDP over gloo on CPU cores, through torchrun).
    _train(
        "fashion-mnist",
        "mlp",
        "models.mlp.params.epochs=1",
        flags=("--nproc", "2"),
        label="mlp-1ep-ddp2",
    ),
    # implicit's ALS and BPR run on every core unless told (BPR's Hogwild SGD then
    # changes from run to run): one thread.
    *(_train("ml-rank", m) for m in ("popularity", "ease", "item_knn")),
    *(_train("ml-rank", m, f"models.{m}.params.num_threads=1") for m in ("als", "bpr")),
    _ensemble("ml-rank", "hill", ("popularity", "ease", "als")),
)


@dataclass(frozen=True)
class Recipe:
    """How a side makes one project under its projects root.

    By default a copy of the side's own ``projects/<source>`` (``edits``: text
    replacements in its config.toml, each of which must apply). ``new``: ``kk new``
    arguments instead. ``competition``: ``kk make-competition`` arguments (a CSV under
    the mirror first): run once, by the base side, into the cache; both sides then fetch
    the same files from there.
    """

    source: str = ""
    edits: tuple[tuple[str, str], ...] = ()
    new: tuple[str, ...] = ()
    competition: tuple[str, ...] = ()


def _tabular(name: str, target: str, task: str, fmt: str, *extra: str) -> Recipe:
    """A competition cut from Titanic's train.csv with another target, from the template."""
    return Recipe(
        new=(
            *f"new tabular {name} --no-input --competition {name} --task {task}".split(),
            *f"--id-column PassengerId --target {target}".split(),
            *extra,
        ),
        competition=(
            *f"titanic/train.csv --target {target} --id PassengerId --seed 0".split(),
            *f"--format {fmt}".split(),
        ),
    )


PROJECTS: dict[str, Recipe] = {
    "titanic-x2": Recipe(source="titanic", edits=(("n_repeats = 1", "n_repeats = 2"),)),
    "fare": _tabular("fare", "Fare", "regression", "labels"),
    "pclass": _tabular("pclass", "Pclass", "multiclass", "probabilities", "--metric", "log_loss"),
    # A ranking recommender on MovieLens 100k: each user's 2 latest ratings validated,
    # 2 more held out as the local test.
    "ml-rank": Recipe(
        new=(
            *("new", "recsys", "ml-rank", "--no-input", "--task", "ranking"),
            *("--competition", "movielens-100k", "--set", "format=movielens100k"),
            *("--set", "mirror_folder=movielens-100k"),
        ),
    ),
}


class Failed(Exception):
    """A child command failed; the message holds the tail of its output."""


@dataclass
class Outcome:
    """What one case left on one side."""

    arrays: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0
    summary: dict = field(default_factory=dict)
    error: str = ""


@dataclass
class Side:
    """One version of the code: its repository root (shared/, projects/, templates/)."""

    label: str
    repo: Path
    root: Path  # the projects root of this side's runs
    mirror: Path
    timeout: int

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KK_")}
        env.update({name: "1" for name in ONE_THREAD})
        env.update(
            PYTHONPATH=str(self.repo / "shared"),
            PYTHONHASHSEED="0",
            CUDA_VISIBLE_DEVICES="",
            TOKENIZERS_PARALLELISM="false",
            KK_PROJECTS_DIR=str(self.root),
            KK_DATA_MIRROR=str(self.mirror),
        )
        return env

    def run(self, *args: str) -> str:
        """``python -m kagglekit.cli ARGS`` of this side; its stdout."""
        return self.python("-m", "kagglekit.cli", *args)

    def python(self, *args: str) -> str:
        try:
            done = subprocess.run(
                [sys.executable, *args],
                env=self.env(),
                cwd=self.root,
                capture_output=True,
                text=True,
                timeout=self.timeout,
            )
        except subprocess.TimeoutExpired:
            raise Failed(f"timed out after {self.timeout} s: {' '.join(args)}") from None
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-8:]
            raise Failed(f"exit {done.returncode}: {' '.join(args)}\n    " + "\n    ".join(tail))
        return done.stdout

    def package_file(self) -> Path:
        """Where ``import kagglekit`` resolves in this side's children."""
        out = self.python("-c", "import kagglekit; print(kagglekit.__file__)")
        return Path(out.strip().splitlines()[-1])


def git(*args: str, cwd: Path = REPO) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def worktree(sha: str) -> Path:
    """A detached worktree of ``sha`` under build/ (made once, then reused as it is)."""
    path = BUILD / f"worktree-{sha[:12]}"
    if path.exists():
        head = git("rev-parse", "HEAD", cwd=path)
        dirty = git("status", "--porcelain", "--untracked-files=no", cwd=path)
        if head != sha or dirty:
            sys.exit(
                f"{path} is not a clean checkout of {sha[:12]}: remove it (git worktree remove)"
            )
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # --force: a worktree folder deleted by hand (make clean) is still registered.
    git("worktree", "add", "--detach", "--force", str(path), sha)
    return path


def select(patterns: list[str] | None) -> list[Case]:
    """The cases matching any pattern, with the cases they need, in CASES order."""
    if not patterns:
        return list(CASES)
    chosen = [c for c in CASES if any(fnmatch.fnmatch(c.name, p) for p in patterns)]
    if not chosen:
        sys.exit(f"no case matches {patterns}; --list shows them")
    return with_needs(chosen)


def with_needs(cases: list[Case]) -> list[Case]:
    """``cases`` plus every case they need (ensemble members, ``{run:...}``), in order."""
    by_name = {c.name: c for c in CASES}
    names = {c.name for c in cases}
    stack = list(cases)
    while stack:
        for need in stack.pop().needs:
            if need not in names:
                names.add(need)
                stack.append(by_name[need])
    return [c for c in CASES if c.name in names]


def make_project(side: Side, name: str, kept: Path, *, first: bool) -> Path:
    """Make project ``name`` under the side's projects root (``PROJECTS`` says how) and
    fetch its data; ``kept``: the cache folder of its fold files (and made competition)."""
    recipe = PROJECTS.get(name, Recipe())
    dest = side.root / name
    fetch = ["fetch", name]
    if recipe.competition:
        files = kept / "competition"
        if first:
            shutil.rmtree(files, ignore_errors=True)
            kept.mkdir(parents=True, exist_ok=True)
            csv, *rest = recipe.competition
            side.run("make-competition", str(side.mirror / csv), "--out", str(files), *rest)
        fetch += ["--from", str(files)]
    if recipe.new:
        side.run(*recipe.new)
    else:
        shutil.copytree(
            side.repo / "projects" / (recipe.source or name),
            dest,
            ignore=shutil.ignore_patterns(*SKIP_IN_PROJECT),
        )
        config = (dest / "config.toml").read_text()
        for old, new in recipe.edits:
            if old not in config:
                raise Failed(f"{name}: '{old}' is not in {recipe.source}'s config.toml")
            config = config.replace(old, new)
        (dest / "config.toml").write_text(config)
    side.run(*fetch)
    return dest


FOLD_FILES = ("folds.csv", "folds.json")


def prepare(side: Side, name: str, folds: Path, *, make_folds: bool) -> str:
    """Copy, fetch and fold one project; a note on its folds and config.

    ``make_folds``: this side's ``kk folds`` writes the fold files kept in ``folds``.
    Otherwise the fold files in ``folds`` are copied in (after a ``kk folds`` of this
    side, compared with them).
    """
    folder = make_project(side, name, folds, first=make_folds)
    note = ""
    if make_folds:
        side.run("folds", name)
        folds.mkdir(parents=True, exist_ok=True)
        for file in FOLD_FILES:
            shutil.copy(folder / "data" / file, folds / file)
        shutil.copy(folder / "config.toml", folds / "config.toml")
        recipe = recipe_key(PROJECTS.get(name, Recipe()))
        (folds / "recipe.json").write_text(json.dumps(recipe))
    else:
        try:
            side.run("folds", name)
            same = (folder / "data" / "folds.csv").read_bytes() == (
                folds / "folds.csv"
            ).read_bytes()
            note = "kk folds: same file" if same else "kk folds: DIFFERENT file (base's used)"
        except Failed as err:
            note = f"kk folds failed ({str(err).splitlines()[-1].strip()}); base's used"
        for file in FOLD_FILES:
            shutil.copy(folds / file, folder / "data" / file)
        if (folds / "config.toml").read_text() != (folder / "config.toml").read_text():
            note += "; config.toml differs from the base's"
    return note


def run_case(side: Side, case: Case, run_ids: dict[str, str]) -> Outcome:
    """Run one case's commands; the arrays of the run folder its last command wrote."""
    missing = [n for n in case.needs if n not in run_ids]
    if missing:
        return Outcome(error=f"{', '.join(missing)} made no run on the {side.label} side")

    def command(args: tuple[str, ...]) -> list[str]:
        args = tuple(RUN_REF.sub(lambda m: run_ids[m.group(1)], a) for a in args)
        return [args[0], case.project, *args[1:]]

    last = command(case.args) + [arg for m in case.members for arg in ("--runs", run_ids[m])]
    started = time.perf_counter()
    try:
        for before in case.before:
            side.run(*command(before))
        out = side.run(*last, "--json")
        summary = json.loads(out.strip().splitlines()[-1])
    except (Failed, json.JSONDecodeError, IndexError) as err:
        return Outcome(seconds=time.perf_counter() - started, error=str(err))
    seconds = time.perf_counter() - started
    run_ids[case.name] = summary["run_id"]
    folder = side.root / case.project / "runs" / summary["run_id"]
    arrays = {p.stem: p for p in sorted(folder.glob("*.npy"))}
    return Outcome(arrays=arrays, seconds=seconds, summary=summary)


def run_side(side: Side, cases: list[Case], folds_dir: Path, make_folds: set[str]) -> dict:
    """Every case on one side, project by project; outcome per case name, notes per project.

    The projects in ``make_folds`` get their folds from this side's ``kk folds`` (kept
    under ``folds_dir``); the others train on the fold files kept there."""
    outcomes: dict[str, Outcome] = {}
    notes: dict[str, str] = {}
    run_ids: dict[str, str] = {}
    for project in dict.fromkeys(c.project for c in cases):
        say(f"[{side.label}] {project}: copy, fetch, folds")
        try:
            notes[project] = prepare(
                side, project, folds_dir / project, make_folds=project in make_folds
            )
        except Failed as err:
            for case in (c for c in cases if c.project == project):
                outcomes[case.name] = Outcome(error=f"project setup failed: {err}")
            continue
        for case in (c for c in cases if c.project == project):
            outcome = run_case(side, case, run_ids)
            outcomes[case.name] = outcome
            state = "FAILED" if outcome.error else "done"
            say(f"[{side.label}] {case.name}: {state} in {outcome.seconds:.1f} s")
            if outcome.error:
                say("    " + outcome.error)
    return {"outcomes": outcomes, "notes": notes}


def save_base(cache: Path, case: Case, outcome: Outcome) -> None:
    """Keep one base case's arrays and summary under the cache."""
    folder = cache / "cases" / case.slug
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name, path in outcome.arrays.items():
        shutil.copy(path, folder / f"{name}.npy")
    meta = {"case": case.name, "key": case_key(case), "seconds": outcome.seconds}
    (folder / "summary.json").write_text(json.dumps({**meta, **outcome.summary}, indent=1))


def case_key(case: Case) -> str:
    """What a cached base case must have been run with: its commands and project recipe."""
    recipe = PROJECTS.get(case.project, Recipe())
    return json.dumps([case.args, case.members, case.before, recipe_key(recipe)])


def recipe_key(recipe: Recipe) -> list:
    return [recipe.source, recipe.edits, recipe.new, recipe.competition]


def folds_kept(folds: Path, project: str) -> bool:
    """Whether ``folds`` holds fold files made by the project's current recipe."""
    meta = folds / "recipe.json"
    recipe = json.dumps(recipe_key(PROJECTS.get(project, Recipe())))
    return (folds / "folds.csv").is_file() and meta.is_file() and meta.read_text() == recipe


def load_base(cache: Path, case: Case) -> Outcome | None:
    folder = cache / "cases" / case.slug
    meta = folder / "summary.json"
    if not meta.is_file():
        return None
    summary = json.loads(meta.read_text())
    if summary.get("key") != case_key(case):  # the case was changed since it was cached
        return None
    arrays = {p.stem: p for p in sorted(folder.glob("*.npy"))}
    return Outcome(arrays=arrays, seconds=summary["seconds"], summary=summary)


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Max |a - b| (NaN where both are NaN counts as equal; shape mismatch is inf)."""
    if a.shape != b.shape:
        return float("inf")
    if a.dtype.kind not in "biuf" or b.dtype.kind not in "biuf":
        return 0.0 if np.array_equal(a, b) else float("inf")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    both_nan = np.isnan(a64) & np.isnan(b64)
    diff = np.abs(a64 - b64)
    diff[both_nan] = 0.0
    diff[np.isnan(diff)] = np.inf
    return float(diff.max()) if diff.size else 0.0


def compare(base: Outcome, other: Outcome, tol: float) -> tuple[dict[str, float], list[str]]:
    """Max |diff| per array the base saved; notes (missing, new, dtype, CV)."""
    diffs: dict[str, float] = {}
    notes = []
    for name, path in base.arrays.items():
        if name not in other.arrays:
            diffs[name] = float("inf")
            notes.append(f"no {name}.npy")
            continue
        a = np.load(path, allow_pickle=False)
        b = np.load(other.arrays[name], allow_pickle=False)
        diffs[name] = max_diff(a, b)
        if a.shape != b.shape:
            notes.append(f"{name} shape {a.shape} -> {b.shape}")
        elif a.dtype != b.dtype:
            notes.append(f"{name} dtype {a.dtype} -> {b.dtype}")
    new = sorted(set(other.arrays) - set(base.arrays))
    if new:
        notes.append("new arrays: " + ", ".join(new))
    cv_a, cv_b = base.summary.get("cv_mean"), other.summary.get("cv_mean")
    if isinstance(cv_a, float) and isinstance(cv_b, float) and abs(cv_a - cv_b) > tol:
        notes.append(f"cv_mean {cv_a:.6f} -> {cv_b:.6f}")
    return diffs, notes


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return "0" if value == 0 else f"{value:.1e}"


def report(
    cases: list[Case], base: dict[str, Outcome], other: dict[str, Outcome], tol: float, label: str
) -> int:
    """One line per case and a summary; the number of cases that differ or failed."""
    width = max(len(c.name) for c in cases)
    print(f"{'case':<{width}}  {'oof':>8}  {'test':>8}  {'others':>8}  status      notes")
    bad = 0
    for case in cases:
        a, b = base.get(case.name), other.get(case.name)
        if a is None or a.error or b is None or b.error:
            side, failed = ("base", a) if a is None or a.error else (label, b)
            error = failed.error if failed else "not run"
            last = error.strip().splitlines()[-1].strip()  # the error, after the command
            print(f"{case.name:<{width}}  {'-':>8}  {'-':>8}  {'-':>8}  FAILED      {side}: {last}")
            bad += 1
            continue
        diffs, notes = compare(a, b, tol)
        rest = [d for n, d in diffs.items() if n not in ("oof", "test")]
        worst = max(diffs.values(), default=0.0)
        status = "OK" if worst <= tol else "DIFFERENT"
        bad += status != "OK"
        others = ",".join(n for n in diffs if n not in ("oof", "test"))
        if others:
            notes.insert(0, f"others: {others}")
        print(
            f"{case.name:<{width}}  {fmt(diffs.get('oof')):>8}  {fmt(diffs.get('test')):>8}  "
            f"{fmt(max(rest) if rest else None):>8}  {status:<10}  {'; '.join(notes)}"
        )
    return bad


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def make_side(label: str, repo: Path, args: argparse.Namespace) -> Side:
    root = Path(tempfile.mkdtemp(prefix=f"kk-same-{label}-")) / "projects"
    root.mkdir()
    side = Side(label, repo, root, args.mirror.resolve(), args.timeout)
    found = side.package_file()
    if not found.is_relative_to(repo / "shared"):
        sys.exit(f"the {label} side imports kagglekit from {found}, not from {repo / 'shared'}")
    say(f"[{label}] kagglekit from {found}")
    return side


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=DEFAULT_BASE, help="commit to compare against")
    parser.add_argument("--cases", action="append", help="glob over case names (repeatable)")
    parser.add_argument("--refresh-base", action="store_true", help="rerun the cached base")
    parser.add_argument("--base-only", action="store_true", help="fill the base cache only")
    parser.add_argument(
        "--base-twice", action="store_true", help="run the base twice and compare (no current)"
    )
    parser.add_argument("--tol", type=float, default=1e-6)
    parser.add_argument(
        "--mirror", type=Path, default=Path(os.environ.get("KK_DATA_MIRROR", DEFAULT_MIRROR))
    )
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per kk command")
    parser.add_argument("--keep", action="store_true", help="keep the temporary projects roots")
    parser.add_argument("--list", action="store_true", help="print the case names and exit")
    args = parser.parse_args()
    if args.list:
        print("\n".join(c.name for c in CASES))
        return 0

    sha = git("rev-parse", "--verify", f"{args.base}^{{commit}}")
    tree = worktree(sha)
    cache = BUILD / sha[:12]
    cases = select(args.cases)
    say(f"base {sha} (worktree {tree}), cache {cache}; {len(cases)} cases")

    sides: list[Side] = []
    try:
        base_side = make_side("base", tree, args)
        sides.append(base_side)
        fresh = args.refresh_base or args.base_twice
        cached = {} if fresh else {c.name: o for c in cases if (o := load_base(cache, c))}
        todo = with_needs([c for c in cases if c.name not in cached])
        started = time.perf_counter()
        base_out: dict[str, Outcome] = {}
        if todo:
            refold = {
                c.project
                for c in todo
                if fresh or not folds_kept(cache / "folds" / c.project, c.project)
            }
            base_out = run_side(base_side, todo, cache / "folds", refold)["outcomes"]
            for case in todo:
                if not base_out[case.name].error:
                    save_base(cache, case, base_out[case.name])
                    base_out[case.name] = load_base(cache, case)  # type: ignore[assignment]
        base = {**cached, **base_out}
        say(
            f"base side: {len(todo)} case(s) run in {time.perf_counter() - started:.0f} s, "
            f"{len(cached)} from the cache"
        )
        if args.base_only:
            return 1 if any(base[c.name].error for c in cases) else 0

        label, repo = ("base-again", tree) if args.base_twice else ("current", REPO)
        other_side = make_side(label, repo, args)
        sides.append(other_side)
        started = time.perf_counter()
        other = run_side(other_side, cases, cache / "folds", set())
        other_wall = time.perf_counter() - started

        print(f"base {sha[:12]} ({tree}) vs {label} ({repo})")
        for project, note in other["notes"].items():
            if note:
                print(f"  {project}: {note}")
        bad = report(cases, base, other["outcomes"], args.tol, label)
        print(
            f"{len(cases) - bad} of {len(cases)} cases match to {args.tol:g}. "
            f"{label}: {other_wall:.0f} s in all, "
            f"{sum(o.seconds for o in other['outcomes'].values()):.0f} s in kk train/ensemble; "
            f"base: {sum(base[c.name].seconds for c in cases if c.name in base):.0f} s in kk "
            f"train/ensemble when it ran; base cache {cache}"
        )
        return 1 if bad else 0
    finally:
        for side in sides:
            if args.keep:
                say(f"[{side.label}] kept {side.root}")
            else:
                shutil.rmtree(side.root.parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
