"""The benchmarks behind ``make bench`` (``python -m bench``); see docs/performance.md.

Nothing here is imported by the functions or the layer, and nothing here is a test: the
test suite only checks that the benchmarks run (tests/tools/test_bench.py).
"""
