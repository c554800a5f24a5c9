"""Reference quantities for the thinning tests' statistical checks."""

import numpy as np
import scipy.stats


def iid_mean_mmd2(kmat, s):
    """Exact E[MMD^2] of ``s`` rows drawn uniformly without replacement from ``n`` (finite-
    population variance): (n - s) / (s (n - 1)) * (mean diag K - mean K). ``kmat``: (n, n)."""
    n = kmat.shape[0]
    return (n - s) / (s * (n - 1)) * (np.diag(kmat).mean() - kmat.mean())


def t_upper(values, level):
    """One-sided Student-t upper confidence bound at ``level`` on the mean of ``values`` (k,)."""
    v = np.asarray(values)
    return v.mean() + scipy.stats.t.ppf(1 - level, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size)
