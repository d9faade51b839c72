"""Fixtures for the emulator tests: a running emulator and a small client bound to it.

requests is given ``verify=`` on every call because this machine sets REQUESTS_CA_BUNDLE,
which would otherwise override a session-level ``verify``.
"""

from __future__ import annotations

import pytest
import requests
from azure.identity import ClientSecretCredential

from servicemap_sync.emulator import Emulator, Scenario

API = "2015-11-01-preview"
SCOPE = "https://management.azure.com/.default"


def secret_credential(emu: Emulator, secret: str | None = None, **options: object) -> ClientSecretCredential:
    """The real azure-identity credential, pointed at ``emu`` and trusting its CA."""
    return ClientSecretCredential(emu.tenant_id, emu.client_id, secret or emu.client_secret, authority=emu.url,
                                  disable_instance_discovery=True, connection_verify=str(emu.ca_path), **options)


class Client:
    """Raw HTTP against an emulator: token, workspace and Service Map URLs, CA pinned per request."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.http = requests.Session()
        self.workspace_url = (
            f"{emu.url}/subscriptions/{emu.subscription_id}/resourceGroups/{emu.resource_group}"
            f"/providers/Microsoft.OperationalInsights/workspaces/{emu.workspace_name}"
        )
        self.base = f"{self.workspace_url}/features/serviceMap"
        self._token: str | None = None

    def token_response(self, **form: str) -> requests.Response:
        data = {"grant_type": "client_credentials", "client_id": self.emu.client_id,
                "client_secret": self.emu.client_secret, "scope": SCOPE, **form}
        return self.http.post(f"{self.emu.url}/{self.emu.tenant_id}/oauth2/v2.0/token", data=data,
                              verify=self.emu.ca_path, timeout=10)

    @property
    def token(self) -> str:
        if self._token is None:
            response = self.token_response()
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def request(self, method: str, url: str, *, token: str | None = "valid", **kwargs: object) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token if token == 'valid' else token}"} if token else {}
        return self.http.request(method, url, headers=headers, verify=self.emu.ca_path, timeout=10,
                                 **kwargs)  # type: ignore[arg-type]

    def machines(self, **params: object) -> requests.Response:
        return self.request("GET", f"{self.base}/machines", params={"api-version": API, **params})

    def generate(self, machine_id: str, **extra: object) -> requests.Response:
        body = {"kind": "map:single-machine-dependency", "machineId": machine_id, **extra}
        return self.request("POST", f"{self.base}/generateMap", params={"api-version": API}, json=body)


@pytest.fixture
def sample(sample_scenario: Scenario) -> Scenario:
    """The session's sample scenario (``tests/conftest.py``), by the short name these tests use."""
    return sample_scenario


@pytest.fixture
def emu(sample_emu: Emulator) -> Emulator:
    """A running sample emulator (``tests/conftest.py``), by the short name these tests use."""
    return sample_emu


@pytest.fixture
def client(emu: Emulator) -> Client:
    return Client(emu)
