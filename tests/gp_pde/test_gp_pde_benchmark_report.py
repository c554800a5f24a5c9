"""The benchmark's report of each case: last step and best checkpoint, the authors' selection."""

import jax
import jax.numpy as jnp
import numpy as np

from bayeskit import gp_pde
from bayeskit.gp_pde import benchmark
from bayeskit.gp_pde.benchmark import _best, _record
from bayeskit.gp_pde.problems import PDEProblem, Term, source_from_exact


def _problem():
    def ex(x):
        return jnp.sin(2 * jnp.pi * x[0])

    terms = (Term(1.0, 0, 2),)
    return PDEProblem(
        "lowfreq", ((0.0, 1.0),), (16,), terms, source_from_exact(ex, terms), ex, exact=ex
    )


def test_record_reports_last_step_and_best_checkpoint():
    sol = gp_pde.solve(0, _problem(), n_components=3, steps=6, log_every=2)
    out = {}
    last = _record(out, "poisson_1d_low", sol)
    assert last == out["rel_l2_poisson1d_low"] == sol.rel_l2()
    # the checkpoints are measured as rel_l2 is: the last one is the final error
    np.testing.assert_allclose(sol.trace.rel_l2[-1], last, rtol=1e-10)
    best = out["best_rel_l2_poisson1d_low"]
    assert best == min(np.min(sol.trace.rel_l2[:-1]), last) <= last
    assert len(sol.trace.rel_l2) == 4


def test_best_of_extra_gp_is_over_the_sum():
    sol = gp_pde.solve(0, _problem(), n_components=3, steps=2, extra_gp=True, extra_steps=4)
    assert _best(sol, sol.rel_l2()) == min(np.min(sol.extra.trace.rel_l2[:-1]), sol.rel_l2())
    np.testing.assert_allclose(sol.extra.trace.rel_l2[-1], sol.rel_l2(), rtol=1e-10)


def test_paper_preset_runs_advection_with_joint_adam_on_the_papers_grid(monkeypatch):
    monkeypatch.setattr(benchmark, "_PAPER_ADAM", {"advection_beta200": 4})
    out = {}
    with jax.enable_x64(True):
        sol = benchmark._paper_case(out, "advection_beta200", {"steps": 1, "steps_2d": 1}, 0)
    assert sol.problem.grid == (200, 200)
    assert out["method_advection_beta200"] == "adam"
    assert out["rel_l2_advection_beta200"] == sol.rel_l2()
    assert list(sol.trace.step) == [0, 1, 2, 3, 4]  # _PAPER_ADAM's steps, not cfg's
