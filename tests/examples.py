"""How many examples a property test runs.

``make test`` runs each property test's full count. ``make unit``, the quick check while
editing, sets ``TRIBUTARY_EXAMPLES=few`` and runs a twentieth of it (at least 10): the same
properties over fewer inputs, so that a broken property still shows at once.
"""

from __future__ import annotations

import os

FEW = os.environ.get("TRIBUTARY_EXAMPLES") == "few"


def examples(count: int) -> int:
    """``count``, or under ``make unit`` a twentieth of it (at least 10)."""
    return max(10, count // 20) if FEW else count
