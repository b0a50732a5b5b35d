"""The one applier both paths use: any permutation of a change log, with any duplicates,
leaves table2 equal to table1's final state."""

from __future__ import annotations

import base64
import random
from decimal import Decimal

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.events import dynamodb_stream_record
from tests.conftest import load_event
from tributary import ddb, replica

TABLE = "table2"

scalars = st.one_of(
    st.text(max_size=12), st.integers(-(10**12), 10**12).map(Decimal), st.binary(min_size=1, max_size=12),
    st.booleans(), st.none(),
)
values = st.recursive(
    st.one_of(scalars,
              st.frozensets(st.text(max_size=5), min_size=1, max_size=3).map(set),
              st.frozensets(st.integers(0, 99), min_size=1, max_size=3).map(lambda s: {Decimal(v) for v in s}),
              st.frozensets(st.binary(min_size=1, max_size=4), min_size=1, max_size=3).map(set)),
    # DynamoDB attribute names, map keys included, are at least one character.
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(min_size=1, max_size=5), inner,
                                                                         max_size=3)),
    max_leaves=6,
)
attributes = st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda n: n not in ("pk", "sk")
                                                                      and not n.startswith(replica.RESERVED_PREFIX)),
                             values, max_size=4)
operations = st.lists(st.tuples(st.sampled_from(["k0", "k1", "k2"]), st.sampled_from(["a", "b"]),
                                st.one_of(st.none(), attributes)), min_size=1, max_size=25)


def change_log(ops) -> tuple[list[dict], dict]:
    """Stream records for a sequence of puts (attributes) and deletes (None), and the final table1."""
    table1: dict[tuple[str, str], dict] = {}
    records = []
    for i, (pk, sk, attrs) in enumerate(ops):
        key = {"pk": pk, "sk": sk}
        seq = str(100_000_000_000_000_000_000 + i * 7)
        old = table1.get((pk, sk))
        keys_av = ddb.to_item(key, binary="base64")
        if attrs is None:
            if old is None:
                continue  # deleting nothing produces no stream record
            records.append(dynamodb_stream_record("REMOVE", keys_av, seq, old_image=ddb.to_item(old, "base64")))
            del table1[(pk, sk)]
        else:
            item = {**attrs, **key}
            records.append(dynamodb_stream_record("MODIFY" if old else "INSERT", keys_av, seq,
                                                  new_image=ddb.to_item(item, "base64"),
                                                  old_image=ddb.to_item(old, "base64") if old else None))
            table1[(pk, sk)] = item
    return records, table1


@pytest.fixture
def table(aws):
    client = boto3.client("dynamodb")
    client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                   {"AttributeName": "sk", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "S"}])
    return client


def replica_state(client) -> dict:
    out = {}
    for page in client.get_paginator("scan").paginate(TableName=TABLE):
        for item in page["Items"]:
            view = replica.user_view(item)
            if view is not None:
                plain = ddb.from_item(view)
                out[(plain["pk"], plain["sk"])] = plain
    return out


def clear(client) -> None:
    for page in client.get_paginator("scan").paginate(TableName=TABLE):
        for item in page["Items"]:
            client.delete_item(TableName=TABLE, Key={"pk": item["pk"], "sk": item["sk"]})


PATHS = {
    "direct": lambda record: replica.from_stream_record(record),
    "fanout": lambda record: replica.from_message(replica.to_message(replica.from_stream_record(record))),
}


@pytest.mark.parametrize("path", PATHS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations, seed=st.integers(0, 2**32), duplicates=st.integers(0, 15))
def test_any_permutation_with_duplicates_converges(table, path, ops, seed, duplicates):
    clear(table)
    records, final = change_log(ops)
    rng = random.Random(seed)
    delivered = records + [rng.choice(records) for _ in range(duplicates if records else 0)]
    rng.shuffle(delivered)
    for record in delivered:
        replica.apply(PATHS[path](record), table, TABLE, now=1_795_342_530.0)
    assert replica_state(table) == final


def test_in_order_naive_writes_would_lose_an_update_that_the_version_guard_keeps(table):
    """The naive design (put on INSERT/MODIFY, delete on REMOVE) applies a late, older change last."""
    records, final = change_log([("k0", "a", {"v": "1"}), ("k0", "a", {"v": "2"})])
    for record in reversed(records):  # reordered delivery
        replica.apply(replica.from_stream_record(record), table, TABLE)
    assert replica_state(table) == final
    assert final[("k0", "a")]["v"] == "2"


