"""Every Kusto reference example, gathered for test_kql_reference_examples.py: each module below
adds its pages' examples with :func:`kusto_reference.ex` when imported (the format is described in
kusto_reference.py)."""

from __future__ import annotations

import kusto_reference_expand  # noqa: F401  (each import adds its examples to EXAMPLES)
import kusto_reference_rows  # noqa: F401
import kusto_reference_strings  # noqa: F401
import kusto_reference_time  # noqa: F401
import kusto_reference_values  # noqa: F401
from kusto_reference import EXAMPLES, NOW

__all__ = ["EXAMPLES", "NOW"]
