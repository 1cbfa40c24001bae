"""Pushes to supervisors: the durable outbox wired to each receiver's channel.

``Pushes`` builds and holds them; the desk hands its notices to ``Pushes.outbox.enqueue``, which
stores them before it returns (and tells the flood watch); each receiver's dispatcher renders the
due ones into one message for its channel and marks them delivered only when the receiver
accepted it. A receiver in an alarm flood gets summaries instead,
spaced wider (gateway.alarms.flood).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path

from drivers.mqtt_link import MqttLink
from drivers.notify.contract import Channel
from drivers.outbox_store import OutboxStore
from gateway.alarms.flood import FloodWatch
from gateway.alarms.notice import Notice
from gateway.alarms.outbox import Outbox, ReceiverStats
from gateway.alarms.receivers import build_channel, language_of, pages_for
from gateway.config.alarm_handling import AlarmsConfig, ReceiverConfig
from gateway.vocab import SinkRejectedError


class ChannelSender:
    """The outbox's ``Sender``: render the notices for the receiver and send on its channel."""

    def __init__(
        self,
        alarms: AlarmsConfig,
        channels: dict[str, tuple[ReceiverConfig, Channel]],
        flood: FloodWatch | None = None,
    ) -> None:
        self._alarms = alarms
        self._channels = channels
        self._flood = flood

    async def send(self, receiver_id: str, notices: list[Notice]) -> None:
        found = self._channels.get(receiver_id)
        if found is None:
            raise SinkRejectedError(receiver_id, "no such receiver in the site file (any more)")
        receiver, channel = found
        if self._flood is not None and self._flood.flooding(receiver_id):
            language = language_of(receiver, self._alarms)
            url = self._alarms.dashboard_url
            await channel.send(self._flood.summary(receiver_id, receiver.type, notices, language, url))
            self._flood.sent(receiver_id, len(notices))
            return
        # A robot gets a storm as a few messages within its size limit. If a later page fails, the
        # whole group is retried: the earlier pages may be shown twice, none is lost.
        for message in pages_for(receiver, self._alarms, notices):
            await channel.send(message)


class Pushes:
    def __init__(
        self,
        alarms: AlarmsConfig,
        store_path: Path,
        broker_link: Callable[[str | None], MqttLink],
        topic_prefix: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.alarms = alarms
        # Built now, so a missing secret is a clear error before anything starts.
        self._channels = {
            r.id: (r, build_channel(r, env=os.environ, broker_link=broker_link, topic_prefix=topic_prefix))
            for r in alarms.receivers
        }
        self._store = OutboxStore(store_path)
        self.flood = FloodWatch(alarms.flood, clock)
        self.outbox = Outbox(
            self._store,
            ChannelSender(alarms, self._channels, self.flood),
            group_window_s=alarms.group_window_s,
            retry_cap_s=alarms.retry_cap_s,
            clock=clock,
            receivers=list(self._channels),
            # The first notice after a quiet spell goes at once; a storm behind it is grouped.
            leading_edge=True,
            pacing=self.flood,
        )
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> Pushes:
        await self._stack.enter_async_context(self._store)
        for _, channel in self._channels.values():
            await self._stack.enter_async_context(channel)
        await self.outbox.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.outbox.stop()
        await self._stack.aclose()

    def stats(self) -> dict[str, ReceiverStats]:
        return {r: dataclasses.replace(s, **self.flood.stats(r)) for r, s in self.outbox.stats().items()}
