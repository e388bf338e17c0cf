"""``kk fetch`` / ``submit`` / ``submissions`` / ``leaderboard`` / ``kernel`` through the REAL
``kaggle`` client, against a stub Kaggle on 127.0.0.1 (``kagglekit.kaggle.stub``).

Every test runs with ``HTTPS_PROXY``/``HTTP_PROXY`` at a dead local port, fake
credentials in ``KAGGLE_USERNAME``/``KAGGLE_KEY`` and a temporary ``HOME`` and
``KAGGLE_CONFIG_DIR``: nothing can reach the internet or a real account.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import kagglekit.kaggle.api as kaggle_api
import kagglekit.kaggle.submit as submitting
from kagglekit import atomic
from kagglekit.folds import assign_project_folds
from kagglekit.kaggle.stub import KaggleStub, serve, zip_folder
from kagglekit.project import open_project
from kagglekit.records import find_run, list_runs
from kagglekit.testing import make_tiny_project, run_kk_inprocess, tiny_config
from kagglekit.training import train

USER = "stub-user"
KEY = "kk-test-secret-key-5f3e9a1c77"
SLUG = "tiny-comp"
DEAD_PROXY = "http://127.0.0.1:9"


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fail-closed network, fake credentials, no retry delays."""
    home = tmp_path / "home"
    config = tmp_path / "kaggle-config"
    home.mkdir()
    config.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(config))
    monkeypatch.setenv("KAGGLE_USERNAME", USER)
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, DEAD_PROXY)
    # The stub is on loopback; every other host goes to the dead proxy.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    for name in ("KAGGLE_API_TOKEN", "KAGGLE_API_ENVIRONMENT", "KK_DATA_MIRROR", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(
        kaggle_api, "RETRY", kaggle_api.RetryPolicy(tries=3, base_seconds=0.0, max_seconds=0.0)
    )
    return config


@pytest.fixture
def stub(offline: Path) -> Iterator[KaggleStub]:
    with serve(KaggleStub(username=USER, key=KEY)) as running:
        yield running


def kaggle_config(name: str, slug: str = SLUG, source: str = '{ kind = "kaggle" }') -> str:
    text = tiny_config(name)
    old = f'source = {{ kind = "mirror", mirror_folder = "{name}" }}'
    assert old in text
    return text.replace(old, f'slug = "{slug}"\nsource = {source}')


@pytest.fixture
def tiny(projects_dir: Path, stub: KaggleStub) -> dict[str, Path]:
    """A tiny competition served by the stub as ``tiny-comp``, and its project config."""
    info = make_tiny_project(projects_dir, "tiny", config=kaggle_config("tiny"))
    stub.add_competition(SLUG, info["mirror"])
    return info


kk = run_kk_inprocess


def trained(info: dict[str, Path]) -> Any:
    """Fetch (through the stub), assign folds and train the fast linear model once."""
    from kagglekit.data import fetch

    proj = open_project("tiny")
    cfg = proj.config()
    fetch(proj, cfg)
    assign_project_folds(proj, cfg)
    return train(proj, cfg, model_name="linear").run


def no_secret(*texts: str) -> None:
    for text in texts:
        assert KEY not in text


# ----------------------------------------------------------------------------- fetch


def test_fetch_downloads_unzips_and_checksums(tiny, stub, capsys, monkeypatch):
    code, out, err = kk(capsys, monkeypatch, "fetch", "tiny")
    assert code == 0, err
    raw = tiny["project"] / "data" / "raw"
    manifest = json.loads((raw / "MANIFEST.json").read_text())
    assert manifest["source"] == f"kaggle competition {SLUG}"
    for name in ("train.csv", "test.csv", "sample_submission.csv", "solution.csv"):
        assert (raw / name).read_bytes() == (tiny["mirror"] / name).read_bytes()
        assert manifest["sha256"][name] == atomic.sha256_file(tiny["mirror"] / name)
    assert len(stub.calls("DownloadDataFiles")) == 1
    assert not [p for p in raw.parent.iterdir() if p.name.startswith(".")]
    no_secret(out, err)


