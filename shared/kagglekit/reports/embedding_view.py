"""An unsupervised view of a table's training rows: PCA and k-Means, beside the label.

``plot_embedding_view`` draws one PNG of two panels: every training row on the first two
principal components of its features, coloured by its class, with the k-Means cluster
centres marked; and each cluster's class shares. The features are the ones a linear
model of the project sees (the project's feature function, its ``[features]`` steps,
one-hot encoding and scaling: ``features.pipeline`` with the ``linear`` family), fitted
on every training row at once (a picture, not a model: the ``pca`` and ``kmeans`` steps
of a model entry are fitted per fold). PCA and k-Means never see the label; the colours
and the bars show how much of it their directions and groups carry anyway.

``write_embedding_view(project, out_dir)`` draws it for a table competition (the ``csv``
loader) with a class target and returns its ``Plot`` (nothing for other data, or when
the data is not fetched here).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from kagglekit.errors import KKError
from kagglekit.features.pipeline import build_feature_pipeline
from kagglekit.project import Project
from kagglekit.reports.plots import _STYLE, Plot, _figure, _save
from kagglekit.tasks import get_task
from kagglekit.training.prepare import prepare

log = logging.getLogger(__name__)

FILE = "pca_kmeans.png"
N_CLUSTERS = 6
MAX_ROWS = 5000  # rows drawn and clustered: a sample of bigger tables (seeded)
_CLASS_COLOURS = ("#C44E52", "#4C72B0", "#55A868", "#DD8452", "#8172B3", "#937860",
                  "#DA8BC3", "#8C8C8C", "#CCB974", "#64B5CD")  # fmt: skip


def feature_matrix(
    project: Project, *, seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray, list[Any]]:
    """``(features, encoded target, classes)`` of the training rows as a linear model
    sees them (one-hot, imputed, scaled), fitted on every training row."""
    cfg = project.config()
    prepared = prepare(project, cfg)
    if not isinstance(prepared.X, pd.DataFrame):
        raise KKError(f"project '{project.name}' is not a table; the PCA view draws tables")
    pipe = build_feature_pipeline(
        cfg.features,
        family="linear",
        task=prepared.task,
        seed=seed,
        project_steps=prepared.project_steps,
    )
    frame = pipe.fit_transform(prepared.X, prepared.y)
    return (
        frame.select_dtypes(include="number"),
        np.asarray(prepared.y),
        list(prepared.classes or []),
    )


def _axis_label(n: int, share: float, loadings: np.ndarray, names: Sequence[str]) -> str:
    """``PC1 (23% of the variance)`` over its 3 largest weights: ``+is_female, -title_Mr``."""
    top = np.argsort(-np.abs(loadings))[:3]
    parts = ", ".join(f"{'+' if loadings[i] > 0 else '-'}{names[i]}" for i in top)
    return f"PC{n} ({share:.0%} of the variance)\n{parts}"


def plot_embedding_view(
    features: pd.DataFrame,
    y: np.ndarray,
    class_names: Sequence[str],
    path: Path,
    *,
    n_clusters: int = N_CLUSTERS,
    seed: int = 0,
    title: str = "",
) -> Path:
    """Draw the two panels (module doc) for ``features`` (rows x numeric columns) and the
    encoded classes ``y`` (0..k-1, named by ``class_names``) into ``path``."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import StandardScaler

    if len(features) > MAX_ROWS:
        rows = np.sort(np.random.default_rng(seed).choice(len(features), MAX_ROWS, replace=False))
        features, y = features.iloc[rows], y[rows]
    # As the pca and kmeans fold steps do: every column imputed and scaled, then fitted.
    Z = StandardScaler().fit_transform(SimpleImputer(strategy="median").fit_transform(features))
    pca = PCA(n_components=2, random_state=seed).fit(Z)
    xy = pca.transform(Z)  # (n, 2)
    kmeans = KMeans(n_clusters=min(n_clusters, len(Z)), n_init=10, random_state=seed).fit(Z)
    centres = pca.transform(kmeans.cluster_centers_)  # (k, 2): the centres on the same plane
    k = len(class_names)
    colours = [_CLASS_COLOURS[i % len(_CLASS_COLOURS)] for i in range(k)]

    fig = _figure(12.5, 5.2)
    left, right = fig.subplots(1, 2, width_ratios=[1.35, 1])
    for c in range(k):
        at = y == c
        left.scatter(
            *xy[at].T, s=12, alpha=0.55, color=colours[c], label=f"{class_names[c]} ({at.sum()})"
        )
    for i, (cx, cy) in enumerate(centres):
        left.annotate(str(i), (cx, cy), ha="center", va="center", fontsize=10, weight="bold",
                      bbox={"boxstyle": "circle", "fc": "white", "ec": "black"})  # fmt: skip
    names = list(features.columns)
    ratio = pca.explained_variance_ratio_
    left.set_xlabel(_axis_label(1, ratio[0], pca.components_[0], names), fontsize=9)
    left.set_ylabel(_axis_label(2, ratio[1], pca.components_[1], names), fontsize=9)
    left.set_title("First two principal components (circles: k-Means centres)")
    left.legend(title="class (rows)", loc="best")

    # Each cluster's class shares: a 100% bar per cluster, the class colours as on the left.
    labels = kmeans.labels_
    sizes = np.bincount(labels, minlength=kmeans.n_clusters)
    shares = np.zeros((kmeans.n_clusters, k))
    np.add.at(shares, (labels, y.astype(np.int64)), 1.0)
    shares /= np.maximum(sizes, 1)[:, None]
    bottom = np.zeros(kmeans.n_clusters)
    for c in range(k):
        right.bar(
            range(kmeans.n_clusters), shares[:, c], bottom=bottom, color=colours[c], width=0.7
        )
        for i in range(kmeans.n_clusters):
            if shares[i, c] >= 0.1:
                right.text(i, bottom[i] + shares[i, c] / 2, f"{shares[i, c]:.0%}",
                           ha="center", va="center", fontsize=9, color="white")  # fmt: skip
        bottom += shares[:, c]
    right.set_xticks(range(kmeans.n_clusters), [f"{i}\n{n} rows" for i, n in enumerate(sizes)])
    right.set_xlabel("k-Means cluster (fitted without the label)")
    right.set_ylabel("share of the cluster's rows")
    right.set_ylim(0, 1)
    right.grid(False)
    right.set_title(f"Class shares in each of {kmeans.n_clusters} clusters")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def write_embedding_view(project: Project, out_dir: Path) -> list[Plot]:
    """The view of ``project`` in ``out_dir`` (``pca_kmeans.png``) as a one-plot list:
    empty for data that is not a table with a class target, or not fetched here."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import rc_context

    cfg = project.config()
    # Tables only (the csv loader: image and text loaders would load every image or text
    # to find out), with a class target, fetched here.
    if cfg.data.loader != "csv" or not get_task(cfg.competition.task).is_classification:
        return []
    caption = "PCA and k-Means view of the training rows (no label used; coloured by it)"
    drawn = Path(out_dir) / FILE
    # Without the raw data here (a fresh clone), the committed view stays as it is, like
    # the tables made from committed record copies: the README does not change.
    kept = [Plot(drawn, caption)] if drawn.is_file() else []
    if not project.raw_dir.is_dir():
        return kept
    try:
        features, y, classes = feature_matrix(project)
    except KKError as err:  # not a table, no data or folds here: no view, as other plots
        log.info("no PCA view for %s: %s", project.name, err)
        return kept
    if not classes or features.shape[1] < 2:
        return []
    target = cfg.competition.target_column
    names = [f"{target} = {c}" for c in classes]
    with rc_context(_STYLE):  # type: ignore[arg-type]
        path = plot_embedding_view(
            features,
            y,
            names,
            Path(out_dir) / FILE,
            title=f"{project.name}: PCA and k-Means of the features a linear model sees "
            "(the label only colours them)",
        )
    return [Plot(path, caption)]
