"""The producer CLI as a user meets it: exit status, one sentence on stderr, the report on stdout."""

from __future__ import annotations

import functools
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tributary.producer import Producer
from tributary_cli import produce as cli

ROOT = Path(__file__).resolve().parents[2]
STREAM = "events"


def ndjson(path: Path, count: int) -> list[str]:
    lines = [json.dumps({"id": f"r-{i}", "payload": {"device_id": f"d{i % 17}"}}) for i in range(count)]
    path.write_text("\n".join(lines) + "\n")
    return lines


def counted_backoff(monkeypatch) -> list[float]:
    """The CLI's producer, with its backoff sleeps recorded instead of slept."""
    sleeps: list[float] = []
    monkeypatch.setattr(cli, "Producer", functools.partial(Producer, sleep=sleeps.append))
    return sleeps


def one_sentence(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def kinesis(aws):
    client = boto3.client("kinesis")
    client.create_stream(StreamName=STREAM, ShardCount=2)
    return client


def test_a_missing_input_file_is_one_sentence_and_exit_2(tmp_path, capsys):
    assert cli.main(["--stream", STREAM, "--input", str(tmp_path / "nope.ndjson")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "nope.ndjson" in one_sentence(captured.err)


def test_an_unwritable_failed_out_is_refused_before_anything_is_sent(kinesis, tmp_path, capsys):
    source = tmp_path / "in.ndjson"
    ndjson(source, 5)
    target = tmp_path / "missing-dir" / "failed.ndjson"
    assert cli.main(["--stream", STREAM, "--input", str(source), "--failed-out", str(target)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--failed-out" in one_sentence(captured.err)
    shard = kinesis.list_shards(StreamName=STREAM)["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(StreamName=STREAM, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    assert kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"] == []


def test_a_missing_stream_stops_at_the_first_call(aws, tmp_path, capsys, monkeypatch):
    sleeps = counted_backoff(monkeypatch)
    source, failed = tmp_path / "in.ndjson", tmp_path / "failed.ndjson"
    lines = ndjson(source, 20_000)
    code = cli.main(["--stream", "no-such-stream", "--input", str(source), "--failed-out", str(failed)])
    captured = capsys.readouterr()
    assert code == 2
    report = json.loads(captured.out)
    assert report["calls"] == 1
    assert (report["records"], report["sent"], report["failed"]) == (20_000, 0, 20_000)
    assert report["failure_reasons"] == ["ResourceNotFoundException"]
    assert report["failed_retryable"] == 0
    assert "ResourceNotFoundException" in report["fatal"]
    assert sleeps == []
    sentence = one_sentence(captured.err)
    assert "no-such-stream" in sentence
    assert "ResourceNotFoundException" in sentence
    assert failed.read_text().splitlines() == lines


def test_a_stream_deleted_midway_reports_what_was_sent_and_what_was_not(kinesis, tmp_path, capsys, monkeypatch):
    counted_backoff(monkeypatch)
    real_put = kinesis.put_records

    def put_then_delete(**kwargs):
        answer = real_put(**kwargs)
        kinesis.delete_stream(StreamName=STREAM)
        return answer

    monkeypatch.setattr(kinesis, "put_records", put_then_delete)
    monkeypatch.setattr(cli, "kinesis_client", lambda: kinesis)
    source, failed = tmp_path / "in.ndjson", tmp_path / "failed.ndjson"
    lines = ndjson(source, 1200)
    assert cli.main(["--stream", STREAM, "--input", str(source), "--failed-out", str(failed)]) == 2
    report = json.loads(capsys.readouterr().out)
    assert (report["records"], report["sent"], report["failed"], report["calls"]) == (1200, 500, 700, 2)
    assert failed.read_text().splitlines() == lines[500:]


def test_records_kinesis_would_refuse_are_permanent_failures_and_exit_1(kinesis, tmp_path, capsys):
    source, failed = tmp_path / "in.ndjson", tmp_path / "failed.ndjson"
    lines = ndjson(source, 3)
    huge = json.dumps({"id": "huge", "pad": "x" * (1024 * 1024)})
    with source.open("a") as out:
        out.write(huge + "\n")
    assert cli.main(["--stream", STREAM, "--input", str(source), "--failed-out", str(failed)]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert (report["records"], report["sent"], report["failed"], report["failed_retryable"]) == (4, 3, 1, 0)
    assert report["fatal"] is None
    assert "InvalidRecord" in one_sentence(captured.err)
    assert failed.read_text() == huge + "\n"
    assert len(lines) == report["sent"]


def test_failed_out_is_emptied_when_everything_was_sent(kinesis, tmp_path, capsys):
    source, failed = tmp_path / "in.ndjson", tmp_path / "failed.ndjson"
    ndjson(source, 10)
    failed.write_text('{"left over": "from an earlier run"}\n')
    assert cli.main(["--stream", STREAM, "--input", str(source), "--failed-out", str(failed)]) == 0
    assert capsys.readouterr().err == ""
    assert failed.read_text() == ""


def test_resending_from_the_failed_out_file_itself(kinesis, tmp_path, capsys):
    failed = tmp_path / "failed.ndjson"
    ndjson(failed, 10)
    assert cli.main(["--stream", STREAM, "--input", str(failed), "--failed-out", str(failed)]) == 0
    assert json.loads(capsys.readouterr().out)["sent"] == 10
    assert failed.read_text() == ""


class Clock:
    """Stands in for the time module: sleeping moves the clock on and takes no time."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_pacing_stops_once_the_producer_has_stopped(aws, capsys, monkeypatch):
    counted_backoff(monkeypatch)
    clock = Clock()
    monkeypatch.setattr(cli, "time", clock)
    code = cli.main(["--stream", "no-such-stream", "--synthetic", "--count", "2000", "--rate", "100"])
    assert code == 2
    assert json.loads(capsys.readouterr().out)["failed"] == 2000
    # The first call goes out after 500 records, 5 s into the run; the other 1,500 are not paced.
    assert clock.now <= 5.0


def test_the_cli_client_does_not_retry_connections_itself():
    config = cli.kinesis_client().meta.config
    assert config.retries["total_max_attempts"] == 1
    assert config.connect_timeout <= 5


# The same CLI as a separate process, the way a user runs it.


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT / "layers" / "common"),
        # Never a real account, a real profile or the instance metadata service.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    return subprocess.run(
        [sys.executable, "-m", "tributary_cli.produce", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=120,
        check=False,
    )


CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}


@pytest.fixture(scope="module")
def moto_server():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_stream(StreamName=STREAM, ShardCount=4)
    yield endpoint
    server.stop()


def test_process_sends_stdin_and_exits_0(moto_server):
    lines = [json.dumps({"id": f"r-{i}", "payload": {"device_id": f"d{i % 9}"}}) for i in range(50)]
    result = run(
        ["--stream", STREAM, "--aggregate"], {**CREDENTIALS, "AWS_ENDPOINT_URL": moto_server}, "\n".join(lines) + "\n"
    )
    assert (result.returncode, result.stderr) == (0, "")
    report = json.loads(result.stdout)
    assert (report["records"], report["sent"], report["failed"], report["fatal"]) == (50, 50, 0, None)


def test_process_exits_1_when_a_record_cannot_be_sent(moto_server):
    lines = ['{"id": "ok"}', json.dumps({"id": "huge", "pad": "x" * (1024 * 1024)})]
    result = run(["--stream", STREAM], {**CREDENTIALS, "AWS_ENDPOINT_URL": moto_server}, "\n".join(lines) + "\n")
    assert result.returncode == 1
    assert "InvalidRecord" in one_sentence(result.stderr)
    assert json.loads(result.stdout)["sent"] == 1


def test_process_with_a_missing_input_exits_2(tmp_path):
    result = run(["--stream", STREAM, "--input", str(tmp_path / "nope.ndjson")], CREDENTIALS)
    assert result.returncode == 2
    assert result.stdout == ""
    assert "nope.ndjson" in one_sentence(result.stderr)


def test_process_without_credentials_stops_at_once(tmp_path):
    source, failed = tmp_path / "in.ndjson", tmp_path / "failed.ndjson"
    lines = ndjson(source, 2000)
    result = run(
        ["--stream", STREAM, "--input", str(source), "--failed-out", str(failed)], {"AWS_DEFAULT_REGION": "eu-west-1"}
    )
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert (report["calls"], report["sent"], report["failed"]) == (1, 0, 2000)
    assert report["failure_reasons"] == ["NoCredentialsError"]
    assert "credentials" in one_sentence(result.stderr).lower()
    assert failed.read_text().splitlines() == lines


def test_process_without_a_region_exits_2(tmp_path):
    source = tmp_path / "in.ndjson"
    ndjson(source, 3)
    result = run(["--stream", STREAM, "--input", str(source)], {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})
    assert result.returncode == 2
    assert "region" in one_sentence(result.stderr).lower()


def test_process_with_an_unreachable_endpoint_stops_at_once(tmp_path):
    source = tmp_path / "in.ndjson"
    ndjson(source, 1000)
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = run(
        ["--stream", STREAM, "--input", str(source), "--aggregate"], {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}
    )
    assert result.returncode == 2
    report = json.loads(result.stdout)
    assert (report["sent"], report["failed"], report["failure_reasons"]) == (0, 1000, ["EndpointConnectionError"])
    assert endpoint in one_sentence(result.stderr)
