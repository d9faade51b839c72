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

Each node and edge is first offered to a *usual* reader (``usual_*`` in :mod:`.nodes` and
:mod:`.refs`, ``_usual_*`` here for edges). It takes the one shape
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
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from ...errors import ParseError

from ...model import (
    FAILURE_OK, MONITORED, Acceptor, ClientGroup, Connection, GroupMap, Machine, MachineGroup, NodeKey, Port, PortRef,
    Process, ServerMap, machine_key, make_key,
)
from ..transport import decode_json
from .json_fields import (
    Invalid, as_object, date_time, expect_kind, field_name, optional_array, optional_int, optional_object,
    optional_string, required, required_object, required_string,
)
from .nodes import (
    careful_client_group, careful_machine, careful_port, careful_process, usual_client_group, usual_machine, usual_port,
    usual_process,
)
from .refs import machine_ref_name, ref_key_at, usual_ref

__all__ = [
    "decode_json", "parse_connection_page", "parse_group_map_body", "parse_group_map_response", "parse_machine",
    "parse_machine_group", "parse_machine_group_page", "parse_machine_page", "parse_map_body", "parse_map_response",
    "ref_key",
]

log = logging.getLogger(__name__)


def parse_map_body(raw: bytes, *, server: str, focus_machine: str) -> ServerMap:
    """Decode and parse a ``generateMap`` response body (see :func:`parse_map_response`).

    Raises:
        ServiceMapRequestError: the body is not JSON; ParseError: it is not a map.
    """
    body = decode_json(raw, what=f"generateMap for {server}", server=server)
    return parse_map_response(body, server=server, focus_machine=focus_machine)


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
    return _resource(obj, careful_machine, where)


def _resource(obj: object, read: Callable[[object, str], Any], where: str) -> Any:
    """One resource read by ``read``; its faults become a ParseError naming ``where`` and the path."""
    try:
        return read(obj, "")
    except Invalid as exc:
        field = field_name(exc.path)
        raise ParseError(f"{where}: {field}: {exc.what}", field=field) from None


def parse_machine_page(body: object) -> tuple[list[Machine], str | None]:
    """One page of ``GET machines``: its machines and the ``nextLink`` (None on the last page).

    Raises:
        ParseError: the page or one of its machines is malformed.
    """
    return _page(body, careful_machine, "machine list")


def _page(body: object, read: Callable[[object, str], Any], what: str) -> tuple[list, str | None]:
    """A list page's items, each read by ``read(item, path)``, and its ``nextLink``."""
    try:
        page = as_object(body, "")
        items = [read(item, f".value[{i}]") for i, item in enumerate(optional_array(page, "value", ""))]
        return items, optional_string(page, "nextLink", "") or None
    except Invalid as exc:
        field = field_name(exc.path)
        raise ParseError(f"{what}: {field}: {exc.what}", field=field) from None


def parse_connection_page(body: object) -> tuple[list[Connection], str | None]:
    """One page of a connection list (``GET machines/{m}/connections``, or of a process or
    port): its connections and the ``nextLink`` (None on the last page).

    There are no nodes to check the ends against, so they are the keys their references name.

    Raises:
        ParseError: the page or one of its connections is malformed.
    """
    try:
        page = as_object(body, "")
        connections = [_connection(item, f".value[{i}]", None, None)
                       for i, item in enumerate(optional_array(page, "value", ""))]
        return connections, optional_string(page, "nextLink", "") or None
    except Invalid as exc:
        field = field_name(exc.path)
        raise ParseError(f"connection list: {field}: {exc.what}", field=field) from None


def parse_machine_group(obj: object, *, where: str = "machine group") -> MachineGroup:
    """Turn one machine group resource (``GET machineGroups/{g}``) into a :class:`MachineGroup`.

    Tolerated: a ``displayName`` of ``???``, empty or missing (the label falls back to the
    name); a missing ``name`` (taken from the id's ``machineGroups/{g}`` segment); member
    references of kind ``ref:machinewithhints`` or ``ref:machine``, or without kind when the id
    names a machine, their names taken from the id when absent, ids in any form; a member
    listed twice (kept once); a ``count`` larger than the members listed (a truncated group).

    Raises:
        ParseError: naming ``where`` and the JSON path inside ``obj``.
    """
    return _resource(obj, _machine_group, where)


def parse_machine_group_page(body: object) -> tuple[list[MachineGroup], str | None]:
    """One page of ``GET machineGroups``: its groups and the ``nextLink`` (None on the last page).

    Raises:
        ParseError: the page or one of its groups is malformed.
    """
    return _page(body, _machine_group, "machine group list")


def parse_group_map_body(raw: bytes, *, group: str, members: Sequence[str] | None = None) -> GroupMap:
    """Decode and parse a ``map:machine-group-dependency`` response (see :func:`parse_group_map_response`).

    Raises:
        ServiceMapRequestError: the body is not JSON; ParseError: it is not a map.
    """
    body = decode_json(raw, what=f"generateMap for group {group}", server=group)
    return parse_group_map_response(body, group=group, members=members)


