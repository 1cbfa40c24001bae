"""Run a runtime with its API until SIGINT/SIGTERM or a duration, then stop within 5 s."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path

from api import ApiServer, bind_socket, create_app
from gateway.config import SiteConfig
from gateway.runtime import Runtime, Service

log = logging.getLogger(__name__)

# Past this after a stop request, whatever still runs is cancelled.
STOP_DEADLINE_S = 4.5


async def serve(
    config: SiteConfig,
    base_dir: Path,
    duration: float | None = None,
    services: list[Service] | None = None,
    on_ready: Callable[[Runtime, str], None] | None = None,
) -> int:
    """Serve the site; returns the process exit code."""
    try:
        sock = bind_socket(config.api.bind, config.api.port)
    except OSError as exc:
        log.error("api: cannot listen on %s:%d: %s", config.api.bind, config.api.port, exc.strerror)
        return 1
    runtime = Runtime(config, base_dir=base_dir)
    server = ApiServer(create_app(runtime), sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if duration is not None:
        loop.call_later(duration, stop.set)
    all_services = [("api", server.run), *(services or [])]
    run = asyncio.create_task(runtime.run(stop, all_services))
    log.info("gateway for site %s serving on %s", config.site.id, server.url)
    if on_ready is not None:
        on_ready(runtime, server.url)
    try:
        await stop.wait()
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
