"""Snapshot files of the sample estate (or a synthetic one), as capture jobs on its servers would write them.

Every monitored machine of the sample estate (the whole Servers Group, and build01, which
calls into it) gets two captures five minutes apart, in the format its OS suggests: raw
``netstat -ano`` + ``tasklist`` on Windows (one of them saved by PowerShell, so UTF-16),
raw ``ss -tanpH`` on Linux, and the servicemap-sync CSV on four servers (file01 among them,
since only the CSV carries a display name such as "Finance File Server"). ``hosts`` names the
peers. The files are written from the same :class:`~.estate.Estate` the Service Map maps are
rendered from, so both sources describe one world: every link that succeeded shows as
sockets on both of its ends (a failed one only as a SYN-SENT socket of the caller), each link
in one of the two captures, listeners in both.

The committed files are generated from this module::

    python -m servicemap_sync.emulator.snapshots samples/snapshots [--captured-at 2024-05-06T07:02:00Z]

A capture is named ``<fqdn>__<YYYYMMDDTHHMMSSZ>.<format>``; the sample captures are taken at
:data:`CAPTURED_AT` and five minutes later, inside the window the sample maps cover.

A synthetic estate (:func:`~.synthetic.synthetic_estate`, the one ``synthetic_scenario`` serves)
gets the same two captures per server, for load tests and the benchmark: ``netstat`` on Windows,
``ss`` on Linux, and the CSV on every tenth server (:func:`synthetic_snapshot_files`, or
``--synthetic N`` on the command line).
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
from collections import defaultdict
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .estate import Clients, Estate, Host, Link, Listener, Proc
from .sample import build_estate
from .synthetic import synthetic_estate

logger = logging.getLogger(__name__)

CAPTURED_AT = datetime(2024, 5, 6, 7, 2, tzinfo=timezone.utc)
#: the second capture follows the first after this long
INTERVAL = timedelta(minutes=5)
#: servers captured as CSV; the other Windows servers as netstat, the other Linux ones as ss
CSV_SERVERS = frozenset({"app01", "file01", "mon01", "app02"})
#: a Windows server whose capture PowerShell's ``>`` saved (UTF-16 with a BOM)
UTF16_SERVERS = frozenset({"build01"})
CSV_COLUMNS = ("captured_at", "host", "os", "display_name", "state", "protocol", "local_address", "local_port",
               "remote_address", "remote_port", "pid", "process", "command_line", "remote_name")
_SUFFIXES = ("*.csv", "*.ss.txt", "*.netstat.txt")
_COMM = 15  # Linux cuts a process's kernel name (what ss prints) to 15 characters
#: agentless clients' source ports run from here; wrapped so that a large estate stays below 65536
_CLIENT_PORTS = (50000, 15000)
#: every ``SYNTHETIC_CSV_EVERY``-th synthetic server is captured as CSV
SYNTHETIC_CSV_EVERY = 10


@dataclass(frozen=True)
class Row:
    """One socket of a capture; addresses as plain IPs (a listener's ``ip`` None: all addresses)."""

    capture: int
    state: str  # LISTEN, ESTABLISHED, TIME_WAIT, SYN_SENT
    local_ip: str | None
    local_port: int
    remote_ip: str | None = None
    remote_port: int | None = None
    process: Proc | None = None
    remote_name: str | None = None


def _unique_links(estate: Estate) -> list[Link]:
    return list(dict.fromkeys(link for host in estate.hosts.values() for link in estate.links[host.name]))


def _rows(estate: Estate) -> dict[str, list[Row]]:
    """Every monitored host's sockets in both captures."""
    rows: dict[str, list[Row]] = defaultdict(list)
    names = {ip: (h.fqdn or (h.dns_names[0] if h.dns_names else None)) for h in estate.hosts.values() for ip in h.ipv4}
    ephemeral: dict[str, int] = {}

    def next_port(host: Host) -> int:
        ephemeral[host.name] = ephemeral.get(host.name, 49152 if host.os_family == "windows" else 32768) + 1
        return ephemeral[host.name]

    for host in estate.monitored_hosts():
        for lsn in estate.listeners[host.name]:
            wildcard = None if lsn.ip == host.ipv4[0] else lsn.ip
            rows[host.name] += [Row(c, "LISTEN", wildcard, lsn.port, process=lsn.process) for c in (0, 1)]
    clients = 0
    for number, link in enumerate(_unique_links(estate)):
        capture, target = number % 2, link.target
        if isinstance(link.source, Clients):
            for ip in (_client_ip("192.0.2.0", clients), _client_ip("198.51.100.0", clients)):
                rows[target.host.name].append(_accepted(capture, target, ip, _client_port(clients), None))
                clients += 1
            rows[target.host.name].append(Row(capture, "TIME_WAIT", target.ip, target.port, "192.0.2.200",
                                              _client_port(clients)))
            clients += 1
            continue
        source = link.source.host
        local = "127.0.0.1" if target.ip.startswith("127.") else source.ipv4[0]
        port = next_port(source)
        if link.failure_state == "failed":
            rows[source.name].append(Row(capture, "SYN_SENT", local, port, target.ip, target.port, link.source))
            continue
        rows[source.name].append(Row(capture, "ESTABLISHED", local, port, target.ip, target.port, link.source,
                                     names.get(target.ip)))
        if target.host.monitored:
            rows[target.host.name].append(_accepted(capture, target, local, port, names.get(local)))
    return rows


def _client_ip(base: str, number: int) -> str:
    """The address of the ``number``-th agentless client: ``base`` + 10 + number (past the /24 in
    a large estate, so that every client keeps an address of its own)."""
    return str(ipaddress.IPv4Address(base) + 10 + number)


def _client_port(number: int) -> int:
    first, count = _CLIENT_PORTS
    return first + number % count


def _accepted(capture: int, lsn: Listener, ip: str, port: int, name: str | None) -> Row:
    return Row(capture, "ESTABLISHED", lsn.ip, lsn.port, ip, port, lsn.process, name)


def _pids(estate: Estate, host: Host) -> dict[Proc, int]:
    return {proc: 4 if proc.executable == "System" else 1000 + 4 * i
            for i, proc in enumerate(estate.processes[host.name])}


def _csv(host: Host, when: datetime, rows: list[Row], pids: dict[Proc, int]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    for row in rows:
        proc = row.process
        writer.writerow((stamp, host.fqdn, host.os_family, host.display_name, row.state, "TCP",
                         row.local_ip or "0.0.0.0", row.local_port, row.remote_ip or "", row.remote_port or "",
                         pids.get(proc, ""), proc.executable if proc else "", proc.command_line if proc else "",
                         row.remote_name or ""))
    writer.writerow((stamp, host.fqdn, host.os_family, host.display_name, "", "UDP", "0.0.0.0", 123, "", "", "",
                     "", "", ""))
    return out.getvalue()


def _ss(rows: list[Row], pids: dict[Proc, int]) -> str:
    """``ss -tanpH``: dual-stack (``*``) listeners, IPv4 peers on them as ``::ffff:`` addresses."""
    states = {"LISTEN": "LISTEN", "ESTABLISHED": "ESTAB", "TIME_WAIT": "TIME-WAIT", "SYN_SENT": "SYN-SENT"}
    listening = {row.local_port for row in rows if row.state == "LISTEN" and row.local_ip is None}
    lines = []
    for fd, row in enumerate(rows, start=3):
        mapped = row.local_port in listening and row.state != "LISTEN"
        local = "*" if row.local_ip is None else _v6(row.local_ip, mapped)
        remote = "*" if row.remote_ip is None else _v6(row.remote_ip, mapped)
        users = (f'users:(("{row.process.executable[:_COMM]}",pid={pids[row.process]},fd={fd}))'
                 if row.process and row.state != "TIME_WAIT" else "")
        queue = "4096" if row.state == "LISTEN" else "0"
        lines.append(f"{states[row.state]:<10} 0      {queue:<6} {local}:{row.local_port or '*':<8} "
                     f"{remote}:{row.remote_port or '*':<10} {users}".rstrip())
    return "\n".join(lines) + "\n"


def _v6(ip: str, mapped: bool) -> str:
    return f"[::ffff:{ip}]" if mapped else ip


def _netstat(rows: list[Row], pids: dict[Proc, int]) -> str:
    """``netstat -ano`` (each wildcard listener on IPv4 and IPv6) then ``tasklist /fo csv /nh``."""
    states = {"LISTEN": "LISTENING", "ESTABLISHED": "ESTABLISHED", "TIME_WAIT": "TIME_WAIT", "SYN_SENT": "SYN_SENT"}
    lines = ["", "Active Connections", "", "  Proto  Local Address          Foreign Address        State           PID"]
    for row in rows:
        pid = pids[row.process] if row.process and row.state != "TIME_WAIT" else 0
        ends = [(f"{row.local_ip}:{row.local_port}", f"{row.remote_ip}:{row.remote_port}")]
        if row.state == "LISTEN" and row.local_ip is None:
            ends = [(f"0.0.0.0:{row.local_port}", "0.0.0.0:0"), (f"[::]:{row.local_port}", "[::]:0")]
        for local, remote in ends:
            lines.append(f"  TCP    {local:<22} {remote:<22} {states[row.state]:<15} {pid}")
    lines.append("  UDP    0.0.0.0:123            *:*                                    4")
    tasks = {0: "System Idle Process", 4: "System", 388: "smss.exe", **{pid: p.executable for p, pid in pids.items()}}
    lines += [f'"{image}","{pid}","Services","0","{(pid % 97 + 8) * 1024:,} K"' for pid, image in sorted(tasks.items())]
    return "\r\n".join(lines) + "\r\n"


def estate_snapshot_files(estate: Estate, captured_at: datetime, *, csv: Callable[[Host], bool],
                          utf16: Callable[[Host], bool] = lambda host: False,
                          what: str = "the estate") -> dict[str, bytes]:
    """File name → content of every capture of ``estate``'s monitored hosts and of ``hosts``:
    the CSV where ``csv(host)``, else ``netstat`` (UTF-16 where ``utf16(host)``) or ``ss`` by OS."""
    rows = _rows(estate)
    files: dict[str, bytes] = {}
    for host in estate.monitored_hosts():
        pids = _pids(estate, host)
        for capture in (0, 1):
            when = captured_at + capture * INTERVAL
            mine = [row for row in rows[host.name] if row.capture == capture]
            stem = f"{host.fqdn}__{when:%Y%m%dT%H%M%SZ}"
            if csv(host):
                files[f"{stem}.csv"] = _csv(host, when, mine, pids).encode()
            elif host.os_family == "windows":
                text = _netstat(mine, pids)
                files[f"{stem}.netstat.txt"] = text.encode("utf-16") if utf16(host) else text.encode()
            else:
                files[f"{stem}.ss.txt"] = _ss(mine, pids).encode()
    files["hosts"] = _hosts(estate, what).encode()
    return files


def _short(host: Host) -> str:
    return host.fqdn.split(".")[0]


def snapshot_files(captured_at: datetime = CAPTURED_AT) -> dict[str, bytes]:
    """File name → content of every sample capture and of ``hosts``."""
    return estate_snapshot_files(build_estate(), captured_at, csv=lambda host: _short(host) in CSV_SERVERS,
                                 utf16=lambda host: _short(host) in UTF16_SERVERS, what="the sample estate")


def synthetic_snapshot_files(captured_at: datetime, servers: int = 1000, connections_per_server: int = 20,
                             seed: int = 0) -> dict[str, bytes]:
    """File name → content of the captures of ``synthetic_scenario(servers, connections_per_server, seed)``'s
    servers (``srvNNNN``; the CSV on every :data:`SYNTHETIC_CSV_EVERY`-th) and of ``hosts``."""
    synthetic = synthetic_estate(servers, connections_per_server, seed)
    return estate_snapshot_files(synthetic.estate, captured_at,
                                 csv=lambda host: int(_short(host)[3:]) % SYNTHETIC_CSV_EVERY == 0,
                                 what="a synthetic estate")


def _hosts(estate: Estate, what: str) -> str:
    lines = [f"# Peers of {what}: address, name shown, aliases (written by servicemap_sync.emulator.snapshots)"]
    for host in estate.hosts.values():
        names = [host.fqdn, host.computer_name.lower()] if host.fqdn else list(host.dns_names)
        lines += [f"{ip:<15} {' '.join(names)}" for ip in host.ipv4 if names]
    return "\n".join(lines) + "\n"


def write_snapshots(out_dir: str | Path, captured_at: datetime = CAPTURED_AT, *,
                    files: dict[str, bytes] | None = None) -> list[Path]:
    """Write the sample captures (or ``files``, e.g. :func:`synthetic_snapshot_files`) into
    ``out_dir``, removing earlier snapshot files there."""
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    for pattern in _SUFFIXES:
        for old in root.glob(pattern):
            old.unlink()
    written = []
    for name, data in (snapshot_files(captured_at) if files is None else files).items():
        (root / name).write_bytes(data)
        written.append(root / name)
    logger.info("wrote %d snapshot files to %s", len(written), root)
    return written


def _utc(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; write UTC, e.g. 2024-05-06T07:02:00Z")
    return when.astimezone(timezone.utc)


def main(argv: list[str] | None = None) -> None:
    """Regenerate the committed sample snapshots (or captures at another time, e.g. for a demo, or
    of a synthetic estate)."""
    parser = argparse.ArgumentParser(description="Write the sample estate's netstat/ss snapshot files.")
    parser.add_argument("out_dir", type=Path, help="usually samples/snapshots")
    parser.add_argument("--captured-at", type=_utc, default=CAPTURED_AT,
                        help="time of the first capture, ISO 8601 with a zone (default %(default)s)")
    parser.add_argument("--synthetic", type=int, metavar="N",
                        help="the servers of synthetic_scenario(servers=N) instead of the sample estate")
    parser.add_argument("--connections", type=int, default=20,
                        help="with --synthetic: connections_per_server (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="with --synthetic: the seed (default %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    files = (synthetic_snapshot_files(args.captured_at, args.synthetic, args.connections, args.seed)
             if args.synthetic else None)
    write_snapshots(args.out_dir, args.captured_at, files=files)


if __name__ == "__main__":
    main()
