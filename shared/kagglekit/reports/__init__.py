"""Reports generated from run records: a project's results section and the portfolio.

``tables`` turns run records into the results and ablation tables; ``ledger`` reads the
submission ledger (``submissions.jsonl``); ``plots`` draws the PNGs under
``projects/<name>/reports/``; ``readme`` writes a project's generated README section from
those three; ``portfolio`` writes the root README's one row per project; ``learning_path``
fills the result tables of the learning-path pages under ``docs/``. Every name the
module ``kagglekit.reports`` had is importable from here.
"""

from kagglekit.reports.ledger import (
    best_submission,
    read_ledger_entries,
    scored_submissions,
    submissions_markdown,
)
from kagglekit.reports.plots import (
    PLOTS_DIR,
    Plot,
    best_tree_run,
    is_tree_backend,
    learning_curve_runs,
    plot_confusion_matrix,
    plot_cv_scores,
    plot_cv_vs_leaderboard,
    plot_feature_importance,
    plot_learning_curves,
    plot_misclassified,
    plot_residuals,
    plot_roc_curve,
    plots_markdown,
    write_plots,
)
from kagglekit.reports.portfolio import (
    PORTFOLIO_END,
    PORTFOLIO_START,
    portfolio_markdown,
    portfolio_rows,
    write_portfolio,
)
from kagglekit.reports.readme import (
    END_MARKER,
    START_MARKER,
    ProjectReport,
    current_runs,
    project_report_markdown,
    update_readme_section,
    write_project_report,
)
from kagglekit.reports.tables import ablation_table_markdown, results_table_markdown
from kagglekit.training.run import last_epoch_cv  # the runs' own: reports read it only

__all__ = [
    "END_MARKER",
    "PLOTS_DIR",
    "PORTFOLIO_END",
    "PORTFOLIO_START",
    "START_MARKER",
    "Plot",
    "ProjectReport",
    "ablation_table_markdown",
    "best_submission",
    "best_tree_run",
    "current_runs",
    "is_tree_backend",
    "last_epoch_cv",
    "learning_curve_runs",
    "plot_confusion_matrix",
    "plot_cv_scores",
    "plot_cv_vs_leaderboard",
    "plot_feature_importance",
    "plot_learning_curves",
    "plot_misclassified",
    "plot_residuals",
    "plot_roc_curve",
    "plots_markdown",
    "portfolio_markdown",
    "portfolio_rows",
    "project_report_markdown",
    "read_ledger_entries",
    "results_table_markdown",
    "scored_submissions",
    "submissions_markdown",
    "update_readme_section",
    "write_plots",
    "write_portfolio",
    "write_project_report",
]
