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
from .network import network_failure

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
    """Translate a credential failure into an :class:`AuthError` that is safe to print.

    A network failure (TLS, DNS, proxy, connection) is named as such with what to check: the
    credential library reports it as a refused sign-in. A refusal names the secret's source.
    """
    failure = network_failure(exc, azure.authority_host)
    if failure is not None:
        return AuthError(f"sign-in for client {azure.client_id} did not reach Entra ID: {_scrub(failure, azure)}")
    detail = str(getattr(exc, "message", None) or exc)
    if isinstance(exc, ServiceRequestError) and not isinstance(exc, ClientAuthenticationError):
        return AuthError(f"sign-in for client {azure.client_id} did not reach {azure.authority_host}: "
                         f"{_scrub(detail, azure)}")
    return AuthError(
        f"sign-in failed for client {azure.client_id} in tenant {azure.tenant_id}: Entra ID refused the sign-in "
        f"({refusal(exc)}). "
        f"The secret came from {azure.secret_source}. Check azure.tenant_id, azure.client_id and that secret "
        f"(or certificate), and azure.authority_host"
    )


#: the refusals an administrator meets most, in their words
_AADSTS_HINTS = {
    "AADSTS7000215": "the client secret is wrong (give the secret's value, not its ID)",
    "AADSTS7000222": "the client secret has expired: create a new one in the app registration",
    "AADSTS700016": "no application with this client id in the tenant",
    "AADSTS90002": "no such tenant",
    "AADSTS700027": "the certificate does not match one registered for the app",
}


def refusal(exc: Exception) -> str:
    """Entra ID's reason for refusing a token: its AADSTS code and, for the usual ones, what it means."""
    detail = str(getattr(exc, "message", None) or exc)
    code = next((word.rstrip(":,.'") for word in detail.split() if word.startswith("AADSTS")), None)
    return f"{code or 'no AADSTS code'}{': ' + _AADSTS_HINTS[code] if code in _AADSTS_HINTS else ''}"


def get_token(credential: TokenCredential, azure: AzureSettings, **options: str) -> AccessToken:
    """One token for ARM, with failures translated (the first call is where a bad secret shows);
    ``options`` go to the credential (``claims=`` asks past its cache)."""
    try:
        return credential.get_token(azure.arm_scope, **options)
    except (ClientAuthenticationError, ServiceRequestError, ValueError) as exc:
        raise auth_error(azure, exc) from None


def _scrub(text: str, azure: AzureSettings) -> str:
    return text.replace(azure.client_secret, "***") if azure.client_secret else text
