"""The same shards, delivered by the local runtime's own event source mapping (``local.streams.Lane``).

``mapping.py`` is a model written here from AWS's documentation; ``local/streams.py`` is the one
``make local`` runs. Draining through both, with the same faults, checks the handler against
each and each against the other: the lake must come out as the specification says either way.
"""

from __future__ import annotations

import pytest
from hypothesis import given

from local.functions import Invocation
from local.streams import Lane, Record, StreamSettings
from tests.fuzz import lake, mapping
from tests.fuzz import strategies as gen

pytestmark = pytest.mark.usefixtures("moto_s3")


def drain_through_the_runtime(shard: gen.Shard, delivery: gen.Delivery) -> lake.Run:
    result = lake.Run(drained=mapping.Drained())
    settings = StreamSettings(
        batch_size=delivery.batch_sizes[0],
        window_s=0.0,
        bisect=delivery.bisect,
        report_batch_item_failures=True,  # retries unbounded: the injected faults are finite
    )
    invocations = {"n": 0}

    def invoke(records: list[Record]) -> Invocation:
        invocations["n"] += 1
        assert invocations["n"] < 1000, "the shard does not drain"
        start, end = records[0].raw, records[-1].raw + 1
        outcome = lake.invoke(shard, faults, result, start, end)
        result.drained.steps.append(mapping.Step(start, end, "function_error" if outcome.function_error else "ran"))
        return Invocation(ok=not outcome.function_error, payload=outcome.response)

    def gave_up(records: list[Record], condition: str, invokes: int) -> None:
        result.problems.append(f"records {records[0].raw}..{records[-1].raw} sent to on-failure: {condition}")

    redeliver = iter(sorted(delivery.lost_responses))
    wanted = next(redeliver, None)

    def duplicate() -> bool:
        nonlocal wanted
        if wanted is not None and invocations["n"] >= wanted:
            wanted = next(redeliver, None)
            return True
        return False

    with (
        lake.fresh_lake(MAX_RECORD_BYTES=str(shard.max_record_bytes)) as bucket,
        lake.S3Faults(delivery.failing_puts, delivery.crashing_puts).installed() as faults,
    ):
        lane = Lane(settings, invoke, gave_up, duplicate=duplicate)
        lane.add(
            [Record(p.sequence_number, p.partition_key, p.arrival, len(p.data), i) for i, p in enumerate(shard.puts)]
        )
        while lane.step():
            pass
        result.found = lake.read_lake(bucket)
    result.problems.extend(lake.check_lake(shard, result.found))
    return result


@given(gen.shards(max_puts=8, max_record_bytes=16384), gen.deliveries())
def test_the_runtime_mapping_drains_a_shard_exactly_once_whatever_fails(shard, delivery):
    result = drain_through_the_runtime(shard, delivery)
    assert not result.problems, result.report()
