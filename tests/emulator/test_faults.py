"""Every fault kind, as a real HTTP client experiences it."""

from __future__ import annotations

import json
import time

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ClientSecretCredential

from servicemap_sync.emulator import Emulator, Fault, Scenario

from .conftest import SCOPE, Client, secret_credential
from .mapcheck import map_problems


@pytest.fixture
def machines(sample: Scenario) -> list[dict]:
    return list(sample.machines.values())


def test_status_fault_hits_only_its_machine_count_times(emu: Emulator, client: Client, machines: list[dict]) -> None:
    target, other = machines[0], machines[1]
    emu.add_fault(Fault(operation="generateMap", machine=target["name"].upper(), kind="status", status=503,
                        retry_after=1, count=2))
    first, second = client.generate(target["id"]), client.generate(target["id"])
    assert client.generate(other["id"]).status_code == 200
    third = client.generate(target["id"])
    for response in (first, second):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"]["code"] == "ServiceUnavailable"
        assert response.headers["x-ms-request-id"]
    assert third.status_code == 200
    assert [r.status for r in emu.requests if r.operation == "generateMap"] == [503, 503, 200, 200]


def test_throttling_fault_counts_as_throttled(emu: Emulator, client: Client) -> None:
    emu.add_fault(Fault(operation="machines", kind="status", status=429, retry_after=2, count=1))
    response = client.machines()
    assert (response.status_code, response.headers["Retry-After"]) == (429, "2")
    assert response.json()["error"]["code"] == "TooManyRequests"
    assert client.machines().status_code == 200
    assert emu.stats()["throttled"] == 1


def test_fault_without_count_fires_until_cleared(emu: Emulator, client: Client) -> None:
    client.token  # noqa: B018 - fetched before the fault exists (it would hit the token endpoint too)
    emu.add_fault(Fault(kind="status", status=500))
    assert [client.machines().status_code for _ in range(3)] == [500, 500, 500]
    emu.clear_faults()
    assert client.machines().status_code == 200


def test_fault_without_operation_hits_any_operation(emu: Emulator, client: Client) -> None:
    client.token  # noqa: B018 - fetched before the fault exists
    emu.add_fault(Fault(kind="status", status=502, count=2))
    workspace = client.request("GET", client.workspace_url, params={"api-version": "2025-07-01"})
    machines = client.machines()
    assert (workspace.status_code, machines.status_code) == (502, 502)


def test_delay_fault_waits_then_answers(emu: Emulator, client: Client, machines: list[dict]) -> None:
    client.token  # noqa: B018
    emu.add_fault(Fault(operation="machine", kind="delay", seconds=0.3, count=1))
    started = time.monotonic()
    response = client.request("GET", f"{client.base}/machines/{machines[0]['name']}",
                              params={"api-version": "2015-11-01-preview"})
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200 and response.json() == machines[0]


def test_malformed_fault_is_200_with_invalid_json(emu: Emulator, client: Client) -> None:
    emu.add_fault(Fault(operation="machines", kind="malformed", count=1))
    response = client.machines()
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.content)


def test_truncated_fault_breaks_the_body(emu: Emulator, client: Client, machines: list[dict]) -> None:
    emu.add_fault(Fault(operation="generateMap", kind="truncated", count=1))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        client.generate(machines[0]["id"])
    assert client.generate(machines[0]["id"]).status_code == 200  # a new connection works


def test_reset_fault_drops_the_connection(emu: Emulator, client: Client, machines: list[dict]) -> None:
    emu.add_fault(Fault(operation="generateMap", kind="reset", count=1))
    with pytest.raises(requests.exceptions.ConnectionError):
        client.generate(machines[0]["id"])
    assert [r.status for r in emu.requests if r.operation == "generateMap"] == [0]
    assert client.generate(machines[0]["id"]).status_code == 200


def test_oversize_fault_pads_a_valid_map(emu: Emulator, client: Client, sample: Scenario,
                                         machines: list[dict]) -> None:
    emu.add_fault(Fault(operation="generateMap", kind="oversize", size=3_000_000, count=1))
    response = client.generate(machines[0]["id"])
    assert response.status_code == 200
    assert len(response.content) == 3_000_000
    assert response.json()["map"] == sample.maps[machines[0]["name"]]


def test_dangling_fault_points_a_connection_outside_the_nodes(emu: Emulator, client: Client,
                                                              machines: list[dict]) -> None:
    emu.add_fault(Fault(operation="generateMap", kind="dangling", count=1))
    broken = client.generate(machines[0]["id"]).json()["map"]
    healthy = client.generate(machines[0]["id"]).json()["map"]
    assert map_problems(broken) and not map_problems(healthy)


def test_token_fault_fails_the_credential(emu: Emulator) -> None:
    def credential() -> ClientSecretCredential:
        return secret_credential(emu, retry_total=0)

    emu.add_fault(Fault(operation="token", kind="status", status=500, count=1))
    with pytest.raises(ClientAuthenticationError, match="500"):
        credential().get_token(SCOPE)
    assert credential().get_token(SCOPE).token  # a fresh credential: msal remembers the failure per app
    assert [r.status for r in emu.requests if r.operation == "token"] == [500, 200]


@pytest.mark.parametrize("bad", [{"kind": "explode"}, {"operation": "listProcesses"}, {"count": 0}])
def test_invalid_faults_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        Fault(**bad)
