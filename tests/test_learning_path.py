"""The learning-path pages: results generated from run records, commands that parse, links.

The first tests build a tiny project and check ``kk report`` (no project) fills the pages'
marked tables from its records; the rest read the committed pages (docs/learning-path*.md)
and the README: every ``kk`` command quoted there parses with the real CLI and names a
project and model entry that exist, every figure the prose cites is a generated one, and
every relative link points at a file. The last ones (real data, slow) run every command
the pages quote, as a learner would, on a copy of the projects.
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from kagglekit.cli import app
from kagglekit.config import load_config
from kagglekit.errors import KKError
from kagglekit.folds import folds_meta
from kagglekit.models.base import get_backend
from kagglekit.project import open_project
from kagglekit.records import list_runs
from kagglekit.reports.learning_path import BLOCK, page_entries, render_page
from kagglekit.reports.readme import END_MARKER, START_MARKER
from kagglekit.testing import make_tiny_project, mirror_dir, tiny_config

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "docs" / "learning-path.md", REPO / "docs" / "learning-path.zh.md"]
HEAD, TAIL = "# Path\n\nIntro 0.5.\n\n", "\n\nHand-written notes.\n"
BLOCK_TEXT = "<!-- kk:entries tiny lightgbm linear linear+C linear!C tree planned -->\n"
END = "<!-- kk:entries:end -->"


def _tiny_with_runs(projects_dir: Path) -> Path:
    extra = '\n[models.tree]\nbackend = "decision_tree"\n'
    paths = make_tiny_project(projects_dir, "tiny", config=tiny_config("tiny", extra=extra))
    runner = CliRunner()
    for args in (
        ["fetch", "tiny", "--from", str(paths["mirror"])],
        ["folds", "tiny"],
        ["train", "tiny", "--model", "lightgbm"],
        ["train", "tiny", "--model", "linear"],
        ["train", "tiny", "--model", "linear", "--set", "models.linear.params.C=0.05"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    return paths["project"]


def _rows(text: str) -> dict[str, list[str]]:
    """A generated table's rows by their first cell."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_kk_report_fills_the_pages_from_the_records(projects_dir: Path) -> None:
    project = _tiny_with_runs(projects_dir)
    docs = projects_dir.parent / "docs"
    docs.mkdir()
    (projects_dir.parent / "README.md").write_text(
        "<!-- kk:portfolio:start -->\n<!-- kk:portfolio:end -->\n"
    )
    page, zh = docs / "learning-path.md", docs / "learning-path.zh.md"
    for path in (page, zh):
        path.write_text(f"{HEAD}{BLOCK_TEXT}stale text\n{END}{TAIL}")
    (docs / "other.md").write_text("no markers\n")
    runner = CliRunner()
    first = runner.invoke(app, ["report"])
    assert first.exit_code == 0, first.output
    assert "learning-path.md: results updated" in first.output
    text = page.read_text()
    assert text.startswith(HEAD + BLOCK_TEXT) and text.endswith(END + TAIL)
    assert "stale text" not in text
    runs = {
        (r.record["model"], bool(r.record.get("overrides"))): r.record
        for r in list_runs(project / "runs")
    }
    rows = _rows(text)
    assert rows["`lightgbm`"][0] == "`kk train tiny --model lightgbm`"
    lgb = runs[("lightgbm", False)]
    assert rows["`lightgbm`"][1] == f"{lgb['cv_mean']:.4f} ± {lgb['cv_std']:.4f} (3 folds)"
    # `linear` is the best of its runs; linear+C the run that changed C, linear!C the other.
    plain, tuned = runs[("linear", False)], runs[("linear", True)]
    best = max(plain, tuned, key=lambda r: r["cv_mean"])
    assert rows["`linear`"][1].startswith(f"{best['cv_mean']:.4f}")
    assert rows["`linear`, with `C`"][0] == (
        "`kk train tiny --model linear --set models.linear.params.C=0.05`"
    )
    assert rows["`linear`, with `C`"][1].startswith(f"{tuned['cv_mean']:.4f}")
    assert rows["`linear`, without `C`"][1].startswith(f"{plain['cv_mean']:.4f}")
    assert rows["`tree`"][0:2] == ["`kk train tiny --model tree`", "not run yet"]
    assert rows["`planned`"][0:2] == ["—", "coming (planned entry)"]
    zh_rows = _rows(zh.read_text())
    assert zh_rows["`tree`"][1] == "尚未运行"
    assert "\uff083 折\uff09" in zh_rows["`lightgbm`"][1]  # full-width brackets in Chinese
    assert (docs / "other.md").read_text() == "no markers\n"
    # Idempotent: a second report changes nothing.
    second = runner.invoke(app, ["report"])
    assert "learning-path.md: results unchanged" in second.output
    assert page.read_text() == text
    # The project README's last report, made on the same folds, knows a better lightgbm
    # run whose record is not here, and a worse linear one: each row shows the better.
    meta = folds_meta(open_project("tiny", projects_dir))
    assert meta is not None
    fold_hash = meta["hash"][:12]
    (project / "README.md").write_text(
        f"{START_MARKER}\n| model | accuracy (CV mean +- std) | folds | seconds | run |\n"
        "| --- | --- | --- | --- | --- |\n"
        "| lightgbm | 0.9999 +- 0.0001 | 3x1 | 9.0 | `elsewhere` |\n"
        "| linear | 0.0001 +- 0.0001 | 3x1 | 9.0 | `older` |\n\n"
        f"The best complete run of each model; fold hash `{fold_hash}`.\n{END_MARKER}\n"
    )
    assert runner.invoke(app, ["report"]).exit_code == 0
    rows = _rows(page.read_text())
    assert rows["`lightgbm`"][1:] == ["0.9999 ± 0.0001 (3 folds)", "9.0"]
    assert rows["`linear`"][1].startswith(f"{best['cv_mean']:.4f}")


