"""Reports generated from run records: a project's results section and the portfolio.

The README keeps hand-written text around a generated section between two markers;
``update_readme_section`` rewrites only that section, so regenerating is idempotent.
A project's section holds the results table, the submissions from the ledger
(``submissions.jsonl``) and plots written under ``projects/<name>/reports/``; the root
README's portfolio section holds one row per project.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kagglekit import atomic
from kagglekit.config import ProjectConfig
from kagglekit.errors import KKError
from kagglekit.project import Project
from kagglekit.records import Run, ranked_by_cv, unique_runs
from kagglekit.tasks import get_task

log = logging.getLogger(__name__)

START_MARKER = "<!-- kk:results:start -->"
END_MARKER = "<!-- kk:results:end -->"


def _best_per_model(runs: Sequence[Run]) -> list[Run]:
    """The best COMPLETE run of each model, best first."""
    best: dict[str, Run] = {}
    for run in ranked_by_cv(runs):
        best.setdefault(str(run.record["model"]), run)
    return list(best.values())


def last_epoch_cv(record: dict[str, Any]) -> float | None:
    """The CV mean of a torch run without an epoch picked on its scored rows, or None:
    what it would have had with its last epochs' weights.

    The trainer's ``keep = "best"`` keeps the epoch that scored best on the rows each fold
    is scored on, so ``cv_mean`` is a max over epochs. A fold whose kept epoch is its last
    counts its score; another counts its last epoch's score from the epoch history, where
    that history scores as the fold does (the kept epoch's score equals the fold's). A fold
    whose epoch was chosen on held-out training rows (``early_stopping_holdout``) counts its
    score: nothing was picked on its scored rows. None when a fold has no history or its
    history scores otherwise (TTA, a tuned threshold).
    """
    scores = []
    for fold in record.get("fold_scores") or []:
        learned = fold.get("learned") or {}
        history = (learned.get("history") or {}).get("valid_score") or []
        best, score = learned.get("best_epoch"), fold.get("score")
        if learned.get("early_stopping_holdout_rows") and score is not None:
            scores.append(float(score))
        elif not history or best is None or score is None:
            return None
        elif best == len(history) - 1:
            scores.append(float(score))
        elif abs(float(history[best]) - float(score)) <= 1e-9:
            scores.append(float(history[-1]))
        else:
            return None
    return float(np.mean(scores)) if scores else None


def _epoch_picked(record: dict[str, Any], at_last: float | None) -> bool:
    return at_last is not None and abs(at_last - float(record["cv_mean"])) > 1e-12


def results_table_markdown(runs: Sequence[Run]) -> str:
    """A Markdown table of the best COMPLETE run per model, best CV score first.

    Runs must share one fold assignment (fold hash): scores on different folds are not
    comparable, so mixing them is an error. Failed and running runs are left out.

    Examples
    --------
    >>> print(results_table_markdown(list_runs(project.runs_dir)))  # doctest: +SKIP
    | model | accuracy (CV mean +- std) | ...
    """
    rows = _best_per_model(runs)
    if not rows:
        return "No complete runs yet: run `kk train PROJECT`."
    hashes = sorted({str(r.record.get("fold_hash")) for r in rows})
    if len(hashes) > 1:
        raise KKError(
            f"runs were made on {len(hashes)} different fold assignments "
            f"({', '.join(h[:12] for h in hashes)}); pass runs from one fold hash only"
        )
    metric = rows[0].record.get("metric", "score")
    # `kk score` records a run's score on the local solution (e.g. official test labels).
    scored = any((r.record.get("local_scores") or {}).get("all") is not None for r in rows)
    local = f" local test {metric} |" if scored else ""
    # Runs record OOF accuracy beside another classification metric (e.g. F1).
    accuracy = metric != "accuracy" and any(r.record.get("oof_accuracy") is not None for r in rows)
    acc_head = " OOF accuracy |" if accuracy else ""
    # Where an epoch was picked on the scored rows, the CV without that pick beside it.
    last = {r.run_id: last_epoch_cv(r.record) for r in rows}
    picked = any(_epoch_picked(r.record, last[r.run_id]) for r in rows)
    last_head = f" {metric}, last epoch (CV) |" if picked else ""
    lines = [
        f"| model | {metric} (CV mean +- std) | OOF {metric} |{acc_head}{last_head}{local} folds | seconds | run | commit |",
        "| --- | --- | --- |"
        + (" --- |" if accuracy else "")
        + (" --- |" if picked else "")
        + (" --- |" if scored else "")
        + " --- | --- | --- | --- |",
    ]
    for run in rows:
        rec = run.record
        folds = rec.get("fold_scores") or []
        n_repeats = len({f.get("repeat") for f in folds}) or 1
        n_splits = len(folds) // n_repeats
        git = rec.get("git") or {}
        commit = (git.get("commit") or "")[:8] + ("+dirty" if git.get("dirty") else "")
        oof = rec.get("oof_score")
        test = (rec.get("local_scores") or {}).get("all")
        test_cell = (" " + ("" if test is None else f"{test:.4f}") + " |") if scored else ""
        acc = rec.get("oof_accuracy")
        acc_cell = (" " + ("" if acc is None else f"{acc:.4f}") + " |") if accuracy else ""
        at_last = last[run.run_id]
        last_cell = (" " + ("" if at_last is None else f"{at_last:.4f}") + " |") if picked else ""
        lines.append(
            f"| {rec['model']} | {rec['cv_mean']:.4f} +- {rec['cv_std']:.4f} | "
            f"{'' if oof is None else f'{oof:.4f}'} |{acc_cell}{last_cell}{test_cell} {n_splits}x{n_repeats} | "
            f"{rec.get('wall_seconds', 0.0):.1f} | `{run.run_id}` | `{commit}` |"
        )
    lines.append("")
    # No run count or date here: the text changes only when the table does.
    lines.append(
        f"The best complete run of each model; fold hash `{hashes[0][:12]}`. "
        + (
            f"The last-epoch column is the {metric} of each fold's last epoch, from the "
            "runs' epoch histories: the CV without picking the best epoch on the rows the "
            "fold is scored on (the trainer's keep = 'best'); a run that chose its epochs "
            "on held-out training rows (early_stopping_holdout) shows its CV there. "
            if picked
            else ""
        )
        + "Generated by `kk report`; do not edit by hand."
    )
    return "\n".join(lines)


def update_readme_section(
    readme_path: Path, text: str, *, start_marker: str = START_MARKER, end_marker: str = END_MARKER
) -> bool:
    """Replace the text between the results markers in ``readme_path``; True if it changed.

    Only the section between ``<!-- kk:results:start -->`` and ``<!-- kk:results:end -->``
    (or the markers given) is rewritten (atomically); everything else is kept byte for byte.
    """
    try:
        content = Path(readme_path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KKError(
            f"{readme_path} does not exist; create it with a results section between "
            f"{start_marker} and {end_marker}"
        ) from None
    start = content.find(start_marker)
    end = content.find(end_marker)
    if start < 0 or end < 0 or end < start or content.count(start_marker) != 1:
        raise KKError(
            f"{readme_path} needs exactly one {start_marker} followed by {end_marker}; "
            "add them where the generated section should go"
        )
    head = content[: start + len(start_marker)]
    new = f"{head}\n{text.strip()}\n{content[end:]}"
    if new == content:
        return False
    atomic.write_text(Path(readme_path), new)
    return True


# --- plots --------------------------------------------------------------------------------
#
# PNGs under ``projects/<name>/reports/``, drawn with matplotlib's Agg canvas (no display,
# no pyplot global state) and written atomically only when their bytes change, so running
# ``kk report`` twice leaves every file as it was.

PLOTS_DIR = "reports"
TREE_BACKENDS = ("lightgbm", "xgboost", "random_forest", "extra_trees", "decision_tree")
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


def read_ledger_entries(project: Project) -> list[dict[str, Any]]:
    """The submission ledger (empty when there is none; unreadable lines are skipped)."""
    from kagglekit.submitting import read_ledger

    return read_ledger(project, strict=False)


def _score(value: Any) -> float | None:
    try:
        return None if value in (None, "") else float(value)
    except (TypeError, ValueError):
        return None


def scored_submissions(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ledger entries with a public or private leaderboard score, scores as floats."""
    out = []
    for entry in entries:
        public, private = _score(entry.get("public_score")), _score(entry.get("private_score"))
        if public is None and private is None:
            continue
        out.append({**entry, "public_score": public, "private_score": private})
    return out


