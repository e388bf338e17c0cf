"""Competition files: where they come from, how they are checked, how they are read.

``raw`` fetches a competition's files into ``data/raw/`` once (read-only, with a sha256
manifest) and verifies them on every load; ``sources`` are the remote places files come
from (Kaggle, a URL, torchvision); ``tables`` reads the CSVs and checks train against
test; ``synthetic`` turns any CSV into a competition, ``image_competition`` a folder of
class folders of images. The names below are the ones the
old ``kagglekit.data`` module had, so ``from kagglekit.data import fetch`` keeps working.
"""

from kagglekit.data.image_competition import make_image_competition
from kagglekit.data.raw import (
    MANIFEST,
    MIRROR_ENV,
    DataSource,
    MirrorSource,
    fetch,
    resolve_source,
    verify_raw,
)
from kagglekit.data.synthetic import kk_new_line, make_competition
from kagglekit.data.tables import (
    Competition,
    check_frames,
    infer_task,
    load_competition,
    read_table,
)

__all__ = [
    "MANIFEST",
    "MIRROR_ENV",
    "Competition",
    "DataSource",
    "MirrorSource",
    "check_frames",
    "fetch",
    "infer_task",
    "kk_new_line",
    "load_competition",
    "make_competition",
    "make_image_competition",
    "read_table",
    "resolve_source",
    "verify_raw",
]
