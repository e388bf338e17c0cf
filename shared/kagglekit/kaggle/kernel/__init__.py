"""Kaggle kernels: a run sent to Kaggle's machines and brought back as a run.

``bundle`` writes a kernel (one script carrying kagglekit, the project's code, its saved
folds and a spec, plus ``kernel-metadata.json``); ``deps`` builds the dataset of what
Kaggle's image lacks (wheels, pretrained folders, data that is not on Kaggle);
``remote`` is what the script runs inside Kaggle; ``follow`` pushes a kernel, follows
its status and pulls its run back into ``runs/``. The names below are this package's
surface (``kagglekit.kaggle.kernel`` was one module before).
"""

from kagglekit.kaggle.kernel.bundle import (
    METADATA,
    OUTPUT_INFO,
    OUTPUT_RUN,
    SCRIPT,
    USERNAME_PLACEHOLDER,
    build_kernel,
    build_model_kernel,
    choose_run,
    default_folder,
    local_username,
    package_zip,
    slugify,
)

__all__ = [
    "METADATA",
    "OUTPUT_INFO",
    "OUTPUT_RUN",
    "SCRIPT",
    "USERNAME_PLACEHOLDER",
    "build_kernel",
    "build_model_kernel",
    "choose_run",
    "default_folder",
    "local_username",
    "package_zip",
    "slugify",
]
