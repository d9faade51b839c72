"""build_graph: the shaping every user needs, on literal ServerMap fixtures."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from servicemap_sync.errors import RenderError
from servicemap_sync.graph import build_graph
from servicemap_sync.model import (
    Acceptor, ClientGroup, Connection, Machine, NodeKey, Port, PortRef, Process, ServerMap, machine_key,
)

START = datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)
END = datetime(2024, 5, 1, 11, 0, tzinfo=timezone.utc)

WEB = Machine(machine_key("m-web"), "id-web", "m-web", "web01", "monitored",
              computer_name="WEB01", fqdn="web01.contoso.com", os_family="windows")
SQL = Machine(machine_key("m-sql"), "id-sql", "m-sql", "sql01", "monitored", computer_name="sql01", os_family="linux")
APP = Machine(machine_key("m-app"), "id-app", "m-app", "app01", "monitored", os_family="windows")
EXT = Machine(machine_key("t-0a0a0a0a"), "id-ext", "t-0a0a0a0a", "partner.example", "discovered")
OTHER = Machine(machine_key("m-other"), "id-other", "m-other", "other01", "monitored")


def proc(machine: Machine, name: str, label: str) -> Process:
    return Process(NodeKey("process", machine.name, name), f"id-{name}", name, label)


def port_ref(machine: Machine, ip: str, number: int) -> PortRef:
    return PortRef(NodeKey("port", machine.name, f"b-{ip}_{number}"), ip, number)


W3WP, IISADMIN = proc(WEB, "p-w3wp", "w3wp"), proc(WEB, "p-admin", "iisadmin")
SQLSERVR, APPPROC = proc(SQL, "p-sql", "sqlservr"), proc(APP, "p-app", "java")
EXTPROC, OTHERPROC = proc(EXT, "ts-ext", "Port 443"), proc(OTHER, "p-o", "backup")
PORT80 = Port(NodeKey("port", "m-web", "b-0a000001_80"), "id-p80", "b-0a000001_80", ":80", "10.0.0.1", 80)
PORT_LOCAL = Port(NodeKey("port", "m-web", "b-7f000001_8080"), "id-pl", "b-7f000001_8080", ":8080", "127.0.0.1", 8080)
CLIENTS = ClientGroup(NodeKey("clientGroup", "m-web", "m!m-web!p!p-w3wp"), "id-cg", "m!m-web!p!p-w3wp",
                      "Clients", W3WP.key)

OUT_SQL = Connection("c-out-sql", W3WP.key, SQLSERVR.key, port_ref(SQL, "10.0.0.2", 1433))
OUT_EXT = Connection("c-out-ext", W3WP.key, EXTPROC.key, port_ref(EXT, "10.10.10.10", 443), "failed")
IN_APP = Connection("c-in-app", APPPROC.key, W3WP.key, port_ref(WEB, "10.0.0.1", 80), "mixed")
IN_CLIENTS = Connection("c-in-cg", CLIENTS.key, W3WP.key, port_ref(WEB, "10.0.0.1", 80))
SELF = Connection("c-self", W3WP.key, IISADMIN.key, port_ref(WEB, "10.0.0.1", 8172))
LOOP4 = Connection("c-loop4", W3WP.key, IISADMIN.key, port_ref(WEB, "127.0.0.1", 8080))
LOOP6 = Connection("c-loop6", IISADMIN.key, W3WP.key, port_ref(WEB, "::1", 8081))
FOREIGN = Connection("c-foreign", APPPROC.key, OTHERPROC.key, port_ref(OTHER, "10.0.0.9", 22))


def web_map(**changes: object) -> ServerMap:
    base = ServerMap(
        server="web01.contoso.com",
        focus=WEB.key,
        start_time=START,
        end_time=END,
        machines=(WEB, SQL, APP, EXT, OTHER),
        processes=(W3WP, IISADMIN, SQLSERVR, APPPROC, EXTPROC, OTHERPROC),
        ports=(PORT80, PORT_LOCAL),
        client_groups=(CLIENTS,),
        connections=(OUT_SQL, OUT_EXT, IN_APP, IN_CLIENTS, SELF, LOOP4, LOOP6, FOREIGN),
        acceptors=(Acceptor("a-80", PORT80.key, W3WP.key), Acceptor("a-local", PORT_LOCAL.key, IISADMIN.key)),
    )
    return dataclasses.replace(base, **changes)


def connection_ids(graph) -> set[str]:
    return {data["id"] for _u, _v, data in graph.edges(data=True) if data["kind"] == "connection"}


def test_keeps_both_directions_and_drops_self_links_loopback_and_foreign_traffic() -> None:
    graph = build_graph(web_map())
    assert connection_ids(graph) == {"c-out-sql", "c-out-ext", "c-in-app", "c-in-cg"}
    assert {SQL.key, APP.key, EXT.key} <= set(graph.nodes)
    assert OTHER.key not in graph and OTHERPROC.key not in graph


def test_self_links_can_be_kept_but_loopback_never() -> None:
    graph = build_graph(web_map(), include_self_links=True)
    assert "c-self" in connection_ids(graph)
    assert not {"c-loop4", "c-loop6"} & connection_ids(graph)


def test_connection_edges_carry_port_ip_and_failure() -> None:
    graph = build_graph(web_map())
    out_ext = graph.edges[W3WP.key, EXTPROC.key, "c-out-ext"]
    assert (out_ext["port"], out_ext["ip"], out_ext["failure_state"], out_ext["failed_only"]) == (
        443, "10.10.10.10", "failed", True)
    in_app = graph.edges[APPPROC.key, W3WP.key, "c-in-app"]
    assert (in_app["failure_state"], in_app["failed_only"]) == ("mixed", False)
    assert graph.edges[W3WP.key, SQLSERVR.key, "c-out-sql"]["failed_only"] is False


def test_client_group_is_one_node_sending_to_the_process() -> None:
    graph = build_graph(web_map())
    groups = [key for key, data in graph.nodes(data=True) if data["kind"] == "clientGroup"]
    assert groups == [CLIENTS.key]
    assert graph.nodes[CLIENTS.key]["clients_of"] == W3WP.key
    assert list(graph.successors(CLIENTS.key)) == [W3WP.key]


def test_acceptors_link_ports_to_processes_except_loopback_listeners() -> None:
    graph = build_graph(web_map())
    acceptors = [(u, v) for u, v, data in graph.edges(data=True) if data["kind"] == "acceptor"]
    assert acceptors == [(PORT80.key, W3WP.key)]
    assert graph.nodes[PORT80.key]["label"] == ":80"
    assert PORT_LOCAL.key not in graph


def test_machine_attributes() -> None:
    graph = build_graph(web_map())
    web, sql, ext = graph.nodes[WEB.key], graph.nodes[SQL.key], graph.nodes[EXT.key]
    assert (web["kind"], web["label"], web["monitored"], web["os_family"], web["principal_name"]) == (
        "machine", "web01.contoso.com", True, "windows", "web01.contoso.com")
    assert sql["principal_name"] == "sql01"  # no FQDN: computer name
    assert (ext["monitored"], ext["principal_name"], ext["obj"]) == (False, "partner.example", EXT)
    assert graph.nodes[W3WP.key]["machine"] == WEB.key
    assert graph.nodes[SQLSERVR.key]["machine"] == SQL.key


def test_graph_attributes() -> None:
    graph = build_graph(web_map())
    assert graph.graph == {"server": "web01.contoso.com", "focus": WEB.key, "start_time": START, "end_time": END}


def test_all_server_processes_are_nodes_even_without_traffic() -> None:
    graph = build_graph(web_map(connections=()))
    assert {W3WP.key, IISADMIN.key} <= set(graph.nodes)
    assert SQL.key not in graph


def test_order_of_the_response_does_not_matter() -> None:
    one = build_graph(web_map())
    reversed_map = web_map(
        machines=tuple(reversed(web_map().machines)),
        processes=tuple(reversed(web_map().processes)),
        connections=tuple(reversed(web_map().connections)),
        acceptors=tuple(reversed(web_map().acceptors)),
    )
    two = build_graph(reversed_map)
    assert list(one.nodes(data=True)) == list(two.nodes(data=True))
    assert list(one.edges(keys=True, data=True)) == list(two.edges(keys=True, data=True))
    assert list(one.nodes) == sorted(one.nodes)


def test_connection_to_an_unknown_node_is_an_error() -> None:
    ghost = Connection("c-ghost", W3WP.key, NodeKey("process", "m-sql", "p-ghost"))
    with pytest.raises(RenderError, match="c-ghost"):
        build_graph(web_map(connections=(ghost,)))


def test_missing_focus_machine_is_an_error() -> None:
    with pytest.raises(RenderError, match="own machine"):
        build_graph(web_map(machines=(SQL,)))
