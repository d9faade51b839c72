"""Sign-in and workspace resolution: the errors a user sees, with the real azure libraries."""

from __future__ import annotations

import dataclasses

import pytest

from servicemap_sync.errors import AuthError, WorkspaceError
from servicemap_sync.sources.servicemap.session import open_session


def test_certificate_sign_in_works(sample_emu, make_settings) -> None:
    settings = make_settings(sample_emu)
    azure = dataclasses.replace(settings.azure, client_secret=None, certificate_path=sample_emu.certificate_path)
    with open_session(dataclasses.replace(settings, azure=azure)) as session:
        assert session.workspace.name == sample_emu.workspace_name
    token_requests = [r for r in sample_emu.requests if r.operation == "token"]
    assert token_requests and all(r.status == 200 for r in token_requests)


@pytest.mark.parametrize("field, value", [("client_secret", "not-the-secret~x"), ("tenant_id", "0badbad0-0000-0000-0000-000000000000")])
def test_wrong_secret_or_tenant_names_tenant_and_client_never_the_secret(sample_emu, make_settings, field, value) -> None:
    settings = make_settings(sample_emu)
    azure = dataclasses.replace(settings.azure, **{field: value})
    with pytest.raises(AuthError) as err:
        with open_session(dataclasses.replace(settings, azure=azure)):
            pass
    message = str(err.value)
    assert azure.tenant_id in message and azure.client_id in message
    assert "not-the-secret" not in message and sample_emu.client_secret not in message
    assert "AADSTS" in message


def test_missing_workspace_names_it_and_what_to_check(sample_emu, make_settings) -> None:
    settings = make_settings(sample_emu)
    azure = dataclasses.replace(settings.azure, workspace_name="law-typo")
    with pytest.raises(WorkspaceError) as err:
        with open_session(dataclasses.replace(settings, azure=azure)):
            pass
    assert "law-typo" in str(err.value) and "azure.workspace_name" in str(err.value)
    assert not [r for r in sample_emu.requests if r.operation in ("machines", "generateMap")]


def test_forbidden_workspace_names_the_role_to_assign(sample_emu, make_settings) -> None:
    sample_emu.forbid_workspace()
    with pytest.raises(WorkspaceError) as err:
        with open_session(make_settings(sample_emu)):
            pass
    assert sample_emu.workspace_name in str(err.value) and "Log Analytics Reader" in str(err.value)
    assert sample_emu.client_id in str(err.value)
