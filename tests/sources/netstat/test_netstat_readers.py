"""Each snapshot reader on realistic captures: IPv4, IPv6, wildcards, odd spacing, states, owners."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from servicemap_sync.sources.netstat import read_csv, read_netstat, read_ss
from servicemap_sync.sources.netstat.sockets import BadLine, Socket

WHEN = datetime(2024, 5, 6, 7, 2, tzinfo=timezone.utc)

SS = """\
LISTEN     0      4096          *:80          *:*     users:(("nginx",pid=812,fd=6),("nginx",pid=813,fd=6))
LISTEN 0 511 0.0.0.0:5432 0.0.0.0:* users:(("postgres",pid=901,fd=5))
LISTEN     0      511            [::]:5432              [::]:*         users:(("postgres",pid=901,fd=6))
LISTEN     0      4096      127.0.0.53%lo:53             0.0.0.0:*     users:(("systemd-resolve",pid=610,fd=14))
ESTAB      0      0      [::ffff:10.0.1.12]:80     [::ffff:192.0.2.7]:51234   users:(("nginx",pid=812,fd=9))
ESTAB	0	0	[2001:db8::12]:443	[2001:db8:1::77]:52000	users:(("nginx",pid=813,fd=10))
ESTAB      0      36     10.0.1.12:32770    10.0.2.22:8080
TIME-WAIT  0      0      10.0.1.12:80       192.0.2.8:50000
SYN-SENT   0      1      10.0.1.12:32771    10.0.9.99:8080   users:(("nginx",pid=812,fd=11))
"""

NETSTAT = (
    "\r\nActive Connections\r\n\r\n"
    "  Proto  Local Address          Foreign Address        State           PID\r\n"
    "  TCP    0.0.0.0:443            0.0.0.0:0              LISTENING       2236\r\n"
    "  TCP    [::]:443               [::]:0                 LISTENING       2236\r\n"
    "  TCP    10.0.1.11:443          192.0.2.10:50123       ESTABLISHED     2236\r\n"
    "  TCP    [fe80::1c2a:3b4c:5d6e:7f80%12]:445 [fe80::9:8:7:6%12]:50200  ESTABLISHED  4\r\n"
    "  TCP    10.0.1.11:49158        203.0.113.10:443       TIME_WAIT       0\r\n"
    "  TCP    127.0.0.1:49700        127.0.0.1:49701        ESTABLISHED     3100\r\n"
    "  UDP    0.0.0.0:123            *:*                                    1180\r\n"
    "  UDP    [::]:500               *:*                                    3100\r\n"
    '"System Idle Process","0","Services","0","8 K"\r\n'
    '"System","4","Services","0","144 K"\r\n'
    '"w3wp.exe","2236","Services","0","55,296 K"\r\n'
)

CSV_HEADER = ("captured_at,host,os,display_name,state,protocol,local_address,local_port,remote_address,remote_port,"
              "pid,process,command_line,remote_name,extra_column\n")


def test_ss_reads_wildcards_ipv6_mapped_addresses_owners_and_states() -> None:
    sockets = read_ss(SS)
    assert sockets[0] == Socket(line=1, state="LISTEN", local_ip=None, local_port=80, process="nginx")
    assert [s.local_ip for s in sockets[1:4]] == [None, None, "127.0.0.53"]
    assert sockets[4] == Socket(line=5, state="ESTABLISHED", local_ip="10.0.1.12", local_port=80,
                                remote_ip="192.0.2.7", remote_port=51234, process="nginx")
    assert (sockets[5].local_ip, sockets[5].remote_ip, sockets[5].remote_port) == ("2001:db8::12", "2001:db8:1::77",
                                                                                   52000)
    assert sockets[6].process is None and sockets[6].connected
    assert sockets[7].state == "TIME_WAIT" and sockets[7].connected and sockets[7].process is None
    assert sockets[8].state == "SYN_SENT" and not sockets[8].connected


def test_ss_accepts_a_header_line_and_refuses_a_foreign_line() -> None:
    assert len(read_ss("State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n" + SS)) == 9
    with pytest.raises(BadLine) as caught:
        read_ss(SS + "Netid State Recv-Q Send-Q\n")
    assert caught.value.line == 10
    with pytest.raises(BadLine, match="Recv-Q/Send-Q"):
        read_ss("ESTAB x 0 10.0.0.1:1 10.0.0.2:2\n")


def test_netstat_gives_each_socket_its_process_from_the_task_list() -> None:
    sockets = read_netstat(NETSTAT)
    assert [s.process for s in sockets] == ["w3wp.exe", "w3wp.exe", "w3wp.exe", "System", None, None]
    assert sockets[0].listening and sockets[0].local_ip is None and sockets[1].local_ip is None
    assert (sockets[3].local_ip, sockets[3].local_port, sockets[3].remote_ip) == ("fe80::1c2a:3b4c:5d6e:7f80", 445,
                                                                                  "fe80::9:8:7:6")
    assert sockets[4].state == "TIME_WAIT" and sockets[4].line == 9


def test_netstat_without_its_task_list_is_refused_as_cut_short() -> None:
    cut = NETSTAT[:NETSTAT.index('"System Idle')]
    with pytest.raises(BadLine, match="tasklist") as caught:
        read_netstat(cut)
    assert caught.value.line == cut.count("\n") + 1
    with pytest.raises(BadLine, match="no TCP rows"):
        read_netstat("Some other report\r\nnothing here\r\n")


def test_csv_reads_rows_ignores_unknown_columns_and_udp() -> None:
    text = CSV_HEADER + (
        "2024-05-06T07:02:00Z,web01.contoso.com,windows,Web 1,LISTEN,TCP,0.0.0.0,443,,,2236,w3wp.exe,"
        '"c:\\inetsrv\\w3wp.exe -ap ""Shop""",,x\n'
        "2024-05-06T07:02:00Z,WEB01.contoso.com,windows,Web 1,ESTABLISHED,tcp6,[::ffff:10.0.1.11], 443 ,"
        "2001:db8::5,50123,2236,w3wp.exe,,client5.contoso.com,x\n"
        "\n"
        "2024-05-06T07:02:00Z,web01.contoso.com,windows,Web 1,,UDP,0.0.0.0,123,,,1180,svchost.exe,,,x\n")
    capture = read_csv(text, host="web01.contoso.com", captured_at=WHEN)
    assert (capture.os_family, capture.display_name) == ("windows", "Web 1")
    listen, established = capture.sockets
    assert listen.command_line == 'c:\\inetsrv\\w3wp.exe -ap "Shop"' and listen.remote_ip is None
    assert (established.local_ip, established.local_port, established.remote_ip, established.remote_name) == (
        "10.0.1.11", 443, "2001:db8::5", "client5.contoso.com")
    assert established.line == 3