def test_a_late_update_cannot_resurrect_a_deleted_item(table):
    records, final = change_log([("k1", "b", {"x": "1"}), ("k1", "b", None)])
    insert, remove = records
    assert replica.apply(replica.from_stream_record(remove), table, TABLE, now=1000.0) == "applied"
    assert replica.apply(replica.from_stream_record(insert), table, TABLE) == "stale"
    assert replica_state(table) == final == {}
    tombstone = table.get_item(TableName=TABLE, Key={"pk": {"S": "k1"}, "sk": {"S": "b"}})["Item"]
    assert tombstone[replica.DELETED] == {"BOOL": True}
    assert int(tombstone[replica.EXPIRES]["N"]) == 1000 + replica.DEFAULT_TOMBSTONE_TTL_S


def test_delete_then_reinsert_keeps_the_reinserted_item(table):
    records, final = change_log([("k2", "a", {"n": "1"}), ("k2", "a", None), ("k2", "a", {"n": "3"})])
    for record in [records[2], records[0], records[1], records[2]]:
        replica.apply(replica.from_stream_record(record), table, TABLE)
    assert replica_state(table) == final


def test_every_type_and_a_large_item_are_copied_exactly(table):
    big = "x" * 380_000
    item = {"pk": "big", "sk": "a", "s": big, "n": Decimal("-1.25E+10"), "b": b"\x00\x01", "t": True, "z": None,
            "m": {"l": [Decimal(1), "two", {b"3"}]}, "ss": {"a", "b"}, "ns": {Decimal("1.5"), Decimal(2)},
            "bs": {b"x", b"y"}}
    record = dynamodb_stream_record("INSERT", ddb.to_item({"pk": "big", "sk": "a"}, "base64"), "5",
                                    new_image=ddb.to_item(item, "base64"))
    direct = replica.from_stream_record(record)
    through_a_message = replica.from_message(replica.to_message(direct, max_bytes=10**7))
    for change in (direct, through_a_message):
        clear(table)
        replica.apply(change, table, TABLE)
        assert replica_state(table) == {("big", "a"): item}
    # Over SNS's size limit the change travels as a reference and cannot be applied as it is.
    reference = replica.from_message(replica.to_message(direct))
    assert reference.fetch_from_source
    assert reference.new_image is None
    with pytest.raises(replica.ChangeError, match="incomplete"):
        replica.apply(reference, table, TABLE)


def test_reserved_attributes_in_a_source_item_are_refused():
    record = dynamodb_stream_record("INSERT", {"pk": {"S": "a"}, "sk": {"S": "b"}}, "9",
                                    new_image={"pk": {"S": "a"}, "sk": {"S": "b"}, replica.VERSION: {"N": "1"}})
    with pytest.raises(replica.ChangeError) as caught:
        replica.from_stream_record(record)
    assert caught.value.reason == "reserved_attribute"


@pytest.mark.parametrize("body", ["not json", '{"format": "other"}', '{"format": "tributary.change/1"}'])
def test_bad_messages_are_refused_with_a_reason(body):
    with pytest.raises(replica.ChangeError) as caught:
        replica.from_message(body)
    assert caught.value.reason == "bad_message"


def test_the_documented_stream_event_reads():
    records = load_event("dynamodb-stream.json")["Records"]
    changes = [replica.from_stream_record(r) for r in records]
    assert [c.event_name for c in changes] == ["INSERT", "MODIFY", "REMOVE"]
    assert changes[0].keys == {"Id": {"N": "101"}}
    assert changes[1].new_image["Message"] == {"S": "This item has changed"}
    assert changes[2].new_image is None
    assert [c.version for c in changes] == [4421584500000000017450439091 + i for i in range(3)]


def test_message_round_trip_keeps_binary():
    record = dynamodb_stream_record("INSERT", {"pk": {"S": "a"}, "sk": {"S": "b"}}, "10",
                                    new_image={"pk": {"S": "a"}, "sk": {"S": "b"},
                                               "bin": {"B": base64.b64encode(b"\xff").decode()}})
    change = replica.from_stream_record(record)
    assert replica.from_message(replica.to_message(change)) == change
