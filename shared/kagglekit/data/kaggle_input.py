"""Inside a Kaggle notebook or kernel: finding attached inputs under ``/kaggle/input``.

Kaggle mounts a notebook's inputs read-only under ``/kaggle/input``, in layouts that have
changed over the years: ``/kaggle/input/COMP/`` (older notebooks and guides),
``competitions/COMP/``, ``datasets/OWNER/SLUG/``,
``models/OWNER/MODEL/FRAMEWORK/VARIATION/VERSION/`` and ``notebooks/OWNER/SLUG/``
(../shared/KAGGLE_KERNELS.md). Code that hard-codes one of them breaks when the layout
moves, so this module searches instead: a competition's folder is the one that holds the
files its loader needs (``loaders.required_files``, as ``kk fetch`` passes them), a
pretrained model's folder the one with a ``config.json`` under a path that names the model.
Nothing here touches the network: inside Kaggle, ``kk fetch`` reads what is attached.

``KK_KAGGLE_INPUT`` overrides the root (tests build a fake ``/kaggle/input`` tree in a
temporary folder; a kagglehub cache mount elsewhere can be named the same way).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from kagglekit.errors import KKError, short_list

log = logging.getLogger(__name__)

INPUT_ENV = "KK_KAGGLE_INPUT"
KAGGLE_INPUT = Path("/kaggle/input")
# models/OWNER/MODEL/FRAMEWORK/VARIATION/VERSION is 6 levels; a dataset may nest the
# competition's files a level or two further down (a zip's top folder, say).
MAX_DEPTH = 8


def input_root() -> Path | None:
    """The folder of Kaggle's attached inputs, or None outside Kaggle.

    ``KK_KAGGLE_INPUT`` when set (it must be a folder), else ``/kaggle/input`` when it exists.
    """
    env = os.environ.get(INPUT_ENV)
    if env:
        root = Path(env)
        if not root.is_dir():
            raise KKError(
                f"{INPUT_ENV}={env} is not a folder; point it at the folder that holds "
                "Kaggle's inputs, or unset it"
            )
        return root
    return KAGGLE_INPUT if KAGGLE_INPUT.is_dir() else None


def inside_kaggle() -> bool:
    """True when Kaggle's inputs are mounted here (or ``KK_KAGGLE_INPUT`` names a tree)."""
    return input_root() is not None


def normalize(name: str) -> str:
    """A name as Kaggle spells slugs: lower case, ``_`` and spaces as ``-``."""
    return name.strip().lower().replace("_", "-").replace(" ", "-")


def find_competition_folder(
    required: Sequence[str], names: Iterable[str], *, root: Path | None = None
) -> Path | None:
    """The folder under the inputs that holds a competition's (or dataset's) files.

    ``required`` are the files its loader needs, relative to that folder (``train.csv``,
    ``cifar-10-batches-py/data_batch_1``); ``names`` the slugs it may be mounted under
    (competition slug, name, mirror folder), used to choose between several folders that
    hold the files, or alone when the loader names no file. Returns None outside Kaggle;
    raises a one-line ``KKError`` when nothing attached fits or the choice is ambiguous.
    """
    root = input_root() if root is None else root
    if root is None:
        return None
    wanted = {normalize(n.rsplit("/", 1)[-1]) for n in names if n}
    if required:
        hits = [d for d in _folders(root) if all((d / rel).exists() for rel in required)]
        what = ", ".join(required)
    else:
        hits = [d for d in _folders(root) if normalize(d.name) in wanted]
        what = f"a folder named {' or '.join(sorted(wanted)) or '(no name)'}"
    if not hits:
        raise KKError(
            f"no folder under {root} holds {what}; attach the competition or dataset to the "
            "notebook (Add Input), or pass --from DIR (nothing is downloaded inside Kaggle)"
        )
    found = _choose(hits, wanted, root, what)
    log.info("found %s under Kaggle's inputs: %s", what, found)
    return found


def find_pretrained(name: str, *, root: Path | None = None) -> Path | None:
    """The attached folder of a pretrained model called ``name``, or None.

    ``name`` is a hub id or its last part (``sentence-transformers/all-MiniLM-L6-v2``);
    a folder matches when it holds ``config.json`` and a part of its path under the
    inputs is that last part, as Kaggle spells slugs (``models/OWNER/all-minilm-l6-v2/
    transformers/default/1``, ``datasets/OWNER/SLUG/all-MiniLM-L6-v2``). None outside
    Kaggle or when nothing attached matches.
    """
    root = input_root() if root is None else root
    if root is None or not name:
        return None
    key = normalize(name.rstrip("/").rsplit("/", 1)[-1])
    hits = [d for d in _folders(root) if (d / "config.json").is_file() and key in _parts(d, root)]
    if not hits:
        return None
    return _choose(hits, {key}, root, f"pretrained model '{name}'")


def _folders(root: Path) -> Iterator[Path]:
    """``root`` and the folders below it, at most ``MAX_DEPTH`` down, hidden ones left out.

    Links are followed (an input may be mounted through one); the depth bound keeps a
    link cycle finite.
    """
    for folder, subdirs, _files in os.walk(root, followlinks=True):
        path = Path(folder)
        yield path
        if len(path.relative_to(root).parts) >= MAX_DEPTH:
            subdirs[:] = []
        else:
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))


def _parts(folder: Path, root: Path) -> set[str]:
    return {normalize(p) for p in folder.relative_to(root).parts}


def _choose(hits: list[Path], wanted: set[str], root: Path, what: str) -> Path:
    """One folder among ``hits``: the outermost, those under a wanted name first, then the
    highest version of one model; more than one left is an error naming them."""
    # A folder inside another hit is the same input seen deeper (1_Pooling/config.json).
    outer = [h for h in hits if not any(o != h and o in h.parents for o in hits)]
    named = [h for h in outer if wanted & _parts(h, root)]
    pool = named or outer
    if len(pool) > 1 and len({h.parent for h in pool}) == 1 and all(h.name.isdigit() for h in pool):
        return max(pool, key=lambda h: int(h.name))  # models/.../VARIATION/1, /2: the latest
    if len(pool) > 1:
        raise KKError(
            f"several inputs under {root} hold {what} ({short_list((h.relative_to(root) for h in pool), 4)}); pass --from DIR "
            "(or the "
            "folder's path as the model) to say which"
        )
    return pool[0]
