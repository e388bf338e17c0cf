"""The learning-path pages' results: one table per topic, filled from the projects' records.

A page under ``docs/`` (``learning-path.md``, ``learning-path.zh.md``) names the model
entries that show a topic between two markers::

    <!-- kk:entries fashion-mnist mlp mlp_sigmoid mlp_tanh -->
    (generated table)
    <!-- kk:entries:end -->

``kk report`` (no project) rewrites every such block: one row per entry with the command
that trains it and that entry's best COMPLETE run on the project's current folds (the run
the project README's results table shows). An entry is a model name, ``ensemble-hill`` /
``ensemble-stack`` (made by ``kk ensemble``), ``MODEL+KEY``: the best run of MODEL that
changed KEY (in its record or with ``--set``; ``tfidf+pseudo_labels``: its pseudo-labelled
runs), or ``MODEL!KEY``: the best run of MODEL that did not. Where a
project's folds are not on this machine, its runs are the committed record copies made on
the folds the project README's last report names. The README's generated tables count too
when they were made on the same folds (or the folds are not here): an entry shows the
better of its best run here and its README row (a tie goes to the README's, the older run),
so the page says what the project README says. An entry not in the project's
config is "coming"; one with no run, "not run yet".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kagglekit.atomic as atomic
from kagglekit.config import ModelConfig
from kagglekit.errors import KKError
from kagglekit.folds import folds_meta
from kagglekit.project import Project, list_projects, open_project
from kagglekit.records import Run, ranked_by_cv, runs_with_copies
from kagglekit.reports.readme import END_MARKER, START_MARKER, current_runs

BLOCK = re.compile(
    r"(?P<open><!-- kk:entries (?P<spec>[^>]*?) -->)\n(?P<body>.*?)(?P<close><!-- kk:entries:end -->)",
    re.S,
)
_FENCED = re.compile(r"(^```.*?^```[^\n]*$)", re.S | re.M)  # split() keeps them at odd places
ENSEMBLES = ("ensemble-hill", "ensemble-stack")

# The words of the generated tables, by page language (``NAME.zh.md`` is Chinese, with
# Chinese punctuation: full-width brackets).
_WORDS: dict[str, dict[str, str]] = {
    "en": {
        "entry": "entry",
        "command": "command",
        "cv": "CV {metric}",
        "test": "local test {metric}",
        "seconds": "seconds",
        "coming": "coming (planned entry)",
        "not_run": "not run yet",
        "folds": "{n} folds",
        "repeats": "{n} folds x {r}",
        "holdout": "1 holdout split",
        "aside": " ({})",
        "with": "{model}, with `{key}`",
        "without": "{model}, without `{key}`",
    },
    "zh": {
        "entry": "模型条目",
        "command": "命令",
        "cv": "交叉验证{metric}",
        "test": "本地测试集{metric}",
        "seconds": "耗时（秒）",  # noqa: RUF001 (Chinese punctuation)
        "coming": "即将加入（计划中的条目）",  # noqa: RUF001 (Chinese punctuation)
        "not_run": "尚未运行",
        "folds": "{n} 折",
        "repeats": "{n} 折 × {r} 次",  # noqa: RUF001 (Chinese punctuation)
        "holdout": "1 次留出验证",
        "aside": "（{}）",  # noqa: RUF001 (Chinese punctuation)
        "with": "{model}（使用 `{key}`）",  # noqa: RUF001 (Chinese punctuation)
        "without": "{model}（不使用 `{key}`）",  # noqa: RUF001 (Chinese punctuation)
        "accuracy": "准确率",
    },
}


@dataclass(frozen=True)
class EntryResult:
    """What one row of a topic's table says about one entry."""

    entry: str
    command: str | None  # None: a planned entry, no command yet
    metric: str | None = None
    cv_mean: float | None = None
    cv_std: float | None = None
    n_splits: int = 0
    n_repeats: int = 1
    local_test: float | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class _Spec:
    """An entry as a page names it: ``MODEL``, ``MODEL+KEY`` or ``MODEL!KEY``."""

    model: str
    key: str | None = None
    with_key: bool = True  # MODEL+KEY: runs that changed KEY; MODEL!KEY: runs that did not

    @classmethod
    def parse(cls, entry: str) -> _Spec:
        for sep, with_key in (("+", True), ("!", False)):
            model, found, key = entry.partition(sep)
            if found:
                return cls(model, key, with_key)
        return cls(entry)

    def names(self, setting: str) -> bool:
        """Whether a ``--set`` override (``models.m.pseudo_labels.run=ID``) changes KEY."""
        path = setting.partition("=")[0]
        return self.key is not None and f".{self.key}." in f".{path}."

    def matches(self, record: dict[str, Any]) -> bool:
        if record.get("model") != self.model:
            return False
        if self.key is None:
            return True
        changed = bool(record.get(self.key)) or any(
            self.names(str(o)) for o in record.get("overrides") or []
        )
        return changed == self.with_key


