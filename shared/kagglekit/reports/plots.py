"""The report's plots: PNGs drawn from run records, their OOF arrays and the ledger.

PNGs under ``projects/<name>/reports/``, drawn with matplotlib's Agg canvas (no display,
no pyplot global state) and written atomically only when their bytes change, so running
``kk report`` twice leaves every file as it was. ``write_plots`` draws every plot the runs
allow; each ``plot_*`` function draws one.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import kagglekit.atomic as atomic
from kagglekit.errors import KKError
from kagglekit.metrics import to_labels
from kagglekit.models.base import TREE_FAMILIES, get_backend
from kagglekit.records import Run, ranked_by_cv, unique_runs
from kagglekit.reports.ledger import _score, scored_submissions
from kagglekit.reports.tables import _best_run, _with_oof
from kagglekit.tasks import get_task

log = logging.getLogger(__name__)

PLOTS_DIR = "reports"
_STYLE: dict[str, Any] = {
    "font.size": 11,
    "axes.titlesize": 13,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
_COLOURS = {"model": "#4C72B0", "ensemble": "#DD8452", "public": "#4C72B0", "private": "#C44E52"}


@dataclass(frozen=True)
class Plot:
    """One written plot: its file and the caption the README shows with it."""

    path: Path
    caption: str


def _png_bytes(fig: Any) -> bytes:
    buf = io.BytesIO()
    # No software/date metadata: the same figure gives the same bytes on every run.
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def _same_pixels(old: bytes, new: bytes) -> bool:
    """True when two PNGs show the same image (size, mode and every pixel)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(old)) as a, Image.open(io.BytesIO(new)) as b:
            return a.size == b.size and a.mode == b.mode and a.tobytes() == b.tobytes()
    except (OSError, ValueError):  # not a readable PNG: replace it
        return False


def _save(fig: Any, path: Path) -> Path:
    """Write the figure unless ``path`` already shows the same image.

    Bytes are compared first; a file with other bytes but the same pixels (written by
    another zlib or libpng, or with metadata) is kept too, so ``kk report`` on unchanged
    runs leaves tracked PNGs as they are.
    """
    data = _png_bytes(fig)
    if path.is_file():
        old = path.read_bytes()
        if old == data or _same_pixels(old, data):
            return path
    atomic.write_bytes(path, data)
    return path


def _figure(width: float, height: float) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _label(run: Run) -> str:
    return f"{run.record.get('model')} ({run.run_id[-4:]})"


def _direction(run: Run) -> str:
    return "higher is better" if run.record.get("greater_is_better", True) else "lower is better"


def _over_folds(run: Run) -> str:
    """What a run's figures are averaged over, as a reader says it: "over 5 folds", "over
    5 folds x 3 repeats", or "one holdout split" (nothing averaged: no "mean of 1 folds")."""
    folds = run.record.get("fold_scores") or []
    n_repeats = len({f.get("repeat") for f in folds}) or 1
    n_splits = len(folds) // n_repeats
    if n_splits * n_repeats <= 1:
        return "one holdout split"
    repeats = f" x {n_repeats} repeats" if n_repeats > 1 else ""
    return f"over {n_splits} folds{repeats}"


