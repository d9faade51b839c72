"""The emulated Log Analytics query API: audience, answers, errors, faults and the derived tables."""

from __future__ import annotations

import json

import pytest

from servicemap_sync.emulator import Emulator, Fault
from servicemap_sync.emulator.logs import derive_tables

from .conftest import Client



def query_text(shape: str, machines: list[str] | None = None) -> str:
    lines = [f"// servicemap-sync: {shape}", "let WindowStart = datetime(2026-11-23T11:00:00.0000000Z);",
             "let WindowEnd = datetime(2026-11-23T12:00:00.0000000Z);"]
    if machines is not None:
        lines.append(f"let Machines = dynamic({json.dumps(machines)});")
    return "\n".join([*lines, "VMComputer | take 1"])


def post(client: Client, emu: Emulator, query: str, *, audience: str | None = None, workspace: str | None = None):
    token = client.token_response(scope=f"{audience or emu.logs_query_url}/.default").json()["access_token"]
    url = f"{emu.logs_query_url}/v1/workspaces/{workspace or emu.scenario.customer_id}/query"
    return client.request("POST", url, token=token, json={"query": query, "timespan": "PT1H"})


def test_machines_answer_in_the_query_api_shape(client, emu) -> None:
    response = post(client, emu, query_text("machines"))
    assert response.status_code == 200
    table = response.json()["tables"][0]
    assert table["name"] == "PrimaryResult"
    names = [c["name"] for c in table["columns"]]
    machines = [dict(zip(names, row))["Machine"] for row in table["rows"]]
    assert machines == sorted(emu.scenario.machines)
    assert [r.operation for r in emu.requests if r.operation == "query"] == ["query"]


def test_a_token_for_arm_is_refused_for_its_audience(client, emu) -> None:
    response = post(client, emu, query_text("machines"), audience=emu.url)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"


@pytest.mark.parametrize("query", ["VMConnection | take 10", query_text("machines").replace("WindowEnd", "Finish"),
                                   query_text("ports")])
def test_a_query_it_does_not_know_is_a_bad_argument(client, emu, query) -> None:
    response = post(client, emu, query)
    assert response.status_code == 400 and response.json()["error"]["code"] == "BadArgumentError"


def test_another_workspace_is_not_found(client, emu) -> None:
    response = post(client, emu, query_text("machines"), workspace="00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and response.json()["error"]["code"] == "WorkspaceNotFoundError"


def test_a_partial_fault_answers_half_the_rows_with_an_error_object(client, emu) -> None:
    machines = sorted(emu.scenario.machines)
    whole = post(client, emu, query_text("processes", machines)).json()
    emu.add_fault(Fault(kind="partial", operation="query", machine=machines[0].lower(), count=1))
    partial = post(client, emu, query_text("processes", machines)).json()
    assert partial["error"]["code"] == "PartialError" and partial["error"]["details"]
    assert len(partial["tables"][0]["rows"]) == len(whole["tables"][0]["rows"]) // 2 > 0
    assert "error" not in post(client, emu, query_text("processes", machines)).json()


def test_each_flow_between_agents_is_reported_on_both_sides_unless_it_never_succeeded(emu) -> None:
    tables = derive_tables(emu.arm.machines(), emu.arm.map_of)
    outbound = {(r["SourceIp"], r["DestinationIp"], r["DestinationPort"]): r for r in tables.connections
                if r["Direction"] == "outbound"}
    inbound = {(r["SourceIp"], r["DestinationIp"], r["DestinationPort"]) for r in tables.connections
               if r["Direction"] == "inbound"}
    agent_ips = {ip for r in tables.computers for ip in json.loads(r["Ipv4Addresses"])}
    between_agents = {k: r for k, r in outbound.items() if k[1] in agent_ips}
    assert between_agents
    for flow, row in between_agents.items():
        assert (flow in inbound) == (row["LinksEstablished"] > 0), flow
    assert any(r["LinksFailed"] and r["LinksEstablished"] for r in outbound.values())  # mixed
    assert any(r["LinksFailed"] and not r["LinksEstablished"] for r in outbound.values())  # failed
    assert not any(r["LinksFailed"] for r in tables.connections if r["Direction"] == "inbound")


def test_derived_tables_follow_changes_to_the_served_data(emu) -> None:
    before = emu.logs.tables()
    name = next(iter(emu.scenario.machines))
    emu.set_map(name, {"nodes": {"machines": [], "processes": [], "ports": [], "clientGroups": []},
                       "edges": {"connections": [], "acceptors": []}})
    after = emu.logs.tables()
    assert any(r["Machine"] == name for r in before.processes)
    assert not any(r["Machine"] == name for r in after.processes)