def _command(project: str, spec: _Spec, sets: Sequence[str]) -> str:
    if spec.model in ENSEMBLES:
        return f"kk ensemble {project} --method {spec.model.removeprefix('ensemble-')}"
    line = f"kk train {project} --model {spec.model}"
    if spec.with_key:  # the overrides that make a MODEL+KEY run what it is
        line += "".join(f" --set {_runnable(s)}" for s in sets if spec.names(s))
    return line


def _runnable(override: str) -> str:
    """A pseudo-label teacher's run id is this machine's: a learner names their own run."""
    key, sep, _ = override.partition("=")
    return f"{key}=RUN_ID" if sep and key.endswith("pseudo_labels.run") else override


def _from_run(project: str, entry: str, run: Run) -> EntryResult:
    rec = run.record
    folds = rec.get("fold_scores") or []
    n_repeats = len({f.get("repeat") for f in folds}) or 1
    return EntryResult(
        entry=entry,
        command=_command(project, _Spec.parse(entry), [str(o) for o in rec.get("overrides") or []]),
        metric=rec.get("metric"),
        cv_mean=float(rec["cv_mean"]),
        cv_std=float(rec.get("cv_std") or 0.0),
        n_splits=len(folds) // n_repeats,
        n_repeats=n_repeats,
        local_test=(rec.get("local_scores") or {}).get("all"),
        seconds=rec.get("wall_seconds"),
    )


def _readme_section(project: Project) -> str:
    path = project.root / "README.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    return text[start:end] if 0 <= start < end else ""


def _table_rows(section: str) -> list[list[dict[str, str]]]:
    """Each Markdown table of a README section as rows of {header: cell}."""
    tables: list[list[dict[str, str]]] = []
    header: list[str] | None = None
    for line in [*section.splitlines(), ""]:
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            tables.append([])
        elif not all(set(c) <= {"-", ":"} for c in cells):
            tables[-1].append(dict(zip(header, cells, strict=False)))
    return tables


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _full_setting(shown: str, model: str) -> str:
    """An ablation cell's override as ``--set`` takes it: the table drops ``models.MODEL.``
    and ``params.``; what is not a field of the entry itself was under ``params``."""
    if shown.startswith(("models.", "data.", "cv.", "competition.", "features.")):
        return shown
    fields = set(ModelConfig.model_fields)
    head = re.split(r"[.=]", shown, maxsplit=1)[0]
    return f"models.{model}." + (shown if head in fields else f"params.{shown}")


def _readme_tables(
    project: Project,
) -> tuple[dict[str, dict[str, str]], list[tuple[dict[str, str], list[str]]]]:
    """The project README's results rows by model, and its ablation rows with their
    ``--set`` overrides in full (``models.m.params.x=1``... as the table names them)."""
    results: dict[str, dict[str, str]] = {}
    ablations: list[tuple[dict[str, str], list[str]]] = []
    for rows in _table_rows(_readme_section(project)):
        for row in rows:
            if "changed with --set" in row:
                sets = re.findall(r"`([^`]*)`", row["changed with --set"])
                ablations.append((row, [_full_setting(s, row.get("model", "")) for s in sets]))
            elif any("(CV mean" in h for h in row):
                results.setdefault(row.get("model", ""), row)
    return results, ablations