def test_without_folds_here_the_project_readme_tables_fill_in(projects_dir: Path) -> None:
    """A clone without the project's data reads what the project README's report said."""
    make_tiny_project(projects_dir, "tiny")
    readme = projects_dir / "tiny" / "README.md"
    readme.write_text(
        f"# tiny\n\n{START_MARKER}\n"
        "| model | accuracy (CV mean +- std) | OOF accuracy | local test accuracy | folds | seconds | run | commit |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
        "| linear | 0.8123 +- 0.0100 | 0.8120 | 0.8000 | 5x2 | 3.5 | `r2` | `abc` |\n\n"
        "The best complete run of each model; fold hash `0123456789ab`.\n\n"
        "| model | changed with --set | accuracy (CV) | local test accuracy | seconds | run |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        "| linear | `C=2` | 0.8123 | 0.8000 | 3.5 | `r2` |\n"
        "| linear | config as is | 0.7900 |  | 1.0 | `r1` |\n"
        f"{END_MARKER}\n"
    )
    text = render_page(
        "<!-- kk:entries tiny linear linear+C linear!C lightgbm -->\n<!-- kk:entries:end -->",
        projects_dir,
    )
    rows = _rows(text)
    assert rows["`linear`"] == [
        "`kk train tiny --model linear`",
        "0.8123 ± 0.0100 (5 folds x 2)",
        "0.8000",
        "3.5",
    ]
    assert (
        rows["`linear`, with `C`"][0]
        == "`kk train tiny --model linear --set models.linear.params.C=2`"
    )
    assert rows["`linear`, with `C`"][1] == "0.8123 ± 0.0100 (5 folds x 2)"  # the same run
    assert rows["`linear`, without `C`"][1] == "0.7900 (5 folds x 2)"  # no std in that table
    assert rows["`lightgbm`"][1] == "not run yet"


def test_a_marker_naming_no_project_is_one_error(projects_dir: Path) -> None:
    make_tiny_project(projects_dir, "tiny")
    with pytest.raises(KKError, match=r"must name a project under .*tiny"):
        render_page("<!-- kk:entries nowhere linear -->\n<!-- kk:entries:end -->", projects_dir)


def test_a_marker_inside_a_code_block_is_left_as_text(projects_dir: Path) -> None:
    """The reference page shows the markers in a fenced block: nothing is generated there."""
    make_tiny_project(projects_dir, "tiny")
    example = "```markdown\n<!-- kk:entries tiny linear -->\n<!-- kk:entries:end -->\n```\n"
    live = "<!-- kk:entries tiny linear -->\n<!-- kk:entries:end -->\n"
    text = render_page(example + live, projects_dir)
    assert text.startswith(example) and "not run yet" in text[len(example) :]
    assert page_entries(example) == [] and page_entries(live) == [("tiny", ["linear"])]


# --- the committed pages ---------------------------------------------------------------


