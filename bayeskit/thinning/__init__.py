"""Kernel thinning: compress a point cloud to a coreset that integrates better than i.i.d.

Target, root and power KT and KT+ (:func:`thin`), KT-Compress++ (:func:`compresspp`), MMD
(:func:`mmd`), the i.i.d. and standard-thinning baselines, and an ArviZ helper
(:func:`thin_inference_data`) and plots (:func:`plot_coreset`, :func:`plot_mmd_curves`).

References: Dwivedi & Mackey, "Kernel Thinning" (2021) and "Generalized Kernel Thinning" (2022);
Shetty, Dwivedi & Mackey, "Distribution Compression in Near-linear Time" (2022).
"""

from bayeskit.thinning.compress import compresspp, symmetrized_halve
from bayeskit.thinning.inference import thin_inference_data
from bayeskit.thinning.kt import (
    VARIANTS,
    iid,
    kt_split,
    kt_split_gram,
    kt_swap,
    kt_swap_gram,
    standard_thin,
    thin,
)
from bayeskit.thinning.mmd import mmd, mmd_to_normal
from bayeskit.thinning.plots import plot_coreset, plot_mmd_curves
from bayeskit.thinning.split_kernels import default_kernel, power_kernel, split_kernel

__all__ = [
    "VARIANTS",
    "compresspp",
    "default_kernel",
    "iid",
    "kt_split",
    "kt_split_gram",
    "kt_swap",
    "kt_swap_gram",
    "mmd",
    "mmd_to_normal",
    "plot_coreset",
    "plot_mmd_curves",
    "power_kernel",
    "split_kernel",
    "standard_thin",
    "symmetrized_halve",
    "thin",
    "thin_inference_data",
]