def best_submission(entries: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The scored submission with the best public score (private when public is missing)."""
    scored = scored_submissions(entries)
    if not scored:
        return None

    def key(entry: dict[str, Any]) -> float:
        value = entry["public_score"]
        value = entry["private_score"] if value is None else value
        return float(value) if entry.get("greater_is_better", True) else -float(value)

    return max(scored, key=key)


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
    ax.barh(y, means, xerr=stds, color=colours, capsize=3, height=0.7)
    ax.set_yticks(y, [_label(r) for r in done])
    low, high = float((means - stds).min()), float((means + stds).max())
    pad = 0.15 * (high - low) or 0.01 * abs(high) or 0.01
    ax.set_xlim(low - pad, high + 3 * pad)
    for yi, m, s in zip(y, means, stds, strict=True):
        ax.text(m + s + pad * 0.2, yi, f"{m:.4f}", va="center", fontsize=9)
    metric = done[0].record.get("metric", "score")
    ax.set_xlabel(f"CV {metric} (mean \u00b1 std over folds; {_direction(done[0])})")
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


def best_tree_run(runs: Sequence[Run]) -> Run | None:
    """The best COMPLETE tree-model run that recorded feature importances."""
    trees = [
        r
        for r in runs
        if r.status == "COMPLETE"
        and r.record.get("backend") in TREE_BACKENDS
        and r.record.get("feature_importance")
        and r.record.get("cv_mean") is not None
    ]
    return _best_run(trees)


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
    ax.set_xlabel("share of total importance (%), mean over folds")
    ax.set_title(f"Feature importance: {_label(run)}")
    ax.grid(axis="y", visible=False)
    return _save(fig, path)


def _class_names(run: Run, n_classes: int) -> list[str]:
    classes = run.record.get("classes") or list(range(n_classes))
    return [str(c) for c in classes]


def plot_confusion_matrix(
    run: Run, y: np.ndarray, oof: np.ndarray, path: Path, *, threshold: float = 0.5
) -> Path:
    """Counts of actual vs predicted labels (OOF, thresholded as the metric does)."""
    from kagglekit.metrics import to_labels

    n_classes = oof.shape[1] if oof.ndim == 2 else 2
    names = _class_names(run, n_classes)
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
    run: Run, y: np.ndarray, oof: np.ndarray, path: Path, *, max_classes: int = 10
) -> Path:
    """ROC curve of the OOF probabilities (one-vs-rest per class for multiclass)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fig = _figure(6.0, 5.5)
    ax = fig.add_subplot()
    if oof.ndim == 1:
        curves = [(f"class {_class_names(run, 2)[1]}", y == 1, oof)]
    else:
        names = _class_names(run, oof.shape[1])
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


def plot_learning_curves(run: Run, path: Path) -> Path:
    """Each recorded per-epoch series, one thin line per fold, the fold mean thick."""
    series: dict[str, list[list[float]]] = {}
    for fold in run.record.get("fold_scores") or []:
        for name, values in ((fold.get("learned") or {}).get("history") or {}).items():
            if name in _NOT_CURVES:
                continue
            series.setdefault(str(name), []).append([float(v) for v in values])
    fig = _figure(7.5, 4.8)
    ax = fig.add_subplot()
    cycle = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B2"]
    for colour, (name, curves) in zip(cycle * 4, sorted(series.items()), strict=False):
        for curve in curves:
            ax.plot(np.arange(1, len(curve) + 1), curve, color=colour, alpha=0.25, lw=1)
        n = min(len(c) for c in curves)
        mean = np.mean([c[:n] for c in curves], axis=0)
        ax.plot(
            np.arange(1, n + 1),
            mean,
            color=colour,
            lw=2.5,
            label=f"{name} (mean of {len(curves)} folds)",
        )
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("value")
    ax.set_title(f"Learning curves: {_label(run)}")
    ax.legend()
    return _save(fig, path)


def _with_oof(runs: Sequence[Run]) -> list[Run]:
    """The runs whose OOF predictions are on this machine (or in their committed copy)."""
    return [r for r in runs if r.has_array("oof")]


def _best_run(runs: Sequence[Run]) -> Run | None:
    done = ranked_by_cv(runs)
    return done[0] if done else None


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
    names = list(label_names) if label_names else _class_names(run, oof.shape[1])
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
) -> list[Plot]:
    """Write every plot the runs and ledger allow into ``out_dir``; return them in order.

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
                    best, y[rows], oof[rows], out_dir / "confusion_matrix.png", threshold=threshold
                )
                plots.append(Plot(path, f"Confusion matrix of {which} ({model}, OOF)"))
                path = plot_roc_curve(best, y[rows], oof[rows], out_dir / "roc_curve.png")
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
    keep = {p.path.name for p in plots}
    for stale in out_dir.glob("*.png") if out_dir.is_dir() else []:
        if stale.name not in keep:
            stale.unlink()
    return plots


def submissions_markdown(entries: Sequence[dict[str, Any]]) -> str:
    """The best submission and a table of scored submissions from the ledger."""
    scored = scored_submissions(entries)
    if not scored:
        return "No scored Kaggle submission in the ledger (`submissions.jsonl`) yet."

    def fmt(value: Any) -> str:
        return "" if value is None else f"{float(value):.5f}"

    best = best_submission(entries) or scored[0]
    lines = [
        f"Best submission: `{best.get('run_id') or best.get('file') or best.get('ref')}` "
        f"({best.get('model') or 'unknown model'}), public {fmt(best['public_score']) or '-'}, "
        f"private {fmt(best['private_score']) or '-'}, CV {fmt(_score(best.get('cv_mean'))) or '-'}.",
        "",
        "| submitted | model | run | CV | public LB | private LB |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for e in sorted(scored, key=lambda e: str(e.get("submitted_at") or "")):
        lines.append(
            f"| {str(e.get('submitted_at') or '')[:10]} | {e.get('model') or ''} | "
            f"`{e.get('run_id') or ''}` | {fmt(_score(e.get('cv_mean')))} | "
            f"{fmt(e['public_score'])} | {fmt(e['private_score'])} |"
        )
    return "\n".join(lines)


def plots_markdown(plots: Sequence[Plot], readme_dir: Path) -> str:
    """Image links for the README, relative to the README's folder."""
    lines = []
    for plot in plots:
        rel = plot.path.relative_to(readme_dir).as_posix()
        lines.append(f"**{plot.caption}**\n\n![{plot.caption}]({rel})\n")
    return "\n".join(lines).rstrip()