def _commands(text: str) -> list[str]:
    """Every ``kk ...`` command the page quotes: inline code and lines of code blocks."""
    found = re.findall(r"`(kk [^`]+)`", text)
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("kk "):
                    found.append(part)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_on_the_page_parses_and_names_real_entries(page: Path) -> None:
    commands_by_name = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    projects = REPO / "projects"
    commands = _commands(page.read_text())
    assert len(commands) > 30, "the page should quote its commands"
    for line in commands:
        argv = shlex.split(line)[1:]
        command = commands_by_name.get(argv[0])
        assert command is not None, line
        if len(argv) == 1:  # the prose names a command ("`kk score` recorded ..."): it exists
            continue
        # Parses the arguments as `kk` would, without running the command.
        try:
            ctx = command.make_context(argv[0], argv[1:])
        except Exception as err:  # click's usage errors: name the line that does not parse
            raise AssertionError(f"{page.name}: `{line}` does not parse: {err}") from err
        name = ctx.params.get("project")
        if name is None:
            continue
        cfg = load_config(open_project(name, projects).config_path)
        model = ctx.params.get("model")
        assert model is None or model in cfg.models, f"{line}: no model entry '{model}'"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_blocks_name_real_projects_and_prose_figures_are_generated(page: Path) -> None:
    text = page.read_text()
    projects = {p.parent.name for p in (REPO / "projects").glob("*/config.toml")}
    for project, entries in page_entries(text):
        assert project in projects and entries, (project, entries)
    # A figure with four decimals in the prose is one a generated table (here or in a
    # project README, itself generated or measured there) shows.
    tables = "".join(m.group(0) for m in BLOCK.finditer(text))
    readmes = "".join(p.read_text() for p in (REPO / "projects").glob("*/README.md"))
    prose = BLOCK.sub("", text)
    for figure in re.findall(r"\b\d\.\d{4}\b", prose):
        assert figure in tables or figure in readmes, figure


def test_both_languages_show_the_same_entries() -> None:
    english, chinese = (page_entries(p.read_text()) for p in PAGES)
    assert english == chinese


@pytest.mark.parametrize(
    "page",
    [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))],
    ids=lambda p: p.name,
)
def test_relative_links_point_at_files(page: Path) -> None:
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if "://" in target:
            continue
        assert (page.parent / target).exists(), f"{page.name}: {target}"


def test_the_readme_is_a_front_door() -> None:
    """The two commands first, the learning path linked, the reference moved to docs/."""
    text = (REPO / "README.md").read_text()
    code = text.split("```", 2)[1]
    assert "make demo" in code and "make test" in code
    assert "docs/learning-path.md" in text and "docs/learning-path.zh.md" in text
    for plain in ("python -m venv .venv", "pip install -e", "kk demo", "python -m pytest"):
        assert plain in text, plain
    portfolio = text.index("<!-- kk:portfolio:start -->")
    assert len(text[:portfolio].splitlines()) <= 60
    assert "## The `kk` commands" in (REPO / "docs" / "reference.md").read_text()


# --- a learner runs every command on the pages -----------------------------------------
#
# On a copy of the projects (no runs/, data/ or studies/: what a fresh clone holds) in a
# temporary folder, fetched from the mirror and given folds once per project, as a learner
# would. Training commands run with --smoke; the commands that need a complete run
# (ensembles, submit, kernel, a pseudo-label teacher) use cheap models trained in full.

# Cheap models trained in full once per project, after its fetch and folds; the first is
# the pseudo-label teacher the pages' `pseudo_labels.run=...` commands are given instead.
FULL_RUNS = {
    "titanic": ("logistic_regression", "lightgbm"),
    "disaster-tweets": ("tfidf_word",),
    "movielens": ("biases", "mf"),
}
# Quoted commands this test does not run, and why. Keep it short and true.
NOT_RUN = {
    "kk train disaster-tweets --smoke": "smokes all 19 entries, 10 of them transformer "
    "fine-tunes (about 400 s on 2 cores); each entry the pages name is smoked by its own "
    "command here, and tests/test_projects_smoke.py runs this very command",
}
# The order a learner goes in; fetch and folds run in the project's fixture.
ORDER = (
    "fetch",
    "folds",
    "train",
    "runs",
    "tune",
    "report",
    "ensemble",
    "submit",
    "kernel",
    "score",
)


def _as_learner(quoted: str) -> str:
    """The command as run here: --smoke where it trains, two tuning trials (tune has no
    --smoke), and the pseudo-label teacher the project's fixture trained (TEACHER)."""
    line = re.sub(r"--trials \d+", "--trials 2", " ".join(shlex.split(quoted)))
    line = re.sub(r"pseudo_labels\.run=\S+", "pseudo_labels.run=TEACHER", line)
    if line.startswith("kk train ") and "--smoke" not in line.split():
        line += " --smoke"
    return line


def _learner_commands() -> list[tuple[str, str]]:
    """Each distinct command the pages quote (as run here), with its project, in a
    learner's order; fetch and folds run in the project's fixture.

    Bare names in the prose ("`kk score` recorded ...") are not commands; ``kk report``
    without a project has its own test below.
    """
    commands_by_name = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    found: dict[str, str] = {}
    for page in PAGES:
        for quoted in _commands(page.read_text()):
            argv = shlex.split(quoted)[1:]
            try:
                ctx = commands_by_name[argv[0]].make_context(argv[0], argv[1:])
            except Exception:  # a bare name, with no project; a quoted command that does
                continue  # not parse fails test_every_command_on_the_page_parses... above
            if ctx.params.get("project") is not None:
                found.setdefault(_as_learner(quoted), ctx.params["project"])
    projects = sorted(set(found.values()))
    return sorted(
        ((p, line) for line, p in found.items()),
        key=lambda pl: (projects.index(pl[0]), ORDER.index(pl[1].split()[1]), pl[1]),
    )


