"""Service Map nodes (machines, processes, ports, client groups) → model objects.

Each kind has a *usual* reader, for the one shape Service Map nearly always sends (inline type
checks, no JSON paths; None for anything else), and a *careful* reader that accepts the
odd-but-valid forms and names the culprit of a broken node. Both build through one ``_new_*``
function, so they never read a field differently. :mod:`.parse` offers each node to the usual
reader first.
"""

from __future__ import annotations

from typing import Any

from ...model import DISCOVERED, MONITORED, ClientGroup, Machine, NodeKey, Port, Process, machine_key, make_key
from .json_fields import (
    Invalid, as_object, expect_kind, optional_array, optional_int, optional_object, optional_string, optional_strings,
    required, required_string, string_array, usual_strings,
)
from .refs import from_id, owner_and_name, ref_key_at, usual_owner, usual_ref

__all__ = [
    "careful_client_group", "careful_machine", "careful_port", "careful_process",
    "usual_client_group", "usual_machine", "usual_port", "usual_process",
]

_MACHINE_FIELDS = ("monitoringState", "displayName", "computerName", "fullyQualifiedDomainName")
_OS_FIELDS = ("family", "fullName")
_PROCESS_FIELDS = ("displayName", "monitoringState", "executableName", "role", "group")
_DETAILS_FIELDS = ("description", "productName")
_PORT_FIELDS = ("displayName", "ipAddress")

def usual_machine(item: object) -> Machine | None:
    node = _usual_node(item, "machine")
    if node is None:
        return None
    resource_id, name, props = node
    fields = usual_strings(props, _MACHINE_FIELDS)
    os_fields = usual_strings(props.get("operatingSystem"), _OS_FIELDS)
    networking = props.get("networking")
    if networking is None:
        networking = {}
    elif type(networking) is not dict:
        return None
    nics, dns_names = networking.get("ipv4Interfaces"), networking.get("dnsNames")
    nics, dns_names = ([] if nics is None else nics), ([] if dns_names is None else dns_names)
    if fields is None or os_fields is None or type(nics) is not list or type(dns_names) is not list:
        return None
    addresses = []
    for nic in nics:
        address = nic.get("ipAddress") if type(nic) is dict else None
        if type(address) is not str or not address:
            return None
        addresses.append(address)
    for dns_name in dns_names:
        if type(dns_name) is not str:
            return None
    return _new_machine(resource_id, name, fields, os_fields, tuple(addresses), tuple(dns_names))


def careful_machine(item: object, path: str) -> Machine:
    resource_id, name, props = _node_header(item, path, "machine")
    if name is None:
        name = from_id(resource_id, "machine", path)[1]
    ppath = f"{path}.properties"
    os_info = optional_object(props, "operatingSystem", ppath)
    networking = optional_object(props, "networking", ppath)
    npath = f"{ppath}.networking"
    addresses = tuple(
        required_string(as_object(nic, f"{npath}.ipv4Interfaces[{i}]"), "ipAddress", f"{npath}.ipv4Interfaces[{i}]")
        for i, nic in enumerate(optional_array(networking, "ipv4Interfaces", npath))
    )
    dns_names = tuple(string_array(networking, "dnsNames", npath))
    fields = optional_strings(props, _MACHINE_FIELDS, ppath)
    os_fields = optional_strings(os_info, _OS_FIELDS, f"{ppath}.operatingSystem")
    return _new_machine(resource_id, name, fields, os_fields, addresses, dns_names)


def _new_machine(
    resource_id: str, name: str, fields: list[str | None], os_fields: list[str | None],
    addresses: tuple[str, ...], dns_names: tuple[str, ...],
) -> Machine:
    state, display, computer, fqdn = fields
    low = name.lower()
    if state is None:  # ``m-`` names are agent ids; everything else was inferred from traffic
        state = MONITORED if low.startswith("m-") else DISCOVERED
    return Machine(
        key=machine_key(name), id=resource_id, name=name, display_name=display or "",
        monitoring_state=state, computer_name=computer, fqdn=fqdn, os_family=os_fields[0], os_full_name=os_fields[1],
        ipv4_addresses=addresses, dns_names=dns_names,
    )


def _usual_owned(item: object, kind: str) -> tuple[str, str, str, dict[str, Any]] | None:
    """(id, owning machine, name, properties) of a process or port in the usual shape."""
    node = _usual_node(item, kind)
    if node is None:
        return None
    resource_id, name, props = node
    owner = usual_owner(props.get("machine"))
    return None if owner is None else (resource_id, owner, name, props)


def usual_process(item: object, states: dict[str, str]) -> Process | None:
    node = _usual_owned(item, "process")
    if node is None:
        return None
    resource_id, owner, name, props = node
    fields, details_fields = usual_strings(props, _PROCESS_FIELDS), usual_strings(props.get("details"), _DETAILS_FIELDS)
    if fields is None or details_fields is None:
        return None
    return _new_process(resource_id, owner, name, fields, details_fields, states)