def test_fetch_does_nothing_when_files_are_present_and_match(tiny, stub, capsys, monkeypatch):
    assert kk(capsys, monkeypatch, "fetch", "tiny")[0] == 0
    n_requests = len(stub.requests)
    code, out, err = kk(capsys, monkeypatch, "fetch", "tiny")
    assert code == 0, err
    assert len(stub.requests) == n_requests  # not even a request
    assert "train.csv" in out
    # A file changed on disk is not silently accepted.
    train_csv = tiny["project"] / "data" / "raw" / "train.csv"
    train_csv.chmod(0o644)
    train_csv.write_text("id,target\n1,0\n")
    code, _, err = kk(capsys, monkeypatch, "fetch", "tiny")
    assert code == 1 and "no longer matches its checksum" in err


def test_fetch_refuses_a_corrupted_zip(tiny, stub, capsys, monkeypatch):
    good = stub.files[SLUG]
    stub.files[SLUG] = good[: len(good) // 2]  # cut short: a broken archive
    code, _, err = kk(capsys, monkeypatch, "fetch", "tiny")
    assert code == 1
    assert "damaged" in err and "run kk fetch again" in err
    assert len(err.strip().splitlines()) == 1
    data_dir = tiny["project"] / "data"
    assert not (data_dir / "raw").exists()
    assert not [p for p in data_dir.iterdir() if p.name.startswith(".")]  # no leftovers
    stub.files[SLUG] = good
    assert kk(capsys, monkeypatch, "fetch", "tiny")[0] == 0


def test_fetch_retries_after_429_then_succeeds(tiny, stub, capsys, monkeypatch, caplog):
    stub.fail("DownloadDataFiles", 429, "Too many requests", **{"Retry-After": "0"})
    code, _, err = kk(capsys, monkeypatch, "fetch", "tiny")
    assert code == 0, err
    assert len(stub.calls("DownloadDataFiles")) == 2
    assert "retrying" in caplog.text
    assert (tiny["project"] / "data" / "raw" / "train.csv").exists()


def test_retry_after_as_an_http_date_is_waited_for(tiny, stub, offline):
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=40), usegmt=True)
    stub.fail("GetSubmissionLimits", 429, "Too many requests", **{"Retry-After": when})
    stub.fail("GetSubmissionLimits", 429, "Too many requests", **{"Retry-After": "7"})
    api = kaggle_api.client()
    slept: list[float] = []
    policy = kaggle_api.RetryPolicy(tries=3, base_seconds=0.0, max_seconds=120.0)
    limits = kaggle_api.call(
        lambda: api.competition_get_submission_limits(SLUG),
        what="reading limits",
        slug=SLUG,
        policy=policy,
        sleep=slept.append,
    )
    assert limits.num_allowed_now == 5
    assert 30.0 < slept[0] <= 40.0 and slept[1] == 7.0  # a date, then seconds


def test_fetch_gives_up_after_repeated_429_with_a_message(tiny, stub, capsys, monkeypatch):
    for _ in range(3):
        stub.fail("DownloadDataFiles", 429, "Too many requests")
    code, _, err = kk(capsys, monkeypatch, "fetch", "tiny")
    assert code == 1
    assert "rate limiting" in err and "after 3 tries" in err
    assert len(stub.calls("DownloadDataFiles")) == 3


def test_fetch_403_names_the_rules_page_and_the_slug(projects_dir, stub, capsys, monkeypatch):
    info = make_tiny_project(projects_dir, "tiny", config=kaggle_config("tiny"))
    stub.add_competition(SLUG, info["mirror"], accepted=False)
    code, _, err = kk(capsys, monkeypatch, "fetch", "tiny")
    assert code == 1
    assert f"https://www.kaggle.com/competitions/{SLUG}/rules" in err
    assert "misspelt" in err and "competition.slug" in err


def test_fetch_a_kaggle_dataset(projects_dir, stub, capsys, monkeypatch):
    info = make_tiny_project(
        projects_dir, "tiny", config=kaggle_config("tiny", "someone/tiny-data")
    )
    stub.files["someone/tiny-data"] = zip_folder(info["mirror"])
    code, _, err = kk(capsys, monkeypatch, "fetch", "tiny")
    assert code == 0, err
    assert stub.calls("DownloadDataset")[0].body["ownerSlug"] == "someone"
    manifest = json.loads((info["project"] / "data" / "raw" / "MANIFEST.json").read_text())
    assert manifest["source"] == "kaggle dataset someone/tiny-data"


