"""KPL aggregation per shard: every user record reaches the shard its own partition key hashes to.

What Kinesis does with a record is taken from outside the producer: moto's Kinesis for a stream
that keeps its shards, a small double written from the API reference where moto departs from it
(resharding), and the reference KPL implementation (aws_kinesis_agg) to open what was written.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from aws_kinesis_agg.deaggregator import iter_deaggregate_records
from botocore.exceptions import ClientError

from tributary.producer import Entry, Producer

STREAM = "events"
MAX_HASH_KEY = 2**128 - 1
LARGE = 30_000  # over the 25,600 bytes above which a record is sent alone


def hash_key(partition_key: str) -> int:
    """The documented mapping: MD5 of the partition key, read as a 128-bit big-endian integer."""
    return int.from_bytes(hashlib.md5(partition_key.encode("utf-8")).digest(), "big")


def user_records(kinesis_records: list[dict[str, Any]]) -> list[tuple[str, bytes]]:
    """(partition key, data) of every user record in GetRecords-shaped records, opened by the reference KPL."""
    out = []
    for user in iter_deaggregate_records(kinesis_records, data_format="Boto3"):
        record = user["kinesis"]
        data = base64.b64decode(record["data"]) if record.get("aggregated") else record["data"]
        out.append((record["partitionKey"], data))
    return out


def mixed_entries(count: int, keys: int, seed: int = 0, large_every: int = 0) -> list[Entry]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        size = LARGE if large_every and i % large_every == large_every - 1 else rng.randint(20, 400)
        out.append(Entry(f'{{"i":{i},"pad":"{"x" * size}"}}'.encode(), f"device-{rng.randrange(keys)}"))
    return out


def in_order_by_key(entries: list[Entry]) -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = defaultdict(list)
    for entry in entries:
        out[entry.partition_key].append(entry.data)
    return dict(out)


def assert_each_key_on_its_shard_once_and_in_order(
    shards: dict[str, tuple[int, int, list[tuple[str, bytes]]]], sent: list[Entry]
) -> None:
    seen: dict[str, list[bytes]] = defaultdict(list)
    for shard_id, (low, high, records) in shards.items():
        for key, data in records:
            assert low <= hash_key(key) <= high, f"{key} is on {shard_id}, outside its hash key range"
            seen[key].append(data)
    assert seen == in_order_by_key(sent)


class Recording:
    """A real client that also keeps what the producer asked of it."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.puts: list[list[dict[str, Any]]] = []
        self.listings = 0

    def put_records(self, **kwargs: Any) -> dict[str, Any]:
        self.puts.append(kwargs["Records"])
        return self.real.put_records(**kwargs)

    def list_shards(self, **kwargs: Any) -> dict[str, Any]:
        self.listings += 1
        return self.real.list_shards(**kwargs)


@pytest.fixture
def moto_stream(aws):
    client = boto3.client("kinesis")
    client.create_stream(StreamName=STREAM, ShardCount=4)
    return client


