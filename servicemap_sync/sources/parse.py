"""Service Map JSON → model objects. The only module that reads raw Service Map responses.

Tolerant where real data is odd, strict where it is broken:

* Accepted: ``displayName`` of ``"???"``, empty or missing; optional properties missing or
  ``null`` (``null`` counts as absent everywhere); enumeration values the spec does not list
  (they pass through as strings); extra fields; missing ``map.nodes``/``map.edges`` arrays;
  ids in any of the three published forms (``…/workspaces/{ws}/machines/…``,
  ``…/features/serviceMap/machines/…``, legacy ``/api/workspaces/{id}/machines/…``); GUIDs
  whose case differs between a node and a reference to it; references without ``kind`` when
  their id says what they point at (the legacy examples send client-group sources that way).
* Refused with :class:`ParseError`: a body or item that is not an object, a missing ``map``,
  ``nodes`` or ``edges``, arrays that are not arrays, a missing ``kind``/``id``, a name that
  can be taken neither from ``name`` nor from ``id``, values of the wrong JSON type, an edge
  whose source or destination is not a node of the map, a client group without ``clientsOf``.
  The error's ``field`` is the JSON path of the culprit, e.g.
  ``map.edges.connections[3].properties.destination``.

Identity is the resource *name*, lower-cased (see :class:`~servicemap_sync.model.NodeKey`):
ids are opaque and come in several forms, so only their trailing
``machines/{m}[/processes|ports/{x}]`` or ``clientGroups/{g}`` segments are ever read, and only
when ``name`` is absent. The parser is a single pass over the decoded JSON with no copies and
no schema engine, because it sits on the hot path of maps with tens of thousands of edges.

Each node and edge is first offered to a *usual* reader (``_usual_*``). It takes the one shape
Service Map nearly always sends (kind, id and name set; processes and ports owned through a
complete machine reference; every field of its JSON type) with inline type checks and no
JSON paths, and answers None for anything else. Only then does the item's *careful* reader
run: it accepts the odd-but-valid forms and names the culprit of a broken item. A usual
reader never accepts what its careful one refuses, nor reads anything differently (the tests
compare the two on every single-field change of a sample map); both build through one
``_new_*`` function. Edges hold their nodes' own keys, not copies.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from ..errors import ParseError
from ..model import (
    DISCOVERED, FAILURE_OK, MONITORED, Acceptor, ClientGroup, Connection, Machine, NodeKey, Port, PortRef, Process,
    ServerMap, machine_key,
)
from .json_fields import (
    Invalid, as_object, date_time, field_name, json_type, optional_array, optional_int, optional_object, optional_string,
    optional_strings, required, required_object, required_string, short, string_array, usual_strings,
)

__all__ = ["parse_machine", "parse_machine_page", "parse_map_response", "ref_key"]

log = logging.getLogger(__name__)

_REF_KINDS = {
    "ref:machine": "machine",
    "ref:machinewithhints": "machine",
    "ref:process": "process",
    "ref:port": "port",
    "ref:clientgroup": "clientGroup",
}
_CHILD_SEGMENTS = {"processes": "process", "ports": "port"}
_MACHINE_FIELDS = ("monitoringState", "displayName", "computerName", "fullyQualifiedDomainName")
_OS_FIELDS = ("family", "fullName")
_PROCESS_FIELDS = ("displayName", "monitoringState", "executableName", "role", "group")
_DETAILS_FIELDS = ("description", "productName")
_PORT_FIELDS = ("displayName", "ipAddress")
# A NodeKey from a (kind, machine, name) tuple, without NamedTuple's Python-level __new__: half
# the cost, and a large map makes tens of thousands of keys.
_make_key = partial(tuple.__new__, NodeKey)


def parse_map_response(body: object, *, server: str, focus_machine: str) -> ServerMap:
    """Turn a ``generateMap`` response into the server's :class:`ServerMap`.

    Args:
        body: the decoded JSON of the 200 response.
        server: the server name, for messages.
        focus_machine: the resource name of the machine the map was asked for.

    Raises:
        ParseError: the body breaks the spec's shape (see the module docstring); also when
            ``focus_machine`` is not among the map's machines.
    """
    try:
        return _map_response(body, server, focus_machine)
    except Invalid as exc:
        field = field_name(exc.path)
        raise ParseError(f"{server}: {field}: {exc.what}", server=server, field=field) from None


def parse_machine(obj: object, *, where: str = "machine") -> Machine:
    """Turn one machine resource (``GET machines/{m}``) into a :class:`Machine`.

    Raises:
        ParseError: naming ``where`` and the JSON path inside ``obj``.
    """
    try:
        return _machine(obj, "")
    except Invalid as exc:
        field = field_name(exc.path)
        raise ParseError(f"{where}: {field}: {exc.what}", field=field) from None


def parse_machine_page(body: object) -> tuple[list[Machine], str | None]:
    """One page of ``GET machines``: its machines and the ``nextLink`` (None on the last page).

    Raises:
        ParseError: the page or one of its machines is malformed.
    """
    try:
        page = as_object(body, "")
        machines = [_machine(item, f".value[{i}]") for i, item in enumerate(optional_array(page, "value", ""))]
        return machines, optional_string(page, "nextLink", "") or None
    except Invalid as exc:
        field = field_name(exc.path)
        raise ParseError(f"machine list: {field}: {exc.what}", field=field) from None


def ref_key(ref: object, *, where: str) -> NodeKey:
    """The :class:`NodeKey` a ResourceReference points at.

    A client-group reference carries only the group's name; its machine is read from the
    ``m!{machine}…`` form of that name (empty if the name has another form).

    Raises:
        ParseError: ``ref`` is not a usable reference; ``field`` is ``where`` plus the path inside.
    """
    try:
        return _ref_key(ref, where)
    except Invalid as exc:
        raise ParseError(f"{exc.path}: {exc.what}", field=exc.path) from None


# --- the map ----------------------------------------------------------------------------------


def _map_response(body: object, server: str, focus_machine: str) -> ServerMap:
    root = as_object(body, "")
    start = date_time(root.get("startTime"), ".startTime")
    end = date_time(root.get("endTime"), ".endTime")
    the_map = required_object(root, "map", "")
    nodes = required_object(the_map, "nodes", ".map")
    edges = required_object(the_map, "edges", ".map")

    machines: dict[NodeKey, Machine] = _index(nodes, "machines", _usual_machine, _machine)
    states = {key.name: m.monitoring_state for key, m in machines.items()}
    processes: dict[NodeKey, Process] = _index(
        nodes, "processes", lambda item: _usual_process(item, states), lambda item, path: _process(item, path, states))
    ports: dict[NodeKey, Port] = _index(
        nodes, "ports", lambda item: _usual_port(item, states), lambda item, path: _port(item, path, states))
    groups: dict[NodeKey, ClientGroup] = _index(nodes, "clientGroups", _usual_client_group, _client_group)
    # Client-group references carry only the group's name, so edges find the group by it.
    groups_by_name = {key.name: key for key in groups}

    connections = [
        _usual_connection(item, processes, ports, groups_by_name)
        or _connection(item, f".map.edges.connections[{i}]", processes, groups_by_name)
        for i, item in enumerate(optional_array(edges, "connections", ".map.edges"))
    ]
    acceptors = [
        _usual_acceptor(item, processes, ports) or _acceptor(item, f".map.edges.acceptors[{i}]", processes, ports)
        for i, item in enumerate(optional_array(edges, "acceptors", ".map.edges"))
    ]
    focus = machine_key(focus_machine)
    if focus not in machines:
        raise Invalid(".map.nodes.machines", f"the server's own machine {focus_machine!r} is not in the map")
    return ServerMap(
        server=server, focus=focus, start_time=start, end_time=end,
        machines=tuple(machines.values()), processes=tuple(processes.values()), ports=tuple(ports.values()),
        client_groups=tuple(groups.values()), connections=tuple(connections), acceptors=tuple(acceptors),
    )


def _index(
    nodes: dict[str, Any], name: str, usual: Callable[[object], Any], careful: Callable[[object, str], Any]
) -> dict[NodeKey, Any]:
    """``nodes[name]`` parsed and keyed, in document order; a repeated key (the same resource,
    its GUID in another case) keeps the first."""
    index: dict[NodeKey, Any] = {}
    for i, item in enumerate(optional_array(nodes, name, ".map.nodes")):
        node = usual(item) or careful(item, f".map.nodes.{name}[{i}]")
        if index.setdefault(node.key, node) is not node:
            log.debug("node %s appears twice in the map; keeping the first", node.key)
    return index


# --- edges, the usual shape -------------------------------------------------------------------


def _usual_connection(
    item: object, processes: dict[NodeKey, Process], ports: dict[NodeKey, Port], groups_by_name: dict[str, NodeKey]
) -> Connection | None:
    edge = _usual_edge(item, "rel:connection")
    if edge is None:
        return None
    edge_id, props = edge
    source = _usual_ref(props.get("source"))
    if source is not None and source[0] == "clientGroup":
        source_key = groups_by_name.get(source[2])
    else:
        source_key = _node_key(processes, source)
    destination = _node_key(processes, _usual_ref(props.get("destination")))
    failure = props.get("failureState")
    if failure is None:
        failure = FAILURE_OK
    if source_key is None or destination is None or type(failure) is not str:
        return None
    raw_port = props.get("serverPort")
    server_port = None
    if raw_port is not None:
        port = _usual_ref(raw_port)
        if port is None or port[0] != "port":
            return None
        port_props = raw_port["properties"]  # an object: _usual_ref read the owner from it
        ip, number = port_props.get("ipAddress"), port_props.get("portNumber")
        if (ip is not None and type(ip) is not str) or (number is not None and type(number) is not int):
            return None
        # The server port need not be a node of the map; when it is, the edge shares its key.
        server_port = PortRef(key=_node_key(ports, port) or _make_key(port), ip_address=ip, port_number=number)
    return Connection(id=edge_id, source=source_key, destination=destination, server_port=server_port,
                      failure_state=failure)


def _usual_acceptor(item: object, processes: dict[NodeKey, Process], ports: dict[NodeKey, Port]) -> Acceptor | None:
    edge = _usual_edge(item, "rel:acceptor")
    if edge is None:
        return None
    edge_id, props = edge
    port = _node_key(ports, _usual_ref(props.get("source")))
    process = _node_key(processes, _usual_ref(props.get("destination")))
    if port is None or process is None:
        return None
    return Acceptor(id=edge_id, port=port, process=process)


def _usual_edge(item: object, kind: str) -> tuple[str, dict[str, Any]] | None:
    """(id, properties) of a ``kind`` edge with both set."""
    if type(item) is not dict or item.get("kind") != kind:
        return None
    edge_id, props = item.get("id"), item.get("properties")
    if type(edge_id) is not str or not edge_id or type(props) is not dict:
        return None
    return edge_id, props


def _node_key(index: dict[NodeKey, Any], ref: tuple[str, str, str] | None) -> NodeKey | None:
    """The key of the node ``ref`` points at, if it is in ``index``. The node's own key, so a
    map's edges hold no copies of it (a plain tuple finds it: a NamedTuple hashes as one)."""
    node = None if ref is None else index.get(ref)
    return None if node is None else node.key


