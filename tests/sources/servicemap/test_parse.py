"""Service Map JSON → model: Microsoft's examples, odd-but-real data, and broken data."""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from servicemap_sync.emulator import synthetic_map
from servicemap_sync.errors import ParseError
from servicemap_sync.model import NodeKey
from servicemap_sync.sources.servicemap import nodes, parse, refs
from servicemap_sync.sources.servicemap.parse import (
    parse_connection_page, parse_machine, parse_machine_page, parse_map_response, ref_key,
)

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "servicemap-api"

WORKSPACE = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-sm"
    "/providers/Microsoft.OperationalInsights/workspaces/law-prod"
)
ID_FORMS = {
    "workspace": WORKSPACE,
    "feature": WORKSPACE + "/features/serviceMap",
    "legacy": "/api/workspaces/D6F79F14-E563-469B-84B5-9286D2803B2F",
}
WEB = "m-A4AB1C69-03E9-42D2-B822-B42555569FB4"
SQL = "m-21E1AC11-8AFF-4D2D-8A1F-72FEDA473F7B"
EXT = "t-0a0a0a0a"
WEB_P = "p-d642fef420c5baa4c72f53de9426f1ed699899e2"
SQL_P = "p-68cf5e3251379179122fa88e761e2acd5577c249"
EXT_P = "ts-m@t-0a0a0a0a@b@b-0a0a0a0a_443"
SQL_B = "b-c0a80102_1433"
EXT_B = "b-0a0a0a0a_443"
GROUP = f"m!{SQL}!p!{SQL_P}"


def _machine_ref(prefix: str, m: str) -> dict[str, Any]:
    return {"kind": "ref:machine", "id": f"{prefix}/machines/{m}", "name": m,
            "type": "Microsoft.OperationalInsights/workspaces/features/machines"}


def _process_ref(prefix: str, m: str, p: str) -> dict[str, Any]:
    return {"kind": "ref:process", "properties": {"machine": _machine_ref(prefix, m)},
            "id": f"{prefix}/machines/{m}/processes/{p}", "name": p}


def _port_ref(prefix: str, m: str, b: str, ip: str, port: int) -> dict[str, Any]:
    return {"kind": "ref:port", "properties": {"machine": _machine_ref(prefix, m), "ipAddress": ip, "portNumber": port},
            "id": f"{prefix}/machines/{m}/ports/{b}", "name": b}


def _process(prefix: str, m: str, p: str, **props: Any) -> dict[str, Any]:
    return {"kind": "process", "properties": {"machine": _machine_ref(prefix, m), **props},
            "id": f"{prefix}/machines/{m}/processes/{p}", "name": p}