def plot_cv_scores(runs: Sequence[Run], path: Path, *, top: int = 30) -> Path:
    """Horizontal bars of CV mean +- std for each COMPLETE run, best on top.

    Duplicate runs (same config, folds and backend) get one bar, their newest run's.
    """
    done = ranked_by_cv(unique_runs(runs))[:top]
    means = np.array([r.record["cv_mean"] for r in done])
    stds = np.array([r.record.get("cv_std") or 0.0 for r in done])
    colours = [
        _COLOURS["ensemble"]
        if str(r.record.get("model")).startswith("ensemble-")
        else _COLOURS["model"]
        for r in done
    ]
    fig = _figure(8.0, 1.2 + 0.38 * len(done))
    ax = fig.add_subplot()
    y = np.arange(len(done))[::-1]
    # One holdout split has no spread to show: no zero-width error bars.
    ax.barh(y, means, xerr=stds if stds.any() else None, color=colours, capsize=3, height=0.7)
    ax.set_yticks(y, [_label(r) for r in done])
    low, high = float((means - stds).min()), float((means + stds).max())
    pad = 0.15 * (high - low) or 0.01 * abs(high) or 0.01
    ax.set_xlim(low - pad, high + 3 * pad)
    for yi, m, s in zip(y, means, stds, strict=True):
        ax.text(m + s + pad * 0.2, yi, f"{m:.4f}", va="center", fontsize=9)
    metric = done[0].record.get("metric", "score")
    over = _over_folds(done[0])
    spread = "" if over.startswith("one") else "mean \u00b1 std "
    ax.set_xlabel(f"CV {metric} ({spread}{over}; {_direction(done[0])})")
    ax.set_title(f"CV {metric} per run")
    ax.grid(axis="y", visible=False)
    if any(c == _COLOURS["ensemble"] for c in colours):
        from matplotlib.patches import Patch

        fig.legend(
            handles=[
                Patch(color=_COLOURS["model"], label="single model"),
                Patch(color=_COLOURS["ensemble"], label="ensemble"),
            ],
            loc="outside lower center",
            ncols=2,
            frameon=False,
        )
    return _save(fig, path)


def plot_cv_vs_leaderboard(entries: Sequence[dict[str, Any]], path: Path) -> Path | None:
    """CV against public and private leaderboard scores per submission (None: no scores)."""
    scored = [e for e in scored_submissions(entries) if _score(e.get("cv_mean")) is not None]
    if not scored:
        return None
    fig = _figure(6.5, 5.5)
    ax = fig.add_subplot()
    cv = np.array([float(e["cv_mean"]) for e in scored])
    values = [cv]
    for kind in ("public", "private"):
        pts = [
            (c, e[f"{kind}_score"])
            for c, e in zip(cv, scored, strict=True)
            if e[f"{kind}_score"] is not None
        ]
        if pts:
            xs, ys = np.array(pts).T
            marker = "o" if kind == "public" else "s"
            ax.scatter(
                xs, ys, s=50, marker=marker, color=_COLOURS[kind], label=f"{kind} LB", zorder=3
            )
            values.append(ys)
    for c, e in zip(cv, scored, strict=True):
        lb = e["public_score"] if e["public_score"] is not None else e["private_score"]
        ax.annotate(
            str(e.get("model") or ""),
            (c, lb),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=8,
        )
    every = np.concatenate(values)
    low, high = float(every.min()), float(every.max())
    pad = 0.1 * (high - low) or 0.01
    ax.plot([low - pad, high + pad], [low - pad, high + pad], "--", color="grey", label="LB = CV")
    ax.set_xlim(low - pad, high + pad)
    ax.set_ylim(low - pad, high + pad)
    metric = scored[0].get("metric") or "score"
    ax.set_xlabel(f"CV {metric}")
    ax.set_ylabel(f"leaderboard {metric}")
    ax.set_title("CV vs leaderboard, one point per submission")
    ax.legend(loc="upper left")
    return _save(fig, path)


def is_tree_backend(name: Any) -> bool:
    """Whether the backend ``name`` is a tree model (``Backend.is_tree``, from the family it
    registered with); False for a name not registered here. Its libraries need not be
    installed: a committed copy of a run made elsewhere still gets its importance plot."""
    try:
        return get_backend(str(name), installed=False).is_tree
    except KKError:
        return False


def best_tree_run(runs: Sequence[Run]) -> Run | None:
    """The best COMPLETE tree-model run that recorded feature importances."""
    trees = [
        r
        for r in runs
        if r.status == "COMPLETE"
        and r.record.get("feature_importance")
        and r.record.get("cv_mean") is not None
        and _is_tree_run(r.record)
    ]
    return _best_run(trees)