# --- edges, carefully -------------------------------------------------------------------------


def _connection(
    item: object, path: str, processes: dict[NodeKey, Process], groups_by_name: dict[str, NodeKey]
) -> Connection:
    edge_id, props = _edge_header(item, path, "rel:connection")
    source_path = f"{path}.properties.source"
    source = _ref_key(required(props, "source", f"{path}.properties"), source_path)
    if source.kind == "clientGroup":
        group = groups_by_name.get(source.name)
        if group is None:
            raise Invalid(source_path, f"client group {source.name!r} is not in map.nodes.clientGroups")
        source = group
    elif source.kind == "process":
        _require_node(source, processes, source_path, "map.nodes.processes")
    else:
        raise Invalid(source_path, f"a connection starts at a process or client group, not a {source.kind}")
    destination = _process_endpoint(props, "destination", path, processes)
    server_port = None
    raw_port = props.get("serverPort")
    if raw_port is not None:
        port_path = f"{path}.properties.serverPort"
        port_key = _ref_key(raw_port, port_path)
        if port_key.kind != "port":
            raise Invalid(port_path, f"expected a port reference, got a {port_key.kind}")
        port_props = optional_object(raw_port, "properties", port_path)
        server_port = PortRef(
            key=port_key,
            ip_address=optional_string(port_props, "ipAddress", f"{port_path}.properties"),
            port_number=optional_int(port_props, "portNumber", f"{port_path}.properties"),
        )
    failure = optional_string(props, "failureState", f"{path}.properties")
    return Connection(
        id=edge_id, source=source, destination=destination, server_port=server_port,
        failure_state=failure if failure is not None else FAILURE_OK,
    )