def sample_map(prefix: str = WORKSPACE) -> dict[str, Any]:
    """A small, realistic single-machine map of web01: it calls SQL and an agentless HTTPS server,
    and unmonitored clients call SQL. Shaped like Microsoft's examples."""
    return {
        "startTime": "2018-01-08T19:50:39.0192315Z",
        "endTime": "2018-01-08T20:50:39.0192315Z",
        "map": {
            "nodes": {
                "machines": [
                    {"kind": "machine", "id": f"{prefix}/machines/{WEB}", "name": WEB,
                     "properties": {"monitoringState": "monitored", "displayName": "WEB01",
                                    "computerName": "WEB01", "fullyQualifiedDomainName": "web01.contoso.com",
                                    "operatingSystem": {"family": "windows", "fullName": "Windows Server 2019",
                                                        "bitness": "64bit"},
                                    "networking": {"ipv4Interfaces": [{"ipAddress": "192.168.1.1"}]}}},
                    {"kind": "machine", "id": f"{prefix}/machines/{SQL}", "name": SQL,
                     "properties": {"monitoringState": "monitored", "displayName": "???"}},
                    {"kind": "machine", "id": f"{prefix}/machines/{EXT}", "name": EXT,
                     "properties": {"monitoringState": "discovered", "displayName": "api.partner.example",
                                    "networking": {"ipv4Interfaces": [{"ipAddress": "10.10.10.10"}],
                                                   "dnsNames": ["api.partner.example"]}}},
                ],
                "processes": [
                    _process(prefix, WEB, WEB_P, monitoringState="monitored", displayName="w3wp",
                             executableName="w3wp", role="webServer", group="IIS",
                             details={"description": "IIS Worker Process", "productName": "IIS"}),
                    _process(prefix, SQL, SQL_P, monitoringState="monitored", displayName="???",
                             executableName="sqlservr", role="databaseServer"),
                    _process(prefix, EXT, EXT_P, monitoringState="discovered", displayName="Port 443",
                             role="appServer", acceptorOf=_port_ref(prefix, EXT, EXT_B, "10.10.10.10", 443)),
                ],
                "ports": [
                    {"kind": "port", "id": f"{prefix}/machines/{SQL}/ports/{SQL_B}", "name": SQL_B,
                     "properties": {"monitoringState": "monitored", "machine": _machine_ref(prefix, SQL),
                                    "displayName": ":1433", "ipAddress": "192.168.1.2", "portNumber": 1433}},
                    {"kind": "port", "id": f"{prefix}/machines/{EXT}/ports/{EXT_B}", "name": EXT_B,
                     "properties": {"monitoringState": "discovered", "machine": _machine_ref(prefix, EXT),
                                    "displayName": ":443", "ipAddress": "10.10.10.10", "portNumber": 443}},
                ],
                "clientGroups": [
                    {"kind": "clientGroup", "id": f"{prefix}/clientGroups/{GROUP}", "name": GROUP,
                     "properties": {"clientsOf": _process_ref(prefix, SQL, SQL_P)}},
                ],
            },
            "edges": {
                "connections": [
                    {"kind": "rel:connection", "id": f"{prefix}/connections/c1", "name": "c1",
                     "properties": {"source": _process_ref(prefix, WEB, WEB_P),
                                    "destination": _process_ref(prefix, SQL, SQL_P),
                                    "serverPort": _port_ref(prefix, SQL, SQL_B, "192.168.1.2", 1433),
                                    "failureState": "ok"}},
                    {"kind": "rel:connection", "id": f"{prefix}/connections/c2", "name": "c2",
                     "properties": {"source": {"kind": "ref:clientgroup", "id": f"{prefix}/clientGroups/{GROUP}",
                                               "name": GROUP},
                                    "destination": _process_ref(prefix, SQL, SQL_P),
                                    "serverPort": _port_ref(prefix, SQL, SQL_B, "192.168.1.2", 1433)}},
                    {"kind": "rel:connection", "id": f"{prefix}/connections/c3", "name": "c3",
                     "properties": {"source": _process_ref(prefix, WEB, WEB_P),
                                    "destination": _process_ref(prefix, EXT, EXT_P),
                                    "serverPort": _port_ref(prefix, EXT, EXT_B, "10.10.10.10", 443),
                                    "failureState": "failed"}},
                ],
                "acceptors": [
                    {"kind": "rel:acceptor", "id": f"{prefix}/acceptors/a1", "name": "a1",
                     "properties": {"source": _port_ref(prefix, SQL, SQL_B, "192.168.1.2", 1433),
                                    "destination": _process_ref(prefix, SQL, SQL_P)}},
                    {"kind": "rel:acceptor", "id": f"{prefix}/acceptors/a2", "name": "a2",
                     "properties": {"source": _port_ref(prefix, EXT, EXT_B, "10.10.10.10", 443),
                                    "destination": _process_ref(prefix, EXT, EXT_P)}},
                ],
            },
        },
    }


def _parse(body: object, focus: str = WEB):
    return parse_map_response(body, server="web01.contoso.com", focus_machine=focus)


def _key(kind: str, machine: str, name: str) -> NodeKey:
    return NodeKey(kind, machine.lower(), name.lower())


def _strip_names(value: Any) -> None:
    """Drop every ``name`` so keys must come from ids."""
    if isinstance(value, dict):
        value.pop("name", None)
        for item in value.values():
            _strip_names(item)
    elif isinstance(value, list):
        for item in value:
            _strip_names(item)


def _example_body(relative: str) -> dict[str, Any]:
    path = EXAMPLES / relative
    if not path.is_file():
        pytest.skip("needs ../shared/servicemap-api (Microsoft's published examples) beside the repo")
    return json.loads(path.read_text("utf-8"))["responses"]["200"]["body"]


# --- the whole map ----------------------------------------------------------------------------