def _is_tree_run(record: dict[str, Any]) -> bool:
    """By the family the run recorded (a project's own backend needs no import here); a
    record older than that field, by its backend's registration."""
    if "family" in record:
        return record["family"] in TREE_FAMILIES
    return is_tree_backend(record.get("backend"))


def plot_feature_importance(run: Run, path: Path, *, top: int = 20) -> Path:
    """The ``top`` largest mean fold importances of a tree run."""
    items = sorted(run.record["feature_importance"].items(), key=lambda kv: -kv[1])[:top]
    total = sum(v for _, v in run.record["feature_importance"].items()) or 1.0
    names = [k for k, _ in items][::-1]
    shares = [100.0 * v / total for _, v in items][::-1]
    fig = _figure(7.5, 1.2 + 0.34 * len(items))
    ax = fig.add_subplot()
    ax.barh(np.arange(len(items)), shares, color=_COLOURS["model"], height=0.7)
    ax.set_yticks(np.arange(len(items)), names)
    over = _over_folds(run)
    ax.set_xlabel(
        "share of total importance (%)" + ("" if over.startswith("one") else f", mean {over}")
    )
    ax.set_title(f"Feature importance: {_label(run)}")
    ax.grid(axis="y", visible=False)
    return _save(fig, path)


def _class_names(run: Run, n_classes: int, label_names: Sequence[str] | None = None) -> list[str]:
    """The classes' names: the loader's ``label_names`` (Fashion-MNIST's "Trouser") when
    there is one per class, else the run's class labels."""
    if label_names and len(label_names) == n_classes:
        return [str(n) for n in label_names]
    if label_names:  # competition.class_names of another length: say why they are not shown
        log.warning(
            "%d class names given for %d classes; the plots show the labels instead "
            "(competition.class_names lists one name per class, in label order)",
            len(label_names), n_classes,
        )  # fmt: skip
    classes = run.record.get("classes") or list(range(n_classes))
    return [str(c) for c in classes]


def plot_confusion_matrix(
    run: Run,
    y: np.ndarray,
    oof: np.ndarray,
    path: Path,
    *,
    threshold: float = 0.5,
    label_names: Sequence[str] | None = None,
) -> Path:
    """Counts of actual vs predicted labels (OOF, thresholded as the metric does), with
    the classes named as the mistakes grid names them."""
    n_classes = oof.shape[1] if oof.ndim == 2 else 2
    names = _class_names(run, n_classes, label_names)
    pred = to_labels(oof, threshold=threshold)
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (y.astype(np.int64), pred.astype(np.int64)), 1)
    size = 3.5 + 0.45 * n_classes
    fig = _figure(size + 1.0, size)
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, label="rows")
    ax.grid(False)
    ax.set_xticks(range(n_classes), names, rotation=45 if n_classes > 4 else 0)
    ax.set_yticks(range(n_classes), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    cut = matrix.max() / 2.0
    for i in range(n_classes):
        for j in range(n_classes):
            colour = "white" if matrix[i, j] > cut else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=colour)
    accuracy = np.trace(matrix) / max(matrix.sum(), 1)
    ax.set_title(f"Confusion matrix (OOF): {_label(run)}\naccuracy {accuracy:.4f}")
    return _save(fig, path)


