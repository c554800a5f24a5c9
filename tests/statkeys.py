"""Seeds for statistical tests, shiftable so that every tolerance is checked on other keys.

A statistical test (marked `@pytest.mark.statistical`) takes each of its seeds through
`seed(n)`, which returns `n + BAYESKIT_TEST_KEY_SHIFT` (0 unless set). `make key-sweep` reruns
the statistical tests with the shifts 1000, 2000, 3000, 4000 and 5000: five keys besides the one
written down, for data and algorithm alike. A test records the sweep's outcome in a comment.
"""

import os

SHIFT = int(os.environ.get("BAYESKIT_TEST_KEY_SHIFT", "0"))


def seed(n: int) -> int:
    """The seed `n` shifted by BAYESKIT_TEST_KEY_SHIFT (an int; use as a seed or in jax.random.key)."""
    return int(n) + SHIFT
