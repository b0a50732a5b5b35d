"""tributary's command-line clients: what people and the local runtime run, never a Lambda.

- ``produce``: NDJSON or synthetic events into a stream (``tributary-produce``, or
  ``python -m tributary_cli.produce``), over the layer's producer SDK.
- ``tables``: backfill table2 from table1 and verify or repair their drift
  (``tributary-tables``, or ``python -m tributary_cli.tables``).
- ``synthetic``: the deterministic IoT-style workload the producer, the local run and the
  benchmarks send.

These import the layer (``tributary``) and nothing else of the repository; no function imports
them, so they are not in the layer that ships to Lambda.
"""

__all__ = ["produce", "synthetic", "tables"]
