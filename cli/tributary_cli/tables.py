"""Backfill and verify for the table sync: parallel scans, drift reports, repairs.

    python -m tributary_cli.tables backfill --source T1 --target T2 [--segments 8]
    python -m tributary_cli.tables verify --source T1 --target T2 [--repair] [--segments 8]

Both are safe while table1 is live: each item is read from table2, then from table1, and
written only if table2 still holds what was read (``copy_current``), so a change applied
meanwhile is never undone and a deleted item never returns. ``backfill`` skips and reports
an item it cannot copy (a reserved attribute, too big for table2) and goes on; it exits 0
when every item was copied or already there, 1 when some were skipped or failed. ``verify``
exits 0 when the tables match, 1 when they differ (after ``--repair``: when they still
differ), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tributary import aws, ddb, parking, replica

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


@dataclass
class Tally:
    """What a backfill or repair did, item by item, and the items it could not copy (with why)."""

    counts: Counter[str] = field(default_factory=Counter)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.counts.update(other.counts)
        self.skipped.extend(other.skipped)

    def skip(self, key: Mapping[str, Any], reason: str, detail: str, count: str = "skipped") -> None:
        """Record an item left uncopied: ``skipped`` (it never can be) or ``failed`` (an error)."""
        self.counts[count] += 1
        self.skipped.append(
            {"key": ddb.to_item(ddb.from_item(key), binary="base64"), "reason": reason, "detail": detail[:300]}
        )

    @property
    def complete(self) -> bool:
        """Every item was copied or left alone on purpose: none skipped, none failed."""
        return not (self.counts["skipped"] or self.counts["failed"])

    def as_dict(self, limit: int = 20) -> dict[str, Any]:
        reasons = Counter(entry["reason"] for entry in self.skipped)
        return {**self.counts, "skipped_reasons": dict(reasons), "skipped_examples": self.skipped[:limit]}


def _held_condition(observed: Mapping[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any]:
    # The write lands only if the replica still holds what was observed: the same version, or nothing.
    if observed is None:
        return {"ConditionExpression": "attribute_not_exists(#k)", "ExpressionAttributeNames": {"#k": keys[0]}}
    if replica.VERSION not in observed:
        return {
            "ConditionExpression": "attribute_exists(#k) AND attribute_not_exists(#v)",
            "ExpressionAttributeNames": {"#k": keys[0], "#v": replica.VERSION},
        }
    return {
        "ConditionExpression": "#v = :observed",
        "ExpressionAttributeNames": {"#v": replica.VERSION},
        "ExpressionAttributeValues": {":observed": observed[replica.VERSION]},
    }


def _read(client: Any, table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
    return client.get_item(TableName=table, Key=dict(key), ConsistentRead=True).get("Item")


def _same(found: Mapping[str, Any] | None, observed: Mapping[str, Any] | None) -> bool:
    held = None if observed is None else replica.user_view(observed)
    if found is None or held is None:
        return found is None and held is None
    return ddb.item_digest(ddb.from_item(found)) == ddb.item_digest(ddb.from_item(held))


def copy_current(
    client: Any,
    source: str,
    target: str,
    key: Mapping[str, Any],
    keys: tuple[str, ...],
    now: float | None = None,
    tombstone_ttl_s: int = replica.DEFAULT_TOMBSTONE_TTL_S,
    only_missing: bool = False,
) -> str:
    """Make the replica hold table1's current state of one item: ``written``, ``same`` (nothing to
    do), ``present`` (``only_missing``: the replica holds the item already) or ``busy`` (the item
    kept changing; the stream keeps it current).

    The replica is read first, then table1 (consistently), and the write is conditional on the
    replica still holding what was read, under the version it held: a change applied meanwhile
    wins, and a change still in flight (newer) applies over the copy. The copy is marked as read
    from table1 (``replica.READ_AT``), so a change older than it does not bring an older image
    back (see ``replica.apply``). Raises replica.ChangeError or a ClientError for an item that
    cannot be copied (``parking.refusal`` tells which).
    """
    for _ in range(replica.WRITE_ATTEMPTS):
        read_at = time.time() if now is None else now  # before table1 is read
        observed = _read(client, target, key)
        if only_missing and observed is not None:
            return "present"
        found = _read(client, source, key)
        if _same(found, observed):  # also: gone from table1, and absent or a tombstone in table2
            return "same"
        version = observed.get(replica.VERSION, replica.encode_version(0)) if observed else replica.encode_version(0)
        item = replica.source_copy(key, found, version, replica.read_mark(read_at), read_at, tombstone_ttl_s)
        try:
            client.put_item(TableName=target, Item=item, **_held_condition(observed, keys))
        except client.exceptions.ConditionalCheckFailedException:
            continue  # a change applied meanwhile: look again
        return "written"
    return "busy"


def _copy_one(
    client: Any,
    source: str,
    target: str,
    key: Mapping[str, Any],
    keys: tuple[str, ...],
    now: float | None,
    tombstone_ttl_s: int,
    only_missing: bool,
    tally: Tally,
) -> None:
    try:
        outcome = copy_current(client, source, target, key, keys, now, tombstone_ttl_s, only_missing)
    except Exception as exc:  # one item must not stop the others; each is reported
        refused = parking.refusal(exc)
        if refused is None:
            tally.skip(key, "failed", f"{type(exc).__name__}: {exc}", count="failed")
            return
        tally.skip(key, *refused)
        return
    tally.counts[outcome] += 1


def repair(
    client: Any,
    source: str,
    target: str,
    keys: tuple[str, ...],
    drift: Drift,
    source_items: dict,
    target_items: dict,
    now: float | None = None,
    tombstone_ttl_s: int = replica.DEFAULT_TOMBSTONE_TTL_S,
) -> Tally:
    """Copy table1's current state of every item the drift names into the replica (``copy_current``).

    The scans only say which items to look at: each is read again, from both tables, when it is
    written, so a change made while verify ran is never undone and a deleted item never returns.
    ``now`` (the time of each source read, by default the clock) is for tests.
    """
    tally = Tally()
    for key in [*drift.missing, *drift.different, *drift.extra]:
        item = source_items.get(key) or target_items[key]
        _copy_one(client, source, target, {name: item[name] for name in keys}, keys, now, tombstone_ttl_s, False, tally)
    return tally


def backfill(
    client: Any, source: str, target: str, segments: int = 4, tombstone_ttl_s: int = replica.DEFAULT_TOMBSTONE_TTL_S
) -> Tally:
    """Copy every table1 item the replica does not hold yet (``copy_current`` with ``only_missing``):
    items the stream already wrote (or deleted) are left alone. An item that cannot be copied (a
    reserved attribute, too big for table2) is skipped and reported, and the scan goes on."""
    keys = key_names(client, source)

    def one(segment: int) -> Tally:
        local = Tally()
        for item in scan_segment(client, source, segment, segments):
            local.counts["scanned"] += 1
            _copy_one(
                client, source, target, {name: item[name] for name in keys}, keys, None, tombstone_ttl_s, True, local
            )
        return local

    total = Tally()
    with ThreadPoolExecutor(max_workers=segments) as pool:
        for part in pool.map(one, range(segments)):
            total.add(part)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tributary_cli.tables", description=__doc__.split("\n\n")[0])
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
        tally = backfill(client, args.source, args.target, args.segments)
        print(json.dumps(tally.as_dict(), indent=2))
        return 0 if tally.complete else 1
    drift, source_items, target_items = verify(client, args.source, args.target, args.segments)
    report: dict[str, Any] = {"before": drift.as_dict()}
    if args.repair and not drift.matches:
        keys = key_names(client, args.source)
        tally = repair(client, args.source, args.target, keys, drift, source_items, target_items)
        report["repaired"] = tally.counts["written"]
        report["repair"] = tally.as_dict()
        drift, _, _ = verify(client, args.source, args.target, args.segments)
        report["after"] = drift.as_dict()
    print(json.dumps(report, indent=2))
    return 0 if drift.matches else 1


if __name__ == "__main__":
    sys.exit(main())
