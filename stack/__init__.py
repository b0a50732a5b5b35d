"""The stack's description as code reads it: the function declarations (``functions/*/function.json``),
the topology Terraform names its resources by (``terraform/topology.json``), the Terraform wrapper,
and the events AWS services deliver to functions.

Both the local runtime (``local/``) and the operations tools (``tools/``) import it; it imports
neither, nor the benchmarks (``make lint`` enforces the direction).
"""
