"""Batched augmentation: exact flips, shifts and cutouts, normalisation, determinism."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from kagglekit.errors import KKError  # noqa: E402
from kagglekit.vision import augment  # noqa: E402

torch.set_num_threads(1)


def images(n: int = 16, c: int = 3, h: int = 8, w: int = 8, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, h, w), generator=gen, dtype=torch.uint8)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_channel_stats_match_numpy_and_normalizer_standardises_training_rows() -> None:
    x = images(40, seed=1)
    mean, std = augment.channel_stats(x.numpy(), chunk_rows=7)  # several chunks
    as_float = x.numpy().astype(np.float64) / 255
    np.testing.assert_allclose(mean, as_float.mean(axis=(0, 2, 3)), rtol=1e-10)
    np.testing.assert_allclose(std, as_float.std(axis=(0, 2, 3)), rtol=1e-10)
    norm = augment.Normalizer().fit(x[:30])  # training rows only
    out = norm(x[:30])
    assert out.dtype == torch.float32 and out.shape == x[:30].shape
    np.testing.assert_allclose(out.mean(dim=(0, 2, 3)).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(dim=(0, 2, 3), unbiased=False).numpy(), 1.0, atol=1e-5)
    restored = augment.Normalizer.from_state(norm.state_dict())
    assert torch.equal(restored(x), norm(x))
    with pytest.raises(KKError, match=r"Normalizer is not fitted"):
        augment.Normalizer()(x)
    with pytest.raises(KKError, match=r"expected non-empty uint8 images"):
        augment.channel_stats(x.float())


def test_normalize_is_the_formula_and_survives_a_constant_channel() -> None:
    x = images(4)
    out = augment.normalize(x, [0.5, 0.4, 0.3], [0.2, 0.25, 0.3])
    expected = (x.double() / 255 - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)) / torch.tensor(
        [0.2, 0.25, 0.3]
    ).view(1, 3, 1, 1)
    torch.testing.assert_close(out.double(), expected, atol=1e-5, rtol=1e-5)
    constant = torch.full((2, 1, 4, 4), 7, dtype=torch.uint8)
    mean, std = augment.channel_stats(constant)
    assert std == [0.0]
    assert torch.isfinite(augment.normalize(constant, mean, std)).all()
    with pytest.raises(KKError, match=r"1 means and 1 stds for images with 3 channels"):
        augment.normalize(x, [0.5], [0.2])


def test_hflip_flips_exactly_the_masked_samples() -> None:
    x = images(6)
    mask = torch.tensor([True, False, True, False, False, True])
    out = augment.hflip_images(x, mask)
    assert torch.equal(out[mask], torch.flip(x[mask], dims=[3]))
    assert torch.equal(out[~mask], x[~mask])


@pytest.mark.parametrize("pad_mode", ["reflect", "zeros"])
def test_translate_equals_pad_and_crop(pad_mode: str) -> None:
    x = images(12, h=7, w=9)
    t = 3
    dy = torch.randint(-t, t + 1, (12,), generator=gen(5))
    dx = torch.randint(-t, t + 1, (12,), generator=gen(6))
    out = augment.translate_images(x, dy, dx, pad_mode=pad_mode)
    np_mode = "reflect" if pad_mode == "reflect" else "constant"
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (t, t), (t, t)), mode=np_mode)
    for b in range(12):  # a per-sample loop here only to build the reference
        top, left = t - int(dy[b]), t - int(dx[b])
        np.testing.assert_array_equal(out[b].numpy(), padded[b, :, top : top + 7, left : left + 9])
    zero = torch.zeros(12, dtype=torch.long)
    assert torch.equal(augment.translate_images(x, zero, zero, pad_mode=pad_mode), x)
    with pytest.raises(KKError, match=r"pad mode 'wrap' is not known"):
        augment.translate_images(x, zero, zero, pad_mode="wrap")


def test_cutout_zeroes_exactly_one_square_of_the_requested_size() -> None:
    x = torch.ones(10, 2, 9, 7)
    top = torch.randint(0, 9 - 4 + 1, (10,), generator=gen(1))
    left = torch.randint(0, 7 - 4 + 1, (10,), generator=gen(2))
    out = augment.cutout_images(x, top, left, 4)
    for b in range(10):
        zeros = (out[b] == 0).all(dim=0).nonzero()
        assert len(zeros) == 16 and (out[b] == 0).sum() == 2 * 16  # both channels, 4 x 4
        assert zeros[:, 0].min() == top[b] and zeros[:, 0].max() == top[b] + 3
        assert zeros[:, 1].min() == left[b] and zeros[:, 1].max() == left[b] + 3


def test_prepare_eval_only_normalises_and_train_augments() -> None:
    x = images(32)
    mean, std = augment.channel_stats(x)
    plain = augment.make_batch_transform(mean=mean, std=std)
    full = augment.make_batch_transform(
        mean=mean, std=std, flip=True, translate=2, cutout=3, channels_last=True
    )
    expected = augment.normalize(x, mean, std)
    for prepare in (plain, full):
        out = prepare(x, False, None)
        assert out.dtype == torch.float32 and out.shape == x.shape
        assert torch.equal(out, expected)
    out = full(x, True, gen(0))
    assert out.dtype == torch.float32 and out.shape == x.shape
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert not torch.equal(out, expected)
    lowest = min((0 - m) / s for m, s in zip(mean, std, strict=True))
    highest = max((1 - m) / s for m, s in zip(mean, std, strict=True))
    assert out.min() >= lowest - 1e-5 and out.max() <= highest + 1e-5
    # No augmentation asked for: training batches are only normalised too.
    assert torch.equal(plain(x, True, None), expected)


def test_prepare_flip_is_exactly_a_flip_of_some_samples() -> None:
    x = images(64)
    prepare = augment.make_batch_transform(mean=[0.5] * 3, std=[0.25] * 3, flip=True)
    out = prepare(x, True, gen(3))
    same = (out == augment.normalize(x, [0.5] * 3, [0.25] * 3)).flatten(1).all(1)
    flipped = (out == augment.normalize(x.flip(3), [0.5] * 3, [0.25] * 3)).flatten(1).all(1)
    assert bool((same | flipped).all())
    assert 10 < int(flipped.sum()) < 54  # both kinds occur (p = 1/2 each)


def test_prepare_cutout_square_and_translate_zero_identity() -> None:
    x = torch.full((20, 1, 10, 10), 255, dtype=torch.uint8)
    prepare = augment.make_batch_transform(mean=[0.0], std=[1.0], cutout=5, translate=0)
    out = prepare(x, True, gen(4))
    assert ((out == 0).flatten(1).sum(1) == 25).all()
    assert ((out == 1).flatten(1).sum(1) == 75).all()


def test_prepare_is_deterministic_given_the_generator() -> None:
    x = images(32)
    prepare = augment.make_batch_transform(
        mean=[0.5] * 3, std=[0.25] * 3, flip=True, translate=2, cutout=2, pad_mode="zeros"
    )
    first, second = prepare(x, True, gen(7)), prepare(x, True, gen(7))
    assert torch.equal(first, second)
    assert not torch.equal(first, prepare(x, True, gen(8)))
    g = gen(7)
    assert not torch.equal(prepare(x, True, g), prepare(x, True, g))  # the state advances


def test_prepare_errors() -> None:
    x = images(4)
    prepare = augment.make_batch_transform(mean=[0.5] * 3, std=[0.2] * 3, translate=8)
    with pytest.raises(KKError, match=r"need a torch.Generator"):
        prepare(x, True, None)
    with pytest.raises(KKError, match=r"translate=8 / cutout=0 do not fit 8 x 8 images"):
        prepare(x, True, gen())
    with pytest.raises(KKError, match=r"expected a uint8 batch"):
        prepare(x.float(), False, None)
    with pytest.raises(KKError, match=r"one mean and one std per channel, got 2 means and 1 stds"):
        augment.make_batch_transform(mean=[0.1, 0.2], std=[0.3])
    with pytest.raises(KKError, match=r"must be >= 0"):
        augment.make_batch_transform(mean=[0.1], std=[0.3], cutout=-1)
    with pytest.raises(KKError, match=r"1 means and 1 stds for images with 3 channels"):
        augment.make_batch_transform(mean=[0.1], std=[0.3])(x, False, None)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_prepare_on_cuda_matches_cpu_with_a_cpu_generator() -> None:
    x = images(64, h=32, w=32)
    prepare = augment.make_batch_transform(
        mean=[0.5] * 3, std=[0.25] * 3, flip=True, translate=2, cutout=8, channels_last=True
    )
    on_cpu = prepare(x, True, gen(9))
    on_gpu = prepare(x.cuda(), True, gen(9))  # offsets drawn on the CPU, applied on the GPU
    assert on_gpu.device.type == "cuda"
    torch.testing.assert_close(on_gpu.cpu(), on_cpu, rtol=1e-6, atol=1e-6)
    cuda_gen = torch.Generator(device="cuda").manual_seed(9)
    again = torch.Generator(device="cuda").manual_seed(9)
    assert torch.equal(prepare(x.cuda(), True, cuda_gen), prepare(x.cuda(), True, again))
