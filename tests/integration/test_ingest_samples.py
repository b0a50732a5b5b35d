"""The ingest function driven by API Gateway's own event shape, with a Kinesis stream read back.

The events are the HTTP API (payload format 2.0) samples of Powertools for AWS Lambda (Python),
kept unmodified in tests/events/powertools/; only ``body``, ``isBase64Encoded`` and headers are
replaced. "Nothing is put unless it is answered accepted" is checked on the stream itself: every
record answered accepted is in it exactly once, and nothing else is.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
from collections import Counter
from pathlib import Path

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest_api import handler
from tributary.producer import MAX_RECORD_BYTES

# Every sample that carries a body. Some are GETs: the route sends only POSTs to the function,
# which does not look at the method, so their shape serves as well (the IAM one is our route's).
SAMPLES = sorted(
    path
    for path in (Path(__file__).parents[1] / "events" / "powertools").glob("apiGatewayProxyV2*.json")
    if json.loads(path.read_text()).get("body")
)
_streams = itertools.count()


def aws_event(sample: Path, body: bytes, headers: dict[str, str] | None = None, base64_body: bool = False) -> dict:
    event = json.loads(sample.read_text())
    event["headers"] = {**event["headers"], **(headers or {})}
    event["body"] = base64.b64encode(body).decode("ascii") if base64_body else body.decode("utf-8")
    event["isBase64Encoded"] = base64_body
    return event


@pytest.fixture
def kinesis(aws):
    return boto3.client("kinesis")


def new_stream(kinesis, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"events-{next(_streams)}"
    kinesis.create_stream(StreamName=name, ShardCount=2)
    monkeypatch.setenv("STREAM_NAME", name)
    monkeypatch.setattr(handler, "_producer", None)
    return name


def stream_records(kinesis, name: str) -> list[tuple[bytes, str]]:
    """Every record in the stream, as (data, partition key)."""
    out = []
    for shard in kinesis.list_shards(StreamName=name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
            out.extend((r["Data"], r["PartitionKey"]) for r in page["Records"])
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return out


def invoke(event: dict) -> tuple[int, dict]:
    response = handler.handle(event, None)
    assert response["headers"]["content-type"] == "application/json"
    return response["statusCode"], json.loads(response["body"].encode("utf-8"))


def assert_stream_holds_exactly_the_accepted(kinesis, name: str, results: list[dict]) -> None:
    stored = stream_records(kinesis, name)
    for data, key in stored:
        assert len(data) + len(key.encode("utf-8")) <= MAX_RECORD_BYTES
    accepted = Counter(r["id"] for r in results if r["status"] == "accepted")
    assert Counter(json.loads(data)["id"] for data, _ in stored) == accepted
    assert all(count == 1 for count in accepted.values())


def envelope(i: int, **changes) -> dict:
    item = {
        "id": f"r-{i}",
        "type": "device.reading",
        "source": f"iot/s{i}",
        "time": "2026-11-22T10:00:00Z",
        "payload": {"device_id": f"s{i % 3}", "v": i},
    }
    item.update(changes)
    return item


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_each_samples_own_body_is_one_record(kinesis, monkeypatch, sample):
    # Among them a pretty-printed object with CRLF line ends: one record, not one per line.
    name = new_stream(kinesis, monkeypatch)
    status, out = invoke(json.loads(sample.read_text()))
    assert status == 400
    assert [(r["index"], r["reason"]) for r in out["results"]] == [(0, "missing_field")]
    assert stream_records(kinesis, name) == []


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_records_posted_through_each_sample_are_answered_and_stored_once(kinesis, monkeypatch, sample):
    name = new_stream(kinesis, monkeypatch)
    body = (
        "["
        + ",".join(
            [
                json.dumps(envelope(1)),
                '{"id":"r-2","payload":{"v":NaN}}',
                json.dumps(envelope(3, time="2026-11-22T10:00:00+24:00")),
                json.dumps(envelope(4, payload={"\ud800": 1})),
                json.dumps(envelope(5)),
            ]
        )
        + "]"
    ).encode()
    status, out = invoke(aws_event(sample, body, {"Content-Type": "application/json"}))
    assert status == 207
    assert [r.get("reason", r["status"]) for r in out["results"]] == [
        "accepted",
        "not_json",
        "bad_time",
        "bad_unicode",
        "accepted",
    ]
    assert_stream_holds_exactly_the_accepted(kinesis, name, out["results"])


def test_gzip_ndjson_with_headers_in_any_case(kinesis, monkeypatch):
    name = new_stream(kinesis, monkeypatch)
    body = gzip.compress("\r\n".join(json.dumps(envelope(i)) for i in range(5)).encode())
    headers = {"CONTENT-TYPE": "application/x-ndjson", "Content-Encoding": "gzip"}
    status, out = invoke(aws_event(SAMPLES[0], body, headers, base64_body=True))
    assert (status, out["accepted"]) == (200, 5)
    assert_stream_holds_exactly_the_accepted(kinesis, name, out["results"])


def test_a_gzip_bomb_is_413_and_nothing_is_stored(kinesis, monkeypatch):
    name = new_stream(kinesis, monkeypatch)
    bomb = gzip.compress(b"[" + json.dumps(envelope(1)).encode() + b"," + b" " * 32_000_000 + b"]")
    status, out = invoke(aws_event(SAMPLES[0], bomb, {"content-encoding": "gzip"}, base64_body=True))
    assert (status, out["error"]) == (413, "body_too_large")
    assert stream_records(kinesis, name) == []


# --- property: whatever the body holds, every record is answered and only accepted ones are stored ---

GOOD_TIME = "2026-11-22T10:15:30.5Z"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=8,
)
# Written into the body as they are (json.dumps cannot write most of them), with the answer each must get.
NUMBERS = [
    ("NaN", "not_json"),
    ("Infinity", "not_json"),
    ("-Infinity", "not_json"),
    ("1e400", "not_json"),
    ("-1E+400", "not_json"),
    ("9" * 400 + ".5", "not_json"),
    ("1" + "0" * 399, "accepted"),
    ("-" + "7" * 38, "accepted"),
    ("1234567890123456789012345678901234567.8", "accepted"),
    ("1e9", "accepted"),
    ("-0", "accepted"),
    ("1e-7", "accepted"),
    ("0.1e1", "accepted"),
]
TIMES = [
    ("2026-11-22T10:00:00+24:00", "bad_time"),
    ("2026-11-22T10:00:00-00:60", "bad_time"),
    ("2026-11-22T10:00:00+99:99", "bad_time"),
    ("9999-12-31T23:59:59-00:01", "bad_time"),
    ("0001-01-01T00:00:00+00:01", "bad_time"),
    ("\uff12\uff10\uff12\uff16-11-22T10:00:00Z", "bad_time"),
    ("\u0662\u0660\u0662\u0666-11-22T10:00:00Z", "bad_time"),
    ("2026-11-22T1\u0966:00:00Z", "bad_time"),
    ("2026-02-30T10:00:00Z", "bad_time"),
    ("2026-11-22 10:00:00Z", "bad_time"),
    ("2026-11-22T10:00:00+23:59", "accepted"),
    ("2026-11-22T10:00:00-23:59", "accepted"),
    ("2026-11-22t10:00:00.123456789z", "accepted"),
    ("2026-12-31T23:59:60Z", "accepted"),
    ("0001-01-01T00:00:00Z", "accepted"),
]
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
SURROGATE_PLACES = ["payload value", "payload key", "unknown key", "time", "type"]


def render(item: dict, numbers: dict[str, str], pretty: bool) -> str:
    """``item`` as JSON text, with each marker string replaced by the raw number it stands for."""
    options = {"indent": "\t"} if pretty else {"separators": (",", ":")}
    text = json.dumps(item, ensure_ascii=False, **options)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: only its escape can be sent
        text = json.dumps(item, ensure_ascii=True, **options)
    for marker, literal in numbers.items():
        text = text.replace(json.dumps(marker), literal)
    return text.replace("\n", "\r\n") if pretty else text


@st.composite
def specs(draw: st.DrawFn) -> tuple[str, object, dict[str, str], frozenset[str]]:
    """One record to build at a given index: its kind, its shape, raw numbers, and the answers allowed."""
    kind = draw(st.sampled_from(["good", "number", "surrogate", "time", "any time", "duplicate", "not object"]))
    payload = draw(st.dictionaries(st.text(max_size=6), json_values, max_size=4))
    item: dict = {"type": "device.reading", "source": "iot/s", "time": GOOD_TIME, "payload": payload}
    numbers: dict[str, str] = {}
    if kind == "good":
        return kind, item, numbers, frozenset({"accepted"})
    if kind == "number":
        literal, answer = draw(st.sampled_from(NUMBERS))
        numbers["@number@"] = literal
        item["payload"] = {**payload, "n": "@number@"} if draw(st.booleans()) else {"deep": [{"n": ["@number@"]}]}
        return kind, item, numbers, frozenset({answer})
    if kind == "surrogate":
        lone, place = draw(SURROGATES), draw(st.sampled_from(SURROGATE_PLACES))
        if place == "payload value":
            item["payload"] = {**payload, "s": "text " + lone}
        elif place == "payload key":
            item["payload"] = {**payload, lone: 1}
        elif place == "unknown key":
            item[lone + "key"] = 1
        else:
            item[place] = item[place] + lone
        return kind, item, numbers, frozenset({"bad_unicode"})
    if kind == "time":
        item["time"], answer = draw(st.sampled_from(TIMES))
        return kind, item, numbers, frozenset({answer})
    if kind == "any time":
        item["time"] = draw(st.text(max_size=40) | st.integers() | st.none() | st.lists(st.integers(), max_size=2))
        return kind, item, numbers, frozenset({"bad_time", "accepted"})
    if kind == "duplicate":
        # (the field as first written, the same field written again at the end; Python's json keeps the last)
        first, last, answer = draw(
            st.sampled_from(
                [
                    ('"time":"not a time"', f'"time":"{GOOD_TIME}"', "accepted"),
                    (f'"time":"{GOOD_TIME}"', '"time":"2026-11-22T10:00:00+24:00"', "bad_time"),
                    ('"payload":{"v":NaN}', '"payload":{}', "accepted"),
                    ('"payload":{}', '"payload":5', "bad_type"),
                    ('"id":"decoy"', None, "accepted"),
                ]
            )
        )
        return kind, (first, last), numbers, frozenset({answer})
    shape, answer = draw(
        st.sampled_from(
            [
                ("[1,2]", "not_object"),
                ('"a record"', "not_object"),
                ("null", "not_object"),
                ("{}", "missing_field"),
                ('{"id":"x"}', "missing_field"),
            ]
        )
    )
    return kind, shape, numbers, frozenset({answer})


@st.composite
def big_specs(draw: st.DrawFn) -> tuple[str, object, dict[str, str], frozenset[str]]:
    """A record near Kinesis's 1 MiB limit: a long string, or many numbers that grow when written back."""
    if draw(st.booleans()):
        pad = draw(st.sampled_from(["x", "\u00e9", "\U0001f600"]))
        return (
            "long string",
            (MAX_RECORD_BYTES + draw(st.integers(-400, 100)), pad),
            {},
            frozenset({"accepted", "too_large"}),
        )
    count, answer = draw(st.sampled_from([(80_000, "accepted"), (81_000, "too_large")]))
    return "many numbers", count, {}, frozenset({answer})


