"""Which certificates TLS trusts: the standard CA-bundle variables, else certifi's bundle.

A network that inspects TLS re-signs every site with its own root certificate;
naming a PEM file that holds it (usually the company's bundle) makes the
exchange's certificate check pass again. The first variable set wins:

``REQUESTS_CA_BUNDLE``  as requests reads it (a PEM file, or a folder of hashed certificates)
``CURL_CA_BUNDLE``      as curl and requests read it
``SSL_CERT_FILE``       OpenSSL's own variable (a PEM file)
``SSL_CERT_DIR``        OpenSSL's folder of hashed certificates

With none of them, certifi's bundle is used (the system's if certifi is
missing). The bundle named is the whole trust: the built-in roots are not
added to it. Host names are always checked (the exchange's, also through a
proxy's CONNECT tunnel). A variable naming a file that is missing or holds no
certificate is a one-line :class:`~loan_widgets.errors.ConfigurationError`
before anything is sent. The context is built once per client, on its first
``https://`` connection.
"""

from __future__ import annotations

import os
import re
import ssl

from .errors import ConfigurationError

__all__ = ["CA_VARIABLES", "context"]

CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
"""Read in this order; the first one set (not empty) names the certificates to trust."""


def context() -> tuple[ssl.SSLContext, str]:
    """A verifying TLS context and where its certificates came from (for messages)."""
    for name in CA_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value:
            return _from(name, os.path.expanduser(value)), f"{name}={value}"
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi is a declared dependency
        return ssl.create_default_context(), "the system's certificates"
    return ssl.create_default_context(cafile=certifi.where()), "certifi's bundle"


def _from(name: str, path: str) -> ssl.SSLContext:
    folder = os.path.isdir(path)
    try:
        if folder:
            made = ssl.create_default_context(capath=path)
        else:
            made = ssl.create_default_context(cafile=path)
    except FileNotFoundError:
        raise ConfigurationError(
            f"{name}={path}: no such file; set it to a PEM file of the certificates to trust "
            "(nothing was sent)"
        ) from None
    except (OSError, ssl.SSLError, ValueError) as error:
        reason = " ".join(re.sub(r"\s*\(_ssl\.c:\d+\)", "", str(error)).split())[:120]
        raise ConfigurationError(
            f"{name}={path} cannot be used as a CA bundle ({reason}): it must be a PEM file "
            "of certificates (nothing was sent)"
        ) from None
    return made
