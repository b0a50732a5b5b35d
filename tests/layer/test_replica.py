"""The one applier both paths use: any permutation of a change log, with any duplicates,
leaves table2 equal to table1's final state."""

from __future__ import annotations

import base64
import dataclasses
import random
from decimal import Decimal

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stack.events import dynamodb_stream_record
from tests.conftest import load_event
from tests.examples import examples
from tests.layer.test_ddb_reference import dynamodb_number
from tributary import ddb, replica

TABLE = "table2"

scalars = st.one_of(
    st.text(max_size=12),
    st.integers(-(10**12), 10**12).map(Decimal),
    st.binary(min_size=1, max_size=12),
    st.booleans(),
    st.none(),
)
values = st.recursive(
    st.one_of(
        scalars,
        st.frozensets(st.text(max_size=5), min_size=1, max_size=3).map(set),
        st.frozensets(st.integers(0, 99), min_size=1, max_size=3).map(lambda s: {Decimal(v) for v in s}),
        st.frozensets(st.binary(min_size=1, max_size=4), min_size=1, max_size=3).map(set),
    ),
    # DynamoDB attribute names, map keys included, are at least one character.
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(min_size=1, max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
attributes = st.dictionaries(
    st.text(min_size=1, max_size=8).filter(
        lambda n: n not in ("pk", "sk") and not n.startswith(replica.RESERVED_PREFIX)
    ),
    values,
    max_size=4,
)
operations = st.lists(
    st.tuples(st.sampled_from(["k0", "k1", "k2"]), st.sampled_from(["a", "b"]), st.one_of(st.none(), attributes)),
    min_size=1,
    max_size=25,
)


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
            records.append(
                dynamodb_stream_record(
                    "MODIFY" if old else "INSERT",
                    keys_av,
                    seq,
                    new_image=ddb.to_item(item, "base64"),
                    old_image=ddb.to_item(old, "base64") if old else None,
                )
            )
            table1[(pk, sk)] = item
    return records, table1


@pytest.fixture
def table(aws):
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
    )
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
@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
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
    item = {
        "pk": "big",
        "sk": "a",
        "s": big,
        "n": Decimal("-1.25E+10"),
        "b": b"\x00\x01",
        "t": True,
        "z": None,
        "m": {"l": [Decimal(1), "two", {b"3"}]},
        "ss": {"a", "b"},
        "ns": {Decimal("1.5"), Decimal(2)},
        "bs": {b"x", b"y"},
    }
    record = dynamodb_stream_record(
        "INSERT", ddb.to_item({"pk": "big", "sk": "a"}, "base64"), "5", new_image=ddb.to_item(item, "base64")
    )
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
    record = dynamodb_stream_record(
        "INSERT",
        {"pk": {"S": "a"}, "sk": {"S": "b"}},
        "9",
        new_image={"pk": {"S": "a"}, "sk": {"S": "b"}, replica.VERSION: {"N": "1"}},
    )
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
    record = dynamodb_stream_record(
        "INSERT",
        {"pk": {"S": "a"}, "sk": {"S": "b"}},
        "10",
        new_image={"pk": {"S": "a"}, "sk": {"S": "b"}, "bin": {"B": base64.b64encode(b"\xff").decode()}},
    )
    change = replica.from_stream_record(record)
    assert replica.from_message(replica.to_message(change)) == change


# --- Numbers as DynamoDB writes them --------------------------------------------------------------


def test_numbers_written_in_full_are_copied_on_both_paths(table):
    """1E+38 arrives from a stream as a 39-digit integer (one significant digit); DynamoDB stores it."""
    image = {
        "pk": {"S": "n"},
        "sk": {"S": "a"},
        "full": {"N": "100000000000000000000000000000000000000"},
        "seen": {"N": "110111111111111110000000000000000000000"},
        "set": {"NS": ["1" + "0" * 100, "1.0000000000000000000000000000000000000000", "-0"]},
    }
    record = dynamodb_stream_record("INSERT", {"pk": {"S": "n"}, "sk": {"S": "a"}}, "7", new_image=image)
    for path in PATHS.values():
        clear(table)
        assert replica.apply(path(record), table, TABLE) == "applied"
        stored = table.get_item(TableName=TABLE, Key={"pk": {"S": "n"}, "sk": {"S": "a"}})["Item"]
        assert stored["full"] == image["full"]
        assert stored["seen"] == image["seen"]
        assert replica_state(table) == {("n", "a"): ddb.from_item(image)}


# --- Messages in SQS's character set ----------------------------------------------------------------


def sqs_allows(text: str) -> bool:
    """Amazon SQS's SendMessage, MessageBody: "#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD |
    #x10000 to #x10FFFF"; SNS delivers to SQS in the same characters."""
    return all(
        c in "\t\n\r" or 0x20 <= ord(c) <= 0xD7FF or 0xE000 <= ord(c) <= 0xFFFD or 0x10000 <= ord(c) <= 0x10FFFF
        for c in text
    )


# moto's SQS and SNS take any characters, so only this check stands for SQS's.
def test_the_sqs_character_set_as_documented():
    assert sqs_allows("\t\n\r \ud7ff\ue000\ufffd\U00010000\U0010ffff")
    for refused in ["\x00", "\x08", "\x0b", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff"]:
        assert not sqs_allows(refused)


DYNAMODB_STRINGS = st.text(st.characters(exclude_categories=["Cs"]), max_size=10)  # any Unicode text


@settings(max_examples=examples(200), deadline=None)
@given(
    name=DYNAMODB_STRINGS.filter(lambda n: bool(n) and not n.startswith(replica.RESERVED_PREFIX)),
    text=DYNAMODB_STRINGS,
    members=st.frozensets(DYNAMODB_STRINGS, min_size=1, max_size=3),
    key=DYNAMODB_STRINGS.filter(bool),
    special=st.sampled_from(["\ufffe", "\uffff", "\x00", "\x1f", "\x7f"]),
)
def test_messages_carry_any_dynamodb_string_in_sqs_characters(name, text, members, key, special):
    keys = {"pk": {"S": key + special}, "sk": {"S": special}}
    image = {
        **keys,
        name: {"S": text + special},
        "ss": {"SS": sorted(members | {special})},
        "m": {"M": {special + name: {"L": [{"S": special * 2}]}}},
    }
    change = replica.from_stream_record(dynamodb_stream_record("MODIFY", keys, "12", new_image=image))
    message = replica.to_message(change)
    assert sqs_allows(message)
    for body in (message, message.encode("utf-8")):
        received = replica.from_message(body)
        assert dataclasses.replace(received, new_image=None) == dataclasses.replace(change, new_image=None)
        assert ddb.from_item(received.new_image) == ddb.from_item(image)  # sets compared as sets


def test_noncharacters_travel_as_json_escapes():
    keys = {"pk": {"S": "\ufffe"}, "sk": {"S": "\uffff"}}
    change = replica.from_stream_record(dynamodb_stream_record("REMOVE", keys, "3"))
    message = replica.to_message(change)
    assert "\ufffe" not in message
    assert "\uffff" not in message
    assert '"pk":{"S":"\\ufffe"}' in message
    assert '"sk":{"S":"\\uffff"}' in message
    assert replica.from_message(message).keys == keys


def test_the_claim_check_counts_the_escaped_message():
    keys = {"pk": {"S": "a"}, "sk": {"S": "b"}}
    image = {**keys, "s": {"S": "\ufffe" * 1000}}  # 3,000 bytes of UTF-8, 6,000 escaped
    change = replica.from_stream_record(dynamodb_stream_record("INSERT", keys, "4", new_image=image))
    assert replica.from_message(replica.to_message(change, max_bytes=6_500)) == change
    assert replica.from_message(replica.to_message(change, max_bytes=5_000)).fetch_from_source


# --- The change's time ------------------------------------------------------------------------------


def test_a_record_without_a_creation_time_stores_no_time(table):
    keys = {"pk": {"S": "t"}, "sk": {"S": "a"}}
    record = dynamodb_stream_record("INSERT", keys, "21", new_image={**keys, "v": {"S": "1"}})
    del record["dynamodb"]["ApproximateCreationDateTime"]
    for path in PATHS.values():
        change = path(record)
        assert change.changed_at is None
        clear(table)
        replica.apply(change, table, TABLE)
        assert replica.CHANGED_AT not in table.get_item(TableName=TABLE, Key=keys)["Item"]


def test_a_creation_time_is_stored_as_it_came(table):
    keys = {"pk": {"S": "t"}, "sk": {"S": "b"}}
    record = dynamodb_stream_record("INSERT", keys, "22", new_image=keys, created=1_795_342_530.125)
    for path in PATHS.values():
        clear(table)
        replica.apply(path(record), table, TABLE)
        assert table.get_item(TableName=TABLE, Key=keys)["Item"][replica.CHANGED_AT] == {"N": "1795342530.125"}


def test_a_time_of_zero_means_none():
    """Backfill's changes, and messages published before the time was optional, say 0 for no time."""
    keys = {"pk": {"S": "t"}, "sk": {"S": "c"}}
    backfilled = replica.Change("backfill", "INSERT", {}, keys, 0, 0.0)
    assert replica.CHANGED_AT not in replica.replica_item(backfilled, now=1.0, tombstone_ttl_s=60)
    record = dynamodb_stream_record("INSERT", keys, "23", new_image=keys)
    old_message = replica.to_message(replica.from_stream_record(record)).replace(
        '"changedAt":1795342530.0', '"changedAt":0.0'
    )
    assert '"changedAt":0.0' in old_message
    assert replica.CHANGED_AT not in replica.replica_item(replica.from_message(old_message), 1.0, 60)


# --- Versions: any legal sequence number, and replicas whose versions are Numbers --------------------


# What moto 5.2.5 enforces of this: it evaluates attribute_type, compares Numbers exactly (as
# Decimals) and Strings by code point, and stops an AND at a false operand. It raises a TypeError
# where DynamoDB finds a comparison of a String with a Number no match, and it stores and compares
# Numbers DynamoDB refuses (more than 38 significant digits, magnitudes from 1E+126; it does refuse
# those below 1E-130), so a version written as a 40-digit Number would pass under moto alone.
# DynamoDBNumbers refuses those requests as DynamoDB does.
class DynamoDBNumbers:
    """A DynamoDB client that refuses, as DynamoDB does and moto does not, a request holding a number
    of more than 38 significant digits or outside 1E-130 to 9.99...E+125."""

    def __init__(self, client):
        self._client = client
        self.exceptions = client.exceptions

    def put_item(self, **request):
        for av in [*request["Item"].values(), *request.get("ExpressionAttributeValues", {}).values()]:
            self._check(av)
        return self._client.put_item(**request)

    def _check(self, av):
        ((tag, value),) = av.items()
        texts = [value] if tag == "N" else value if tag == "NS" else []
        for text in texts:
            if dynamodb_number(text) is None:
                raise AssertionError(f"DynamoDB refuses the number {text}")
        for inner in value.values() if tag == "M" else value if tag == "L" else []:
            self._check(inner)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_versions_are_40_digit_strings_in_numeric_order():
    assert replica.encode_version(800000000003126276362) == {"S": "0000000000000000000800000000003126276362"}
    assert replica.encode_version(0) == {"S": "0" * 40}
    assert replica.encode_version(10**40 - 1) == {"S": "9" * 40}
    for bad in [-1, 10**40, True, 1.0, "5"]:
        with pytest.raises(replica.ChangeError) as caught:
            replica.encode_version(bad)
        assert caught.value.reason == "bad_version"


@given(st.integers(0, 10**40 - 1), st.integers(0, 10**40 - 1))
def test_the_order_of_stored_versions_is_the_order_of_the_numbers(a, b):
    stored_a, stored_b = replica.encode_version(a)["S"], replica.encode_version(b)["S"]
    assert (stored_a.encode() < stored_b.encode()) == (a < b)  # DynamoDB compares strings by their UTF-8 bytes


@pytest.mark.parametrize("sequence", ["9" * 40, "1" + "0" * 20, "4" * 39, "1" * 21 + "2" * 19])
def test_every_legal_sequence_number_is_a_version_dynamodb_stores(table, sequence):
    keys = {"pk": {"S": "v"}, "sk": {"S": sequence}}
    record = dynamodb_stream_record("INSERT", keys, sequence, new_image=keys)
    for path in PATHS.values():
        clear(table)
        change = path(record)
        assert change.version == int(sequence)
        assert replica.apply(change, DynamoDBNumbers(table), TABLE) == "applied"
        assert replica.apply(change, DynamoDBNumbers(table), TABLE) == "stale"
        assert table.get_item(TableName=TABLE, Key=keys)["Item"][replica.VERSION] == {"S": sequence.zfill(40)}


@pytest.mark.parametrize("sequence", ["", "12a", " 12", "1_000", "1" * 41, "-5", "١٢"])
def test_sequence_numbers_that_are_not_are_refused(sequence):
    keys = {"pk": {"S": "v"}, "sk": {"S": "x"}}
    with pytest.raises(replica.ChangeError) as caught:
        replica.from_stream_record(dynamodb_stream_record("INSERT", keys, sequence, new_image=keys))
    assert caught.value.reason == "bad_record"


BIG = 10**39  # 40 digits, one significant: a Number can hold it


@pytest.mark.parametrize(
    ("stored", "version", "outcome"),
    [
        (None, 5, "applied"),
        # Versions the current code writes: Strings of 40 digits.
        ({"S": "4".zfill(40)}, 5, "applied"),
        ({"S": "5".zfill(40)}, 5, "stale"),
        ({"S": "6".zfill(40)}, 5, "stale"),
        ({"S": "9" * 40}, 10**40 - 1, "stale"),
        ({"S": "9" * 39}, 10**40 - 1, "applied"),
        # Replicas written when the version was a Number: newer changes win, older and equal lose.
        ({"N": "4"}, 5, "applied"),
        ({"N": "5"}, 5, "stale"),
        ({"N": "6"}, 5, "stale"),
        ({"N": "0"}, 0, "stale"),
        ({"N": "0"}, 1, "applied"),
        ({"N": "9" * 38}, 10**38, "applied"),
        ({"N": str(10**38)}, 10**38, "stale"),
        ({"N": str(10**38)}, 10**38 + 1, "applied"),  # 39 significant digits: no Number can say it
        ({"N": str(10**38)}, 10**38 - 1, "stale"),
        ({"N": str(BIG)}, BIG + 1, "applied"),
        ({"N": str(BIG + 100)}, BIG + 1, "stale"),  # the Number just above the version
        ({"N": str(BIG + 100)}, BIG + 99, "stale"),
        ({"N": str(BIG + 100)}, BIG + 100, "stale"),
        ({"N": str(BIG + 100)}, BIG + 101, "applied"),
        ({"N": str(BIG)}, BIG - 1, "stale"),
        ({"N": "9" * 38 + "00"}, 10**40 - 1, "applied"),
        # Anything else in the version's place is never taken for an older version.
        ({"BOOL": True}, 5, "stale"),
        ({"B": b"\x00"}, 5, "stale"),
    ],
)
def test_the_version_guard_over_every_kind_of_stored_version(table, stored, version, outcome):
    keys = {"pk": {"S": "g"}, "sk": {"S": "a"}}
    if stored is not None:
        table.put_item(TableName=TABLE, Item={**keys, "old": {"S": "x"}, replica.VERSION: stored})
    change = replica.Change("e", "MODIFY", keys, {**keys, "new": {"S": "y"}}, version, 1.0)
    assert replica.apply(change, DynamoDBNumbers(table), TABLE) == outcome
    item = table.get_item(TableName=TABLE, Key=keys)["Item"]
    assert ("new" in item) == (outcome == "applied")


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    stored=st.integers(0, 10**40 - 1),
    version=st.integers(0, 10**40 - 1),
    as_number=st.booleans(),
    near=st.integers(-300, 300),
)
def test_a_change_wins_exactly_over_older_versions_of_either_type(table, stored, version, as_number, near):
    if near and stored + near >= 0:
        version = min(stored + near, 10**40 - 1)  # often close, where rounding would show
    if as_number:
        text = str(stored)
        unit = 10 ** max(len(text) - 38, 0)
        stored -= stored % unit  # a Number of at most 38 significant digits
    stored_av = {"N": str(stored)} if as_number else replica.encode_version(stored)
    keys = {"pk": {"S": "h"}, "sk": {"S": "a"}}
    table.put_item(TableName=TABLE, Item={**keys, replica.VERSION: stored_av})
    change = replica.Change("e", "MODIFY", keys, keys, version, None)
    assert replica.apply(change, DynamoDBNumbers(table), TABLE) == ("applied" if stored < version else "stale")


def test_the_version_condition_combines_with_a_callers_own(table):
    keys = {"pk": {"S": "c"}, "sk": {"S": "a"}}
    condition, names, values = replica.version_condition(7)
    assert all(name.startswith("#tributary") for name in names)
    assert all(value.startswith(":tributary") for value in values)
    table.put_item(TableName=TABLE, Item={**keys, replica.VERSION: {"N": "6"}, "owner": {"S": "me"}})
    request = {
        "TableName": TABLE,
        "Item": {**keys, replica.VERSION: replica.encode_version(7)},
        "ConditionExpression": f"#owner = :owner AND ({condition})",
        "ExpressionAttributeNames": {**names, "#owner": "owner"},
        "ExpressionAttributeValues": {**values, ":owner": {"S": "me"}},
    }
    table.put_item(**request)
    with pytest.raises(table.exceptions.ConditionalCheckFailedException):
        table.put_item(**request)  # 7 is not older than 7


def test_versions_of_varying_lengths_converge_in_any_order(table):
    keys = {"pk": {"S": "o"}, "sk": {"S": "a"}}
    sequences = ["9" * 21, "1" + "0" * 21, "5" * 38, "1" + "0" * 38, "1" + "0" * 38 + "1", "2" + "0" * 39, "9" * 40]
    records = [dynamodb_stream_record("MODIFY", keys, s, new_image={**keys, "n": {"S": s}}) for s in sequences]
    rng = random.Random(5)
    for path in PATHS.values():
        for _ in range(5):
            clear(table)
            delivered = records * 2
            rng.shuffle(delivered)
            for record in delivered:
                replica.apply(path(record), DynamoDBNumbers(table), TABLE)
            assert table.get_item(TableName=TABLE, Key=keys)["Item"]["n"] == {"S": "9" * 40}