def _acceptor(item: object, path: str, processes: dict[NodeKey, Process], ports: dict[NodeKey, Port]) -> Acceptor:
    edge_id, props = _edge_header(item, path, "rel:acceptor")
    port_path = f"{path}.properties.source"
    port = _ref_key(required(props, "source", f"{path}.properties"), port_path)
    if port.kind != "port":
        raise Invalid(port_path, f"an acceptor starts at a port, not a {port.kind}")
    _require_node(port, ports, port_path, "map.nodes.ports")
    return Acceptor(id=edge_id, port=port, process=_process_endpoint(props, "destination", path, processes))


def _edge_header(item: object, path: str, kind: str) -> tuple[str, dict[str, Any]]:
    obj = as_object(item, path)
    _expect_kind(obj, path, kind)
    return required_string(obj, "id", path), required_object(obj, "properties", path)


def _process_endpoint(props: dict[str, Any], name: str, path: str, processes: dict[NodeKey, Process]) -> NodeKey:
    end_path = f"{path}.properties.{name}"
    key = _ref_key(required(props, name, f"{path}.properties"), end_path)
    if key.kind != "process":
        raise Invalid(end_path, f"expected a process reference, got a {key.kind}")
    _require_node(key, processes, end_path, "map.nodes.processes")
    return key