def parse_group_map_response(body: object, *, group: str, members: Sequence[str] | None = None) -> GroupMap:
    """Turn a ``map:machine-group-dependency`` (or ``machine-list``) response into a :class:`GroupMap`.

    The nodes and edges are read exactly as a single-machine map's (same tolerance, same
    errors, same keys). A member the map does not hold is no error (a machine with no data in
    the window): it is listed in ``missing``.

    Args:
        body: the decoded JSON of the 200 response.
        group: the group's name or label, for messages.
        members: the member machines' resource names (:attr:`MachineGroup.members`). ``None``
            when unknown: the map's monitored machines are taken as the members, in map order.

    Raises:
        ParseError: the body breaks the spec's shape (see the module docstring).
    """
    try:
        start, end, machines, processes, ports, groups, connections, acceptors = _map_parts(body)
    except Invalid as exc:
        field = field_name(exc.path)
        raise ParseError(f"group {group}: {field}: {exc.what}", server=group, field=field) from None
    if members is None:
        found = [m.key for m in machines.values() if m.monitoring_state == MONITORED]
        missing: list[str] = []
    else:
        found, missing, seen = [], [], set()
        for name in members:
            key = machine_key(name)
            if key in seen:
                continue
            seen.add(key)
            if key in machines:
                found.append(key)
            else:
                missing.append(name)
    return GroupMap(
        group=group, start_time=start, end_time=end, members=tuple(found), missing=tuple(missing),
        machines=tuple(machines.values()), processes=tuple(processes.values()), ports=tuple(ports.values()),
        client_groups=tuple(groups.values()), connections=tuple(connections), acceptors=tuple(acceptors),
    )


def ref_key(ref: object, *, where: str) -> NodeKey:
    """The :class:`NodeKey` a ResourceReference points at.

    A client-group reference carries only the group's name; its machine is read from the
    ``m!{machine}…`` form of that name (empty if the name has another form).

    Raises:
        ParseError: ``ref`` is not a usable reference; ``field`` is ``where`` plus the path inside.
    """
    try:
        return ref_key_at(ref, where)
    except Invalid as exc:
        raise ParseError(f"{exc.path}: {exc.what}", field=exc.path) from None


# --- the map ----------------------------------------------------------------------------------


def _map_response(body: object, server: str, focus_machine: str) -> ServerMap:
    start, end, machines, processes, ports, groups, connections, acceptors = _map_parts(body)
    focus = machine_key(focus_machine)
    if focus not in machines:
        raise Invalid(".map.nodes.machines", f"the server's own machine {focus_machine!r} is not in the map")
    return ServerMap(
        server=server, focus=focus, start_time=start, end_time=end,
        machines=tuple(machines.values()), processes=tuple(processes.values()), ports=tuple(ports.values()),
        client_groups=tuple(groups.values()), connections=tuple(connections), acceptors=tuple(acceptors),
    )


def _map_parts(body: object) -> tuple[
    datetime, datetime, dict[NodeKey, Machine], dict[NodeKey, Process], dict[NodeKey, Port],
    dict[NodeKey, ClientGroup], list[Connection], list[Acceptor],
]:
    """The window, nodes (keyed, in document order) and edges of any MapResponse."""
    root = as_object(body, "")
    start = date_time(root.get("startTime"), ".startTime")
    end = date_time(root.get("endTime"), ".endTime")
    the_map = required_object(root, "map", "")
    nodes = required_object(the_map, "nodes", ".map")
    edges = required_object(the_map, "edges", ".map")

    machines: dict[NodeKey, Machine] = _index(nodes, "machines", usual_machine, careful_machine)
    states = {key.name: m.monitoring_state for key, m in machines.items()}
    processes: dict[NodeKey, Process] = _index(
        nodes, "processes", lambda item: usual_process(item, states), lambda item, path: careful_process(item, path, states))
    ports: dict[NodeKey, Port] = _index(
        nodes, "ports", lambda item: usual_port(item, states), lambda item, path: careful_port(item, path, states))
    groups: dict[NodeKey, ClientGroup] = _index(nodes, "clientGroups", usual_client_group, careful_client_group)
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
    return start, end, machines, processes, ports, groups, connections, acceptors


# --- machine groups ---------------------------------------------------------------------------


