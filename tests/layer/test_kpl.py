from __future__ import annotations

import base64
import hashlib

import pytest
from aws_kinesis_agg.aggregator import RecordAggregator
from aws_kinesis_agg.deaggregator import deaggregate_records
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.examples import examples
from tributary import kpl

pairs = st.lists(st.tuples(st.text(min_size=1, max_size=16), st.binary(max_size=200)), min_size=1, max_size=40)


@settings(max_examples=examples(100), deadline=None)
@given(pairs)
def test_round_trip(records):
    blob = kpl.encode(records)
    assert kpl.is_aggregated(blob)
    assert [(r.partition_key, r.data) for r in kpl.deaggregate(blob)] == records


@settings(max_examples=examples(50), deadline=None)
@given(pairs)
def test_reads_what_the_reference_aggregator_writes(records):
    aggregator = RecordAggregator()
    blobs = []
    for key, data in records:
        done = aggregator.add_user_record(key, data)
        if done:
            blobs.append(done.get_contents()[2])
    if aggregator.get_num_user_records():
        blobs.append(aggregator.clear_and_get().get_contents()[2])
    ours = [(r.partition_key, r.data) for blob in blobs for r in kpl.deaggregate(blob)]
    assert ours == records


hash_keys = st.one_of(st.none(), st.integers(0, 2**128 - 1).map(str))
triples = st.lists(
    st.tuples(st.text(min_size=1, max_size=16), hash_keys, st.binary(max_size=200)), min_size=1, max_size=40
)


@settings(max_examples=examples(50), deadline=None)
@given(triples)
def test_reads_the_explicit_hash_keys_the_reference_aggregator_writes(records):
    aggregator = RecordAggregator()
    blobs = []
    for key, explicit_hash_key, data in records:
        done = aggregator.add_user_record(key, data, explicit_hash_key)
        if done:
            blobs.append(done.get_contents()[2])
    if aggregator.get_num_user_records():
        blobs.append(aggregator.clear_and_get().get_contents()[2])
    ours = [(r.partition_key, r.explicit_hash_key, r.data) for blob in blobs for r in kpl.deaggregate(blob)]
    assert ours == records


def test_reference_deaggregator_reads_what_we_write():
    records = [("device-1", b'{"a":1}'), ("device-2", b'{"b":2}'), ("device-1", b'{"c":3}')]
    blob = kpl.encode(records)
    event = [
        {
            "kinesis": {
                "data": base64.b64encode(blob).decode(),
                "partitionKey": "device-1",
                "sequenceNumber": "1",
                "kinesisSchemaVersion": "1.0",
                "approximateArrivalTimestamp": 1.0,
            }
        }
    ]
    out = deaggregate_records(event)
    assert [(r["kinesis"]["partitionKey"], base64.b64decode(r["kinesis"]["data"])) for r in out] == records


def test_damaged_aggregates_are_refused_with_a_reason():
    blob = kpl.encode([("k", b"data")])
    with pytest.raises(kpl.KplError) as caught:
        kpl.deaggregate(blob[:-1] + bytes([blob[-1] ^ 1]))
    assert caught.value.reason == "kpl_digest_mismatch"
    with pytest.raises(kpl.KplError) as caught:
        kpl.deaggregate(kpl.MAGIC + b"\x00")
    assert caught.value.reason == "kpl_truncated"
    body = b"\xff\xff\xff"
    with pytest.raises(kpl.KplError) as caught:
        kpl.deaggregate(kpl.MAGIC + body + hashlib.md5(body).digest())
    assert caught.value.reason == "kpl_malformed"
    with pytest.raises(kpl.KplError) as caught:
        kpl.deaggregate(b'{"plain": true}')
    assert caught.value.reason == "kpl_not_aggregated"


def test_partition_key_index_out_of_range_is_malformed():
    message = kpl.AggregatedRecord()
    message.partition_key_table.append("k")
    entry = message.records.add()
    entry.partition_key_index = 3
    entry.data = b"x"
    body = message.SerializeToString()
    with pytest.raises(kpl.KplError, match="partition key"):
        kpl.deaggregate(kpl.MAGIC + body + hashlib.md5(body).digest())


@settings(max_examples=examples(30), deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "bb", "device-000123"]), st.binary(min_size=1, max_size=3000)),
        min_size=1,
        max_size=200,
    )
)
def test_aggregator_never_exceeds_its_size_and_keeps_every_record(records):
    aggregator = kpl.Aggregator(max_bytes=8_000)
    blobs = []
    for key, data in records:
        blobs.extend(aggregator.add(key, data))
    blobs.extend(aggregator.flush())
    assert all(len(blob) <= 8_000 for _, blob in blobs)
    assert [(r.partition_key, r.data) for _, blob in blobs for r in kpl.deaggregate(blob)] == records
    assert all(key == kpl.deaggregate(blob)[0].partition_key for key, blob in blobs)
