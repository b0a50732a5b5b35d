"""The partial batch response every function returns, read the way Lambda's mappings read it."""

from __future__ import annotations

import json

from local.functions import Invocation
from local.sqs import succeeded
from local.streams import Record, interpret
from tributary import batch


def test_an_sqs_response_names_each_failed_message_and_nothing_else():
    response = batch.failed_messages(["m2", "m3"])
    assert response == {"batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}]}
    assert json.loads(json.dumps(response)) == response  # what the runtime serialises is what Lambda reads
    assert succeeded(Invocation(True, payload=response), ["m1", "m2", "m3"], True) == {"m1"}
    assert succeeded(Invocation(True, payload=batch.failed_messages([])), ["m1", "m2"], True) == {"m1", "m2"}


def test_a_stream_response_is_the_checkpoint_or_nothing():
    records = [Record(str(n), "k", 0.0, 1, {}) for n in (100, 200, 300)]
    assert batch.from_checkpoint(None) == {"batchItemFailures": []}
    assert interpret(Invocation(True, payload=batch.from_checkpoint(None)), records, True) == ("success", 3)
    assert batch.from_checkpoint("200") == {"batchItemFailures": [{"itemIdentifier": "200"}]}
    assert interpret(Invocation(True, payload=batch.from_checkpoint("200")), records, True) == ("partial", 1)