def test_sample_map_becomes_the_model() -> None:
    result = _parse(sample_map())
    assert result.server == "web01.contoso.com"
    assert result.focus == _key("machine", WEB, WEB)
    assert result.machine().label == "web01.contoso.com"
    assert result.start_time == datetime(2018, 1, 8, 19, 50, 39, 19231, tzinfo=timezone.utc)
    assert result.end_time - result.start_time == timedelta(hours=1)
    assert [m.key.name for m in result.machines] == [WEB.lower(), SQL.lower(), EXT]
    web, sql, ext = result.machines
    assert (web.os_family, web.os_full_name, web.ipv4_addresses) == ("windows", "Windows Server 2019", ("192.168.1.1",))
    assert (sql.display_name, sql.label) == ("???", SQL)
    assert (ext.monitoring_state, ext.is_monitored, ext.dns_names, ext.label) == (
        "discovered", False, ("api.partner.example",), "api.partner.example")
    w3wp = result.processes[0]
    assert (w3wp.key, w3wp.role, w3wp.group, w3wp.description, w3wp.product_name) == (
        _key("process", WEB, WEB_P), "webServer", "IIS", "IIS Worker Process", "IIS")
    assert result.processes[1].label == "sqlservr"
    assert [(p.key, p.ip_address, p.port_number) for p in result.ports] == [
        (_key("port", SQL, SQL_B), "192.168.1.2", 1433), (_key("port", EXT, EXT_B), "10.10.10.10", 443)]
    (group,) = result.client_groups
    assert group.key == _key("clientGroup", SQL, GROUP)
    assert group.clients_of == _key("process", SQL, SQL_P)
    c1, c2, c3 = result.connections
    assert (c1.source, c1.destination, c1.failure_state) == (
        _key("process", WEB, WEB_P), _key("process", SQL, SQL_P), "ok")
    assert (c1.server_port.key, c1.server_port.ip_address, c1.server_port.port_number) == (
        _key("port", SQL, SQL_B), "192.168.1.2", 1433)
    assert (c2.source, c2.failure_state) == (group.key, "ok")  # failureState missing → ok
    assert (c3.destination, c3.failure_state) == (_key("process", EXT, EXT_P), "failed")
    assert [(a.port, a.process) for a in result.acceptors] == [
        (_key("port", SQL, SQL_B), _key("process", SQL, SQL_P)), (_key("port", EXT, EXT_B), _key("process", EXT, EXT_P))]


@pytest.mark.parametrize("form", sorted(ID_FORMS))
def test_all_three_id_forms_give_the_same_keys_even_without_names(form: str) -> None:
    expected = _parse(sample_map())
    body = sample_map(ID_FORMS[form])
    _strip_names(body)
    result = _parse(body)
    assert [m.key for m in result.machines] == [m.key for m in expected.machines]
    assert [m.name for m in result.machines] == [WEB, SQL, EXT]  # original case, from the id
    assert [p.key for p in result.processes] == [p.key for p in expected.processes]
    assert [(p.name, p.key.machine) for p in result.processes] == [(WEB_P, WEB.lower()), (SQL_P, SQL.lower()), (EXT_P, EXT)]
    assert [g.key for g in result.client_groups] == [g.key for g in expected.client_groups]
    assert [(c.source, c.destination) for c in result.connections] == [
        (c.source, c.destination) for c in expected.connections]


def test_guid_case_differs_between_node_and_reference() -> None:
    body = sample_map()
    props = body["map"]["edges"]["connections"][0]["properties"]
    props["destination"]["name"] = SQL_P.upper()
    props["destination"]["properties"]["machine"]["name"] = SQL.lower()
    body["map"]["edges"]["connections"][1]["properties"]["source"]["name"] = GROUP.lower()
    result = _parse(body, focus=WEB.lower())
    assert result.connections[0].destination == result.processes[1].key
    assert result.connections[1].source == result.client_groups[0].key


def test_odd_but_real_values_are_kept() -> None:
    body = sample_map()
    nodes = body["map"]["nodes"]
    nodes["machines"][1]["properties"].update(monitoringState="sleeping", operatingSystem={"family": "beos"})
    nodes["machines"][1]["properties"]["displayName"] = ""
    nodes["machines"][2]["properties"].pop("displayName")
    nodes["processes"][0]["properties"].update(role="cacheServer", displayName=None, futureField=[1, 2])
    body["map"]["edges"]["connections"][0]["properties"]["failureState"] = "partial"
    body["map"]["extra"] = {"ignored": True}
    result = _parse(body)
    sql, ext = result.machines[1], result.machines[2]
    assert (sql.monitoring_state, sql.os_family, sql.os_full_name, sql.display_name) == ("sleeping", "beos", None, "")
    assert (ext.display_name, ext.label) == ("", "api.partner.example")
    assert (result.processes[0].role, result.processes[0].display_name, result.processes[0].label) == (
        "cacheServer", "", "w3wp")
    assert result.connections[0].failure_state == "partial"


