"""Property-based tests: amounts reach the wire exactly, and signatures hold for any request.

Amounts: any text (or Decimal, int, float) given as an amount is either refused with a
one-line ``ValidationError`` or goes out as a JSON string equal to the input text, up to two
documented normalisations: surrounding whitespace is stripped and redundant leading zeros
are dropped (``" 0550 "`` -> ``"550"``); trailing zeros are kept (``"550.10"``).

Signatures: every request ``LoanClient.prepare`` signs, for any parameters or raw body, with
an HMAC or an RSA key, is accepted by the sandbox's verifier (``Sandbox.handle`` in-process):
its retCode is not 10002, 10003 or 10004. Changing any single byte of the signed body, or of
the signed query string, gives retCode 10004 and nothing else: the sandbox checks the
signature over the raw bytes before it parses them, so even a change that breaks the JSON
(or the UTF-8) is a signature error, never 10001.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from functools import cache
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from support import FIXTURES

from loan_widgets import ValidationError
from loan_widgets.client import LoanClient
from loan_widgets.endpoints import ADJUST_COLLATERAL, BORROW, ONGOING_ORDERS, REPAY
from loan_widgets.orders import AdjustRequest, BorrowRequest, RepayRequest
from loan_widgets.sandbox import Sandbox
from loan_widgets.signing import sign_headers

VECTORS = json.loads((FIXTURES / "signing-vectors.json").read_text())
RSA_VECTOR = VECTORS["rsa"][0]
HMAC_KEY, HMAC_SECRET = "PROPKEY0001", "prop-secret-0001"
RSA_KEY = "PROPRSAKEY01"
NOW = 1_728_629_356_551  # the sandbox's fixed clock for the timestamp-rule property
AUTH_CODES = {10002, 10003, 10004}

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@cache
def exchange(fixed_clock: bool = False) -> Sandbox:
    """An in-process sandbox knowing both property keys, with no rate limit to speak of."""
    sandbox = Sandbox(seed=0, clock=(lambda: NOW) if fixed_clock else None)
    sandbox.add_credentials(HMAC_KEY, secret=HMAC_SECRET)
    sandbox.add_credentials(RSA_KEY, public_key_pem=RSA_VECTOR["public_key_pem"])
    sandbox.rate_limit = 10**9
    return sandbox


@cache
def signer(kind: str) -> LoanClient:
    """A client that only prepares requests (its host is never contacted)."""
    if kind == "hmac":
        return LoanClient(base_url="http://127.0.0.1:9", api_key=HMAC_KEY, api_secret=HMAC_SECRET)
    return LoanClient(
        base_url="http://127.0.0.1:9", api_key=RSA_KEY, private_key=RSA_VECTOR["private_key_pem"]
    )


def one_line(error: Exception) -> None:
    """The error's text is one non-empty line."""
    text = str(error)
    assert text and len(text.splitlines()) == 1, text


# --------------------------------------------------------------------------- amounts


PLAIN = re.compile(r"[0-9]+(?:\.[0-9]+)?")

amount_texts = st.one_of(
    st.text(max_size=40),
    st.from_regex(r"\A\s?[+-]?[0-9]{0,24}(\.[0-9]{0,20})?([eE][+-]?[0-9]{1,3})?\s?\Z"),
    st.from_regex(r"\A[0-9]{1,21}(\.[0-9]{1,19})?\Z"),
    st.decimals(allow_nan=False, allow_infinity=False, places=8).map(str),
    st.text(alphabet=st.characters(categories=["Nd", "No", "Zs", "Cc", "Pd"]), max_size=12),
)

FIELDS = {
    "borrow.loanAmount": (lambda a: BorrowRequest("USDT", "BTC", a).to_body(), "loanAmount"),
    "borrow.collateralAmount": (
        lambda a: BorrowRequest("USDT", "BTC", None, a).to_body(),
        "collateralAmount",
    ),
    "repay.amount": (lambda a: RepayRequest("1794267532472646144", a).to_body(), "amount"),
    "adjust.amount": (
        lambda a: AdjustRequest("1794267532472646144", a, "add").to_body(),
        "amount",
    ),
}


def normalised(text: str) -> str:
    """The documented normalisation: strip, drop redundant leading zeros."""
    return re.sub(r"\A0+(?=[0-9])", "", text.strip())


class TestAmounts:
    """Amount text round-trips exactly to the JSON body, or is refused in one line."""

    @SETTINGS
    @given(text=amount_texts, field=st.sampled_from(sorted(FIELDS)))
    def test_text_round_trips_or_is_refused(self, text: str, field: str) -> None:
        """Accepted text is on the wire as given (normalised); refused text gets one line."""
        build, key = FIELDS[field]
        try:
            body = build(text)
        except ValidationError as error:
            event("refused")
            one_line(error)
            return
        event("accepted")
        wire = json.loads(body)[key]
        assert isinstance(wire, str) and PLAIN.fullmatch(wire)
        assert wire == normalised(text)
        assert Decimal(wire) == Decimal(text.strip())
        if text == normalised(text):  # canonical input: byte for byte
            assert f'"{key}":"{text}"' in body

    @SETTINGS
    @given(text=st.from_regex(r"\A[1-9][0-9]{0,19}(\.[0-9]{0,17}[1-9])?\Z"))
    def test_canonical_text_is_sent_byte_for_byte(self, text: str) -> None:
        """Canonical amounts are the body's exact bytes, and the prepared request sends them."""
        request = BorrowRequest("USDT", "BTC", text)
        endpoint, body = LoanClient.borrow_endpoint(request)
        prepared = signer("hmac").prepare(endpoint, body=body)
        assert json.loads(prepared.body)["loanAmount"] == text
        assert f'"loanAmount":"{text}"'.encode() in prepared.body.encode()

    @SETTINGS
    @given(
        value=st.one_of(
            st.decimals(allow_nan=True, allow_infinity=True),
            st.integers(min_value=-(10**25), max_value=10**25),
        )
    )
    def test_decimals_and_ints_keep_their_value(self, value: Decimal | int) -> None:
        """A Decimal or int goes out as plain digits of exactly its value, or is refused."""
        try:
            body = BorrowRequest("USDT", "BTC", value).to_body()
        except ValidationError as error:
            one_line(error)
            return
        wire = json.loads(body)["loanAmount"]
        assert PLAIN.fullmatch(wire) and Decimal(wire) == Decimal(value)

    @SETTINGS
    @given(value=st.floats(allow_nan=True, allow_infinity=True))
    def test_floats_are_refused(self, value: float) -> None:
        """Floats never reach the wire, whatever their value."""
        with pytest.raises(ValidationError) as info:
            BorrowRequest("USDT", "BTC", value)
        one_line(info.value)


