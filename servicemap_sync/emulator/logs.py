"""The emulated Log Analytics query API: VM insights tables derived from the Service Map data.

``POST /v1/workspaces/{customerId}/query`` (under :data:`PATH_PREFIX`, so that its token audience
differs from ARM's on the same port) answers the queries servicemap-sync sends. The emulator
cannot run KQL: it recognises a query by its first line, ``// servicemap-sync: <shape>``, reads the
window from ``let WindowStart = datetime(…)`` / ``WindowEnd`` and the machines from
``let Machines = dynamic([...])``, and answers what that shape returns over the tables below, in
the API's JSON (``tables`` of ``columns`` and ``rows``; a partial answer adds an ``error`` object).

The tables are derived from the same machines and maps the Service Map API serves, so both
sources describe one estate. One flow yields the rows the Dependency Agent writes on each side:
an ``outbound`` row on the client's machine (``LinksFailed`` for failed or mixed connections) and,
unless the connection never succeeded, an ``inbound`` row on the server's. Agentless clients get
an address in 192.0.2.0/24 per client group; agentless servers have no rows of their own. The
data has no time axis: every row lies in every window.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from .arm import Reply, parse_time

#: the emulator's query API lives under this path; its token audience is ``<emulator url>/loganalytics``
PATH_PREFIX = "loganalytics"
AS_OF = "2024-05-06T07:00:00Z"

#: shape -> (column, Kusto type) of its answer
SHAPES: dict[str, tuple[tuple[str, str], ...]] = {
    "machines": (("Machine", "string"), ("Computer", "string"), ("HostName", "string"), ("DisplayName", "string"),
                 ("OperatingSystemFamily", "string"), ("OperatingSystemFullName", "string"),
                 ("Ipv4Addresses", "dynamic"), ("DnsNames", "dynamic")),
    "connections": (("Machine", "string"), ("Process", "string"), ("Direction", "string"), ("SourceIp", "string"),
                    ("DestinationIp", "string"), ("DestinationPort", "int"), ("RemoteIp", "string"),
                    ("LinksEstablished", "long"), ("LinksFailed", "long"), ("RemoteDnsCanonicalNames", "string")),
    "processes": (("Machine", "string"), ("Process", "string"), ("DisplayName", "string"),
                  ("ExecutableName", "string"), ("Role", "string"), ("Group", "string"), ("Description", "string"),
                  ("ProductName", "string")),
    "ports": (("Machine", "string"), ("Process", "string"), ("Ip", "string"), ("Port", "int")),
}
_SHAPE = re.compile(r"\A\s*//\s*servicemap-sync:\s*(\w+)\s*$", re.MULTILINE)
_TIME = re.compile(r"^let (WindowStart|WindowEnd) = datetime\(([^)]*)\);$", re.MULTILINE)
_MACHINES = re.compile(r"^let Machines = dynamic\((\[.*\])\);$", re.MULTILINE)


def query_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
    """The query API's error body: ``{"error": {"code", "message", "innererror"}}``."""
    return Reply(status, {"error": {"code": code, "message": message,
                                    "innererror": {"code": code, "message": message}}}, headers or {})


@dataclass(frozen=True)
class Tables:
    """The four VM insights tables, as lists of row dicts (only the columns the queries read)."""

    computers: tuple[dict, ...]
    processes: tuple[dict, ...]
    ports: tuple[dict, ...]
    connections: tuple[dict, ...]


def derive_tables(machines: Iterable[dict], map_of: Callable[[str], dict | None]) -> Tables:
    """The rows the Dependency Agent of every machine in ``machines`` would have written."""
    computers, processes, ports, connections = [], [], [], []
    for machine in machines:
        name = str(machine.get("name", ""))
        if not name.lower().startswith("m-"):
            continue
        props = machine.get("properties") or {}
        networking = props.get("networking") or {}
        ips = [nic["ipAddress"] for nic in networking.get("ipv4Interfaces") or [] if nic.get("ipAddress")]
        osinfo = props.get("operatingSystem") or {}
        computers.append({
            "Machine": name, "Computer": props.get("fullyQualifiedDomainName") or props.get("computerName"),
            "HostName": props.get("computerName"), "DisplayName": props.get("displayName"),
            "OperatingSystemFamily": osinfo.get("family"), "OperatingSystemFullName": osinfo.get("fullName"),
            "Ipv4Addresses": json.dumps(ips), "DnsNames": json.dumps(networking.get("dnsNames") or []),
        })
        found = map_of(name)
        if found is not None:
            _agent_rows(name, found, processes, ports, connections)
    return Tables(tuple(computers), tuple(processes), tuple(ports), tuple(connections))