def _require_node(key: NodeKey, index: dict[NodeKey, Any], path: str, where: str) -> None:
    if key not in index:
        raise Invalid(path, f"{key} is not in {where}")


# --- nodes ------------------------------------------------------------------------------------


def _usual_machine(item: object) -> Machine | None:
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


def _machine(item: object, path: str) -> Machine:
    resource_id, name, props = _node_header(item, path, "machine")
    if name is None:
        name = _from_id(resource_id, "machine", path)[1]
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
        key=_make_key(("machine", low, low)), id=resource_id, name=name, display_name=display or "",
        monitoring_state=state, computer_name=computer, fqdn=fqdn, os_family=os_fields[0], os_full_name=os_fields[1],
        ipv4_addresses=addresses, dns_names=dns_names,
    )


def _usual_process(item: object, states: dict[str, str]) -> Process | None:
    node = _usual_node(item, "process")
    if node is None:
        return None
    resource_id, name, props = node
    owner = _usual_owner(props.get("machine"))
    fields, details_fields = usual_strings(props, _PROCESS_FIELDS), usual_strings(props.get("details"), _DETAILS_FIELDS)
    if owner is None or fields is None or details_fields is None:
        return None
    return _new_process(resource_id, owner, name, fields, details_fields, states)


def _process(item: object, path: str, states: dict[str, str]) -> Process:
    resource_id, name, props = _node_header(item, path, "process")
    owner, name = _owner_and_name("process", resource_id, name, props, path)
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
    key = _make_key(("process", owner.lower(), name.lower()))
    return Process(
        key=key, id=resource_id, name=name, display_name=display or "",
        monitoring_state=state or states.get(key.machine, MONITORED), executable_name=executable, role=role,
        group=group, description=details_fields[0], product_name=details_fields[1],
    )


