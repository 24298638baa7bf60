"""Bybit V5 request signing: pure functions over the exact bytes sent.

The string to sign is ``timestamp + api_key + recv_window + payload`` where
the payload is the raw JSON body of a POST or the query string of a GET,
byte for byte as it goes on the wire. System-generated keys sign it with
HMAC-SHA256 (lowercase hex); self-generated RSA keys with
RSASSA-PKCS1-v1_5 / SHA-256 (standard base64).

The sandbox exchange verifies with the same functions, so the fixed vectors
in ``tests/fixtures/signing-vectors.json`` pin both sides.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey


class Signer(Protocol):
    """What :func:`sign_headers` needs: the API key, and a signature over exact bytes."""

    api_key: str

    def sign(self, message: bytes) -> str:
        """Sign ``message`` (HMAC-SHA256 hex or RSA base64)."""
        ...

__all__ = [
    "SIGN_TYPE",
    "Signer",
    "hmac_signature",
    "load_private_key",
    "load_public_key",
    "rsa_signature",
    "sign_headers",
    "string_to_sign",
    "verify_hmac",
    "verify_rsa",
]

SIGN_TYPE = "2"


def string_to_sign(timestamp: str, api_key: str, recv_window: str, payload: str) -> bytes:
    """The exact bytes Bybit signs: the four parts joined with no separator."""
    return (timestamp + api_key + recv_window + payload).encode("utf-8")


def hmac_signature(secret: str, message: bytes) -> str:
    """HMAC-SHA256 of ``message`` keyed by ``secret``, lowercase hex."""
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify_hmac(secret: str, message: bytes, signature: str) -> bool:
    """Constant-time check of an HMAC signature."""
    return hmac.compare_digest(hmac_signature(secret, message), signature)


def load_private_key(pem: bytes | str) -> RSAPrivateKey:
    """Parse a PEM RSA private key (PKCS#1 or PKCS#8, unencrypted)."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    data = pem.encode("ascii") if isinstance(pem, str) else pem
    key = load_pem_private_key(data, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the private key is not an RSA key")
    return key


def load_public_key(pem: bytes | str) -> RSAPublicKey:
    """Parse a PEM RSA public key."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    data = pem.encode("ascii") if isinstance(pem, str) else pem
    key = load_pem_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("the public key is not an RSA key")
    return key


def rsa_signature(private_key: RSAPrivateKey, message: bytes) -> str:
    """RSASSA-PKCS1-v1_5 / SHA-256 signature of ``message``, standard base64."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    raw = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def verify_rsa(public_key: RSAPublicKey, message: bytes, signature: str) -> bool:
    """Check an RSA signature made by :func:`rsa_signature`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def sign_headers(
    credentials: Signer, timestamp_ms: int, recv_window: int, payload: str
) -> dict[str, str]:
    """The ``X-BAPI-*`` headers for ``payload``, the exact body or query sent."""
    timestamp = str(timestamp_ms)
    window = str(recv_window)
    message = string_to_sign(timestamp, credentials.api_key, window, payload)
    return {
        "X-BAPI-API-KEY": credentials.api_key,
        "X-BAPI-TIMESTAMP": timestamp,
        "X-BAPI-SIGN": credentials.sign(message),
        "X-BAPI-RECV-WINDOW": window,
        "X-BAPI-SIGN-TYPE": SIGN_TYPE,
    }
