from __future__ import annotations

import base64
import copy

from tests.conftest import load_event
from tributary import kinesis, kpl


def test_decodes_the_documented_event():
    event = load_event("kinesis.json")
    good, bad = kinesis.decode_batch(event["Records"])
    assert bad == []
    assert [r.data for r in good] == [b"Hello, this is a test.", b"This is only a test."]
    first = good[0]
    assert first.shard_id == "shardId-000000000006"
    assert first.sequence_number == "49590338271490256608559692538361571095921575989136588898"
    assert first.subsequence is None
    assert first.partition_key == "1"
    assert first.arrival == 1545084650.987


def test_aggregated_records_get_subsequence_numbers():
    event = load_event("kinesis.json")
    raw = copy.deepcopy(event["Records"][0])
    raw["kinesis"]["data"] = base64.b64encode(kpl.encode([("a", b"1"), ("b", b"2")])).decode()
    good, bad = kinesis.decode_batch([raw])
    assert bad == []
    assert [(r.data, r.partition_key, r.subsequence) for r in good] == [(b"1", "a", 0), (b"2", "b", 1)]


def test_undecodable_records_are_rejected_not_raised():
    event = load_event("kinesis.json")
    raw = copy.deepcopy(event["Records"][0])
    raw["kinesis"]["data"] = "!!not base64!!"
    broken = copy.deepcopy(event["Records"][1])
    broken["kinesis"]["data"] = base64.b64encode(kpl.MAGIC + b"x" * 30).decode()
    good, bad = kinesis.decode_batch([raw, broken])
    assert good == []
    assert [b.reason for b in bad] == ["bad_base64", "kpl_digest_mismatch"]
    assert bad[0].raw == b"!!not base64!!"


def test_sequence_numbers_compare_as_integers():
    assert kinesis.position("9") < kinesis.position("10")
    assert kinesis.position("10") < kinesis.position("10", 0) < kinesis.position("10", 1)
