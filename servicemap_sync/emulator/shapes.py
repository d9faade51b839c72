"""Render an :class:`~.estate.Estate` as Service Map API JSON (api-version 2015-11-01-preview).

One function per resource shape, used by the sample estate, the synthetic generator and the
emulator alike, so there is exactly one place that knows what a Machine, a Connection or a
single-machine dependency map looks like on the wire (see the spec's
``examples/Maps/SMMapsGenerateSingleMachineDependencyPost.json``).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

from .estate import Clients, Estate, Host, Link, Listener, Proc

MACHINE_TYPE = "Microsoft.OperationalInsights/workspaces/features/machines"
PROCESS_TYPE = f"{MACHINE_TYPE}/processes"
PORT_TYPE = f"{MACHINE_TYPE}/ports"
CLIENT_GROUP_TYPE = "Microsoft.OperationalInsights/workspaces/features/clientGroups"
MACHINE_GROUP_TYPE = "Microsoft.OperationalInsights/workspaces/features/machineGroups"
CONNECTION_TYPE = "Microsoft.OperationalInsights/workspaces/features/connections"
ACCEPTOR_TYPE = "Microsoft.OperationalInsights/workspaces/features/acceptors"

#: Fixed instants for resource timestamps: the data is committed, so it must not move.
AS_OF = "2024-05-06T07:00:00Z"
BOOT_TIME = "2024-04-28T03:15:42.517Z"
PROCESS_START = "2024-04-28T03:17:09.104Z"


@dataclass(frozen=True)
class WorkspaceRef:
    """The workspace the resource ids point into."""

    subscription_id: str
    resource_group: str
    workspace_name: str
    customer_id: str

    @property
    def arm_id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.OperationalInsights/workspaces/{self.workspace_name}")

    def prefix(self, form: int) -> str:
        """The id prefix of id form 1, 2 or 3 (see :class:`~.estate.Host`)."""
        if form == 2:
            return f"{self.arm_id}/features/serviceMap"
        if form == 3:
            return f"/api/workspaces/{self.customer_id}"
        return self.arm_id


def _stable_guid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "servicemap-sync-emulator:" + "|".join(parts)))


def machine_resource(ws: WorkspaceRef, host: Host) -> dict:
    """The full Machine resource, as ``GET machines`` and ``GET machines/{name}`` return it."""
    if not host.monitored:
        raise ValueError(f"{host.name} is discovered; only monitored machines are listed")
    octets = [int(o) for o in host.ipv4[0].split(".")]
    gateway = ".".join(str(o) for o in (*octets[:3], 1))
    mac = "00:15:5D:" + ":".join(f"{o:02X}" for o in octets[1:])
    props: dict = {
        "timestamp": AS_OF,
        "monitoringState": "monitored",
        "virtualizationState": "virtual" if host.virtual else "physical",
        "displayName": host.display_name,
        "computerName": host.computer_name,
        "fullyQualifiedDomainName": host.fqdn,
        "bootTime": BOOT_TIME,
        "timezone": {"fullName": "(UTC) Coordinated Universal Time"},
        "agent": {
            "agentId": host.agent_id,
            "dependencyAgentId": _stable_guid("dependency-agent", host.agent_id.lower()),
            "dependencyAgentVersion": "9.10.16.22650",
            "dependencyAgentRevision": "1",
            "rebootStatus": "notRebooted",
            "clockGranularity": 100,
        },
        "resources": {"physicalMemory": 16384, "cpus": 4, "cpuSpeed": 2394, "cpuSpeedAccuracy": "actual"},
        "networking": {
            "ipv4Interfaces": [{"ipAddress": ip, "subnetMask": "255.255.255.0"} for ip in host.ipv4],
            "ipv6Interfaces": [],
            "defaultIpv4Gateways": [gateway],
            "macAddresses": [mac],
            "dnsNames": list(host.dns_names),
        },
        "operatingSystem": {"family": host.os_family or "unknown", "fullName": host.os_full_name or "unknown",
                            "bitness": host.bitness},
    }
    if host.virtual:
        props["virtualMachine"] = {
            "virtualMachineType": "hyperv",
            "nativeMachineId": _stable_guid("vm", host.agent_id.lower()),
            "virtualMachineName": host.computer_name or host.display_name,
            "nativeHostMachineId": _stable_guid("hyperv-host", gateway),
        }
    return {"kind": "machine", "id": f"{ws.prefix(host.id_form)}/machines/{host.name}", "type": MACHINE_TYPE,
            "name": host.name, "properties": props}


def machine_group_resource(ws: WorkspaceRef, name: str, display_name: str, members: tuple[Host, ...], *,
                           group_type: str = "user-static", id_form: int = 1, hints: bool = True) -> dict:
    """A MachineGroup resource, as ``GET machineGroups`` and ``GET machineGroups/{name}`` return it.

    Members are ``ref:machinewithhints`` references in each member's own id form; ``hints``
    adds their ``displayNameHint``/``osFamilyHint`` (Microsoft's get and list examples have
    none, its create example has them). ``id_form`` picks the group id's form as for machines.
    """
    machines = []
    for host in members:
        if not host.monitored:
            raise ValueError(f"{host.name} is discovered; only monitored machines join a machine group")
        ref: dict = {"kind": "ref:machinewithhints", "id": f"{ws.prefix(host.id_form)}/machines/{host.name}",
                     "type": MACHINE_TYPE, "name": host.name}
        if hints:
            ref["properties"] = {"displayNameHint": host.display_name, "osFamilyHint": host.os_family or "unknown"}
        machines.append(ref)
    return {"kind": "machineGroup", "id": f"{ws.prefix(id_form)}/machineGroups/{name}", "type": MACHINE_GROUP_TYPE,
            "name": name, "etag": _stable_guid("machine-group", name.lower(), *(h.name.lower() for h in members)),
            "properties": {"groupType": group_type, "displayName": display_name, "count": len(machines),
                           "machines": machines}}


class MapRenderer:
    """Builds the single-machine dependency map of ``focus``: its processes, its links, the peers
    those links reach, every client group of its ports and an acceptor for every port shown."""

    def __init__(self, ws: WorkspaceRef, estate: Estate, focus: Host) -> None:
        self._ws = ws
        self._estate = estate
        self._focus = focus
        self._nodes: dict[str, dict[str, dict]] = {"machines": {}, "processes": {}, "ports": {}, "clientGroups": {}}
        self._connections: dict[str, dict] = {}
        self._ports: dict[str, Listener] = {}

    # -- names and references ----------------------------------------------------------------
    def _mname(self, host: Host) -> str:
        if host.peer_upper and host != self._focus:
            return "m-" + host.agent_id.upper()
        return host.name

    def _base(self, host: Host) -> str:
        return f"{self._ws.prefix(host.id_form)}/machines/{self._mname(host)}"

    def machine_ref(self, host: Host) -> dict:
        return {"kind": "ref:machine", "id": self._base(host), "type": MACHINE_TYPE, "name": self._mname(host)}

    def process_ref(self, proc: Proc) -> dict:
        return {"kind": "ref:process", "properties": {"machine": self.machine_ref(proc.host)},
                "id": f"{self._base(proc.host)}/processes/{proc.name}", "type": PROCESS_TYPE, "name": proc.name}

    def port_ref(self, lsn: Listener) -> dict:
        return {"kind": "ref:port",
                "properties": {"machine": self.machine_ref(lsn.host), "ipAddress": lsn.ip, "portNumber": lsn.port},
                "id": f"{self._base(lsn.host)}/ports/{lsn.name}", "type": PORT_TYPE, "name": lsn.name}

    def _cg_name(self, cg: Clients) -> str:
        lsn = cg.listener
        base = f"m!{self._mname(lsn.host)}"
        if cg.scope == "process":
            return f"{base}!p!{lsn.process.name}"
        if cg.scope == "port":
            return f"{base}!b!{lsn.name}"
        return base

    def clients_ref(self, cg: Clients) -> dict:
        name = self._cg_name(cg)
        return {"kind": "ref:clientgroup", "id": f"{self._ws.arm_id}/clientGroups/{name}", "type": CLIENT_GROUP_TYPE,
                "name": name}

    def _edge_part(self, host: Host, segment: str, name: str) -> str:
        return f"m@{self._mname(host)}@{segment}@{name}"

    # -- nodes --------------------------------------------------------------------------------
    def add_machine(self, host: Host) -> None:
        if host.name in self._nodes["machines"]:
            return
        props: dict = {"monitoringState": "monitored" if host.monitored else "discovered",
                       "virtualizationState": ("virtual" if host.virtual else "physical") if host.monitored else "unknown",
                       "displayName": host.display_name}
        if host.monitored:
            props["computerName"] = host.computer_name
            props["fullyQualifiedDomainName"] = host.fqdn
        networking: dict = {"ipv4Interfaces": [{"ipAddress": ip, "subnetMask": "255.255.255.255"} for ip in host.ipv4]}
        if host.dns_names:
            networking["dnsNames"] = list(host.dns_names)
        props["networking"] = networking
        if host.os_family:
            props["operatingSystem"] = {"family": host.os_family, "fullName": host.os_full_name or host.os_family,
                                        "bitness": host.bitness}
        ref = self.machine_ref(host)
        self._nodes["machines"][host.name] = {"kind": "machine", "id": ref["id"], "type": ref["type"],
                                              "name": ref["name"], "properties": props}

    def add_process(self, proc: Proc) -> None:
        key = f"{proc.host.name}/{proc.name}"
        if key in self._nodes["processes"]:
            return
        self.add_machine(proc.host)
        ref = self.process_ref(proc)
        props: dict = {"monitoringState": "monitored" if proc.monitored else "discovered",
                       "machine": ref["properties"]["machine"], "displayName": proc.display_name}
        if proc.role:
            props["role"] = proc.role
        if proc.group:
            props["group"] = proc.group
        if proc.monitored:
            props["executableName"] = proc.executable
            props["startTime"] = PROCESS_START
            props["details"] = _process_details(proc)
            if proc.user:
                domain, _, user = proc.user.rpartition("\\")
                props["user"] = {"userName": user, **({"userDomain": domain} if domain else {})}
        else:
            props["acceptorOf"] = self.port_ref(self._estate.accepted_by(proc)[0])
        self._nodes["processes"][key] = {"kind": "process", "id": ref["id"], "type": ref["type"], "name": ref["name"],
                                         "properties": props}

    def add_port(self, lsn: Listener) -> None:
        key = f"{lsn.host.name}/{lsn.name}"
        if key in self._nodes["ports"]:
            return
        self.add_process(lsn.process)
        self._ports[key] = lsn
        ref = self.port_ref(lsn)
        self._nodes["ports"][key] = {
            "kind": "port", "id": ref["id"], "type": ref["type"], "name": ref["name"],
            "properties": {"monitoringState": "monitored" if lsn.host.monitored else "discovered", **ref["properties"],
                           "displayName": f":{lsn.port}"},
        }

    def add_clients(self, cg: Clients) -> None:
        ref = self.clients_ref(cg)
        if ref["name"] in self._nodes["clientGroups"]:
            return
        lsn = cg.listener
        of = {"process": self.process_ref(lsn.process), "port": self.port_ref(lsn)}.get(cg.scope)
        self._nodes["clientGroups"][ref["name"]] = {
            "kind": "clientGroup", "id": ref["id"], "type": ref["type"], "name": ref["name"],
            "properties": {"clientsOf": of or self.machine_ref(lsn.host)},
        }

    # -- edges --------------------------------------------------------------------------------
    def add_link(self, link: Link) -> None:
        target = link.target
        self.add_port(target)
        if isinstance(link.source, Clients):
            self.add_clients(link.source)
            source_ref = self.clients_ref(link.source)
            source_part = "c@" + source_ref["name"].replace("!", "@")
        else:
            self.add_process(link.source)
            source_ref = self.process_ref(link.source)
            source_part = self._edge_part(link.source.host, "p", link.source.name)
        name = "!".join((source_part, self._edge_part(target.host, "p", target.process.name),
                         self._edge_part(target.host, "b", target.name)))
        self._connections[name] = {
            "kind": "rel:connection", "id": f"{self._ws.arm_id}/connections/{name}", "type": CONNECTION_TYPE,
            "name": name,
            "properties": {"source": source_ref, "destination": self.process_ref(target.process),
                           "serverPort": self.port_ref(target), "failureState": link.failure_state},
        }

    def _acceptor(self, lsn: Listener) -> dict:
        name = (f"{self._edge_part(lsn.host, 'b', lsn.name)}!"
                f"{self._edge_part(lsn.host, 'p', lsn.process.name)}")
        return {"kind": "rel:acceptor", "id": f"{self._ws.arm_id}/acceptors/{name}", "type": ACCEPTOR_TYPE,
                "name": name,
                "properties": {"source": self.port_ref(lsn), "destination": self.process_ref(lsn.process)}}

    def render(self) -> dict:
        """The ``map`` object (``nodes`` + ``edges``) of the focus machine."""
        focus = self._focus
        self.add_machine(focus)
        for proc in self._estate.processes[focus.name]:
            self.add_process(proc)
        for lsn in self._estate.listeners[focus.name]:
            self.add_port(lsn)
        for link in self._estate.links[focus.name]:
            self.add_link(link)
        return {
            "nodes": {kind: list(nodes.values()) for kind, nodes in self._nodes.items()},
            "edges": {"connections": list(self._connections.values()),
                      "acceptors": [self._acceptor(lsn) for lsn in self._ports.values()]},
        }


def _process_details(proc: Proc) -> dict:
    details: dict = {
        "persistentKey": hashlib.sha1(proc.name.encode()).hexdigest()[:16],
        "poolId": int(proc.name[2:10], 16) % 1000,
        "firstPid": 1000 + int(proc.name[10:14], 16) % 30000,
        "commandLine": proc.command_line,
        "executablePath": proc.path,
        "description": proc.description,
        "companyName": proc.company,
        "productName": proc.product,
        "productVersion": proc.product_version,
        "fileVersion": proc.product_version,
    }
    if proc.services:
        details["services"] = [{"name": s, "displayName": s} for s in proc.services]
    return {k: v for k, v in details.items() if v is not None}


def render_map(ws: WorkspaceRef, estate: Estate, focus: Host) -> dict:
    """The ``map`` object of ``focus``'s single-machine dependency map."""
    return MapRenderer(ws, estate, focus).render()