def plot_roc_curve(
    run: Run,
    y: np.ndarray,
    oof: np.ndarray,
    path: Path,
    *,
    max_classes: int = 10,
    label_names: Sequence[str] | None = None,
) -> Path:
    """ROC curve of the OOF probabilities (one-vs-rest per class for multiclass), each curve
    named by its class as the confusion matrix names it."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = _figure(6.0, 5.5)
    ax = fig.add_subplot()
    if oof.ndim == 1:
        curves = [(f"class {_class_names(run, 2, label_names)[1]}", y == 1, oof)]
    else:
        names = _class_names(run, oof.shape[1], label_names)
        curves = [(names[k], y == k, oof[:, k]) for k in range(min(oof.shape[1], max_classes))]
    for name, truth, score in curves:
        if truth.all() or not truth.any():
            continue
        fpr, tpr, _ = roc_curve(truth, score)
        ax.plot(fpr, tpr, lw=2, label=f"{name}: AUC {roc_auc_score(truth, score):.4f}")
    ax.plot([0, 1], [0, 1], "--", color="grey", label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"ROC curve (OOF): {_label(run)}")
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_residuals(run: Run, y: np.ndarray, oof: np.ndarray, path: Path) -> Path:
    """Predicted vs actual, and residuals vs predicted, from a regression run's OOF."""
    residual = y - oof
    fig = _figure(11.0, 4.8)
    left, right = fig.subplots(1, 2)
    left.scatter(y, oof, s=12, alpha=0.5, color=_COLOURS["model"])
    low, high = float(min(y.min(), oof.min())), float(max(y.max(), oof.max()))
    left.plot([low, high], [low, high], "--", color="grey", label="predicted = actual")
    left.set_xlabel("actual")
    left.set_ylabel("predicted (OOF)")
    left.set_title("Predicted vs actual")
    left.legend(loc="upper left")
    right.scatter(oof, residual, s=12, alpha=0.5, color=_COLOURS["model"])
    right.axhline(0.0, ls="--", color="grey")
    right.set_xlabel("predicted (OOF)")
    right.set_ylabel("residual (actual - predicted)")
    rmse = float(np.sqrt(np.mean(residual**2)))
    right.set_title(f"Residuals (RMSE {rmse:.4f})")
    fig.suptitle(f"Residuals: {_label(run)}", fontsize=13)
    return _save(fig, path)


def learning_curve_runs(runs: Sequence[Run]) -> list[Run]:
    """COMPLETE runs whose folds recorded per-epoch curves (``learned["history"]``).

    Neural-network backends report ``{"history": {"train_loss": [...], "valid_loss": [...]}}``
    from ``Model.learned()``; the CV loop keeps it in ``fold_scores``.
    """
    out = []
    for run in runs:
        folds = run.record.get("fold_scores") or []
        if run.status == "COMPLETE" and any(
            isinstance((f.get("learned") or {}).get("history"), dict) for f in folds
        ):
            out.append(run)
    return out


# Per-epoch bookkeeping of the torch trainer, not learning curves: seconds (tens to
# hundreds) would flatten the losses and scores (0..2) on one axis.
_NOT_CURVES = frozenset({"seconds", "lr"})


def _series_label(name: str, metric: str) -> str:
    """A history key as a reader names it: ``valid_score`` -> "validation accuracy"."""
    words = {"train": "training", "valid": "validation"}
    head, _, tail = name.partition("_")
    if tail == "score":
        tail = metric
    return f"{words.get(head, head)} {tail}" if tail else name


def plot_learning_curves(run: Run, path: Path) -> Path:
    """Per-epoch losses and scores in two panels, one thin line per fold and their mean
    thick (one line for a single split), with the epoch each fold kept marked.

    Losses and scores live on different scales (a loss of 1.2 beside an accuracy of 0.9),
    so each gets its own axis. The kept epoch is the trainer's ``best_epoch``: the one whose
    weights made the run's predictions.
    """
    series: dict[str, list[list[float]]] = {}
    kept: list[int | None] = []  # per fold: the 0-based epoch whose weights were kept
    for fold in run.record.get("fold_scores") or []:
        learned = fold.get("learned") or {}
        history = learned.get("history") or {}
        if not history:
            continue
        kept.append(learned.get("best_epoch"))
        for name, values in history.items():
            if name in _NOT_CURVES:
                continue
            series.setdefault(str(name), []).append([float(v) for v in values])
    metric = str(run.record.get("metric") or "score")
    losses = sorted(n for n in series if "loss" in n)
    scores = sorted(n for n in series if "loss" not in n)
    panels = [(names, label) for names, label in ((losses, "loss"), (scores, metric)) if names]
    fig = _figure(5.2 * len(panels) + 1.0, 4.6)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    n_folds = max((len(c) for c in series.values()), default=0)
    cycle = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B2"]
    from matplotlib.ticker import MaxNLocator

    for ax, (names, ylabel) in zip(axes, panels, strict=True):
        for colour, name in zip(cycle * 4, names, strict=False):
            # The kept epoch is marked on the validation curves, which it was chosen by.
            marks = kept if name.startswith("valid") else []
            _draw_series(ax, series[name], marks, colour, _series_label(name, metric))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        direction = "" if ylabel == "loss" else f" ({_direction(run)})"
        ax.set_ylabel(f"{ylabel}{direction}")
        ax.legend()
    spread = f"{n_folds} folds: a thin line per fold, the thick line their mean"
    spread = "one holdout split" if n_folds <= 1 else spread
    fig.suptitle(f"Learning curves of {_label(run)}, {spread}", fontsize=12)
    return _save(fig, path)


