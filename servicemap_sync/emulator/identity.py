"""The emulated Entra ID tenant: OIDC discovery and the v2.0 client-credentials token endpoint.

It accepts exactly one app registration (client id + secret, or an assertion signed with the
registered certificate) and hands out opaque random bearer tokens that the ARM side checks.
The secret is compared in constant time and never logged, recorded or echoed.
"""

from __future__ import annotations

import base64
import hmac
import logging
import secrets
import threading
import time
import uuid
from datetime import datetime, timezone

import jwt
from cryptography import x509

logger = logging.getLogger(__name__)

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def aad_error(error: str, code: int, message: str) -> dict:
    """Entra ID's error body: ``error``, ``error_description`` (starting ``AADSTSnnnn:``), ``error_codes``…"""
    trace = str(uuid.uuid4())
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {message}\r\nTrace ID: {trace}",
        "error_codes": [code],
        "timestamp": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ"),
        "trace_id": trace,
        "correlation_id": str(uuid.uuid4()),
    }


class Identity:
    """One tenant with one confidential client, and the tokens issued to it. Thread-safe."""

    def __init__(self, *, tenant_id: str, client_id: str, client_secret: str, certificate: x509.Certificate,
                 token_lifetime: int) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._secret = client_secret
        self._secret_revoked = False
        self._certificate = certificate
        self._lifetime = token_lifetime
        self._tokens: dict[str, tuple[float, str]] = {}  # token -> (expiry, audience)
        self._lock = threading.Lock()
        self.issued = 0

    # -- administration -----------------------------------------------------------------------
    def revoke_secret(self) -> None:
        """From now on the secret is refused (``AADSTS7000222``); tokens already issued stay valid."""
        self._secret_revoked = True

    def expire_tokens(self) -> None:
        """Every token issued so far is expired from now on."""
        with self._lock:
            self._tokens = {token: (0.0, audience) for token, (_expiry, audience) in self._tokens.items()}

    # -- endpoints ----------------------------------------------------------------------------
    def known_tenant(self, tenant: str) -> bool:
        return tenant.lower() == self.tenant_id.lower()

    def unknown_tenant(self, tenant: str) -> tuple[int, dict]:
        return 400, aad_error("invalid_request", 90002,
                              f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.")

    def openid_configuration(self, base_url: str) -> dict:
        """The discovery document msal reads before its first token request."""
        root = f"{base_url}/{self.tenant_id}"
        return {
            "issuer": f"{root}/v2.0",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid"],
            "tenant_region_scope": None,
            "cloud_instance_name": "emulator",
        }

    def token(self, form: dict[str, list[str]], authorization: str | None, token_url: str) -> tuple[int, dict]:
        """Answer a POST to the token endpoint: ``(status, body)``."""
        field = {k: v[0] for k, v in form.items() if v}
        if field.get("grant_type") != "client_credentials":
            return 400, aad_error("unsupported_grant_type", 70003,
                                  "The app requested an unsupported grant type; only client_credentials is served.")
        scopes = field.get("scope", "").split()
        if not scopes or not all(s.endswith("/.default") for s in scopes if s not in ("openid", "profile",
                                                                                        "offline_access")):
            return 400, aad_error("invalid_scope", 1002012,
                                  "The provided value for scope is not valid. Client credential flows must have a "
                                  "scope value with /.default suffixed to the resource identifier.")
        client_id, secret = field.get("client_id"), field.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return 400, aad_error("invalid_request", 900144, "Malformed HTTP Basic client authentication.")
        if client_id != self.client_id:
            return 401, aad_error("invalid_client", 7000215,
                                  "Invalid client secret provided. Ensure the secret being sent in the request is "
                                  "the client secret value, not the client secret ID, for a secret added to app "
                                  f"'{client_id}'.")
        if "client_assertion" in field:
            problem = self._check_assertion(field, token_url)
        elif secret is not None:
            problem = self._check_secret(secret)
        else:
            problem = (401, aad_error("invalid_client", 7000218, "The request body must contain the following "
                                      "parameter: 'client_assertion' or 'client_secret'."))
        if problem:
            return problem
        access_token = secrets.token_urlsafe(32)
        audience = next((s[: -len("/.default")] for s in scopes if s.endswith("/.default")), "")
        with self._lock:
            self._tokens[access_token] = (time.time() + self._lifetime, audience)
            self.issued += 1
        logger.debug("issued a token to %s (lifetime %ss)", self.client_id, self._lifetime)
        return 200, {"token_type": "Bearer", "expires_in": self._lifetime, "ext_expires_in": self._lifetime,
                     "access_token": access_token}

    def _check_secret(self, secret: str) -> tuple[int, dict] | None:
        if not hmac.compare_digest(secret.encode(), self._secret.encode()):
            return 401, aad_error("invalid_client", 7000215,
                                  "Invalid client secret provided. Ensure the secret being sent in the request is "
                                  f"the client secret value, not the client secret ID, for a secret added to app "
                                  f"'{self.client_id}'.")
        if self._secret_revoked:
            return 401, aad_error("invalid_client", 7000222,
                                  f"The provided client secret keys for app '{self.client_id}' are expired.")
        return None

    def _check_assertion(self, field: dict[str, str], token_url: str) -> tuple[int, dict] | None:
        if field.get("client_assertion_type") != JWT_BEARER:
            return 400, aad_error("invalid_request", 50027, f"client_assertion_type must be {JWT_BEARER}.")
        try:
            claims = jwt.decode(field["client_assertion"], self._certificate.public_key(),  # type: ignore[arg-type]
                                algorithms=["RS256", "PS256"], audience=token_url,
                                options={"require": ["exp", "iss", "sub", "aud"]}, leeway=60)
        except jwt.PyJWTError as exc:
            return 401, aad_error("invalid_client", 700027, f"Client assertion failed signature validation: {exc}")
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id:
            return 401, aad_error("invalid_client", 700023,
                                  "Client assertion audience claim does not match Realm issuer / subject.")
        return None

    def check(self, token: str | None, audience: str | None = None) -> str | None:
        """``None`` if ``token`` is valid now (and, if ``audience`` is given, was issued for it),
        else ``missing``, ``invalid``, ``expired`` or ``for another audience``."""
        if not token:
            return "missing"
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None:
            return "invalid"
        if issued[0] <= time.time():
            return "expired"
        if audience is not None and issued[1].rstrip("/") != audience.rstrip("/"):
            return "for another audience"
        return None
