"""Issue 33, images on ordinary data: ``--smoke`` over every entry (ok, skipped, failed),
fastnet's advice on small images, one size from images of many (``data.params.image_size``),
and the pixels-CSV label column spelt in another case than the submission's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kagglekit import atomic
from kagglekit.errors import DoesNotFit, KKError
from kagglekit.testing import run_kk_inprocess
from kagglekit.vision.testing import write_image_competition

torch = pytest.importorskip("torch")

_CONFIG = """\
default_model = "mlp"

[competition]
name = "digits"
source = {{ kind = "mirror", mirror_folder = "digits" }}
id_column = "id"
target_column = "{target}"
task = "multiclass"
metric = "accuracy"
submission_format = "labels"

[data]
loader = "pixels_csv"
params = {{ {params} }}

[cv]
kind = "holdout"
valid_size = 0.25
seed = 0

[models.mlp]
backend = "mlp"
params = {{ hidden = [16], epochs = 1 }}

[models.fastnet]
backend = "fastnet"
params = {{ widths = [8, 8, 8], epochs = 1 }}

[models.broken]
backend = "mlp"
params = {{ hidden = [16], activation = "nope", epochs = 1 }}

[models.trees]
backend = "lightgbm"
"""


def _digits(
    projects_dir: Path, *, shape: tuple[int, int, int] = (1, 8, 8), target: str = "label",
    params: str = "",
) -> Path:  # fmt: skip
    mirror = write_image_competition(
        projects_dir.parent / "mirror", "pixels_csv", shape=shape, n_train=80, n_test=20
    )
    project = projects_dir / "digits"
    atomic.write_text(project / "config.toml", _CONFIG.format(target=target, params=params))
    return mirror


def _kk(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str):
    return run_kk_inprocess(capsys, monkeypatch, *args)


def test_smoke_reports_every_entry_and_skips_those_that_do_not_fit(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = _digits(projects_dir)
    assert _kk(capsys, monkeypatch, "fetch", "digits", "--from", str(mirror))[0] == 0
    assert _kk(capsys, monkeypatch, "folds", "digits")[0] == 0
    code, out, err = _kk(capsys, monkeypatch, "train", "digits", "--smoke")
    assert code == 1, err  # one entry failed: non-zero, after every entry ran
    lines = [line for line in out.splitlines() if line.startswith("smoke ")]
    by_model = {line.split("/")[1].split(":")[0]: line for line in lines if "/" in line}
    assert set(by_model) == {"broken", "fastnet", "mlp", "trees"}
    assert "accuracy" in by_model["mlp"]
    assert "FAILED" in by_model["broken"] and "activation 'nope'" in by_model["broken"]
    # The entries that cannot read 8 x 8 images (or images at all) are skipped, with why.
    assert "skipped, it does not fit the data" in by_model["fastnet"]
    assert "skipped, it does not fit the data" in by_model["trees"]
    assert "reads frame" in by_model["trees"]
    assert lines[-1] == ("smoke digits: 1 ok, 2 skipped (fastnet, trees), 1 failed (broken)")
    code, out, _ = _kk(capsys, monkeypatch, "train", "digits", "--smoke", "--json")
    statuses = {r.get("model"): r["status"] for r in map(json.loads, out.strip().splitlines())}
    assert statuses == {"mlp": "ok", "fastnet": "skipped", "broken": "failed", "trees": "skipped"}
    # A named entry still fails as any command does: one line, non-zero.
    code, _, err = _kk(capsys, monkeypatch, "train", "digits", "--smoke", "--model", "fastnet")
    assert code != 0 and "whiten_kernel = 1" in err


@pytest.mark.parametrize(
    ("shape", "kernel", "advice"),
    [
        ((1, 8, 8), 2, "set whiten_kernel = 1"),
        ((1, 16, 16), 3, "set whiten_kernel = 2"),
        ((1, 6, 6), 1, "too small for three pooling groups"),
    ],
)
def test_fastnet_names_a_kernel_that_fits(
    shape: tuple[int, int, int], kernel: int, advice: str
) -> None:
    """Issue 33: 'whiten_kernel = 2 does not fit 8 x 8 inputs; use 2'."""
    from kagglekit.vision.nets import build_net

    with pytest.raises(DoesNotFit, match=advice) as caught:
        build_net("fastnet", shape, 3, {"whiten_kernel": kernel})
    assert f"use {kernel}" not in str(caught.value)
    assert "data.params.image_size" in str(caught.value)


def test_fastnet_runs_with_the_kernel_its_message_names() -> None:
    from kagglekit.vision.nets import build_net

    net = build_net("fastnet", (1, 8, 8), 3, {"whiten_kernel": 1, "widths": [8, 8, 8]})
    assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 3)


# --- one size from many ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["resize", "pad", "crop"])
def test_fit_image_modes(mode: str) -> None:
    from kagglekit.vision.resize import fit_image

    wide = np.zeros((4, 8, 3), dtype=np.uint8)
    wide[:, :, 0] = 200  # a red 4 x 8 image
    out = fit_image(wide, (8, 8), mode)
    assert out.shape == (8, 8, 3) and out.dtype == np.uint8
    red_rows = (out[:, :, 0] > 100).any(axis=1)
    if mode == "pad":  # kept 4 x 8 and centred on black: rows 2..5 red
        assert red_rows.tolist() == [False] * 2 + [True] * 4 + [False] * 2
    else:  # stretched, or scaled to 8 x 16 and cut: red everywhere
        assert red_rows.all()


def test_image_folder_of_many_sizes_reads_at_one_size_and_caches_by_it(tmp_path: Path) -> None:
    from PIL import Image

    from kagglekit import data, loaders
    from kagglekit.config import validate_config
    from kagglekit.project import Project

    raw = tmp_path / "mirror"
    write_image_competition(raw, "image_folder", n_train=12, n_test=6)
    # One train image and one test image of another size: today a stop, now resized.
    Image.new("RGB", (24, 20), (250, 0, 0)).save(raw / "train" / "1.png")
    Image.new("RGB", (10, 12), (0, 250, 0)).save(raw / "test" / "2.png")

    def config(params: dict[str, object]) -> object:
        return validate_config(
            {
                "default_model": "m",
                "competition": {
                    "name": "x", "id_column": "id", "target_column": "label",
                    "task": "multiclass", "metric": "accuracy",
                },
                "data": {"loader": "image_folder", "params": params},
                "cv": {"kind": "holdout"},
                "models": {"m": {"backend": "cnn"}},
            }
        )  # fmt: skip

    project = Project(name="x", root=tmp_path / "p")
    project.root.mkdir()
    data.fetch(project, config({}), from_dir=raw)
    with pytest.raises(KKError, match=r"different sizes .*data.params.image_size = \[H, W\]"):
        loaders.load_dataset(project, config({}))
    caches = []
    for mode in ("resize", "crop"):
        ds = loaders.load_dataset(project, config({"image_size": [16, 16], "resize": mode}))
        assert ds.X.shape == (12, 3, 16, 16) and ds.X_test.shape == (6, 3, 16, 16)
        assert ds.info["input_shape"] == (3, 16, 16)
        (cache,) = project.interim_dir.glob("image_folder-*.npz")
        caches.append(cache.name)
    # The size and mode are part of the cache key: another mode decoded again.
    assert caches[0] != caches[1]
    ds = loaders.load_dataset(project, config({"image_size": [8, 12], "resize": "pad"}))
    assert ds.X.shape == (12, 3, 8, 12)
    # The first train image was all red: padded, its corners stay black.
    assert ds.X[0, 0, 0, 0] == 0 and ds.X[0, 0, 4, 6] > 200
    with pytest.raises(KKError, match=r"resize = 'squash' is not known"):
        loaders.load_dataset(project, config({"image_size": [8, 8], "resize": "squash"}))
    with pytest.raises(KKError, match=r"image_size = \[8\] is not \[H, W\]"):
        loaders.load_dataset(project, config({"image_size": [8]}))


def test_pixels_csv_image_size_resizes_before_the_cache(
    projects_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """8 x 8 digits brought to 16 x 16: fastnet's default whitening fits them."""
    mirror = _digits(projects_dir, params="image_size = [16, 16]")
    assert _kk(capsys, monkeypatch, "fetch", "digits", "--from", str(mirror))[0] == 0
    assert _kk(capsys, monkeypatch, "folds", "digits")[0] == 0
    code, out, err = _kk(capsys, monkeypatch, "train", "digits", "--smoke", "--model", "fastnet")
    assert code == 0, err
    assert "smoke digits/fastnet: accuracy" in out


# --- the pixels CSV's label column ----------------------------------------------------------


@pytest.mark.parametrize("loader", ["pixels_csv", "auto"])
def test_pixels_csv_label_in_another_case_names_target_column(
    projects_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    loader: str,
) -> None:
    """train.csv says `label`, the submission `Label`: the hint names a real parameter."""
    mirror = _digits(projects_dir, target="Label")
    sample = pd.DataFrame({"ImageId": np.arange(1, 21), "Label": 0})
    atomic.write_bytes(mirror / "sample_submission.csv", sample.to_csv(index=False).encode())
    config = projects_dir / "digits" / "config.toml"
    atomic.write_text(config, config.read_text().replace('"pixels_csv"', f'"{loader}"'))
    assert _kk(capsys, monkeypatch, "fetch", "digits", "--from", str(mirror))[0] == 0
    code, _, err = _kk(capsys, monkeypatch, "folds", "digits")
    assert code != 0
    assert "no 'Label' column but has 'label'" in err
    assert 'competition.target_column = "label"' in err
    assert "label_column=" not in err