_STAR = {"s": 70, "marker": "*", "edgecolor": "black", "zorder": 3}


def _draw_series(
    ax: Any, curves: list[list[float]], kept: Sequence[int | None], colour: str, label: str
) -> None:
    """One series on ``ax``: the fold curves (thin when several), their mean, the kept epochs."""
    if len(curves) > 1:
        for curve in curves:
            ax.plot(np.arange(1, len(curve) + 1), curve, color=colour, alpha=0.25, lw=1)
    n = min(len(c) for c in curves)
    mean = np.mean([c[:n] for c in curves], axis=0)
    ax.plot(np.arange(1, n + 1), mean, color=colour, lw=2.5, label=label)
    # The kept epoch on each fold's own curve (a fold may stop early: its curve is shorter).
    points = [
        (k + 1, curve[k])
        for k, curve in zip(kept, curves, strict=False)
        if k is not None and 0 <= k < len(curve)
    ]
    if points:
        xs, ys = np.array(points).T
        what = "kept epoch" if len(curves) <= 1 else "each fold's kept epoch"
        shown = what in ax.get_legend_handles_labels()[1]  # one legend entry per panel
        ax.scatter(xs, ys, color=colour, label=None if shown else what, **_STAR)


def plot_misclassified(
    run: Run,
    images: np.ndarray,
    y: np.ndarray,
    oof: np.ndarray,
    path: Path,
    *,
    label_names: Sequence[str] | None = None,
    n: int = 24,
) -> Path | None:
    """The validated images the run got most confidently wrong, true -> predicted label.

    ``images`` (N, C, H, W) uint8 and ``oof`` (N, k) probabilities of the validated rows.
    """
    pred = oof.argmax(axis=1)
    wrong = np.flatnonzero(pred != y)
    if len(wrong) == 0:
        return None
    confidence = oof[wrong, pred[wrong]]
    chosen = wrong[np.argsort(-confidence, kind="stable")[:n]]
    names = _class_names(run, oof.shape[1], label_names)
    cols = 6
    rows = int(np.ceil(len(chosen) / cols))
    fig = _figure(1.6 * cols, 1.9 * rows)
    for i, row in enumerate(chosen):
        ax = fig.add_subplot(rows, cols, i + 1)
        image = images[row]
        shown = image[0] if image.shape[0] == 1 else np.transpose(image, (1, 2, 0))
        ax.imshow(shown, cmap="gray" if image.shape[0] == 1 else None, vmin=0, vmax=255)
        ax.set_title(
            f"{names[y[row]]}\n-> {names[pred[row]]} ({oof[row, pred[row]]:.2f})", fontsize=7
        )
        ax.axis("off")
    fig.suptitle(f"Most confident mistakes: {_label(run)} (OOF)", fontsize=9)
    return _save(fig, path)