# --- a project's report -------------------------------------------------------------------


@dataclass
class ProjectReport:
    """What ``kk report PROJECT`` wrote."""

    readme: Path
    changed: bool
    plots: list[Plot]


def current_runs(project: Project) -> list[Run]:
    """The project's runs on its current folds (only those are comparable), oldest first.

    The runs under ``runs/`` and, for runs not there, the record copies an earlier
    ``kk report`` committed under ``reports/records/`` (``records.archived_runs``): a
    fresh clone that made the same folds reports what the last report did.
    """
    from kagglekit.folds import folds_meta
    from kagglekit.records import runs_with_copies

    meta = folds_meta(project)
    if meta is None:
        raise KKError(f"project '{project.name}' has no folds yet; run `kk folds {project.name}`")
    runs = runs_with_copies(project.runs_dir)
    return [r for r in runs if r.record.get("fold_hash") == meta["hash"]]


def _encoded_target(
    project: Project, cfg: ProjectConfig, classes: Sequence[Any] | None
) -> np.ndarray | None:
    """The train target encoded as the runs saw it (None when the data is not fetched)."""
    import pandas as pd

    from kagglekit.errors import KKError
    from kagglekit.loaders import load_dataset

    if not project.raw_dir.is_dir():
        return None
    try:
        dataset = load_dataset(project, cfg)
    except KKError:
        return None
    task = get_task(cfg.competition.task)
    if not task.is_classification:  # values, interaction rows: as the CV loop encodes them
        return task.encode(dataset.target, classes=dataset.classes)[0]
    labels = (
        list(classes) if classes else (dataset.classes or sorted(dataset.target.unique().tolist()))
    )
    # Class labels come back from JSON as str/int/float; match them on their text.
    codes = pd.Categorical(dataset.target.astype(str), categories=[str(c) for c in labels]).codes
    return np.asarray(codes, dtype=np.int64)