def test_missing_arrays_are_empty() -> None:
    body = sample_map()
    body["map"]["nodes"] = {"machines": body["map"]["nodes"]["machines"][:1]}
    body["map"]["edges"] = {}
    result = _parse(body)
    assert (len(result.machines), result.processes, result.ports, result.client_groups, result.connections,
            result.acceptors) == (1, (), (), (), (), ())


def test_server_port_need_not_be_a_port_node() -> None:
    body = sample_map()
    body["map"]["nodes"]["ports"] = []
    body["map"]["edges"]["acceptors"] = []
    assert _parse(body).connections[0].server_port.port_number == 1433


def test_edges_hold_the_nodes_own_keys() -> None:
    """A big map has several references per edge: they must not each keep a copy of the key."""
    result = _parse(sample_map())
    processes, ports = {p.key: p.key for p in result.processes}, {p.key: p.key for p in result.ports}
    for edge in result.connections:
        assert edge.destination is processes[edge.destination]
        assert edge.server_port.key is ports[edge.server_port.key]
    assert all(a.port is ports[a.port] and a.process is processes[a.process] for a in result.acceptors)
    assert result.connections[1].source is result.client_groups[0].key


def test_missing_states_follow_the_name_and_the_owning_machine() -> None:
    body = sample_map()
    for node in (*body["map"]["nodes"]["machines"], *body["map"]["nodes"]["processes"]):
        node["properties"].pop("monitoringState")
    result = _parse(body)
    assert [m.monitoring_state for m in result.machines] == ["monitored", "monitored", "discovered"]
    assert [p.monitoring_state for p in result.processes] == ["monitored", "monitored", "discovered"]


def test_a_repeated_node_keeps_the_first() -> None:
    body = sample_map()
    twin = copy.deepcopy(body["map"]["nodes"]["processes"][1])
    twin["name"], twin["properties"]["displayName"] = SQL_P.upper(), "twin"
    body["map"]["nodes"]["processes"].append(twin)
    result = _parse(body)
    assert len(result.processes) == 3 and result.processes[1].display_name == "???"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-01-08T19:50:39Z", datetime(2018, 1, 8, 19, 50, 39, tzinfo=timezone.utc)),
        ("2018-01-08T19:50:39.0192315Z", datetime(2018, 1, 8, 19, 50, 39, 19231, tzinfo=timezone.utc)),
        ("2018-01-08T19:50:39.5", datetime(2018, 1, 8, 19, 50, 39, 500000, tzinfo=timezone.utc)),
        ("2018-01-08T20:50:39+01:00", datetime(2018, 1, 8, 19, 50, 39, tzinfo=timezone.utc)),
    ],
)
def test_times_are_aware(text: str, expected: datetime) -> None:
    body = sample_map()
    body["startTime"] = text
    start = _parse(body).start_time
    assert start == expected and start.tzinfo is not None


# --- broken data ------------------------------------------------------------------------------


def _conn(body: dict[str, Any], i: int = 0) -> dict[str, Any]:
    return body["map"]["edges"]["connections"][i]["properties"]