def write_plots(
    out_dir: Path,
    runs: Sequence[Run],
    *,
    y: np.ndarray | None = None,
    task: str | None = None,
    threshold: float = 0.5,
    ledger: Sequence[dict[str, Any]] = (),
    images: np.ndarray | None = None,
    label_names: Sequence[str] | None = None,
    extra: Sequence[Plot] = (),
) -> list[Plot]:
    """Write every plot the runs and ledger allow into ``out_dir``; return them in order.

    ``extra``: plots drawn into ``out_dir`` by others (the table view), listed last and kept.

    ``y`` is the encoded train target (for the OOF plots of the best run). Plots whose
    inputs are missing (no ledger scores, no tree run, no NN run) are skipped. PNGs left
    from an earlier report that no longer apply are removed.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import rc_context

    out_dir = Path(out_dir)
    plots: list[Plot] = []
    with rc_context(_STYLE):  # type: ignore[arg-type]
        if _best_run(runs) is None:
            return plots
        plots.append(Plot(plot_cv_scores(runs, out_dir / "cv_scores.png"), "CV score per run"))
        lb = plot_cv_vs_leaderboard(ledger, out_dir / "cv_vs_leaderboard.png")
        if lb is not None:
            plots.append(Plot(lb, "CV vs leaderboard"))
        tree = best_tree_run(runs)
        if tree is not None:
            path = plot_feature_importance(tree, out_dir / "feature_importance.png")
            plots.append(
                Plot(path, f"Feature importance of the best tree model ({tree.record['model']})")
            )
        best = _best_run(_with_oof(runs))
        if best is not None and y is not None:
            oof = best.load_array("oof")
            rows = ~np.isnan(oof.reshape(len(oof), -1)).any(axis=1)
            # A run copied into reports/records/ may have its record only there (arrays over
            # the copy limit): the OOF plots show the best run whose predictions are here,
            # and say so when it is not the best.
            which = "the best run" if best is _best_run(runs) else "the best run with its OOF here"
            model = best.record["model"]
            oof_plots = get_task(task).oof_plots if task else ()
            if "confusion_matrix" in oof_plots:
                path = plot_confusion_matrix(
                    best,
                    y[rows],
                    oof[rows],
                    out_dir / "confusion_matrix.png",
                    threshold=threshold,
                    label_names=label_names,
                )
                plots.append(Plot(path, f"Confusion matrix of {which} ({model}, OOF)"))
                path = plot_roc_curve(
                    best, y[rows], oof[rows], out_dir / "roc_curve.png", label_names=label_names
                )
                plots.append(Plot(path, f"ROC curve of {which} ({model}, OOF)"))
            if images is not None and oof.ndim == 2 and len(images) == len(y):
                grid = plot_misclassified(
                    best,
                    images[rows],
                    y[rows],
                    oof[rows],
                    out_dir / "misclassified.png",
                    label_names=label_names,
                )
                if grid is not None:
                    plots.append(Plot(grid, f"Most confident mistakes of {which} ({model}, OOF)"))
            elif "residuals" in oof_plots:
                path = plot_residuals(best, y[rows], oof[rows], out_dir / "residuals.png")
                plots.append(Plot(path, f"Residuals of {which} ({model}, OOF)"))
        nn = learning_curve_runs(runs)
        if nn:
            nn_best = _best_run(nn) or nn[-1]
            path = plot_learning_curves(nn_best, out_dir / "learning_curves.png")
            plots.append(Plot(path, f"Learning curves ({nn_best.record['model']})"))
    plots.extend(extra)
    keep = {p.path.name for p in plots}
    for stale in out_dir.glob("*.png") if out_dir.is_dir() else []:
        if stale.name not in keep:
            stale.unlink()
    return plots


def plots_markdown(plots: Sequence[Plot], readme_dir: Path) -> str:
    """Image links for the README, relative to the README's folder."""
    lines = []
    for plot in plots:
        rel = plot.path.relative_to(readme_dir).as_posix()
        lines.append(f"**{plot.caption}**\n\n![{plot.caption}]({rel})\n")
    return "\n".join(lines).rstrip()
