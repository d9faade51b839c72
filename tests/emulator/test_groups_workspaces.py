"""The emulator's machine groups and second workspace, over HTTPS, every answer checked against the spec."""

from __future__ import annotations

from urllib.parse import urlsplit

from servicemap_sync.emulator import Emulator, Scenario
from spec_check import SpecChecker

from .conftest import API, Client

WINDOW = {"startTime": "2024-05-06T07:00:00Z", "endTime": "2024-05-06T07:10:00Z"}


def _fqdns(scenario: Scenario, names: list[str]) -> list[str]:
    return [scenario.machines[n]["properties"]["fullyQualifiedDomainName"] for n in names]


def _group_named(scenario: Scenario, display: str) -> dict:
    return next(g for g in scenario.machine_groups.values() if g["properties"]["displayName"] == display)


def _ids(graph: dict) -> dict[str, set[str]]:
    """Every node and edge id of a ``map`` object, lower-cased, by kind."""
    return {kind: {item["id"].lower() for item in items}
            for part in ("nodes", "edges") for kind, items in graph[part].items()}


def _checked(checker: SpecChecker, method: str, response) -> object:
    body = response.json()
    assert checker.check_response(method, urlsplit(response.url).path, response.status_code, body) == []
    return body


def _group_map(client: Client, group_id: str, **extra: object):
    return client.request("POST", f"{client.base}/generateMap", params={"api-version": API},
                          json={"kind": "map:machine-group-dependency", "machineGroupId": group_id,
                                "filterProcesses": False, **WINDOW, **extra})


def test_sample_groups_as_the_issue_asks(sample: Scenario) -> None:
    shop = _group_named(sample, "Contoso Web Shop")
    members = [m["name"] for m in shop["properties"]["machines"]]
    assert _fqdns(sample, members) == [f"{s}.contoso.com" for s in ("web01", "web02", "app01", "sql01")]
    assert shop["properties"]["count"] == 4
    orders = _group_named(sample, "Orders API")
    assert orders["id"].startswith("/api/workspaces/")  # the legacy id form
    assert all("properties" not in m for m in orders["properties"]["machines"])  # no hints, as Microsoft's get example


def test_list_and_get_machine_groups(client: Client, sample: Scenario, checker: SpecChecker) -> None:
    listed = client.request("GET", f"{client.base}/machineGroups", params={"api-version": API, **WINDOW})
    assert listed.status_code == 200
    body = _checked(checker, "GET", listed)
    assert sorted(g["name"] for g in body["value"]) == sorted(sample.machine_groups)
    assert "nextLink" not in body
    for name, group in sample.machine_groups.items():
        got = client.request("GET", f"{client.base}/machineGroups/{name.upper()}", params={"api-version": API, **WINDOW})
        assert got.status_code == 200 and _checked(checker, "GET", got) == group
    missing = client.request("GET", f"{client.base}/machineGroups/nope", params={"api-version": API})
    assert missing.status_code == 404 and _checked(checker, "GET", missing)["error"]["code"] == "ResourceNotFound"
    reversed_window = client.request("GET", f"{client.base}/machineGroups", params={
        "api-version": API, "startTime": WINDOW["endTime"], "endTime": WINDOW["startTime"]})
    assert reversed_window.status_code == 400


def test_machine_group_list_pages_follow_next_link(emu: Emulator, client: Client, sample: Scenario) -> None:
    emu.arm.group_page_size = 1
    url, params, seen = f"{client.base}/machineGroups", {"api-version": API, **WINDOW}, []
    while url:
        page = client.request("GET", url, params=params).json()
        seen += [g["name"] for g in page["value"]]
        url, params = page.get("nextLink"), None
    assert sorted(seen) == sorted(sample.machine_groups) and len(seen) == 2


def test_group_map_is_the_union_of_the_members_maps(client: Client, sample: Scenario, checker: SpecChecker) -> None:
    for group in sample.machine_groups.values():
        members = [m["name"] for m in group["properties"]["machines"]]
        response = _group_map(client, group["id"])
        assert response.status_code == 200
        body = _checked(checker, "POST", response)
        assert (body["startTime"], body["endTime"]) == (WINDOW["startTime"], WINDOW["endTime"])
        expected: dict[str, set[str]] = {}
        for name in members:
            for kind, ids in _ids(sample.maps[name]).items():
                expected.setdefault(kind, set()).update(ids)
        got = body["map"]
        assert _ids(got) == expected
        for kind, items in (*got["nodes"].items(), *got["edges"].items()):
            assert len(items) == len({i["id"].lower() for i in items}), kind  # each once


