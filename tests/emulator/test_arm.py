"""The emulated ARM: workspace, Service Map machines and generateMap, auth, throttling, latency."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.loganalytics import LogAnalyticsManagementClient

from servicemap_sync.emulator import Emulator, Scenario
from spec_check import SpecChecker

from .conftest import API, Client, secret_credential


def _mgmt(emu: Emulator) -> LogAnalyticsManagementClient:
    return LogAnalyticsManagementClient(secret_credential(emu), emu.subscription_id, base_url=emu.url,
                                        connection_verify=str(emu.ca_path), retry_total=0)


def test_workspace_get_through_the_real_management_client(emu: Emulator, sample: Scenario) -> None:
    ws = _mgmt(emu).workspaces.get(emu.resource_group, emu.workspace_name)
    assert ws.name == sample.workspace_name
    assert ws.customer_id == sample.customer_id
    assert ws.location == sample.location
    assert ws.id.endswith(f"/workspaces/{sample.workspace_name}")


def test_workspace_path_is_case_insensitive(client: Client) -> None:
    url = client.workspace_url.replace("/resourceGroups/", "/RESOURCEGROUPS/").replace("/providers/", "/Providers/")
    assert client.request("GET", url, params={"api-version": "2022-10-01"}).status_code == 200


def test_unknown_and_forbidden_workspace(emu: Emulator) -> None:
    mgmt = _mgmt(emu)
    with pytest.raises(HttpResponseError) as missing:
        mgmt.workspaces.get(emu.resource_group, "law-does-not-exist")
    assert missing.value.status_code == 404 and missing.value.error.code == "ResourceNotFound"
    emu.forbid_workspace()
    with pytest.raises(HttpResponseError) as forbidden:
        mgmt.workspaces.get(emu.resource_group, emu.workspace_name)
    assert forbidden.value.status_code == 403 and forbidden.value.error.code == "AuthorizationFailed"


@pytest.mark.parametrize("token", [None, "garbage"])
def test_missing_or_invalid_token_is_401_with_a_bearer_challenge(client: Client, token: str | None) -> None:
    response = client.request("GET", f"{client.base}/machines", token=token, params={"api-version": API})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer authorization_uri=") and 'error="invalid_token"' in challenge


def test_expired_token_is_401_expired(emu: Emulator, client: Client) -> None:
    assert client.machines().status_code == 200
    emu.expire_tokens()
    response = client.machines()
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "ExpiredAuthenticationToken"


def test_zero_lifetime_tokens_are_expired_on_arrival(sample: Scenario) -> None:
    with Emulator(sample, token_lifetime=0) as emu:
        response = Client(emu).machines()
    assert response.json()["error"]["code"] == "ExpiredAuthenticationToken"


def test_every_arm_answer_carries_request_id_and_remaining_reads(client: Client) -> None:
    answers = [client.machines(), client.machines(**{"$top": 0}),
               client.request("GET", f"{client.base}/machines", token=None, params={"api-version": API})]
    for response in answers:
        assert response.headers["x-ms-request-id"]
        assert int(response.headers["x-ms-ratelimit-remaining-subscription-reads"]) > 0
        assert response.headers["Content-Length"] == str(len(response.content))


def test_rate_limit_answers_429_with_retry_after_once_the_bucket_is_empty(sample: Scenario) -> None:
    with Emulator(sample, rate_limit=(3, 0.2)) as emu:
        client = Client(emu)
        served = [client.machines() for _ in range(3)]
        throttled = client.machines()
        stats = emu.stats()
    assert [r.status_code for r in served] == [200, 200, 200]
    assert [int(r.headers["x-ms-ratelimit-remaining-subscription-reads"]) for r in served] == [2, 1, 0]
    assert throttled.status_code == 429
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    assert int(throttled.headers["Retry-After"]) >= 1
    assert stats["throttled"] == 1
    assert stats["tokens_issued"] == 1  # the token endpoint is not throttled


def test_service_map_needs_its_exact_api_version(client: Client) -> None:
    wrong = client.request("GET", f"{client.base}/machines", params={"api-version": "2016-08-02"})
    missing = client.request("GET", f"{client.base}/machines")
    assert wrong.status_code == 400 and wrong.json()["error"]["code"]
    assert missing.status_code == 400 and missing.json()["error"]["code"]


def test_machines_are_paged_in_name_order_with_absolute_next_links(client: Client, sample: Scenario,
                                                                   checker: SpecChecker) -> None:
    pages = [client.machines(**{"$top": 4, "live": "true"})]
    while "nextLink" in pages[-1].json():
        link = pages[-1].json()["nextLink"]
        parts = urlsplit(link)
        query = parse_qs(parts.query)
        assert link.startswith(client.emu.url + "/subscriptions/")
        assert query["api-version"] == [API] and query["$top"] == ["4"] and "$skipToken" in query
        assert query["live"] == ["true"]
        pages.append(client.request("GET", link))
    assert [len(p.json()["value"]) for p in pages] == [4, 4, 2]
    names = [m["name"] for p in pages for m in p.json()["value"]]
    assert names == sorted(sample.machines, key=str.lower)
    for page in pages:
        assert checker.check_response("GET", urlsplit(page.url).path, 200, page.json()) == []


@pytest.mark.parametrize("top", ["0", "201", "ten"])
def test_top_out_of_range_is_400(client: Client, top: str) -> None:
    response = client.machines(**{"$top": top})
    assert response.status_code == 400 and response.json()["error"]["code"] == "InvalidParameter"


def test_default_page_holds_every_sample_machine(client: Client, sample: Scenario) -> None:
    body = client.machines().json()
    assert "nextLink" not in body and len(body["value"]) == len(sample.machines)


def test_get_machine_decodes_names_and_ignores_case(emu: Emulator, client: Client, sample: Scenario,
                                                    checker: SpecChecker) -> None:
    name = next(iter(sample.machines))
    response = client.request("GET", f"{client.base}/machines/{name.upper()}", params={"api-version": API})
    assert response.status_code == 200 and response.json()["name"] == name
    assert checker.check_response("GET", urlsplit(response.url).path, 200, response.json()) == []
    odd = {**sample.machines[name], "name": "m-odd!name@x"}
    emu.set_machines([odd])
    found = client.request("GET", f"{client.base}/machines/m-odd%21name%40x", params={"api-version": API})
    assert found.json()["name"] == "m-odd!name@x"
    assert client.request("GET", f"{client.base}/machines/{name}", params={"api-version": API}).status_code == 404


def test_generate_map_echoes_the_window_and_conforms(client: Client, sample: Scenario, checker: SpecChecker) -> None:
    machine = next(iter(sample.machines.values()))
    response = client.generate(machine["id"], startTime="2018-01-08T19:50:39.0192315Z",
                               endTime="2018-01-08T19:52:39.0192315Z")
    body = response.json()
    assert response.status_code == 200
    assert (body["startTime"], body["endTime"]) == ("2018-01-08T19:50:39.0192315Z", "2018-01-08T19:52:39.0192315Z")
    assert body["map"] == sample.maps[machine["name"]]
    assert checker.check_response("POST", urlsplit(response.url).path, 200, body) == []
    offset = client.generate(machine["id"], startTime="2024-05-06T09:00:00+02:00",
                             endTime="2024-05-06T09:30:00+02:00").json()
    assert (offset["startTime"], offset["endTime"]) == ("2024-05-06T07:00:00Z", "2024-05-06T07:30:00Z")


def test_generate_map_defaults_to_the_last_ten_minutes(client: Client, sample: Scenario) -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)
    body = client.generate(next(iter(sample.machines.values()))["id"]).json()
    end = datetime.fromisoformat(body["endTime"].replace("Z", "+00:00"))
    start = datetime.fromisoformat(body["startTime"].replace("Z", "+00:00"))
    assert body["endTime"].endswith("Z") and end >= before
    assert end - start == timedelta(minutes=10)


def test_generate_map_accepts_all_three_id_forms(client: Client, sample: Scenario) -> None:
    s = sample
    arm = (f"/subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}/providers"
           f"/Microsoft.OperationalInsights/workspaces/{s.workspace_name}")
    name = next(iter(s.machines))
    for prefix in (arm, f"{arm}/features/serviceMap", f"/api/workspaces/{s.customer_id}"):
        response = client.generate(f"{prefix}/machines/{name.upper()}")
        assert response.status_code == 200, prefix
        assert response.json()["map"] == s.maps[name]
    assert client.generate(f"/api/workspaces/{'0' * 8}-0000-0000-0000-{'0' * 12}/machines/{name}").status_code == 404


def test_generate_map_rejects_bad_requests(client: Client, sample: Scenario, checker: SpecChecker) -> None:
    machine_id = next(iter(sample.machines.values()))["id"]
    checks = {
        "empty window": client.generate(machine_id, startTime="2024-01-01T00:10:00Z", endTime="2024-01-01T00:10:00Z"),
        "reversed window": client.generate(machine_id, startTime="2024-01-01T00:10:00Z",
                                           endTime="2024-01-01T00:00:00Z"),
        "not a date": client.generate(machine_id, startTime="yesterday"),
        "not a machine id": client.generate("m-123"),
        "unknown kind": client.request("POST", f"{client.base}/generateMap", params={"api-version": API},
                                       json={"kind": "map:everything", "machineIds": [machine_id]}),
        "filtered list": client.request("POST", f"{client.base}/generateMap", params={"api-version": API},
                                        json={"kind": "map:machine-list-dependency", "machineIds": [machine_id],
                                              "filterProcesses": True}),
        "empty list": client.request("POST", f"{client.base}/generateMap", params={"api-version": API},
                                     json={"kind": "map:machine-list-dependency", "machineIds": []}),
        "group id not a group": client.request("POST", f"{client.base}/generateMap", params={"api-version": API},
                                               json={"kind": "map:machine-group-dependency",
                                                     "machineGroupId": machine_id}),
        "not json": client.request("POST", f"{client.base}/generateMap", params={"api-version": API}, data=b"{"),
    }
    for what, response in checks.items():
        assert response.status_code == 400, what
        assert checker.check_response("POST", urlsplit(response.url).path, 400, response.json()) == [], what
    unknown = client.generate(machine_id.rsplit("/", 1)[0] + "/m-00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "ResourceNotFound"


def test_set_map_replaces_what_generate_map_serves(emu: Emulator, client: Client, sample: Scenario) -> None:
    machine = next(iter(sample.machines.values()))
    replacement = {"nodes": {"machines": [], "processes": [], "ports": [], "clientGroups": []},
                   "edges": {"connections": [], "acceptors": []}}
    emu.set_map(machine["name"], replacement)
    assert client.generate(machine["id"]).json()["map"] == replacement


def test_latency_applies_to_arm_and_concurrency_peak_is_tracked(sample: Scenario) -> None:
    with Emulator(sample, latency=0.3) as emu:
        client = Client(emu)
        client.token  # noqa: B018 - fetch the token before the parallel burst
        barrier = threading.Barrier(4)
        results: list[int] = []

        def call() -> None:
            local = Client(emu)
            local._token = client.token
            barrier.wait()
            results.append(local.machines().status_code)

        threads = [threading.Thread(target=call) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = emu.stats()
    assert results == [200] * 4
    assert stats["peak_concurrency"] >= 2
    assert stats["requests"] == 5
    assert sorted(r.operation for r in emu.requests) == ["machines"] * 4 + ["token"]
