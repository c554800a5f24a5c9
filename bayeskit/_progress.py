"""Progress bars for long calls: on by default when someone is watching, off in scripts and CI.

``progress=None`` (the default of every long call) shows a bar when the call runs interactively:
in a Jupyter kernel or with standard error on a terminal. ``BAYESKIT_PROGRESS=0`` (or ``1``)
overrides that default for the whole process; ``progress=True``/``False`` overrides both.
"""

from __future__ import annotations

import functools
import itertools
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import jax
import jax.numpy as jnp

from bayeskit.validate import check_bool

ENV = "BAYESKIT_PROGRESS"


def _interactive() -> bool:
    ipython = sys.modules.get("IPython")
    shell = None if ipython is None else ipython.get_ipython()
    if getattr(shell, "kernel", None) is not None:  # running in a Jupyter kernel
        return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def show_progress(progress: Any, name: str = "progress") -> bool:
    """Whether to draw a bar: ``progress`` if a bool, else the environment and interactivity.

    Raises:
        TypeError: if ``progress`` is neither ``None`` nor a bool.
        ValueError: if ``BAYESKIT_PROGRESS`` is set to something other than ``0`` or ``1``.
    """
    if progress is not None:
        return check_bool(progress, name)
    env = os.environ.get(ENV)
    if env is None or env == "":
        return _interactive()
    if env not in ("0", "1"):
        raise ValueError(f"{ENV}: expected 0 or 1, got {env!r}")
    return env == "1"


def _tqdm():
    try:  # the notebook widget needs ipywidgets; without it tqdm.auto warns, so use text bars
        import ipywidgets  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError:
        from tqdm import tqdm
    # leave=None: a finished bar stays on screen unless it was nested in another one (a call's
    # bar inside a benchmark's stages inside `bayeskit reproduce`), which it clears
    return functools.partial(tqdm, leave=None)


def progress_bar(total: int, desc: str, enabled: bool):
    """A tqdm bar of ``total`` steps, or ``None`` when not ``enabled``."""
    return _tqdm()(total=total, desc=desc) if enabled else None


def progress_range(steps: int, progress: Any, desc: str) -> Iterable[int]:
    """``range(steps)``, wrapped in a bar when :func:`show_progress` says so."""
    if show_progress(progress):
        return _tqdm()(range(steps), desc=desc)
    return range(steps)


@contextmanager
def stage_bar(desc: str, stages: Sequence[str], progress: Any = None) -> Iterator[Callable]:
    """A bar over the named ``stages`` of a long run (a benchmark's cases): yields
    ``next_stage()``, to call as each stage begins, in order; the bar counts the finished
    stages and names the running one. With no bar (see :func:`show_progress`) it does nothing."""
    if not show_progress(progress):
        yield lambda: None
        return
    names = list(stages)
    bar = _tqdm()(total=len(names), desc=desc, unit="stage")
    begun = 0

    def next_stage() -> None:
        nonlocal begun
        if begun:  # the running stage has finished
            bar.update(1)
        bar.set_postfix_str(names[begun])
        begun += 1

    try:
        yield next_stage
        bar.update(bar.total - bar.n)
    finally:
        bar.close()


# bars that jitted code advances through host callbacks, by an integer id passed as an argument
# (a traced value, so a new bar does not recompile)
_BARS: dict[int, Any] = {}
_IDS = itertools.count()


def _advance_host(bar_id, position) -> None:
    bar = _BARS.get(int(bar_id))
    if bar is not None:  # callbacks may arrive out of order: only move forward
        bar.update(max(0, int(position) - bar.n))


def advance(bar_id, position, every: int = 1) -> None:
    """Inside traced code: move the bar ``bar_id`` (from :func:`device_bar`) to ``position``
    (a traced int) when ``position`` is a multiple of ``every``; a host callback costs about
    0.3 ms, so pass ``every`` to keep to ~50 of them per call."""
    jax.lax.cond(
        position % every == 0,
        lambda: jax.debug.callback(_advance_host, bar_id, position),
        lambda: None,
    )


@contextmanager
def device_bar(total: int, desc: str, enabled: bool) -> Iterator[Any]:
    """A bar for jitted code: yields its id, an int32 scalar to pass into the computation and
    to :func:`advance`, or ``None`` when not ``enabled``. Block on the result inside the block."""
    if not enabled:
        yield None
        return
    bar_id = next(_IDS)
    bar = _BARS[bar_id] = progress_bar(total, desc, True)
    try:
        yield jnp.int32(bar_id)
        bar.update(total - bar.n)  # the steps between the last callback and the end
    finally:
        _BARS.pop(bar_id).close()