def _usual_port(item: object, states: dict[str, str]) -> Port | None:
    node = _usual_node(item, "port")
    if node is None:
        return None
    resource_id, name, props = node
    owner = _usual_owner(props.get("machine"))
    fields = usual_strings(props, _PORT_FIELDS)
    number, state = props.get("portNumber"), props.get("monitoringState")
    if owner is None or fields is None or (number is not None and type(number) is not int) or (
            state is not None and type(state) is not str):
        return None
    return _new_port(resource_id, owner, name, fields, number, state, states)


def _port(item: object, path: str, states: dict[str, str]) -> Port:
    resource_id, name, props = _node_header(item, path, "port")
    owner, name = _owner_and_name("port", resource_id, name, props, path)
    ppath = f"{path}.properties"
    fields = optional_strings(props, _PORT_FIELDS, ppath)
    number = optional_int(props, "portNumber", ppath)
    state = optional_string(props, "monitoringState", ppath)
    return _new_port(resource_id, owner, name, fields, number, state, states)


def _new_port(
    resource_id: str, owner: str, name: str, fields: list[str | None], number: int | None, state: str | None,
    states: dict[str, str],
) -> Port:
    key = _make_key(("port", owner.lower(), name.lower()))
    return Port(key=key, id=resource_id, name=name, display_name=fields[0] or "", ip_address=fields[1],
                port_number=number, monitoring_state=state or states.get(key.machine, MONITORED))


def _usual_client_group(item: object) -> ClientGroup | None:
    node = _usual_node(item, "clientGroup")
    if node is None:
        return None
    resource_id, name, props = node
    clients_of, display = _usual_ref(props.get("clientsOf")), props.get("displayName")
    if clients_of is None or clients_of[0] == "clientGroup" or display is not None and type(display) is not str:
        return None
    return _new_client_group(resource_id, name, _make_key(clients_of), display)


def _client_group(item: object, path: str) -> ClientGroup:
    resource_id, name, props = _node_header(item, path, "clientGroup")
    if name is None:
        name = _from_id(resource_id, "clientGroup", path)[1]
    clients_path = f"{path}.properties.clientsOf"
    clients_of = _ref_key(required(props, "clientsOf", f"{path}.properties"), clients_path)
    if clients_of.kind == "clientGroup":
        raise Invalid(clients_path, "a client group groups the clients of a machine, process or port")
    return _new_client_group(resource_id, name, clients_of, optional_string(props, "displayName", f"{path}.properties"))