def read_moto(client: Any) -> dict[str, tuple[int, int, list[tuple[str, bytes]]]]:
    """Every shard's hash key range and user records, read with GetShardIterator and GetRecords."""
    out = {}
    for shard in client.list_shards(StreamName=STREAM)["Shards"]:
        iterator = client.get_shard_iterator(
            StreamName=STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records: list[dict[str, Any]] = []
        while iterator:
            page = client.get_records(ShardIterator=iterator, Limit=10_000)
            records.extend(page["Records"])
            iterator = page.get("NextShardIterator") if page["Records"] else None
        ranges = shard["HashKeyRange"]
        out[shard["ShardId"]] = (int(ranges["StartingHashKey"]), int(ranges["EndingHashKey"]), user_records(records))
    return out


def test_moto_routes_explicit_hash_keys_and_answers_shard_ids(moto_stream):
    """What the moto tests below rely on, checked rather than assumed."""
    shards = moto_stream.list_shards(StreamName=STREAM)["Shards"]
    inside = [int(s["HashKeyRange"]["StartingHashKey"]) + 7 for s in shards]
    answer = moto_stream.put_records(
        StreamName=STREAM,
        Records=[{"Data": b"x", "PartitionKey": "same-key", "ExplicitHashKey": str(key)} for key in inside],
    )
    assert [r["ShardId"] for r in answer["Records"]] == [s["ShardId"] for s in shards]


def test_aggregates_keep_every_record_on_the_shard_its_key_hashes_to(moto_stream):
    sent = mixed_entries(3000, keys=97, seed=1, large_every=41)
    client = Recording(moto_stream)
    report = Producer(STREAM, client=client, aggregate=True, sleep=lambda s: None).send(sent)
    assert report.failed == []
    assert (report.records, report.sent) == (3000, 3000)
    assert report.kinesis_records < 3000 / 5
    assert_each_key_on_its_shard_once_and_in_order(read_moto(moto_stream), sent)
    assert client.listings == 1


def test_an_aggregate_carries_its_first_records_key_and_hash_key(moto_stream):
    client = Recording(moto_stream)
    Producer(STREAM, client=client, aggregate=True).send(mixed_entries(800, keys=31, seed=2))
    shards = moto_stream.list_shards(StreamName=STREAM)["Shards"]
    aggregates = 0
    for record in (r for call in client.puts for r in call):
        members = user_records([{**record, "SequenceNumber": "1", "ApproximateArrivalTimestamp": 0}])
        if len(members) == 1 and members[0][1] == record["Data"]:
            continue  # sent alone: Kinesis hashes its own partition key
        aggregates += 1
        assert record["PartitionKey"] == members[0][0]
        assert record["ExplicitHashKey"] == str(hash_key(members[0][0]))
        owner = next(
            s
            for s in shards
            if int(s["HashKeyRange"]["StartingHashKey"])
            <= int(record["ExplicitHashKey"])
            <= int(s["HashKeyRange"]["EndingHashKey"])
        )
        low, high = int(owner["HashKeyRange"]["StartingHashKey"]), int(owner["HashKeyRange"]["EndingHashKey"])
        assert all(low <= hash_key(key) <= high for key, _ in members)
    assert aggregates > 4


def test_a_large_record_does_not_overtake_smaller_ones_of_its_key(moto_stream):
    sent = [
        Entry(b'{"n":1}', "device-1"),
        Entry(b'{"n":2}', "device-1"),
        Entry(b'{"n":3,"pad":"' + b"x" * LARGE + b'"}', "device-1"),
        Entry(b'{"n":4}', "device-1"),
        Entry(b'{"n":5,"pad":"' + b"y" * LARGE + b'"}', "device-1"),
    ]
    report = Producer(STREAM, client=moto_stream, aggregate=True).send(sent)
    assert report.sent == 5
    assert_each_key_on_its_shard_once_and_in_order(read_moto(moto_stream), sent)


def test_plain_sends_need_no_shard_map(moto_stream):
    client = Recording(moto_stream)
    sent = mixed_entries(300, keys=20, seed=3)
    report = Producer(STREAM, client=client).send(sent)
    assert (report.sent, report.kinesis_records) == (300, 300)
    assert client.listings == 0
    assert all("ExplicitHashKey" not in r for call in client.puts for r in call)
    assert_each_key_on_its_shard_once_and_in_order(read_moto(moto_stream), sent)


def test_nothing_is_lost_when_kinesis_keeps_disagreeing_with_the_shard_map(moto_stream):
    # After a reshard moto 5.2.5 still writes to the closed parent shards, so every answer
    # contradicts the listed map. The producer may not trust the map, but it must not lose or
    # repeat records, and it lists the shards at most once per PutRecords call.
    moto_stream.update_shard_count(StreamName=STREAM, TargetShardCount=8, ScalingType="UNIFORM_SCALING")
    client = Recording(moto_stream)
    sent = mixed_entries(1500, keys=50, seed=4, large_every=3)  # 15 MB: several calls
    report = Producer(STREAM, client=client, aggregate=True, sleep=lambda s: None).send(sent)
    assert (report.sent, report.failed) == (1500, [])
    assert len(client.puts) >= 3
    assert client.listings <= len(client.puts) + 1
    got = Counter(data for _, _, records in read_moto(moto_stream).values() for _, data in records)
    assert got == Counter(e.data for e in sent)


# Kinesis as its API reference describes it, for what moto 5.2.5 does otherwise: after SplitShard,
# MergeShards or UpdateShardCount moto still writes to the closed parent shards (it takes the
# first shard whose range holds the key, open or not), it treats EndingHashKey as exclusive, and
# its ListShards wants StreamName repeated next to NextToken, which Kinesis refuses.


@dataclass
class Stored:
    call: int
    partition_key: str
    data: bytes


@dataclass
class Shard:
    shard_id: str
    low: int
    high: int
    parents: tuple[str, ...] = ()
    open: bool = True
    records: list[Stored] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        numbers = {"StartingSequenceNumber": "1"}
        if not self.open:
            numbers["EndingSequenceNumber"] = "9"
        out = {
            "ShardId": self.shard_id,
            "HashKeyRange": {"StartingHashKey": str(self.low), "EndingHashKey": str(self.high)},
            "SequenceNumberRange": numbers,
        }
        if self.parents:
            out["ParentShardId"] = self.parents[0]
        if len(self.parents) > 1:
            out["AdjacentParentShardId"] = self.parents[1]
        return out


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class DocumentedKinesis:
    """PutRecords routes each record to the open shard whose inclusive HashKeyRange holds its
    ExplicitHashKey, else the MD5 of its partition key, and answers its ShardId; ListShards pages
    carry NextToken alone. ``before_call`` runs hooks (a reshard) before the n-th PutRecords
    call; ``throttle(call, index)`` fails records the way a hot shard does."""

    def __init__(self, shard_count: int, page_size: int = 100) -> None:
        self.shards: dict[str, Shard] = {}
        self.page_size = page_size
        self.calls = 0
        self.listings = 0
        self.before_call: dict[int, Callable[[], None]] = {}
        self.throttle: Callable[[int, int], bool] = lambda call, index: False
        self.throttled: list[bytes] = []
        step = (MAX_HASH_KEY + 1) // shard_count
        for i in range(shard_count):
            self._add(i * step, MAX_HASH_KEY if i == shard_count - 1 else (i + 1) * step - 1, ())

    def _add(self, low: int, high: int, parents: tuple[str, ...]) -> Shard:
        shard = Shard(f"shardId-{len(self.shards):012d}", low, high, parents)
        self.shards[shard.shard_id] = shard
        return shard

    def open_shards(self) -> list[Shard]:
        return sorted((s for s in self.shards.values() if s.open), key=lambda s: s.low)

    def list_shards(self, **kwargs: Any) -> dict[str, Any]:
        self.listings += 1
        if "NextToken" in kwargs:
            if "StreamName" in kwargs or "StreamARN" in kwargs:
                raise _error(
                    "InvalidArgumentException", "NextToken and StreamName cannot be provided together.", "ListShards"
                )
            start = int(kwargs["NextToken"])
        elif kwargs.get("StreamName") != STREAM:
            raise _error("ResourceNotFoundException", "Stream not found.", "ListShards")
        else:
            start = 0
        page = sorted(self.shards)[start : start + self.page_size]
        response: dict[str, Any] = {"Shards": [self.shards[i].describe() for i in page]}
        if start + self.page_size < len(self.shards):
            response["NextToken"] = str(start + self.page_size)
        return response

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        assert StreamName == STREAM
        self.calls += 1
        hook = self.before_call.pop(self.calls, None)
        if hook:
            hook()
        results = []
        for index, record in enumerate(Records):
            if self.throttle(self.calls, index):
                self.throttled.append(record["Data"])
                results.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "Rate exceeded"})
                continue
            key = int(record.get("ExplicitHashKey") or hash_key(record["PartitionKey"]))
            shard = next(s for s in self.open_shards() if s.low <= key <= s.high)
            shard.records.append(Stored(self.calls, record["PartitionKey"], record["Data"]))
            results.append({"SequenceNumber": str(len(shard.records)), "ShardId": shard.shard_id})
        return {"FailedRecordCount": sum(1 for r in results if "ErrorCode" in r), "Records": results}

    def split_shard(self, shard_id: str, new_starting_hash_key: int) -> None:
        parent = self.shards[shard_id]
        assert parent.open
        assert parent.low < new_starting_hash_key <= parent.high
        parent.open = False
        self._add(parent.low, new_starting_hash_key - 1, (shard_id,))
        self._add(new_starting_hash_key, parent.high, (shard_id,))

    def merge_shards(self, shard_id: str, adjacent_shard_id: str) -> None:
        first, second = self.shards[shard_id], self.shards[adjacent_shard_id]
        assert first.open
        assert second.open
        assert first.high + 1 == second.low
        first.open = second.open = False
        self._add(first.low, second.high, (shard_id, adjacent_shard_id))

    def double_shards(self) -> None:
        """UpdateShardCount to twice the open shards: each is split in the middle."""
        for shard in self.open_shards():
            self.split_shard(shard.shard_id, (shard.low + shard.high + 1) // 2)

    def merge_first_two(self) -> None:
        first, second = self.open_shards()[:2]
        self.merge_shards(first.shard_id, second.shard_id)

    def read(self) -> dict[str, tuple[int, int, list[tuple[str, bytes]]]]:
        return {
            s.shard_id: (s.low, s.high, user_records([_as_get_records(r) for r in s.records]))
            for s in self.shards.values()
        }


def _as_get_records(stored: Stored) -> dict[str, Any]:
    return {
        "Data": stored.data,
        "PartitionKey": stored.partition_key,
        "SequenceNumber": "1",
        "ApproximateArrivalTimestamp": 0,
    }


def test_the_double_agrees_with_moto_while_the_shards_stay_put(moto_stream):
    double = DocumentedKinesis(4)
    keys = [f"device-{i}" for i in range(40)]
    records = [{"Data": b"x", "PartitionKey": k} for k in keys]
    ours = [r["ShardId"] for r in double.put_records(StreamName=STREAM, Records=records)["Records"]]
    motos = [r["ShardId"] for r in moto_stream.put_records(StreamName=STREAM, Records=records)["Records"]]
    assert ours == motos
    assert [s.describe()["HashKeyRange"] for s in double.open_shards()] == [
        s["HashKeyRange"] for s in moto_stream.list_shards(StreamName=STREAM)["Shards"]
    ]


def test_the_shard_map_is_read_across_list_shards_pages():
    double = DocumentedKinesis(4, page_size=1)
    sent = mixed_entries(2000, keys=60, seed=5)
    report = Producer(STREAM, client=double, aggregate=True).send(sent)
    assert report.sent == 2000
    assert report.kinesis_records < 2000 / 5  # every shard's records were aggregated, not only the first page's
    assert double.listings == 4
    assert_each_key_on_its_shard_once_and_in_order(double.read(), sent)


def test_closed_shards_are_left_out_of_the_map():
    double = DocumentedKinesis(2)
    double.double_shards()
    double.merge_first_two()
    sent = mixed_entries(2000, keys=60, seed=6)
    report = Producer(STREAM, client=double, aggregate=True).send(sent)
    assert report.sent == 2000
    assert double.listings == 1  # no answer contradicted the map
    assert_each_key_on_its_shard_once_and_in_order(double.read(), sent)


def _parents_cover(double: DocumentedKinesis, shard: Shard, key: int) -> bool:
    return any(double.shards[p].low <= key <= double.shards[p].high for p in shard.parents)


@pytest.mark.parametrize("reshard", ["double_shards", "merge_first_two"])
def test_a_reshard_between_calls_is_noticed_and_the_map_refreshed(reshard):
    double = DocumentedKinesis(4)
    double.before_call[2] = getattr(double, reshard)
    sent = mixed_entries(1200, keys=80, seed=7, large_every=3)  # 12 MB: three calls or more
    report = Producer(STREAM, client=double, aggregate=True).send(sent)
    assert (report.sent, report.failed) == (1200, [])
    assert double.calls >= 3
    # Aggregates built before the change can only reach the shard that holds their first
    # record's hash key: in the one call that met the change, a record may sit in a sibling
    # of its key's new shard. Every record sent after the producer saw the change is in place.
    assert double.listings == 2
    seen: dict[str, list[bytes]] = defaultdict(list)
    for shard in double.shards.values():
        for stored in shard.records:
            for key, data in user_records([_as_get_records(stored)]):
                seen[key].append(data)
                if not shard.low <= hash_key(key) <= shard.high:
                    assert stored.call == 2
                    assert _parents_cover(double, shard, hash_key(key))
    assert Counter(d for ds in seen.values() for d in ds) == Counter(e.data for e in sent)
    later = {
        s.shard_id: (s.low, s.high, user_records([_as_get_records(r) for r in s.records if r.call > 2]))
        for s in double.shards.values()
    }
    for low, high, records in later.values():
        assert all(low <= hash_key(key) <= high for key, _ in records)


def test_failed_aggregates_are_aggregated_again_under_the_new_map():
    double = DocumentedKinesis(2)
    double.before_call[1] = double.double_shards
    double.throttle = lambda call, index: call == 1 and index % 2 == 0
    sent = mixed_entries(1500, keys=70, seed=8)
    report = Producer(STREAM, client=double, aggregate=True, sleep=lambda s: None).send(sent)
    assert (report.records, report.sent, report.failed) == (1500, 1500, [])
    retried = user_records([_as_get_records(Stored(1, "k", data)) for data in double.throttled])
    assert retried
    assert report.retried == len(retried)
    assert double.listings == 2
    delivered = double.read()
    assert Counter(d for _, _, records in delivered.values() for _, d in records) == Counter(e.data for e in sent)
    placed = {data: (low, high) for low, high, records in delivered.values() for _, data in records}
    for key, data in retried:
        low, high = placed[data]
        assert low <= hash_key(key) <= high, "a retried record was not aggregated under the new shard map"


def test_a_shard_map_that_cannot_be_read_falls_back_to_plain_records():
    double = DocumentedKinesis(4)
    listings = []

    def throttled(**kwargs: Any) -> dict[str, Any]:
        listings.append(kwargs)
        raise _error("LimitExceededException", "Rate exceeded for stream events", "ListShards")

    double.list_shards = throttled  # type: ignore[method-assign]
    sleeps: list[float] = []
    sent = mixed_entries(300, keys=20, seed=9)
    report = Producer(STREAM, client=double, aggregate=True, max_attempts=3, sleep=sleeps.append).send(sent)
    assert (report.sent, report.kinesis_records, report.failed) == (300, 300, [])
    assert len(listings) == 3
    assert len(sleeps) == 2
    assert_each_key_on_its_shard_once_and_in_order(double.read(), sent)


def test_a_shard_map_refused_for_good_stops_before_anything_is_put():
    double = DocumentedKinesis(4)

    def denied(**kwargs: Any) -> dict[str, Any]:
        raise _error("AccessDeniedException", "not authorized to perform: kinesis:ListShards", "ListShards")

    double.list_shards = denied  # type: ignore[method-assign]
    sleeps: list[float] = []
    report = Producer(STREAM, client=double, aggregate=True, sleep=sleeps.append).send(mixed_entries(50, keys=5))
    assert double.calls == 0
    assert sleeps == []
    assert (report.records, report.sent, len(report.failed)) == (50, 0, 50)
    assert {(f.error_code, f.retryable) for f in report.failed} == {("AccessDeniedException", False)}
    assert "kinesis:ListShards" in (report.fatal or "")
