"""The hosts file that names peer addresses (``source.hosts_file``), in ``/etc/hosts`` syntax.

Each line is ``address name [alias ...]``; ``#`` starts a comment. The first name is the one
a peer is shown by; every name finds a snapshotted server by its FQDN or computer name. An
address listed twice keeps its first line, as the resolver does. A line that cannot be read
stops the run (:class:`~servicemap_sync.errors.ConfigError`): the file is configuration, and a
wrong name would mislabel every server's diagram.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import ConfigError
from .sockets import BadLine, parse_host

__all__ = ["read_hosts"]


def read_hosts(path: Path | None) -> dict[str, tuple[str, ...]]:
    """Address (as :func:`~.sockets.parse_host` spells it) → its names; empty without a file.

    Raises:
        ConfigError: the file is missing or unreadable, or a line is not ``address name ...``.
    """
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"source.hosts_file {path}: cannot be read ({exc}); fix the path or the file") from None
    names: dict[str, tuple[str, ...]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        try:
            if len(fields) < 2:
                raise BadLine(number, "an address without a name")
            address = parse_host(fields[0], number)
            if address is None:
                raise BadLine(number, f"{fields[0]!r} is a wildcard, not a peer's address")
        except BadLine as exc:
            raise ConfigError(f"source.hosts_file {path}: {exc}; each line is `address name [alias ...]`") from None
        names.setdefault(address, tuple(fields[1:]))
    return names
