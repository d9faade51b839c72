"""The scheduled service behind ``servicemap-sync run``.

A sync every ``IntervalSeconds`` while ``Enabled``, one after the other so runs never overlap.
Settings are read again before each cycle, so a server added to the group (or an override
changed in SCOM and exported again) is picked up on the next cycle without a restart. A stop
request (SIGTERM/SIGINT, see ``signals.run_until_signalled``) lets the servers in hand finish, takes no new ones,
and ends the loop.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta, timezone
from collections.abc import Callable

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
        interval = settings.schedule.interval_seconds
        next_at = datetime.now(timezone.utc) + timedelta(seconds=interval)
        log.info("next cycle at %s (in %d s)", next_at.strftime("%Y-%m-%dT%H:%M:%SZ"), interval,
                 extra={"next_cycle": next_at.isoformat(timespec="seconds"), "interval_seconds": interval})
        if stop.wait(interval):
            break
        try:
            settings = load()
        except ConfigError as exc:
            log.error("configuration not reloaded, keeping the previous one: %s", exc)
    log.info("stopped")

