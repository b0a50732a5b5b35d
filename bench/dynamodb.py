"""DynamoDB stream images: the layer's converter against boto3's TypeDeserializer (benchmark 4).

Both read the same images, in the form boto3 returns them (binary as bytes, which is the
only form TypeDeserializer accepts), and their outputs are checked to be exactly equal,
type for type, before anything is timed.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bench import timing, workload
from bench.report import Compared, Result, Section


def plain(value: Any) -> Any:
    """boto3's values with its Binary wrapper unwrapped, so types compare one to one."""
    from boto3.dynamodb.types import Binary

    if isinstance(value, Binary):
        return bytes(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return {plain(v) for v in value}
    return value


def identical(a: Any, b: Any) -> bool:
    """Equal values of the same types all the way down (Decimal is not int, bytes is not str)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(identical(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, set):
        return a == b and {type(x) for x in a} == {type(x) for x in b}
    if isinstance(a, Decimal):
        return a == b and a.as_tuple() == b.as_tuple()
    return a == b


def run(repeats: int, images: int = 2000) -> Section:
    """Benchmark 4."""
    from boto3.dynamodb.types import TypeDeserializer

    from tributary import ddb

    data = workload.dynamodb_images(images)
    deserializer = TypeDeserializer()

    def ours() -> list[dict[str, Any]]:
        return [ddb.from_item(image) for image in data]

    def boto3s() -> list[dict[str, Any]]:
        return [{k: deserializer.deserialize(v) for k, v in image.items()} for image in data]

    mine, theirs = ours(), [plain(item) for item in boto3s()]
    mismatches = sum(1 for a, b in zip(mine, theirs, strict=True) if not identical(a, b))
    if mismatches:
        raise AssertionError(f"{mismatches} of {images} images decode differently from boto3")

    def walk() -> list[dict[str, Any]]:
        return [{k: _walk(v) for k, v in image.items()} for image in data]

    samples = timing.interleaved({"tributary": ours, "boto3": boto3s, "walk": walk}, repeats)
    ours_us = timing.median(samples["tributary"]) / 1000 / images
    theirs_us = timing.median(samples["boto3"]) / 1000 / images
    walk_us = timing.median(samples["walk"]) / 1000 / images
    attributes = sum(_count(image) for image in data) / images
    section = Section("4. DynamoDB image decoding")
    section.results = [
        Result(
            "TypeDeserializer / tributary.ddb",
            theirs_us / ours_us,
            "x faster",
            (Compared("tributary.ddb", ours_us, "us/image"), Compared("boto3", theirs_us, "us/image")),
            ">= 3",
            f"{images:,} images of {attributes:.0f} attribute values each, outputs identical",
        ),
        Result(
            "TypeDeserializer / walk floor",
            theirs_us / walk_us,
            "x",
            (Compared("walk floor", walk_us, "us/image"),),
            note="the best any pure-Python converter could do: visit every value, convert none",
        ),
    ]
    section.detail = {
        "images": images,
        "attribute_values_per_image": attributes,
        "identical": True,
        "tributary_us_per_image": ours_us,
        "boto3_us_per_image": theirs_us,
        "walk_floor_us_per_image": walk_us,
    }
    return section


def _walk(av: dict[str, Any]) -> Any:
    """Visit every value of an AttributeValue and convert none: one call per value, as any
    recursive converter makes."""
    (tag,) = av
    value = av[tag]
    if tag == "M":
        return {k: _walk(v) for k, v in value.items()}
    if tag == "L":
        return [_walk(v) for v in value]
    return value


def _count(image: dict[str, Any]) -> int:
    return sum(_values(av) for av in image.values())


def _values(av: dict[str, Any]) -> int:
    ((tag, inner),) = av.items()
    if tag == "M":
        return 1 + sum(_values(v) for v in inner.values())
    if tag == "L":
        return 1 + sum(_values(v) for v in inner)
    return 1