def _from_readme(project: Project, entry: str) -> EntryResult | None:
    """The entry's row in the project README's generated tables (None: not there).

    The results table has each model's best run. A ``MODEL+KEY`` entry is the ablation
    table's best row of MODEL whose ``--set`` overrides change KEY; ``MODEL!KEY`` the
    results table's row unless that run changed KEY, else the best ablation row that did not.
    """
    spec = _Spec.parse(entry)
    results, ablations = _readme_tables(project)
    mine = [(r, s) for r, s in ablations if r.get("model") == spec.model]
    best = results.get(spec.model)
    row: dict[str, str] | None = None
    sets: list[str] = []
    if spec.key is None:
        row = best
    elif spec.with_key:
        row, sets = next(((r, s) for r, s in mine if any(map(spec.names, s))), (None, []))
    else:
        changed = {r.get("run") for r, s in mine if any(map(spec.names, s))}
        row = best if best is not None and best.get("run") not in changed else None
        if row is None:
            row = next((r for r, s in mine if not any(map(spec.names, s))), None)
    if row is None:
        return None
    mean, std = _cv_cells(row)
    if std is None and best is not None and best.get("run") == row.get("run"):
        std = _cv_cells(best)[1]  # an ablation row of the results table's run
    like = best if best is not None else next(iter(results.values()), {})
    folds = like.get("folds", "1x1").partition("x")
    test = next((v for h, v in row.items() if h.startswith("local test") and v), None)
    return EntryResult(
        entry=entry,
        command=_command(project.name, spec, sets),
        metric=next(h for h in row if "(CV" in h).split(" (CV")[0],
        cv_mean=mean,
        cv_std=std,
        n_splits=int(folds[0] or 1),
        n_repeats=int(folds[2] or 1),
        local_test=_number(test),
        seconds=_number(row.get("seconds")),
    )


def _cv_cells(row: dict[str, str]) -> tuple[float, float | None]:
    """Mean and std (None: not shown) of a table row's CV cell (``0.8092 +- 0.0218``)."""
    mean, _, std = next(v for h, v in row.items() if "(CV" in h).partition("+-")
    return float(mean), _number(std.strip())


def _project_runs(project: Project) -> tuple[list[Run], bool]:
    """The runs an entry is looked up in, and whether the project README's generated tables
    may fill in what they lack.

    With folds here: the runs on them; the README's tables count where its last report was
    made on the same folds (its runs' folders or copies need not be here). Without folds
    here: the committed copies made on the fold hash the README names, and its tables.
    """
    named = re.search(r"fold hash `([0-9a-f]+)`", _readme_section(project))
    meta = folds_meta(project)
    if meta is not None:
        same = named is not None and str(meta["hash"]).startswith(named[1])
        return current_runs(project), same
    if named is None:
        return [], True
    runs = runs_with_copies(project.runs_dir)
    return [r for r in runs if str(r.record.get("fold_hash", "")).startswith(named[1])], True


def _readme_wins(row: EntryResult | None, run: Run) -> bool:
    """Whether the README's row (a run on the same folds whose record is not here) is at
    least as good as the best run here: ties go to the README's, the older run, as they
    would in ``kk report PROJECT`` with both records at hand."""
    if row is None or row.cv_mean is None:
        return False
    here = float(run.record["cv_mean"])
    better = (
        row.cv_mean >= here if run.record.get("greater_is_better", True) else row.cv_mean <= here
    )
    # The README rounds to 4 decimals: within rounding it is the same score.
    return better or abs(row.cv_mean - here) < 5e-5


def entry_results(project: Project, entries: Sequence[str]) -> list[EntryResult]:
    """One result per entry of ``project``, as the page's table shows it."""
    models = set(project.config().models)
    runs, readme_counts = _project_runs(project)
    ranked = ranked_by_cv(runs)
    results = []
    for entry in entries:
        spec = _Spec.parse(entry)
        found = next((r for r in ranked if spec.matches(r.record)), None)
        from_readme = _from_readme(project, entry) if readme_counts else None
        if found is not None and not _readme_wins(from_readme, found):
            results.append(_from_run(project.name, entry, found))
        elif from_readme is not None:
            results.append(from_readme)
        elif spec.model in models or spec.model in ENSEMBLES:
            results.append(EntryResult(entry, _command(project.name, spec, [])))
        else:
            results.append(EntryResult(entry, None))
    return results


