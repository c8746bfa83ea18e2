"""Object-store inputs and outputs against a real S3-compatible server on 127.0.0.1.

The fixture starts moto's standalone server (``moto[server]``, in the dev extra) in a thread
and points the standard AWS variables at it; corpusfilter talks to it over HTTP with
pyarrow's S3 file system, exactly as it would to AWS, MinIO or R2.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE, pipeline_file, run_cli, run_killed_after_first_unit
from corpusfilter.io import fs, publish

moto_server = pytest.importorskip("moto.server")

PIPE = """
stages:
  - stage: doc_length
    min_chars: 300
  - stage: exact_dedup
"""


@pytest.fixture(scope="module")
def s3(tmp_path_factory) -> Iterator[dict[str, str]]:
    """A running S3 server with bucket `corpus` holding `in/`: two .jsonl.gz shards without
    ids and one Parquet shard with ids; yields the environment for subprocesses."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://{host}:{port}",
           "CORPUSFILTER_STAGING": str(tmp_path_factory.mktemp("staging"))}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        pafs.S3FileSystem(endpoint_override=env["AWS_ENDPOINT_URL"],
                          allow_bucket_creation=True).create_dir("corpus")
        table = pq.read_table(SAMPLE)
        rows = table.drop(["id"]).to_pylist()
        for i in range(2):
            data = "".join(json.dumps(r) + "\n" for r in rows[i * 150:(i + 1) * 150])
            fs.write_bytes(gzip.compress(data.encode(), mtime=0),
                           f"s3://corpus/in/web-{i}.jsonl.gz")
        local = tmp_path_factory.mktemp("s3src") / "rest.parquet"
        pq.write_table(table.slice(300), local)
        fs.upload(str(local), "s3://corpus/in/rest.parquet")
        yield env
    finally:
        server.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def pipe(tmp_path_factory) -> Path:
    return pipeline_file(tmp_path_factory, PIPE)


@pytest.fixture(scope="module")
def reference(s3, pipe, tmp_path_factory) -> Path:
    """The same corpus run from S3 into a local directory."""
    out = tmp_path_factory.mktemp("ref") / "out"
    run_cli("run", str(pipe), "s3://corpus/in/", "-o", str(out), "--no-progress", "-q",
            env=s3)
    return out


def _same_outputs(url: str, local: Path) -> None:
    for sub in ("data", "ledger"):
        names = sorted(p.name for p in (local / sub).iterdir())
        assert [f.rsplit("/", 1)[-1] for f in fs.list_files(f"{url}/{sub}")] == names
        for name in names:
            assert fs.read_bytes(f"{url}/{sub}/{name}") == (local / sub / name).read_bytes()


def test_s3_in_s3_out_runs_and_verifies(s3, pipe, reference):
    url = "s3://corpus/runs/one"
    proc = run_cli("run", str(pipe), "s3://corpus/in/", "-o", url, "--no-progress", env=s3)
    assert "kept" in proc.stdout  # the summary is read back from the bucket
    _same_outputs(url, reference)
    run = json.loads(fs.read_bytes(f"{url}/run.json"))
    assert [i["path"] for i in run["inputs"]] == [
        "s3://corpus/in/rest.parquet", "s3://corpus/in/web-0.jsonl.gz",
        "s3://corpus/in/web-1.jsonl.gz"]
    assert run["generated_ids"]["shards"] == ["web-0", "web-1"]
    assert not fs.exists(f"{url}/{publish.CLAIM}")
    verified = run_cli("verify", url, env=s3)
    assert "input documents:   414" in verified.stdout and "OK" in verified.stdout
    again = run_cli("run", str(pipe), "s3://corpus/in/", "-o", url, "--no-progress", "-q",
                    env=s3)
    assert "already holds a complete run" in again.stderr
    other = run_cli("run", "minimal", "s3://corpus/in/", "-o", url, "--no-progress", env=s3,
                    check=False)
    assert other.returncode == 2 and "different pipeline or input" in other.stderr


def test_kill_mid_run_then_resume_to_s3(s3, pipe, reference):
    url = "s3://corpus/runs/killed"
    staging = publish.staging_dir(url)
    run_killed_after_first_unit([str(pipe), "s3://corpus/in/",
           "-o", url, "--no-progress", "-q", "--batch-size", "3"], staging, env={**os.environ, **s3})
    assert not fs.exists(f"{url}/run.json"), "killed too late to test resume"
    bad = run_cli("verify", url, env=s3, check=False)
    assert bad.returncode == 2 and "no finished run" in bad.stderr
    resumed = run_cli("run", str(pipe), "s3://corpus/in/", "-o", url, "--no-progress", "-q",
                      env=s3)
    assert "resuming" in resumed.stderr and "already done" in resumed.stderr
    _same_outputs(url, reference)
    assert not staging.exists()
    assert run_cli("verify", url, env=s3).returncode == 0