def _agent_rows(focus: str, map_json: dict, processes: list, ports: list, connections: list) -> None:
    """The rows ``focus``'s agent reports, read off its own map."""
    here = focus.lower()
    nodes = map_json.get("nodes") or {}
    machines = {m["name"].lower(): m.get("properties") or {} for m in nodes.get("machines") or []}
    by_process = {}
    for proc in nodes.get("processes") or []:
        props = proc.get("properties") or {}
        owner = props["machine"]["name"].lower()
        by_process[(owner, proc["name"])] = props
        if owner == here and props.get("monitoringState", "monitored") == "monitored":
            details = props.get("details") or {}
            processes.append({
                "Machine": focus, "Process": proc["name"], "DisplayName": props.get("displayName"),
                "ExecutableName": props.get("executableName"), "Role": props.get("role"),
                "Group": props.get("group"), "Description": details.get("description"),
                "ProductName": details.get("productName"),
            })
    edges = map_json.get("edges") or {}
    for acceptor in edges.get("acceptors") or []:
        port, proc = acceptor["properties"]["source"], acceptor["properties"]["destination"]
        if port["properties"]["machine"]["name"].lower() == here:
            ports.append({"Machine": focus, "Process": proc["name"], "Ip": port["properties"]["ipAddress"],
                          "Port": port["properties"]["portNumber"]})

    def first_ip(machine: str) -> str:
        nics = (machines.get(machine.lower(), {}).get("networking") or {}).get("ipv4Interfaces") or []
        return nics[0]["ipAddress"]

    for conn in edges.get("connections") or []:
        props = conn["properties"]
        source, target, server = props["source"], props["destination"], props["serverPort"]["properties"]
        ip, port, state = server["ipAddress"], server["portNumber"], props.get("failureState", "ok")
        server_machine = target["properties"]["machine"]["name"]
        loopback = ip.startswith("127.")
        flow = {"DestinationIp": ip, "DestinationPort": port}
        if source.get("kind") == "ref:process" and source["properties"]["machine"]["name"].lower() == here:
            dns = (machines.get(server_machine.lower(), {}).get("networking") or {}).get("dnsNames") or []
            connections.append({
                "Machine": focus, "Process": source["name"], "Direction": "outbound",
                "SourceIp": ip if loopback else first_ip(focus), **flow, "RemoteIp": ip,
                "LinksEstablished": 0 if state == "failed" else 1, "LinksFailed": 0 if state == "ok" else 1,
                "RemoteDnsCanonicalNames": json.dumps(dns),
            })
        if server_machine.lower() != here or state == "failed":
            continue  # never accepted: the server's agent saw nothing
        if source.get("kind") == "ref:clientgroup":
            client = _client_ip(source["name"])
        else:
            client = ip if loopback else first_ip(source["properties"]["machine"]["name"])
        connections.append({
            "Machine": focus, "Process": target["name"], "Direction": "inbound", "SourceIp": client, **flow,
            "RemoteIp": client, "LinksEstablished": 1, "LinksFailed": 0, "RemoteDnsCanonicalNames": "[]",
        })


def _client_ip(group: str) -> str:
    """A stable documentation address (192.0.2.0/24) standing for the agentless clients of ``group``."""
    return f"192.0.2.{1 + int(hashlib.sha1(group.encode()).hexdigest(), 16) % 254}"


@dataclass(frozen=True)
class ParsedQuery:
    """What the emulator read from a query's text."""

    shape: str
    start: datetime
    end: datetime
    machines: tuple[str, ...]