LEARNER_COMMANDS = _learner_commands()
FIXTURE_COMMANDS = {line for _, line in LEARNER_COMMANDS if line.split()[1] in ("fetch", "folds")}


def _kk(root: Path, *argv: str) -> str:
    """``kk ARGV`` in this process on the copied projects; its output, having succeeded."""
    result = CliRunner().invoke(app, list(argv), env={"KK_PROJECTS_DIR": str(root / "projects")})
    assert result.exit_code == 0, (
        f"`kk {' '.join(argv)}` failed:\n{result.output}{result.exception!r}"
    )
    return result.output


@pytest.fixture(scope="module")
def learner_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's projects, README and docs pages, as a clone holds them."""
    root = tmp_path_factory.mktemp("learner")
    for config in (REPO / "projects").glob("*/config.toml"):
        source = config.parent
        ignore = shutil.ignore_patterns("runs", "data", "studies", "__pycache__")
        shutil.copytree(source, root / "projects" / source.name, ignore=ignore)
    shutil.copytree(REPO / "docs", root / "docs")
    shutil.copy(REPO / "README.md", root / "README.md")
    return root


@pytest.fixture(scope="module")
def learner_project(learner_root: Path) -> Callable[[str], dict[str, str]]:
    """A project fetched and folded with the pages' commands, with its cheap full runs:
    once per project for the whole module (a parametrized module fixture would be made
    again for each command, every parameter being a different one to pytest)."""
    made: dict[str, dict[str, str]] = {}

    def project(name: str) -> dict[str, str]:
        cfg = open_project(name, learner_root / "projects").config()
        mirror_dir(cfg.competition.source.mirror_folder or name)  # skips without the mirror
        if name not in made:
            for step in ("fetch", "folds"):  # kk fetch reads KK_DATA_MIRROR, as the pages say
                assert f"kk {step} {name}" in FIXTURE_COMMANDS, f"no `kk {step} {name}`"
                _kk(learner_root, step, name)
            for model in FULL_RUNS.get(name, ()):
                _kk(learner_root, "train", name, "--model", model)
            runs = list_runs(learner_root / "projects" / name / "runs")
            full = [r.run_id for r in runs if r.record["model"] in FULL_RUNS.get(name, ())]
            made[name] = {"teacher": full[0] if full else ""}
        return made[name]

    return project


@pytest.mark.realdata
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "line"), LEARNER_COMMANDS, ids=[line for _, line in LEARNER_COMMANDS]
)
def test_a_learner_can_run_the_pages_command(
    name: str,
    line: str,
    learner_project: Callable[[str], dict[str, str]],
    learner_root: Path,
) -> None:
    if line in NOT_RUN:
        pytest.skip(NOT_RUN[line])
    made = learner_project(name)
    if line in FIXTURE_COMMANDS:
        return  # fetch and folds: run by the fixture, before the project's other commands
    argv = shlex.split(line.replace("=TEACHER", f"={made['teacher']}"))[1:]
    if argv[0] == "train" and "--model" in argv:
        cfg = open_project(name, learner_root / "projects").config()
        try:  # a backend whose library is missing here (an extra not installed) is skipped
            get_backend(cfg.models[argv[argv.index("--model") + 1]].backend)
        except KKError as err:
            pytest.skip(str(err))
    output = _kk(learner_root, *argv)
    if argv[0] == "train":
        assert "smoke " in output, output  # trained as a smoke test: nothing recorded


@pytest.mark.slow
def test_a_learner_can_regenerate_the_pages(learner_root: Path) -> None:
    """``kk report`` on a clone's copy fills both pages (from the runs made above, if any)."""
    output = _kk(learner_root, "report")
    for page in PAGES:
        assert f"{page.name}: results" in output, output


def test_a_pseudo_label_command_names_the_learners_own_teacher_run() -> None:
    # The teacher's run id is the machine's that made it; a clone has no such run.
    from kagglekit.reports.learning_path import _command, _Spec

    line = _command(
        "disaster-tweets",
        _Spec.parse("tfidf+pseudo_labels"),
        ["models.tfidf.pseudo_labels.run=20261204-213204-finetune_keyword-6578"],
    )
    assert line.endswith("--set models.tfidf.pseudo_labels.run=RUN_ID")
