"""Issue 33: competitions made on this machine (``kk make-competition``).

The printed ``kk new`` line names the template that reads the table (nlp for a text CSV,
vision for pixels, recsys for user/item/rating, tabular otherwise); the project it makes
scores with ``kk score`` without editing its config, links no Kaggle page, and fetches
(again) from the folder the files were written to, never from Kaggle.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit import data
from kagglekit.config import load_config
from kagglekit.errors import KKError
from kagglekit.scaffold import new_project
from kagglekit.testing import make_tiny_frame, run_kk_inprocess

_GOOD = ["what a lovely sunny day in the park", "great food and very friendly people"]
_BAD = ["terrible traffic and awful rain again", "the service was slow and the food cold"]


def _texts(n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    label = np.arange(n) % 2
    text = [f"{(_GOOD if y else _BAD)[rng.integers(2)]} {rng.integers(99)}" for y in label]
    keyword = rng.choice(["fire", "flood"], n)
    return pd.DataFrame({"text": text, "keyword": keyword, "sentiment": label})


def _pixels(n: int = 90) -> pd.DataFrame:
    from kagglekit.vision.testing import tiny_images

    x, y = tiny_images(n, (1, 4, 4), 3)
    frame = pd.DataFrame(x.reshape(n, -1), columns=[f"pixel{i}" for i in range(16)])
    frame["label"] = y
    return frame


def _ratings(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "userId": rng.integers(0, 20, n),
            "movieId": rng.integers(0, 30, n),
            "rating": rng.integers(1, 11, n) / 2,
        }
    )
    return frame.drop_duplicates(["userId", "movieId"])


@pytest.mark.parametrize(
    ("frame", "target", "kind", "answers"),
    [
        (_texts(), "sentiment", "nlp", {"text_column": "text", "side_columns": "keyword"}),
        (_pixels(), "label", "vision", {"layout": "auto"}),
        (_ratings(), "rating", "recsys", {"user_column": "userId", "item_column": "movieId"}),
        (make_tiny_frame(120).drop(columns="id"), "target", "tabular", {}),
    ],
)
def test_make_competition_names_the_kind_that_reads_the_table(
    tmp_path: Path, frame: pd.DataFrame, target: str, kind: str, answers: dict[str, str]
) -> None:
    csv = tmp_path / "d.csv"
    frame.to_csv(csv, index=False)
    info = data.make_competition(csv, target=target, out=tmp_path / "comp")
    assert info["kind"] == kind
    assert answers.items() <= info["answers"].items()
    args = shlex.split(info["kk_new"])
    assert args[:3] == ["kk", "new", kind]
    assert f"source_dir={(tmp_path / 'comp').resolve()}" in args
    assert "solution_file=solution.csv" in args


def test_text_csv_made_competition_scores_offline_with_the_printed_line(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """make-competition on tweets -> kk new nlp ... -> fetch, re-fetch, train, score."""
    import kagglekit.kaggle.api as kaggle_api

    def no_kaggle(*args: object, **kwargs: object) -> None:
        raise KKError("asked for Kaggle credentials")

    monkeypatch.setattr(kaggle_api, "client", no_kaggle)
    monkeypatch.delenv("KK_DATA_MIRROR", raising=False)
    work = projects_dir.parent
    _texts().to_csv(work / "tweets.csv", index=False)
    kk = lambda *args: run_kk_inprocess(capsys, monkeypatch, *args)  # noqa: E731
    code, out, err = kk(
        "make-competition", str(work / "tweets.csv"), "--target", "sentiment",
        "--out", str(work / "tweets"),
    )  # fmt: skip
    assert code == 0, err
    assert "make a nlp project for it (column 'text' holds text" in out
    (new_line,) = [s.strip() for s in out.splitlines() if s.strip().startswith("kk new ")]
    assert new_line.startswith("kk new nlp tweets ")
    assert kk(*shlex.split(new_line)[1:])[0] == 0
    project = projects_dir / "tweets"
    cfg = load_config(project / "config.toml")
    assert cfg.competition.source.kind == "mirror"
    assert cfg.competition.solution_file == "solution.csv"
    readme = (project / "README.md").read_text()
    assert "kaggle.com" not in readme and "Local competition" in readme
    for _ in range(2):  # the first fetch and a re-fetch: the local folder, no Kaggle
        code, _, err = kk("fetch", "tweets")
        assert code == 0, err
    assert kk("folds", "tweets")[0] == 0
    code, _, err = kk("train", "tweets", "--model", "tfidf_word")
    assert code == 0, err
    code, out, err = kk("score", "tweets", "--run", "best")
    assert code == 0, err
    assert "public" in out and "private" in out


@pytest.mark.parametrize("kind", ["tabular", "nlp", "vision"])
def test_a_local_source_dir_links_no_kaggle_page_and_fetches_from_it(
    projects_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    import kagglekit.kaggle.api as kaggle_api

    monkeypatch.setattr(kaggle_api, "client", lambda *a, **k: pytest.fail("Kaggle asked"))
    monkeypatch.delenv("KK_DATA_MIRROR", raising=False)
    project = new_project(kind, "mine", {"source_dir": "../../files"})
    cfg = load_config(project / "config.toml")
    assert (cfg.competition.source.kind, cfg.competition.source.path) == ("mirror", "../../files")
    readme = (project / "README.md").read_text()
    assert "kaggle.com" not in readme and "`../../files`" in readme
    csv = projects_dir.parent / "table.csv"
    make_tiny_frame(60).drop(columns="id").to_csv(csv, index=False)
    files = projects_dir.parent / "files"  # relative to the project folder
    data.make_competition(csv, target="target", out=files)
    for _ in range(2):  # a fetch and a re-fetch
        code, _, err = run_kk_inprocess(capsys, monkeypatch, "fetch", "mine")
        assert code == 0, err
    assert (project / "data" / "raw" / "solution.csv").is_file()
    # A Kaggle project still links its page.
    other = new_project(kind, "theirs", {})
    assert "kaggle.com" in (other / "README.md").read_text()
    assert load_config(other / "config.toml").competition.source.kind != "mirror"


def test_nlp_template_asks_for_a_local_solution(projects_dir: Path) -> None:
    project = new_project("nlp", "t", {"solution_file": "solution.csv"})
    assert load_config(project / "config.toml").competition.solution_file == "solution.csv"
    project = new_project("nlp", "k", {})
    assert load_config(project / "config.toml").competition.solution_file == ""


def test_vision_template_flips_only_when_the_answer_says_so(projects_dir: Path) -> None:
    """The template's own comment: flips are wrong for digits. Off unless asked."""
    off = load_config(new_project("vision", "digits", {"model": "timm"}) / "config.toml")
    on = load_config(new_project("vision", "clothes", {"flips": "true"}) / "config.toml")
    for name, entry in off.models.items():
        assert entry.params.get("flip", False) is False, name  # the backends: off
        assert entry.params.get("tta", "none") == "none", name
    assert off.models["fastnet"].params["alternate_flip"] is False
    flipped = {n for n, e in on.models.items() if e.params.get("flip")}
    assert flipped == {"mlp", "mlp_sigmoid", "mlp_tanh", "cnn", "resnet"}
    assert "flip" not in on.models["fastnet"].params  # the backend's airbench recipe


