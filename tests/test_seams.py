"""The loop beyond tables: loaders, task objects, backends that declare their data,
folds from arrays, the early submission check, resume of an interrupted run, --smoke.

An image project made of tiny generated idx files goes through the same kk commands as
a table project.
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit import folds as folds_mod
from kagglekit import records
from kagglekit.config import CVConfig
from kagglekit.errors import KKError
from kagglekit.tasks import get_task
from kagglekit.testing import run_kk_inprocess

pytest.importorskip("torch")


def _write_idx(path: Path, array: np.ndarray, *, gz: bool = True) -> None:
    magic = 0x0803 if array.ndim == 3 else 0x0801
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(payload) if gz else payload)


def _image_mirror(folder: Path, *, n_train: int = 300, n_test: int = 60, seed: int = 0) -> Path:
    """Three classes of 12x12 images told apart by where a bright square sits."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)

    def make(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = rng.integers(0, 3, n)
        x = rng.integers(0, 60, (n, 12, 12))
        for i, label in enumerate(y):
            x[i, 4 * label : 4 * label + 4, 4:8] = 250
        return x.astype(np.uint8), y.astype(np.uint8)

    x, y = make(n_train)
    x_test, y_test = make(n_test)
    _write_idx(folder / "train-images.gz", x)
    _write_idx(folder / "train-labels.gz", y)
    _write_idx(folder / "test-images.gz", x_test)
    _write_idx(folder / "test-labels.gz", y_test)
    return folder


IMAGE_CONFIG = """
default_model = "mlp"

[competition]
name = "shapes"
source = {{ kind = "mirror" }}
id_column = "id"
target_column = "label"
task = "multiclass"
metric = "accuracy"

[data]
loader = "idx"
params = {{ train_images = "train-images.gz", train_labels = "train-labels.gz", test_images = "test-images.gz", test_labels = "test-labels.gz", label_names = ["top", "middle", "bottom"] }}

[cv]
kind = "{cv}"
n_splits = 3
seed = 0

[models.mlp]
backend = "mlp"
params = {{ hidden = [32], epochs = {epochs}, batch_size = 32, lr = 0.01, num_threads = 1 }}

[models.cnn]
backend = "cnn"
params = {{ channels = [4, 8], epochs = 2, batch_size = 32, flip = true, translate = 1, num_threads = 1 }}

[models.lightgbm]
backend = "lightgbm"
"""


@pytest.fixture
def image_project(projects_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    mirror = _image_mirror(tmp_path / "mirror")
    project = projects_dir / "shapes"
    project.mkdir()
    (project / "config.toml").write_text(IMAGE_CONFIG.format(cv="holdout", epochs=3))
    return project, mirror


def _kk(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    code, out, err = run_kk_inprocess(capsys, monkeypatch, *args)
    assert code == 0, err
    return out


def test_an_image_project_goes_through_fetch_folds_train_score(
    image_project: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project, mirror = image_project
    _kk(capsys, monkeypatch, "fetch", "shapes", "--from", str(mirror))
    _kk(capsys, monkeypatch, "folds", "shapes")
    folds = pd.read_csv(project / "data" / "folds.csv")
    assert list(folds.columns) == ["id", "fold_0"] and len(folds) == 300
    assert set(folds["fold_0"]) == {-1, 0} and (folds["fold_0"] == 0).sum() == 60  # 20 %
    summary = json.loads(_kk(capsys, monkeypatch, "train", "shapes", "--json").splitlines()[-1])
    assert summary["cv_mean"] > 0.9  # the square's position is easy to learn
    (run,) = records.list_runs(project / "runs")
    rec = run.record
    assert rec["data_kind"] == "images" and rec["classes"] == [0, 1, 2]
    history = rec["fold_scores"][0]["learned"]["history"]
    assert len(history["valid_score"]) == 3 and rec["fold_scores"][0]["learned"]["device"] == "cpu"
    assert run.load_array("oof").shape == (300, 3) and run.load_array("test").shape == (60, 3)
    # What reports read without reloading the data or the trainer's history: the encoded
    # target, and the CV of the last epoch's weights (one holdout fold: its last score).
    assert run.load_array("target").shape == (300,) and set(run.load_array("target")) == {0, 1, 2}
    assert rec["cv_last_epoch"] == pytest.approx(history["valid_score"][-1])
    sub = pd.read_csv(run.path("submission.csv"))
    assert list(sub.columns) == ["id", "label"] and sub["id"].tolist() == list(range(60))
    # The idx test labels are the local solution: kk score gives the test accuracy.
    out = _kk(capsys, monkeypatch, "score", "shapes", "--run", run.run_id, "--json")
    assert json.loads(out.splitlines()[-1])["all"] > 0.9
    # The decoded arrays were cached, keyed by the raw files' checksums.
    assert len(list((project / "data" / "interim").glob("idx-*.npz"))) == 1


def test_a_tabular_backend_on_images_is_one_line(
    image_project: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, mirror = image_project
    _kk(capsys, monkeypatch, "fetch", "shapes", "--from", str(mirror))
    _kk(capsys, monkeypatch, "folds", "shapes")
    code, _, err = run_kk_inprocess(capsys, monkeypatch, "train", "shapes", "--model", "lightgbm")
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1, err
    assert "backend 'lightgbm', which reads frame data" in lines[0] and "images" in lines[0]


def test_smoke_runs_every_model_entry_and_records_nothing(
    image_project: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    project, mirror = image_project
    (project / "config.toml").write_text(
        IMAGE_CONFIG.format(cv="holdout", epochs=3).replace(
            '[models.lightgbm]\nbackend = "lightgbm"\n', ""
        )
    )
    _kk(capsys, monkeypatch, "fetch", "shapes", "--from", str(mirror))
    _kk(capsys, monkeypatch, "folds", "shapes")
    out = _kk(capsys, monkeypatch, "train", "shapes", "--smoke", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["model"] for r in rows) == ["cnn", "mlp"]
    assert all(r["learned"]["n_epochs_run"] <= 2 for r in rows)
    assert not (project / "runs").exists()


def test_an_interrupted_run_goes_on_and_keeps_its_finished_folds(
    image_project: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fold 1 of 3 fails mid-fit; the next kk train reuses the run and refits only folds 1-2,
    and the result equals an uninterrupted run's."""
    project, mirror = image_project
    (project / "config.toml").write_text(IMAGE_CONFIG.format(cv="stratified", epochs=2))
    _kk(capsys, monkeypatch, "fetch", "shapes", "--from", str(mirror))
    _kk(capsys, monkeypatch, "folds", "shapes")
    from kagglekit.torch import trainer

    real_fit = trainer.TorchModel.fit
    fitted: list[int] = []

    def fit(self, X, y, *, X_valid=None, y_valid=None, fold=None):  # type: ignore[no-untyped-def]
        fitted.append(fold.fold)
        if fold.fold == 1 and len(fitted) == 2:
            raise KeyboardInterrupt  # Ctrl-C in the second fold
        return real_fit(self, X, y, X_valid=X_valid, y_valid=y_valid, fold=fold)

    monkeypatch.setattr(trainer.TorchModel, "fit", fit)
    code, _, err = run_kk_inprocess(capsys, monkeypatch, "train", "shapes")
    assert code != 0 and "interrupted" in err
    (failed,) = records.list_runs(project / "runs")
    assert failed.status == "FAILED" and (failed.folder / "folds" / "r0f0" / "result.json").exists()
    # Another model entry added meanwhile changes nothing for this run: it goes on.
    config = (project / "config.toml").read_text()
    (project / "config.toml").write_text(
        config + '\n[models.added_meanwhile]\nbackend = "mlp"\nparams = { epochs = 1 }\n'
    )
    _kk(capsys, monkeypatch, "train", "shapes")
    assert fitted == [0, 1, 1, 2]  # fold 0 was not trained again
    (resumed,) = records.list_runs(project / "runs")
    assert resumed.status == "COMPLETE" and resumed.run_id == failed.run_id
    assert len(resumed.record["resumed"]) == 1
    monkeypatch.setattr(trainer.TorchModel, "fit", real_fit)
    _kk(capsys, monkeypatch, "train", "shapes", "--fresh")
    fresh = [r for r in records.list_runs(project / "runs") if r.run_id != failed.run_id]
    np.testing.assert_allclose(fresh[0].load_array("oof"), resumed.load_array("oof"), atol=1e-6)


def test_a_run_interrupted_under_the_old_whole_config_key_still_resumes(tmp_path: Path) -> None:
    from kagglekit import training

    config = {"competition": {"name": "c"}, "models": {"a": {"x": 1}, "b": {"y": 2}}}
    new = training.resume_key(config, "a", "f")
    old = training.resume_key(config, "a", "f", whole_config=True)
    assert new != old
    added = {**config, "models": {**config["models"], "c": {}}}
    assert training.resume_key(added, "a", "f") == new  # another entry changes nothing
    run = records.start_run(tmp_path, model="a", repo_dir=tmp_path, resume_key=old)
    (run.folder / "folds").mkdir()
    run.update(status="FAILED")
    assert training.find_resumable(tmp_path, new) is None
    resumable = training.find_resumable(tmp_path, new, old)
    assert resumable is not None and resumable.run_id == run.run_id


def test_the_submission_format_is_checked_before_the_first_fold(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A labels config against a sample of class probabilities fails before any fold."""
    from kagglekit.testing import make_tiny_project, tiny_config

    config = tiny_config("tiny", task="multiclass", metric="accuracy", submission_format="labels")
    paths = make_tiny_project(projects_dir, "tiny", task="multiclass", config=config)
    _kk(capsys, monkeypatch, "fetch", "tiny", "--from", str(paths["mirror"]))
    _kk(capsys, monkeypatch, "folds", "tiny")
    code, _, err = run_kk_inprocess(capsys, monkeypatch, "train", "tiny")
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1, err
    assert "submission format does not match the sample submission" in lines[0]
    assert not (paths["project"] / "runs").exists()  # no run folder, no fold trained


def test_holdout_folds_validate_one_share_once() -> None:
    cv = CVConfig(kind="holdout", valid_size=0.25, n_repeats=2, seed=1)
    y = np.repeat([0, 1], 50)
    assignment = folds_mod.assign_fold_arrays(100, cv, strata=y)
    assert assignment.shape == (2, 100)
    for row in assignment:
        assert set(row) == {-1, 0} and (row == 0).sum() == 25
        assert (y[row == 0] == 1).sum() in (12, 13)  # stratified
    folds = folds_mod.Folds(assignment=assignment, hash="h", kind="holdout", n_splits=1)
    splits = list(folds.splits())
    assert len(splits) == 2 and all(len(s.train_idx) == 75 for s in splits)


def test_fold_arrays_match_the_table_path() -> None:
    """Folds from arrays are the ones the table path saved before (same hashes)."""
    from kagglekit.testing import make_tiny_frame

    frame = make_tiny_frame(120, task="multiclass")
    cv = CVConfig(kind="stratified", n_splits=4, n_repeats=2, seed=3)
    table = folds_mod.assign_folds(
        frame, cv, id_column="id", target_column="target", task="multiclass"
    )
    y, _ = get_task("multiclass").encode(frame["target"])
    arrays = folds_mod.assign_fold_arrays(len(frame), cv, strata=y)
    np.testing.assert_array_equal(table[["fold_0", "fold_1"]].to_numpy().T, arrays)


@pytest.mark.parametrize(
    ("task", "target", "classes", "codes"),
    [
        ("binary", ["b", "a", "b"], ["a", "b"], [1, 0, 1]),
        ("multiclass", [3, 1, 2, 1], [1, 2, 3], [2, 0, 1, 0]),
        ("regression", [0.5, 1.5], None, [0.5, 1.5]),
    ],
)
def test_tasks_encode_their_target(
    task: str, target: list, classes: list | None, codes: list
) -> None:
    y, found = get_task(task).encode(pd.Series(target))
    assert found == classes and y.tolist() == codes


def test_a_declared_class_order_is_kept_and_unknown_labels_are_refused() -> None:
    task = get_task("multiclass")
    y, classes = task.encode(pd.Series(["dog", "cat", "ship"]), classes=["ship", "cat", "dog"])
    assert classes == ["ship", "cat", "dog"] and y.tolist() == [2, 1, 0]
    with pytest.raises(KKError, match="not among the 3 declared classes"):
        task.encode(pd.Series(["dog", "emu"]), classes=["ship", "cat", "dog"])


def test_tasks_refuse_formats_that_do_not_fit() -> None:
    with pytest.raises(KKError, match="does not fit a regression task"):
        get_task("regression").check_format("labels")
    get_task("multiclass").check_format("probabilities")


def test_config_load_imports_no_model_backend_module() -> None:
    """The config -> models -> tabular -> features -> config circle is gone."""
    import subprocess
    import sys

    code = (
        "import sys; import kagglekit.config as c; "
        "print(any(m.startswith('kagglekit.models') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_project_registers_its_own_backend_and_loader(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Names a project defines in its features.py pass validation (they are looked up
    after the project's files are imported)."""
    from kagglekit.testing import make_tiny_project, tiny_config

    extra = '\n[models.mine]\nbackend = "always_half"\n'
    paths = make_tiny_project(projects_dir, "tiny", config=tiny_config("tiny", extra=extra))
    (paths["project"] / "features.py").write_text(
        "import numpy as np\n"
        "from kagglekit.models import Backend, register_backend\n\n"
        "class Half:\n"
        "    def fit(self, X, y, **kw):\n        return self\n"
        "    def predict(self, X):\n        return np.full(len(X), 0.5)\n"
        "    def learned(self):\n        return {}\n\n"
        "register_backend(Backend(name='always_half', tasks=('binary',), "
        "build=lambda ctx: Half(), known_params=lambda task: set(), family='custom'))\n"
    )
    _kk(capsys, monkeypatch, "fetch", "tiny", "--from", str(paths["mirror"]))
    _kk(capsys, monkeypatch, "folds", "tiny")
    summary = json.loads(
        _kk(capsys, monkeypatch, "train", "tiny", "--model", "mine", "--json").splitlines()[-1]
    )
    assert summary["model"] == "mine"


def test_kk_tune_prunes_an_image_model_inside_a_fold(
    image_project: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Per-epoch scores are kept per (fold, epoch); a trial worse than the finished trials'
    median at the same epoch stops mid-fold."""
    pytest.importorskip("optuna")
    import optuna

    project, mirror = image_project
    config = IMAGE_CONFIG.format(cv="holdout", epochs=3).replace(
        "[models.cnn]",
        "[models.mlp.search]\nlr = { low = 1e-5, high = 0.3, log = true }\n\n[models.cnn]",
    )
    (project / "config.toml").write_text(config)
    _kk(capsys, monkeypatch, "fetch", "shapes", "--from", str(mirror))
    _kk(capsys, monkeypatch, "folds", "shapes")
    _kk(capsys, monkeypatch, "tune", "shapes", "--model", "mlp", "--trials", "12", "--seed", "3")
    (journal,) = (project / "studies").glob("*.journal")
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    (summary,) = optuna.get_all_study_summaries(storage)
    trials = optuna.load_study(study_name=summary.study_name, storage=storage).trials
    curves = [t.user_attrs.get("kk_epoch_scores", {}).get("0", []) for t in trials]
    complete = [c for t, c in zip(trials, curves, strict=True) if t.state.name == "COMPLETE"]
    pruned = [c for t, c in zip(trials, curves, strict=True) if t.state.name == "PRUNED"]
    assert all(len(c) == 3 for c in complete)
    assert pruned and all(len(c) < 3 for c in pruned)  # stopped inside the only fold


def test_the_report_shows_the_most_confident_mistakes_of_an_image_run(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from kagglekit.reports import plot_misclassified

    run = records.Run(tmp_path, {"run_id": "r1", "model": "cnn", "classes": [0, 1, 2]})
    images = np.zeros((5, 1, 12, 12), dtype=np.uint8)
    y = np.array([0, 1, 2, 0, 1])
    oof = np.array(
        [[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8], [0.5, 0.5, 0.0]]
    )
    path = plot_misclassified(run, images, y, oof, tmp_path / "m.png", label_names=["a", "b", "c"])
    assert path is not None and path.read_bytes().startswith(b"\x89PNG")
    right = np.eye(3)[y]
    assert plot_misclassified(run, images, y, right, tmp_path / "none.png") is None
