"""A TLS server on 127.0.0.1 whose certificate only a test CA vouches for.

:func:`make_pki` writes a test root CA and a server certificate it signs
(``cryptography``, P-256 keys) into a folder. :class:`TlsFront` accepts TLS
connections with that certificate (the ``ssl`` module, server side) and relays
the decrypted bytes to a plain-HTTP server on loopback (the sandbox), so a
client speaking ``https://localhost:PORT`` talks to the real sandbox through
a real TLS handshake. ``handshakes`` counts the handshakes that succeeded,
``refused`` those that failed (e.g. the client did not trust the CA).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import select
import socket
import socketserver
import ssl
from dataclasses import dataclass
from pathlib import Path

from .loopback import LoopbackServer

__all__ = ["Pki", "TlsFront", "make_pki"]


@dataclass(frozen=True)
class Pki:
    """Where the test CA's certificate and the server's certificate and key are (PEM)."""

    ca: Path
    cert: Path
    key: Path


def make_pki(folder: Path, names: tuple[str, ...] = ("localhost", "127.0.0.1")) -> Pki:
    """A test root CA and a server certificate for ``names`` (host names or IPs) it signs."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "loan_widgets test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                       critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    pki.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pki.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return pki


class _Handler(socketserver.BaseRequestHandler):
    server: TlsFront

    def handle(self) -> None:
        srv = self.server
        try:
            near = srv.context.wrap_socket(self.request, server_side=True)
        except (ssl.SSLError, OSError):
            with srv.lock:
                srv.refused += 1
            return
        with srv.lock:
            srv.handshakes += 1
        far = socket.create_connection(srv.upstream, timeout=5)
        try:
            while not srv.stopping.is_set():
                ready = [near] if near.pending() else select.select([near, far], [], [], 0.05)[0]
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (far if sock is near else near).sendall(data)
        except OSError:
            return
        finally:
            far.close()
            near.close()


class TlsFront(LoopbackServer):
    """TLS on 127.0.0.1 (the given certificate), relaying to ``upstream`` in plain HTTP."""

    def __init__(self, pki: Pki, upstream: tuple[str, int]) -> None:
        super().__init__(_Handler)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(pki.cert, pki.key)
        self.upstream = upstream
        self.handshakes = 0
        self.refused = 0
