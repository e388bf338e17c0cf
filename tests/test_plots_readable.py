"""Plots a learner reads: classes named, losses and scores apart, the kept epoch marked,
and titles that say what was averaged (never "mean of 1 folds")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kagglekit.records import Run
from kagglekit.reports import plots

NAMES = ["T-shirt/top", "Trouser", "Pullover"]


@pytest.fixture
def figures(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures the plot functions draw, kept instead of written."""
    drawn: list[Any] = []

    def keep(fig: Any, path: Path) -> Path:
        drawn.append(fig)
        return path

    monkeypatch.setattr(plots, "_save", keep)
    return drawn


def _run(tmp_path: Path, n_folds: int, *, best_epoch: int = 2) -> Run:
    history = {
        "train_loss": [1.2, 0.8, 0.6, 0.5],
        "valid_loss": [1.1, 0.9, 0.85, 0.9],
        "valid_score": [0.60, 0.70, 0.74, 0.73],
        "lr": [0.1] * 4,
        "seconds": [30.0] * 4,
    }
    folds = [
        {
            "fold": f,
            "repeat": 0,
            "score": 0.74,
            "learned": {"history": history, "best_epoch": best_epoch},
        }
        for f in range(n_folds)
    ]
    record = {
        "run_id": "20261207-000000-mlp-abcd",
        "model": "mlp",
        "status": "COMPLETE",
        "metric": "accuracy",
        "greater_is_better": True,
        "cv_mean": 0.74,
        "cv_std": 0.0 if n_folds == 1 else 0.01,
        "classes": [0, 1, 2],
        "fold_scores": folds,
    }
    return Run(tmp_path, record)


def _legend(ax: Any) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_learning_curves_put_losses_and_scores_in_two_panels(
    tmp_path: Path, figures: list[Any]
) -> None:
    plots.plot_learning_curves(_run(tmp_path, 1), tmp_path / "lc.png")
    (fig,) = figures
    loss, score = fig.axes
    assert loss.get_ylabel() == "loss" and score.get_ylabel() == "accuracy (higher is better)"
    assert _legend(loss) == ["training loss", "validation loss", "kept epoch"]
    assert _legend(score) == ["validation accuracy", "kept epoch"]
    # The kept epoch (0-based 2) is marked at epoch 3 on the validation score's curve.
    (star,) = score.collections
    assert star.get_offsets().tolist() == [[3.0, 0.74]]
    title = fig._suptitle.get_text()
    assert "one holdout split" in title and "mean of" not in title and "1 folds" not in title


def test_learning_curves_of_several_folds_say_what_is_averaged(
    tmp_path: Path, figures: list[Any]
) -> None:
    plots.plot_learning_curves(_run(tmp_path, 3, best_epoch=1), tmp_path / "lc.png")
    (fig,) = figures
    assert "3 folds" in fig._suptitle.get_text()
    score = fig.axes[1]
    assert "each fold's kept epoch" in _legend(score)
    # Three thin fold lines and the thick mean per series.
    assert len(score.get_lines()) == 4
    assert score.collections[0].get_offsets().tolist() == [[2.0, 0.70]] * 3


def test_roc_curves_and_confusion_matrix_name_the_classes(
    tmp_path: Path, figures: list[Any]
) -> None:
    run = _run(tmp_path, 1)
    y = np.array([0, 1, 2, 0, 1, 2])
    oof = np.eye(3)[[0, 1, 2, 0, 2, 1]] * 0.8 + 0.2 / 3
    plots.plot_roc_curve(run, y, oof, tmp_path / "roc.png", label_names=NAMES)
    plots.plot_confusion_matrix(run, y, oof, tmp_path / "cm.png", label_names=NAMES)
    roc, matrix = figures
    assert [t.split(":")[0] for t in _legend(roc.axes[0])] == [*NAMES, "chance"]
    assert [t.get_text() for t in matrix.axes[0].get_xticklabels()] == NAMES


def test_write_plots_names_classes_in_the_roc_legend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    real = plots.plot_roc_curve

    def spy(*args: Any, **kwargs: Any) -> Path:
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(plots, "plot_roc_curve", spy)
    run = _run(tmp_path, 1)
    y = np.array([0, 1, 2, 0, 1, 2])
    np.save(tmp_path / "oof.npy", np.eye(3)[y] * 0.7 + 0.1)
    plots.write_plots(tmp_path / "reports", [run], y=y, task="multiclass", label_names=NAMES)
    assert seen.get("label_names") == NAMES


@pytest.mark.parametrize(("n_folds", "said"), [(1, "one holdout split"), (5, "over 5 folds")])
def test_cv_scores_say_what_the_bars_average(
    tmp_path: Path, figures: list[Any], n_folds: int, said: str
) -> None:
    plots.plot_cv_scores([_run(tmp_path, n_folds)], tmp_path / "cv.png")
    label = figures[0].axes[0].get_xlabel()
    assert said in label and ("std" in label) == (n_folds > 1)


def test_class_names_of_the_wrong_length_are_said_not_drawn(
    tmp_path: Path, figures: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    run = _run(tmp_path, 1)
    y = np.array([0, 1, 2, 0, 1, 2])
    oof = np.eye(3)[y] * 0.8 + 0.2 / 3
    plots.plot_confusion_matrix(run, y, oof, tmp_path / "cm.png", label_names=["died", "lived"])
    (matrix,) = figures
    assert [t.get_text() for t in matrix.axes[0].get_xticklabels()] == ["0", "1", "2"]
    assert "2 class names given for 3 classes" in caplog.text
