"""Recommenders: interaction data, the top-K ranking task, user-wise splits and models.

- ``loaders``: the ``interactions`` loader (MovieLens 100k, MovieLens latest-small, any
  interactions CSV), rows = (user, item) pairs coded as integers;
- ``ranking``: the ``ranking`` task (a space-separated list of K items per user) and its
  metrics (MAP@K as Kaggle scores it, Precision/Recall/NDCG@K, coverage);
- ``splits``: per-user random holdout, per-user k-fold and per-user leave-last-n-out;
- ``models``: biases, popularity, user/item kNN, biased MF (ALS), EASE, implicit ALS/BPR;
- ``neural``: a NeuMF-style net on the shared torch trainer;
- ``factor_models``: Bayesian MF by Gibbs sampling with implicit feedback (``bpmf``).

Only ``neural`` imports torch; ``models`` imports ``implicit`` when ALS/BPR are built.
"""