# --------------------------------------------------------------------------- signatures

keys = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
values = st.one_of(st.none(), st.text(st.characters(codec="utf-8"), max_size=30))
params = st.dictionaries(keys, values, max_size=6)
write_endpoints = st.sampled_from([BORROW, REPAY, ADJUST_COLLATERAL])
kinds = st.sampled_from(["hmac", "rsa"])


def answer(method: str, url: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    """(retCode, retMsg) of the in-process sandbox for one request."""
    parts = urlsplit(url)
    reply = exchange().handle(method, parts.path, parts.query, headers, body)
    envelope = json.loads(reply.body)
    return envelope["retCode"], envelope["retMsg"]


def tamper(data: bytes, index: int, byte: int) -> bytes:
    """``data`` with the byte at ``index % len`` replaced by a different one."""
    i = index % len(data)
    new = byte if byte != data[i] else (byte + 1) % 256
    return data[:i] + bytes([new]) + data[i + 1 :]


class TestSignedRequestsAreAccepted:
    """Whatever the client signs, the sandbox's verifier accepts (no 10002/10003/10004)."""

    @SETTINGS
    @given(kind=kinds, endpoint=write_endpoints, fields=params)
    def test_posts_with_any_parameters(self, kind, endpoint, fields) -> None:
        """JSON bodies built from any parameters pass the signature check."""
        prepared = signer(kind).prepare(endpoint, fields)
        code, message = answer("POST", prepared.url, dict(prepared.headers),
                               prepared.body.encode())
        assert code not in AUTH_CODES and "X-BAPI" not in message, (code, message)

    @SETTINGS
    @given(kind=kinds, body=st.text(st.characters(codec="utf-8"), max_size=200))
    def test_posts_with_any_raw_body(self, kind: str, body: str) -> None:
        """Even a body that is not JSON is signed so the sandbox accepts the signature."""
        prepared = signer(kind).prepare(BORROW, body=body)
        code, message = answer("POST", prepared.url, dict(prepared.headers), body.encode())
        assert code not in AUTH_CODES and "X-BAPI" not in message, (code, message)

    @SETTINGS
    @given(kind=kinds, fields=params)
    def test_gets_with_any_query(self, kind: str, fields: dict) -> None:
        """Query strings built from any parameters pass the signature check."""
        prepared = signer(kind).prepare(ONGOING_ORDERS, fields)
        code, message = answer("GET", prepared.url, dict(prepared.headers), b"")
        assert code not in AUTH_CODES and "X-BAPI" not in message, (code, message)

    @SETTINGS
    @given(
        kind=kinds,
        window=st.integers(min_value=1, max_value=60_000),
        delta=st.integers(min_value=-70_000, max_value=5_000),
        body=st.text(max_size=40),
    )
    def test_timestamp_rule(self, kind: str, window: int, delta: int, body: str) -> None:
        """Accepted exactly when now - recv_window <= timestamp < now + 1000, else 10002."""
        credentials = signer(kind).credentials
        headers = sign_headers(credentials, NOW + delta, window, body)
        reply = exchange(fixed_clock=True).handle(
            "POST", BORROW.path, "", headers, body.encode()
        )
        code = json.loads(reply.body)["retCode"]
        if -window <= delta < 1000:
            assert code not in AUTH_CODES
        else:
            assert code == 10002


class TestTamperedRequestsAreRefused:
    """A single changed byte in what was signed is always retCode 10004."""

    @SETTINGS
    @given(
        kind=kinds,
        endpoint=write_endpoints,
        fields=params,
        index=st.integers(min_value=0),
        byte=st.integers(min_value=0, max_value=255),
    )
    def test_any_changed_body_byte(self, kind, endpoint, fields, index, byte) -> None:
        """Parsing or not, valid UTF-8 or not, a changed body byte is 10004, never 10001."""
        prepared = signer(kind).prepare(endpoint, fields)
        body = tamper(prepared.body.encode(), index, byte)
        code, _ = answer("POST", prepared.url, dict(prepared.headers), body)
        assert code == 10004

    @SETTINGS
    @given(
        kind=kinds,
        fields=st.dictionaries(keys, st.text(st.characters(codec="utf-8")), min_size=1),
        index=st.integers(min_value=0),
        byte=st.integers(min_value=0, max_value=255),
    )
    def test_any_changed_query_byte(self, kind, fields, index, byte) -> None:
        """A changed byte of the signed query string is 10004."""
        prepared = signer(kind).prepare(ONGOING_ORDERS, fields)
        parts = urlsplit(prepared.url)
        query = tamper(parts.query.encode(), index, byte).decode("utf-8", "surrogateescape")
        reply = exchange().handle("GET", parts.path, query, dict(prepared.headers), b"")
        assert json.loads(reply.body)["retCode"] == 10004
