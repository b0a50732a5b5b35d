"""The Kinesis Producer Library's aggregated record format, read and written.

An aggregated Kinesis record is ``MAGIC + protobuf(AggregatedRecord) + md5(protobuf)``.
The message schema is the KPL's ``messages.proto`` (AggregatedRecord, Record, Tag),
declared here as a descriptor so the maintained protobuf runtime does the parsing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

MAGIC = b"\xf3\x89\x9a\xc2"
DIGEST_SIZE = 16
# What the KPL aims for by default; well under Kinesis's 1 MiB record limit.
DEFAULT_MAX_AGGREGATE_BYTES = 51_200


class KplError(ValueError):
    """An aggregated record that cannot be read; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def _schema() -> type:
    f = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="kpl/messages.proto", package="aws.kinesis.protobuf", syntax="proto2"
    )
    tag = proto.message_type.add(name="Tag")
    tag.field.add(name="key", number=1, label=f.LABEL_REQUIRED, type=f.TYPE_STRING)
    tag.field.add(name="value", number=2, label=f.LABEL_OPTIONAL, type=f.TYPE_STRING)
    record = proto.message_type.add(name="Record")
    record.field.add(name="partition_key_index", number=1, label=f.LABEL_REQUIRED, type=f.TYPE_UINT64)
    record.field.add(name="explicit_hash_key_index", number=2, label=f.LABEL_OPTIONAL, type=f.TYPE_UINT64)
    record.field.add(name="data", number=3, label=f.LABEL_REQUIRED, type=f.TYPE_BYTES)
    record.field.add(
        name="tags",
        number=4,
        label=f.LABEL_REPEATED,
        type=f.TYPE_MESSAGE,
        type_name=".aws.kinesis.protobuf.Tag",
    )
    agg = proto.message_type.add(name="AggregatedRecord")
    agg.field.add(name="partition_key_table", number=1, label=f.LABEL_REPEATED, type=f.TYPE_STRING)
    agg.field.add(name="explicit_hash_key_table", number=2, label=f.LABEL_REPEATED, type=f.TYPE_STRING)
    agg.field.add(
        name="records",
        number=3,
        label=f.LABEL_REPEATED,
        type=f.TYPE_MESSAGE,
        type_name=".aws.kinesis.protobuf.Record",
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("aws.kinesis.protobuf.AggregatedRecord"))


AggregatedRecord = _schema()


@dataclass(frozen=True, slots=True)
class PackedRecord:
    """One record inside an aggregate, as the producer put it."""

    partition_key: str
    explicit_hash_key: str | None
    data: bytes


def is_aggregated(data: bytes) -> bool:
    """True when the bytes start with the KPL's magic prefix."""
    return data[:4] == MAGIC


def deaggregate(data: bytes) -> list[PackedRecord]:
    """Split an aggregated record into its user records; raise KplError if it is damaged."""
    if not is_aggregated(data):
        raise KplError("kpl_not_aggregated", "the record does not start with the KPL magic prefix")
    if len(data) < len(MAGIC) + DIGEST_SIZE:
        raise KplError("kpl_truncated", f"{len(data)} bytes is too short for an aggregated record")
    body, digest = data[len(MAGIC) : -DIGEST_SIZE], data[-DIGEST_SIZE:]
    if hashlib.md5(body, usedforsecurity=False).digest() != digest:
        raise KplError("kpl_digest_mismatch", "the MD5 of the aggregated body does not match")
    message = AggregatedRecord()
    try:
        message.ParseFromString(body)
    except DecodeError as exc:
        raise KplError("kpl_malformed", f"protobuf body does not parse: {exc}") from None
    keys = list(message.partition_key_table)
    hash_keys = list(message.explicit_hash_key_table)
    out: list[PackedRecord] = []
    for index, record in enumerate(message.records):
        if record.partition_key_index >= len(keys):
            raise KplError("kpl_malformed", f"user record {index} names a partition key that is not in the table")
        ehk = None
        if record.HasField("explicit_hash_key_index"):
            if record.explicit_hash_key_index >= len(hash_keys):
                raise KplError("kpl_malformed", f"user record {index} names a hash key that is not in the table")
            ehk = hash_keys[record.explicit_hash_key_index]
        out.append(PackedRecord(keys[record.partition_key_index], ehk, record.data))
    return out


def encode(records: Iterable[tuple[str, bytes]]) -> bytes:
    """Aggregate (partition key, data) pairs into one Kinesis record's bytes."""
    message = AggregatedRecord()
    index: dict[str, int] = {}
    for partition_key, data in records:
        if partition_key not in index:
            index[partition_key] = len(message.partition_key_table)
            message.partition_key_table.append(partition_key)
        entry = message.records.add()
        entry.partition_key_index = index[partition_key]
        entry.data = data
    body = message.SerializeToString()
    return MAGIC + body + hashlib.md5(body, usedforsecurity=False).digest()


def _varint_len(value: int) -> int:
    return max(1, (value.bit_length() + 6) // 7)


class Aggregator:
    """Packs small records into aggregates of at most ``max_bytes``, the way the KPL does.

    ``add`` returns the finished aggregate(s) whenever the next record would not fit;
    ``flush`` returns what is left. The partition key of an aggregate is its first
    record's key, so records of one device stay on one shard.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_AGGREGATE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._records: list[tuple[str, bytes]] = []
        self._keys: set[str] = set()
        self._size = len(MAGIC) + DIGEST_SIZE

    def _cost(self, partition_key: str, data: bytes) -> int:
        cost = 0
        if partition_key not in self._keys:
            key_len = len(partition_key.encode("utf-8"))
            cost += 1 + _varint_len(key_len) + key_len
        inner = 1 + _varint_len(len(self._keys) + 1) + 1 + _varint_len(len(data)) + len(data)
        return cost + 1 + _varint_len(inner) + inner

    def add(self, partition_key: str, data: bytes) -> list[tuple[str, bytes]]:
        """Add one record; return the aggregates (partition key, bytes) completed by it."""
        done: list[tuple[str, bytes]] = []
        cost = self._cost(partition_key, data)
        if self._records and self._size + cost > self.max_bytes:
            done.extend(self.flush())
            cost = self._cost(partition_key, data)
        self._records.append((partition_key, data))
        self._keys.add(partition_key)
        self._size += cost
        return done

    def flush(self) -> list[tuple[str, bytes]]:
        """The aggregate being built, if any, and start a new one."""
        if not self._records:
            return []
        aggregate = (self._records[0][0], encode(self._records))
        self._records, self._keys, self._size = [], set(), len(MAGIC) + DIGEST_SIZE
        return [aggregate]

    def __len__(self) -> int:
        return len(self._records)
