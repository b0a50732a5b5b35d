"""tributary's shared layer: serialization and the helpers every function uses.

Functions import from here; nothing here imports a function.
"""

__all__ = [
    "aws",
    "batch",
    "ddb",
    "envelope",
    "json_codec",
    "kinesis",
    "kpl",
    "lake",
    "logs",
    "metrics",
    "tracing",
]
