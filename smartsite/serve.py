"""Run a runtime with its API until SIGINT/SIGTERM or a duration, then stop within 5 s.

One process per site's stores (``gateway.process.instance_lock``); under systemd it says READY once serving,
pings the watchdog while alive and says STOPPING on the way out (``gateway.process.systemd_notify``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from pathlib import Path

from api import ApiServer, bind_socket, create_app
from gateway.config import SiteConfig
from gateway.process.instance_lock import InstanceLock, InstanceLockedError, site_lock_path
from gateway.process.systemd_notify import Notifier, keep_watchdog
from gateway.runtime import TICK_PERIOD_S, Runtime, Service
from gateway.storage.paths import alarm_store_path

log = logging.getLogger(__name__)

# Past this after a stop request, whatever still runs is cancelled.
STOP_DEADLINE_S = 4.5
# The clock tick goes round every TICK_PERIOD_S; missing it this many times means the runtime hangs.
STALLED_AFTER_TICKS = 3


async def serve(
    config: SiteConfig,
    base_dir: Path,
    duration: float | None = None,
    services: list[Service] | None = None,
    on_ready: Callable[[Runtime, str], None] | None = None,
) -> int:
    """Serve the site; returns the process exit code."""
    lock = InstanceLock(site_lock_path(alarm_store_path(config, base_dir)))
    try:
        lock.acquire()
    except InstanceLockedError as exc:
        log.error("%s", exc)
        return 1
    try:
        return await _serve(config, base_dir, duration, services, on_ready)
    finally:
        lock.release()


async def _serve(
    config: SiteConfig,
    base_dir: Path,
    duration: float | None,
    services: list[Service] | None,
    on_ready: Callable[[Runtime, str], None] | None,
) -> int:
    try:
        sock = bind_socket(config.api.bind, config.api.port)
    except OSError as exc:
        log.error("api: cannot listen on %s:%d: %s", config.api.bind, config.api.port, exc.strerror)
        return 1
    runtime = Runtime(config, base_dir=base_dir)
    notifier = Notifier()
    server = ApiServer(create_app(runtime), sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)
    all_services = [("api", server.run), *(services or [])]
    if notifier.watchdog_s is not None:
        all_services.append(("systemd-watchdog", lambda: keep_watchdog(notifier, lambda: is_alive(runtime))))
    run = asyncio.create_task(runtime.run(stop, all_services))
    log.info("gateway for site %s serving on %s", config.site.id, server.url)
    if on_ready is not None:
        on_ready(runtime, server.url)
    notifier.send("READY=1", f"STATUS=site {config.site.id} serving on {server.url}")
    try:
        await stop.wait()
        notifier.send("STOPPING=1", "STATUS=stopping: draining the pipeline")
        try:
            await asyncio.wait_for(asyncio.shield(run), STOP_DEADLINE_S)
        except TimeoutError:
            log.error("shutdown took longer than %.1f s; cancelling what is left", STOP_DEADLINE_S)
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        sock.close()
    if run.done() and not run.cancelled() and run.exception() is not None:
        log.error("gateway stopped on an error", exc_info=run.exception())
        return 1
    return 0


def is_alive(runtime: Runtime) -> bool:
    """The runtime works: its clock tick went round lately and the analytics task is not failing."""
    last = runtime.pipeline.last_tick_monotonic
    if last is None:  # not ticked yet: alive while still inside the first few periods
        started = runtime.started_monotonic
        last = started if started is not None else time.monotonic()
    if time.monotonic() - last > STALLED_AFTER_TICKS * TICK_PERIOD_S:
        return False
    analytics = runtime.task_health.get("analytics")
    return analytics is None or not analytics.failing
