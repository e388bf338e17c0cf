"""``kk`` end to end on a tiny synthetic competition, and every bad input from the issue:
a non-zero exit, ONE line on stderr naming the value, and nothing written half-way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit import atomic, folds, records
from kagglekit.project import open_project
from kagglekit.testing import make_tiny_project, run_kk_inprocess

KK = Path(sys.executable).with_name("kk")


def _kk_command() -> list[str]:
    """The installed console script (what users run); a plain interpreter call otherwise."""
    if KK.exists():
        return [str(KK)]
    return [sys.executable, "-c", "from kagglekit.cli import main; main()"]


def run_kk(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real ``kk`` in a subprocess (KK_PROJECTS_DIR comes from the environment)."""
    proc = subprocess.run(
        [*_kk_command(), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kk {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


kk_inprocess = run_kk_inprocess


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for folders)."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }


# --- end to end with the real console script ---------------------------------------------


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_kk_end_to_end(projects_dir: Path, task: str) -> None:
    paths = make_tiny_project(projects_dir, "tiny", task=task)
    cwd = projects_dir.parent
    fetched = run_kk("fetch", "tiny", "--from", str(paths["mirror"]), cwd=cwd)
    assert "4 file(s)" in fetched.stdout
    raw = paths["project"] / "data" / "raw"
    manifest = json.loads((raw / "MANIFEST.json").read_text())
    assert manifest["sha256"]["train.csv"] == atomic.sha256_file(raw / "train.csv")

    run_kk("folds", "tiny", cwd=cwd)
    project = open_project("tiny")
    saved_hash = folds.folds_meta(project)["hash"]  # type: ignore[index]
    # The hash is stable across processes: assigning again here gives the same one.
    again = folds.assign_project_folds(project, project.config())
    assert again.hash == saved_hash and not again.changed

    trained = run_kk("train", "tiny", "--json", cwd=cwd)
    summary = json.loads(trained.stdout.strip().splitlines()[-1])
    assert set(summary) == {
        "run_id", "model", "metric", "cv_mean", "cv_std", "submission", "wall_seconds"
    }  # fmt: skip
    assert summary["model"] == "lightgbm"
    assert (
        summary["metric"]
        == {"binary": "accuracy", "multiclass": "log_loss", "regression": "rmse"}[task]
    )
    assert summary["cv_std"] >= 0 and summary["wall_seconds"] > 0
    sub_path = Path(summary["submission"])
    assert sub_path.is_file() and sub_path.parent.name == summary["run_id"]

    listed = run_kk("runs", "tiny", "--json", cwd=cwd)
    (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert row["run_id"] == summary["run_id"] and row["status"] == "COMPLETE"
    assert row["cv_mean"] == summary["cv_mean"] and row["fold_hash"] == saved_hash

    checked = run_kk("submit", "tiny", "--run", summary["run_id"], "--dry-run", cwd=cwd)
    assert "valid" in checked.stdout

    scored = run_kk("score", "tiny", "--run", summary["run_id"], "--json", cwd=cwd)
    scores = json.loads(scored.stdout.strip().splitlines()[-1])
    assert {"metric", "all", "public", "private"} <= set(scores)
    # The tiny target is learnable: every task beats its trivial baseline on the solution.
    truth = pd.read_csv(raw / "solution.csv")["target"]
    if task == "binary":
        assert max(truth.mean(), 1 - truth.mean()) < scores["all"] <= 1.0
    elif task == "multiclass":
        assert scores["all"] < np.log(3)  # log loss of uniform probabilities
    else:
        assert scores["all"] < truth.std()  # rmse of predicting the mean
    record = records.find_run(project.runs_dir, summary["run_id"]).record
    assert record["local_scores"]["all"] == scores["all"]


def test_debug_shows_the_traceback(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_tiny_project(projects_dir, "tiny")
    plain = kk_inprocess(capsys, monkeypatch, "train", "tiny", "--model", "lgbm")
    assert plain[0] == 1 and "Traceback" not in plain[2]
    debug = run_kk(
        "--debug", "train", "tiny", "--model", "lgbm", cwd=projects_dir.parent, check=False
    )
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr
    assert "KKError: model 'lgbm' is not configured" in debug.stderr


HANG_FEATURES = """\
import time
from pathlib import Path

from sklearn.base import BaseEstimator, TransformerMixin


class Hang(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        Path(__file__).with_name("hang.started").touch()
        time.sleep(600)
        return self

    def transform(self, X):
        return X

    def get_feature_names_out(self, input_features=None):
        return input_features


FOLD_STEPS = {"hang": Hang}
"""


def _default_sigint() -> None:
    """In the child before exec: SIGINT handled by default and not blocked (an ignored
    disposition and a blocked mask are both inherited)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _stop_midway(
    project: Path, sig: signal.Signals, *args: str
) -> subprocess.CompletedProcess[str]:
    """Start ``kk train`` on a model whose first fold never ends, then send ``sig``."""
    marker = project / "hang.started"
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [*_kk_command(), "train", "tiny", "--model", "slow", *args],
        cwd=project.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A process inherits an ignored SIGINT, and earlier tests in this pytest process may
        # leave it ignored: kk train must get Ctrl-C as from a terminal.
        preexec_fn=_default_sigint,
    )
    try:
        deadline = time.monotonic() + 90
        while not marker.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert marker.exists(), "kk train never reached its first fold"
    finally:
        os.kill(proc.pid, sig)
        out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_a_run_interrupted_or_killed_midway(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C mid-fold: FAILED with the error. kill -9: ABANDONED. Nothing else is hurt."""
    from kagglekit.testing import tiny_config

    extra = '\n[models.slow]\nbackend = "logistic_regression"\nsteps = [{ kind = "hang" }]\n'
    paths = make_tiny_project(projects_dir, "tiny", config=tiny_config("tiny", extra=extra))
    (paths["project"] / "features.py").write_text(HANG_FEATURES)
    # Only the stopped processes need to be real ones; the rest runs kk in this process.
    assert (
        kk_inprocess(capsys, monkeypatch, "fetch", "tiny", "--from", str(paths["mirror"]))[0] == 0
    )
    assert kk_inprocess(capsys, monkeypatch, "folds", "tiny")[0] == 0
    before = snapshot(paths["project"] / "data")
    runs_dir = paths["project"] / "runs"

    interrupted = _stop_midway(paths["project"], signal.SIGINT)
    assert interrupted.returncode == 130 and "Traceback" not in interrupted.stderr
    assert interrupted.stderr.strip().splitlines()[-1] == "interrupted"
    (failed,) = records.list_runs(runs_dir)
    assert failed.status == "FAILED" and failed.record["error"].startswith("KeyboardInterrupt")
    # It says what rerunning does, and kk runs lists it as resumable, not as a failure.
    assert (
        f"run {failed.run_id} interrupted: 0 of 3 folds kept; rerun the same command to "
        "continue" in " ".join(interrupted.stdout.split())
    )
    assert failed.interrupted

    killed_proc = _stop_midway(paths["project"], signal.SIGKILL, "--fresh")
    assert killed_proc.returncode == -signal.SIGKILL
    (killed,) = [r for r in records.list_runs(runs_dir) if r.run_id != failed.run_id]
    assert killed.record["status"] == "RUNNING" and killed.status == "ABANDONED"
    assert not list(killed.folder.glob(".*.tmp"))  # no half-written file left in place

    code, out, _ = kk_inprocess(capsys, monkeypatch, "runs", "tiny", "--json")
    listed = {row["run_id"]: row["status"] for row in map(json.loads, out.splitlines())}
    assert code == 0 and listed == {failed.run_id: "FAILED", killed.run_id: "ABANDONED"}
    code, out, _ = kk_inprocess(capsys, monkeypatch, "runs", "tiny")
    assert code == 0 and "ABANDONED" in out and killed.run_id in out
    assert "INTERRUPTED (resumable)" in out and "1 FAILED/ABANDONED run(s)" in out
    for run_id, status in ((failed.run_id, "FAILED"), (killed.run_id, "ABANDONED")):
        assert_one_line_error(
            kk_inprocess(capsys, monkeypatch, "submit", "tiny", "--run", run_id, "--dry-run"),
            f"run {run_id} is {status}; only COMPLETE runs have a submission",
        )
    assert snapshot(paths["project"] / "data") == before  # data and folds untouched
    code, out, _ = kk_inprocess(capsys, monkeypatch, "train", "tiny", "--model", "linear", "--json")
    assert code == 0
    summary = json.loads(out.strip().splitlines()[-1])
    statuses = {r.run_id: r.status for r in records.list_runs(runs_dir)}
    assert statuses == {
        failed.run_id: "FAILED",
        killed.run_id: "ABANDONED",
        summary["run_id"]: "COMPLETE",
    }


# --- bad input: one line, non-zero exit, nothing written ------------------------------------


@pytest.fixture
def ready(projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """A fetched tiny binary project with folds (via kk itself, in process)."""
    paths = make_tiny_project(projects_dir, "tiny")
    assert (
        kk_inprocess(capsys, monkeypatch, "fetch", "tiny", "--from", str(paths["mirror"]))[0] == 0
    )
    assert kk_inprocess(capsys, monkeypatch, "folds", "tiny")[0] == 0
    return paths


def assert_one_line_error(result: tuple[int, str, str], *needles: str) -> str:
    code, _, err = result
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["train", "tiny-typo"], ["project 'tiny-typo' is not known", "did you mean 'tiny'"]),
        (["train", "tiny", "--bogus"], ["No such option: --bogus", "train --help"]),
        (["train"], ["Missing argument 'project'"]),
        (["trian", "tiny"], ["No such command 'trian'", "Did you mean 'train'"]),
        (["runs", "Bad Name"], ["project name 'Bad Name' is not valid"]),
        (["train", "tiny", "--set", "cv.n_split=3"], ["'cv.n_split'", "did you mean 'n_splits'"]),
        (["train", "tiny", "--set", "cvv.n_splits=3"], ["'cvv'", "did you mean 'cv'"]),
        (["train", "tiny", "--set", "cv.n_splits"], ["'cv.n_splits' is not KEY=VALUE"]),
        (["train", "tiny", "--model", "lgbm"], ["model 'lgbm'", "did you mean 'lightgbm'"]),
        (
            ["train", "tiny", "--set", "competition.metric=acuracy"],
            ["metric 'acuracy'", "did you mean 'accuracy'"],
        ),
        (
            ["train", "tiny", "--set", "competition.metric=rmse"],
            ["metric 'rmse' does not fit task 'binary'"],
        ),
        (["train", "tiny", "--set", "cv.n_splits=abc"], ["'cv.n_splits'", "'abc'"]),
        (["train", "tiny", "--set", "cv.kind=random"], ["'cv.kind'", "'random'"]),
        (
            ["train", "tiny", "--set", "models.lightgbm.backend=lgbm"],
            ["'lgbm'", "did you mean 'lightgbm'"],
        ),
        (
            ["train", "tiny", "--set", 'models.linear.params.C="abc"', "--model", "linear"],
            ["'C'", "abc"],
        ),
        (
            ["train", "tiny", "--set", "models.lightgbm.params.lerning_rate=0.1"],
            ["'lerning_rate'", "did you mean 'learning_rate'"],
        ),
        (["train", "tiny", "--set", "cv.n_splits=5"], ["cv.n_splits = 5", "kk folds tiny"]),
        (["submit", "tiny", "--run", "nope", "--dry-run"], ["run 'nope' is not known"]),
        (["submit", "tiny", "--dry-run"], ["exactly one of --run ID or --file PATH"]),
        (["submit", "tiny", "--file", "missing.csv", "--dry-run"], ["missing.csv does not exist"]),
        (
            ["make-competition", "nope.csv", "--target", "y", "--out", "comp"],
            ["data file nope.csv is missing"],
        ),
    ],
)
def test_bad_command_line_input(
    ready: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    needles: list[str],
) -> None:
    before = snapshot(ready["project"])
    assert_one_line_error(kk_inprocess(capsys, monkeypatch, *args), *needles)
    assert snapshot(ready["project"]) == before


@pytest.mark.parametrize(
    ("old", "new", "needles"),
    [
        ("seed = 7", "seed = 7\nn_split = 3", ["'cv.n_split'", "did you mean 'n_splits'"]),
        ("n_splits = 3", 'n_splits = "three"', ["'cv.n_splits'", "'three'"]),
        (
            'metric = "accuracy"',
            'metric = "acuracy"',
            ["metric 'acuracy'", "did you mean 'accuracy'"],
        ),
        ('default_model = "lightgbm"', 'default_model = "lgbm"', ["default_model 'lgbm'"]),
        ('task = "binary"', 'task = "binry"', ["'competition.task'", "'binry'"]),
        ('id_column = "id"', "", ["'competition.id_column' is required"]),
        ("[cv]", "[cv", ["is not valid TOML"]),
    ],
)
def test_bad_config_file(
    ready: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    old: str,
    new: str,
    needles: list[str],
) -> None:
    config = ready["project"] / "config.toml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new, 1))
    before = snapshot(ready["project"])
    for command in (["train", "tiny"], ["folds", "tiny"]):
        assert_one_line_error(kk_inprocess(capsys, monkeypatch, *command), *needles)
    assert snapshot(ready["project"]) == before


def _write_mirror(projects_dir: Path, mutate) -> Path:
    """The tiny mirror with one file changed by ``mutate(name, frame) -> frame | None``."""
    paths = make_tiny_project(projects_dir, "tiny")
    for name in ("train.csv", "test.csv"):
        path = paths["mirror"] / name
        frame = mutate(name, pd.read_csv(path))
        if frame is None:
            path.unlink()
        else:
            path.write_text(frame.to_csv(index=False))
    return paths["mirror"]


def _dup_id(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    if name == "train.csv":
        frame.loc[3, "id"] = frame.loc[2, "id"]
    return frame


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (lambda n, f: None if n == "test.csv" else f, ["no 'test.csv'"]),
        (
            lambda n, f: f.drop(columns="target") if n == "train.csv" else f,
            ["target column 'target' is not in train"],
        ),
        (
            lambda n, f: f.assign(target=0) if n == "test.csv" else f,
            ["target column 'target' is present in test"],
        ),
        (
            lambda n, f: f.drop(columns="id") if n == "test.csv" else f,
            ["id column 'id' is not in test"],
        ),
        (_dup_id, ["id column 'id' has 1 duplicated value(s) in train"]),
        (lambda n, f: f.drop(columns="x2") if n == "test.csv" else f, ["columns disagree", "'x2'"]),
        (lambda n, f: f.assign(extra=1) if n == "test.csv" else f, ["columns disagree", "'extra'"]),
    ],
)
def test_bad_competition_files(
    projects_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    mutate,
    needles: list[str],
) -> None:
    mirror = _write_mirror(projects_dir, mutate)
    project = projects_dir / "tiny"
    result = kk_inprocess(capsys, monkeypatch, "fetch", "tiny", "--from", str(mirror))
    if result[0] != 0:  # a missing file is refused at fetch time, before data/raw exists
        assert_one_line_error(result, *needles)
        assert not (project / "data" / "raw").exists()
        assert not list((project / "data").glob(".raw-staging*"))
        return
    before = snapshot(project)
    for command in (["folds", "tiny"], ["train", "tiny"]):
        assert_one_line_error(kk_inprocess(capsys, monkeypatch, *command), *needles)
    assert snapshot(project) == before
    assert not (project / "data" / "folds.csv").exists()


def test_score_needs_a_solution_file(
    ready: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = ready["project"] / "config.toml"
    config.write_text(config.read_text().replace('solution_file = "solution.csv"\n', ""))
    assert_one_line_error(
        kk_inprocess(capsys, monkeypatch, "score", "tiny", "--run", "x"),
        "project 'tiny' has no solution file",
    )


def test_train_without_data_or_folds(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KK_DATA_MIRROR", raising=False)  # CI sets it for real-data tests
    paths = make_tiny_project(projects_dir, "tiny")
    assert_one_line_error(kk_inprocess(capsys, monkeypatch, "train", "tiny"), "run `kk fetch tiny")
    assert_one_line_error(kk_inprocess(capsys, monkeypatch, "fetch", "tiny"), "--from DIR")
    kk_inprocess(capsys, monkeypatch, "fetch", "tiny", "--from", str(paths["mirror"]))
    assert_one_line_error(kk_inprocess(capsys, monkeypatch, "train", "tiny"), "run `kk folds tiny`")
    assert not (paths["project"] / "runs").exists()


def test_raw_data_is_immutable(
    ready: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    train = ready["project"] / "data" / "raw" / "train.csv"
    train.chmod(0o644)
    train.write_text(train.read_text().replace("red", "RED", 1))
    assert_one_line_error(
        kk_inprocess(capsys, monkeypatch, "train", "tiny"),
        "train.csv no longer matches its checksum",
    )
    train.unlink()
    assert_one_line_error(
        kk_inprocess(capsys, monkeypatch, "folds", "tiny", "--force"), "train.csv is missing"
    )
    # A different mirror is refused too, and data/raw keeps its files.
    other = make_tiny_project(ready["project"].parent, "other", seed=5)["mirror"]
    before = snapshot(ready["project"])
    assert_one_line_error(
        kk_inprocess(capsys, monkeypatch, "fetch", "tiny", "--from", str(other)),
        "already holds different files",
    )
    assert snapshot(ready["project"]) == before


def _valid_submission(ready: dict[str, Path]) -> pd.DataFrame:
    return pd.read_csv(ready["project"] / "data" / "raw" / "sample_submission.csv")


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (lambda s: s[["target", "id"]], ["columns are in the wrong order"]),
        (
            lambda s: s.rename(columns={"target": "Survived"}),
            ["columns are ['id', 'Survived']", "expected ['id', 'target']"],
        ),
        (lambda s: s.iloc[1:], ["59 rows, expected 60", "1 id(s) missing"]),
        (
            lambda s: pd.concat([s, s.iloc[:1].assign(id=999999)]),
            ["61 rows, expected 60", "not in the test set: 999999"],
        ),
        (lambda s: pd.concat([s.iloc[1:], s.iloc[1:2]]), ["1 duplicated id(s)", "1 id(s) missing"]),
        (
            lambda s: s.assign(target=s["target"].where(s.index != 4)),
            ["'target' has 1 NaN value(s)"],
        ),
        (lambda s: s.assign(target=7), ["not labels (7)", "expected one of ['0', '1']"]),
    ],
)
def test_bad_submission_file(
    ready: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    mutate,
    needles: list[str],
) -> None:
    path = tmp_path / "sub.csv"
    good = _valid_submission(ready)
    assert len(good) == 60
    path.write_text(good.to_csv(index=False))
    assert (
        kk_inprocess(capsys, monkeypatch, "submit", "tiny", "--file", str(path), "--dry-run")[0]
        == 0
    )
    path.write_text(mutate(good).to_csv(index=False))
    for command in ("submit", "score"):
        args = [command, "tiny", "--file", str(path)] + (
            ["--dry-run"] if command == "submit" else []
        )
        line = assert_one_line_error(kk_inprocess(capsys, monkeypatch, *args), *needles)
        assert line.startswith("error: invalid submission")


def test_replacing_folds_that_runs_used(
    ready: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = kk_inprocess(capsys, monkeypatch, "train", "tiny", "--model", "linear", "--json")
    assert code == 0
    run_id = json.loads(out.strip().splitlines()[-1])["run_id"]
    before = snapshot(ready["project"])
    assert_one_line_error(
        kk_inprocess(capsys, monkeypatch, "folds", "tiny", "--set", "cv.seed=8"),
        f"1 run(s) used the current folds ({run_id})",
        "--force",
    )
    assert snapshot(ready["project"]) == before
    code, out, _ = kk_inprocess(
        capsys, monkeypatch, "folds", "tiny", "--set", "cv.seed=8", "--force"
    )
    assert code == 0 and "not comparable" in out and run_id in out
    # The config still says seed 7, so training now says the folds differ from the config.
    assert_one_line_error(kk_inprocess(capsys, monkeypatch, "train", "tiny"), "cv.seed = 7", "8")


@pytest.mark.parametrize(
    "override",
    ["models.lightgbm.params.num_leaves=1", "models.lightgbm.params.max_bin=1"],
)
def test_a_value_the_backend_rejects_is_one_line_and_a_failed_run(
    ready: dict[str, Path],
    override: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = override.split(".")[1]
    result = kk_inprocess(capsys, monkeypatch, "train", "tiny", "--model", model, "--set", override)
    line = assert_one_line_error(result, "failed to fit on fold 0.0", "check the model's params")
    assert "Traceback" not in line
    records = [json.loads(p.read_text()) for p in (ready["project"] / "runs").glob("*/record.json")]
    assert [r["status"] for r in records] == ["FAILED"]


def test_a_feature_step_that_fails_is_named_as_one(
    ready: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not "check the model's params": the [features] steps are what to change."""
    config = ready["project"] / "config.toml"
    config.write_text(
        config.read_text()
        + '\n[features]\nsteps = [{ kind = "pca", params = { n_components = 500 } }]\n'
    )
    result = kk_inprocess(capsys, monkeypatch, "train", "tiny")
    line = assert_one_line_error(result, "feature steps failed to fit on fold 0.0", "n_components")
    assert "check [features] in config.toml" in line and "model's params" not in line
    records = [json.loads(p.read_text()) for p in (ready["project"] / "runs").glob("*/record.json")]
    assert [r["status"] for r in records] == ["FAILED"]


# --- rebuilding a run's submission from its saved test predictions ------------------------


def _sub_by_test_id(project: Path, sub_path: Path) -> pd.Series:
    """The submission's prediction column in the order of ``test.csv``'s ids."""
    test_ids = pd.read_csv(project / "data" / "raw" / "test.csv")["id"]
    sub = pd.read_csv(sub_path).set_index("id")
    return sub.loc[test_ids, "target"].reset_index(drop=True)


def test_submit_rebuild_uses_test_npy_and_the_current_format(
    ready: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from kagglekit.metrics import to_labels

    project = ready["project"]
    assert kk_inprocess(capsys, monkeypatch, "train", "tiny", "--model", "linear")[0] == 0
    (run,) = records.list_runs(project / "runs")
    test_pred = run.load_array("test")
    classes = np.asarray(run.record["classes"])
    config = project / "config.toml"

    # labels -> probabilities: the column is now test.npy itself, not retrained.
    config.write_text(
        config.read_text().replace(
            'submission_format = "labels"', 'submission_format = "probabilities"'
        )
    )
    code, out, err = kk_inprocess(
        capsys, monkeypatch, "submit", "tiny", "--run", run.run_id, "--rebuild", "--dry-run"
    )
    assert code == 0, err
    assert "rebuilt" in out and "probabilities" in out
    values = _sub_by_test_id(project, run.path("submission.csv"))
    np.testing.assert_allclose(values.to_numpy(dtype=float), test_pred, rtol=1e-6)
    assert records.load_run(run.folder).record["submission_rebuilt"]["submission_format"] == (
        "probabilities"
    )

    # ... and back to labels at a new threshold, from the same predictions.
    config.write_text(
        config.read_text().replace(
            'submission_format = "probabilities"',
            'submission_format = "labels"\nthreshold = 0.3',
        )
    )
    code, _, err = kk_inprocess(
        capsys, monkeypatch, "submit", "tiny", "--run", run.run_id, "--rebuild", "--dry-run"
    )
    assert code == 0, err
    values = _sub_by_test_id(project, run.path("submission.csv"))
    expected = classes[to_labels(test_pred, threshold=0.3)]
    assert values.tolist() == expected.tolist()


def test_submit_rebuild_of_a_failed_run_and_of_one_without_test_npy(
    ready: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = ready["project"]
    assert kk_inprocess(capsys, monkeypatch, "train", "tiny", "--model", "linear")[0] == 0
    (run,) = records.list_runs(project / "runs")
    # What a run that failed at its submission step leaves: test.npy, no submission.
    run.path("submission.csv").unlink()
    run.update(status="FAILED", error="KKError: invalid submission")
    line = assert_one_line_error(
        kk_inprocess(capsys, monkeypatch, "submit", "tiny", "--run", run.run_id, "--dry-run"),
        "is FAILED",
        f"kk submit tiny --run {run.run_id} --rebuild",
    )
    assert "Traceback" not in line
    code, _, err = kk_inprocess(
        capsys, monkeypatch, "submit", "tiny", "--run", run.run_id, "--rebuild", "--dry-run"
    )
    assert code == 0, err
    assert run.path("submission.csv").exists()
    # Once rebuilt, the FAILED run's submission can be validated (and scored) as it is.
    assert kk_inprocess(capsys, monkeypatch, "score", "tiny", "--run", run.run_id)[0] == 0

    run.path("test.npy").unlink()
    assert_one_line_error(
        kk_inprocess(
            capsys, monkeypatch, "submit", "tiny", "--run", run.run_id, "--rebuild", "--dry-run"
        ),
        f"run {run.run_id} (FAILED) saved no test predictions (test.npy)",
    )
    assert_one_line_error(
        kk_inprocess(capsys, monkeypatch, "submit", "tiny", "--file", "x.csv", "--rebuild"),
        "--rebuild needs --run ID",
    )


# --- kk make-competition prints the kk new line that scores it ------------------------------


@pytest.mark.parametrize(("task", "fmt"), [("binary", "labels"), ("multiclass", "probabilities")])
def test_make_competition_prints_a_kk_new_line_that_scores_without_set(
    projects_dir: Path,
    task: str,
    fmt: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shlex

    from kagglekit.testing import make_tiny_frame

    work = projects_dir.parent
    csv = work / "d.csv"
    make_tiny_frame(150, task=task).drop(columns="id").to_csv(csv, index=False)
    out_dir = work / "Made Comp"
    code, out, err = kk_inprocess(
        capsys, monkeypatch, "make-competition", str(csv), "--target", "target",
        "--out", str(out_dir), "--format", fmt,
    )  # fmt: skip
    assert code == 0, err
    lines = [line.strip() for line in out.splitlines()]
    (new_line,) = [line for line in lines if line.startswith("kk new tabular ")]
    (fetch_line,) = [line for line in lines if line.startswith("kk fetch ")]
    new_args = shlex.split(new_line)[1:]
    assert new_args[2] == "made-comp" and "--no-input" in new_args
    assert "solution_file=solution.csv" in new_args and f"submission_format={fmt}" in new_args
    assert kk_inprocess(capsys, monkeypatch, *new_args)[0] == 0
    fetch_args = shlex.split(fetch_line)[1:]
    assert fetch_args == ["fetch", "made-comp", "--from", str(out_dir)]
    assert kk_inprocess(capsys, monkeypatch, *fetch_args)[0] == 0
    assert kk_inprocess(capsys, monkeypatch, "folds", "made-comp")[0] == 0
    code, _, err = kk_inprocess(capsys, monkeypatch, "train", "made-comp", "--model", "linear")
    assert code == 0, err
    (run,) = records.list_runs(projects_dir / "made-comp" / "runs")
    code, out, err = kk_inprocess(
        capsys, monkeypatch, "score", "made-comp", "--run", run.run_id, "--json"
    )
    assert code == 0, err
    scores = json.loads(out.strip().splitlines()[-1])
    assert scores["metric"] == ("accuracy" if fmt == "labels" else "log_loss")
    # The solution file make-competition wrote is what kk score used: both leaderboards.
    assert set(scores) == {"metric", "all", "public", "private"}
    assert all(np.isfinite(scores[k]) for k in ("all", "public", "private"))


def test_help_shows_flags_without_a_value_type(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--json <bool>` read as if the flag took a value."""
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = kk_inprocess(capsys, monkeypatch, "train", "--help")
    assert code == 0 and "--fresh" in out and "--model" in out
    assert "<bool>" not in out and "<str>" in out  # value options keep their type


def test_kk_demo_ends_with_the_next_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 33: `make demo` ended on a table; it ends with what to run next."""
    monkeypatch.setenv("KK_PROJECTS_DIR", str(tmp_path / "projects"))  # kk demo sets it
    code, out, err = kk_inprocess(capsys, monkeypatch, "demo", "--dir", str(tmp_path / "demo"))
    assert code == 0, err
    tail = out.strip().splitlines()[-5:]
    assert tail[0] == "Next steps:"
    assert "kk ensemble" in tail[1] and "KK_PROJECTS_DIR=" in tail[1]
    assert any(line.strip().startswith("kk make-competition YOUR.csv") for line in tail)


def test_main_works_without_click_installed(monkeypatch) -> None:
    # typer 0.2x vendors click and no longer installs it: a fresh `pip install kagglekit`
    # has no click, and kk must still start (it once failed with ModuleNotFoundError).
    import sys

    import kagglekit.cli as cli

    monkeypatch.setitem(sys.modules, "click", None)
    aborts, errors = cli._click_exception_types()
    assert aborts and all(isinstance(t, type) for t in aborts + errors)
