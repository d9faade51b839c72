"""The snapshot folder: which files belong to which server and window, read safely.

A snapshot file is named ``<host>__<YYYYMMDDTHHMMSSZ>.<format>``: the capturing server's FQDN,
the UTC capture time, and ``csv``, ``ss.txt`` (``ss -tanpH``) or ``netstat.txt``
(``netstat -ano`` + ``tasklist /fo csv /nh``). The name alone says which server a file is for,
so a corrupt file fails its own server and no other, and the window is applied without
opening files outside it. Files named otherwise are not snapshots and are skipped (the hosts
file may live in the folder too), with a warning when the name has the ``__`` of a snapshot.

A file is refused, with its path, line and what to do, when it resolves outside the folder (a
link out of it), is empty, is not text, is cut off (no line end at its end: copy files in
under a temporary name and rename them when complete), or its reader refuses a line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ...errors import ConfigError, SourceError
from .csvformat import read_csv
from .sockets import BadLine, Socket
from .ss import read_ss
from .windows import read_netstat

__all__ = ["FORMATS", "Snapshot", "SnapshotFile", "list_snapshots", "read_snapshot"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*)__(?P<time>\d{8}T\d{6}Z)\.(?P<format>csv|ss\.txt|netstat\.txt)")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True, slots=True)
class Format:
    """A snapshot format: its reader and the OS family it implies (None: the file says)."""

    read: Callable[[str, str, datetime], tuple[tuple[Socket, ...], str | None, str | None]]
    os_family: str | None


def _csv(text: str, host: str, captured_at: datetime) -> tuple[tuple[Socket, ...], str | None, str | None]:
    capture = read_csv(text, host=host, captured_at=captured_at)
    return capture.sockets, capture.os_family, capture.display_name


#: file-name suffix -> format
FORMATS = {
    "csv": Format(_csv, None),
    "ss.txt": Format(lambda text, _host, _at: (read_ss(text), "linux", None), "linux"),
    "netstat.txt": Format(lambda text, _host, _at: (read_netstat(text), "windows", None), "windows"),
}


@dataclass(frozen=True, slots=True)
class SnapshotFile:
    """A file named as a snapshot: whose, when, and in which format (not yet read)."""

    path: Path
    host: str
    captured_at: datetime
    format: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot file, read."""

    file: SnapshotFile
    sockets: tuple[Socket, ...]
    os_family: str | None
    display_name: str | None


def list_snapshots(root: Path, *, start: datetime, end: datetime) -> list[SnapshotFile]:
    """The snapshot files in ``root`` captured in ``[start, end]``, by host and time.

    Raises:
        ConfigError: ``root`` is not a folder.
    """
    if not root.is_dir():
        raise ConfigError(f"source.snapshot_dir {root}: not a folder; create it or fix the path")
    found = []
    for path in sorted(root.iterdir()):
        match = _NAME.fullmatch(path.name)
        if match is None:
            if "__" in path.name:  # meant as a snapshot, misnamed
                log.warning("%s is not a snapshot (not named <host>__<YYYYMMDDTHHMMSSZ>.csv|ss.txt|netstat.txt); "
                            "skipped", path)
            continue
        captured_at = datetime.strptime(match["time"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
        if start <= captured_at <= end:
            found.append(SnapshotFile(path, match["host"], captured_at, match["format"]))
    found.sort(key=lambda f: (f.host.casefold(), f.captured_at, f.path.name))
    return found


def read_snapshot(file: SnapshotFile, root: Path) -> Snapshot:
    """Read one snapshot file of the folder ``root``.

    Raises:
        SourceError: naming the file, the line and what to do; ``server`` is the file's host.
    """
    try:
        inside = file.path.resolve(strict=True).is_relative_to(root.resolve())
        data = file.path.read_bytes() if inside else b""
    except OSError as exc:
        raise _error(file, f"cannot be read ({exc.strerror or exc}); check the file and its permissions") from None
    if not inside:
        raise _error(file, f"leads outside the snapshot folder {root} (to {file.path.resolve()}); snapshot files "
                           "must be inside source.snapshot_dir: copy the file there instead of linking it")
    try:
        text = _text(data)
        sockets, os_family, display_name = FORMATS[file.format].read(text, file.host, file.captured_at)
    except BadLine as exc:
        raise _error(file, f"line {exc.line}: {exc.what}") from None
    return Snapshot(file, sockets, os_family, display_name)


def _text(data: bytes) -> str:
    """The file's text: UTF-8 (a BOM allowed), or UTF-16 with a BOM (PowerShell's ``>``).

    Raises:
        BadLine: empty, not text, or cut off before its last line end.
    """
    if not data.strip():
        raise BadLine(1, "the file is empty: the capture wrote nothing (did the command run, as root/admin?)")
    encoding = "utf-16" if data.startswith(_UTF16_BOMS) else "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise BadLine(line, f"not text (byte 0x{data[exc.start]:02x} is not {encoding.split('-sig')[0].upper()}): "
                            "a binary or damaged file") from None
    if "\x00" in text:
        raise BadLine(text[:text.index("\x00")].count("\n") + 1, "not text (a NUL character): a binary or damaged file")
    if not text.endswith("\n"):
        raise BadLine(text.count("\n") + 1, "cut off (no line end after the last line): the file was copied or "
                                            "written while incomplete; write it under a temporary name and rename "
                                            "it when complete")
    return text


def _error(file: SnapshotFile, what: str) -> SourceError:
    return SourceError(f"{file.host}: snapshot {file.path}: {what}. No diagram is made for {file.host} from a "
                       "broken capture: fix or remove the file, or wait for the next capture", server=file.host)
