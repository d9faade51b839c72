"""Atomic writes into the output folder.

SCOM (or whatever imports from the folder) may read a management pack at any moment, and a
run may die at any moment, so a target file is only ever replaced whole: the bytes go to a
temporary file in the same folder (``.<filename>.<random>.tmp``, hidden and with a suffix no
importer picks up), are flushed and fsynced, then ``os.replace`` swaps it in (atomic on POSIX
within one file system), and the folder is fsynced so the new name survives a power cut. On any
failure the temporary file is removed and the previous file stays as it was. A run killed
before it can clean up leaves its temporary file behind; :func:`cleanup_temp_files` removes
such leftovers at the start of the next run (under the run lock, so no live writer is hit).
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from ..errors import PublishError

__all__ = ["check_writable", "cleanup_temp_files", "move_aside", "publish_file"]

log = logging.getLogger(__name__)

TEMP_SUFFIX = ".tmp"
CHUNK_SIZE = 1 << 20

_HINTS = {
    errno.ENOSPC: "free space or change {setting}",
    errno.EDQUOT: "free space or change {setting}",
    errno.EROFS: "the folder is read-only; change {setting}",
    errno.EACCES: "make the folder writable or change {setting}",
    errno.EPERM: "make the folder writable or change {setting}",
    errno.EISDIR: "a folder is in the way; move it away",
    errno.ENOENT: "the folder does not exist; create it or change {setting}",
}


def publish_file(directory: Path, filename: str, data: bytes | Iterable[bytes], *,
                 setting: str = "output.directory") -> Path:
    """Write ``data`` to ``directory/filename`` so readers only ever see a complete file.

    Args:
        directory: an existing folder.
        filename: a plain file name (no folders, not hidden).
        data: the full new content, or its pieces in order (a report too large to hold whole).
        setting: the option that chose ``directory``, named in error messages (``--out`` for export).

    Returns:
        The path written.

    Raises:
        PublishError: ``filename`` is not a plain name, or the write failed (the message names
            the file and the OS reason); the previous file, if any, is unchanged.
    """
    _check_filename(filename)
    directory = Path(directory)
    target = directory / filename
    try:
        temp, fd = _create_temp(directory, filename)
    except OSError as exc:
        raise _publish_error(target, exc, setting) from exc
    try:
        try:
            size = sum(_write_all(fd, piece) for piece in ([data] if isinstance(data, bytes) else data))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except OSError as exc:
        _remove_quietly(temp)
        raise _publish_error(target, exc, setting) from exc
    except BaseException:  # the pieces' producer failed: no half-written file stays behind
        _remove_quietly(temp)
        raise
    try:
        _fsync_directory(directory)
    except OSError as exc:
        raise PublishError(
            f"wrote {target} but could not flush {directory} to disk: {_reason(exc)}; "
            "check the disk before trusting the file after a power cut"
        ) from exc
    log.debug("wrote %s (%d bytes)", target, size)
    return target


def check_writable(directory: Path, *, setting: str = "output.directory") -> None:
    """Create ``directory`` if needed and prove a file can be written in it, before a run sends
    any request: a read-only or impossible folder is one error at start, not one per server.

    Raises:
        PublishError: naming the folder, the OS reason and what to change.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        temp, fd = _create_temp(directory, "write-check")
    except OSError as exc:
        raise _publish_error(directory, exc, setting) from None
    os.close(fd)
    _remove_quietly(temp)


def move_aside(directory: Path, filename: str, subfolder: str) -> Path | None:
    """Move ``directory/filename`` into ``directory/subfolder/`` (atomically, replacing an older
    copy there), so whatever imports ``*.xml`` from ``directory`` no longer sees it.

    Returns:
        The new path, or None when there was no such file.

    Raises:
        PublishError: the move failed; the file stays where it was.
    """
    _check_filename(filename)
    source = Path(directory) / filename
    if not source.exists():
        return None
    target = Path(directory) / subfolder / filename
    try:
        target.parent.mkdir(exist_ok=True)
        os.replace(source, target)
        _fsync_directory(Path(directory))
    except OSError as exc:
        raise _publish_error(target, exc, "output.directory") from None
    return target


def cleanup_temp_files(directory: Path) -> list[Path]:
    """Remove the ``.<name>.tmp`` leftovers of an interrupted run from ``directory``.

    Call it only while holding the run lock, so no live writer's file is removed. Files that
    cannot be removed are logged and left; they harm nothing but space.

    Returns:
        The files removed, sorted.
    """
    try:
        entries = sorted(Path(directory).iterdir())
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise PublishError(f"cannot list {directory}: {_reason(exc)}; check output.directory") from exc
    removed = []
    for path in entries:
        if not (path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)) or not path.is_file():
            continue
        try:
            path.unlink()
        except OSError as exc:
            log.warning("could not remove leftover %s: %s", path, _reason(exc))
            continue
        log.info("removed %s left by an interrupted run", path)
        removed.append(path)
    return removed


def _check_filename(filename: str) -> None:
    """Refuse anything but a plain, visible file name, so nothing is written outside the folder."""
    problem = None
    if not isinstance(filename, str) or not filename:
        problem = "is empty"
    elif "\x00" in filename:
        problem = "contains a NUL character"
    elif "/" in filename or "\\" in filename or os.path.isabs(filename):
        problem = "contains a path separator"
    elif filename.startswith("."):  # covers "." and ".." and our own temporary files
        problem = "starts with a dot"
    if problem:
        raise PublishError(f"refusing to publish {filename!r}: the file name {problem}; it must be a plain name")


def _create_temp(directory: Path, filename: str) -> tuple[Path, int]:
    """Create a new temporary file beside the target (mode 0666 less the umask) and open it."""
    while True:
        temp = directory / f".{filename}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
        try:
            return temp, os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue


def _write_all(fd: int, data: bytes) -> int:
    """Write every byte (os.write may write less than asked); returns how many."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view[:CHUNK_SIZE])
        view = view[written:]
    return len(data)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):  # file systems that cannot sync folders
            raise
    finally:
        os.close(fd)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("could not remove temporary file %s: %s", path, _reason(exc))


def _reason(exc: OSError) -> str:
    return f"[Errno {exc.errno}] {exc.strerror}" if exc.errno else str(exc)


def _publish_error(target: Path, exc: OSError, setting: str) -> PublishError:
    hint = _HINTS.get(exc.errno or 0, "check the folder or change {setting}").format(setting=setting)
    return PublishError(f"cannot write {target}: {_reason(exc)}; {hint}")