def careful_process(item: object, path: str, states: dict[str, str]) -> Process:
    resource_id, name, props = _node_header(item, path, "process")
    owner, name = owner_and_name("process", resource_id, name, props, path)
    ppath = f"{path}.properties"
    details = optional_object(props, "details", ppath)
    fields = optional_strings(props, _PROCESS_FIELDS, ppath)
    details_fields = optional_strings(details, _DETAILS_FIELDS, f"{ppath}.details")
    return _new_process(resource_id, owner, name, fields, details_fields, states)


def _new_process(
    resource_id: str, owner: str, name: str, fields: list[str | None], details_fields: list[str | None],
    states: dict[str, str],
) -> Process:
    display, state, executable, role, group = fields
    key = make_key(("process", owner.lower(), name.lower()))
    return Process(
        key=key, id=resource_id, name=name, display_name=display or "",
        monitoring_state=state or states.get(key.machine, MONITORED), executable_name=executable, role=role,
        group=group, description=details_fields[0], product_name=details_fields[1],
    )


def usual_port(item: object, states: dict[str, str]) -> Port | None:
    node = _usual_owned(item, "port")
    if node is None:
        return None
    resource_id, owner, name, props = node
    fields = usual_strings(props, _PORT_FIELDS)
    number, state = props.get("portNumber"), props.get("monitoringState")
    if fields is None or (number is not None and type(number) is not int) or (
            state is not None and type(state) is not str):
        return None
    return _new_port(resource_id, owner, name, fields, number, state, states)


def careful_port(item: object, path: str, states: dict[str, str]) -> Port:
    resource_id, name, props = _node_header(item, path, "port")
    owner, name = owner_and_name("port", resource_id, name, props, path)
    ppath = f"{path}.properties"
    fields = optional_strings(props, _PORT_FIELDS, ppath)
    number = optional_int(props, "portNumber", ppath)
    state = optional_string(props, "monitoringState", ppath)
    return _new_port(resource_id, owner, name, fields, number, state, states)


def _new_port(
    resource_id: str, owner: str, name: str, fields: list[str | None], number: int | None, state: str | None,
    states: dict[str, str],
) -> Port:
    key = make_key(("port", owner.lower(), name.lower()))
    return Port(key=key, id=resource_id, name=name, display_name=fields[0] or "", ip_address=fields[1],
                port_number=number, monitoring_state=state or states.get(key.machine, MONITORED))


def usual_client_group(item: object) -> ClientGroup | None:
    node = _usual_node(item, "clientGroup")
    if node is None:
        return None
    resource_id, name, props = node
    clients_of, display = usual_ref(props.get("clientsOf")), props.get("displayName")
    if clients_of is None or clients_of[0] == "clientGroup" or display is not None and type(display) is not str:
        return None
    return _new_client_group(resource_id, name, make_key(clients_of), display)


def careful_client_group(item: object, path: str) -> ClientGroup:
    resource_id, name, props = _node_header(item, path, "clientGroup")
    if name is None:
        name = from_id(resource_id, "clientGroup", path)[1]
    clients_path = f"{path}.properties.clientsOf"
    clients_of = ref_key_at(required(props, "clientsOf", f"{path}.properties"), clients_path)
    if clients_of.kind == "clientGroup":
        raise Invalid(clients_path, "a client group groups the clients of a machine, process or port")
    return _new_client_group(resource_id, name, clients_of, optional_string(props, "displayName", f"{path}.properties"))


def _new_client_group(resource_id: str, name: str, clients_of: NodeKey, display: str | None) -> ClientGroup:
    return ClientGroup(key=make_key(("clientGroup", clients_of.machine, name.lower())), id=resource_id, name=name,
                       display_name=display or "", clients_of=clients_of)


def _usual_node(item: object, kind: str) -> tuple[str, str, dict[str, Any]] | None:
    """(id, name, properties) of a ``kind`` node with all three set."""
    if type(item) is not dict or item.get("kind") != kind:
        return None
    resource_id, name, props = item.get("id"), item.get("name"), item.get("properties")
    if type(resource_id) is not str or not resource_id or type(name) is not str or not name or type(props) is not dict:
        return None
    return resource_id, name, props


def _node_header(item: object, path: str, kind: str) -> tuple[str, str | None, dict[str, Any]]:
    """(id, name or None, properties or {}) of a node, after checking its ``kind``."""
    obj = as_object(item, path)
    expect_kind(obj, path, kind)
    resource_id = required_string(obj, "id", path)
    return resource_id, optional_string(obj, "name", path) or None, optional_object(obj, "properties", path)
