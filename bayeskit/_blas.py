"""One BLAS thread around LAPACK-heavy JAX work on CPU.

jaxlib runs its CPU LAPACK kernels (Cholesky, triangular solves, QR) in scipy's OpenBLAS, which
starts one thread per core in the process and lets idle threads spin: beside XLA's own thread
pool they take the cores from it. A joint-Adam step of the GP PDE solver on the 200 x 200
advection grid took 15-16 ms with OpenBLAS's default threads and 8 ms with one
(docs/gp_pde_measurements.md).
"""

from __future__ import annotations

from threadpoolctl import threadpool_limits


def one_blas_thread() -> threadpool_limits:
    """A context manager: every loaded BLAS (OpenBLAS, MKL, ...) runs on one thread inside it,
    and gets its previous thread count back on exit."""
    return threadpool_limits(limits=1, user_api="blas")
