from __future__ import annotations

import json
import random
from collections import Counter

import boto3
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ReadTimeoutError,
)

from tributary import kpl
from tributary.producer import MAX_BYTES_PER_CALL, MAX_RECORDS_PER_CALL, Entry, Failure, Producer
from tributary_cli import produce as cli
from tributary_cli import synthetic

STREAM = "events"


class FlakyKinesis:
    """A Kinesis client that fails a share of the records in each PutRecords call, the way a
    throttled shard does: the failed records are not written and the response says so."""

    def __init__(self, real, fail_rate: float, seed: int = 0, fail_calls: int = 0) -> None:
        self.real = real
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.fail_calls = fail_calls
        self.calls: list[int] = []

    def put_records(self, StreamName, Records):  # noqa: N803 (boto3's argument names)
        self.calls.append(len(Records))
        assert len(Records) <= MAX_RECORDS_PER_CALL
        assert sum(len(r["Data"]) + len(r["PartitionKey"].encode()) for r in Records) <= MAX_BYTES_PER_CALL
        if self.fail_calls:
            self.fail_calls -= 1
            raise self.real.exceptions.ProvisionedThroughputExceededException(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "PutRecords"
            )
        failing = [self.rng.random() < self.fail_rate for _ in Records]
        kept = [r for r, fail in zip(Records, failing, strict=True) if not fail]
        written = iter(self.real.put_records(StreamName=StreamName, Records=kept)["Records"] if kept else [])
        results = [
            {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded for shard"}
            if fail
            else next(written)
            for fail in failing
        ]
        return {"FailedRecordCount": sum(failing), "Records": results}

    def list_shards(self, **kwargs):
        return self.real.list_shards(**kwargs)


@pytest.fixture
def kinesis(aws):
    client = boto3.client("kinesis")
    client.create_stream(StreamName=STREAM, ShardCount=2)
    return client


def read_stream(client) -> list[bytes]:
    """Every user record in the stream, aggregates opened."""
    out = []
    for shard in client.list_shards(StreamName=STREAM)["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName=STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = client.get_records(ShardIterator=iterator, Limit=10000)
            for record in page["Records"]:
                data = record["Data"]
                out.extend(r.data for r in kpl.deaggregate(data)) if kpl.is_aggregated(data) else out.append(data)
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return out


def entries(n: int, size: int = 100) -> list[Entry]:
    return [Entry(json.dumps({"i": i, "pad": "x" * size}).encode(), f"device-{i % 13}") for i in range(n)]


@pytest.mark.parametrize("aggregate", [False, True])
def test_partial_failures_are_resubmitted_until_every_record_arrives_once(kinesis, aggregate):
    flaky = FlakyKinesis(kinesis, fail_rate=0.3, seed=7)
    sleeps = []
    producer = Producer(
        STREAM,
        client=flaky,
        max_attempts=20,
        aggregate=aggregate,
        sleep=sleeps.append,
        rng=random.Random(1),
        max_aggregate_bytes=4000,
    )
    sent = entries(1200)
    report = producer.send(sent)
    assert report.failed == []
    assert (report.records, report.sent) == (1200, 1200)
    assert report.retried > 0
    assert sleeps
    assert all(0 <= s <= producer.max_delay for s in sleeps)
    assert Counter(read_stream(kinesis)) == Counter(e.data for e in sent)
    if aggregate:
        assert report.kinesis_records < 1200 / 10
    else:
        assert report.kinesis_records == 1200


def test_calls_respect_the_500_record_and_5_mib_limits(kinesis):
    flaky = FlakyKinesis(kinesis, fail_rate=0.0)
    report = Producer(STREAM, client=flaky).send(entries(1100, size=10) + entries(12, size=900_000))
    assert report.failed == []
    # 1,100 small records, then 12 of 900 KB: five of those fit in 5 MiB with the last 100 small ones.
    assert flaky.calls == [500, 500, 105, 5, 2]


def test_records_it_cannot_send_are_reported_not_dropped(kinesis):
    flaky = FlakyKinesis(kinesis, fail_rate=1.0)
    producer = Producer(STREAM, client=flaky, max_attempts=3, sleep=lambda s: None)
    too_big = Entry(b"x" * (1024 * 1024), "k")
    no_key = Entry(b"{}", "")
    report = producer.send([*entries(10), too_big, no_key])
    assert report.sent == 0
    assert len(report.failed) == 12
    reasons = Counter((f.error_code, f.retryable) for f in report.failed)
    assert reasons == {("ProvisionedThroughputExceededException", True): 10, ("InvalidRecord", False): 2}
    assert len(flaky.calls) == 3  # bounded attempts
    summary = report.as_dict()
    assert (summary["failed"], summary["failed_retryable"], summary["fatal"]) == (12, 10, None)


def test_failures_made_without_saying_whether_they_may_be_retried_still_work():
    failure = Failure(Entry(b"{}", "k"), "InternalFailure", "x")
    assert (failure.entry.partition_key, failure.error_code, failure.retryable) == ("k", "InternalFailure", True)


def test_a_whole_call_failing_is_retried(kinesis):
    flaky = FlakyKinesis(kinesis, fail_rate=0.0, fail_calls=2)
    report = Producer(STREAM, client=flaky, sleep=lambda s: None).send(entries(5))
    assert report.failed == []
    assert report.sent == 5
    assert len(read_stream(kinesis)) == 5


def test_backoff_grows_and_is_jittered():
    class Failing:
        def put_records(self, StreamName, Records):  # noqa: N803
            return {
                "FailedRecordCount": len(Records),
                "Records": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"} for _ in Records],
            }

    sleeps: list[float] = []
    Producer(
        STREAM,
        client=Failing(),
        max_attempts=6,
        base_delay=0.1,
        max_delay=1.0,
        sleep=sleeps.append,
        rng=random.Random(3),
    ).send(entries(1))
    assert len(sleeps) == 5
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.0]
    assert all(0 <= s <= c for s, c in zip(sleeps, ceilings, strict=True))
    assert len(set(sleeps)) == 5


def test_cli_sends_ndjson_from_a_file(kinesis, tmp_path, capsys):
    lines = [json.dumps({"id": str(i), "payload": {"device_id": f"d{i}"}}) for i in range(25)]
    source = tmp_path / "in.ndjson"
    source.write_text("\n".join(lines) + "\n\n")
    assert cli.main(["--stream", STREAM, "--input", str(source)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["records"], report["sent"], report["failed"]) == (25, 25, 0)
    assert sorted(read_stream(kinesis)) == sorted(line.encode() for line in lines)


def test_cli_generates_synthetic_events_with_malformed_ones_and_aggregates(kinesis, capsys):
    assert (
        cli.main(
            ["--stream", STREAM, "--synthetic", "--count", "300", "--malformed", "0.1", "--aggregate", "--seed", "4"]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["sent"] == 300
    assert report["kinesis_records"] < 300
    expected = [r.data for r in synthetic.generate(300, seed=4, malformed=0.1)]
    got = read_stream(kinesis)
    assert len(got) == 300
    # Same records, apart from the event times generated relative to now.
    assert sum(1 for d in got if not d.startswith(b'{"id"')) == sum(1 for d in expected if not d.startswith(b'{"id"'))


def test_cli_writes_what_it_could_not_send_and_exits_1(tmp_path, capsys, monkeypatch, kinesis):
    monkeypatch.setattr(
        cli,
        "Producer",
        lambda stream, **kw: Producer(
            stream, client=FlakyKinesis(kinesis, fail_rate=1.0), max_attempts=2, sleep=lambda s: None
        ),
    )
    out = tmp_path / "failed.ndjson"
    source = tmp_path / "in.ndjson"
    source.write_text('{"a":1}\n{"a":2}\n')
    assert cli.main(["--stream", STREAM, "--input", str(source), "--failed-out", str(out)]) == 1
    assert out.read_text() == '{"a":1}\n{"a":2}\n'
    assert "not sent (ProvisionedThroughputExceededException)" in capsys.readouterr().err


def test_synthetic_records_are_about_one_kilobyte_and_deterministic():
    records = list(synthetic.generate(500, seed=9, malformed=0.2, start=1_790_000_000.0))
    assert records == list(synthetic.generate(500, seed=9, malformed=0.2, start=1_790_000_000.0))
    good = [r for r in records if r.malformed is None]
    mean = sum(len(r.data) for r in good) / len(good)
    assert 700 <= mean <= 1300
    share = sum(1 for r in records if r.malformed) / len(records)
    assert 0.12 <= share <= 0.28
    assert {r.malformed for r in records if r.malformed} == set(synthetic.MALFORMATIONS)


class Refusing:
    """A Kinesis client whose every PutRecords call fails with the same error."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls = 0

    def put_records(self, StreamName, Records):  # noqa: N803
        self.calls += 1
        raise self.error


def client_error(code: str, message: str = "refused", status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutRecords"
    )


ENDPOINT = "https://kinesis.eu-west-1.amazonaws.com/"
FATAL = {
    "ResourceNotFoundException": client_error("ResourceNotFoundException", "Stream events under account 1 not found."),
    "AccessDeniedException": client_error("AccessDeniedException", "not authorized to perform: kinesis:PutRecords"),
    "ValidationException": client_error("ValidationException", "1 validation error detected"),
    "InvalidArgumentException": client_error("InvalidArgumentException", "bad request"),
    "KMSAccessDeniedException": client_error("KMSAccessDeniedException", "no access to the key"),
    "KMSDisabledException": client_error("KMSDisabledException", "the key is disabled"),
    "KMSNotFoundException": client_error("KMSNotFoundException", "no such key"),
    "KMSInvalidStateException": client_error("KMSInvalidStateException", "the key is pending deletion"),
    "KMSOptInRequired": client_error("KMSOptInRequired", "not subscribed to KMS"),
    "UnrecognizedClientException": client_error("UnrecognizedClientException", "The security token is invalid."),
    "NoCredentialsError": NoCredentialsError(),
    "NoRegionError": NoRegionError(),
    "EndpointConnectionError": EndpointConnectionError(endpoint_url=ENDPOINT),
    "404": client_error("404", "Not Found", status=404),  # an endpoint that is not Kinesis
}
RETRYABLE = {
    "ProvisionedThroughputExceededException": client_error("ProvisionedThroughputExceededException"),
    "InternalFailure": client_error("InternalFailure", status=500),
    "ServiceUnavailable": client_error("ServiceUnavailable", status=503),
    "ThrottlingException": client_error("ThrottlingException"),
    "KMSThrottlingException": client_error("KMSThrottlingException"),
    "ReadTimeoutError": ReadTimeoutError(endpoint_url=ENDPOINT),
}


@pytest.mark.parametrize("code", sorted(FATAL))
@pytest.mark.parametrize("aggregate", [False, True])
def test_an_error_no_retry_can_mend_stops_the_send_at_once(code, aggregate):
    client = Refusing(FATAL[code])
    client.list_shards = lambda **kw: {"Shards": []}  # an empty map: every record goes out plain
    sleeps: list[float] = []
    report = Producer(STREAM, client=client, aggregate=aggregate, sleep=sleeps.append).send(entries(1200))
    assert client.calls == 1
    assert sleeps == []
    assert (report.records, report.sent, len(report.failed)) == (1200, 0, 1200)
    assert {(f.error_code, f.retryable) for f in report.failed} == {(code, False)}
    assert [f.entry for f in report.failed] == entries(1200)
    assert code in report.fatal
    assert report.as_dict()["fatal"] == report.fatal


@pytest.mark.parametrize("code", sorted(RETRYABLE))
def test_errors_that_may_pass_are_retried_a_bounded_number_of_times(code):
    client = Refusing(RETRYABLE[code])
    sleeps: list[float] = []
    report = Producer(STREAM, client=client, max_attempts=4, sleep=sleeps.append).send(entries(10))
    assert client.calls == 4
    assert len(sleeps) == 3
    assert report.fatal is None
    assert {(f.error_code, f.retryable) for f in report.failed} == {(code, True)}


def test_an_endpoint_that_never_answers_stops_the_send_after_one_calls_attempts():
    client = Refusing(ConnectTimeoutError(endpoint_url=ENDPOINT))
    sleeps: list[float] = []
    report = Producer(STREAM, client=client, max_attempts=4, sleep=sleeps.append).send(entries(1200))
    assert client.calls == 4  # not 4 for each of the three calls 1,200 records need
    assert len(sleeps) == 3
    assert (report.records, report.sent, len(report.failed)) == (1200, 0, 1200)
    assert {(f.error_code, f.retryable) for f in report.failed} == {("ConnectTimeoutError", False)}
    assert "ConnectTimeoutError" in report.fatal


def test_a_fatal_error_midway_reports_each_record_once_as_sent_or_failed(kinesis):
    class DeniedAfterFirstCall:
        def __init__(self) -> None:
            self.calls = 0

        def list_shards(self, **kwargs):
            return kinesis.list_shards(**kwargs)

        def put_records(self, **kwargs):
            self.calls += 1
            if self.calls > 1:
                raise client_error("AccessDeniedException", "the policy changed")
            return kinesis.put_records(**kwargs)

    sent = entries(600, size=20_000) + entries(400, size=100)  # more than one call's 5 MiB
    report = Producer(STREAM, client=DeniedAfterFirstCall(), aggregate=True).send(sent)
    delivered = Counter(read_stream(kinesis))
    not_sent = Counter(f.entry.data for f in report.failed)
    assert report.records == report.sent + len(report.failed) == 1000
    assert report.sent == sum(delivered.values()) > 0
    assert delivered + not_sent == Counter(e.data for e in sent)
    assert not delivered & not_sent
