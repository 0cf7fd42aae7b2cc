"""The daemon: runs the site's services (built by ``app.site``) in one TaskGroup.

Signals: SIGTERM/SIGINT → orderly shutdown within ``site.shutdown_grace_s``; SIGHUP → re-read
the config, apply what can be applied live, log what needs a restart. The file is read and
checked by a child process (``config.reader_process``), so a slow disk or a file that takes
long to check never holds up the control loop (and its watchdog pings).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from edge_controller import log
from edge_controller.config.load import LoadedConfig
from edge_controller.config.reader_process import decode_outcome
from edge_controller.config.settings import Settings
from edge_controller.config.yaml_reader import ConfigError, ConfigIssue
from edge_controller.systemd import Notifier

# Keys whose new value takes effect without a restart (everything else is logged as needing one).
LIVE_KEYS = ("logging.level", "logging.format")
# Sections a service applies itself on a reload (``Reloadable``): the tariffs.
LIVE_SECTIONS = ("tariffs.",)
RELOAD_TIMEOUT_S = 30.0  # a config file not read and checked by then is refused
DRAIN_SHARE = 0.5  # of the grace, at most, for the uplink after the sessions closed
CANCEL_MIN_S = 1.0  # tasks always get this long to end after being cancelled

_config_log = log.get_logger("config")


class Service(Protocol):
    async def run(self) -> None: ...


@runtime_checkable
class ShutdownAware(Protocol):
    async def shutdown(self) -> None:
        """Put devices into their safe state before the tasks are cancelled."""
        ...


@runtime_checkable
class Reloadable(Protocol):
    async def reload(self, settings: Settings) -> None:
        """Apply the live sections (``LIVE_SECTIONS``) of a reloaded, checked config."""
        ...


@runtime_checkable
class Draining(Protocol):
    async def drain(self, within_s: float) -> None:
        """After the safe state: finish what is in flight and queued, within ``within_s``."""
        ...


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: data}


def changed_keys(old: Settings, new: Settings) -> list[str]:
    before, after = flatten(old.model_dump(mode="json")), flatten(new.model_dump(mode="json"))
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


class Daemon:
    def __init__(
        self,
        settings: Settings,
        config_path: Path | None,
        notifier: Notifier,
        services: list[Service],
    ) -> None:
        self.settings = settings.for_daemon()
        self.config_path = config_path
        self.notifier = notifier
        self.services = services
        self._stop = asyncio.Event()
        self._reload_wanted = asyncio.Event()
        self._log = log.get_logger("daemon", site=settings.site.id)

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        """The SIGHUP handler: only flags the wish; ``_reloads`` does the work."""
        self._reload_wanted.set()

    async def _reloads(self) -> None:
        while True:
            await self._reload_wanted.wait()
            self._reload_wanted.clear()  # signals meanwhile coalesce into the next reload
            await self.reload()

    async def reload(self) -> list[str]:
        """Re-read the config; apply live keys; return the keys that need a restart. READY=1
        follows RELOADING=1 whatever happens, so systemd never waits for a reload to end."""
        if self.config_path is None:
            return []
        self.notifier.reloading()
        status = "running (reload refused)"
        try:
            loaded = await self._read_config(self.config_path)
            restart = self._apply(loaded)
            for service in self.services:
                if isinstance(service, Reloadable):
                    await service.reload(loaded.settings)
            status = "running"
        except ConfigError as exc:
            self._log.error(
                "reload refused: the new config is invalid; keeping the running one",
                problems=[str(i) for i in exc.issues],
            )
            return []
        except Exception as exc:
            self._log.exception("reload failed; keeping the running config", error=repr(exc))
            return []
        finally:
            self.notifier.ready(status)
        return restart

    async def _read_config(self, path: Path) -> LoadedConfig:
        """Read and check ``path`` in a child process (``config.reader_process``), killed if it
        takes longer than RELOAD_TIMEOUT_S or when the daemon stops meanwhile."""
        started_s = time.monotonic()
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "edge_controller.config.reader_process",
            str(path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(RELOAD_TIMEOUT_S):
                out, err = await child.communicate()
        except TimeoutError:
            reason = f"not read and checked within {RELOAD_TIMEOUT_S:g} s"
            raise ConfigError(str(path), [ConfigIssue("", reason)]) from None
        finally:
            if child.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
        loaded = decode_outcome(out, err, child.returncode, str(path))
        took_s = round(time.monotonic() - started_s, 3)
        _config_log.debug("config read", path=str(path), took_s=took_s)
        return loaded

    def _apply(self, loaded: LoadedConfig) -> list[str]:
        new = loaded.settings.for_daemon()
        log.redactor.set_secrets([*self.settings.secrets(), *new.secrets()])
        for warning in loaded.warnings:
            self._log.warning("config warning", problem=str(warning))
        keys = changed_keys(self.settings, new)
        reloadable = any(isinstance(s, Reloadable) for s in self.services)
        live = [k for k in keys if k in LIVE_KEYS or (reloadable and k.startswith(LIVE_SECTIONS))]
        restart = [k for k in keys if k not in live]
        if live:
            log.configure(new.logging.level, new.logging.format)
            self.settings = self.settings.model_copy(update={"logging": new.logging})
        self._log.info("config reloaded", applied=live, needs_restart=restart)
        return restart

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(s.run(), name=type(s).__name__) for s in self.services]
                reloads = group.create_task(self._reloads(), name="reloads")
                self.notifier.ready()
                self._log.info("started", services=[t.get_name() for t in tasks])
                await self._stop.wait()
                reloads.cancel()
                self.notifier.stopping()
                self._log.info("stopping")
                await self._shutdown(tasks)
        except BaseExceptionGroup:
            self._log.error("a service failed; putting devices into their safe state")
            await self._safe_state()
            raise
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
        self._log.info("stopped")

    async def _safe_state(self) -> None:
        grace_s = self.settings.site.shutdown_grace_s
        aware = [s for s in self.services if isinstance(s, ShutdownAware)]
        try:
            async with asyncio.timeout(grace_s):
                results = await asyncio.gather(
                    *(s.shutdown() for s in aware), return_exceptions=True
                )
        except TimeoutError:
            self._log.error("safe-state shutdown did not finish in time", grace_s=grace_s)
            return
        for service, result in zip(aware, results, strict=True):
            if isinstance(result, BaseException):
                self._log.error(
                    "safe-state shutdown failed", service=type(service).__name__, error=repr(result)
                )

    async def _shutdown(self, tasks: list[asyncio.Task[None]]) -> None:
        """In order: sessions closed and chargers safe; then the uplink gets a bounded part of
        the grace to deliver what that queued (and take in the answers); then every task is
        cancelled and given the rest of the grace to end."""
        loop = asyncio.get_running_loop()
        grace_s = self.settings.site.shutdown_grace_s
        deadline_s = loop.time() + grace_s
        await self._safe_state()
        await self._drain(min(grace_s * DRAIN_SHARE, deadline_s - loop.time()))
        for task in tasks:
            task.cancel()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(deadline_s - loop.time(), CANCEL_MIN_S)):
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _drain(self, within_s: float) -> None:
        draining = [s for s in self.services if isinstance(s, Draining)]
        if within_s <= 0 or not draining:
            return
        results = await asyncio.gather(
            *(s.drain(within_s) for s in draining), return_exceptions=True
        )
        for service, result in zip(draining, results, strict=True):
            if isinstance(result, BaseException):
                self._log.error("drain failed", service=type(service).__name__, error=repr(result))


# A balancing decision makes one working object per connector and drops them all at its end.
# With the young generation's threshold above that burst (1,000 connectors and what else runs
# meanwhile), they go by reference counting: no collection walks them in mid-decision (700, the
# default, collected once per decision at 1,000 connectors: bench/bench_balancing.py).
YOUNG_COLLECTION_THRESHOLD = 10_000


def ocpp_checks_missing() -> str | None:
    """What the OCPP schema checks need and cannot find, None when all is there: asked before
    start-up, since the official validator is imported only at the first payload it judges."""
    from edge_controller.uplink.schemas import official_missing

    return official_missing()


def keep_start_up_out_of_collections() -> None:
    """What start-up built (modules, settings, the site) lives as long as the daemon: after one
    collection it is frozen, so the full collections that the control loop's short-lived objects
    trigger now and then walk only what came later (bench/bench_balancing.py: the allocation's
    p99 in a process holding the daemon's modules); and the young generation is collected only
    after more allocations than a decision's burst."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, oldest)


Build = Callable[[Settings, Notifier, contextlib.AsyncExitStack], Awaitable[list[Service]]]


async def run_daemon(
    settings: Settings,
    config_path: Path | None,
    notifier: Notifier | None = None,
    build: Build | None = None,
) -> None:
    """Build the site (devices, storage, services), run it until a stop signal, tear it down."""
    from edge_controller.app.site import build_site

    notifier = notifier or Notifier()
    try:
        async with contextlib.AsyncExitStack() as stack:
            services = await (build or build_site)(settings, notifier, stack)
            keep_start_up_out_of_collections()
            await Daemon(settings, config_path, notifier, services).run()
    finally:
        notifier.close()
