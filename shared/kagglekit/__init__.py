"""kagglekit: the shared core of a Kaggle-style competition monorepo.

Folds are assigned once per project and read by everything else; every model, whatever
its backend, goes through one cross-validation loop that writes a run record.
"""

__version__ = "0.1.0"
