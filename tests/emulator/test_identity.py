"""The emulated Entra ID, driven by the real azure-identity / msal and by raw form posts."""

from __future__ import annotations

import json

import jwt
import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential
from cryptography.hazmat.primitives.asymmetric import rsa

from servicemap_sync.emulator import Emulator

from .conftest import SCOPE, Client, secret_credential


def test_client_secret_credential_gets_a_token_the_arm_side_accepts(emu: Emulator, client: Client) -> None:
    token = secret_credential(emu).get_token(SCOPE)
    assert token.token
    assert client.request("GET", client.workspace_url, token=token.token,
                          params={"api-version": "2025-07-01"}).status_code == 200
    assert emu.stats()["tokens_issued"] == 1
    assert [r.operation for r in emu.requests][:2] == ["discovery", "token"]


def test_certificate_credential_gets_a_token(emu: Emulator) -> None:
    cred = CertificateCredential(emu.tenant_id, emu.client_id, certificate_path=str(emu.certificate_path),
                                 authority=emu.url, disable_instance_discovery=True,
                                 connection_verify=str(emu.ca_path))
    assert cred.get_token(SCOPE).token
    assert emu.stats()["tokens_issued"] == 1


def test_assertion_signed_by_another_key_is_refused(emu: Emulator, client: Client) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token_url = f"{emu.url}/{emu.tenant_id}/oauth2/v2.0/token"
    assertion = jwt.encode({"iss": emu.client_id, "sub": emu.client_id, "aud": token_url, "exp": 4102444800,
                            "jti": "x"}, stranger, algorithm="RS256")
    response = client.http.post(token_url, data={
        "grant_type": "client_credentials", "client_id": emu.client_id, "scope": SCOPE,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion}, verify=emu.ca_path, timeout=10)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_wrong_secret_fails_with_invalid_client_and_is_never_echoed(emu: Emulator, client: Client) -> None:
    wrong = "not-the-secret-" + "x" * 25
    with pytest.raises(ClientAuthenticationError) as caught:
        secret_credential(emu, wrong).get_token(SCOPE)
    assert "AADSTS7000215" in str(caught.value)
    response = client.token_response(client_secret=wrong)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.json()["error_codes"] == [7000215]
    assert wrong not in response.text and emu.client_secret not in response.text
    assert all(wrong not in json.dumps(r.__dict__, default=str) for r in emu.requests)
    assert all(r.json_body is None for r in emu.requests if r.operation == "token")


def test_wrong_client_id_fails_with_invalid_client(emu: Emulator, client: Client) -> None:
    response = client.token_response(client_id="00000000-0000-0000-0000-00000000dead")
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert "AADSTS7000215" in response.json()["error_description"]


def test_unknown_tenant_is_refused_at_discovery_and_token(emu: Emulator, client: Client) -> None:
    other = "11111111-2222-3333-4444-555555555555"
    discovery = client.http.get(f"{emu.url}/{other}/v2.0/.well-known/openid-configuration", verify=emu.ca_path,
                                timeout=10)
    token = client.http.post(f"{emu.url}/{other}/oauth2/v2.0/token", data={"grant_type": "client_credentials"},
                             verify=emu.ca_path, timeout=10)
    for response in (discovery, token):
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"
        assert response.json()["error_description"].startswith("AADSTS90002:")


def test_scope_must_end_with_default(client: Client) -> None:
    response = client.token_response(scope="https://management.azure.com/user_impersonation")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_scope")


def test_successful_token_response_shape(emu: Emulator) -> None:
    with Emulator(emu.scenario, token_lifetime=1234) as short:
        body = Client(short).token_response().json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 1234 and body["ext_expires_in"] == 1234
    assert isinstance(body["access_token"], str) and len(body["access_token"]) >= 32


def test_revoked_secret_refuses_new_tokens_but_keeps_old_ones(emu: Emulator, client: Client) -> None:
    old_token = client.token
    emu.revoke_secret()
    with pytest.raises(ClientAuthenticationError) as caught:
        secret_credential(emu).get_token(SCOPE)
    assert "AADSTS7000222" in str(caught.value)
    assert client.request("GET", client.workspace_url, token=old_token,
                          params={"api-version": "2025-07-01"}).status_code == 200


def test_discovery_document_points_at_the_emulator(emu: Emulator, client: Client) -> None:
    doc = client.http.get(f"{emu.url}/{emu.tenant_id}/v2.0/.well-known/openid-configuration", verify=emu.ca_path,
                          timeout=10).json()
    for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
        assert doc[key].startswith(f"{emu.url}/{emu.tenant_id}/")
    assert doc["token_endpoint"] == f"{emu.url}/{emu.tenant_id}/oauth2/v2.0/token"
    assert "private_key_jwt" in doc["token_endpoint_auth_methods_supported"]
    assert doc["response_types_supported"] and doc["id_token_signing_alg_values_supported"]


def test_explicit_secret_is_used_and_generated_ones_differ(sample) -> None:
    with Emulator(sample, client_secret="given-secret") as given:
        assert given.client_secret == "given-secret"
        assert Client(given).token_response().status_code == 200
    with Emulator(sample) as first, Emulator(sample) as second:
        assert first.client_secret != second.client_secret
        assert len(first.client_secret) == 40
