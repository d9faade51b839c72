"""Throw-away PKI for the emulator: a CA, a TLS server certificate and a client certificate.

azure-identity and msal refuse plain http, so the emulator needs TLS that clients can verify
against a CA file. A separate CA and leaf (rather than one self-signed certificate) is what
strict X.509 checks in newer Pythons accept. The client certificate is the one registered
for the emulated app registration, for ``CertificateCredential``; msal signs assertions with
RS256/PS256, so that key is RSA.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_VALIDITY = timedelta(days=7)


@dataclass(frozen=True)
class Pki:
    """Where the PEM files are, and the client certificate for verifying assertions."""

    ca_path: Path
    server_cert_path: Path
    server_key_path: Path
    client_pem_path: Path
    client_certificate: x509.Certificate


@functools.lru_cache(maxsize=1)
def _client_key() -> rsa.RSAPrivateKey:
    """One RSA key per process: generating it is most of an emulator's start-up time, and tests
    start many emulators. Each emulator still gets its own CA and certificates."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "servicemap-sync emulator"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: str, issuer: x509.Name, public_key: object, now: datetime) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())  # type: ignore[arg-type]
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + _VALIDITY))


def _key_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _san(host: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            names.append(x509.DNSName(host))
    else:
        if str(address) != "127.0.0.1":
            names.append(x509.IPAddress(address))
    return names


def make_pki(directory: Path, host: str, client_id: str) -> Pki:
    """Create the CA, the server certificate for ``host`` and the client certificate in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.now(timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("servicemap-sync emulator CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (_builder("servicemap-sync emulator CA", ca_name, ca_key.public_key(), now)
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False,
                                            data_encipherment=False, key_agreement=False, encipher_only=False,
                                            decipher_only=False), critical=True)
               .add_extension(ca_ski, critical=False)
               .sign(ca_key, hashes.SHA256()))
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (_builder(host, ca_name, server_key.public_key(), now)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.SubjectAlternativeName(_san(host)), critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
                   .add_extension(aki, critical=False)
                   .sign(ca_key, hashes.SHA256()))

    client_key = _client_key()
    client_cert = (_builder(f"app {client_id}", ca_name, client_key.public_key(), now)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                   .add_extension(aki, critical=False)
                   .sign(ca_key, hashes.SHA256()))

    pem = serialization.Encoding.PEM
    pki = Pki(ca_path=directory / "ca.pem", server_cert_path=directory / "server.pem",
              server_key_path=directory / "server-key.pem", client_pem_path=directory / "client.pem",
              client_certificate=client_cert)
    pki.ca_path.write_bytes(ca_cert.public_bytes(pem))
    pki.server_cert_path.write_bytes(server_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    _write_private(pki.server_key_path, _key_pem(server_key))
    _write_private(pki.client_pem_path, _key_pem(client_key) + client_cert.public_bytes(pem))
    return pki
