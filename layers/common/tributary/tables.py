"""Backfill and verify for the table sync: parallel scans, drift reports, repairs.

    python -m tributary.tables backfill --source T1 --target T2 [--segments 8]
    python -m tributary.tables verify --source T1 --target T2 [--repair] [--segments 8]

Both go through the replica's version guard, so running them while the stream is live
is safe: a backfilled or repaired item never overwrites a newer change. ``verify`` exits
0 when the tables match, 1 when they differ (after ``--repair``: when they still differ),
2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tributary import aws, ddb, replica

Key = tuple[Any, ...]


def scan_segment(client: Any, table: str, segment: int, segments: int) -> Iterator[dict[str, Any]]:
    """Every item of one parallel-scan segment (strongly consistent)."""
    kwargs = {"TableName": table, "Segment": segment, "TotalSegments": segments, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def key_names(client: Any, table: str) -> tuple[str, ...]:
    schema = client.describe_table(TableName=table)["Table"]["KeySchema"]
    return tuple(k["AttributeName"] for k in sorted(schema, key=lambda k: k["KeyType"] != "HASH"))


def scan(client: Any, table: str, segments: int, keys: tuple[str, ...]) -> dict[Key, dict[str, Any]]:
    """The whole table by key, scanned in ``segments`` parallel segments."""
    def one(segment: int) -> list[dict[str, Any]]:
        return list(scan_segment(client, table, segment, segments))

    with ThreadPoolExecutor(max_workers=segments) as pool:
        items = [item for chunk in pool.map(one, range(segments)) for item in chunk]
    return {_key(item, keys): item for item in items}


def _key(item: dict[str, Any], keys: tuple[str, ...]) -> Key:
    return tuple(json.dumps(item[k], sort_keys=True, default=repr) for k in keys)


@dataclass
class Drift:
    """Keys present in the source only, in the replica only, and present in both but different."""

    missing: list[Key] = field(default_factory=list)
    extra: list[Key] = field(default_factory=list)
    different: list[Key] = field(default_factory=list)
    source_items: int = 0
    replica_items: int = 0

    @property
    def matches(self) -> bool:
        return not (self.missing or self.extra or self.different)

    def as_dict(self, limit: int = 20) -> dict[str, Any]:
        return {
            "match": self.matches,
            "source_items": self.source_items,
            "replica_items": self.replica_items,
            "missing": len(self.missing),
            "extra": len(self.extra),
            "different": len(self.different),
            "examples": {
                "missing": [list(k) for k in self.missing[:limit]],
                "extra": [list(k) for k in self.extra[:limit]],
                "different": [list(k) for k in self.different[:limit]],
            },
        }


def compare(source: dict[Key, dict[str, Any]], target: dict[Key, dict[str, Any]]) -> Drift:
    """Compare by key and by a canonical hash of each item (the replica's bookkeeping left out)."""
    live = {k: v for k, v in ((k, replica.user_view(item)) for k, item in target.items()) if v is not None}
    drift = Drift(source_items=len(source), replica_items=len(live))
    for key, item in source.items():
        other = live.get(key)
        if other is None:
            drift.missing.append(key)
        elif ddb.item_digest(ddb.from_item(item)) != ddb.item_digest(ddb.from_item(other)):
            drift.different.append(key)
    drift.extra = [key for key in live if key not in source]
    return drift


def verify(client: Any, source: str, target: str, segments: int = 4) -> tuple[Drift, dict, dict]:
    """Scan both tables in parallel and compare them."""
    keys = key_names(client, source)
    with ThreadPoolExecutor(max_workers=2) as pool:
        source_future = pool.submit(scan, client, source, segments, keys)
        target_future = pool.submit(scan, client, target, segments, keys)
        source_items, target_items = source_future.result(), target_future.result()
    return compare(source_items, target_items), source_items, target_items


def _guarded_put(client: Any, table: str, item: dict[str, Any], observed: dict[str, Any] | None) -> bool:
    """Write ``item`` only if the replica still holds what was observed (or nothing)."""
    if observed is not None and replica.VERSION in observed:
        condition, values = "#v = :observed", {":observed": observed[replica.VERSION]}
    else:
        condition, values = "attribute_not_exists(#v)", None
    kwargs = {"TableName": table, "Item": item, "ConditionExpression": condition,
              "ExpressionAttributeNames": {"#v": replica.VERSION}}
    if values:
        kwargs["ExpressionAttributeValues"] = values
    try:
        client.put_item(**kwargs)
    except client.exceptions.ConditionalCheckFailedException:
        return False  # a change arrived meanwhile: it is newer than what we read
    return True


def repair(client: Any, target: str, keys: tuple[str, ...], drift: Drift, source_items: dict, target_items: dict,
           now: float, tombstone_ttl_s: int = replica.DEFAULT_TOMBSTONE_TTL_S) -> int:
    """Make the replica match the source, keeping each replica item's version so that a change
    still in flight (newer) applies over the repair. Returns the number of items written."""
    written = 0
    for key in [*drift.missing, *drift.different]:
        observed = target_items.get(key)
        version = observed.get(replica.VERSION, {"N": "0"}) if observed else {"N": "0"}
        item = {**source_items[key], replica.VERSION: version}
        written += _guarded_put(client, target, item, observed)
    for key in drift.extra:
        observed = target_items[key]
        tombstone = {**{name: observed[name] for name in keys},
                     replica.VERSION: observed.get(replica.VERSION, {"N": "0"}),
                     replica.DELETED: {"BOOL": True}, replica.EXPIRES: {"N": str(int(now) + tombstone_ttl_s)}}
        written += _guarded_put(client, target, tombstone, observed)
    return written


def backfill(client: Any, source: str, target: str, segments: int = 4) -> dict[str, int]:
    """Copy every source item to the replica at version 0: it lands only where the replica holds
    nothing, so items the stream already wrote (or deleted) are left alone."""
    counts = {"scanned": 0, "applied": 0, "stale": 0}

    def one(segment: int) -> dict[str, int]:
        local = {"scanned": 0, "applied": 0, "stale": 0}
        for item in scan_segment(client, source, segment, segments):
            local["scanned"] += 1
            replica.check_user_attributes(item)
            change = replica.Change("backfill", "INSERT", {}, item, 0, 0.0)
            local[replica.apply(change, client, target)] += 1
        return local

    with ThreadPoolExecutor(max_workers=segments) as pool:
        for part in pool.map(one, range(segments)):
            for name, value in part.items():
                counts[name] += value
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tributary.tables", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("backfill", "verify"))
    parser.add_argument("--source", required=True, help="table1")
    parser.add_argument("--target", required=True, help="table2")
    parser.add_argument("--segments", type=int, default=4, help="parallel scan segments per table")
    parser.add_argument("--repair", action="store_true", help="verify: fix what differs, then verify again")
    args = parser.parse_args(argv)
    if not 1 <= args.segments <= 1000:
        parser.error("--segments is 1 to 1000")
    client = aws.client("dynamodb")
    if args.command == "backfill":
        print(json.dumps(backfill(client, args.source, args.target, args.segments)))
        return 0
    drift, source_items, target_items = verify(client, args.source, args.target, args.segments)
    report = {"before": drift.as_dict()}
    if args.repair and not drift.matches:
        keys = key_names(client, args.source)
        report["repaired"] = repair(client, args.target, keys, drift, source_items, target_items, time.time())
        drift, _, _ = verify(client, args.source, args.target, args.segments)
        report["after"] = drift.as_dict()
    print(json.dumps(report, indent=2))
    return 0 if drift.matches else 1


if __name__ == "__main__":
    sys.exit(main())
