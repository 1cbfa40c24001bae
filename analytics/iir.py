"""``scipy.signal.lfilter`` for the first-order filters of the analytics core, without importing
``scipy.signal`` at start.

``import scipy.signal`` costs about 0.8 s of CPU (it loads scipy.stats among others), more than the
rest of the gateway's start. The spike screen's long-run scale is a first-order exponential filter
``y[k] = a * x[k] + (1 - a) * y[k - 1]`` (``lfilter([a], [1, a - 1], x, axis=0, zi=...)``), run on the
few rows of a streaming pass. For such blocks the recurrence is computed here row by row with numpy,
in the operations and order of lfilter's direct form II transposed: ``y[0] = a * x[0] + zi``, then
``y[k] = (1 - a) * y[k - 1] + a * x[k]`` (lfilter's delay is ``0 * x[k-1] - (a - 1) * y[k-1]``, the
same double for finite input), so the values are the same to the last bit (tests/analytics/test_iir.py
checks them against scipy.signal.lfilter). Long blocks of few columns, where a row loop in Python
would be slower than scipy's C loop (replay), and any other filter go to ``scipy.signal.lfilter``,
imported on first need. A gateway with spike screens warms that import in a background thread once
it is serving (``warm_up``): the event loop keeps turning meanwhile (the import gives the GIL up every
switch interval; measured: the loop's longest gap 22 ms, p99 6 ms, during a 0.6 s import), and a
first long block, after an outage, does not wait for it.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

# Costs measured on this kind of machine (µs): a row of the numpy recurrence, and a cell more; a call of
# scipy's lfilter, and a cell of its C loop. The numpy path is taken where it is the cheaper (short
# blocks, wide blocks) and, while scipy.signal is not loaded yet, wherever it costs under COLD_BUDGET_US
# (a streaming pass does not wait 0.8 s for the import; replay imports scipy.signal up front).
LOOP_ROW_US = 1.2
LOOP_CELL_US = 0.0025
SCIPY_CALL_US = 12.0
SCIPY_CELL_US = 0.0048
COLD_BUDGET_US = 20_000.0


def numpy_is_cheaper(rows: int, columns: int) -> bool:
    """Whether the numpy recurrence should filter a (rows, columns) block."""
    loop_us = rows * (LOOP_ROW_US + LOOP_CELL_US * columns)
    if loop_us <= SCIPY_CALL_US + SCIPY_CELL_US * rows * columns:
        return True
    return "scipy.signal" not in sys.modules and loop_us <= COLD_BUDGET_US


def lfilter(
    b: Sequence[float], a: Sequence[float], x: npt.ArrayLike, axis: int = -1, zi: npt.ArrayLike | None = None
) -> Any:
    """``scipy.signal.lfilter(b, a, x, axis, zi)``: the same result, computed with numpy for a
    first-order filter (``b = [b0]``, ``a = [1, a1]``) along axis 0 of a 2-D float array with
    initial conditions, where that is the cheaper (``numpy_is_cheaper``)."""
    values = np.asarray(x)
    if (
        len(b) == 1
        and len(a) == 2
        and a[0] == 1.0
        and zi is not None
        and values.ndim == 2
        and axis in (0, -2)
        and values.dtype == np.float64
        and numpy_is_cheaper(*values.shape)
    ):
        start = np.asarray(zi, dtype=np.float64)
        if start.shape == (1, values.shape[1]):
            y = first_order(float(b[0]), float(a[1]), values, start[0])
            # The final delay, as lfilter leaves it: -a1 * y[-1] (its b1 * x[-1] term is 0).
            final = y[-1:] * -float(a[1]) if len(y) else start.copy()
            return y, final
    from scipy.signal import lfilter as scipy_lfilter

    return scipy_lfilter(b, a, x, axis=axis, zi=zi)


def first_order(b0: float, a1: float, x: F64, zi: F64) -> F64:
    """``y[0] = b0 * x[0] + zi``, ``y[k] = -a1 * y[k - 1] + b0 * x[k]`` down axis 0 of ``x`` (K, N)."""
    y = np.empty_like(x)
    if not len(x):
        return y
    feedback = -a1
    np.multiply(x, b0, out=y)
    y[0] += zi
    step = np.empty(x.shape[1])
    for k in range(1, len(x)):
        np.multiply(y[k - 1], feedback, out=step)
        y[k] += step
    return y


def warm_up() -> threading.Thread | None:
    """Import scipy.signal in a daemon thread, unless it is imported already (then None)."""
    if "scipy.signal" in sys.modules:
        return None
    thread = threading.Thread(
        target=importlib.import_module, args=("scipy.signal",), name="import-scipy-signal", daemon=True
    )
    thread.start()
    return thread
