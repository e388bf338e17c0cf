"""The vision template and the ``auto`` image loader: kk new, fetch, folds, train, no code.

Each layout is a tiny generated competition (``kagglekit.vision.testing``); projects are
generated through ``kk new`` itself (the cookiecutter rendering path), then run with kk.
projects/fashion-mnist is a generated vision project: its recorded answers reproduce it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kagglekit.config import load_config, validate_config
from kagglekit.errors import KKError
from kagglekit.scaffold import (
    ANSWERS_FILE,
    drifted_owned_files,
    load_template,
    new_project,
    templates_root,
    validate_answers,
)
from kagglekit.testing import run_kk_inprocess
from kagglekit.vision.testing import LAYOUTS, write_image_competition

FASHION = templates_root() / "projects" / "fashion-mnist"


def _project(tmp_path: Path, params: dict[str, object] | None = None) -> tuple[object, object]:
    from kagglekit.project import Project

    cfg = validate_config(
        {
            "default_model": "m",
            "competition": {
                "name": "x",
                "id_column": "id",
                "target_column": "label",
                "task": "multiclass",
                "metric": "accuracy",
            },
            "data": {"loader": "auto", "params": params or {}},
            "cv": {"kind": "holdout"},
            "models": {"m": {"backend": "cnn"}},
        }
    )
    project = Project(name="x", root=tmp_path / "p")
    project.root.mkdir(parents=True)
    return project, cfg


# --- the auto loader ---------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_auto_recognises_each_layout_and_reads_it(tmp_path: Path, layout: str) -> None:
    from kagglekit import data, loaders
    from kagglekit.vision.loaders import detect_layout

    mirror = write_image_competition(tmp_path / "mirror", layout, n_train=30, n_test=12)
    project, cfg = _project(tmp_path)
    data.fetch(project, cfg, from_dir=mirror)  # auto needs no particular file
    assert detect_layout(project, cfg)["loader"] == layout
    dataset = loaders.load_dataset(project, cfg)
    assert dataset.kind == "images" and len(dataset.X) == 30 and len(dataset.X_test) == 12
    assert dataset.X.shape[1:] == dataset.X_test.shape[1:]
    # Layouts whose test files carry labels give kk score a local solution.
    assert (dataset.solution is not None) == (layout != "image_folder")


def test_auto_lays_the_projects_params_over_the_detected_ones(tmp_path: Path) -> None:
    from kagglekit import data, loaders

    mirror = write_image_competition(tmp_path / "mirror", "idx", n_train=30, n_test=12)
    project, cfg = _project(tmp_path, {"label_names": ["a", "b", "c"]})
    data.fetch(project, cfg, from_dir=mirror)
    assert loaders.load_dataset(project, cfg).info["label_names"] == ["a", "b", "c"]
    project2, bad = _project(tmp_path / "2", {"label_nmes": ["a"]})
    data.fetch(project2, bad, from_dir=mirror)
    with pytest.raises(KKError, match=r"data\.params key for loader 'idx' 'label_nmes'"):
        loaders.load_dataset(project2, bad)


def test_auto_names_what_it_found_when_no_layout_matches(tmp_path: Path) -> None:
    from kagglekit import data, loaders

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "notes.txt").write_text("hello")
    (mirror / "table.csv").write_text("id,x\n1,2\n")
    project, cfg = _project(tmp_path)
    data.fetch(project, cfg, from_dir=mirror)
    with pytest.raises(KKError) as err:
        loaders.load_dataset(project, cfg)
    message = str(err.value)
    assert "\n" not in message and "notes.txt, table.csv" in message
    assert "idx, cifar_batches, pixels_csv, image_folder" in message


# --- kk new vision, then kk fetch / folds / train with no code ----------------------------


# Every layout through its own loader is slow-marked (about 10 s each on a CPU); auto on a
# pixels CSV and idx run always.
_SLOW = pytest.mark.slow
_KK_LAYOUTS = [("auto", "pixels_csv"), ("idx", "idx")]
_KK_LAYOUTS += [
    pytest.param(x, x, marks=_SLOW) for x in ("pixels_csv", "image_folder", "cifar_batches")
]


@pytest.mark.parametrize(("layout", "files"), _KK_LAYOUTS)
def test_kk_new_vision_then_fetch_folds_and_train(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    layout: str, files: str,
) -> None:  # fmt: skip
    def kk(*args: str) -> str:
        code, out, err = run_kk_inprocess(capsys, monkeypatch, *args)
        assert code == 0, err
        return out

    names = "" if files == "image_folder" else "zero,one,two"
    kk("new", "vision", "comp", "--no-input", "--competition", "some-comp",
       "--set", f"layout={layout}", "--set", f"label_names={names}")  # fmt: skip
    project = projects_dir / "comp"
    cfg = load_config(project / "config.toml")
    assert cfg.data.loader == layout and cfg.cv.kind == "holdout"
    assert cfg.default_model == "cnn" and {"mlp", "lenet5", "cnn", "resnet"} <= set(cfg.models)
    mirror = write_image_competition(
        projects_dir.parent / "mirror", files, n_train=60, n_test=20, params=cfg.data.params
    )
    kk("fetch", "comp", "--from", str(mirror))
    kk("folds", "comp")
    assert "cnn" in kk("train", "comp", "--smoke")
    small = ["--set", "models.cnn.params.epochs=1", "--set", "models.cnn.params.warmup_epochs=0"]
    small += ["--set", "models.cnn.params.channels=[8, 8]"]
    kk("train", "comp", *small)
    [run] = [p for p in (project / "runs").iterdir() if (p / "record.json").is_file()]
    record = json.loads((run / "record.json").read_text())
    assert record["status"] == "COMPLETE"
    submission = (run / "submission.csv").read_text().splitlines()
    assert submission[0] == "id,label" and len(submission) == 21


def test_vision_answers_reach_the_config(projects_dir: Path) -> None:
    project = new_project(
        "vision",
        "big",
        {
            "competition": "owner/pets",
            "layout": "image_folder",
            "model": "timm",
            "backbone": "convnext_tiny",
            "cv": "stratified",
            "n_splits": "4",
            "task": "binary",
            "metric": "roc_auc",
            "id_column": "image_id",
        },
    )
    cfg = load_config(project / "config.toml")
    assert cfg.default_model == "timm" and cfg.models["timm"].backend == "timm"
    assert cfg.models["timm"].params["name"] == "convnext_tiny"
    assert cfg.models["timm"].params["pretrained"] is False  # nothing downloads by default
    assert (cfg.cv.kind, cfg.cv.n_splits) == ("stratified", 4)
    assert cfg.competition.submission_format == "probabilities"
    assert cfg.data.loader == "image_folder" and cfg.data.params["labels_file"] == "trainLabels.csv"
    assert "https://www.kaggle.com/datasets/owner/pets" in (project / "README.md").read_text()
    record = json.loads((project / ANSWERS_FILE).read_text())
    assert record["template"] == "vision" and drifted_owned_files(project) == []
    for path in project.rglob("*"):
        if path.is_file():
            assert "{{" not in path.read_text() and "{%" not in path.read_text(), path


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"layout": "folder"}, "layout 'folder' is not one of auto, idx"),
        ({"valid_size": "a fifth"}, "valid_size 'a fifth' is not a number"),
        ({"valid_size": "1.5"}, "valid_size"),
        ({"label_names": "cat,dog,cat"}, "empty or repeated name"),
        ({"model": "timm", "backbone": " "}, "backbone is empty"),
        ({"metric": "rmse"}, "does not fit task 'multiclass'"),
        ({"target_column": "id"}, "must differ"),
    ],
)
def test_bad_vision_answers_fail_in_one_line_and_leave_nothing(
    projects_dir: Path, given: dict[str, str], message: str
) -> None:
    with pytest.raises(KKError) as err:
        new_project("vision", "x", given)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert list(projects_dir.iterdir()) == []


# --- projects/fashion-mnist is generated from the template --------------------------------


def test_fashion_mnist_records_answers_that_describe_it() -> None:
    record = json.loads((FASHION / ANSWERS_FILE).read_text())
    assert record["template"] == "vision"
    answers = record["answers"]
    assert set(answers) == set(load_template("vision").questions)
    validate_answers("vision", answers)
    cfg = load_config(FASHION / "config.toml")
    assert answers["slug"] == FASHION.name == cfg.competition.name
    assert (answers["layout"], answers["cv"], answers["model"]) == (
        cfg.data.loader,
        cfg.cv.kind,
        cfg.default_model,
    )
    assert float(answers["valid_size"]) == cfg.cv.valid_size
    assert cfg.data.params["label_names"][0] == "T-shirt/top"


def test_fashion_mnist_template_owned_files_have_not_drifted() -> None:
    owned = load_template("vision").owned
    assert owned and all((FASHION / rel).is_file() for rel in owned)
    assert drifted_owned_files(FASHION) == []


def test_fashion_mnist_readme_keeps_the_generated_results_section() -> None:
    readme = (FASHION / "README.md").read_text()
    start, end = readme.find("<!-- kk:results:start -->"), readme.find("<!-- kk:results:end -->")
    assert 0 <= start < end
