"""Hypothesis properties of the threshold engine: no flapping in a band, every alarm clears, grades
move one recorded step at a time, and the engine agrees with the reference however it is fed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics import Engine, ThresholdSpec
from tests.analytics.reference import NAN, Row, Site, Stream, by_time_then_binding, feed, feed_reference

# Values and limits live on a 0.25 grid so "exactly at the limit" and "exactly at the band edge"
# come up often and compare exactly.
Q = 0.25
SETTINGS = settings(deadline=None, max_examples=150)


@st.composite
def limit_triplets(draw: st.DrawFn, sign: float) -> tuple[float, float, float]:
    start = draw(st.integers(1, 40))
    gap1, gap2 = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    values = (start, start + gap1, start + gap1 + gap2)
    keep = draw(st.lists(st.booleans(), min_size=3, max_size=3).filter(any))
    a, b, c = (sign * v * Q if k else NAN for v, k in zip(values, keep, strict=True))
    return (a, b, c)


@dataclass(frozen=True)
class Rule:
    upper: tuple[float, float, float]
    lower: tuple[float, float, float]
    hysteresis: float


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    unset = (NAN, NAN, NAN)
    kind = draw(st.sampled_from(["upper", "lower", "both"]))
    upper = draw(limit_triplets(1.0)) if kind != "lower" else unset
    lower = draw(limit_triplets(-1.0)) if kind != "upper" else unset
    return Rule(upper, lower, draw(st.integers(0, 24)) * Q)


grid_values = st.integers(-80, 80).map(lambda k: k * Q)
# Mostly good values, some NaN / inf (flagged, not judged).
readings = st.one_of(grid_values, grid_values, grid_values, st.sampled_from([NAN, np.inf, -np.inf]))


def site_of(rule_list: list[Rule], n_channels: int, bounded: bool = True) -> Site:
    specs = [
        ThresholdSpec(i, np.arange(n_channels, dtype=np.int32), r.upper, r.lower, r.hysteresis)
        for i, r in enumerate(rule_list)
    ]
    # With a range of +-15 some limits (up to +-20) lie beyond it, and some values fall outside it.
    edge = 15.0 if bounded else np.inf
    return Site(np.full(n_channels, -edge), np.full(n_channels, edge), specs)


def one_channel(values: list[float]) -> Stream:
    n = len(values)
    return Stream(
        np.arange(1.0, n + 1.0), np.zeros(n, dtype=np.int32), np.array(values), np.zeros(n, dtype=np.uint8)
    )


def run_engine(engine: Engine, values: list[float]) -> list[Row]:
    return feed(engine, one_channel(values), [(0, len(values))], rng=None).rows


def check_chain(rows: list[Row], final_grade: np.ndarray) -> None:
    """Per binding: starts from 0, each old is the previous new, every row changes the grade."""
    last: dict[int, int] = {}
    for _, binding, old, new, *_ in rows:
        assert 0 <= old <= 3 and 0 <= new <= 3
        assert old != new
        assert old == last.get(binding, 0)
        last[binding] = new
    for binding, grade in enumerate(final_grade.tolist()):
        assert last.get(binding, 0) == grade


def check_limits(rows: list[Row], site: Site) -> None:
    """A raise names the limit it reached, on the side it reached it."""
    bound = [(s.upper, s.lower) for s in site.specs for _ in s.channels]
    for _, binding, old, new, value, limit, upward in rows:
        upper, lower = bound[binding]
        if new > 0:
            assert limit == (upper if upward else lower)[new - 1]
        if new > old:
            assert value >= limit if upward else value <= limit


@SETTINGS
@given(
    rule_list=st.lists(rules(), min_size=1, max_size=3),
    n_channels=st.integers(1, 3),
    data=st.data(),
)
def test_engine_matches_reference_however_fed(
    rule_list: list[Rule], n_channels: int, data: st.DataObject
) -> None:
    site = site_of(rule_list, n_channels)
    # Distinct (time, channel) pairs, then some readings delivered twice, identically.
    keys = data.draw(
        st.lists(
            st.tuples(st.integers(1, 40), st.integers(0, n_channels - 1)),
            min_size=1,
            max_size=60,
            unique=True,
        )
    )
    keys += data.draw(st.lists(st.sampled_from(keys), max_size=5))
    keys.sort()
    n = len(keys)
    stream = Stream(
        np.array([t for t, _ in keys], dtype=np.float64),
        np.array([c for _, c in keys], dtype=np.int32),
        np.zeros(n),
        np.array(
            data.draw(st.lists(st.sampled_from([0, 0, 0, 0x01, 0x10]), min_size=n, max_size=n)), np.uint8
        ),
    )
    values = data.draw(st.lists(readings, min_size=n, max_size=n))
    for i in range(n):
        same = i > 0 and keys[i] == keys[i - 1]
        stream.value[i] = stream.value[i - 1] if same else values[i]
        stream.quality[i] = stream.quality[i - 1] if same else stream.quality[i]
    sizes = data.draw(st.lists(st.integers(1, 8), min_size=1, max_size=n))
    cuts, start = [], 0
    for size in [*sizes, n]:
        if start < n:
            cuts.append((start, min(n, start + size)))
            start = min(n, start + size)
    seed = data.draw(st.integers(0, 2**32 - 1))

    expected = feed_reference(site.reference(), stream)
    engine = site.engine()
    got = feed(engine, stream, cuts, rng=np.random.default_rng(seed))
    assert by_time_then_binding(got.rows) == expected.rows
    assert got.rejected == expected.rejected
    np.testing.assert_array_equal(got.quality, expected.quality)
    check_chain(got.rows, engine.thresholds.grade)
    check_limits(got.rows, site)


@SETTINGS
@given(rule_list=st.lists(rules(), min_size=1, max_size=3), values=st.lists(readings, max_size=80))
def test_transitions_chain_and_grades_in_range(rule_list: list[Rule], values: list[float]) -> None:
    site = site_of(rule_list, 1)
    engine = site.engine()
    rows = run_engine(engine, values)
    check_chain(rows, engine.thresholds.grade)
    check_limits(rows, site)
    assert all(0 <= g <= 3 for g in engine.channel_grade().tolist())
    assert engine.channel_grade().tolist() == [int(engine.thresholds.grade.max())]


@st.composite
def band_case(draw: st.DrawFn) -> tuple[Rule, list[float], bool]:
    """A rule, and a series that crosses one of its limits once and then stays in that limit's band.

    The band is [limit - h, limit + eps] for an upper limit (mirrored for a lower one), with eps
    short of the next grade's limit, so once raised nothing may change.
    """
    rule = draw(rules().filter(lambda r: r.hysteresis > 0))
    # One side only: a wide band on the upper side could otherwise reach the lower limits.
    upward = draw(st.booleans()) if not np.isnan(rule.upper).all() else False
    if np.isnan(rule.lower).all():
        upward = True
    unset = (NAN, NAN, NAN)
    rule = Rule(rule.upper if upward else unset, unset if upward else rule.lower, rule.hysteresis)
    limits = rule.upper if upward else rule.lower
    sign = 1.0 if upward else -1.0
    grade = draw(st.sampled_from([g for g in (1, 2, 3) if not np.isnan(limits[g - 1])]))
    limit = limits[grade - 1]
    higher = [lim for lim in limits[grade:] if not np.isnan(lim)]
    room = round(abs(higher[0] - limit) / Q) - 1 if higher else 8
    h = round(rule.hysteresis / Q)
    # Before the crossing: anything short of every limit.
    first_set = next(lim for lim in limits if not np.isnan(lim))
    calm = [sign * v * Q for v in draw(st.lists(st.integers(0, round(abs(first_set) / Q) - 1), max_size=5))]
    cross = limit + sign * draw(st.integers(0, room)) * Q
    band = [limit + sign * k * Q for k in draw(st.lists(st.integers(-h, room), max_size=40))]
    return rule, [*calm, cross, *band], upward


@SETTINGS
@given(case=band_case(), one_at_a_time=st.booleans())
def test_no_flapping_inside_the_hysteresis_band(
    case: tuple[Rule, list[float], bool], one_at_a_time: bool
) -> None:
    rule, values, upward = case
    engine = site_of([rule], 1, bounded=False).engine()
    if one_at_a_time:
        rows = [r for i, v in enumerate(values) for r in run_engine_at(engine, float(i + 1), v)]
    else:
        rows = run_engine(engine, values)
    assert len(rows) == 1
    _, _, old, new, _, _, up = rows[0]
    assert (old, up) == (0, upward)
    assert new >= 1


def run_engine_at(engine: Engine, ts: float, value: float) -> list[Row]:
    stream = Stream(
        np.array([ts]), np.zeros(1, dtype=np.int32), np.array([value]), np.zeros(1, dtype=np.uint8)
    )
    return feed(engine, stream, [(0, 1)], rng=None).rows


@st.composite
def clearable_rule(draw: st.DrawFn) -> Rule:
    """A rule whose band around 0 is normal: hysteresis short of the limits nearest 0."""
    rule = draw(rules())
    nearest = min(abs(lim) for lim in (*rule.upper, *rule.lower) if not np.isnan(lim))
    h = draw(st.integers(0, round(nearest / Q) - 1)) * Q
    return Rule(rule.upper, rule.lower, h)


@SETTINGS
@given(rule_list=st.lists(clearable_rule(), min_size=1, max_size=3), values=st.lists(readings, max_size=60))
def test_every_raised_alarm_clears_when_data_return_to_normal(
    rule_list: list[Rule], values: list[float]
) -> None:
    engine = site_of(rule_list, 1, bounded=False).engine()
    end = float(len(values) + 1)
    rows = run_engine(engine, [*values, 0.0])
    assert engine.channel_grade().tolist() == [0]
    for binding, rule in enumerate(rule_list):
        mine = [r for r in rows if r[1] == binding]
        before = [r for r in mine if r[0] < end]
        if not before or before[-1][3] == 0:
            assert len(mine) == len(before)  # nothing raised at the end: nothing to clear
            continue
        ts, _, old, new, value, limit, upward = mine[-1]
        assert (ts, old, new, value) == (end, before[-1][3], 0, 0.0)
        assert limit == next(lim for lim in (rule.upper if upward else rule.lower) if not np.isnan(lim))
