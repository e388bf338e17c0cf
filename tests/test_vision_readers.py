"""Image readers on tiny generated files, every error path, and the real mirror files."""

from __future__ import annotations

import gzip
import pickle
import struct
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from kagglekit.errors import KKError
from kagglekit.testing import mirror_dir
from kagglekit.vision import readers


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    """An idx file's bytes for a uint8 array (magic from its number of dimensions)."""
    magic = magic if magic is not None else 0x0800 | arr.ndim
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.astype(np.uint8).tobytes()


@pytest.fixture
def idx_files(tmp_path: Path) -> dict[str, object]:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=7).astype(np.uint8)
    (tmp_path / "images.idx").write_bytes(idx_bytes(images))
    # A gzipped file whose name does not say so: detection is by the magic bytes.
    (tmp_path / "labels.bin").write_bytes(gzip.compress(idx_bytes(labels)))
    (tmp_path / "images.gz").write_bytes(gzip.compress(idx_bytes(images)))
    return {"dir": tmp_path, "images": images, "labels": labels}


# ---------------------------------------------------------------- checks


def test_check_images_accepts_nchw_uint8_and_names_each_problem() -> None:
    ok = np.zeros((2, 3, 4, 4), dtype=np.uint8)
    assert readers.check_images(ok, "x") is ok
    with pytest.raises(KKError, match=r"train: images have dtype float32, expected uint8"):
        readers.check_images(ok.astype(np.float32), "train")
    with pytest.raises(KKError, match=r"expected 4 dimensions"):
        readers.check_images(ok[0], "train")
    with pytest.raises(KKError, match=r"4 channels .* transpose channels-last"):
        readers.check_images(np.zeros((2, 4, 4, 4), dtype=np.uint8), "train")
    with pytest.raises(KKError, match=r"expected a numpy array"):
        readers.check_images([[1]], "train")


def test_check_labels() -> None:
    assert readers.check_labels(np.array([0, 2, 1], dtype=np.int32), 3).dtype == np.int64
    with pytest.raises(
        KKError, match=r"label 3 at row 1 is outside 0..2 \(2 labels out of range\)"
    ):
        readers.check_labels(np.array([0, 3, -1]), 3)
    with pytest.raises(KKError, match=r"expected integer class codes"):
        readers.check_labels(np.array(["cat", "dog"]), 3)
    with pytest.raises(KKError, match=r"expected one label per row"):
        readers.check_labels(np.zeros((2, 2), dtype=int), 3)


# ---------------------------------------------------------------- idx


def test_read_idx_plain_and_gzip_give_the_same_arrays(idx_files: dict[str, object]) -> None:
    d = idx_files["dir"]
    assert isinstance(d, Path)
    plain = readers.read_idx(d / "images.idx")
    gz = readers.read_idx(d / "images.gz")
    assert plain.shape == (7, 1, 28, 28) and plain.dtype == np.uint8
    np.testing.assert_array_equal(plain[:, 0], idx_files["images"])
    np.testing.assert_array_equal(gz, plain)
    plain[0, 0, 0, 0] = 1  # the result is a writable array of its own
    labels = readers.read_idx(d / "labels.bin")
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, idx_files["labels"])


def test_read_idx_pair(idx_files: dict[str, object]) -> None:
    d = idx_files["dir"]
    assert isinstance(d, Path)
    images, labels = readers.read_idx_pair(d / "images.gz", d / "labels.bin")
    assert images.shape == (7, 1, 28, 28) and labels.shape == (7,)
    with pytest.raises(
        KKError, match=r"is an idx label file, not an image file; pass the images first"
    ):
        readers.read_idx_pair(d / "labels.bin", d / "images.gz")
    with pytest.raises(KKError, match=r"is an idx image file, not a label file"):
        readers.read_idx_pair(d / "images.gz", d / "images.idx")
    (d / "few.idx").write_bytes(idx_bytes(np.zeros(5, dtype=np.uint8)))
    with pytest.raises(KKError, match=r"holds 7 images but .*few.idx holds 5 labels"):
        readers.read_idx_pair(d / "images.idx", d / "few.idx")


