"""Solve u'' = f with u = sin(20 x) on [0, 2 pi] with GP-HM and print the error and spectrum.

Run: ``python examples/gp_pde.py`` (about a minute on 2 cores).
"""

import numpy as np

from bayeskit import gp_pde
from bayeskit.gp_pde.problems import PDEProblem, Term, source_from_exact


def exact(x):
    import jax.numpy as jnp

    return jnp.sin(20.0 * x[0])


terms = [Term(1.0, 0, 2)]  # u_xx
problem = PDEProblem(
    name="poisson_1d_sin20",
    domain=((0.0, 2 * np.pi),),
    grid=(160,),
    terms=terms,
    source=source_from_exact(exact, terms),
    boundary=exact,
    exact=exact,
    max_frequency=20 / (2 * np.pi),
    freq_scale=5.0,
)
sol = gp_pde.solve(0, problem, n_components=10, steps=100)
print(f"relative L2 error: {sol.rel_l2():.2e}")
spec = sol.spectrum()
active = np.asarray(spec.active[0])
print("active frequencies (cycles/unit):", np.round(np.asarray(spec.freqs[0])[active], 2))
print("true frequency:", round(20 / (2 * np.pi), 2))
