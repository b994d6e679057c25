"""Benchmarks: every number next to a reference measured in the same run (``python -m benchmarks``)."""
