"""``kk report``: regenerate a project's README results section from its run records."""

from __future__ import annotations

from kagglekit.cli import ProjectArg, _console, _project, app


@app.command()
def report(project: ProjectArg) -> None:
    """Rewrite the results table in projects/PROJECT/README.md from the runs on the current folds."""
    from kagglekit.errors import KKError
    from kagglekit.folds import folds_meta
    from kagglekit.records import list_runs
    from kagglekit.reports import results_table_markdown, update_readme_section

    proj = _project(project)
    meta = folds_meta(proj)
    if meta is None:
        raise KKError(f"project '{proj.name}' has no folds yet; run `kk folds {proj.name}`")
    # Only runs on the current folds are comparable with each other.
    runs = [r for r in list_runs(proj.runs_dir) if r.record.get("fold_hash") == meta["hash"]]
    if not any(r.status == "COMPLETE" for r in runs):
        raise KKError(
            f"project '{proj.name}' has no complete run on its current folds; "
            f"run `kk train {proj.name}` first"
        )
    readme = proj.root / "README.md"
    changed = update_readme_section(readme, results_table_markdown(runs))
    _console().print(f"{readme}: {'results updated' if changed else 'results unchanged'}")