def _new_client_group(resource_id: str, name: str, clients_of: NodeKey, display: str | None) -> ClientGroup:
    return ClientGroup(key=_make_key(("clientGroup", clients_of.machine, name.lower())), id=resource_id, name=name,
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
    _expect_kind(obj, path, kind)
    resource_id = required_string(obj, "id", path)
    return resource_id, optional_string(obj, "name", path) or None, optional_object(obj, "properties", path)


def _owner_and_name(kind: str, resource_id: str, name: str | None, props: dict[str, Any], path: str) -> tuple[str, str]:
    """(owning machine, name) of a process or port: the owner from ``properties.machine``, the
    name from ``name``, and either from the id when not given."""
    owner_ref = props.get("machine")
    owner = None if owner_ref is None else _machine_ref_name(owner_ref, f"{path}.properties.machine")
    if owner is None or name is None:
        id_owner, id_name = _from_id(resource_id, kind, path, lacking="name" if name is None else "properties.machine")
        owner = id_owner if owner is None else owner
        name = id_name if name is None else name
    return owner, name


def _expect_kind(obj: dict[str, Any], path: str, kind: str) -> None:
    raw = obj.get("kind")
    if raw != kind:
        raise Invalid(f"{path}.kind", "missing" if raw is None else f"expected {kind!r}, got {short(raw)}")


# --- references -------------------------------------------------------------------------------


def _usual_ref(value: object) -> tuple[str, str, str] | None:
    """The (kind, machine, name) of a :class:`NodeKey` for a reference in the usual shape: kind,
    id and name set, and a process or port owned through a complete machine reference."""
    if type(value) is not dict:
        return None
    kind, resource_id, name = value.get("kind"), value.get("id"), value.get("name")
    if type(resource_id) is not str or not resource_id or type(name) is not str or not name:
        return None
    if kind == "ref:process" or kind == "ref:port":
        props = value.get("properties")
        owner = _usual_owner(props.get("machine")) if type(props) is dict else None
        return None if owner is None else (_REF_KINDS[kind], owner.lower(), name.lower())
    if kind == "ref:machine":
        low = name.lower()
        return "machine", low, low
    if kind == "ref:clientgroup":
        return "clientGroup", _group_owner(name), name.lower()
    return None


def _usual_owner(ref: object) -> str | None:
    """The name in a machine reference with kind, id and name set."""
    if type(ref) is not dict or ref.get("kind") != "ref:machine":
        return None
    resource_id, name = ref.get("id"), ref.get("name")
    if type(resource_id) is not str or not resource_id or type(name) is not str or not name:
        return None
    return name


def _ref_key(value: object, path: str) -> NodeKey:
    usual = _usual_ref(value)
    if usual is not None:
        return _make_key(usual)
    ref = as_object(value, path)
    resource_id = required_string(ref, "id", path)
    name = optional_string(ref, "name", path) or None
    kind = _ref_kind(ref, resource_id, path)
    if kind == "machine":
        return machine_key(name if name is not None else _from_id(resource_id, kind, path)[1])
    if kind == "clientGroup":
        name = name if name is not None else _from_id(resource_id, kind, path)[1]
        return NodeKey(kind, _group_owner(name), name.lower())
    owner, name = _owner_and_name(kind, resource_id, name, optional_object(ref, "properties", path), path)
    return NodeKey(kind, owner.lower(), name.lower())


def _group_owner(name: str) -> str:
    """The machine of a client group, lower-cased, from the ``m!{machine}…`` form of its name."""
    return name[2:].split("!", 1)[0].lower() if name.startswith(("m!", "M!")) else ""


def _ref_kind(ref: dict[str, Any], resource_id: str, path: str) -> str:
    """The node kind a reference points at: from ``kind``, or from the id's shape when ``kind``
    is absent or one the parser does not know (``ref:onmachine``, future kinds)."""
    raw = ref.get("kind")
    if raw is not None and not isinstance(raw, str):
        raise Invalid(f"{path}.kind", f"expected a string, got {json_type(raw)}")
    kind = _REF_KINDS.get(raw) if raw is not None else None
    if kind is not None:
        return kind
    parsed = _id_parts(resource_id)
    if parsed is None:
        what = "missing" if raw is None else f"unknown reference kind {short(raw)}"
        raise Invalid(f"{path}.kind", f"{what}, and id {short(resource_id)} does not say what it points at")
    return parsed[0]


def _machine_ref_name(value: object, path: str) -> str:
    """The name in a machine reference (not recursive: a machine reference has no owner)."""
    ref = as_object(value, path)
    resource_id = required_string(ref, "id", path)
    kind = _ref_kind(ref, resource_id, path)
    if kind != "machine":
        raise Invalid(path, f"expected a machine reference, got a {kind}")
    return optional_string(ref, "name", path) or _from_id(resource_id, "machine", path)[1]


def _id_parts(resource_id: str) -> tuple[str, str, str] | None:
    """(kind, owning machine, name) from an id's trailing segments, in any of the three forms."""
    parts = resource_id.rstrip("/").split("/")
    if len(parts) >= 4 and parts[-4].lower() == "machines" and parts[-3] and parts[-1]:
        kind = _CHILD_SEGMENTS.get(parts[-2].lower())
        if kind is not None:
            return kind, parts[-3], parts[-1]
    if len(parts) >= 2 and parts[-1]:
        container = parts[-2].lower()
        if container == "machines":
            return "machine", parts[-1], parts[-1]
        if container == "clientgroups":
            return "clientGroup", "", parts[-1]
    return None


def _from_id(resource_id: str, kind: str, path: str, *, lacking: str = "name") -> tuple[str, str]:
    """(owning machine, name) of a ``kind`` resource from its id, when ``lacking`` is not given otherwise."""
    parsed = _id_parts(resource_id)
    if parsed is None or parsed[0] != kind:
        raise Invalid(f"{path}.id", f"no {lacking} given, and id {short(resource_id)} does not name a {kind}")
    return parsed[1], parsed[2]
