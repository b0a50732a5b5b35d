"""The lake's codecs (tributary.lake): gzip and zstd objects, read back by the codec and by an
independent reader (DuckDB's own gzip and Zstandard decoders, as Athena would read them)."""

from __future__ import annotations

import gzip

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.examples import examples
from tributary import lake

LINES = st.lists(
    st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.text(), st.integers(), st.floats(allow_nan=False, allow_infinity=False)),
        max_size=4,
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=examples(200), deadline=None)
@given(data=st.binary(max_size=4096), codec=st.sampled_from(sorted(lake.CODECS)), level=st.integers(1, 19))
def test_any_bytes_round_trip_at_any_level_and_equal_input_gives_equal_bytes(data, codec, level):
    chosen = lake.codec(codec)
    level = min(level, chosen.max_level)
    packed = chosen.compress(data, level)
    assert chosen.decompress(packed) == data
    assert chosen.compress(data, level) == packed  # equal ETags for an equal rewrite


@pytest.mark.parametrize("codec", sorted(lake.CODECS))
def test_concatenated_streams_read_as_one(codec):
    chosen = lake.codec(codec)
    assert chosen.decompress(chosen.compress(b"a\n") + chosen.compress(b"b\n")) == b"a\nb\n"


@settings(max_examples=examples(50), deadline=None)
@given(objects=LINES, codec=st.sampled_from(sorted(lake.CODECS)))
def test_duckdb_reads_each_codecs_objects_by_their_ending(tmp_path_factory, objects, codec):
    chosen = lake.codec(codec)
    path = tmp_path_factory.mktemp("lake") / f"part{chosen.suffix}"
    path.write_bytes(chosen.compress(lake.encode_ndjson([{"n": n, "v": o} for n, o in enumerate(objects)])))
    rows = duckdb.sql(
        f"SELECT count(*) FROM read_json('{path}', format = 'newline_delimited', columns = {{'n': 'BIGINT'}})"
    ).fetchall()
    assert rows == [(len(objects),)]


def test_a_damaged_zstd_object_fails_to_read_rather_than_yield_other_bytes():
    packed = bytearray(lake.ZSTD.compress(b'{"a": 1}\n' * 500))
    packed[len(packed) // 2] ^= 0x55
    with pytest.raises(Exception, match=r"(?i)checksum|corrupt|error|invalid"):
        lake.ZSTD.decompress(bytes(packed))


def test_keys_name_their_codec():
    assert lake.GZIP.suffix == ".ndjson.gz"
    assert lake.ZSTD.suffix == ".ndjson.zst"
    assert lake.codec_of("events/dt=2026-12-04/hour=01/s-1.ndjson.zst") is lake.ZSTD
    assert lake.codec_of("events/dt=2026-12-04/hour=01/s-1.ndjson.gz") is lake.GZIP
    assert lake.codec_of("events/dt=2026-12-04/hour=01/s-1.parquet") is None
    assert lake.stem("a/b.ndjson.zst") == lake.stem("a/b.ndjson.gz") == "a/b"
    body = b'{"a":1}\n'
    assert lake.decompress_object("k.ndjson.gz", gzip.compress(body)) == body
    assert lake.decompress_object("k.ndjson.zst", lake.ZSTD.compress(body)) == body
    with pytest.raises(ValueError, match="ends in none of"):
        lake.decompress_object("k.json", body)


def test_a_codec_or_level_that_does_not_exist_is_refused_with_the_choices():
    assert lake.codec(None) is lake.codec("") is lake.GZIP  # the default
    with pytest.raises(ValueError, match=r"lake codec 'brotli' is not one of \['gzip', 'zstd'\]"):
        lake.codec("brotli")
    assert lake.GZIP.level(None) == 6
    assert lake.ZSTD.level("") == 3
    assert lake.ZSTD.level("19") == 19
    with pytest.raises(ValueError, match="gzip compression level 10 is outside 1 to 9"):
        lake.GZIP.level("10")
    with pytest.raises(ValueError, match="is not an integer"):
        lake.ZSTD.level("fast")