def _cv_cell(result: EntryResult, words: dict[str, str]) -> str:
    if result.n_splits <= 1 and result.n_repeats <= 1:
        return f"{result.cv_mean:.4f}" + words["aside"].format(words["holdout"])
    how = (
        words["folds"].format(n=result.n_splits)
        if result.n_repeats <= 1
        else words["repeats"].format(n=result.n_splits, r=result.n_repeats)
    )
    std = "" if result.cv_std is None else f" ± {result.cv_std:.4f}"
    return f"{result.cv_mean:.4f}{std}" + words["aside"].format(how)


def _entry_cell(entry: str, words: dict[str, str]) -> str:
    spec = _Spec.parse(entry)
    if spec.key is None:
        return f"`{entry}`"
    return words["with" if spec.with_key else "without"].format(
        model=f"`{spec.model}`", key=spec.key
    )


def entries_markdown(results: Sequence[EntryResult], language: str = "en") -> str:
    """The table of one topic's entries: command, CV, local test score, seconds."""
    words = _WORDS[language]
    metric = next((r.metric for r in results if r.metric), "score")
    # In Chinese a metric's name is translated where a textbook would, else set off by a space.
    metric = words.get(metric, metric if language == "en" else f" {metric}")
    tested = any(r.local_test is not None for r in results)
    head = [words["entry"], words["command"], words["cv"].format(metric=metric)]
    head += [words["test"].format(metric=metric)] if tested else []
    head += [words["seconds"]]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for r in results:
        command = f"`{r.command}`" if r.command else "—"
        if r.command is None:
            cells = [words["coming"]]
        elif r.cv_mean is None:
            cells = [words["not_run"]]
        else:
            cells = [_cv_cell(r, words)]
        if tested:
            cells.append("" if r.local_test is None else f"{r.local_test:.4f}")
        cells.append("" if r.seconds is None else f"{r.seconds:.1f}")
        lines.append(f"| {_entry_cell(r.entry, words)} | {command} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _language(page: Path) -> str:
    return "zh" if page.name.endswith(".zh.md") else "en"


def render_page(text: str, root: Path, *, language: str = "en", page: str = "page") -> str:
    """``text`` with every entries block regenerated from the projects under ``root``."""
    known = set(list_projects(root))
    cache: dict[str, Project] = {}

    def block(match: re.Match[str]) -> str:
        spec = match["spec"].split()
        if len(spec) < 2 or spec[0] not in known:
            raise KKError(
                f"{page}: the marker '{match['open']}' must name a project under {root} "
                f"({', '.join(sorted(known)) or 'none'}) and at least one model entry"
            )
        project = cache.setdefault(spec[0], open_project(spec[0], root))
        table = entries_markdown(entry_results(project, spec[1:]), language)
        return f"{match['open']}\n{table}\n{match['close']}"

    # A marker shown inside a fenced code block (a page documenting the markers) is text.
    parts = _FENCED.split(text)
    return "".join(part if i % 2 else BLOCK.sub(block, part) for i, part in enumerate(parts))


def write_learning_path(root: Path, docs: Path) -> list[tuple[Path, bool]]:
    """Regenerate the entries blocks of every page under ``docs`` that has them.

    Returns each such page with whether it changed; text outside the blocks is kept byte
    for byte, and a page whose tables did not change is not rewritten.
    """
    out: list[tuple[Path, bool]] = []
    for page in sorted(Path(docs).glob("*.md")) if Path(docs).is_dir() else []:
        text = page.read_text(encoding="utf-8")
        if not page_entries(text):
            continue
        new = render_page(text, Path(root), language=_language(page), page=page.name)
        if new != text:
            atomic.write_text(page, new)
        out.append((page, new != text))
    return out


def page_entries(text: str) -> list[tuple[str, list[str]]]:
    """The (project, entries) each block of a page names, in page order."""
    outside = "".join(_FENCED.split(text)[::2])
    return [(m["spec"].split()[0], m["spec"].split()[1:]) for m in BLOCK.finditer(outside)]