def _machine_group(item: object, path: str) -> MachineGroup:
    obj = as_object(item, path)
    expect_kind(obj, path, "machineGroup")
    resource_id = required_string(obj, "id", path)
    name = optional_string(obj, "name", path) or _group_name_from_id(resource_id, path)
    props = optional_object(obj, "properties", path)
    ppath = f"{path}.properties"
    display = optional_string(props, "displayName", ppath) or ""
    group_type = optional_string(props, "groupType", ppath)
    count = optional_int(props, "count", ppath)
    members: list[str] = []
    hints: list[str] = []
    seen: set[str] = set()
    for i, ref in enumerate(optional_array(props, "machines", ppath)):
        mpath = f"{ppath}.machines[{i}]"
        member = machine_ref_name(ref, mpath)
        if member.lower() in seen:
            log.debug("machine group %s lists %s twice; keeping the first", name, member)
            continue
        seen.add(member.lower())
        hint_props = optional_object(ref, "properties", mpath)
        members.append(member)
        hints.append(optional_string(hint_props, "displayNameHint", f"{mpath}.properties") or "")
    return MachineGroup(name=name, id=resource_id, display_name=display, members=tuple(members),
                        member_hints=tuple(hints), group_type=group_type, count=count)


def _group_name_from_id(resource_id: str, path: str) -> str:
    parts = resource_id.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2].lower() == "machinegroups" and parts[-1]:
        return parts[-1]
    raise Invalid(f"{path}.id", f"no name given, and id {resource_id!r} does not name a machine group")


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
    source = usual_ref(props.get("source"))
    if source is not None and source[0] == "clientGroup":
        source_key = groups_by_name.get(source[2])
    else:
        source_key = _node_key(processes, source)
    destination = _node_key(processes, usual_ref(props.get("destination")))
    failure = props.get("failureState")
    if failure is None:
        failure = FAILURE_OK
    if source_key is None or destination is None or type(failure) is not str:
        return None
    raw_port = props.get("serverPort")
    server_port = None
    if raw_port is not None:
        port = usual_ref(raw_port)
        if port is None or port[0] != "port":
            return None
        port_props = raw_port["properties"]  # an object: usual_ref read the owner from it
        ip, number = port_props.get("ipAddress"), port_props.get("portNumber")
        if (ip is not None and type(ip) is not str) or (number is not None and type(number) is not int):
            return None
        # The server port need not be a node of the map; when it is, the edge shares its key.
        server_port = PortRef(key=_node_key(ports, port) or make_key(port), ip_address=ip, port_number=number)
    return Connection(id=edge_id, source=source_key, destination=destination, server_port=server_port,
                      failure_state=failure)


def _usual_acceptor(item: object, processes: dict[NodeKey, Process], ports: dict[NodeKey, Port]) -> Acceptor | None:
    edge = _usual_edge(item, "rel:acceptor")
    if edge is None:
        return None
    edge_id, props = edge
    port = _node_key(ports, usual_ref(props.get("source")))
    process = _node_key(processes, usual_ref(props.get("destination")))
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
    item: object, path: str, processes: dict[NodeKey, Process] | None, groups_by_name: dict[str, NodeKey] | None
) -> Connection:
    """A connection of a map, its ends checked against the map's nodes; or, with no nodes
    (``None``: a connection list), its ends as their references name them."""
    edge_id, props = _edge_header(item, path, "rel:connection")
    source_path = f"{path}.properties.source"
    source = ref_key_at(required(props, "source", f"{path}.properties"), source_path)
    if source.kind == "clientGroup" and groups_by_name is not None:
        group = groups_by_name.get(source.name)
        if group is None:
            raise Invalid(source_path, f"client group {source.name!r} is not in map.nodes.clientGroups")
        source = group
    elif source.kind == "clientGroup":
        pass
    elif source.kind == "process":
        _require_node(source, processes, source_path, "map.nodes.processes")
    else:
        raise Invalid(source_path, f"a connection starts at a process or client group, not a {source.kind}")
    destination = _process_endpoint(props, "destination", path, processes)
    server_port = None
    raw_port = props.get("serverPort")
    if raw_port is not None:
        port_path = f"{path}.properties.serverPort"
        port_key = ref_key_at(raw_port, port_path)
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
    port = ref_key_at(required(props, "source", f"{path}.properties"), port_path)
    if port.kind != "port":
        raise Invalid(port_path, f"an acceptor starts at a port, not a {port.kind}")
    _require_node(port, ports, port_path, "map.nodes.ports")
    return Acceptor(id=edge_id, port=port, process=_process_endpoint(props, "destination", path, processes))


def _edge_header(item: object, path: str, kind: str) -> tuple[str, dict[str, Any]]:
    obj = as_object(item, path)
    expect_kind(obj, path, kind)
    return required_string(obj, "id", path), required_object(obj, "properties", path)


def _process_endpoint(props: dict[str, Any], name: str, path: str, processes: dict[NodeKey, Process] | None) -> NodeKey:
    end_path = f"{path}.properties.{name}"
    key = ref_key_at(required(props, name, f"{path}.properties"), end_path)
    if key.kind != "process":
        raise Invalid(end_path, f"expected a process reference, got a {key.kind}")
    _require_node(key, processes, end_path, "map.nodes.processes")
    return key


def _require_node(key: NodeKey, index: dict[NodeKey, Any] | None, path: str, where: str) -> None:
    if index is not None and key not in index:
        raise Invalid(path, f"{key} is not in {where}")
