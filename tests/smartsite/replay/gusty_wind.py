"""Gusty 1 Hz wind of a windy site around a tower crane's working limit, generated vectorised.

The 10-minute means follow a slow AR(1) (weather: hours of correlation) around ``mean`` m/s, each
10 minutes with its own turbulence intensity; within them the turbulence is an AR(1) at 1 Hz with
an integral time scale of ``integral_s`` (about 12 s at 80 m), of standard deviation TI × U. So the
10-minute means and standard deviations are those of a windy site (TI 0.10-0.20) and the 3-s wind
crosses 20 m/s in bursts, while the 2-min mean hovers around level 6-7. Readings are quantised to
the cup anemometer's 0.1 m/s and never negative.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter

PERIOD_S = 600.0


def ar1(rng: np.random.Generator, n: int, scale: float) -> npt.NDArray[np.float64]:
    """Unit-variance AR(1) samples whose correlation falls by e every ``scale`` steps, started in
    the stationary distribution."""
    phi = float(np.exp(-1.0 / scale))
    y, _ = lfilter(
        [np.sqrt(1.0 - phi * phi)], [1.0, -phi], rng.standard_normal(n), zi=[phi * rng.standard_normal()]
    )
    return np.asarray(y, dtype=np.float64)


def gusty_wind(
    seed: int,
    days: float = 30.0,
    mean: float = 14.0,
    mean_sd: float = 2.5,
    weather_s: float = 6 * 3600.0,
    integral_s: float = 12.0,
    ti: float = 0.14,
    ti_sd: float = 0.025,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(seconds from 0, speed m/s) at 1 Hz."""
    rng = np.random.default_rng(seed)
    n = int(days * 86400)
    periods = int(np.ceil(n / PERIOD_S)) + 1
    u10 = np.maximum(mean + mean_sd * ar1(rng, periods, weather_s / PERIOD_S), 2.0)
    intensity = np.clip(ti + ti_sd * rng.standard_normal(periods), 0.08, 0.25)
    t = np.arange(n, dtype=np.float64)
    centres = (np.arange(periods) + 0.5) * PERIOD_S
    u = np.interp(t, centres, u10)
    sigma = np.interp(t, centres, intensity * u10)
    speed = u + sigma * ar1(rng, n, integral_s)
    return t, np.maximum(np.round(speed, 1), 0.0)