def test_group_map_accepts_every_id_form_and_refuses_other_workspaces_groups(
        client: Client, sample: Scenario) -> None:
    group = _group_named(sample, "Contoso Web Shop")
    name = group["name"]
    for prefix in (sample.arm_id, f"{sample.arm_id}/features/serviceMap", f"/api/workspaces/{sample.customer_id}"):
        assert _group_map(client, f"{prefix}/machineGroups/{name}").status_code == 200, prefix
    dev = sample.other_workspaces[0]
    dev_group = next(iter(dev.machine_groups.values()))
    assert _group_map(client, dev_group["id"]).status_code == 404
    assert _group_map(client, f"{sample.arm_id}/machineGroups/nope").status_code == 404
    assert _group_map(client, group["id"], filterProcesses=True).status_code == 400


def test_a_member_no_longer_served_drops_out_of_the_group_map(emu: Emulator, client: Client, sample: Scenario) -> None:
    group = _group_named(sample, "Contoso Web Shop")
    members = [m["name"] for m in group["properties"]["machines"]]
    emu.set_machines([m for n, m in sample.machines.items() if n != members[1]])
    got = _ids(_group_map(client, group["id"]).json()["map"])
    expected: dict[str, set[str]] = {}
    for name in members[:1] + members[2:]:
        for kind, ids in _ids(sample.maps[name]).items():
            expected.setdefault(kind, set()).update(ids)
    assert got == expected


def test_machine_list_map_is_the_union_too(client: Client, sample: Scenario) -> None:
    names = sorted(sample.machines)[:2]
    response = client.request("POST", f"{client.base}/generateMap", params={"api-version": API}, json={
        "kind": "map:machine-list-dependency", "machineIds": [sample.machines[n]["id"] for n in names], **WINDOW})
    assert response.status_code == 200
    assert _ids(response.json()["map"]) == {k: _ids(sample.maps[names[0]])[k] | _ids(sample.maps[names[1]])[k]
                                            for k in _ids(sample.maps[names[0]])}


def test_second_workspace_is_served_under_its_own_path(client: Client, sample: Scenario, checker: SpecChecker) -> None:
    assert [w.workspace_name for w in sample.workspaces] == ["law-contoso-prod", "law-contoso-dev"]
    dev = sample.other_workspaces[0]
    assert (dev.subscription_id, dev.resource_group) != (sample.subscription_id, sample.resource_group)
    assert dev.tenant_id == sample.tenant_id and dev.client_id == sample.client_id
    # one FQDN in both workspaces, on different machines: an ambiguous name
    prod_fqdns = {m["properties"]["fullyQualifiedDomainName"]: n for n, m in sample.machines.items()}
    dev_fqdns = {m["properties"]["fullyQualifiedDomainName"]: n for n, m in dev.machines.items()}
    assert set(prod_fqdns) & set(dev_fqdns) == {"build01.contoso.com"}
    assert prod_fqdns["build01.contoso.com"] != dev_fqdns["build01.contoso.com"]

    workspace_url = f"{client.emu.url}{dev.arm_id}"
    ws = client.request("GET", workspace_url, params={"api-version": "2022-10-01"})
    assert ws.status_code == 200 and ws.json()["properties"]["customerId"] == dev.customer_id
    machines = client.request("GET", f"{workspace_url}/features/serviceMap/machines", params={"api-version": API})
    body = _checked(checker, "GET", machines)
    assert sorted(m["name"] for m in body["value"]) == sorted(dev.machines)
    for name, machine in dev.machines.items():
        response = client.request("POST", f"{workspace_url}/features/serviceMap/generateMap",
                                  params={"api-version": API},
                                  json={"kind": "map:single-machine-dependency", "machineId": machine["id"], **WINDOW})
        assert _checked(checker, "POST", response)["map"] == dev.maps[name]
    groups = client.request("GET", f"{workspace_url}/features/serviceMap/machineGroups", params={"api-version": API})
    assert [g["name"] for g in _checked(checker, "GET", groups)["value"]] == list(dev.machine_groups)
    # the first workspace's machines are not the second's
    prod_machine = next(iter(sample.machines.values()))
    other = client.request("POST", f"{workspace_url}/features/serviceMap/generateMap", params={"api-version": API},
                           json={"kind": "map:single-machine-dependency", "machineId": prod_machine["id"]})
    assert other.status_code == 404
    # the default workspace is unchanged
    assert sorted(m["name"] for m in client.machines().json()["value"]) == sorted(sample.machines)
    wrong = client.request("GET", f"{client.emu.url}/subscriptions/{dev.subscription_id}/resourceGroups/"
                           f"{sample.resource_group}/providers/Microsoft.OperationalInsights/workspaces/"
                           f"{dev.workspace_name}", params={"api-version": "2022-10-01"})
    assert wrong.status_code == 404