def test_read_idx_errors(tmp_path: Path) -> None:
    images = np.zeros((3, 4, 4), dtype=np.uint8)
    bad_magic = tmp_path / "bad_magic"
    bad_magic.write_bytes(b"<html>not found</html>")
    with pytest.raises(KKError, match=r"bad_magic: magic number 0x3c68746d is not an idx"):
        readers.read_idx(bad_magic)
    signed = tmp_path / "signed"  # type byte 0x09 (signed bytes) is not supported
    signed.write_bytes(idx_bytes(images, magic=0x0903))
    with pytest.raises(KKError, match=r"magic number 0x00000903"):
        readers.read_idx(signed)
    truncated = tmp_path / "truncated.gz"
    truncated.write_bytes(gzip.compress(idx_bytes(images)[:-5]))
    with pytest.raises(
        KKError, match=r"truncated: the header says \(3, 4, 4\) = 48 bytes .* holds 43"
    ):
        readers.read_idx(truncated)
    short_header = tmp_path / "short_header"
    short_header.write_bytes(idx_bytes(images)[:9])
    with pytest.raises(KKError, match=r"truncated header \(9 bytes, 16 needed\)"):
        readers.read_idx(short_header)
    too_long = tmp_path / "too_long"
    too_long.write_bytes(idx_bytes(images) + b"\0" * 16)
    with pytest.raises(KKError, match=r"dims \(3, 4, 4\) account for 48 bytes .* holds 64"):
        readers.read_idx(too_long)
    damaged_gzip = tmp_path / "damaged.gz"
    damaged_gzip.write_bytes(gzip.compress(idx_bytes(images))[:20])
    with pytest.raises(KKError, match=r"damaged.gz: a damaged gzip file"):
        readers.read_idx(damaged_gzip)
    with pytest.raises(KKError, match=r"nope: file not found"):
        readers.read_idx(tmp_path / "nope")


# ---------------------------------------------------------------- pixels CSV


def pixels_frame(n: int, side: int = 3, *, label: bool = True, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(n, side * side))
    frame = pd.DataFrame(pixels, columns=[f"pixel{i}" for i in range(side * side)])
    if label:
        frame.insert(0, "label", rng.integers(0, 10, size=n))
    return frame


def test_read_pixels_csv_train_and_test_layouts(tmp_path: Path) -> None:
    frame = pixels_frame(5)
    frame.to_csv(tmp_path / "train.csv", index=False)
    images, labels, ids = readers.read_pixels_csv(tmp_path / "train.csv")
    assert images.shape == (5, 1, 3, 3) and images.dtype == np.uint8 and ids is None
    assert labels is not None and labels.dtype == np.int64
    np.testing.assert_array_equal(labels, frame["label"])
    # Row-major pixel order: pixel1 is row 0, column 1.
    np.testing.assert_array_equal(images[:, 0, 0, 1], frame["pixel1"])
    np.testing.assert_array_equal(images[:, 0, 2, 0], frame["pixel6"])

    test = pixels_frame(4, label=False)
    test.insert(0, "ImageId", np.arange(1, 5))
    test.to_csv(tmp_path / "test.csv.gz", index=False)
    images, labels, ids = readers.read_pixels_csv(tmp_path / "test.csv.gz", id_column="ImageId")
    assert labels is None and images.shape == (4, 1, 3, 3)
    np.testing.assert_array_equal(ids, [1, 2, 3, 4])