BROKEN = {
    "body not an object": (lambda b: [b], "body", "expected an object, got an array"),
    "no map": (lambda b: {k: v for k, v in b.items() if k != "map"}, "map", "missing"),
    "nodes not an object": (lambda b: b["map"].update(nodes=[]) or b, "map.nodes", "expected an object, got an array"),
    "no edges": (lambda b: b["map"].pop("edges") and b, "map.edges", "missing"),
    "machines not an array": (lambda b: b["map"]["nodes"].update(machines={}) or b, "map.nodes.machines",
                              "expected an array, got an object"),
    "machine not an object": (lambda b: b["map"]["nodes"]["machines"].append("m-1") or b, "map.nodes.machines[3]",
                              "expected an object, got a string"),
    "no kind": (lambda b: b["map"]["nodes"]["processes"][0].pop("kind") and b, "map.nodes.processes[0].kind", "missing"),
    "wrong kind": (lambda b: b["map"]["nodes"]["ports"][0].update(kind="process") or b, "map.nodes.ports[0].kind",
                   "expected 'port', got 'process'"),
    "no id": (lambda b: b["map"]["nodes"]["machines"][0].pop("id") and b, "map.nodes.machines[0].id", "missing"),
    "unusable id, no name": (
        lambda b: b["map"]["nodes"]["machines"][2].update(id="/something/else", name=None) or b,
        "map.nodes.machines[2].id", "no name given, and id '/something/else' does not name a machine"),
    "portNumber a string": (lambda b: b["map"]["nodes"]["ports"][0]["properties"].update(portNumber="1433") or b,
                            "map.nodes.ports[0].properties.portNumber", "expected an integer, got a string '1433'"),
    "portNumber a boolean": (lambda b: _conn(b)["serverPort"]["properties"].update(portNumber=True) or b,
                             "map.edges.connections[0].properties.serverPort.properties.portNumber",
                             "expected an integer, got a boolean True"),
    "displayName a number": (lambda b: b["map"]["nodes"]["machines"][1]["properties"].update(displayName=7) or b,
                             "map.nodes.machines[1].properties.displayName", "expected a string, got a number"),
    "dnsNames not strings": (
        lambda b: b["map"]["nodes"]["machines"][2]["properties"]["networking"].update(dnsNames=[None]) or b,
        "map.nodes.machines[2].properties.networking.dnsNames[0]", "expected a string, got null"),
    "destination not in the map": (
        lambda b: _conn(b).update(destination=_process_ref(WORKSPACE, SQL, "p-gone")) or b,
        "map.edges.connections[0].properties.destination",
        f"process:{SQL.lower()}/p-gone is not in map.nodes.processes"),
    "source process not in the map": (
        lambda b: _conn(b, 2).update(source=_process_ref(WORKSPACE, EXT, EXT_P.replace("443", "80"))) or b,
        "map.edges.connections[2].properties.source",
        f"process:{EXT}/{EXT_P.replace('443', '80')} is not in map.nodes.processes"),
    "client group not in the map": (
        lambda b: b["map"]["nodes"].update(clientGroups=[]) or b, "map.edges.connections[1].properties.source",
        f"client group {GROUP.lower()!r} is not in map.nodes.clientGroups"),
    "source a port": (lambda b: _conn(b).update(source=_port_ref(WORKSPACE, SQL, SQL_B, "192.168.1.2", 1433)) or b,
                      "map.edges.connections[0].properties.source",
                      "a connection starts at a process or client group, not a port"),
    "acceptor port not in the map": (
        lambda b: b["map"]["nodes"]["ports"].pop(1) and b, "map.edges.acceptors[1].properties.source",
        f"port:{EXT}/{EXT_B} is not in map.nodes.ports"),
    "no destination": (lambda b: _conn(b).pop("destination") and b, "map.edges.connections[0].properties.destination",
                       "missing"),
    "client group without clientsOf": (
        lambda b: b["map"]["nodes"]["clientGroups"][0]["properties"].pop("clientsOf") and b,
        "map.nodes.clientGroups[0].properties.clientsOf", "missing"),
    "reference kind not a string": (
        lambda b: _conn(b)["source"].update(kind=["ref:process"]) or b,
        "map.edges.connections[0].properties.source.kind", "expected a string, got an array"),
    "owner not a machine": (
        lambda b: _conn(b)["source"]["properties"].update(machine=_process_ref(WORKSPACE, WEB, WEB_P)) or b,
        "map.edges.connections[0].properties.source.properties.machine", "expected a machine reference, got a process"),
    "no startTime": (lambda b: b.pop("startTime") and b, "startTime", "missing"),
    "startTime not a date": (lambda b: b.update(startTime="yesterday") or b, "startTime",
                             "'yesterday' is not an ISO 8601 date-time"),
    "startTime impossible": (lambda b: b.update(startTime="2018-02-30T00:00:00Z") or b, "startTime",
                             "'2018-02-30T00:00:00Z' is not a valid date-time (day is out of range for month)"),
    "focus not in the map": (lambda b: b["map"]["nodes"]["machines"].pop(0) and b, "map.nodes.machines",
                             f"the server's own machine {WEB!r} is not in the map"),
}


