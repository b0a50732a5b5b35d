"""Property tests of the whole stream processor: the real handler, real boto3 calls, moto's S3.

Each example lays out a shard, drains it through a model of Lambda's event source mapping
(mapping.py) with the S3 faults the example asks for, reads back everything the function
wrote and holds it to the specification (spec.py): every good record once in the lake (by
id: producer resends must be dropped), every bad one once in the quarantine with a reason,
its bytes and its arrival time, and no failure that an injected fault does not explain.

The ``@example`` cases pin one known way to get each rule wrong.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.fuzz import lake, spec
from tests.fuzz import strategies as gen
from tests.fuzz.strategies import ARRIVALS_MS, Delivery, Obj, Raw, Shard, Style, b64, envelope, lay_out

pytestmark = pytest.mark.usefixtures("moto_s3")


def shard_of(*records: bytes | Obj, max_record_bytes: int = spec.MAX_RECORD_BYTES, step_ms: int = 250) -> Shard:
    """Plain records, one after the other, a quarter of a second apart."""
    datas = [gen.encode(r) if isinstance(r, Obj) else r for r in records]
    return Shard(
        lay_out([(b64(d), f"device-{i % 3}", None) for i, d in enumerate(datas)], [1], [step_ms]), max_record_bytes
    )


def drains_as_specified(shard: Shard, delivery: Delivery = lake.NO_FAULTS, **env: str) -> None:
    result = lake.run(shard, delivery, **env)
    assert not result.problems, result.report()


# --- one batch, no faults: what each record becomes -----------------------------------------


FOREIGN = "\N{DEVANAGARI DIGIT TWO}\N{DEVANAGARI DIGIT ZERO}\N{DEVANAGARI DIGIT TWO}\N{DEVANAGARI DIGIT SIX}"
WIDE_22 = "\N{FULLWIDTH DIGIT TWO}" * 2
OFFSETS_BEYOND_A_DAY = [
    "2026-11-22T10:15:30+24:00",
    "2026-11-22T10:15:30-24:00",
    "2026-11-22T10:15:30+99:99",
    "2026-11-22T10:15:30-23:60",
    "2026-11-22T10:15:30+00:60",
]
OUTSIDE_THE_YEARS_IN_UTC = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]
FOREIGN_DIGITS = [
    f"{FOREIGN}-11-22T10:15:30Z",
    f"2026-11-{WIDE_22}T10:15:30Z",
    "2026-11-22T1\N{DEVANAGARI DIGIT ZERO}:15:30Z",
    "2026-11-22T10:15:30+\N{ARABIC-INDIC DIGIT ZERO}2:00",
]
LONG_FRACTIONS = [
    "2026-11-22T10:15:30.1234567Z",
    "2026-11-22T10:15:30.12345678+01:00",
    "2026-11-22T10:15:30.123456789Z",
]
LOWERCASE = ["2026-11-22t10:15:30z", "2026-11-22t10:15:30.5+02:00", "2026-11-22T10:15:30z"]
LEAP_SECONDS = ["2026-12-31T23:59:60Z", "2027-01-01T00:59:60+01:00", "2026-06-30T23:59:60.25Z"]
MISPLACED_LEAP_SECONDS = ["2026-12-31T12:00:60Z", "2026-12-31T23:59:60+01:00"]
EDGES = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "2026-11-22T00:30:00+01:00"]


@given(st.lists(gen.times(), min_size=1, max_size=8))
@example(OFFSETS_BEYOND_A_DAY).via("offsets beyond ±23:59 are bad")
@example(OUTSIDE_THE_YEARS_IN_UTC).via("a time outside years 0001-9999 in UTC is bad")
@example(FOREIGN_DIGITS).via("only ASCII digits")
@example(LONG_FRACTIONS).via("7 to 9 fraction digits are good")
@example(LOWERCASE).via("lowercase t and z are good")
@example(LEAP_SECONDS).via("leap seconds at 23:59 UTC are good")
@example(MISPLACED_LEAP_SECONDS).via("a leap second not at 23:59 UTC is bad")
@example(EDGES).via("the edges of the range, a date change at the offset")
def test_every_event_time_lands_as_specified(times):
    drains_as_specified(shard_of(*(envelope(i, time=t) for i, t in enumerate(times))))


@st.composite
def unicode_envelopes(draw, serial):
    """Envelopes with any text in every string, lone surrogates included now and then."""
    lone = draw(st.booleans()) and draw(st.booleans())
    doc = envelope(
        serial,
        id=draw(gen.ids(serial, surrogates=lone)),
        type=draw(gen.names(spec.MAX_LENGTHS["type"], surrogates=lone)),
        source=draw(gen.names(spec.MAX_LENGTHS["source"], surrogates=lone)),
        payload=draw(gen.payloads(surrogates=lone)),
    )
    if draw(st.booleans()):
        key = draw(gen.texts(max_size=6, surrogates=lone).filter(lambda k: k not in spec.FIELDS))
        doc = doc.with_pair(key, draw(gen.values(surrogates=lone)))
    return gen.encode(doc, draw(gen.styles()))


LONE_IN_ID = (gen.encode(envelope(0, id="r\ud800#0")), gen.encode(envelope(1, id="\udfff#1")))
LONE_IN_AN_UNKNOWN_KEY = (
    gen.encode(envelope(0).with_pair("k\ud800", 1)),
    gen.encode(envelope(1).with_pair("\udc00", 0)),
)
LONE_ELSEWHERE = (
    gen.encode(envelope(0, payload={"note": "a\ud800b"})),
    gen.encode(envelope(1, payload={"\udbff": 1})),
    gen.encode(envelope(2, type="t\udc00")),
    gen.encode(envelope(3, source="s\ud800\ud800")),
)
ANY_OTHER_UNICODE = (
    gen.encode(envelope(0, id="\U0001f600" * 126 + "#0", payload={"e": "\U0001f600\U0010ffff"}), Style(escape="ascii")),
    gen.encode(
        envelope(1, source="\N{CJK UNIFIED IDEOGRAPH-4E2D}" * 256, payload={"\u2028": "\x00\ufeff"}),
        Style(escape="all", upper_hex=True),
    ),
)


@given(st.integers(1, 8).flatmap(lambda n: st.tuples(*(unicode_envelopes(i) for i in range(n)))))
@example(LONE_IN_ID).via("a lone surrogate in id is bad_unicode, not a crash")
@example(LONE_IN_AN_UNKNOWN_KEY).via("a lone surrogate in an unknown key is bad_unicode, not a crash")
@example(LONE_ELSEWHERE).via("lone surrogates in payload, type and source are bad_unicode")
@example(ANY_OTHER_UNICODE).via("paired surrogate escapes and any other Unicode are good")
def test_any_unicode_lands_as_specified(records):
    drains_as_specified(shard_of(*records))


NUMBERS = st.sampled_from(gen.GOOD_NUMBERS + gen.BAD_NUMBERS)


@given(
    st.lists(
        st.one_of(
            NUMBERS, st.sampled_from([gen.nested(98), gen.nested(98, "{"), gen.nested(5000), gen.nested(6000, "{")])
        ),
        min_size=1,
        max_size=6,
    )
)
@example([Raw("NaN"), Raw("Infinity"), Raw("-Infinity")]).via("NaN and the infinities are not_json")
@example([Raw("1e400"), Raw("-1e400"), gen.digits(4301)]).via("numbers beyond I-JSON are not_json")
@example([gen.digits(38), gen.digits(400), gen.digits(4300), Raw("-" + gen.digits(4300).text)]).via("long integers")
@example([gen.nested(98), gen.nested(98, "{"), gen.nested(5000), gen.nested(5000, "{")]).via("nesting")
def test_numbers_and_nesting_land_as_specified(values):
    drains_as_specified(shard_of(*(envelope(i, payload={"v": v}) for i, v in enumerate(values))))


@given(st.integers(1, 8).flatmap(lambda n: st.tuples(*(gen.record_data(i, 4096) for i in range(n)))))
@example(
    (
        gen.encode(envelope(0).with_pair("id", "r#0~0")),
        gen.encode(envelope(1).with_pair("payload", [])),
        gen.encode(envelope(2).with_pair("extra", 1).with_pair("extra", 2)),
        gen.encode(envelope(3).with_pair("time", "2026-11-22T11:00:00Z")),
    )
).via("repeated keys: the last one wins")
@example(
    (
        b"",
        b"\xef\xbb\xbf" + gen.encode(envelope(0)),
        gen.encode(envelope(1))[:-1],
        b"[1,2]",
        b'"text"',
        gen.encode(envelope(2)).replace(b"device", b"dev\xed\xa0\x80ice"),
    )
).via("not JSON, not an object, not UTF-8")
@example(
    (
        gen.encode(envelope(0).without("source")),
        gen.encode(envelope(1, id="")),
        gen.encode(envelope(2, id=7)),
        gen.encode(envelope(3, payload=[])),
        gen.encode(envelope(4, type="t" * 129)),
        gen.encode(envelope(5, time=1795342530)),
    )
).via("the envelope's own reasons")
@example((gen.pad_to(envelope(0), 4096, Style()), gen.pad_to(envelope(1), 4097, Style()))).via("the size limit")
def test_any_record_lands_as_specified(records):
    drains_as_specified(shard_of(*records, max_record_bytes=4096))


def test_records_at_and_over_the_default_size_limit():
    limit = spec.MAX_RECORD_BYTES
    shard = shard_of(gen.pad_to(envelope(0), limit, Style()), gen.pad_to(envelope(1), limit + 1, Style()))
    assert [len(u[0].data) for u in shard.users] == [limit, limit + 1]
    assert [u[0].verdict.kind for u in shard.users] == ["good", "bad"]
    drains_as_specified(shard)


def _aggregate(*members: bytes) -> str:
    return b64(gen.aggregate([(f"device-{i}", m, None) for i, m in enumerate(members)])[1])


GOOD_AGGREGATE = _aggregate(gen.encode(envelope(0)), gen.encode(envelope(1, time="2026-11-22T11:00:00+01:00")))


DECODE_REJECTS = (
    (GOOD_AGGREGATE[:-4] + "AAA=", "k", 0),
    ("this is not base64!", "k", 0),
    (b64(gen.MAGIC + b"\x01\x02"), "k", 0),
    (b64(gen.malformed_aggregates()[0]), "k", 0),
    (b64(gen.malformed_aggregates()[2]), "k", 0),
)
MIXED_AGGREGATE = (
    (
        _aggregate(
            gen.encode(envelope(0)),
            b"not json",
            gen.encode(envelope(2, id="\ud800")),
            gen.MAGIC + b"{}",
            gen.encode(envelope(4, time="2026-11-22t10:15:30.1234567z")),
        ),
        "k",
        0,
    ),
)


@given(st.integers(1, 6).flatmap(lambda n: st.tuples(*(gen.kinesis_entry(i * 10, 4096) for i in range(n)))))
@example(DECODE_REJECTS).via("decode-time rejects are quarantined with their arrival time")
@example(MIXED_AGGREGATE).via("an aggregate of good and bad records")
def test_aggregates_and_decode_rejects_land_as_specified(entries):
    shard = Shard(lay_out([(d, k, None) for d, k, _ in entries], [1], [1000], first_arrival_ms=ARRIVALS_MS[1]), 4096)
    drains_as_specified(shard)


# --- whole shards under delivery faults -----------------------------------------------------


def _hours(serial: int, hour: int) -> Obj:
    return envelope(serial, time=f"2026-11-22T{hour:02d}:15:30Z")


MULTI_HOUR = shard_of(*(_hours(i, 10 + i % 3) for i in range(9)), b"not json")


@given(gen.shards(max_puts=10, max_record_bytes=16384), gen.deliveries())
@example(MULTI_HOUR, Delivery(failing_puts=frozenset({2}))).via("S3 fails after the first object of a multi-hour batch")
@example(MULTI_HOUR, Delivery(batch_sizes=(4, 10_000), failing_puts=frozenset({2, 3, 6}))).via("repeated failures")
@example(MULTI_HOUR, Delivery(crashing_puts=frozenset({3}))).via("a timeout mid-batch, bisected")
@example(MULTI_HOUR, Delivery(bisect=False, lost_responses=frozenset({1}))).via("a batch that succeeded, again")
@example(
    Shard(
        lay_out(
            [
                (b64(gen.encode(_hours(0, 10))), "k", None),
                (b64(gen.encode(_hours(1, 11))), "k", None),
                (b64(gen.encode(_hours(0, 10))), "k", 0),
            ],
            [1],
            [500],
        )
    ),
    Delivery(batch_sizes=(1, 2)),
).via("a producer resend in a later batch")
def test_a_shard_drains_exactly_once_whatever_fails(shard, delivery):
    drains_as_specified(shard, delivery)


DEDUPE_IDS = 5


def _retry_changes_dedupe() -> tuple[Shard, Delivery]:
    """Attempt 1 drops x's resend; the state it writes ages x out; the retry must not keep the resend."""
    first = [_hours(i, 10) for i in range(DEDUPE_IDS)]  # the last one is x
    second = [_hours(10, 10), _hours(11, 11), first[-1], _hours(12, 10)]  # g1, g2, x again, g3
    entries = [(b64(gen.encode(doc)), "k", None) for doc in first + second]
    entries[DEDUPE_IDS + 2] = (*entries[DEDUPE_IDS + 2][:2], DEDUPE_IDS - 1)
    # Batch 1 writes one object and the dedupe state (PutObject calls 1 and 2). Batch 2 holds two
    # hours; its second object (call 4) fails, so the retry starts at g2 and meets x's resend again.
    # The resend is the third user record after x, inside DEDUPE_MAX_IDS: every attempt must drop it.
    return Shard(lay_out(entries, [1], [200])), Delivery(batch_sizes=(DEDUPE_IDS, 10_000), failing_puts=frozenset({4}))


@given(gen.shards(max_puts=8, max_record_bytes=16384, resends=4, resend_reach=DEDUPE_IDS), gen.deliveries())
@example(*_retry_changes_dedupe()).via("a retry must not change a dedupe decision")
def test_resends_within_the_dedupe_limits_are_dropped_whatever_fails(shard, delivery):
    drains_as_specified(shard, delivery, DEDUPE_MAX_IDS=str(DEDUPE_IDS))


def test_the_function_declares_the_limits_these_tests_assume():
    environment = lake.FUNCTION["environment"]
    assert int(environment["MAX_RECORD_BYTES"]) == spec.MAX_RECORD_BYTES
    assert int(environment["DEDUPE_WINDOW_SECONDS"]) >= 300  # generated shards span under a minute
    assert int(environment["DEDUPE_MAX_IDS"]) >= 1000  # and hold under a hundred user records
