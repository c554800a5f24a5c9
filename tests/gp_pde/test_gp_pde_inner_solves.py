"""The iterative inner solves for the grid values equal the dense least-squares solve."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayeskit.gp_pde import problems, solver
from bayeskit.gp_pde import spectral as sp


@pytest.mark.filterwarnings("ignore::bayeskit.gp_pde.problems.ResolutionWarning")
@pytest.mark.parametrize(
    "name,iterative,tol",
    [
        # the eigenbasis CG stops at a relative residual of 1e-5 (jax's default), which the
        # conditioning of these systems turns into ~1e-7 (Poisson) and ~5e-5 (Allen-Cahn)
        ("poisson_2d_sin6cos20", "_solve_cg_eigen", 1e-5),
        ("allencahn_2d_mix", "_solve_cg_eigen", 1e-3),
    ],
)
def test_cg_matches_dense_solve(name, iterative, tol):
    with jax.enable_x64(True):
        prob = problems.get(name, grid=24)
        static = solver._static(prob, "student_t", 1, 3000, solver.JITTER)
        data = solver._data(prob)
        factor, maps = solver._factors(static, sp.init_params(2, 6, 3.0))
        u0 = 0.1 * jnp.asarray(np.random.default_rng(0).normal(size=prob.grid))
        args = (static, data, factor, maps, u0, 2.0, 3.0)
        dense, rel_dense = solver._solve_dense(*args)
        cg, rel_cg = getattr(solver, iterative)(*args)
    assert float(rel_dense) < 1e-10 and float(rel_cg) <= 1e-5
    np.testing.assert_allclose(cg, dense, atol=tol * np.abs(np.asarray(dense)).max())