@pytest.mark.parametrize(("change", "field", "what"), BROKEN.values(), ids=BROKEN.keys())
def test_broken_maps_are_refused_with_the_json_path(change, field: str, what: str) -> None:
    with pytest.raises(ParseError) as caught:
        _parse(change(sample_map()))
    assert (caught.value.server, caught.value.field) == ("web01.contoso.com", field)
    assert str(caught.value) == f"web01.contoso.com: {field}: {what}"


def test_long_hostile_values_are_cut_in_messages() -> None:
    body = sample_map()
    body["map"]["nodes"]["machines"][0]["kind"] = "x" * 100_000
    with pytest.raises(ParseError) as caught:
        _parse(body)
    assert len(str(caught.value)) < 300


# --- Microsoft's examples ---------------------------------------------------------------------


def test_microsofts_single_machine_example() -> None:
    body = _example_body("examples/Maps/SMMapsGenerateSingleMachineDependencyPost.json")
    result = parse_map_response(body, server="srv", focus_machine="m-a4ab1c69-03e9-42d2-b822-b42555569fb4")
    assert result.start_time == datetime(2018, 1, 8, 19, 50, 39, 19231, tzinfo=timezone.utc)
    assert [len(result.machines), len(result.processes), len(result.ports), len(result.client_groups),
            len(result.connections), len(result.acceptors)] == [2, 2, 1, 2, 3, 1]
    sources = {c.source.kind for c in result.connections}
    assert sources == {"process", "clientGroup"}
    port = result.connections[0].server_port
    assert (port.key.name, port.ip_address, port.port_number) == ("b-c0a80101_80", "192.168.1.1", 80)


def test_microsofts_group_example_has_a_discovered_server() -> None:
    body = _example_body("examples/Maps/SMMapsGenerateMachineGroupDependencyPost.json")
    result = parse_map_response(body, server="srv", focus_machine="m-f16c3a13-c1b4-453b-bff1-4607d18436ab")
    discovered = [m for m in result.machines if not m.is_monitored]
    assert [(m.name, m.label, m.ipv4_addresses) for m in discovered] == [
        ("t-0a0a0a0a", "unmonitored.server.com", ("10.10.10.10",))]
    assert result.machines[0].os_family == "linux"
    targets = [c.destination for c in result.connections if c.destination.machine == "t-0a0a0a0a"]
    assert targets == [NodeKey("process", "t-0a0a0a0a", "ts-m@t-0a0a0a0a@b@b-0a0a0a0a_8880")]


def test_microsofts_legacy_example_with_short_ids_and_kindless_references() -> None:
    body = _example_body("legacy-2018-examples/Maps/SMMapsGenerateSingleMachineDependencyPost.json")
    assert "kind" not in body["map"]["edges"]["connections"][1]["properties"]["source"]
    result = parse_map_response(body, server="srv", focus_machine="m-A4AB1C69-03E9-42D2-B822-B42555569FB4")
    assert result.connections[1].source.kind == "clientGroup"
    assert result.connections[1].source in {g.key for g in result.client_groups}


CONNECTION_EXAMPLES = ["examples/Machines/SMMachinesListConnectionsGet.json",
                       "examples/Machines/Processes/SMMachinesProcessesListConnectionsGet.json",
                       "examples/Machines/Ports/SMMachinesPortsListConnectionsGet.json"]


@pytest.mark.parametrize("relative", CONNECTION_EXAMPLES)
def test_microsofts_connection_list_examples(relative: str) -> None:
    body = _example_body(relative)
    connections, next_link = parse_connection_page(body)
    assert next_link is None and len(connections) == len(body["value"]) > 0
    for connection, raw in zip(connections, body["value"]):
        assert connection.id == raw["id"]
        assert connection.source.kind in {"process", "clientGroup"} and connection.destination.kind == "process"
        assert connection.destination.name == raw["properties"]["destination"]["name"].lower()
        port = raw["properties"].get("serverPort")
        if port is not None:
            assert connection.server_port.port_number == port["properties"].get("portNumber")


def test_a_broken_connection_list_names_the_culprit() -> None:
    with pytest.raises(ParseError) as caught:
        parse_connection_page({"value": [{"kind": "rel:connection", "id": "c", "properties": {"source": 5}}]})
    assert caught.value.field == "value[0].properties.source"
    assert str(caught.value).startswith("connection list: value[0].properties.source: ")


