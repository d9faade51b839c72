"""Name what went wrong on the network: TLS, DNS, proxy or connection, with what to check.

Every client library wraps the real cause (msal in azure-core in requests in urllib3 in ssl),
and the outer message is usually the least useful one: azure-identity turns a certificate that
does not verify into "Authentication failed". This module walks the chain of causes and says
which of the four failures it was, for which URL, and what the administrator can change.
"""

from __future__ import annotations

from collections.abc import Iterator

_PROXY_VARIABLES = "HTTPS_PROXY / HTTP_PROXY / NO_PROXY"

#: (kind, words that mark it in a cause's type name or text, what to check)
_KINDS = (
    ("TLS", ("CERTIFICATE_VERIFY_FAILED", "SSLError", "SSLCertVerificationError", "certificate verify failed",
             "WRONG_VERSION_NUMBER", "TLSV1_ALERT"),
     "the server's certificate did not verify: if a proxy or a private CA inspects TLS, point REQUESTS_CA_BUNDLE "
     "at its CA bundle (PEM); verification is never switched off"),
    ("proxy", ("ProxyError", "Unable to connect to proxy", "Tunnel connection failed"),
     f"the proxy refused or failed the connection: check {_PROXY_VARIABLES}"),
    ("DNS", ("NameResolutionError", "Failed to resolve", "Name or service not known", "getaddrinfo failed",
             "nodename nor servname", "Temporary failure in name resolution"),
     f"the host name did not resolve: check the URL's host and DNS, or {_PROXY_VARIABLES} if the machine must "
     f"go through a proxy"),
    ("connection", ("Connection refused", "ConnectTimeout", "timed out", "Network is unreachable",
                    "Connection reset", "NewConnectionError", "RemoteDisconnected", "Max retries exceeded"),
     f"nothing answered: check the URL, firewalls, and {_PROXY_VARIABLES}"),
)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(c for c in (current.__cause__, current.__context__, getattr(current, "inner_exception", None),
                                getattr(current, "reason", None)) if isinstance(c, BaseException))


def network_failure(exc: BaseException, url: str) -> str | None:
    """``"TLS failure reaching https://…: <detail>; <what to check>"``, or None when ``exc`` is no
    network failure (an answer the service gave, a refused secret)."""
    causes = list(_causes(exc))
    for kind, marks, advice in _KINDS:
        for cause in reversed(causes):  # the innermost cause says it best
            text = f"{type(cause).__name__} {cause}"
            if any(mark in text for mark in marks):
                detail = " ".join(str(cause).split())[:300]
                return f"{kind} failure reaching {url}: {detail}; {advice}"
    return None
