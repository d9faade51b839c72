"""The scheduled service behind ``servicemap-sync run``.

A sync every ``IntervalSeconds`` while ``Enabled``, one after the other so runs never overlap.
Settings are read again before each cycle, so a server added to the group (or an override
changed in SCOM and exported again) is picked up on the next cycle without a restart. A stop
request (SIGTERM/SIGINT, see ``serve``) lets the servers in hand finish, takes no new ones,
and ends the loop.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable

from .config import Settings
from .errors import AuthError, ConfigError, LockedError, SyncError, WorkspaceError
from .service import SyncService

log = logging.getLogger(__name__)


def run_forever(load: Callable[[], Settings], *, stop: threading.Event) -> None:
    """Loop until ``stop`` is set; each run tells its servers and its summary in the log.

    Args:
        load: reads and checks the settings; called before every cycle.

    Raises:
        ConfigError: only when the very first settings are invalid (later, the last good
            settings are kept and the error is logged).
    """
    settings = load()
    while not stop.is_set():
        if settings.schedule.enabled:
            try:
                SyncService(settings, stop=stop).sync()
            except LockedError as exc:
                log.warning("cycle skipped: %s", exc)
            except (AuthError, WorkspaceError, ConfigError) as exc:
                log.error("cycle failed, next attempt in %ss: %s", settings.schedule.interval_seconds, exc)
            except SyncError as exc:
                log.error("cycle failed: %s", exc)
        else:
            log.info("Enabled is false (%s): no sync this cycle", settings.schedule.sources.get("Enabled"))
        if stop.wait(settings.schedule.interval_seconds):
            break
        try:
            settings = load()
        except ConfigError as exc:
            log.error("configuration not reloaded, keeping the previous one: %s", exc)
    log.info("stopped")


def serve(loop: Callable[[], None], stop: threading.Event,
          signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT)) -> None:
    """Run ``loop`` in a worker thread until it returns; any of ``signals`` sets ``stop``.

    Why a worker thread: Python runs a signal handler in the main thread, between two of its
    bytecodes. A main thread that waited on ``stop`` itself could be inside the event's
    internal lock at that moment, and the handler's ``stop.set()`` would then wait for that
    lock for ever (a SIGTERM that landed just as a cycle ended hung the service). Here the main
    thread only joins the worker, so the handler never meets a lock its own thread holds. The
    join has a timeout because on Windows an untimed join cannot be interrupted by Ctrl-C.

    Must be called from the main thread. The previous handlers are restored on return, and an
    exception raised by ``loop`` is raised again here.
    """
    failure: list[BaseException] = []

    def work() -> None:
        try:
            loop()
        except BaseException as exc:  # handed to the main thread, which raises it again
            failure.append(exc)

    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in signals}
    try:
        worker = threading.Thread(target=work, name="servicemap-sync-scheduler", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(timeout=1.0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failure:
        raise failure[0]