def test_fetch_network_failure_is_one_line(projects_dir, offline, capsys, monkeypatch):
    # No stub: the client points at production, and the dead proxy refuses the connection.
    make_tiny_project(projects_dir, "tiny", config=kaggle_config("tiny"))
    code, _, err = kk(capsys, monkeypatch, "fetch", "tiny")
    assert code == 1
    assert "cannot reach Kaggle" in err and len(err.strip().splitlines()) == 1


def test_fetch_without_credentials_says_where_to_put_them(tiny, capsys, monkeypatch):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    code, _, err = kk(capsys, monkeypatch, "fetch", "tiny")
    assert code == 1
    assert "kaggle.json" in err and "KAGGLE_USERNAME" in err and "KAGGLE_KEY" in err
    assert len(err.strip().splitlines()) == 1


def test_credentials_message_names_the_folder_the_client_reads(offline, monkeypatch, tmp_path):
    from kagglekit.errors import KKError

    home = tmp_path / "home"
    for name in ("KAGGLE_CONFIG_DIR", "XDG_CONFIG_HOME", "KAGGLE_USERNAME", "KAGGLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    messages = []

    def message() -> None:
        with pytest.raises(KKError) as caught:
            kaggle_api.client()
        messages.append(str(caught.value))

    message()
    # The real client's own answer for this HOME; importing it creates that folder.
    probe = "from kaggle.api.kaggle_api_extended import KaggleApi; print(KaggleApi.config_dir)"
    proc = subprocess.run(
        [sys.executable, "-c", probe], env=dict(os.environ), capture_output=True, text=True
    )
    real = proc.stdout.strip().splitlines()[-1]
    assert Path(real).is_dir()
    message()  # the folder exists now; the answer must not change
    assert real == str(home / ".config" / "kaggle")
    assert messages[0] == messages[1] and f"kaggle.json in {real} " in messages[0]
    assert str(home / ".kaggle") not in messages[0]
    assert "KAGGLE_CONFIG_DIR, else ~/.kaggle if that folder exists" in messages[0]


def test_readable_kaggle_json_warns_without_showing_the_key(
    tiny, stub, offline, capsys, monkeypatch, caplog
):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    path = offline / "kaggle.json"
    path.write_text(json.dumps({"username": USER, "key": KEY}))
    path.chmod(0o644)
    code, out, err = kk(capsys, monkeypatch, "fetch", "tiny")
    assert code == 0, err
    assert "chmod 600" in caplog.text
    no_secret(out, err, caplog.text)


def test_url_source_checks_sha256(projects_dir, stub, capsys, monkeypatch):
    info = make_tiny_project(projects_dir, "tiny")
    archive = zip_folder(info["mirror"])
    stub.files["movielens"] = archive
    url = f"{stub.url}/files/movielens.zip"
    digest = hashlib.sha256(archive).hexdigest()
    config = info["project"] / "config.toml"
    base = tiny_config("tiny").replace('source = { kind = "mirror", mirror_folder = "tiny" }', "")
    config.write_text(
        base.replace(
            '[competition]\nname = "tiny"',
            f'[competition]\nname = "tiny"\nsource = {{ kind = "url", url = "{url}", sha256 = "{"0" * 64}" }}',
        )
    )
    code, _, err = kk(capsys, monkeypatch, "fetch", "tiny")
    assert code == 1 and digest in err and "source.sha256" in err
    assert not (info["project"] / "data" / "raw").exists()
    config.write_text(config.read_text().replace("0" * 64, digest))
    code, _, err = kk(capsys, monkeypatch, "fetch", "tiny")
    assert code == 0, err
    assert (info["project"] / "data" / "raw" / "train.csv").exists()


def test_torchvision_source_without_torchvision_names_the_extra(projects_dir, offline):
    if importlib.util.find_spec("torchvision") is not None:
        pytest.skip("torchvision is installed; this checks the message without it")
    from kagglekit.data.sources import TorchvisionSource
    from kagglekit.errors import KKError

    dest = projects_dir / "staging"
    dest.mkdir()
    with pytest.raises(KKError, match=r"vision extra"):
        TorchvisionSource("CIFAR10").fetch(dest)


# ----------------------------------------------------------------------------- submit


def test_submit_uploads_and_records_the_ledger(tiny, stub, capsys, monkeypatch):
    run = trained(tiny)
    code, out, err = kk(capsys, monkeypatch, "submit", "tiny", "--run", run.run_id, "-m", "first")
    assert code == 0, err
    assert "submitted" in out
    assert [r.rpc for r in stub.requests[-4:]] == [
        "GetSubmissionLimits",
        "StartSubmissionUpload",
        "PUT",
        "CreateSubmission",
    ]
    assert stub.calls("PUT")[0].data == run.path("submission.csv").read_bytes()
    assert stub.calls("PUT")[0].auth is None  # the blob upload carries no credentials
    assert stub.calls("CreateSubmission")[0].body["submissionDescription"] == "first"
    ledger = submitting.read_ledger(open_project("tiny"))
    assert len(ledger) == 1
    entry = ledger[0]
    assert entry["ref"] == stub.submissions[0]["ref"]
    assert entry["run_id"] == run.run_id
    assert entry["cv_mean"] == pytest.approx(run.record["cv_mean"])
    assert entry["fold_hash"] == run.record["fold_hash"]
    assert entry["git_commit"] == run.record["git"]["commit"]
    assert entry["message"] == "first" and entry["status"] == "PENDING"
    assert entry["submitted_at"]
    assert find_run(open_project("tiny").runs_dir, run.run_id).record["kaggle_submissions"] == [
        entry["ref"]
    ]
    no_secret(out, err)


def test_wait_polls_no_faster_than_every_5_s_and_records_the_score(tiny, stub):
    run = trained(tiny)
    proj = open_project("tiny")
    cfg = proj.config()
    entry = submitting.submit(proj, cfg, run.path("submission.csv"), run=run)
    stub.score_after = ["PENDING", "PENDING", "COMPLETE"]
    slept: list[float] = []
    done = submitting.wait_for_score(
        proj, cfg, entry["ref"], poll_seconds=1.0, sleep=slept.append, clock=lambda: 0.0
    )
    assert slept == [5.0, 5.0, 5.0]  # asked for 1 s: clamped to the 5 s floor
    assert len(stub.calls("GetSubmission")) == 3
    assert done["status"] == "COMPLETE" and done["public_score"] == stub.public_score
    assert submitting.read_ledger(proj)[0]["public_score"] == stub.public_score


def test_submit_wait_prints_cv_against_the_public_score(tiny, stub, capsys, monkeypatch):
    run = trained(tiny)
    slept: list[float] = []
    monkeypatch.setattr(submitting.time, "sleep", slept.append)
    stub.score_after = ["PENDING", "COMPLETE"]
    code, out, err = kk(capsys, monkeypatch, "submit", "tiny", "--run", run.run_id, "--wait")
    assert code == 0, err
    assert slept == [5.0, 5.0]
    assert f"public LB {float(stub.public_score):.5f}" in out
    assert f"CV {run.record['cv_mean']:.5f}" in out
    assert submitting.read_ledger(open_project("tiny"))[0]["status"] == "COMPLETE"


def test_wait_stops_at_the_time_limit(tiny, stub):
    run = trained(tiny)
    proj = open_project("tiny")
    cfg = proj.config()
    entry = submitting.submit(proj, cfg, run.path("submission.csv"), run=run)
    stub.score_after = ["PENDING"] * 50
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    done = submitting.wait_for_score(
        proj, cfg, entry["ref"], timeout=30, sleep=sleep, clock=lambda: now[0]
    )
    assert done["status"] == "PENDING"
    assert 5 <= len(stub.calls("GetSubmission")) <= 6


def test_invalid_submission_is_never_uploaded(tiny, stub, capsys, monkeypatch, tmp_path):
    run = trained(tiny)
    bad = tmp_path / "bad.csv"
    frame = pd.read_csv(run.path("submission.csv"))
    frame.iloc[:-3].to_csv(bad, index=False)  # rows missing
    n_requests = len(stub.requests)
    code, _, err = kk(capsys, monkeypatch, "submit", "tiny", "--file", str(bad))
    assert code == 1 and "invalid submission" in err
    assert len(stub.requests) == n_requests  # nothing reached Kaggle, not even a quota read
    # The library refuses too, whoever calls it.
    from kagglekit.errors import KKError

    proj = open_project("tiny")
    with pytest.raises(KKError, match="invalid submission"):
        submitting.submit(proj, proj.config(), bad)
    assert not stub.calls("PUT") and not stub.calls("StartSubmissionUpload")
    assert not submitting.ledger_path(proj).exists()


def test_unreadable_ledger_stops_submit_before_the_upload(tiny, stub, capsys, monkeypatch):
    run = trained(tiny)
    ledger = submitting.ledger_path(open_project("tiny"))
    ledger.write_text('{"ref": 1}\nnot json\n')
    code, _, err = kk(capsys, monkeypatch, "submit", "tiny", "--run", run.run_id)
    assert code == 1 and "line 2 is not JSON" in err
    assert not stub.calls("StartSubmissionUpload") and not stub.calls("PUT")


def test_submit_refuses_when_no_submission_is_left_today(tiny, stub, capsys, monkeypatch):
    run = trained(tiny)
    stub.limits.update(numToday=5, numAllowedNow=0)
    code, _, err = kk(capsys, monkeypatch, "submit", "tiny", "--run", run.run_id)
    assert code == 1 and "no submissions left today" in err and "nothing was uploaded" in err
    assert not stub.calls("StartSubmissionUpload") and not stub.calls("PUT")


def test_failed_upload_is_reported_as_a_failure(tiny, stub, capsys, monkeypatch):
    run = trained(tiny)
    stub.put_status = 403  # the blob store refuses the file
    code, out, err = kk(capsys, monkeypatch, "submit", "tiny", "--run", run.run_id)
    assert code == 1
    assert "Could not submit to competition" in err and "nothing was submitted" in err
    assert "submitted to" not in out
    assert not stub.calls("CreateSubmission")
    assert not submitting.ledger_path(open_project("tiny")).exists()


def test_submit_with_a_stale_key_says_401(tiny, stub, capsys, monkeypatch):
    run = trained(tiny)
    monkeypatch.setenv("KAGGLE_KEY", "kk-regenerated-old-key-0000")
    code, out, err = kk(capsys, monkeypatch, "submit", "tiny", "--run", run.run_id)
    assert code == 1 and "401" in err and "stale" in err and "settings/api" in err
    assert "kk-regenerated-old-key-0000" not in out + err
    assert not stub.calls("PUT")


def test_submit_before_joining_says_join_not_no_submissions_left_today(
    tiny, stub, capsys, monkeypatch
):
    # Not joined: Kaggle answers all-zero limits (documented), not a 403.
    run = trained(tiny)
    stub.rules_accepted.discard(SLUG)
    code, _, err = kk(capsys, monkeypatch, "submit", "tiny", "--run", run.run_id)
    assert code == 1 and "left today" not in err
    assert "not joined" in err and "nothing was uploaded" in err
    assert f"https://www.kaggle.com/competitions/{SLUG}/rules" in err
    assert stub.calls("GetSubmissionLimits") and not stub.calls("PUT")


def test_submit_to_a_misspelt_slug_says_403_and_names_the_rules_page(
    tiny, stub, capsys, monkeypatch
):
    run = trained(tiny)
    (tiny["project"] / "config.toml").write_text(kaggle_config("tiny", "tiny-compp"))
    code, _, err = kk(capsys, monkeypatch, "submit", "tiny", "--run", run.run_id)
    assert code == 1 and "403 at GetSubmissionLimits" in err
    assert "https://www.kaggle.com/competitions/tiny-compp/rules" in err and "misspelt" in err
    assert not stub.calls("PUT")


def test_real_service_errors_are_requests_generic_ones(tiny, stub, offline):
    """What the advice below must be keyed on: no server message reaches the caller."""
    import requests

    api = kaggle_api.client()
    stub.fail("GetSubmissionLimits", 400, "Some server-side message")
    with pytest.raises(requests.HTTPError) as caught:
        api.competition_get_submission_limits(SLUG)
    assert str(caught.value).startswith("400 Client Error: Bad Request for url: ")
    assert "server-side" not in str(caught.value)
    assert caught.value.response.url.endswith("/GetSubmissionLimits")


def test_submit_over_the_size_limit_says_zip_it(tiny, stub, capsys, monkeypatch):
    run = trained(tiny)
    stub.max_file_bytes = 10  # Kaggle refuses to start the upload; its message is not shown
    code, _, err = kk(capsys, monkeypatch, "submit", "tiny", "--run", run.run_id)
    assert code == 1 and "size limit" in err and "zip" in err
    assert "400 at StartSubmissionUpload" in err and "MiB" in err
    assert not stub.calls("PUT")


def test_daily_limit_reached_at_upload_time_is_one_line(tiny, stub, capsys, monkeypatch):
    run = trained(tiny)
    # The quota read says one is left; by CreateSubmission a teammate has used it.
    stub.stale_limits = [{"numToday": 4, "numTotal": 9, "numAllowedNow": 1}]
    stub.limits.update(numToday=5, numTotal=10, numAllowedNow=0)
    code, out, err = kk(capsys, monkeypatch, "submit", "tiny", "--run", run.run_id)
    assert code == 1 and "no submissions left today" in err and "00:00 UTC" in err
    assert "nothing was submitted" in err and len(err.strip().splitlines()) == 1
    assert len(stub.calls("CreateSubmission")) == 1 and len(stub.calls("GetSubmissionLimits")) == 2
    assert "submitted to" not in out
    assert not submitting.ledger_path(open_project("tiny")).exists()


def test_a_refused_create_submission_with_quota_left_is_not_called_a_limit(
    tiny, stub, capsys, monkeypatch
):
    run = trained(tiny)
    stub.fail("CreateSubmission", 400)
    code, _, err = kk(capsys, monkeypatch, "submit", "tiny", "--run", run.run_id)
    assert code == 1 and "400 at CreateSubmission" in err and "nothing was submitted" in err
    assert "limit" not in err


def test_a_server_message_is_shown_when_the_body_carries_one(tiny, stub, capsys, monkeypatch):
    stub.coded_errors = True
    stub.fail("ListSubmissions", 400, "Competition has ended")
    code, _, err = kk(capsys, monkeypatch, "submissions", "tiny")
    assert code == 1 and "400 at ListSubmissions: Competition has ended" in err


def test_404_says_check_the_slug(tiny, stub, capsys, monkeypatch):
    stub.fail("ListSubmissions", 404, "Competition not found")
    code, _, err = kk(capsys, monkeypatch, "submissions", "tiny")
    assert code == 1 and "404" in err and "competition.slug" in err
    assert len(err.strip().splitlines()) == 1


def test_scrub_removes_keys_and_their_basic_auth_form(offline):
    import base64

    basic = base64.b64encode(f"{USER}:{KEY}".encode()).decode()
    text = kaggle_api.scrub(f"key={KEY} header=Basic {basic} Authorization: Bearer tok123")
    assert KEY not in text and basic not in text and "tok123" not in text


# ----------------------------------------------------------------------------- history


def test_submissions_joins_scores_with_the_ledger_and_runs(tiny, stub, capsys, monkeypatch):
    run = trained(tiny)
    assert kk(capsys, monkeypatch, "submit", "tiny", "--run", run.run_id)[0] == 0
    stub.submissions[0].update(status="COMPLETE", publicScore="0.80100", privateScore="0.79900")
    stub.submissions.append(
        {"ref": 42, "date": "2026-01-02T10:00:00.000Z", "description": "made on the website",
         "status": "COMPLETE", "publicScore": "0.70000", "privateScore": "0.71000"}
    )  # fmt: skip
    code, out, err = kk(capsys, monkeypatch, "submissions", "tiny", "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    ours = next(r for r in rows if r["in_ledger"])
    assert ours["run_id"] == run.run_id
    assert ours["cv_mean"] == pytest.approx(run.record["cv_mean"])
    assert (ours["public_score"], ours["private_score"]) == (0.801, 0.799)
    other = next(r for r in rows if r["ref"] == 42)
    assert other["run_id"] is None and other["public_score"] == 0.7
    ledger = submitting.read_ledger(open_project("tiny"))
    assert ledger[0]["public_score"] == "0.80100" and ledger[0]["status"] == "COMPLETE"
    code, out, _ = kk(capsys, monkeypatch, "submissions", "tiny")
    assert code == 0 and "0.80100" in out and run.run_id in out


def test_submissions_shows_the_ledger_offline(tiny, stub, capsys, monkeypatch):
    from kagglesdk import kaggle_env

    run = trained(tiny)
    assert kk(capsys, monkeypatch, "submit", "tiny", "--run", run.run_id, "-m", "first")[0] == 0
    ref = stub.submissions[0]["ref"]
    # --local: no request, no credentials needed.
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    n_requests = len(stub.requests)
    code, out, err = kk(capsys, monkeypatch, "submissions", "tiny", "--local", "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [(r["ref"], r["run_id"], r["description"]) for r in rows] == [(ref, run.run_id, "first")]
    assert rows[0]["cv_mean"] == pytest.approx(run.record["cv_mean"])
    assert len(stub.requests) == n_requests
    # No credentials (issue 33): the ledger too, with a note naming what is missing.
    code, out, err = kk(capsys, monkeypatch, "submissions", "tiny")
    assert code == 0, err
    assert "no Kaggle credentials" in err and "showing the local ledger" in err
    assert str(ref) in out and run.run_id in out and len(stub.requests) == n_requests
    # Kaggle unreachable: the ledger, with a note saying why.
    monkeypatch.setenv("KAGGLE_USERNAME", USER)
    monkeypatch.setenv("KAGGLE_KEY", KEY)
    table = kaggle_env._env_to_endpoint
    saved = table[kaggle_env.KaggleEnv.PROD]
    table[kaggle_env.KaggleEnv.PROD] = DEAD_PROXY
    try:
        code, out, err = kk(capsys, monkeypatch, "submissions", "tiny")
    finally:
        table[kaggle_env.KaggleEnv.PROD] = saved
    assert code == 0, err
    assert "cannot reach Kaggle" in err and "local ledger" in err
    assert str(ref) in out and run.run_id in out
    # Other failures are still errors, not a silent switch to stale data.
    stub.fail("ListSubmissions", 404)
    code, _, err = kk(capsys, monkeypatch, "submissions", "tiny")
    assert code == 1 and "404" in err


def test_submissions_reads_every_page(tiny, stub, capsys, monkeypatch):
    stub.submissions = [
        {"ref": 5000 - i, "date": "2026-01-02T10:00:00.000Z", "description": f"s{i}",
         "status": "COMPLETE", "publicScore": "0.5"}
        for i in range(130)
    ]  # fmt: skip
    code, out, err = kk(capsys, monkeypatch, "submissions", "tiny", "--json")
    assert code == 0, err
    refs = [json.loads(line)["ref"] for line in out.splitlines()]
    assert refs == [5000 - i for i in range(130)]
    assert [c.body.get("pageToken", "") for c in stub.calls("ListSubmissions")] == ["", "100"]


def test_leaderboard_shows_the_top_and_where_you_stand(tiny, stub, capsys, monkeypatch):
    board = [
        {"teamId": i, "teamName": f"team-{i}", "submissionDate": "2026-01-01T00:00:00.000Z",
         "score": f"{0.99 - i / 1000:.5f}"}
        for i in range(250)
    ]  # fmt: skip
    board[136]["teamName"] = "Our Team"
    stub.leaderboard = board
    stub.submissions.append({"ref": 7, "status": "COMPLETE", "teamName": "Our Team"})
    code, out, err = kk(capsys, monkeypatch, "leaderboard", "tiny", "--top", "5", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert [r["team_name"] for r in result["top"]] == [f"team-{i}" for i in range(5)]
    assert result["mine"]["rank"] == 137 and result["n_rows"] == 250
    assert len(stub.calls("GetLeaderboard")) == 3  # paged, 100 a page
    code, out, _ = kk(capsys, monkeypatch, "leaderboard", "tiny")
    assert code == 0 and "rank 137 of 250" in out


# ----------------------------------------------------------------------------- kernel


def test_kernel_builds_a_script_that_reruns_the_run_offline(
    tiny, stub, capsys, monkeypatch, tmp_path
):
    run = trained(tiny)
    out_dir = tmp_path / "kernel"
    n_requests = len(stub.requests)
    code, out, err = kk(
        capsys, monkeypatch, "kernel", "tiny", "--run", run.run_id, "--out", str(out_dir)
    )
    assert code == 0, err
    meta = json.loads((out_dir / "kernel-metadata.json").read_text())
    assert meta["competition_sources"] == [SLUG]
    assert meta["enable_internet"] is False and meta["kernel_type"] == "script"
    assert meta["id"] == f"{USER}/{SLUG}-kagglekit-linear"
    assert len(stub.requests) == n_requests  # building needs no request
    # Run it as Kaggle would, with the competition data attached and no kagglekit installed
    # (-I: isolated; the bundled copy is the only one it can import).
    working = tmp_path / "working"
    working.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "KK_KERNEL_INPUT": str(tiny["mirror"]),
        "KK_KERNEL_WORKING": str(working),
        "KK_KERNEL_SCRATCH": str(tmp_path / "scratch"),
        "HTTPS_PROXY": DEAD_PROXY,
        "HTTP_PROXY": DEAD_PROXY,
    }
    proc = subprocess.run(
        [sys.executable, "-I", str(out_dir / "kagglekit_run.py")],
        env=env,
        cwd=working,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"from {tmp_path / 'scratch' / 'package' / 'kagglekit'}" in proc.stdout
    assert sorted(p.name for p in working.iterdir()) == ["submission.csv"]
    assert "fold hash" not in proc.stdout  # same folds as the local run
    local = pd.read_csv(run.path("submission.csv"))
    remote = pd.read_csv(working / "submission.csv")
    pd.testing.assert_frame_equal(local, remote)
    no_secret(out, err, (out_dir / "kagglekit_run.py").read_text())


def test_kernel_push_uploads_with_the_client(tiny, stub, capsys, monkeypatch, tmp_path):
    trained(tiny)
    code, out, err = kk(
        capsys, monkeypatch, "kernel", "tiny", "--out", str(tmp_path / "k"), "--push"
    )
    assert code == 0, err
    saved = stub.calls("SaveKernel")[0].body
    assert saved["slug"] == f"{USER}/{SLUG}-kagglekit-linear"
    assert saved["competitionDataSources"] == [SLUG]
    assert saved["enableInternet"] is False and saved["kernelType"] == "script"
    assert "PACKAGE = " in saved["text"]
    assert "pushed" in out


def test_kernel_push_with_a_misspelt_competition_source_fails_naming_it(
    tiny, stub, capsys, monkeypatch, tmp_path
):
    trained(tiny)
    (tiny["project"] / "config.toml").write_text(kaggle_config("tiny", "tiny-compp"))
    code, out, err = kk(
        capsys, monkeypatch, "kernel", "tiny", "--out", str(tmp_path / "k"), "--push"
    )
    assert code == 1 and "'tiny-compp'" in err and "competition.slug" in err
    assert len(err.strip().splitlines()) == 1
    assert stub.calls("SaveKernel") and "pushed" not in out


# ----------------------------------------------------------------------------- secrets


def test_no_credential_in_ledger_records_or_errors(tiny, stub, capsys, monkeypatch, caplog):
    run = trained(tiny)
    outputs = []
    outputs += kk(capsys, monkeypatch, "-v", "submit", "tiny", "--run", run.run_id, "-m", "x")[1:]
    stub.put_status = 500
    outputs += kk(capsys, monkeypatch, "-v", "submit", "tiny", "--run", run.run_id)[1:]
    monkeypatch.setenv("KAGGLE_KEY", KEY + "-wrong")
    outputs += kk(capsys, monkeypatch, "-v", "submissions", "tiny")[1:]
    files = [p.read_text(errors="replace") for p in tiny["project"].rglob("*.json*")]
    assert files and any("kaggle_submissions" in f for f in files)
    no_secret(*outputs, *files, caplog.text)
    assert KEY + "-wrong" not in "".join(outputs) + caplog.text


def test_cli_in_a_subprocess_with_localhost_environment(tiny, stub, tmp_path):
    """The other documented route: KAGGLE_API_ENVIRONMENT=LOCALHOST through HTTP_PROXY."""
    env = {
        **os.environ,
        "KAGGLE_API_ENVIRONMENT": "LOCALHOST",
        "HTTP_PROXY": stub.url,
        "http_proxy": stub.url,
        "NO_PROXY": "",
        "no_proxy": "",
    }
    kk_bin = Path(sys.executable).with_name("kk")
    command = [str(kk_bin)] if kk_bin.exists() else [sys.executable, "-m", "kagglekit.cli"]
    proc = subprocess.run(
        [*command, "fetch", "tiny"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert stub.calls("DownloadDataFiles")[0].path.startswith("http://localhost/api/v1/")
    assert len(list_runs(tiny["project"] / "runs")) == 0
    assert (tiny["project"] / "data" / "raw" / "MANIFEST.json").exists()
