"""tributary's shared layer: what the functions import at run time.

Serialization (``json_codec``, ``envelope``, ``kinesis``, ``kpl``, ``ddb``, ``lake``,
``lake_catalog``), the
helpers every handler uses (``aws``, ``batch``, ``events``, ``logs``, ``metrics``,
``tracing``, ``parking``) and the cores the functions share (``producer``, ``replica``, ``s3sync``).
Functions import from here; nothing here imports a function. The command-line clients live in
``tributary_cli`` (``cli/tributary_cli``), outside the layer.
"""

__all__ = [
    "aws",
    "batch",
    "ddb",
    "envelope",
    "events",
    "json_codec",
    "kinesis",
    "kpl",
    "lake",
    "lake_catalog",
    "logs",
    "metrics",
    "parking",
    "producer",
    "replica",
    "s3sync",
    "tracing",
]