@pytest.mark.parametrize("relative", [
    "examples/Maps/SMMapsGenerateSingleMachineDependencyPost.json",
    "examples/Maps/SMMapsGenerateMachineGroupDependencyPost.json",
    "examples/Maps/SMMapsGenerateMachineListDependencyPost.json",
    "legacy-2018-examples/Maps/SMMapsGenerateSingleMachineDependencyPost.json",
    "legacy-2018-examples/Maps/SMMapsGenerateMachineGroupDependencyPost.json",
    "legacy-2018-examples/Maps/SMMapsGenerateMachineListDependencyPost.json",
])
def test_every_map_example_parses_around_each_of_its_machines(relative: str) -> None:
    body = _example_body(relative)
    machines = body["map"]["nodes"]["machines"]
    for machine in machines:
        result = parse_map_response(body, server="srv", focus_machine=machine["name"])
        assert len(result.connections) == len(body["map"]["edges"]["connections"])
        assert len(result.machines) <= len(machines)


def test_the_single_machine_example_parses() -> None:
    body = _example_body("examples/Machines/SMMachinesGetGet.json")
    assert parse_machine(body).name == body["name"]


# --- machines and machine pages ---------------------------------------------------------------


def test_machine_list_example() -> None:
    body = _example_body("examples/Machines/SMMachinesListByWorkspaceGet.json")
    machines, next_link = parse_machine_page(body)
    assert next_link is None and len(machines) == len(body["value"])
    first = machines[0]
    assert (first.fqdn, first.computer_name, first.ipv4_addresses, first.dns_names, first.os_family) == (
        "name1.foo.com", "name1", ("1.1.1.1", "1.1.1.3", "1.1.1.4"), ("name1", "name2", "name3"), "windows")


def test_machine_page_with_next_link() -> None:
    machine = sample_map()["map"]["nodes"]["machines"][1]
    machines, next_link = parse_machine_page({"value": [machine], "nextLink": "https://arm/next?page=2"})
    assert ([m.name for m in machines], next_link) == ([SQL], "https://arm/next?page=2")
    assert parse_machine_page({}) == ([], None)


def test_machine_page_errors_name_the_item() -> None:
    machine = sample_map()["map"]["nodes"]["machines"][1]
    with pytest.raises(ParseError) as caught:
        parse_machine_page({"value": [machine, {"kind": "machine"}]})
    assert (caught.value.field, str(caught.value)) == ("value[1].id", "machine list: value[1].id: missing")
    with pytest.raises(ParseError, match=r"^machine list: nextLink: expected a string, got a number$"):
        parse_machine_page({"value": [], "nextLink": 3})


def test_parse_machine_names_where() -> None:
    machine = sample_map()["map"]["nodes"]["machines"][0]
    assert parse_machine(machine).fqdn == "web01.contoso.com"
    machine["properties"]["networking"]["ipv4Interfaces"] = [{"subnetMask": "255.0.0.0"}]
    with pytest.raises(ParseError) as caught:
        parse_machine(machine, where="machine web01")
    assert caught.value.server is None
    assert str(caught.value) == "machine web01: properties.networking.ipv4Interfaces[0].ipAddress: missing"
    with pytest.raises(ParseError, match=r"^machine web01: body: expected an object, got null$"):
        parse_machine(None, where="machine web01")


# --- references -------------------------------------------------------------------------------


