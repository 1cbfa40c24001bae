"""analytics.iir.lfilter gives scipy.signal.lfilter's values to the last bit, on the numpy path (short
or wide blocks) and on scipy's, and leaves every other filter to scipy."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import signal

from analytics import iir
from analytics.quality import LONG_RUN_WINDOWS
from tests.support import project_root

# (rows, columns, on the numpy path once scipy.signal is loaded): both paths, and where they meet.
SHAPES = [
    (1, 1, True),
    (2, 3, True),
    (7, 200, True),
    (16, 30, False),
    (2, 200, True),
    (300, 1000, True),  # long but wide
    (128, 5, False),
    (3000, 4, False),
]


def test_the_shapes_take_both_paths() -> None:
    for rows, columns, numpy_path in SHAPES:
        assert iir.numpy_is_cheaper(rows, columns) is numpy_path, (rows, columns)


def test_before_scipy_signal_is_loaded_a_pass_does_not_wait_for_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "scipy.signal")
    assert iir.numpy_is_cheaper(128, 5)  # a streaming pass: the numpy loop, no import
    assert iir.numpy_is_cheaper(2000, 50)
    assert not iir.numpy_is_cheaper(400_000, 5)  # replay-sized: scipy's C loop is worth the import


@pytest.mark.parametrize(("rows", "columns", "numpy_path"), SHAPES)
@pytest.mark.parametrize("window", [5, 30, 120])
def test_first_order_filter_is_scipys_to_the_bit(
    rows: int, columns: int, numpy_path: bool, window: int
) -> None:
    rng = np.random.default_rng(rows * 1000 + columns + window)
    a = 1.0 / (LONG_RUN_WINDOWS * window)  # the spike screen's long-run weight
    # Clipped deviations (non-negative, some zero) and 0/1 weights, as the spike screen feeds them.
    deviations = np.abs(rng.standard_cauchy((rows, columns))) * rng.choice([1e-3, 1.0, 1e4], (rows, columns))
    deviations[rng.random((rows, columns)) < 0.2] = 0.0
    weights = (rng.random((rows, columns)) < 0.7).astype(np.float64)
    for x in (deviations, weights):
        zi = ((1.0 - a) * rng.random(columns) * 10)[None, :]
        want_y, want_zf = signal.lfilter([a], [1.0, a - 1.0], x, axis=0, zi=zi)
        got_y, got_zf = iir.lfilter([a], [1.0, a - 1.0], x, axis=0, zi=zi)
        assert got_y.dtype == want_y.dtype and got_y.shape == want_y.shape
        assert np.array_equal(got_y, want_y)
        assert np.array_equal(got_zf, want_zf)
        # Split in two, carrying the final state: still the same values (streaming vs. replay).
        half = rows // 2
        first, state = iir.lfilter([a], [1.0, a - 1.0], x[:half], axis=0, zi=zi)
        second, _ = iir.lfilter([a], [1.0, a - 1.0], x[half:], axis=0, zi=state)
        assert np.array_equal(np.concatenate([first, second]), want_y)


def test_the_numpy_path_is_the_stated_recurrence() -> None:
    x = np.array([[1.0, 0.0], [2.0, 4.0], [0.0, 8.0]])
    y, zf = iir.lfilter([0.5], [1.0, -0.5], x, axis=0, zi=np.array([[1.0, 2.0]]))
    # y0 = 0.5 x0 + zi; yk = 0.5 y(k-1) + 0.5 xk
    assert y.tolist() == [[1.5, 2.0], [1.75, 3.0], [0.875, 5.5]]
    assert zf.tolist() == [[0.4375, 2.75]]


def test_other_filters_are_scipys() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 3))
    b, a = [0.2, 0.3, 0.1], [1.0, -0.4, 0.1]
    assert np.array_equal(iir.lfilter(b, a, x, axis=0), signal.lfilter(b, a, x, axis=0))
    assert np.array_equal(
        iir.lfilter([0.3], [1.0, -0.7], x[:, 0]), signal.lfilter([0.3], [1.0, -0.7], x[:, 0])
    )


def test_an_empty_block_keeps_the_state() -> None:
    zi = np.array([[0.25, 0.5]])
    y, zf = iir.lfilter([0.1], [1.0, -0.9], np.empty((0, 2)), axis=0, zi=zi)
    assert y.shape == (0, 2)
    assert zf.tolist() == zi.tolist()


def test_warm_up_imports_scipy_signal_in_a_thread() -> None:
    code = (
        "import sys\n"
        "from analytics import iir\n"
        "assert 'scipy.signal' not in sys.modules\n"
        "thread = iir.warm_up()\n"
        "assert thread is not None and thread.daemon\n"
        "thread.join(60)\n"
        "assert 'scipy.signal' in sys.modules\n"
        "assert iir.warm_up() is None  # once\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=90,
        env={"PYTHONPATH": str(project_root()), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
