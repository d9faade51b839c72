"""The netstat/ss snapshot source: dependency maps from socket captures any agent can take.

A folder (``source.snapshot_dir``) holds one file per server per capture, named
``<host FQDN>__<YYYYMMDDTHHMMSSZ>.<format>``, in one of three formats, one reader module each:

* ``csv`` (:mod:`.csvformat`): the documented servicemap-sync snapshot CSV;
* ``ss.txt`` (:mod:`.ss`): raw ``ss -tanpH`` output (Linux);
* ``netstat.txt`` (:mod:`.windows`): raw ``netstat -ano`` then ``tasklist /fo csv /nh`` (Windows).

:mod:`.folder` finds and reads the files of a window, :mod:`.index` merges each server's
captures and names peers (with :mod:`.hosts`), :mod:`.mapping` builds the
:class:`~servicemap_sync.model.ServerMap`, and :class:`NetstatSource` serves it all as a
:class:`~servicemap_sync.sources.base.Source`.
"""

from __future__ import annotations

from .csvformat import read_csv
from .folder import Snapshot, SnapshotFile, list_snapshots, read_snapshot
from .hosts import read_hosts
from .source import NetstatSource
from .ss import read_ss
from .windows import read_netstat

__all__ = ["NetstatSource", "Snapshot", "SnapshotFile", "list_snapshots", "read_csv", "read_hosts",
           "read_netstat", "read_snapshot", "read_ss"]
