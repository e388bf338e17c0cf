"""Inside Kaggle (issue 35): inputs found under /kaggle/input whatever its layout, no network,
a read-only project writing its runs under /kaggle/working.

Each test builds a fake ``/kaggle/input`` tree in ``tmp_path`` and points
``KK_KAGGLE_INPUT`` at it; the Kaggle client and sockets are made to fail if touched.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any

import pytest

import kagglekit.data.kaggle_input as kaggle_input
import kagglekit.project as project_mod
from kagglekit import data, folds, training
from kagglekit.errors import KKError
from kagglekit.loaders import required_files
from kagglekit.project import open_project
from kagglekit.testing import make_tiny_project, run_kk_inprocess

LAYOUTS = [
    "tiny-comp",  # older notebooks: /kaggle/input/COMP
    "competitions/tiny-comp",
    "datasets/someone/tiny-comp",
    "datasets/someone/renamed/version-2",  # found by its files alone, a level further down
]


@pytest.fixture
def kaggle_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake /kaggle/input root; no mirror; the Kaggle client and sockets refuse use."""
    root = tmp_path / "kaggle-input"
    root.mkdir()
    monkeypatch.setenv(kaggle_input.INPUT_ENV, str(root))
    monkeypatch.delenv("KK_DATA_MIRROR", raising=False)

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the network was tried inside Kaggle")

    monkeypatch.setattr("kagglekit.kaggle.api.client", no_network)
    monkeypatch.setattr("kagglekit.data.sources.download_url", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    return root


def _kaggle_project(projects: Path) -> dict[str, Path]:
    """The tiny competition with a Kaggle source (``kk fetch`` would download it)."""
    paths = make_tiny_project(projects, "tiny")
    config = paths["project"] / "config.toml"
    text = config.read_text().replace(
        'source = { kind = "mirror", mirror_folder = "tiny" }', 'slug = "tiny-comp"'
    )
    assert 'slug = "tiny-comp"' in text
    config.write_text(text)
    return paths


def _attach(mirror: Path, folder: Path) -> Path:
    shutil.copytree(mirror, folder)
    return folder


@pytest.mark.parametrize("layout", LAYOUTS)
def test_fetch_finds_the_competition_in_each_input_layout_without_network(
    projects_dir: Path, kaggle_env: Path, layout: str
) -> None:
    paths = _kaggle_project(projects_dir)
    attached = _attach(paths["mirror"], kaggle_env / layout)
    # Other inputs beside it: a model and a dataset without the competition's files.
    (kaggle_env / "models/someone/m/pytorch/default/1").mkdir(parents=True)
    (kaggle_env / "datasets/someone/wheels").mkdir(parents=True)
    (kaggle_env / "datasets/someone/wheels/train.csv").write_text("a\n1\n")
    project = open_project("tiny")
    cfg = project.config()
    manifest = data.fetch(project, cfg, required=required_files(project, cfg))
    assert {"train.csv", "test.csv", "sample_submission.csv"} <= set(manifest)
    assert (project.raw_dir / "train.csv").read_bytes() == (attached / "train.csv").read_bytes()
    recorded = (project.raw_dir / data.MANIFEST).read_text()
    assert f"kaggle input {attached}" in recorded


def test_kk_fetch_inside_kaggle_reads_the_input_and_never_downloads(
    projects_dir: Path, kaggle_env: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = _kaggle_project(projects_dir)
    code, _out, err = run_kk_inprocess(capsys, monkeypatch, "fetch", "tiny")
    assert code == 1
    assert "no folder under" in err and "train.csv" in err and "Add Input" in err
    assert not (projects_dir / "tiny" / "data" / "raw").exists()
    _attach(paths["mirror"], kaggle_env / "competitions" / "tiny-comp")
    code, _out, err = run_kk_inprocess(capsys, monkeypatch, "fetch", "tiny")
    assert code == 0, err
    assert (projects_dir / "tiny" / "data" / "raw" / "train.csv").is_file()


def test_several_inputs_with_the_files_pick_the_named_one_or_refuse(
    projects_dir: Path, kaggle_env: Path
) -> None:
    paths = _kaggle_project(projects_dir)
    _attach(paths["mirror"], kaggle_env / "datasets/a/copy-one")
    _attach(paths["mirror"], kaggle_env / "datasets/b/copy-two")
    required = ["train.csv", "test.csv"]
    with pytest.raises(
        KKError, match=r"several inputs .*\(datasets/a/copy-one, datasets/b/copy-two\).*--from DIR"
    ):
        kaggle_input.find_competition_folder(required, ["tiny-comp"])
    named = _attach(paths["mirror"], kaggle_env / "datasets/c/tiny-comp")
    assert kaggle_input.find_competition_folder(required, ["tiny-comp"]) == named
    # A copy nested inside the chosen input is the same input seen deeper.
    _attach(paths["mirror"], named / "backup")
    assert kaggle_input.find_competition_folder(required, ["owner/tiny-comp"]) == named


def test_nested_required_paths_and_name_only_loaders(kaggle_env: Path) -> None:
    comp = kaggle_env / "competitions" / "cifar-10"
    (comp / "cifar-10-batches-py").mkdir(parents=True)
    for name in ("data_batch_1", "test_batch"):
        (comp / "cifar-10-batches-py" / name).write_bytes(b"x")
    required = ["cifar-10-batches-py/data_batch_1", "cifar-10-batches-py/test_batch"]
    assert kaggle_input.find_competition_folder(required, ["cifar10"]) == comp
    # A loader that names no file (``auto``) is matched by the slug Kaggle mounts it under.
    assert kaggle_input.find_competition_folder([], ["owner/CIFAR_10"]) == comp
    with pytest.raises(KKError, match="a folder named mnist"):
        kaggle_input.find_competition_folder([], ["mnist"])


def test_outside_kaggle_nothing_is_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(kaggle_input.INPUT_ENV, raising=False)
    monkeypatch.setattr(kaggle_input, "KAGGLE_INPUT", tmp_path / "absent")
    assert not kaggle_input.inside_kaggle()
    assert kaggle_input.find_competition_folder(["train.csv"], ["x"]) is None
    assert kaggle_input.find_pretrained("all-MiniLM-L6-v2") is None
    monkeypatch.setenv(kaggle_input.INPUT_ENV, str(tmp_path / "typo"))
    with pytest.raises(KKError, match=r"KK_KAGGLE_INPUT=.*is not a folder"):
        kaggle_input.input_root()


def _model_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text("{}")  # a sentence-transformers part
    return folder


def test_pretrained_weights_found_as_a_kaggle_model_or_in_a_dataset(kaggle_env: Path) -> None:
    from kagglekit.text.embeddings import resolve_model

    base = kaggle_env / "models/sentence-transformers/all-minilm-l6-v2/transformers/default"
    _model_folder(base / "1")
    latest = _model_folder(base / "2")
    assert kaggle_input.find_pretrained("sentence-transformers/all-MiniLM-L6-v2") == latest
    assert resolve_model("all-MiniLM-L6-v2") == str(latest)
    assert kaggle_input.find_pretrained("bert-base-uncased") is None
    shutil.rmtree(kaggle_env / "models")
    in_dataset = _model_folder(kaggle_env / "datasets/me/kk-weights/all-MiniLM-L6-v2")
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == str(in_dataset)
    # A folder path given as the model is used as it is.
    assert resolve_model(str(kaggle_env)) == str(kaggle_env)


def test_twin_seeds_follow_the_folds_and_records_names() -> None:
    from kagglekit.folds import META_SUFFIX
    from kagglekit.records import RECORDS_DIR

    assert f"data/folds{META_SUFFIX}" in project_mod._TWIN_SEEDS
    assert RECORDS_DIR in project_mod._TWIN_SEEDS


def test_read_only_project_writes_runs_under_working_and_data_outside_it(
    projects_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = make_tiny_project(projects_dir, "tiny")
    root = paths["project"]
    # The project came with saved folds, a run and a committed record (as a bundle would).
    ready = open_project("tiny")
    data.fetch(ready, ready.config(), from_dir=paths["mirror"])
    saved = folds.assign_project_folds(ready, ready.config())
    (root / "runs" / "r-old").mkdir(parents=True)
    (root / "runs" / "r-old" / "record.json").write_text("{}")
    (root / "reports" / "records").mkdir(parents=True)
    (root / "reports" / "records" / "r-old.zip").write_bytes(b"zip")
    shutil.rmtree(root / "data" / "raw", onerror=_writable_then_remove)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))

    working, scratch = tmp_path / "working", tmp_path / "scratch"
    monkeypatch.setenv(project_mod.WORKING_ENV, str(working))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    # Kaggle mounts inputs read-only (EROFS even for root); a test cannot mount, so the
    # project folder is declared read-only instead.
    monkeypatch.setattr(project_mod, "is_writable", lambda p: not Path(p).is_relative_to(root))
    project = open_project("tiny")
    twin = working / "projects" / "tiny"
    assert project.twin == twin
    assert project.runs_dir == twin / "runs" and project.folds_path == twin / "data/folds.csv"
    assert project.raw_dir.is_relative_to(scratch) and not project.raw_dir.is_relative_to(working)
    assert (twin / "runs" / "r-old" / "record.json").is_file()
    assert (twin / "reports" / "records" / "r-old.zip").is_file()

    cfg = project.config()
    data.fetch(project, cfg, from_dir=paths["mirror"], required=required_files(project, cfg))
    again = folds.assign_project_folds(project, cfg)
    assert again.hash == saved.hash and not again.changed  # the bundled folds, unchanged
    result = training.train(project, cfg, model_name="linear")
    assert result.run.folder.parent == twin / "runs"
    assert result.submission_path.is_file() and result.submission_path.is_relative_to(twin)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def _writable_then_remove(func: Any, path: str, exc: Any) -> None:
    Path(path).parent.chmod(0o755)
    Path(path).chmod(0o644)
    func(path)
