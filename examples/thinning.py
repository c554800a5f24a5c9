"""Kernel thinning in one minute: compress 1024 Gaussian draws to 32 points.

Run: ``python examples/thinning.py``. Compares target kernel thinning, KT-Compress++ and the
i.i.d. and standard-thinning baselines by their MMD to all draws (Dwivedi & Mackey, 2021).
"""

import jax
import numpy as np

from bayeskit import thinning
from bayeskit.kernels import Gaussian


def main() -> None:
    n, d = 2**10, 2
    x = np.random.default_rng(0).standard_normal((n, d))
    kernel = Gaussian(lengthscale=np.sqrt(2.0 * d))  # the papers' bandwidth sqrt(2d)
    m = 5  # 1024 / 2^5 = 32 = sqrt(n) points
    coresets = {
        "kernel thinning": thinning.thin(jax.random.key(0), x, m, kernel),
        "KT-Compress++ (g=2)": thinning.compresspp(jax.random.key(1), x, kernel, g=2),
        "i.i.d.": thinning.iid(jax.random.key(2), n, n // 2**m),
        "standard thinning": thinning.standard_thin(n, n // 2**m),
    }
    print(f"{n} points in d = {d} -> {n // 2**m} points; MMD to all points:")
    for name, idx in coresets.items():
        print(f"  {name:22s} {thinning.mmd(x, kernel, idx=idx):.5f}")


if __name__ == "__main__":
    main()
