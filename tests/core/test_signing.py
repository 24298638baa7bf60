"""Signing is pinned by recorded vectors, not by recomputing it the way the code does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import FIXTURES

from loan_widgets.credentials import Credentials
from loan_widgets.signing import (
    load_private_key,
    load_public_key,
    sign_headers,
    string_to_sign,
    verify_hmac,
    verify_rsa,
)

VECTORS = json.loads((FIXTURES / "signing-vectors.json").read_text())
HMAC = VECTORS["hmac"]
RSA = VECTORS["rsa"]


def _credentials(vector: dict[str, str]) -> Credentials:
    if "secret" in vector:
        return Credentials(vector["api_key"], vector["secret"])
    return Credentials(vector["api_key"], private_key=vector["private_key_pem"])


class TestVectors:
    """Every fixed vector gives the recorded signature, header for header."""

    @pytest.mark.parametrize("vector", HMAC, ids=[v["name"] for v in HMAC])
    def test_hmac_vector(self, vector: dict[str, str]) -> None:
        """HMAC-SHA256 hex of timestamp+key+recv_window+payload matches the vector."""
        headers = sign_headers(
            _credentials(vector),
            int(vector["timestamp"]),
            int(vector["recv_window"]),
            vector["payload"],
        )
        assert headers["X-BAPI-SIGN"] == vector["sign"]
        assert headers["X-BAPI-TIMESTAMP"] == vector["timestamp"]
        assert headers["X-BAPI-RECV-WINDOW"] == vector["recv_window"]
        assert headers["X-BAPI-API-KEY"] == vector["api_key"]
        assert headers["X-BAPI-SIGN-TYPE"] == "2"

    @pytest.mark.parametrize("vector", RSA, ids=[v["name"] for v in RSA])
    def test_rsa_vector(self, vector: dict[str, str]) -> None:
        """RSASSA-PKCS1-v1_5/SHA-256 base64 matches the vector (PKCS#1 v1.5 is deterministic)."""
        headers = sign_headers(
            _credentials(vector),
            int(vector["timestamp"]),
            int(vector["recv_window"]),
            vector["payload"],
        )
        assert headers["X-BAPI-SIGN"] == vector["sign"]

    @pytest.mark.parametrize("vector", RSA, ids=[v["name"] for v in RSA])
    def test_rsa_vector_verifies_with_public_key(self, vector: dict[str, str]) -> None:
        """The recorded RSA signature verifies against the recorded public key."""
        message = string_to_sign(
            vector["timestamp"], vector["api_key"], vector["recv_window"], vector["payload"]
        )
        public = load_public_key(vector["public_key_pem"])
        assert verify_rsa(public, message, vector["sign"])
        assert not verify_rsa(public, message + b" ", vector["sign"])

    @pytest.mark.parametrize("vector", RSA, ids=[v["name"] for v in RSA])
    def test_private_key_pairs_with_recorded_public_key(self, vector: dict[str, str]) -> None:
        """The recorded private PEM loads to the key whose public half is the recorded one."""
        private = load_private_key(vector["private_key_pem"])
        public = load_public_key(vector["public_key_pem"].encode("ascii"))
        assert private.public_key().public_numbers() == public.public_numbers()

    def test_private_key_must_be_rsa(self) -> None:
        """An EC private key is refused by name, not used to sign."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        with pytest.raises(ValueError, match="not an RSA key"):
            load_private_key(pem)

    def test_doc_vector_table(self) -> None:
        """The API reference's own table: the borrow body signed with the test key."""
        creds = Credentials("TESTAPIKEY12345678", "TESTSECRETTESTSECRETTESTSECRET123456")
        body = '{"loanCurrency":"USDT","loanAmount":"550","collateralCurrency":"BTC"}'
        assert sign_headers(creds, 1728629356551, 5000, body)["X-BAPI-SIGN"] == (
            "427b40784606e9dd0da2dbee9dd8d08bb124d7a173426e466832a5039b77605c"
        )
        assert (
            sign_headers(creds, 1728630979731, 5000, "orderId=1793683005081680384")["X-BAPI-SIGN"]
            == "34da65782fc23e3471a9e20c537b39cd1f4046d3c966cc8427a9646eb59266cf"
        )


class TestStringToSign:
    """The string to sign is the four parts joined with nothing between them."""

    def test_parts_are_concatenated(self) -> None:
        """No separators, payload last, UTF-8 bytes."""
        assert string_to_sign("1", "K", "5000", "a=b") == b"1K5000a=b"

    def test_one_byte_changes_the_signature(self) -> None:
        """Changing any single byte of the payload breaks HMAC verification."""
        vector = HMAC[0]
        message = string_to_sign(
            vector["timestamp"], vector["api_key"], vector["recv_window"], vector["payload"]
        )
        assert verify_hmac(vector["secret"], message, vector["sign"])
        tampered = message[:-2] + b"X" + message[-1:]
        assert not verify_hmac(vector["secret"], tampered, vector["sign"])


class TestCredentials:
    """Credentials never show their secret."""

    def test_repr_masks_everything(self) -> None:
        """repr/str show a masked key and never the secret."""
        creds = Credentials("ABCDEFGHIJKL", "PLANTED-SECRET-123")
        for text in (repr(creds), str(creds), creds.masked_key):
            assert "PLANTED-SECRET-123" not in text
            assert "ABCDEFGHIJKL" not in text

    def test_cannot_be_pickled(self) -> None:
        """Pickling would write the secret to disk, so it is refused."""
        import pickle

        with pytest.raises(TypeError):
            pickle.dumps(Credentials("ABCDEFGHIJKL", "PLANTED-SECRET-123"))

    def test_from_env_names_the_variables(self) -> None:
        """A key without a secret names the variables to set."""
        from loan_widgets.errors import CredentialsError

        with pytest.raises(CredentialsError, match="BYBIT_API_SECRET"):
            Credentials.from_env({"BYBIT_API_KEY": "K123456"})
        assert Credentials.from_env({}) is None

    def test_from_env_reads_rsa_key_file(self, tmp_path: Path) -> None:
        """BYBIT_API_PRIVATE_KEY_FILE gives RSA credentials that sign like the vector."""
        vector = RSA[0]
        pem = tmp_path / "key.pem"
        pem.write_text(vector["private_key_pem"])
        creds = Credentials.from_env(
            {"BYBIT_API_KEY": vector["api_key"], "BYBIT_API_PRIVATE_KEY_FILE": str(pem)}
        )
        assert creds is not None and creds.kind == "rsa"
        headers = sign_headers(creds, int(vector["timestamp"]), 5000, vector["payload"])
        assert headers["X-BAPI-SIGN"] == vector["sign"]

    def test_bad_pem_is_a_clear_error(self) -> None:
        """A file that is not a PEM key gives a credentials error, not a crypto traceback."""
        from loan_widgets.errors import CredentialsError

        with pytest.raises(CredentialsError, match="PEM"):
            Credentials("K123456", private_key="not a key")