def _train_images(
    project: Project, cfg: ProjectConfig
) -> tuple[np.ndarray | None, list[str] | None]:
    """The train images and label names of an image project (None, None otherwise)."""
    from kagglekit.loaders import load_dataset

    dataset = load_dataset(project, cfg)
    if dataset.kind != "images":
        return None, None
    names = dataset.info.get("label_names")
    return np.asarray(dataset.X), (list(names) if names else None)


def ablation_table_markdown(runs: Sequence[Run]) -> str:
    """Every COMPLETE run of each model that has runs with ``--set`` overrides, as a table.

    A model's runs differ only in what their ``--set`` overrides changed (batch norm,
    augmentation, TTA, ...), so the table reads as an ablation: one row per run, the
    overrides as the row's label ("config as is" for none), best CV first within a model.
    Empty text when no run has overrides.
    """
    complete = [r for r in runs if r.status == "COMPLETE" and r.record.get("cv_mean") is not None]
    ablated = sorted({str(r.record["model"]) for r in complete if r.record.get("overrides")})
    if not ablated:
        return ""
    metric = complete[0].record.get("metric", "score")
    lines = [
        f"| model | changed with --set | {metric} (CV) | local test {metric} | seconds | run |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for model in ablated:
        for run in ranked_by_cv([r for r in complete if r.record["model"] == model]):
            rec = run.record
            prefix = f"models.{model}."
            changes = [
                str(o).removeprefix(prefix).removeprefix("params.")
                for o in rec.get("overrides") or []
            ]
            test = (rec.get("local_scores") or {}).get("all")
            lines.append(
                f"| {model} | {', '.join(f'`{c}`' for c in changes) or 'config as is'} | "
                f"{rec['cv_mean']:.4f} | {'' if test is None else f'{test:.4f}'} | "
                f"{rec.get('wall_seconds', 0.0):.1f} | `{run.run_id}` |"
            )
    lines += ["", "Every complete run of these models, from the run records (`kk report`)."]
    return "\n".join(lines)


def project_report_markdown(
    project: Project, cfg: ProjectConfig, runs: Sequence[Run], plots: Sequence[Plot]
) -> str:
    """The generated README section: results table, submissions and plots."""
    parts = [results_table_markdown(runs)]
    ablation = ablation_table_markdown(runs)
    if ablation:
        parts += ["### Runs with --set overrides (ablations)", ablation]
    parts += [
        "### Submissions",
        submissions_markdown(read_ledger_entries(project)),
    ]
    if plots:
        parts += ["### Plots", plots_markdown(plots, project.root)]
    return "\n\n".join(parts)


def write_project_report(project: Project) -> ProjectReport:
    """Regenerate ``projects/<name>/README.md``'s results section and its plots.

    Running it twice changes nothing the second time: the section text and every PNG are
    only rewritten when their content differs.
    """
    from kagglekit.records import RECORDS_DIR, archive_records

    cfg = project.config()
    runs = current_runs(project)
    if not any(r.status == "COMPLETE" for r in runs):
        raise KKError(
            f"project '{project.name}' has no complete run on its current folds; "
            f"run `kk train {project.name}` first"
        )
    archive_records(runs, project.root / RECORDS_DIR)
    readme = project.root / "README.md"
    if not readme.is_file():
        # Check the markers before drawing anything.
        update_readme_section(readme, "")
    best = _best_run(_with_oof(runs))
    classes = best.record.get("classes") if best is not None else None
    y = _encoded_target(project, cfg, classes)
    mismatch = y is not None and best is not None and len(best.load_array("oof")) != len(y)
    if mismatch:
        log.warning("best run's OOF does not match the train rows; OOF plots skipped")
        y = None
    images, label_names = _train_images(project, cfg) if y is not None else (None, None)
    plots = write_plots(
        project.root / PLOTS_DIR,
        runs,
        y=y,
        task=cfg.competition.task,
        threshold=cfg.competition.threshold,
        ledger=read_ledger_entries(project),
        images=images,
        label_names=label_names,
    )
    text = project_report_markdown(project, cfg, runs, plots)
    changed = update_readme_section(readme, text)
    return ProjectReport(readme=readme, changed=changed, plots=plots)


# --- the portfolio ------------------------------------------------------------------------

PORTFOLIO_START = "<!-- kk:portfolio:start -->"
PORTFOLIO_END = "<!-- kk:portfolio:end -->"


def portfolio_rows(root: Path) -> list[dict[str, Any]]:
    """One row per project under ``root``: task, metric, best CV and best leaderboard score."""
    from kagglekit.folds import folds_meta
    from kagglekit.project import list_projects, open_project

    rows = []
    for name in list_projects(root):
        project = open_project(name, root)
        row: dict[str, Any] = {"project": name, "task": "", "metric": "", "best_cv": None}
        try:
            cfg = project.config()
        except KKError as err:
            log.warning("project %s: %s", name, err)
            row.update(task="(config error)", folds_here=True)  # shown, not kept
            rows.append(row)
            continue
        row.update(task=cfg.competition.task, metric=cfg.competition.metric)
        try:
            row["folds_here"] = folds_meta(project) is not None
            best = _best_run(current_runs(project))
        except KKError:
            best = None
        if best is not None:
            row.update(best_cv=best.record["cv_mean"], best_model=best.record.get("model"))
        top = best_submission(read_ledger_entries(project))
        if top is not None:
            row.update(public=top["public_score"], private=top["private_score"])
        row["readme"] = (project.root / "README.md").is_file()
        rows.append(row)
    return rows


def portfolio_markdown(root: Path, readme_dir: Path, previous: str = "") -> str:
    """The root README's index: one row per project, linked to its folder or README.

    A project whose folds are not on this machine (its data not fetched here) keeps its
    line from ``previous``, the section the last report wrote: its runs may be on another
    machine, and a blank row would lose what that machine reported.
    """
    rows = portfolio_rows(root)
    kept = {
        line.split("](", 1)[0].removeprefix("| ["): line
        for line in previous.splitlines()
        if line.startswith("| [") and "](" in line
    }
    if not rows:
        return "No projects yet: `kk new NAME` or add `projects/NAME/config.toml`."
    lines = [
        "| project | task | metric | best CV (model) | best LB (public / private) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        if not row.get("folds_here") and row["project"] in kept:
            lines.append(kept[row["project"]])
            continue
        folder = (Path(root) / row["project"]).relative_to(readme_dir).as_posix()
        target = f"{folder}/README.md" if row.get("readme") else f"{folder}/"
        cv = "" if row["best_cv"] is None else f"{row['best_cv']:.4f} ({row.get('best_model')})"
        public, private = row.get("public"), row.get("private")
        lb = ""
        if public is not None or private is not None:
            lb = " / ".join("-" if v is None else f"{v:.5f}" for v in (public, private))
        lines.append(
            f"| [{row['project']}]({target}) | {row['task']} | {row['metric']} | {cv} | {lb} |"
        )
    lines.append("")
    lines.append(
        "Best CV: the best COMPLETE run on each project's current folds; a project whose "
        "folds are not on the machine that ran `kk report` keeps its row from the report "
        "before. Generated by `kk report`."
    )
    return "\n".join(lines)


def write_portfolio(root: Path, readme: Path) -> bool:
    """Regenerate the portfolio section of ``readme`` (the root README); True if it changed."""
    readme = Path(readme)
    content = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    start, end = content.find(PORTFOLIO_START), content.find(PORTFOLIO_END)
    previous = content[start:end] if 0 <= start < end else ""
    text = portfolio_markdown(Path(root), readme.parent.resolve(), previous)
    return update_readme_section(
        readme, text, start_marker=PORTFOLIO_START, end_marker=PORTFOLIO_END
    )
