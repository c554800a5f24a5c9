"""bayeskit: five recent probabilistic-inference methods in JAX, one coherent library.

Subpackages load on first attribute access (``bayeskit.thinning``), so ``import bayeskit`` stays
cheap and imports no method eagerly.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "random",
    "summary",
    "kernels",
    "validate",
    "parallel",
    "gp_pde",
    "fbm",
    "smc",
    "rlhf",
    "thinning",
)

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        module = importlib.import_module(f"bayeskit.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'bayeskit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
