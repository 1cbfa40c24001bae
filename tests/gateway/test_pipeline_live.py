"""The live path's readings are not judged twice; those it never saw are counted, not hidden."""

from __future__ import annotations

from tests.gateway.test_pipeline import ScriptedSink, batch, one_channel_pipeline


def test_readings_the_live_path_never_saw_are_counted_as_the_gap() -> None:
    pipeline = one_channel_pipeline(ScriptedSink([]))
    pipeline.process(batch(1.0, 1.0, 1.0, start=0.0))  # judged up to t=2, then the store fails
    pipeline.process_live(batch(1.0, 1.0, 1.0, start=10.0))  # the live path from t=10 on
    # The disk is back: the broker delivers the store's session from t=3, the gap (3..9) first.
    pipeline.process(batch(*[1.0] * 10, start=3.0))
    stats = pipeline.stats
    assert stats.live_readings == 3
    assert stats.stored_unjudged == 10  # 3..12 are all older than the live path's newest
    assert stats.unjudged_gap == 7  # 3..9: neither judged before the failure nor by the live path


def test_without_a_live_path_nothing_is_counted_as_the_gap() -> None:
    pipeline = one_channel_pipeline(ScriptedSink([]))
    pipeline.process(batch(1.0, 1.0, start=0.0))
    pipeline.process(batch(1.0, 1.0, start=2.0))
    assert (pipeline.stats.stored_unjudged, pipeline.stats.unjudged_gap) == (0, 0)
