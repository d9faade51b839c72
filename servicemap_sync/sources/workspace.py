"""Resolve the Log Analytics workspace with azure-mgmt-loganalytics before anything else.

Resolving first turns a typo in the workspace name or a missing role assignment into one
clear start-up error instead of a failure per server.
"""

from __future__ import annotations

from azure.core.credentials import TokenCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from ..config import AzureSettings
from ..errors import WorkspaceError
from ..model import Workspace
from .auth import auth_error
from .network import network_failure


def resolve_workspace(credential: TokenCredential, azure: AzureSettings) -> Workspace:
    """Look the configured workspace up through ARM.

    Raises:
        AuthError: the credential could not get a token.
        WorkspaceError: the workspace does not exist or the principal may not read it.
    """
    from azure.mgmt.loganalytics import LogAnalyticsManagementClient

    options: dict[str, object] = {"base_url": azure.resource_manager_url, "credential_scopes": [azure.arm_scope],
                                  "retry_total": 3}
    if azure.ca_bundle:
        options["connection_verify"] = azure.ca_bundle
    where = (f"workspace '{azure.workspace_name}' in resource group '{azure.resource_group}' "
             f"of subscription {azure.subscription_id}")
    try:
        with LogAnalyticsManagementClient(credential, azure.subscription_id, **options) as client:
            ws = client.workspaces.get(azure.resource_group, azure.workspace_name)
    except ClientAuthenticationError as exc:
        if getattr(exc, "status_code", None) in (401, 403):
            raise _forbidden(azure, where) from None
        raise auth_error(azure, exc) from None
    except HttpResponseError as exc:
        if exc.status_code == 404:
            raise WorkspaceError(
                f"{where} not found: check azure.subscription_id, azure.resource_group and azure.workspace_name"
            ) from None
        if exc.status_code == 403:
            raise _forbidden(azure, where) from None
        raise WorkspaceError(f"cannot read {where}: HTTP {exc.status_code} {exc.reason}") from None
    except ServiceRequestError as exc:
        failure = network_failure(exc, azure.resource_manager_url)
        raise WorkspaceError(f"cannot read {where}: {failure or exc}") from None
    return Workspace(
        subscription_id=azure.subscription_id,
        resource_group=azure.resource_group,
        name=ws.name or azure.workspace_name,
        id=ws.id or "",
        customer_id=getattr(ws, "customer_id", None),
        location=ws.location,
    )


def _forbidden(azure: AzureSettings, where: str) -> WorkspaceError:
    return WorkspaceError(
        f"service principal {azure.client_id} may not read {where}: assign it the 'Log Analytics Reader' "
        f"role (or another role with Microsoft.OperationalInsights/workspaces/read and "
        f"workspaces/features/serviceMap read) on the workspace or its resource group"
    )
