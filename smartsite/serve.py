"""Run a runtime with its API until SIGINT/SIGTERM or a duration, then stop within 5 s; SIGHUP
reloads the site file (``smartsite.reload``), or refuses it and goes on.

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

from analytics.iir import warm_up
from api import ApiServer, bind_socket, create_app
from gateway.config import SiteConfig
from gateway.process.instance_lock import InstanceLock, InstanceLockedError, site_lock_path
from gateway.process.systemd_notify import Notifier, keep_watchdog
from gateway.runtime import TICK_PERIOD_S, Runtime, Service
from gateway.storage.paths import alarm_store_path
from gateway.vocab import ConfigError
from smartsite.reload import load_checked, needs_restart

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
    config_path: Path | None = None,
) -> int:
    """Serve the site; returns the process exit code. With ``config_path``, SIGHUP reloads it."""
    lock = InstanceLock(site_lock_path(alarm_store_path(config, base_dir)))
    try:
        lock.acquire()
    except InstanceLockedError as exc:
        log.error("%s", exc)
        return 1
    try:
        return await _serve(config, base_dir, duration, services, on_ready, config_path)
    finally:
        lock.release()


class _Signals:
    """SIGINT/SIGTERM stop; SIGHUP asks for a reload (only when there is a file to reload)."""

    def __init__(self, reloadable: bool) -> None:
        self.stop = asyncio.Event()
        self.reload = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._signals = [signal.SIGINT, signal.SIGTERM]
        for sig in self._signals:
            self._loop.add_signal_handler(sig, self.stop.set)
        if reloadable:
            self._loop.add_signal_handler(signal.SIGHUP, self.reload.set)
            self._signals.append(signal.SIGHUP)

    async def next(self) -> bool:
        """Wait for a stop (True) or a reload request (False)."""
        if not self.stop.is_set() and not self.reload.is_set():
            waits = [asyncio.ensure_future(self.stop.wait()), asyncio.ensure_future(self.reload.wait())]
            try:
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for wait in waits:
                    wait.cancel()
        if self.stop.is_set():
            return True
        self.reload.clear()
        return False

    def close(self) -> None:
        for sig in self._signals:
            self._loop.remove_signal_handler(sig)


async def _serve(
    config: SiteConfig,
    base_dir: Path,
    duration: float | None,
    services: list[Service] | None,
    on_ready: Callable[[Runtime, str], None] | None,
    config_path: Path | None,
) -> int:
    try:
        sock = bind_socket(config.api.bind, config.api.port)
    except OSError as exc:
        log.error("api: cannot listen on %s:%d: %s", config.api.bind, config.api.port, exc.strerror)
        return 1
    notifier = Notifier()
    signals = _Signals(reloadable=config_path is not None)
    if duration is not None:
        asyncio.get_running_loop().call_later(duration, signals.stop.set)
    current: list[Runtime] = []  # the runtime serving now, for the watchdog
    try:
        while True:
            runtime = Runtime(config, base_dir=base_dir)
            current[:] = [runtime]
            # Each server closes its socket when it stops: it gets a duplicate, the listening socket
            # stays open across a reload and connections wait in its backlog meanwhile.
            server = ApiServer(create_app(runtime), sock.dup())
            all_services = [("api", server.run), *(services or [])]
            if notifier.watchdog_s is not None:
                all_services.append(
                    ("systemd-watchdog", lambda: keep_watchdog(notifier, lambda: is_alive(current[0])))
                )
            stop_runtime = asyncio.Event()
            run = asyncio.create_task(runtime.run(stop_runtime, all_services))
            log.info("gateway for site %s serving on %s", config.site.id, server.url)
            if on_ready is not None:
                on_ready(runtime, server.url)
            notifier.send("READY=1", f"STATUS=site {config.site.id} serving on {server.url}")
            if runtime.engine.screens:
                warm_up()  # scipy.signal, for the spike screen's long blocks: loaded while serving
            reloaded = await _next_config(signals, config, config_path, base_dir, notifier, run)
            notifier.send(
                "STOPPING=1" if reloaded is None else "RELOADING=1",
                "STATUS=stopping: draining the pipeline"
                if reloaded is None
                else "STATUS=applying the changed site file",
            )
            stop_runtime.set()
            failed = await _finish(run)
            if reloaded is None or failed:
                return 1 if failed else 0
            log.info("site file reloaded: the gateway starts again with it")
            config = reloaded
    finally:
        signals.close()
        sock.close()


async def _next_config(
    signals: _Signals,
    running: SiteConfig,
    path: Path | None,
    base_dir: Path,
    notifier: Notifier,
    run: asyncio.Task[None],
) -> SiteConfig | None:
    """Wait for a stop (None) or a reload whose file is valid and changed (the new config). A
    refused reload is logged with every problem and the gateway goes on as it was."""
    while True:
        stop_wait = asyncio.ensure_future(signals.next())
        await asyncio.wait([stop_wait, run], return_when=asyncio.FIRST_COMPLETED)
        if not stop_wait.done():  # the runtime ended by itself (an error): stop
            stop_wait.cancel()
            return None
        if stop_wait.result() or path is None:
            return None
        notifier.send("RELOADING=1", f"MONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            new = load_checked(path)
        except ConfigError as exc:
            _refused(notifier, exc.problems)  # each line names the file and the line
            continue
        except OSError as exc:
            _refused(notifier, [f"{path}: cannot be read: {exc.strerror or exc}"])
            continue
        restart = needs_restart(running, new, base_dir)
        if restart:
            _refused(notifier, [*restart, "restart the gateway to apply these (systemctl restart smartsite)"])
            continue
        if new == running:
            log.info("reload: %s unchanged, nothing to do", path)
            notifier.send("READY=1", "STATUS=reload: site file unchanged")
            continue
        return new


def _refused(notifier: Notifier, problems: list[str]) -> None:
    log.error("reload refused, the gateway goes on with the site file it runs:\n%s", "\n".join(problems))
    notifier.send(
        "READY=1", f"STATUS=reload refused ({len(problems)} problem(s)); running the previous site file"
    )


async def _finish(run: asyncio.Task[None]) -> bool:
    """Let the runtime drain and stop; True when it ended on an error."""
    done, _ = await asyncio.wait({run}, timeout=STOP_DEADLINE_S)
    if not done:
        log.error("shutdown took longer than %.1f s; cancelling what is left", STOP_DEADLINE_S)
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    if not run.cancelled() and run.exception() is not None:
        log.error("gateway stopped on an error", exc_info=run.exception())
        return True
    return False


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