def build(index: int, spec: tuple, pretty: bool) -> str:
    kind, shape, numbers, _ = spec
    if kind == "not object":
        return shape
    if kind == "duplicate":
        first, last = shape
        fields = {
            "id": f'"id":"r-{index}"',
            "type": '"type":"t"',
            "source": '"source":"s"',
            "time": f'"time":"{GOOD_TIME}"',
            "payload": '"payload":{}',
        }
        fields[first.split(":", 1)[0].strip('"')] = first
        return "{" + ",".join(fields.values()) + "," + (last or f'"id":"r-{index}"') + "}"
    head = f'{{"id":"r-{index}","type":"t","source":"s","time":"{GOOD_TIME}","payload":{{"device_id":"d",'
    if kind == "many numbers":
        return head + '"n":[' + ",".join(["1e9"] * shape) + "]}}"
    if kind == "long string":
        size, pad = shape
        return head + '"pad":"' + pad * ((size - len(head)) // len(pad.encode("utf-8"))) + '"}}'
    return render({"id": f"r-{index}", **shape}, numbers, pretty)


@st.composite
def requests(draw: st.DrawFn) -> tuple[bytes, dict[str, str], bool, list[frozenset[str]]]:
    """A request body, its headers, whether it is base64, and the answers allowed for each record."""
    shape = draw(st.sampled_from(["array", "object", "ndjson"]))
    chosen = draw(st.lists(specs(), min_size=1, max_size=1 if shape == "object" else 7))
    big = draw(st.none() | big_specs())
    if big is not None and shape != "object":
        chosen.insert(draw(st.integers(0, len(chosen))), big)
    pretty = shape != "ndjson" and draw(st.booleans())
    texts = [build(i, spec, pretty) for i, spec in enumerate(chosen)]
    if shape == "object" and not isinstance(json.loads(texts[0]), dict):
        shape = "array"  # a body that is one scalar or one array is not one record
    if shape == "ndjson":
        newline = draw(st.sampled_from(["\n", "\r\n"]))
        body = newline.join(texts) + draw(st.sampled_from(["", newline, newline * 3]))
        labels = ["application/x-ndjson", "application/jsonl"]
        if isinstance(json.loads(texts[0]), dict):  # unlabelled NDJSON is split only when it starts with an object
            labels += ["", "text/plain"]
    elif shape == "array":
        body = "[" + draw(st.sampled_from([",", ",\r\n", " ,\n\t"])).join(texts) + "]"
        labels = ["application/json", "application/json; charset=UTF-8", "", "text/plain"]
    else:
        body = texts[0]
        labels = ["application/json", "", "text/plain"]
    data = body.encode("utf-8")
    headers = {}
    label = draw(st.sampled_from(labels))
    if label:
        headers[draw(st.sampled_from(["content-type", "Content-Type"]))] = label
    encoded = draw(st.booleans())
    if draw(st.booleans()):
        data, encoded = gzip.compress(data, compresslevel=1), True
        headers["content-encoding"] = "gzip"
    return data, headers, encoded, [answers for *_, answers in chosen]


def status_for(counts: Counter) -> int:
    if counts["accepted"] == sum(counts.values()):
        return 200
    if counts["accepted"]:
        return 207
    return 503 if counts["failed"] else 400


# One moto for the whole test, shared by its examples on purpose; each example makes its own stream.
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(request=requests(), sample=st.sampled_from(SAMPLES))
def test_every_record_is_answered_in_order_and_only_accepted_ones_are_stored(kinesis, request, sample):
    data, headers, encoded, allowed = request
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("MAX_BODY_BYTES", str(16 * MAX_RECORD_BYTES))
        name = new_stream(kinesis, monkeypatch)
        status, out = invoke(aws_event(sample, data, headers, base64_body=encoded))
        results = out["results"]
        assert [r["index"] for r in results] == list(range(len(allowed)))
        for result, answers in zip(results, allowed, strict=True):
            assert result.get("reason", result["status"]) in answers, result
            assert result["status"] == "accepted" or isinstance(result["detail"], str)
        counts = Counter(r["status"] for r in results)
        assert (out["accepted"], out["rejected"], out["failed"]) == (
            counts["accepted"],
            counts["rejected"],
            counts["failed"],
        )
        assert status == status_for(counts)
        assert_stream_holds_exactly_the_accepted(kinesis, name, results)
        kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
