"""Features: the project's own function, leakage-safe encoders, and model preprocessing.

Three layers, applied in this order:

1. the project feature function, ``build_features(train, test) -> (train, test)``: a plain
   function of the raw frames (the target column is removed before it is called, so it
   cannot leak the answer across rows);
2. fold steps, fitted inside each fold on that fold's training rows only: the project's
   own target-aware steps (``FOLD_STEPS`` in its ``features.py``), leave-one-out group
   target rates, target encoding, count encoding, k-means cluster features and PCA
   components;
3. the model family's preprocessing: gradient-boosted trees take ordinal codes and NaN as
   they are; linear, SVM and k-NN models get imputation, one-hot and scaling.

- :mod:`~kagglekit.features.frames`: layer 1, and the checks that train and test agree;
- :mod:`~kagglekit.features.encoders`: the fold steps (a catalogue of transformers);
- :mod:`~kagglekit.features.pipeline`: the per-fold pipeline of one model (layers 2 and 3).

Every name the single ``features`` module had is importable from here: templates,
projects' ``features.py`` files and their tests import them from ``kagglekit.features``.
"""

from __future__ import annotations

# Names with a leading underscore are the old module's private ones, kept importable for
# code that reached into it (kagglekit.text.columns subclasses _FrameStep); KKError was
# importable from it too. Loading a project's own code lives in kagglekit.project; its
# names stay importable from here, where templates and projects' tests import them.
from kagglekit.errors import KKError  # noqa: F401
from kagglekit.features.encoders import (  # noqa: F401
    _DATE_PARTS,
    _DATE_SHAPE,
    AutoFeatures,
    ClusterFeatures,
    CountEncoder,
    FeatureStepError,
    GroupTargetRate,
    PCAFeatures,
    _AppendFeatures,
    _date_format,
    _FrameStep,
    _is_numeric,
    _shuffled_target_encoder,
    _target_type,
)
from kagglekit.features.frames import (  # noqa: F401
    FeatureFunction,
    _first_text,
    apply_feature_function,
    check_same_columns,
    check_same_kinds,
    prepare_frames,
)
from kagglekit.features.pipeline import (  # noqa: F401
    _NON_NUMERIC,
    LAZY_RAW_STEPS,
    PACKAGE_STEPS,
    RAW_STEPS,
    Family,
    _AsString,
    _encoders,
    _make_step,
    build_feature_pipeline,
    make_preprocessor,
)
from kagglekit.project import load_project_module, project_feature_function, user_code_error

__all__ = [
    "LAZY_RAW_STEPS",
    "PACKAGE_STEPS",
    "RAW_STEPS",
    "AutoFeatures",
    "ClusterFeatures",
    "CountEncoder",
    "Family",
    "FeatureFunction",
    "FeatureStepError",
    "GroupTargetRate",
    "PCAFeatures",
    "apply_feature_function",
    "build_feature_pipeline",
    "check_same_columns",
    "check_same_kinds",
    "load_project_module",
    "make_preprocessor",
    "prepare_frames",
    "project_feature_function",
    "user_code_error",
]