@pytest.mark.parametrize(("row", "line_text"), [
    ("2024-05-06T07:02:00Z,web02.contoso.com,,,LISTEN,TCP,0.0.0.0,443,,,1,a,,,x", "file name says"),
    ("2024-05-06T07:07:00Z,web01.contoso.com,,,LISTEN,TCP,0.0.0.0,443,,,1,a,,,x", "file name says"),
    ("2024-05-06T07:02:00,web01.contoso.com,,,LISTEN,TCP,0.0.0.0,443,,,1,a,,,x", "no time zone"),
    ("2024-05-06T07:02:00Z,web01.contoso.com,,,LISTEN,TCP,0.0.0.0,99999,,,1,a,,,x", "not a TCP port"),
    ("2024-05-06T07:02:00Z,web01.contoso.com,,,ESTABLISHED,TCP,10.0.0.1,443,,,1,a,,,x", "needs a remote"),
    ("2024-05-06T07:02:00Z,web01.contoso.com,,,LISTEN,SCTP,0.0.0.0,443,,,1,a,,,x", "neither TCP nor UDP"),
    ("2024-05-06T07:02:00Z,web01.contoso.com,,,LISTEN,TCP,0.0.0.0,443,,,one,a,,,x", "pid"),
    ("2024-05-06T07:02:00Z,web01.contoso.com,,,LISTEN,TCP,10.0.0.300,443,,,1,a,,,x", "not an IP address"),
    ("2024-05-06T07:02:00Z,web01.contoso.com,,,LISTEN,TCP,0.0.0.0,443", "fields where the header has"),
])
def test_csv_refuses_a_bad_row_naming_its_line(row: str, line_text: str) -> None:
    good = "2024-05-06T07:02:00Z,web01.contoso.com,,,LISTEN,TCP,0.0.0.0,80,,,1,a,,,x\n"
    with pytest.raises(BadLine, match=line_text) as caught:
        read_csv(CSV_HEADER + good + row + "\n", host="web01.contoso.com", captured_at=WHEN)
    assert caught.value.line == 3


def test_csv_with_other_columns_is_not_ours() -> None:
    squaredup = ("Computername,PID,ProcessName,ProcessDescription,Protocol,LocalAddress,LocalPort,RemoteAddress,"
                 "RemotePort,State,RemoteAddressIP\nWEB01,4,SYSTEM,,TCP,10.0.1.11,445,10.0.0.5,50000,ESTABLISHED,"
                 "10.0.0.5\n")
    with pytest.raises(BadLine, match="lacks captured_at, host, local_address") as caught:
        read_csv(squaredup, host="web01", captured_at=WHEN)
    assert caught.value.line == 1


def test_csv_per_server_columns_must_agree() -> None:
    rows = ("2024-05-06T07:02:00Z,web01.contoso.com,windows,,LISTEN,TCP,0.0.0.0,80,,,1,a,,,x\n"
            "2024-05-06T07:02:00Z,web01.contoso.com,linux,,LISTEN,TCP,0.0.0.0,81,,,1,a,,,x\n")
    with pytest.raises(BadLine, match="earlier rows say 'windows'"):
        read_csv(CSV_HEADER + rows, host="web01.contoso.com", captured_at=WHEN)