def test_ref_key_kinds() -> None:
    prefix = ID_FORMS["feature"]
    assert ref_key(_machine_ref(prefix, WEB), where="r") == _key("machine", WEB, WEB)
    assert ref_key(_process_ref(prefix, WEB, WEB_P), where="r") == _key("process", WEB, WEB_P)
    bare_port = {"kind": "ref:port", "id": f"{prefix}/machines/{SQL}/ports/{SQL_B}"}
    assert ref_key(bare_port, where="r") == _key("port", SQL, SQL_B)
    group = {"kind": "ref:clientgroup", "id": f"{prefix}/clientGroups/{GROUP}"}
    assert ref_key(group, where="r") == _key("clientGroup", SQL, GROUP)
    hints = {"kind": "ref:machinewithhints", "id": f"{prefix}/machines/{EXT}", "properties": {"displayNameHint": "x"}}
    assert ref_key(hints, where="r") == _key("machine", EXT, EXT)
    on_machine = {"kind": "ref:onmachine", "id": f"{prefix}/machines/{WEB}/processes/{WEB_P}"}
    assert ref_key(on_machine, where="r") == _key("process", WEB, WEB_P)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("m-1", "r: expected an object, got a string"),
        ({"kind": "ref:machine"}, "r.id: missing"),
        ({"kind": "ref:machine", "id": ""}, "r.id: empty"),
        ({"kind": "ref:future", "id": "/x/y"}, "r.kind: unknown reference kind 'ref:future', and id '/x/y' does not say "
                                               "what it points at"),
        ({"kind": "ref:process", "id": "/x/machines/m-1", "name": "p-1"},
         "r.id: no properties.machine given, and id '/x/machines/m-1' does not name a process"),
    ],
)
def test_ref_key_refuses_unusable_references(ref: object, message: str) -> None:
    with pytest.raises(ParseError) as caught:
        ref_key(ref, where="r")
    assert str(caught.value) == message and caught.value.field == message.split(":", 1)[0]


# --- the shortcut for the usual shape ---------------------------------------------------------

#: (module, name) of the careful readers and of the usual-shape shortcuts, as the parser looks them up
CAREFUL_READERS = [(parse, name) for name in (
    "careful_machine", "careful_process", "careful_port", "careful_client_group", "_connection", "_acceptor")]
SHORTCUTS = [(parse, name) for name in (
    "usual_machine", "usual_process", "usual_port", "usual_client_group", "_usual_connection", "_usual_acceptor",
    "usual_ref")] + [(nodes, "usual_ref"), (refs, "usual_ref")]


@contextmanager
def replaced(names: list[tuple[object, str]], stand_in: Callable[..., object]) -> Iterator[None]:
    """Every (module, name) of ``names`` replaced by ``stand_in`` inside the block."""
    with ExitStack() as stack:
        for module, name in names:
            stack.enter_context(mock.patch.object(module, name, stand_in))
        yield


def _synthetic_body(connections: int) -> dict[str, Any]:
    """A map the emulator makes, in the shape of the benchmark's (JSON round trip included)."""
    the_map = synthetic_map(connections=connections)
    return json.loads(json.dumps({"startTime": "2024-05-01T10:00:00Z", "endTime": "2024-05-01T10:10:00Z",
                                  "map": the_map}))


def _synthetic_focus(body: dict[str, Any]) -> str:
    return next(m["name"] for m in body["map"]["nodes"]["machines"] if m["properties"]["displayName"] == "srv0000")


def _refuse(*_args: object) -> None:
    raise AssertionError("a well-formed item reached the careful reader")


@pytest.mark.parametrize("source", ["sample", "synthetic"])
def test_well_formed_maps_never_need_the_careful_readers(source: str) -> None:
    body = sample_map() if source == "sample" else _synthetic_body(300)
    focus = WEB if source == "sample" else _synthetic_focus(body)
    with replaced(CAREFUL_READERS, _refuse):
        result = _parse(body, focus=focus)
    assert len(result.connections) == len(body["map"]["edges"]["connections"])
    assert len(result.acceptors) == len(body["map"]["edges"]["acceptors"])


def test_the_careful_readers_alone_give_the_same_synthetic_map() -> None:
    body = _synthetic_body(300)
    usual = _parse(body, focus=_synthetic_focus(body))
    calls: Counter[str] = Counter()

    def counted(module: object, name: str) -> Callable[..., object]:
        real = getattr(module, name)
        return lambda *args: calls.update([name]) or real(*args)

    with replaced(SHORTCUTS, lambda *_args: None), ExitStack() as stack:
        for module, name in CAREFUL_READERS:
            stack.enter_context(mock.patch.object(module, name, counted(module, name)))
        careful = _parse(body, focus=_synthetic_focus(body))
    assert careful == usual
    # every item went the careful way
    nodes, edges = body["map"]["nodes"], body["map"]["edges"]
    assert calls == Counter({
        "careful_machine": len(nodes["machines"]), "careful_process": len(nodes["processes"]),
        "careful_port": len(nodes["ports"]), "careful_client_group": len(nodes.get("clientGroups", [])),
        "_connection": len(edges["connections"]), "_acceptor": len(edges["acceptors"]),
    }) and calls["_connection"] > 0
    assert len({c.server_port.key for c in usual.connections}) > 1  # the map is not trivially small
