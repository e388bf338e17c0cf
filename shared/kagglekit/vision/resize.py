"""Images of many sizes made one size: ``data.params.image_size`` and ``resize``.

Nets read one (C, H, W) tensor, so every image loader brings its images to
``image_size = [H, W]`` before the decoded arrays are cached (the params are part of the
cache key, so changing them decodes again). Three ways, ``resize = ...``:

- ``"resize"`` (the default): stretch to H x W; the aspect ratio is not kept.
- ``"pad"``: keep the aspect ratio, shrink an image that is larger than H x W to fit
  inside it, and centre it on a black H x W canvas (letterboxing).
- ``"crop"``: keep the aspect ratio, scale until the image covers H x W, and cut the
  centre H x W out.

Pillow does the resampling (bilinear, its antialiased filter when shrinking): one image
at a time, since images of different sizes cannot be stacked before this step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from kagglekit.errors import KKError

__all__ = ["MODES", "fit_array", "fit_image", "image_fitter", "size_params"]

MODES = ("resize", "pad", "crop")

Fitter = Callable[[np.ndarray], np.ndarray]


def size_params(params: dict[str, Any]) -> tuple[tuple[int, int], str] | None:
    """``((H, W), mode)`` from a loader's ``data.params``, or None when no size is asked."""
    size = params.get("image_size")
    mode = params.get("resize", "resize")
    if mode not in MODES:
        raise KKError(f"data.params.resize = {mode!r} is not known; use one of {', '.join(MODES)}")
    if size is None:
        if "resize" in params:
            raise KKError(
                "data.params.resize needs data.params.image_size = [H, W] (the size to "
                "bring every image to); add it to config.toml"
            )
        return None
    if isinstance(size, int) and not isinstance(size, bool):
        size = [size, size]
    if (
        not isinstance(size, list | tuple)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in size)
    ):
        raise KKError(
            f"data.params.image_size = {size!r} is not [H, W] of positive whole numbers "
            "(e.g. [32, 32]); fix config.toml"
        )
    return (int(size[0]), int(size[1])), str(mode)


def _scaled(img: Any, scale: float, resample: Any) -> Any:
    width, height = img.size
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    return img if new == img.size else img.resize(new, resample)


def fit_image(hwc: np.ndarray, size: tuple[int, int], mode: str = "resize") -> np.ndarray:
    """One (H, W, C) uint8 image brought to ``size`` = (H, W) the ``mode`` way."""
    from PIL import Image

    height, width = size
    if hwc.shape[:2] == (height, width):
        return hwc
    resample = Image.Resampling.BILINEAR
    # Pillow holds 1- and 3-channel uint8 images as L and RGB; other channel counts
    # (2, 4, ...) go through one L image per channel.
    planes = [hwc] if hwc.shape[2] in (1, 3) else [hwc[:, :, [c]] for c in range(hwc.shape[2])]
    out = []
    for plane in planes:
        img = Image.fromarray(plane[:, :, 0] if plane.shape[2] == 1 else plane)
        h0, w0 = plane.shape[:2]
        if mode == "resize":
            img = img.resize((width, height), resample)
        elif mode == "pad":
            img = _scaled(img, min(1.0, height / h0, width / w0), resample)
            canvas = Image.new(img.mode, (width, height))
            canvas.paste(img, ((width - img.width) // 2, (height - img.height) // 2))
            img = canvas
        else:  # crop
            img = _scaled(img, max(height / h0, width / w0), resample)
            left, top = (img.width - width) // 2, (img.height - height) // 2
            img = img.crop((left, top, left + width, top + height))
        arr = np.asarray(img, dtype=np.uint8)
        out.append(arr if arr.ndim == 3 else arr[:, :, None])
    return np.concatenate(out, axis=2) if len(out) > 1 else out[0]


def image_fitter(params: dict[str, Any]) -> Fitter | None:
    """The per-image (H, W, C) step a loader applies while decoding, or None."""
    asked = size_params(params)
    if asked is None:
        return None
    size, mode = asked
    return lambda hwc: fit_image(hwc, size, mode)


def fit_array(images: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """(N, C, H, W) uint8 images brought to ``data.params.image_size`` (as they are without)."""
    asked = size_params(params)
    if asked is None or images.shape[2:] == asked[0]:
        return images
    size, mode = asked
    hwc = images.transpose(0, 2, 3, 1)
    out = np.empty((len(images), size[0], size[1], images.shape[1]), dtype=np.uint8)
    for i, img in enumerate(hwc):  # per image: Pillow resamples one image at a time
        out[i] = fit_image(np.ascontiguousarray(img), size, mode)
    return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
