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
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from collections.abc import Callable
from typing import Any

from ..errors import ParseError
from ..model import (
    DISCOVERED,
    FAILURE_OK,
    MONITORED,
    Acceptor,
    ClientGroup,
    Connection,
    Machine,
    NodeKey,
    Port,
    PortRef,
    Process,
    ServerMap,
    machine_key,
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
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
               float: "a number", type(None): "null"}
# Service Map writes 7 fractional digits (.NET ticks); datetime takes at most 6, and
# fromisoformat's leniency differs between Python versions, so the format is spelled out.
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)


class _Invalid(Exception):
    """Internal: what is wrong and at which JSON path; the public functions make a ParseError of it."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(what)
        self.path = path
        self.what = what


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
    except _Invalid as exc:
        field = _field(exc.path)
        raise ParseError(f"{server}: {field}: {exc.what}", server=server, field=field) from None


def parse_machine(obj: object, *, where: str = "machine") -> Machine:
    """Turn one machine resource (``GET machines/{m}``) into a :class:`Machine`.

    Raises:
        ParseError: naming ``where`` and the JSON path inside ``obj``.
    """
    try:
        return _machine(obj, "")
    except _Invalid as exc:
        field = _field(exc.path)
        raise ParseError(f"{where}: {field}: {exc.what}", field=field) from None


def parse_machine_page(body: object) -> tuple[list[Machine], str | None]:
    """One page of ``GET machines``: its machines and the ``nextLink`` (None on the last page).

    Raises:
        ParseError: the page or one of its machines is malformed.
    """
    try:
        page = _object(body, "")
        machines = [_machine(item, f".value[{i}]") for i, item in enumerate(_array(page, "value", ""))]
        return machines, _string(page, "nextLink", "") or None
    except _Invalid as exc:
        field = _field(exc.path)
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
    except _Invalid as exc:
        raise ParseError(f"{exc.path}: {exc.what}", field=exc.path) from None


# --- the map ----------------------------------------------------------------------------------


def _map_response(body: object, server: str, focus_machine: str) -> ServerMap:
    root = _object(body, "")
    start = _datetime(root.get("startTime"), ".startTime")
    end = _datetime(root.get("endTime"), ".endTime")
    the_map = _required_object(root, "map", "")
    nodes = _required_object(the_map, "nodes", ".map")
    edges = _required_object(the_map, "edges", ".map")

    machines: dict[NodeKey, Machine] = _index(nodes, "machines", _machine)
    states = {key.name: m.monitoring_state for key, m in machines.items()}
    processes: dict[NodeKey, Process] = _index(nodes, "processes", lambda item, path: _process(item, path, states))
    ports: dict[NodeKey, Port] = _index(nodes, "ports", lambda item, path: _port(item, path, states))
    groups: dict[NodeKey, ClientGroup] = _index(nodes, "clientGroups", _client_group)
    # Client-group references carry only the group's name, so edges find the group by it.
    groups_by_name = {key.name: key for key in groups}

    connections = [
        _connection(item, f".map.edges.connections[{i}]", processes, groups_by_name)
        for i, item in enumerate(_array(edges, "connections", ".map.edges"))
    ]
    acceptors = [
        _acceptor(item, f".map.edges.acceptors[{i}]", processes, ports)
        for i, item in enumerate(_array(edges, "acceptors", ".map.edges"))
    ]
    focus = machine_key(focus_machine)
    if focus not in machines:
        raise _Invalid(".map.nodes.machines", f"the server's own machine {focus_machine!r} is not in the map")
    return ServerMap(
        server=server, focus=focus, start_time=start, end_time=end,
        machines=tuple(machines.values()), processes=tuple(processes.values()), ports=tuple(ports.values()),
        client_groups=tuple(groups.values()), connections=tuple(connections), acceptors=tuple(acceptors),
    )


def _index(nodes: dict[str, Any], name: str, parse: Callable[[object, str], Any]) -> dict[NodeKey, Any]:
    """``nodes[name]`` parsed and keyed, in document order; a repeated key (the same resource,
    its GUID in another case) keeps the first."""
    index: dict[NodeKey, Any] = {}
    for i, item in enumerate(_array(nodes, name, ".map.nodes")):
        node = parse(item, f".map.nodes.{name}[{i}]")
        if node.key in index:
            log.debug("node %s appears twice in the map; keeping the first", node.key)
        else:
            index[node.key] = node
    return index


def _connection(
    item: object, path: str, processes: dict[NodeKey, Process], groups_by_name: dict[str, NodeKey]
) -> Connection:
    edge_id, props = _edge_header(item, path, "rel:connection")
    source_path = f"{path}.properties.source"
    source = _ref_key(_required(props, "source", f"{path}.properties"), source_path)
    if source.kind == "clientGroup":
        group = groups_by_name.get(source.name)
        if group is None:
            raise _Invalid(source_path, f"client group {source.name!r} is not in map.nodes.clientGroups")
        source = group
    elif source.kind == "process":
        _require_node(source, processes, source_path, "map.nodes.processes")
    else:
        raise _Invalid(source_path, f"a connection starts at a process or client group, not a {source.kind}")
    destination = _process_endpoint(props, "destination", path, processes)
    server_port = None
    raw_port = props.get("serverPort")
    if raw_port is not None:
        port_path = f"{path}.properties.serverPort"
        port_key = _ref_key(raw_port, port_path)
        if port_key.kind != "port":
            raise _Invalid(port_path, f"expected a port reference, got a {port_key.kind}")
        port_props = _optional_object(raw_port, "properties", port_path)
        server_port = PortRef(
            key=port_key,
            ip_address=_string(port_props, "ipAddress", f"{port_path}.properties"),
            port_number=_int(port_props, "portNumber", f"{port_path}.properties"),
        )
    failure = _string(props, "failureState", f"{path}.properties")
    return Connection(
        id=edge_id, source=source, destination=destination, server_port=server_port,
        failure_state=failure if failure is not None else FAILURE_OK,
    )


def _acceptor(item: object, path: str, processes: dict[NodeKey, Process], ports: dict[NodeKey, Port]) -> Acceptor:
    edge_id, props = _edge_header(item, path, "rel:acceptor")
    port_path = f"{path}.properties.source"
    port = _ref_key(_required(props, "source", f"{path}.properties"), port_path)
    if port.kind != "port":
        raise _Invalid(port_path, f"an acceptor starts at a port, not a {port.kind}")
    _require_node(port, ports, port_path, "map.nodes.ports")
    return Acceptor(id=edge_id, port=port, process=_process_endpoint(props, "destination", path, processes))


def _edge_header(item: object, path: str, kind: str) -> tuple[str, dict[str, Any]]:
    obj = _object(item, path)
    _expect_kind(obj, path, kind)
    return _required_string(obj, "id", path), _required_object(obj, "properties", path)


def _process_endpoint(props: dict[str, Any], name: str, path: str, processes: dict[NodeKey, Process]) -> NodeKey:
    end_path = f"{path}.properties.{name}"
    key = _ref_key(_required(props, name, f"{path}.properties"), end_path)
    if key.kind != "process":
        raise _Invalid(end_path, f"expected a process reference, got a {key.kind}")
    _require_node(key, processes, end_path, "map.nodes.processes")
    return key


def _require_node(key: NodeKey, index: dict[NodeKey, Any], path: str, where: str) -> None:
    if key not in index:
        raise _Invalid(path, f"{key} is not in {where}")


# --- nodes ------------------------------------------------------------------------------------


def _machine(item: object, path: str) -> Machine:
    resource_id, name, props = _node_header(item, path, "machine")
    if name is None:
        name = _from_id(resource_id, "machine", path)[1]
    ppath = f"{path}.properties"
    os_info = _optional_object(props, "operatingSystem", ppath)
    networking = _optional_object(props, "networking", ppath)
    npath = f"{ppath}.networking"
    addresses = tuple(
        _required_string(_object(nic, f"{npath}.ipv4Interfaces[{i}]"), "ipAddress", f"{npath}.ipv4Interfaces[{i}]")
        for i, nic in enumerate(_array(networking, "ipv4Interfaces", npath))
    )
    dns_names = tuple(_strings(networking, "dnsNames", npath))
    state = _string(props, "monitoringState", ppath)
    if state is None:  # ``m-`` names are agent ids; everything else was inferred from traffic
        state = MONITORED if name.lower().startswith("m-") else DISCOVERED
    return Machine(
        key=machine_key(name), id=resource_id, name=name, display_name=_string(props, "displayName", ppath) or "",
        monitoring_state=state, computer_name=_string(props, "computerName", ppath),
        fqdn=_string(props, "fullyQualifiedDomainName", ppath),
        os_family=_string(os_info, "family", f"{ppath}.operatingSystem"),
        os_full_name=_string(os_info, "fullName", f"{ppath}.operatingSystem"),
        ipv4_addresses=addresses, dns_names=dns_names,
    )


def _process(item: object, path: str, states: dict[str, str]) -> Process:
    resource_id, name, props = _node_header(item, path, "process")
    owner, name = _owner_and_name("process", resource_id, name, props, path)
    key = NodeKey("process", owner.lower(), name.lower())
    ppath = f"{path}.properties"
    details = _optional_object(props, "details", ppath)
    return Process(
        key=key, id=resource_id, name=name, display_name=_string(props, "displayName", ppath) or "",
        monitoring_state=_string(props, "monitoringState", ppath) or states.get(key.machine, MONITORED),
        executable_name=_string(props, "executableName", ppath), role=_string(props, "role", ppath),
        group=_string(props, "group", ppath), description=_string(details, "description", f"{ppath}.details"),
        product_name=_string(details, "productName", f"{ppath}.details"),
    )


def _port(item: object, path: str, states: dict[str, str]) -> Port:
    resource_id, name, props = _node_header(item, path, "port")
    owner, name = _owner_and_name("port", resource_id, name, props, path)
    key = NodeKey("port", owner.lower(), name.lower())
    ppath = f"{path}.properties"
    return Port(
        key=key, id=resource_id, name=name, display_name=_string(props, "displayName", ppath) or "",
        ip_address=_string(props, "ipAddress", ppath), port_number=_int(props, "portNumber", ppath),
        monitoring_state=_string(props, "monitoringState", ppath) or states.get(key.machine, MONITORED),
    )


def _client_group(item: object, path: str) -> ClientGroup:
    resource_id, name, props = _node_header(item, path, "clientGroup")
    if name is None:
        name = _from_id(resource_id, "clientGroup", path)[1]
    clients_path = f"{path}.properties.clientsOf"
    clients_of = _ref_key(_required(props, "clientsOf", f"{path}.properties"), clients_path)
    if clients_of.kind == "clientGroup":
        raise _Invalid(clients_path, "a client group groups the clients of a machine, process or port")
    return ClientGroup(
        key=NodeKey("clientGroup", clients_of.machine, name.lower()), id=resource_id, name=name,
        display_name=_string(props, "displayName", f"{path}.properties") or "", clients_of=clients_of,
    )


def _node_header(item: object, path: str, kind: str) -> tuple[str, str | None, dict[str, Any]]:
    """(id, name or None, properties or {}) of a node, after checking its ``kind``."""
    obj = _object(item, path)
    _expect_kind(obj, path, kind)
    resource_id = _required_string(obj, "id", path)
    return resource_id, _string(obj, "name", path) or None, _optional_object(obj, "properties", path)


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


# --- references -------------------------------------------------------------------------------


def _ref_key(value: object, path: str) -> NodeKey:
    fast = _usual_ref_key(value)
    if fast is not None:
        return fast
    ref = _object(value, path)
    resource_id = _required_string(ref, "id", path)
    name = _string(ref, "name", path) or None
    kind = _ref_kind(ref, resource_id, path)
    if kind == "machine":
        return machine_key(name if name is not None else _from_id(resource_id, kind, path)[1])
    if kind == "clientGroup":
        name = name if name is not None else _from_id(resource_id, kind, path)[1]
        owner = name[2:].split("!", 1)[0] if name.startswith(("m!", "M!")) else ""
        return NodeKey(kind, owner.lower(), name.lower())
    owner, name = _owner_and_name(kind, resource_id, name, _optional_object(ref, "properties", path), path)
    return NodeKey(kind, owner.lower(), name.lower())


def _usual_ref_key(value: object) -> NodeKey | None:
    """The key of a reference in the shape Service Map always sends (kind, id and name set; a
    process or port owned through a complete machine reference), else None for the careful
    path. A big map holds six references per edge; this shortcut saves a third of the parse."""
    if type(value) is not dict or type(value.get("id")) is not str or not value["id"]:
        return None
    name, kind = value.get("name"), value.get("kind")
    if type(name) is not str or not name:
        return None
    if kind == "ref:machine":
        return machine_key(name)
    if kind != "ref:process" and kind != "ref:port":
        return None
    props = value.get("properties")
    owner = props.get("machine") if type(props) is dict else None
    if type(owner) is not dict or owner.get("kind") != "ref:machine" or type(owner.get("id")) is not str:
        return None
    owner_name = owner.get("name")
    if type(owner_name) is not str or not owner_name or not owner["id"]:
        return None
    return NodeKey(_REF_KINDS[kind], owner_name.lower(), name.lower())


def _ref_kind(ref: dict[str, Any], resource_id: str, path: str) -> str:
    """The node kind a reference points at: from ``kind``, or from the id's shape when ``kind``
    is absent or one the parser does not know (``ref:onmachine``, future kinds)."""
    raw = ref.get("kind")
    if raw is not None and not isinstance(raw, str):
        raise _Invalid(f"{path}.kind", f"expected a string, got {_json_type(raw)}")
    kind = _REF_KINDS.get(raw) if raw is not None else None
    if kind is not None:
        return kind
    parsed = _id_parts(resource_id)
    if parsed is None:
        what = "missing" if raw is None else f"unknown reference kind {_short(raw)}"
        raise _Invalid(f"{path}.kind", f"{what}, and id {_short(resource_id)} does not say what it points at")
    return parsed[0]


def _machine_ref_name(value: object, path: str) -> str:
    """The name in a machine reference (not recursive: a machine reference has no owner)."""
    ref = _object(value, path)
    resource_id = _required_string(ref, "id", path)
    kind = _ref_kind(ref, resource_id, path)
    if kind != "machine":
        raise _Invalid(path, f"expected a machine reference, got a {kind}")
    return _string(ref, "name", path) or _from_id(resource_id, "machine", path)[1]


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
        raise _Invalid(f"{path}.id", f"no {lacking} given, and id {_short(resource_id)} does not name a {kind}")
    return parsed[1], parsed[2]


# --- JSON values ------------------------------------------------------------------------------


def _field(path: str) -> str:
    return path.lstrip(".") or "body"


def _short(value: object) -> str:
    """``repr`` cut to a readable length: hostile input must not make megabyte messages."""
    text = repr(value)
    return text if len(text) <= 120 else f"{text[:117]}..."


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _object(value: object, path: str) -> dict[str, Any]:
    if type(value) is not dict:
        raise _Invalid(path, f"expected an object, got {_json_type(value)}")
    return value


def _expect_kind(obj: dict[str, Any], path: str, kind: str) -> None:
    raw = obj.get("kind")
    if raw != kind:
        raise _Invalid(f"{path}.kind", "missing" if raw is None else f"expected {kind!r}, got {_short(raw)}")


def _required(obj: dict[str, Any], key: str, path: str) -> object:
    value = obj.get(key)
    if value is None:
        raise _Invalid(f"{path}.{key}", "missing")
    return value


def _required_object(obj: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    return _object(_required(obj, key, path), f"{path}.{key}")


def _optional_object(obj: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = obj.get(key)
    return {} if value is None else _object(value, f"{path}.{key}")


def _required_string(obj: dict[str, Any], key: str, path: str) -> str:
    value = _string(obj, key, path)
    if not value:
        raise _Invalid(f"{path}.{key}", "missing" if value is None else "empty")
    return value


def _string(obj: dict[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is None or type(value) is str:
        return value
    raise _Invalid(f"{path}.{key}", f"expected a string, got {_json_type(value)}")


def _int(obj: dict[str, Any], key: str, path: str) -> int | None:
    value = obj.get(key)
    if value is None or type(value) is int:
        return value
    raise _Invalid(f"{path}.{key}", f"expected an integer, got {_json_type(value)} {_short(value)}")


def _array(obj: dict[str, Any], key: str, path: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if type(value) is not list:
        raise _Invalid(f"{path}.{key}", f"expected an array, got {_json_type(value)}")
    return value


def _strings(obj: dict[str, Any], key: str, path: str) -> list[str]:
    values = _array(obj, key, path)
    for i, value in enumerate(values):
        if type(value) is not str:
            raise _Invalid(f"{path}.{key}[{i}]", f"expected a string, got {_json_type(value)}")
    return values


def _datetime(value: object, path: str) -> datetime:
    """An aware UTC-or-offset datetime; no offset means UTC, as the spec's times are UTC."""
    if value is None:
        raise _Invalid(path, "missing")
    if type(value) is not str:
        raise _Invalid(path, f"expected a date-time string, got {_json_type(value)}")
    match = _DATETIME.fullmatch(value)
    if match is None:
        raise _Invalid(path, f"{_short(value)} is not an ISO 8601 date-time")
    year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = match.groups()
    tz = timezone.utc
    try:
        if sign:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            tz = timezone(-offset if sign == "-" else offset)
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second),
            int((fraction or "0")[:6].ljust(6, "0")), tzinfo=tz,
        )
    except ValueError as exc:
        raise _Invalid(path, f"{_short(value)} is not a valid date-time ({exc})") from None
