"""Overload is a state, not a surprise: how far behind the intake is, shown in health and
``/metrics``, and a gateway alarm while it stays behind.

The measure is the *lag* of each analytics pass: the wall clock at the pass minus the newest
reading time in it. A gateway that keeps up judges the newest readings within milliseconds of their
stamps, whatever old backlog a DTU flushes beside them; one that is offered more than it can take
judges readings that waited at the broker, and the lag grows. A quiet site (no pass for a while,
nothing waiting) is not behind; a pipeline that makes no pass while batches wait is, by the time
since its last pass. Device clocks that are off are refused or clamped at intake (``drivers.device_time``)
and cannot fake a lag of more than their tolerance.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gateway.alarms.book import NEVER_REOPEN, Reopening
from gateway.alarms.gateway_alarm import GatewayAlarm
from gateway.vocab import AlarmEvent

log = logging.getLogger(__name__)

CHANNEL = "gateway.intake"
RULE = "intake_behind"
GRADE = 2  # live data and alarms come late: someone should look (broker settings, load, disk)
BEHIND_LAG_S = 10.0  # a pass judging readings this old ...
BEHIND_FOR_S = 15.0  # ... for this long is overload
CAUGHT_UP_LAG_S = 2.0  # and back under this ...
CAUGHT_UP_FOR_S = 15.0  # ... for this long is over it
QUIET_AFTER_S = 5.0  # no pass for this long: nothing is waiting
CHECK_EVERY_S = 1.0


class IntakeFigures(Protocol):
    """What the pipeline tells of its passes (``gateway.pipeline.PipelineStats``)."""

    pass_lag_s: float | None
    last_pass_monotonic: float | None


@dataclass(frozen=True, slots=True)
class IntakeHealth:
    lag_s: float | None  # of the latest pass; None on a quiet site
    waiting_batches: int  # source batches not yet judged
    behind: bool
    episodes: int
    behind_since: float | None  # wall clock


class OverloadWatch:
    def __init__(
        self,
        site: str,
        figures: IntakeFigures,
        waiting: Callable[[], int],
        emit: Callable[[list[AlarmEvent]], None],
        clock: Callable[[], float] = time.time,
        reopening: Reopening = NEVER_REOPEN,
    ) -> None:
        self._figures = figures
        self._waiting = waiting
        self._emit = emit
        self._clock = clock
        self.alarm = GatewayAlarm(site, CHANNEL, RULE, GRADE, clock, reopening)
        self.behind = False
        self.episodes = 0
        self.behind_since: float | None = None
        self._over_since: float | None = None  # monotonic: lag above BEHIND_LAG_S since
        self._under_since: float | None = None  # monotonic: lag below CAUGHT_UP_LAG_S since

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            self.check(time.monotonic())

    def lag_s(self, now_monotonic: float) -> float | None:
        last = self._figures.last_pass_monotonic
        if last is None:
            return None
        since = now_monotonic - last
        if since > QUIET_AFTER_S:
            if not self._waiting():
                return None  # a quiet site: nothing arrived, nothing waits
            # No pass for a while, yet batches wait (the analytics held back by the store, or a
            # pass that takes long): not quiet, and the readings waiting grow older by the second.
            return (self._figures.pass_lag_s or 0.0) + since
        return self._figures.pass_lag_s

    def check(self, now: float) -> None:
        lag = self.lag_s(now)
        over = lag is not None and lag > BEHIND_LAG_S
        under = lag is None or lag < CAUGHT_UP_LAG_S
        self._over_since = (self._over_since or now) if over else None
        self._under_since = (self._under_since or now) if under else None
        if not self.behind and self._over_since is not None and now - self._over_since >= BEHIND_FOR_S:
            self.behind, self.episodes, self.behind_since = True, self.episodes + 1, self._clock()
            log.error(
                "intake behind: readings are judged %.0f s after their time (%d batches waiting); "
                "alarms and live data come late: see docs/forwarding.md (broker settings)",
                lag or 0.0,
                self._waiting(),
            )
            self._emit(
                self.alarm.raised(
                    f"gateway: offered more than it can take, readings are judged {lag:.0f} s late; "
                    "check the load and the broker settings (docs/forwarding.md)"
                )
            )
        elif self.behind and self._under_since is not None and now - self._under_since >= CAUGHT_UP_FOR_S:
            self.behind, self.behind_since = False, None
            log.warning("intake caught up")
            self._emit(self.alarm.cleared("gateway: the intake has caught up; readings are judged on time"))

    def health(self, now_monotonic: float | None = None) -> IntakeHealth:
        now = time.monotonic() if now_monotonic is None else now_monotonic
        lag = self.lag_s(now)
        return IntakeHealth(
            lag_s=None if lag is None else round(lag, 3),
            waiting_batches=self._waiting(),
            behind=self.behind,
            episodes=self.episodes,
            behind_since=self.behind_since,
        )
