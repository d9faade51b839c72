"""One run at a time per state database.

Two runs over the same state would race on versions (both publish 1.0.0.8) and on the output
files, so a run holds an exclusive ``flock`` on ``<state_path>.lock`` for its whole length. The
kernel drops the lock when the holder's file descriptor closes, including when the process is
killed with SIGKILL or the machine reboots, so a leftover lock file never blocks: its presence
means nothing, only the flock does. After taking the lock the holder writes who it is (pid,
host, command, start time) into the file, so a refused run can say whom it is waiting for.

The lock file is never deleted: unlinking it while another process waits on the same path
would let two processes each lock a different inode. ``flock`` is advisory and local; on a
network share that does not support it, two hosts are not kept apart.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from ..errors import LockedError, StateError
from .state import iso_utc

__all__ = ["lock_path", "run_lock"]

log = logging.getLogger(__name__)

_HOLDER_INFO_LIMIT = 4096


def lock_path(state_path: Path) -> Path:
    """Return the lock file that guards ``state_path``: the same name plus ``.lock``."""
    state_path = Path(state_path)
    return state_path.with_name(state_path.name + ".lock")


@contextmanager
def run_lock(state_path: Path, *, command: str, started: datetime | None = None) -> Iterator[None]:
    """Hold the run lock of ``state_path`` for the duration of the ``with`` block.

    Args:
        state_path: the state database the run will use (the lock file sits beside it).
        command: the command taking the lock, shown to a run that is refused.
        started: the start time written into the lock file (default: now); informative only.

    Raises:
        LockedError: another process holds the lock; the message names it from the lock file.
        StateError: the lock file cannot be created or locked.
    """
    path = lock_path(state_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StateError(
            f"cannot create lock file {path}: {exc.strerror}; point output.state_path at a writable folder"
        ) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise LockedError(
                    f"another servicemap-sync run holds {path}: {_describe_holder(fd)}; wait for it to finish or stop it"
                ) from None
            raise StateError(f"cannot lock {path}: {exc.strerror}; put output.state_path on a local disk") from exc
        _write_holder(fd, command, started or datetime.now(timezone.utc))
        log.debug("run lock %s taken for %s", path, command)
        try:
            yield
        finally:
            _clear_holder(fd)
            fcntl.flock(fd, fcntl.LOCK_UN)
            log.debug("run lock %s released", path)
    finally:
        os.close(fd)


def _write_holder(fd: int, command: str, started: datetime) -> None:
    info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "started": iso_utc(started)}
    data = json.dumps(info, sort_keys=True).encode()
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
    except OSError as exc:  # the lock is held all the same; only the courtesy note is missing
        log.warning("could not note the run holder in the lock file: %s", exc.strerror)


def _clear_holder(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)
    except OSError as exc:
        log.warning("could not clear the lock file: %s", exc.strerror)


def _describe_holder(fd: int) -> str:
    """Say who holds the lock, from what the holder wrote into the file."""
    try:
        raw = os.pread(fd, _HOLDER_INFO_LIMIT, 0)
        info = json.loads(raw.decode()) if raw else None
    except (OSError, ValueError):
        info = None
    if not isinstance(info, dict):
        return "holder unknown (it may still be starting)"
    return (
        f"pid {info.get('pid', '?')} on host {info.get('host', '?')}, "
        f"command '{info.get('command', '?')}', started {info.get('started', '?')}"
    )