def parse_query(text: str) -> ParsedQuery:
    """The shape, window and machine list of one of servicemap-sync's queries.

    Raises:
        ValueError: the text is not one of those queries (the message says what is missing).
    """
    shape = _SHAPE.match(text)
    if shape is None or shape.group(1) not in SHAPES:
        raise ValueError("the emulator answers only servicemap-sync's queries, which start with "
                         f"'// servicemap-sync: <shape>' ({', '.join(SHAPES)})")
    times = dict(_TIME.findall(text))
    if set(times) != {"WindowStart", "WindowEnd"}:
        raise ValueError("the query does not bind WindowStart and WindowEnd")
    start, end = (parse_time(times[k].rstrip("Z")[:26] + "Z") for k in ("WindowStart", "WindowEnd"))
    if not start < end:
        raise ValueError(f"WindowStart {times['WindowStart']} is not before WindowEnd {times['WindowEnd']}")
    machines: tuple[str, ...] = ()
    if shape.group(1) != "machines":
        listed = _MACHINES.search(text)
        if listed is None:
            raise ValueError("the query does not bind Machines = dynamic([...])")
        machines = tuple(json.loads(listed.group(1)))
    return ParsedQuery(shape.group(1), start, end, machines)


class LogsApi:
    """Answers parsed queries over tables derived (once per data version) from ``machines``/``map_of``."""

    def __init__(self, machines: Callable[[], list[dict]], map_of: Callable[[str], dict | None],
                 version: Callable[[], int]) -> None:
        self._machines, self._map_of, self._version = machines, map_of, version
        self._lock = threading.Lock()
        self._cached: tuple[int, Tables] | None = None

    def tables(self) -> Tables:
        version = self._version()
        with self._lock:
            if self._cached is None or self._cached[0] != version:
                self._cached = (version, derive_tables(self._machines(), self._map_of))
            return self._cached[1]

    def answer(self, query: ParsedQuery, *, partial: bool = False) -> Reply:
        """The API's 200 answer; ``partial`` keeps half the rows and adds the ``error`` object."""
        rows = self.rows(query)
        columns = SHAPES[query.shape]
        body: dict = {"tables": [{"name": "PrimaryResult", "columns": [{"name": n, "type": t} for n, t in columns],
                                  "rows": [[row.get(n) for n, _ in columns] for row in rows]}]}
        if partial:
            body["tables"][0]["rows"] = body["tables"][0]["rows"][: len(rows) // 2]
            body["error"] = {"code": "PartialError", "message": "There were some errors when processing your query.",
                             "details": [{"code": "EngineError", "message": "Query result set has exceeded the "
                                          "internal data size limit (E_QUERY_RESULT_SET_TOO_LARGE)."}]}
        return Reply(200, body)

    def rows(self, query: ParsedQuery) -> list[dict]:
        """What the shape's KQL returns over the tables (``in`` is case-sensitive, as in KQL)."""
        tables = self.tables()
        wanted = set(query.machines)
        if query.shape == "machines":
            return sorted(tables.computers, key=lambda r: r["Machine"])
        if query.shape == "processes":
            return sorted((r for r in tables.processes if r["Machine"] in wanted),
                          key=lambda r: (r["Machine"], r["Process"]))
        if query.shape == "ports":
            distinct = {(r["Machine"], r["Process"], r["Ip"], r["Port"]): r for r in tables.ports
                        if r["Machine"] in wanted}
            return [distinct[k] for k in sorted(distinct)]
        ips = {ip for r in tables.computers if r["Machine"] in wanted for ip in json.loads(r["Ipv4Addresses"])}
        return _summarize_connections(r for r in tables.connections if r["Machine"] in wanted or (
            r["Direction"] == "outbound" and r["DestinationIp"] in ips))


def _summarize_connections(rows: Iterable[Mapping]) -> list[dict]:
    keys = ("Machine", "Process", "Direction", "SourceIp", "DestinationIp", "DestinationPort", "RemoteIp")
    groups: dict[tuple, dict] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        group = groups.setdefault(key, {**{k: row[k] for k in keys}, "LinksEstablished": 0, "LinksFailed": 0,
                                        "RemoteDnsCanonicalNames": row["RemoteDnsCanonicalNames"]})
        group["LinksEstablished"] += row["LinksEstablished"]
        group["LinksFailed"] += row["LinksFailed"]
    return [groups[k] for k in sorted(groups, key=lambda k: tuple(map(str, k)))]