def test_crash_while_publishing_is_never_taken_as_done(s3, pipe, reference, monkeypatch):
    """Uploads fail after three objects (a crash mid-publish): no run.json, so verify and a
    rerun see an unfinished run; the rerun publishes it whole."""
    from corpusfilter.engines.local import LocalEngine

    url = "s3://corpus/runs/halfway"
    real_upload = fs.upload
    calls = []

    def failing_upload(*args, **kwargs):
        calls.append(args)
        if len(calls) > 3:
            raise OSError("connection reset (simulated)")
        real_upload(*args, **kwargs)

    monkeypatch.setattr(fs, "upload", failing_upload)
    with pytest.raises(OSError, match="simulated"):
        LocalEngine(str(pipe), progress=False).run(["s3://corpus/in/"], url)
    monkeypatch.setattr(fs, "upload", real_upload)
    assert fs.exists(f"{url}/{publish.CLAIM}") and not fs.exists(f"{url}/run.json")
    assert len(fs.list_files(url)) == 4  # the claim and three published objects
    bad = run_cli("verify", url, env=s3, check=False)
    assert bad.returncode == 2 and "no finished run" in bad.stderr
    LocalEngine(str(pipe), progress=False).run(["s3://corpus/in/"], url)
    _same_outputs(url, reference)
    assert not fs.exists(f"{url}/{publish.CLAIM}")
    assert run_cli("verify", url, env=s3).returncode == 0


def test_missing_bucket_and_prefix_are_clear_errors(s3, pipe, tmp_path):
    proc = run_cli("run", str(pipe), "s3://corpus/nothing-here/", "-o", str(tmp_path / "o"),
                   env=s3, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "s3://corpus/nothing-here/ does not exist" in proc.stderr


def test_storage_options_reject_credentials(tmp_path):
    p = tmp_path / "p.yaml"
    p.write_text("storage_options:\n  s3: {secret_key: abc}\nstages:\n  - stage: doc_length\n")
    proc = run_cli("run", str(p), str(SAMPLE), "-o", str(tmp_path / "o"), check=False)
    assert proc.returncode == 2
    assert "storage_options.s3.secret_key looks like a credential" in proc.stderr


def test_report_card_inspect_review_diff_on_an_s3_run(s3, pipe, tmp_path):
    """The run's commands read a run published to the bucket as they read a local one: same
    numbers, and the `und` warning is not skipped for a URL output."""
    table = pq.read_table(SAMPLE)
    lang = [v if v is not None else "und" for v in table["lang"].to_pylist()]  # 40% und
    local_in = tmp_path / "und.parquet"
    pq.write_table(table.set_column(table.schema.get_field_index("lang"), "lang",
                                    pa.array(lang, pa.string())), local_in)
    fs.upload(str(local_in), "s3://corpus/und/sample.parquet")
    url, local = "s3://corpus/runs/reported", tmp_path / "local"
    outs = {}
    for out in (url, str(local)):
        outs[out] = run_cli("run", str(pipe), "s3://corpus/und/", "-o", out, "--no-progress",
                            "--score-all", env=s3).stdout
    assert "are `und`" in outs[url] and "are `und`" in outs[str(local)]
    reports = {}
    for out in (url, str(local)):
        j = tmp_path / f"{len(reports)}.json"
        run_cli("report", out, "-q", "--json", str(j), "--html", str(j.with_suffix(".html")),
                env=s3)
        reports[out] = json.loads(j.read_text())
    a, b = reports[url], reports[str(local)]
    assert a["run"]["out"] == url
    for key in ("funnel", "rates", "flags", "mix", "undetermined", "independent"):
        assert a[key] == b[key], key
    assert a["undetermined"]["docs"] == lang.count("und")
    inspected = [run_cli("inspect", out, "--stage", "doc_length", "-n", "3", env=s3).stdout
                 for out in (url, str(local))]
    assert inspected[0] == inspected[1] and "min_chars" in inspected[0]
    sheets = []
    for i, out in enumerate((url, str(local))):
        run_cli("review", out, "--stage", "doc_length", "--jsonl", str(tmp_path / f"{i}.jsonl"),
                env=s3)
        sheets.append((tmp_path / f"{i}.jsonl").read_text())
    assert sheets[0] == sheets[1] and sheets[0].count("\n") > 0
    diff = run_cli("diff", url, str(local), env=s3, check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    cards = []
    for i, out in enumerate((url, str(local))):
        run_cli("card", out, "-o", str(tmp_path / f"card{i}.json"), env=s3)
        cards.append(json.loads((tmp_path / f"card{i}.json").read_text()))
    assert cards[0]["outputs"] == cards[1]["outputs"] and cards[0]["verify"]["ok"]
    assert cards[0]["inputs"][0]["path"] == "s3://corpus/und/sample.parquet"
    assert "OK" in run_cli("verify", url, env=s3).stdout


def test_limit_on_s3_input_and_output(s3, pipe):
    url = "s3://corpus/runs/limited"
    run_cli("run", str(pipe), "s3://corpus/in/", "-o", url, "--no-progress", "-q",
            "--limit", "200", env=s3)
    run = json.loads(fs.read_bytes(f"{url}/run.json"))
    # rest.parquet (114 documents) then 86 of web-0; web-1 is not read
    assert [i["shard"] for i in run["inputs"]] == ["rest", "web-0"]
    verified = run_cli("verify", url, env=s3)
    assert "input documents:   200" in verified.stdout and "OK" in verified.stdout
