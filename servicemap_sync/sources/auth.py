"""Sign-in as an Entra ID service principal with azure-identity.

The credential is built here and passed in to every client (Azure SDK guideline: clients never
build credentials). Errors are rewritten to name the tenant and client id and what to check;
the secret never appears in them, even if a library echoed it.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError

from ..config import AzureSettings
from ..errors import AuthError

#: Entra ID hosts that answer instance discovery; any other authority (a private cloud, the
#: emulator) must skip it or msal calls out to the public cloud.
KNOWN_AUTHORITY_HOSTS = frozenset(
    {"login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn", "login.partner.microsoftonline.cn"}
)


def build_credential(azure: AzureSettings) -> TokenCredential:
    """A client-secret or certificate credential for the configured service principal.

    Raises:
        AuthError: the certificate cannot be loaded.
    """
    from azure.identity import CertificateCredential, ClientSecretCredential

    options = {
        "authority": azure.authority_host,
        "disable_instance_discovery": urlsplit(azure.authority_host).hostname not in KNOWN_AUTHORITY_HOSTS,
    }
    if azure.ca_bundle:
        options["connection_verify"] = azure.ca_bundle
    if azure.certificate_path is not None:
        try:
            credential: TokenCredential = CertificateCredential(
                azure.tenant_id, azure.client_id, str(azure.certificate_path), **options
            )
        except (OSError, ValueError) as exc:
            raise AuthError(
                f"cannot load certificate {azure.certificate_path} for client {azure.client_id}: {exc}; "
                f"azure.certificate_path must be a PEM or PKCS12 file holding the private key and certificate"
            ) from None
        return credential
    if not azure.client_secret:
        raise AuthError(f"no client secret for client {azure.client_id}: set AZURE_CLIENT_SECRET")
    return ClientSecretCredential(azure.tenant_id, azure.client_id, azure.client_secret, **options)


def auth_error(azure: AzureSettings, exc: Exception) -> AuthError:
    """Translate a credential failure into an :class:`AuthError` that is safe to print."""
    detail = str(getattr(exc, "message", None) or exc)
    code = next((word.rstrip(":,.") for word in detail.split() if word.startswith("AADSTS")), None)
    if isinstance(exc, ServiceRequestError) and not isinstance(exc, ClientAuthenticationError):
        reason = f"cannot reach {azure.authority_host}: {_scrub(detail, azure)}"
    else:
        reason = f"Entra ID refused the sign-in ({code or 'no AADSTS code'})"
    return AuthError(
        f"sign-in failed for client {azure.client_id} in tenant {azure.tenant_id}: {reason}. "
        f"Check azure.tenant_id, azure.client_id and the client secret (AZURE_CLIENT_SECRET or "
        f"azure.client_secret_file) or certificate, and azure.authority_host"
    )


def get_token(credential: TokenCredential, azure: AzureSettings, **options: str) -> AccessToken:
    """One token for ARM, with failures translated (the first call is where a bad secret shows);
    ``options`` go to the credential (``claims=`` asks past its cache)."""
    try:
        return credential.get_token(azure.arm_scope, **options)
    except (ClientAuthenticationError, ServiceRequestError, ValueError) as exc:
        raise auth_error(azure, exc) from None


def _scrub(text: str, azure: AzureSettings) -> str:
    return text.replace(azure.client_secret, "***") if azure.client_secret else text