def _class_folders(root: Path, n: int = 60, *, mixed: bool = False) -> Path:
    """A learner's image data: one folder per class (zero/, one/, two/) of grey PNGs."""
    from PIL import Image

    from kagglekit.vision.testing import tiny_images

    x, y = tiny_images(n, (1, 12, 12), 3)
    names = ["zero", "one", "two"]
    for i, (image, label) in enumerate(zip(x, y, strict=True)):
        folder = root / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        ext = ".bmp" if mixed and i % 2 else ".png"
        Image.fromarray(image[0]).save(folder / f"img{i:03d}{ext}")
    return root


def test_an_image_folder_made_competition_trains_and_scores_with_the_printed_line(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Class folders -> make-competition -> kk new vision ... -> fetch, folds, train, score."""
    monkeypatch.delenv("KK_DATA_MIRROR", raising=False)
    work = projects_dir.parent
    images = _class_folders(work / "shapes-images")
    kk = lambda *args: run_kk_inprocess(capsys, monkeypatch, *args)  # noqa: E731
    code, _, err = kk("make-competition", str(images), "--target", "y", "--out", str(work / "x"))
    assert code != 0 and "is a folder of images" in err and "leave out --target" in err
    (work / "t.csv").write_text("a,b\n1,2\n")
    code, _, err = kk("make-competition", str(work / "t.csv"), "--out", str(work / "x"))
    assert code != 0 and "--target is missing" in err
    code, out, err = kk("make-competition", str(images), "--out", str(work / "shapes"))
    assert code == 0, err
    assert "42 train images, 18 test images" in " ".join(out.split())
    assert "make a vision project for it (60 images in 3 class folders)" in out
    comp = work / "shapes"
    labels = pd.read_csv(comp / "trainLabels.csv")
    solution = pd.read_csv(comp / "solution.csv")
    assert sorted(p.name for p in (comp / "train").iterdir()) == sorted(
        f"{i}.png" for i in labels["id"]
    )
    assert set(labels["id"]).isdisjoint(solution["id"]) and len(solution) == 18
    assert solution["label"].value_counts().to_dict() == {"zero": 6, "one": 6, "two": 6}
    assert not labels["id"].is_monotonic_increasing or not labels["label"].is_monotonic_increasing
    (new_line,) = [s.strip() for s in out.splitlines() if s.strip().startswith("kk new ")]
    assert new_line.startswith("kk new vision shapes ")
    assert kk(*shlex.split(new_line)[1:])[0] == 0
    for argv in (("fetch", "shapes"), ("folds", "shapes")):
        code, _, err = kk(*argv)
        assert code == 0, err
    code, _, err = kk("train", "shapes", "--model", "cnn", "--set", "models.cnn.params.epochs=2")
    assert code == 0, err
    code, out, err = kk("score", "shapes", "--run", "best")
    assert code == 0, err
    assert "public" in out and "private" in out
    # Grey images load as one channel.
    from kagglekit.project import open_project
    from kagglekit.vision.loaders import detect_layout

    project = open_project("shapes")
    layout = detect_layout(project, load_config(project.root / "config.toml"))
    assert layout["params"]["mode"] == "L"


def test_mixed_image_files_become_png_and_bad_folders_are_one_line(tmp_path: Path) -> None:
    images = _class_folders(tmp_path / "mixed", 12, mixed=True)
    info = data.make_image_competition(images, out=tmp_path / "comp", test_size=0.5)
    files = {p.suffix for p in (tmp_path / "comp" / "train").iterdir()}
    assert files == {".png"} and info["n_train"] + info["n_test"] == 12
    assert not (tmp_path / "comp.partial").exists()
    with pytest.raises(KKError, match=r"not empty"):
        data.make_image_competition(images, out=tmp_path / "comp")
    flat = tmp_path / "flat"
    (flat / "only").mkdir(parents=True)
    with pytest.raises(KKError, match=r"has 1 class folder\(s\); put each class's images"):
        data.make_image_competition(flat, out=tmp_path / "c2")
    (flat / "other").mkdir()
    (flat / "other" / "a.png").write_bytes(b"")
    with pytest.raises(KKError, match=r"fewer than 2 images .*only \(0\), other \(1\)"):
        data.make_image_competition(flat, out=tmp_path / "c3")
    assert not (tmp_path / "c3").exists()


def test_an_image_competition_scores_like_a_table_one_and_names_a_broken_file(
    tmp_path: Path,
) -> None:
    """Two classes with probabilities: one column, the class encoded 1, as a CSV made
    competition has (the same sample/solution code); an unreadable file is one line."""
    images = _class_folders(tmp_path / "two", 12)
    for path in (images / "two").glob("*"):
        path.unlink()
    (images / "two").rmdir()
    info = data.make_image_competition(
        images, out=tmp_path / "c", submission_format="probabilities"
    )
    sample = pd.read_csv(tmp_path / "c" / "sample_submission.csv")
    assert info["task"] == "binary" and list(sample.columns) == ["id", "label"]
    (images / "one" / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(
        KKError, match=r"broken\.jpg cannot be read as an image .*remove or replace it"
    ):
        data.make_image_competition(images, out=tmp_path / "c2")
    assert not (tmp_path / "c2").exists() and not (tmp_path / "c2.partial").exists()