def test_read_pixels_csv_colour_shape(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    colour = rng.integers(0, 256, size=(3, 3, 2, 2), dtype=np.uint8)  # (N, C, H, W)
    frame = pd.DataFrame(colour.reshape(3, -1), columns=[f"p{i}" for i in range(12)])
    frame.to_csv(tmp_path / "rgb.csv", index=False)
    images, labels, _ = readers.read_pixels_csv(tmp_path / "rgb.csv", shape=(3, 2, 2))
    assert labels is None
    np.testing.assert_array_equal(images, colour)
    with pytest.raises(KKError, match=r"12 pixel columns but shape \[3, 3, 3\] needs 27"):
        readers.read_pixels_csv(tmp_path / "rgb.csv", shape=(3, 3, 3))
    with pytest.raises(KKError, match=r"12 pixel columns is not a square image"):
        readers.read_pixels_csv(tmp_path / "rgb.csv")


def test_read_pixels_csv_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    frame = pixels_frame(4)
    frame["pixel0"] = frame["pixel0"].astype(float)
    frame.loc[2, "pixel0"] = 0.5
    frame.to_csv(path, index=False)
    with pytest.raises(
        KKError, match=r"pixel column 'pixel0' holds 0.5 at row 2; pixels must be integers"
    ):
        readers.read_pixels_csv(path)
    frame.loc[2, "pixel0"] = np.nan
    frame.to_csv(path, index=False)
    with pytest.raises(KKError, match=r"pixel column 'pixel0' holds nan at row 2"):
        readers.read_pixels_csv(path)
    frame = pixels_frame(4)
    frame.loc[3, "pixel4"] = 256
    frame.to_csv(path, index=False)
    with pytest.raises(
        KKError, match=r"pixel column 'pixel4' holds 256 at row 3; pixels must be 0..255"
    ):
        readers.read_pixels_csv(path)
    frame.loc[3, "pixel4"] = -1
    frame.to_csv(path, index=False)
    with pytest.raises(KKError, match=r"holds -1 at row 3"):
        readers.read_pixels_csv(path)
    frame = pixels_frame(4)
    frame["label"] = ["a", "b", "c", "d"]
    frame.to_csv(path, index=False)
    with pytest.raises(KKError, match=r"column 'label' holds a non-integer label 'a' at row 0"):
        readers.read_pixels_csv(path)
    # Without naming the label column, a labelled file has one column too many for a square.
    pixels_frame(4).to_csv(path, index=False)
    with pytest.raises(KKError, match=r"10 pixel columns is not a square image"):
        readers.read_pixels_csv(path, label_column=None)
    with pytest.raises(KKError, match=r"id column 'id' is not in the header"):
        readers.read_pixels_csv(path, id_column="id")
    with pytest.raises(KKError, match=r"file not found"):
        readers.read_pixels_csv(tmp_path / "missing.csv")


# ---------------------------------------------------------------- image folders


def write_pngs(folder: Path, images: np.ndarray, ids: list[int]) -> None:
    """(N, H, W, 3) uint8 images as folder/<id>.png."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in zip(ids, images, strict=True):
        Image.fromarray(img).save(folder / f"{i}.png")


def test_read_image_folder_order_modes_and_ids(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(6, 5, 4, 3), dtype=np.uint8)  # (N, H, W, C)
    ids = [3, 1, 10, 2, 5, 4]
    write_pngs(tmp_path / "train", images, ids)
    assert readers.list_image_ids(tmp_path / "train") == ["1", "2", "3", "4", "5", "10"]
    out = readers.read_image_folder(tmp_path / "train", ids, n_threads=2)
    assert out.shape == (6, 3, 5, 4) and out.dtype == np.uint8 and out.flags.c_contiguous
    np.testing.assert_array_equal(out, images.transpose(0, 3, 1, 2))
    grey = readers.read_image_folder(tmp_path / "train", [1, 2], mode="L")
    assert grey.shape == (2, 1, 5, 4)
    with pytest.raises(KKError, match=r"image mode 'RGBA' is not supported"):
        readers.read_image_folder(tmp_path / "train", ids, mode="RGBA")


def test_read_image_folder_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    folder = tmp_path / "train"
    write_pngs(folder, rng.integers(0, 256, size=(3, 4, 4, 3), dtype=np.uint8), [1, 2, 3])
    with pytest.raises(
        KKError, match=r"3 of 6 images are missing, e\.g\. 7, 8, 9 \(looked for <id>\.png\)"
    ):
        readers.read_image_folder(folder, [1, 7, 2, 8, 3, 9])
    write_pngs(folder, rng.integers(0, 256, size=(1, 6, 5, 3), dtype=np.uint8), [4])
    with pytest.raises(KKError, match=r"2 different sizes \(1\.png is 4x4; 4\.png is 5x6\)"):
        readers.read_image_folder(folder, [1, 2, 3, 4])
    (folder / "5.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(KKError, match=r"5\.png: not a readable image"):
        readers.read_image_folder(folder, [1, 5])
    with pytest.raises(KKError, match=r"no ids given"):
        readers.read_image_folder(folder, [])
    with pytest.raises(KKError, match=r"not a folder"):
        readers.read_image_folder(tmp_path / "nope", [1])


def test_labels_csv_and_match_labels(tmp_path: Path) -> None:
    path = tmp_path / "trainLabels.csv"
    pd.DataFrame({"id": [2, 1, 3], "label": ["cat", "frog", "cat"]}).to_csv(path, index=False)
    labels = readers.read_labels_csv(path, id_column="id", label_column="label")
    assert list(labels.index) == ["2", "1", "3"]
    np.testing.assert_array_equal(readers.match_labels([1, 2, 3], labels), ["frog", "cat", "cat"])
    with pytest.raises(
        KKError, match=r"the labels name 1 images that are not in the folder, e\.g\. 3"
    ):
        readers.match_labels(["1", "2"], labels)
    with pytest.raises(KKError, match=r"1 images in the folder have no label, e\.g\. 4"):
        readers.match_labels([1, 2, 3, 4], labels)
    partial = readers.match_labels([4, 1, 2, 3], labels, allow_unlabelled=True)
    assert partial.tolist() == [None, "frog", "cat", "cat"]
    with pytest.raises(KKError, match=r"column 'target' is not in the header \(id, label\)"):
        readers.read_labels_csv(path, id_column="id", label_column="target")
    pd.DataFrame({"id": [1, 1], "label": [0, 1]}).to_csv(path, index=False)
    with pytest.raises(KKError, match=r"id 1 appears 2 times"):
        readers.read_labels_csv(path, id_column="id", label_column="label")
    pd.DataFrame({"id": [1, 2], "label": [0, None]}).to_csv(path, index=False)
    with pytest.raises(KKError, match=r"row 1 \(id 2\) has no label"):
        readers.read_labels_csv(path, id_column="id", label_column="label")
    codes = pd.Series([0, 4], index=["1", "2"])
    with pytest.raises(KKError, match=r"label 4 at row 1 is outside 0..3"):
        readers.check_labels(readers.match_labels(["1", "2"], codes), 4)


# ---------------------------------------------------------------- CIFAR pickles


def write_batch(path: Path, obj: object) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=4))


def test_read_cifar_batches(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    images = rng.integers(0, 256, size=(5, 3, 32, 32), dtype=np.uint8)
    write_batch(
        tmp_path / "data_batch_1", {b"data": images[:3].reshape(3, -1), b"labels": [1, 2, 3]}
    )
    # Keys pickled by Python 3 as text are read as well.
    write_batch(tmp_path / "data_batch_2", {"data": images[3:].reshape(2, -1), "labels": [4, 9]})
    out, labels, names = readers.read_cifar_batches(
        [tmp_path / "data_batch_1", tmp_path / "data_batch_2"]
    )
    np.testing.assert_array_equal(out, images)  # each row: 1024 red, 1024 green, 1024 blue
    np.testing.assert_array_equal(labels, [1, 2, 3, 4, 9])
    assert labels.dtype == np.int64 and names is None
    write_batch(tmp_path / "batches.meta", {b"label_names": [b"airplane", b"automobile"]})
    assert readers.read_cifar_batches([tmp_path / "data_batch_1"])[2] == ["airplane", "automobile"]


def test_read_cifar_batches_errors(tmp_path: Path) -> None:
    path = tmp_path / "data_batch_1"
    path.write_bytes(b"this is not a pickle")
    with pytest.raises(KKError, match=r"data_batch_1: not a CIFAR python batch"):
        readers.read_cifar_batches([path])
    write_batch(path, [1, 2, 3])
    with pytest.raises(KKError, match=r"holds a list, not a CIFAR batch dict"):
        readers.read_cifar_batches([path])
    write_batch(path, {b"label_names": [b"cat"]})
    with pytest.raises(KKError, match=r"a batch dict without data, labels \(has: label_names\)"):
        readers.read_cifar_batches([path])
    write_batch(path, {b"data": np.zeros((2, 100), dtype=np.uint8), b"labels": [0, 1]})
    with pytest.raises(KKError, match=r"rows of 100 values, expected 3072"):
        readers.read_cifar_batches([path])
    write_batch(path, {b"data": np.zeros((2, 3072), dtype=np.float32), b"labels": [0, 1]})
    with pytest.raises(KKError, match=r"'data' is float32 with shape \(2, 3072\), expected uint8"):
        readers.read_cifar_batches([path])
    write_batch(path, {b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0]})
    with pytest.raises(KKError, match=r"1 labels for 2 images"):
        readers.read_cifar_batches([path])
    # A pickle that would run code is refused before anything runs.
    write_batch(path, {b"data": Path("x"), b"labels": []})
    with pytest.raises(KKError, match=r"refusing to load pathlib"):
        readers.read_cifar_batches([path])
    with pytest.raises(KKError, match=r"no batch files given"):
        readers.read_cifar_batches([])


def test_readers_do_not_import_torch() -> None:
    import subprocess

    code = "import sys, kagglekit.vision.readers; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- real files


@pytest.mark.realdata
def test_real_fashion_mnist() -> None:
    folder = mirror_dir("fashion-mnist")
    start = time.perf_counter()
    train_x, train_y = readers.read_idx_pair(
        folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
    )
    seconds = time.perf_counter() - start
    print(f"decoded 60000 Fashion-MNIST training images + labels in {seconds:.2f} s")
    test_x, test_y = readers.read_idx_pair(
        folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-labels-idx1-ubyte.gz"
    )
    assert train_x.shape == (60000, 1, 28, 28) and test_x.shape == (10000, 1, 28, 28)
    assert train_y[0] == 9  # ankle boot
    assert test_y[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    readers.check_labels(train_y, 10)
    assert np.bincount(train_y).tolist() == [6000] * 10
    assert np.bincount(test_y).tolist() == [1000] * 10
    assert abs(train_x.mean() / 255 - 0.28604) < 1e-4


@pytest.mark.realdata
def test_real_cifar10_batches() -> None:
    folder = mirror_dir("cifar10") / "cifar-10-batches-py"
    train_x, train_y, names = readers.read_cifar_batches(
        [folder / f"data_batch_{i}" for i in range(1, 5)]
    )
    test_x, test_y, _ = readers.read_cifar_batches([folder / "test_batch"])
    assert train_x.shape == (40000, 3, 32, 32) and test_x.shape == (1000, 3, 32, 32)
    assert train_y[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert test_y[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert names is not None and names[3] == "cat" and len(names) == 10
    readers.check_labels(train_y, 10)
    mean = train_x.mean(axis=(0, 2, 3)) / 255
    np.testing.assert_allclose(mean, [0.4914, 0.4822, 0.4465], atol=1e-3)
