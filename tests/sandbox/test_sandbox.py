"""The sandbox exchange over real HTTP on loopback.

Requests are signed by ``support.bybit`` with ``hmac`` (and here with ``cryptography``
for RSA) directly, not with ``loan_widgets.signing``, so these tests pin the wire
contract independently of the library's own signer.
"""

from __future__ import annotations

import base64
import http.client
import json
import select
import socket
import subprocess
import sys
import time
from decimal import Decimal
from typing import Any

import pytest
from support import bybit
from support.bybit import Answer, Clock, hmac_sign

from loan_widgets.sandbox import (
    DEMO_API_KEY,
    DEMO_API_SECRET,
    Sandbox,
    SandboxServer,
    default_server,
)

BORROW = "/v5/crypto-loan/borrow"
ONGOING = "/v5/crypto-loan/ongoing-orders"
DOC_BODY = (
    b'{"loanCurrency":"USDT","loanAmount":"550","collateralCurrency":"BTC",'
    b'"loanTerm":null,"collateralAmount":null}'
)
T0 = 1_728_629_356_551  # a fixed server time (ms)
HOUR = 3_600_000
DAY = 86_400_000


class Api(bybit.Api):
    """The shared test client, plus a legacy borrow shortcut."""

    def borrow(self, **fields: Any) -> Answer:
        return self.post(BORROW, fields)


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def sandbox(clock: Clock) -> Sandbox:
    return Sandbox(seed=0, clock=clock)


@pytest.fixture
def served(sandbox: Sandbox):
    """The clocked sandbox served on loopback."""
    with SandboxServer(sandbox) as running:
        yield running


@pytest.fixture
def api(served: SandboxServer, clock: Clock):
    client = Api(served, clock)
    yield client
    client.close()


def assert_envelope(answer: Answer, ret_msg: str = "request.success") -> dict[str, Any]:
    body = answer.json
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert list(body) == ["retCode", "retMsg", "result", "retExtInfo", "time"]
    assert body["retCode"] == 0 and body["retMsg"] == ret_msg
    assert body["retExtInfo"] == {} and isinstance(body["time"], int)
    assert b" " not in answer.raw.replace(b"Too many", b"")  # compact JSON
    return body["result"]


def assert_all_strings(row: dict[str, Any], except_: tuple[str, ...] = ()) -> None:
    for name, value in row.items():
        if name not in except_:
            assert isinstance(value, str), name


class TestPublicEndpoints:
    """Server time, tickers and the coin tables: shapes and types."""

    def test_server_time(self, api: Api, clock: Clock) -> None:
        """/v5/market/time answers retMsg OK with second and nanosecond strings."""
        answer = api.get("/v5/market/time", signed=False)
        result = assert_envelope(answer, "OK")
        assert result == {"timeSecond": str(T0 // 1000), "timeNano": str(T0 * 1_000_000)}
        assert answer.json["time"] == T0

    def test_tickers(self, api: Api) -> None:
        """Spot tickers list XUSDT symbols with string prices around the spot price."""
        result = assert_envelope(api.get("/v5/market/tickers", "category=spot", signed=False),
                                 "OK")
        assert result["category"] == "spot"
        rows = {row["symbol"]: row for row in result["list"]}
        assert set(rows) == {"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "USDCUSDT"}
        btc = rows["BTCUSDT"]
        assert_all_strings(btc)
        assert btc["lastPrice"] == "65000"
        assert Decimal(btc["bid1Price"]) < Decimal("65000") < Decimal(btc["ask1Price"])

    def test_tickers_one_symbol(self, api: Api, sandbox: Sandbox) -> None:
        """symbol= filters to one ticker and follows set_price."""
        sandbox.set_price("ETH", Decimal("2612.5"))
        result = api.get("/v5/market/tickers", "category=spot&symbol=ETHUSDT", signed=False).result
        assert [row["lastPrice"] for row in result["list"]] == ["2612.5"]

    def test_tickers_errors(self, api: Api) -> None:
        """A missing category or unknown symbol is retCode 10001."""
        assert api.get("/v5/market/tickers", signed=False).code == 10001
        answer = api.get("/v5/market/tickers", "category=spot&symbol=DOGEUSDT", signed=False)
        assert answer.code == 10001

    def test_collateral_data_matches_doc_example(self, api: Api) -> None:
        """ETH collateral is exactly the documented example item."""
        answer = api.get("/v5/crypto-loan/collateral-data", "currency=ETH&vipLevel=PRO1",
                         signed=False)
        assert assert_envelope(answer) == {"vipCoinList": [{"list": [{
            "collateralAccuracy": 8, "currency": "ETH", "initialLTV": "0.8",
            "liquidationLTV": "0.95", "marginCallLTV": "0.87", "maxLimit": "32000",
        }], "vipLevel": "PRO1"}]}

    def test_loanable_data_matches_doc_example(self, api: Api) -> None:
        """USDT loan terms are exactly the documented example, byte for byte."""
        answer = api.get("/v5/crypto-loan/loanable-data", "currency=USDT&vipLevel=VIP0",
                         signed=False)
        assert b'"result":{"vipCoinList":[{"list":[{"borrowingAccuracy":4,"currency":"USDT",' \
            b'"flexibleHourlyInterestRate":"0.0000090346","hourlyInterestRate14D":"0.0000207796",' \
            b'"hourlyInterestRate180D":"","hourlyInterestRate30D":"0.00002349",' \
            b'"hourlyInterestRate7D":"0.0000180692","hourlyInterestRate90D":"",' \
            b'"maxBorrowingAmount":"8000000","minBorrowingAmount":"20"}],"vipLevel":"VIP0"}]}' \
            in answer.raw

    def test_tables_without_filters(self, api: Api) -> None:
        """Without vipLevel every tier is listed (VIP0 first) with every coin, typed."""
        loanable = api.get("/v5/crypto-loan/loanable-data", signed=False).result["vipCoinList"]
        assert loanable[0]["vipLevel"] == "VIP0" and len(loanable) > 1
        coins = {row["currency"]: row for row in loanable[0]["list"]}
        assert set(coins) == {"USDT", "USDC", "BTC", "ETH", "SOL", "XRP"}
        assert any(row["hourlyInterestRate180D"] for row in coins.values())
        for row in coins.values():
            assert isinstance(row["borrowingAccuracy"], int)
            assert_all_strings(row, except_=("borrowingAccuracy",))
        collateral = api.get("/v5/crypto-loan/collateral-data", signed=False).result
        rows = collateral["vipCoinList"][0]["list"]
        assert {row["currency"] for row in rows} == {"ETH", "BTC", "SOL", "XRP", "USDT", "USDC"}
        for row in rows:
            assert isinstance(row["collateralAccuracy"], int)
            assert_all_strings(row, except_=("collateralAccuracy",))

    def test_currency_is_case_sensitive(self, api: Api) -> None:
        """A lowercase currency matches nothing; an unknown vipLevel is 10001."""
        result = api.get("/v5/crypto-loan/loanable-data", "currency=usdt&vipLevel=VIP0",
                         signed=False).result
        assert result == {"vipCoinList": [{"list": [], "vipLevel": "VIP0"}]}
        assert api.get("/v5/crypto-loan/loanable-data", "vipLevel=VIP7",
                       signed=False).code == 10001


class TestBorrowLimits:
    """borrowable-collateralisable-number from balances, prices and LTV."""

    def test_limits_for_usdt_against_btc(self, api: Api) -> None:
        """Bounds follow min/max, the 10 BTC balance and 0.8 x 65000 per BTC."""
        answer = api.get("/v5/crypto-loan/borrowable-collateralisable-number",
                         "loanCurrency=USDT&collateralCurrency=BTC")
        assert assert_envelope(answer) == {
            "collateralCurrency": "BTC",
            "loanCurrency": "USDT",
            "maxCollateralAmount": "10",
            "maxLoanAmount": "520000",
            "minCollateralAmount": "0.000384615384615385",
            "minLoanAmount": "20",
        }

    def test_limits_errors(self, api: Api) -> None:
        """Missing parameters are 10001; unknown coins 177006 / 177017."""
        path = "/v5/crypto-loan/borrowable-collateralisable-number"
        assert api.get(path, "loanCurrency=USDT").code == 10001
        assert api.get(path, "loanCurrency=DOGE&collateralCurrency=BTC").code == 177006
        assert api.get(path, "loanCurrency=USDT&collateralCurrency=DOGE").code == 177017


class TestBorrow:
    """POST /v5/crypto-loan/borrow: sizing, wallet moves and the stored order."""

    def test_doc_body_succeeds(self, api: Api) -> None:
        """The documented raw body borrows and returns a 19-digit orderId string."""
        result = assert_envelope(api.post(BORROW, DOC_BODY))
        assert list(result) == ["orderId"]
        assert isinstance(result["orderId"], str) and len(result["orderId"]) == 19
        assert result["orderId"].isdigit()

    def test_wallet_moves_exactly(self, api: Api, sandbox: Sandbox) -> None:
        """550 USDT against BTC locks 550 / (0.8 x 65000) BTC rounded up to 8 places."""
        api.post(BORROW, DOC_BODY)
        assert sandbox.wallet["USDT"] == Decimal("100550")
        assert sandbox.wallet["BTC"] == Decimal("10") - Decimal("0.01057693")
        (row,) = api.get(ONGOING).result["list"]
        assert row["collateralAmount"] == "0.01057693" and row["totalDebt"] == "550"

    def test_absent_and_null_are_the_same(self, clock: Clock) -> None:
        """Omitting loanTerm/collateralAmount equals sending them as null."""
        outcomes = []
        for body in (DOC_BODY, b'{"loanCurrency":"USDT","loanAmount":"550",'
                               b'"collateralCurrency":"BTC"}'):
            with SandboxServer(Sandbox(seed=5, clock=clock)) as server:
                api = Api(server, clock)
                order_id = api.post(BORROW, body).result["orderId"]
                rows = api.get(ONGOING).result["list"]
                outcomes.append((order_id, rows, dict(server.sandbox.wallet)))
                api.close()
        assert outcomes[0] == outcomes[1]

    def test_collateral_only(self, api: Api, sandbox: Sandbox) -> None:
        """Given only collateral, the loan is collateral x price x LTV rounded down."""
        assert api.borrow(loanCurrency="USDT", collateralCurrency="BTC",
                          collateralAmount="0.1").code == 0
        (row,) = api.get(ONGOING).result["list"]
        assert row["totalDebt"] == "5200" and row["collateralAmount"] == "0.1"
        assert sandbox.wallet["USDT"] == Decimal("105200")
        assert sandbox.wallet["BTC"] == Decimal("9.9")

    def test_collateral_only_rounds_down(self, api: Api) -> None:
        """0.0153457 ETH x 2500 x 0.8 / 0.55 = 55.8025... XRP, rounded down to 55.8."""
        api.borrow(loanCurrency="XRP", collateralCurrency="ETH", collateralAmount="0.0153457")
        (row,) = api.get(ONGOING).result["list"]
        assert row["totalDebt"] == "55.8" and row["collateralAmount"] == "0.0153457"

    def test_both_amounts_lock_the_given_collateral(self, api: Api, sandbox: Sandbox) -> None:
        """With both amounts, the given (larger) collateral is locked as is."""
        assert api.borrow(loanCurrency="USDT", loanAmount="550", collateralCurrency="BTC",
                          collateralAmount="0.05").code == 0
        (row,) = api.get(ONGOING).result["list"]
        assert row["collateralAmount"] == "0.05" and row["totalDebt"] == "550"
        assert row["currentLTV"] == "0.1692"  # 550 / (0.05 x 65000)
        assert sandbox.wallet["BTC"] == Decimal("9.95")

    def test_fixed_term_order(self, api: Api) -> None:
        """A 7-day loan locks the 7D rate and expires 7 days after the start of its hour,
        less one second (the docs' borrow-history example)."""
        api.borrow(loanCurrency="USDT", loanAmount="1000", collateralCurrency="ETH",
                   loanTerm="7")
        (row,) = api.get(ONGOING).result["list"]
        assert row["loanTerm"] == "7"
        assert row["expirationTime"] == str(T0 // HOUR * HOUR + 7 * DAY - 1000)
        assert row["hourlyInterestRate"] == "0.0000180692"

    def test_ongoing_item_fields(self, api: Api) -> None:
        """A flexible order lists exactly the L6 fields, all strings, '' for term/expiry."""
        order_id = api.post(BORROW, DOC_BODY).result["orderId"]
        result = assert_envelope(api.get(ONGOING, f"orderId={order_id}"))
        assert result["nextPageCursor"] == ""
        (row,) = result["list"]
        assert sorted(row) == [
            "collateralAmount", "collateralCurrency", "currentLTV", "expirationTime",
            "hourlyInterestRate", "loanCurrency", "loanTerm", "orderId", "residualInterest",
            "residualPenaltyInterest", "totalDebt",
        ]
        assert_all_strings(row)
        assert row["loanTerm"] == "" and row["expirationTime"] == ""
        assert row["currentLTV"] == "0.8000" and row["orderId"] == order_id
        assert row["residualInterest"] == "0" and row["residualPenaltyInterest"] == "0"


class TestBorrowErrors:
    """Every rejection has its retCode, and a rejected borrow moves nothing."""

    @pytest.mark.parametrize(("body", "code"), [
        ({"loanAmount": "550", "collateralCurrency": "BTC"}, 10001),
        ({"loanCurrency": "USDT", "loanAmount": "550"}, 10001),
        ({"loanCurrency": "USDT", "collateralCurrency": "BTC"}, 10001),
        ({"loanCurrency": "USDT", "collateralCurrency": "BTC", "loanAmount": None,
          "collateralAmount": None}, 10001),
        ({"loanCurrency": "USDT", "loanAmount": "-550", "collateralCurrency": "BTC"}, 10001),
        ({"loanCurrency": "USDT", "loanAmount": "0", "collateralCurrency": "BTC"}, 10001),
        ({"loanCurrency": "USDT", "loanAmount": "5e2", "collateralCurrency": "BTC"}, 10001),
        ({"loanCurrency": "USDT", "loanAmount": 550, "collateralCurrency": "BTC"}, 10001),
        ({"loanCurrency": "USDT", "loanAmount": "55O", "collateralCurrency": "BTC"}, 177003),
        ({"loanCurrency": "USDT", "loanAmount": "1,000", "collateralCurrency": "BTC"}, 177003),
        ({"loanCurrency": "DOGE", "loanAmount": "550", "collateralCurrency": "BTC"}, 177006),
        ({"loanCurrency": "usdt", "loanAmount": "550", "collateralCurrency": "BTC"}, 177006),
        ({"loanCurrency": "USDT", "loanAmount": "550", "collateralCurrency": "DOGE"}, 177017),
        ({"loanCurrency": "USDT", "loanAmount": "550", "collateralCurrency": "USDT"}, 177019),
        ({"loanCurrency": "USDT", "loanAmount": "550", "collateralCurrency": "BTC",
          "loanTerm": "60"}, 177019),
        ({"loanCurrency": "USDT", "loanAmount": "550", "collateralCurrency": "BTC",
          "loanTerm": "90"}, 177019),
        ({"loanCurrency": "SOL", "loanAmount": "5", "collateralCurrency": "BTC",
          "loanTerm": "7"}, 177019),
        ({"loanCurrency": "USDT", "loanAmount": "550.12345", "collateralCurrency": "BTC"},
         177004),
        ({"loanCurrency": "USDT", "collateralAmount": "0.123456789",
          "collateralCurrency": "BTC"}, 177004),
        ({"loanCurrency": "USDT", "loanAmount": "19.9999", "collateralCurrency": "BTC"},
         177009),
        ({"loanCurrency": "USDT", "loanAmount": "8000001", "collateralCurrency": "BTC"},
         177007),
        ({"loanCurrency": "USDT", "collateralAmount": "40000", "collateralCurrency": "ETH"},
         177015),
        ({"loanCurrency": "USDT", "loanAmount": "600000", "collateralCurrency": "BTC"}, 177011),
        ({"loanCurrency": "USDT", "collateralAmount": "0.0001", "collateralCurrency": "BTC"},
         177016),
        ({"loanCurrency": "USDT", "loanAmount": "550", "collateralCurrency": "BTC",
          "collateralAmount": "0.01"}, 177016),
    ])
    def test_rejected(self, api: Api, sandbox: Sandbox, body: dict[str, Any],
                      code: int) -> None:
        """The borrow is rejected with the expected retCode and empty result."""
        before = dict(sandbox.wallet)
        answer = api.post(BORROW, body)
        assert answer.status == 200
        assert answer.code == code, answer.json["retMsg"]
        assert answer.result == {} and answer.json["retMsg"]
        assert sandbox.wallet == before and sandbox.orders == {}

    @pytest.mark.parametrize("raw", [b"{", b"", b"[1,2]", b"\xff\xfe"])
    def test_malformed_json(self, api: Api, raw: bytes) -> None:
        """A body that is not a JSON object is retCode 10001."""
        assert api.post(BORROW, raw).code == 10001

    def test_trailing_zeros_do_not_count_as_decimals(self, api: Api) -> None:
        """'550.00000' has no more precision than '550', so it is accepted."""
        assert api.borrow(loanCurrency="USDT", loanAmount="550.00000",
                          collateralCurrency="BTC").code == 0


class TestOrderIds:
    """Order ids: 19 digits, increasing, reproducible per seed."""

    @staticmethod
    def ids(seed: int, n: int = 3) -> list[str]:
        clock = Clock(T0)
        with SandboxServer(Sandbox(seed=seed, clock=clock)) as server:
            api = Api(server, clock)
            out = [api.post(BORROW, DOC_BODY).result["orderId"] for _ in range(n)]
            api.close()
        return out

    def test_same_seed_same_ids(self) -> None:
        """Two sandboxes with one seed hand out the same ids in the same order."""
        assert self.ids(7) == self.ids(7)

    def test_different_seeds_differ(self) -> None:
        """Different seeds give different ids."""
        assert len({tuple(self.ids(seed)) for seed in (0, 1, 2)}) == 3

    def test_shape_and_order(self) -> None:
        """Ids are 19-digit numeric strings near the docs' example, increasing."""
        ids = self.ids(0, 5)
        assert all(len(i) == 19 and i.isdigit() for i in ids)
        assert [int(i) for i in ids] == sorted(int(i) for i in ids)
        assert len(set(ids)) == 5
        assert abs(int(ids[0]) - 1794267532472646144) < 10**13


class TestAuth:
    """Signed endpoints check key, timestamp and signature as Bybit does."""

    def test_unknown_or_missing_key(self, api: Api) -> None:
        """An unknown or absent API key is 10003 'API key is invalid.'."""
        answer = api.get(ONGOING, key="NOTAKEY")
        assert answer.code == 10003 and answer.json["retMsg"] == "API key is invalid."
        assert api.send("GET", ONGOING).code == 10003

    def test_one_changed_byte_is_10004(self, api: Api, sandbox: Sandbox) -> None:
        """Signing one body and sending another differing in one byte is 10004."""
        headers = api.auth(DOC_BODY)
        tampered = DOC_BODY.replace(b'"550"', b'"551"')
        answer = api.send("POST", BORROW, tampered, headers)
        assert answer.code == 10004 and answer.result == {}
        msg = answer.json["retMsg"]
        assert msg.startswith("error sign! origin_string[" + str(T0))
        assert DEMO_API_KEY not in msg and '"551"' in msg
        assert sandbox.orders == {}

    def test_query_signed_as_sent(self, api: Api) -> None:
        """The GET signature covers the raw query; reordering parameters breaks it."""
        headers = api.auth(b"limit=5&loanCurrency=USDT")
        assert api.send("GET", ONGOING + "?limit=5&loanCurrency=USDT", headers=headers).code == 0
        assert api.send("GET", ONGOING + "?loanCurrency=USDT&limit=5",
                        headers=headers).code == 10004

    def test_percent_encoding_is_not_reencoded(self, api: Api) -> None:
        """A percent-encoded query is verified exactly as it was sent."""
        assert api.get(ONGOING, "loanCurrency=%55SDT").code == 0

    def test_wrong_secret(self, api: Api) -> None:
        """A signature made with another secret is 10004."""
        api.secret = "not-the-secret"
        assert api.get(ONGOING).code == 10004

    @pytest.mark.parametrize(("offset", "code"), [
        (-5001, 10002), (-5000, 0), (0, 0), (999, 0), (1000, 10002), (30_000, 10002),
    ])
    def test_timestamp_window(self, api: Api, offset: int, code: int) -> None:
        """Accepted iff server - recv_window <= ts < server + 1000."""
        assert api.get(ONGOING, ts=T0 + offset).code == code

    def test_timestamp_error_text(self, api: Api) -> None:
        """The 10002 retMsg carries Bybit's exact text with the three numbers."""
        answer = api.get(ONGOING, ts=T0 - 10_000)
        assert answer.json["retMsg"] == (
            "invalid request, please check your server timestamp or recv_window param. "
            f"req_timestamp[{T0 - 10_000}],server_timestamp[{T0}],recv_window[5000]"
        )

    def test_larger_recv_window(self, api: Api) -> None:
        """recv_window=20000 accepts a timestamp 15 s old."""
        assert api.get(ONGOING, ts=T0 - 15_000, recv_window="20000").code == 0

    def test_recv_window_header_absent(self, api: Api) -> None:
        """Without X-BAPI-RECV-WINDOW the window is 5000 and the signed part may be ''."""
        assert api.get(ONGOING, recv_window=None).code == 0
        assert api.get(ONGOING, ts=T0 - 6000, recv_window=None).code == 10002

    def test_sign_type(self, api: Api) -> None:
        """X-BAPI-SIGN-TYPE may be absent or 2."""
        headers = api.auth(b"")
        del headers["X-BAPI-SIGN-TYPE"]
        assert api.send("GET", ONGOING, headers=headers).code == 0
        headers["X-BAPI-SIGN-TYPE"] = "1"
        assert api.send("GET", ONGOING, headers=headers).code == 10001

    def test_check_order(self, api: Api) -> None:
        """Key is checked first, then timestamp, then signature."""
        assert api.get(ONGOING, key="NOTAKEY", ts=T0 - 60_000).code == 10003
        assert api.get(ONGOING, ts=T0 - 60_000, sign="0" * 64).code == 10002
        assert api.get(ONGOING, sign="0" * 64).code == 10004

    def test_rsa_key(self, api: Api, sandbox: Sandbox) -> None:
        """A self-generated RSA key verifies base64 PKCS#1 v1.5 SHA-256 signatures."""
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        sandbox.add_credentials("RSAKEY", public_key_pem=pem)
        stamp = str(T0)

        def rsa_headers(body: bytes) -> dict[str, str]:
            signed = (stamp + "RSAKEY" + "5000").encode() + body
            raw = private.sign(signed, padding.PKCS1v15(), hashes.SHA256())
            return {"X-BAPI-API-KEY": "RSAKEY", "X-BAPI-TIMESTAMP": stamp,
                    "X-BAPI-RECV-WINDOW": "5000", "X-BAPI-SIGN-TYPE": "2",
                    "X-BAPI-SIGN": base64.b64encode(raw).decode()}

        assert api.send("POST", BORROW, DOC_BODY, rsa_headers(DOC_BODY)).code == 0
        other = DOC_BODY.replace(b"550", b"560")
        assert api.send("POST", BORROW, other, rsa_headers(DOC_BODY)).code == 10004

    def test_public_endpoints_need_no_auth(self, api: Api) -> None:
        """Public endpoints answer without any X-BAPI header."""
        assert api.get("/v5/crypto-loan/loanable-data", signed=False).code == 0

    def test_removed_key(self, api: Api, sandbox: Sandbox) -> None:
        """A removed key is 10003 from then on."""
        sandbox.remove_credentials(DEMO_API_KEY)
        assert api.get(ONGOING).code == 10003


class TestRoutingAndHttp:
    """Routes, methods, rate-limit headers and HTTP/1.1 keep-alive."""

    def test_unknown_path(self, api: Api) -> None:
        """An unknown path is HTTP 404 with retCode 10017."""
        answer = api.get("/v5/crypto-loan/nope", signed=False)
        assert answer.status == 404 and answer.code == 10017
        assert answer.json["retMsg"] == "route not found"

    def test_wrong_method(self, api: Api) -> None:
        """GET on a POST endpoint is HTTP 405 with retCode 10017."""
        answer = api.get(BORROW)
        assert answer.status == 405 and answer.code == 10017

    def test_rate_limit_headers(self, api: Api) -> None:
        """Every envelope carries the three X-Bapi-Limit headers."""
        for answer in (api.get(ONGOING), api.get("/v5/market/time", signed=False),
                       api.get(ONGOING, key="NOTAKEY")):
            assert answer.headers["x-bapi-limit"] == "5000"
            assert int(answer.headers["x-bapi-limit-status"]) <= 4999
            assert int(answer.headers["x-bapi-limit-reset-timestamp"]) >= T0

    def test_rate_limit_exceeded(self, clock: Clock) -> None:
        """Over the per-key, per-path limit is 10006 until the rolling second passes."""
        with SandboxServer(Sandbox(clock=clock, rate_limit=3)) as server:
            api = Api(server, clock)
            statuses = [api.get(ONGOING).headers["x-bapi-limit-status"] for _ in range(3)]
            assert statuses == ["2", "1", "0"]
            answer = api.get(ONGOING)
            assert answer.code == 10006 and answer.json["retMsg"] == "Too many visits!"
            assert answer.headers["x-bapi-limit-status"] == "0"
            assert int(answer.headers["x-bapi-limit-reset-timestamp"]) == T0 + 1000
            assert api.post(BORROW, DOC_BODY).code == 0  # another path has its own window
            assert server.sandbox.orders
            clock.t += 1001
            assert api.get(ONGOING).code == 0
            api.close()

    def test_keep_alive(self, served: SandboxServer) -> None:
        """Several requests share one TCP connection."""
        sock = socket.create_connection(("127.0.0.1", served.port), timeout=5)
        request = b"GET /v5/market/time HTTP/1.1\r\nHost: sandbox\r\n\r\n"
        with sock, sock.makefile("rb") as stream:
            for _ in range(3):
                sock.sendall(request)
                assert stream.readline().startswith(b"HTTP/1.1 200")
                length = 0
                while (line := stream.readline()) != b"\r\n":
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                assert json.loads(stream.read(length))["retCode"] == 0

    def test_chunked_body(self, api: Api) -> None:
        """A chunked POST body is reassembled and verified over the same bytes."""
        headers = {**api.auth(DOC_BODY), "Transfer-Encoding": "chunked"}
        chunks = iter([DOC_BODY[:40], DOC_BODY[40:]])
        api.conn.request("POST", BORROW, body=chunks, headers=headers, encode_chunked=True)
        response = api.conn.getresponse()
        assert json.loads(response.read())["retCode"] == 0

    def test_request_log(self, api: Api, sandbox: Sandbox) -> None:
        """Every arrival is logged with method, path, raw body, time and retCode."""
        api.post(BORROW, DOC_BODY)
        api.get(ONGOING, key="NOTAKEY")
        api.get("/nowhere", signed=False)
        first, second, third = sandbox.requests
        assert (first.method, first.path, first.body, first.ret_code) == (
            "POST", BORROW, DOC_BODY, 0)
        assert first.time == T0 and first.status == 200
        assert second.ret_code == 10003 and third.ret_code == 10017
        assert sandbox.count(BORROW, "POST") == 1 and sandbox.count() == 3


class TestFaults:
    """The fault knobs: latency, dropped answers, HTML errors, bad JSON, retCodes, skew."""

    def test_latency_after_execution(self, served: SandboxServer, sandbox: Sandbox,
                                     clock: Clock) -> None:
        """A slow answer past the client's timeout still leaves the order placed."""
        sandbox.faults.set_latency(0.3, BORROW)
        api = Api(served, clock, timeout=0.1)
        with pytest.raises(TimeoutError):
            api.post(BORROW, DOC_BODY)
        assert len(sandbox.orders) == 1 and sandbox.count(BORROW) == 1
        api.close()

    def test_one_shot_latency(self, api: Api, sandbox: Sandbox) -> None:
        """An injected latency slows one answer only."""
        sandbox.faults.inject("/v5/market/time", "latency", seconds=0.2)
        started = time.perf_counter()
        api.get("/v5/market/time", signed=False)
        assert time.perf_counter() - started >= 0.2
        started = time.perf_counter()
        api.get("/v5/market/time", signed=False)
        assert time.perf_counter() - started < 0.2

    def test_global_latency(self, api: Api, sandbox: Sandbox) -> None:
        """faults.latency delays every answer."""
        sandbox.faults.latency = 0.1
        started = time.perf_counter()
        api.get("/v5/market/time", signed=False)
        assert time.perf_counter() - started >= 0.1

    def test_drop_after_execute(self, api: Api, sandbox: Sandbox) -> None:
        """A dropped answer still executed the borrow; the next request is answered."""
        sandbox.faults.inject(BORROW, "drop")
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            api.post(BORROW, DOC_BODY)
        assert len(sandbox.orders) == 1
        assert len(api.get(ONGOING).result["list"]) == 1
        (record,) = [r for r in sandbox.requests if r.path == BORROW]
        assert record.fault == "drop" and record.status == 0 and record.ret_code == 0

    def test_drop_before_execute(self, api: Api, sandbox: Sandbox) -> None:
        """drop with execute=False closes the connection without placing the order."""
        sandbox.faults.inject(BORROW, "drop", times=2, execute=False)
        for _ in range(2):
            with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
                api.post(BORROW, DOC_BODY)
        assert sandbox.orders == {} and sandbox.count(BORROW) == 2
        assert api.post(BORROW, DOC_BODY).code == 0

    @pytest.mark.parametrize(("status", "text"), [
        (502, b"Bad Gateway"), (503, b"Service Temporarily Unavailable"),
        (403, b"The request could not be satisfied"),
    ])
    def test_html_error(self, api: Api, sandbox: Sandbox, status: int, text: bytes) -> None:
        """An HTTP error fault answers an HTML page and does not execute."""
        sandbox.faults.inject(BORROW, "http", status=status)
        answer = api.post(BORROW, DOC_BODY)
        assert answer.status == status and text in answer.raw
        assert answer.headers["content-type"] == "text/html"
        assert answer.raw.lstrip().lower().startswith((b"<html", b"<!doctype"))
        assert sandbox.orders == {} and sandbox.count(BORROW) == 1

    def test_html_error_after_execute(self, api: Api, sandbox: Sandbox) -> None:
        """With execute=True the gateway error hides a placed order."""
        sandbox.faults.inject(BORROW, "http", status=504, execute=True)
        assert api.post(BORROW, DOC_BODY).status == 504
        assert len(sandbox.orders) == 1

    def test_bad_json(self, api: Api, sandbox: Sandbox) -> None:
        """A truncated JSON body with HTTP 200, after executing."""
        sandbox.faults.inject(BORROW, "bad_json")
        answer = api.post(BORROW, DOC_BODY)
        assert answer.status == 200 and answer.raw.startswith(b'{"retCode":0')
        with pytest.raises(ValueError):
            json.loads(answer.raw)
        assert len(sandbox.orders) == 1

    def test_forced_retcode_not_executed(self, api: Api, sandbox: Sandbox) -> None:
        """Forced retCodes answer N times without executing, then normal service resumes."""
        sandbox.faults.inject(BORROW, "retcode", times=2, code=10016)
        codes = [api.post(BORROW, DOC_BODY).code for _ in range(3)]
        assert codes == [10016, 10016, 0]
        assert len(sandbox.orders) == 1 and sandbox.count(BORROW) == 3

    def test_forced_rate_limit(self, api: Api, sandbox: Sandbox) -> None:
        """A forced 10006 carries a reset timestamp ahead of the server clock."""
        sandbox.faults.inject(BORROW, "retcode", code=10006, reset_ms=250)
        answer = api.post(BORROW, DOC_BODY)
        assert answer.code == 10006 and answer.json["retMsg"] == "Too many visits!"
        assert answer.headers["x-bapi-limit-reset-timestamp"] == str(T0 + 250)
        assert answer.headers["x-bapi-limit-status"] == "0"
        assert sandbox.orders == {}

    def test_forced_retcode_message(self, api: Api, sandbox: Sandbox) -> None:
        """A forced retCode may carry a custom retMsg."""
        sandbox.faults.inject(BORROW, "retcode", code=177002, msg="busy")
        answer = api.post(BORROW, DOC_BODY)
        assert (answer.code, answer.json["retMsg"], answer.result) == (177002, "busy", {})

    def test_any_path(self, api: Api, sandbox: Sandbox) -> None:
        """A fault queued for '*' hits the next request to any path."""
        sandbox.faults.inject("*", "http", status=503)
        assert api.get("/v5/market/time", signed=False).status == 503
        assert api.get("/v5/market/time", signed=False).status == 200
        assert sandbox.faults.pending() == 0

    def test_clock_skew_and_resync(self) -> None:
        """A client 30 s behind gets 10002, then succeeds after reading /v5/market/time."""
        sandbox = Sandbox()  # wall clock
        sandbox.faults.skew_ms = 30_000
        server = SandboxServer(sandbox).start()
        api = Api(server)
        local = time.time_ns() // 1_000_000
        assert api.get(ONGOING, ts=local).code == 10002
        server_ms = int(api.get("/v5/market/time", signed=False).result["timeNano"]) // 10**6
        assert server_ms - local >= 29_000
        assert api.get(ONGOING, ts=server_ms).code == 0
        api.close()
        server.stop()

    def test_inject_validates(self, sandbox: Sandbox) -> None:
        """Unknown kinds and parameters are refused when queued, not when hit."""
        with pytest.raises(ValueError):
            sandbox.faults.inject(BORROW, "explode")
        with pytest.raises(ValueError):
            sandbox.faults.inject(BORROW, "drop", status=500)
        with pytest.raises(ValueError):
            sandbox.faults.inject(BORROW, "retcode")

    def test_clear(self, api: Api, sandbox: Sandbox) -> None:
        """clear() forgets queued faults, latency and skew."""
        sandbox.faults.inject(BORROW, "drop", times=5)
        sandbox.faults.skew_ms = 99_000
        sandbox.faults.clear()
        assert api.post(BORROW, DOC_BODY).code == 0


class TestOngoingOrders:
    """Unpaid loans: filters, pagination and interest over server time."""

    def test_pagination(self, api: Api) -> None:
        """25 loans come back newest first over pages of 10, 10 and 5."""
        placed = [api.borrow(loanCurrency="USDT", loanAmount="20",
                             collateralCurrency="ETH").result["orderId"] for _ in range(25)]
        seen: list[str] = []
        cursor = ""
        pages = []
        while True:
            result = api.get(ONGOING, f"cursor={cursor}" if cursor else "").result
            pages.append(len(result["list"]))
            seen += [row["orderId"] for row in result["list"]]
            cursor = result["nextPageCursor"]
            if not cursor:
                break
        assert pages == [10, 10, 5]
        assert seen == placed[::-1]

    def test_limit_bounds(self, api: Api) -> None:
        """limit must be 1..100, and an exact last page has an empty cursor."""
        for _ in range(3):
            api.borrow(loanCurrency="USDT", loanAmount="20", collateralCurrency="ETH")
        assert api.get(ONGOING, "limit=0").code == 10001
        assert api.get(ONGOING, "limit=101").code == 10001
        assert api.get(ONGOING, "limit=3").result["nextPageCursor"] == ""
        assert api.get(ONGOING, "limit=2").result["nextPageCursor"] != ""

    def test_filters(self, api: Api) -> None:
        """Filters by coin, term type and term."""
        api.borrow(loanCurrency="USDT", loanAmount="100", collateralCurrency="ETH")
        api.borrow(loanCurrency="USDT", loanAmount="100", collateralCurrency="BTC", loanTerm="7")
        api.borrow(loanCurrency="USDC", loanAmount="100", collateralCurrency="BTC",
                   loanTerm="180")

        def terms(query: str) -> list[str]:
            return sorted(row["loanTerm"] for row in api.get(ONGOING, query).result["list"])

        assert terms("collateralCurrency=BTC") == ["180", "7"]
        assert terms("loanCurrency=USDT") == ["", "7"]
        assert terms("loanTermType=2") == [""]
        assert terms("loanTermType=1&loanTerm=180") == ["180"]
        assert api.get(ONGOING, "loanTermType=1").code == 10001

    def test_interest_accrues_hourly(self, api: Api, sandbox: Sandbox, clock: Clock) -> None:
        """Each whole hour adds principal x hourly rate to residualInterest."""
        api.post(BORROW, DOC_BODY)
        clock.t += 2 * HOUR - 1
        assert api.get(ONGOING).result["list"][0]["residualInterest"] == "0.00496903"
        clock.t += 1
        row = api.get(ONGOING).result["list"][0]
        assert row["residualInterest"] == "0.00993806"  # 550 x 0.0000090346 x 2
        assert row["totalDebt"] == "550"

    def test_overdue_penalty(self, api: Api, sandbox: Sandbox) -> None:
        """Past a fixed loan's due time, interest runs at 3x as penalty interest."""
        api.borrow(loanCurrency="USDT", loanAmount="1000", collateralCurrency="ETH",
                   loanTerm="7")
        sandbox.advance(7 * DAY + 3 * HOUR)
        row = api.get(ONGOING, ts=T0 + 7 * DAY + 3 * HOUR).result["list"][0]
        rate = Decimal("0.0000180692")
        assert Decimal(row["residualInterest"]) == 1000 * rate * 168
        assert Decimal(row["residualPenaltyInterest"]) == 1000 * rate * 3 * 3

    def test_ltv_follows_price(self, api: Api, sandbox: Sandbox) -> None:
        """currentLTV is debt value over collateral value, to 4 decimals."""
        api.borrow(loanCurrency="USDT", loanAmount="1000", collateralCurrency="ETH",
                   collateralAmount="1")
        assert api.get(ONGOING).result["list"][0]["currentLTV"] == "0.4000"
        sandbox.set_price("ETH", "2000")
        assert api.get(ONGOING).result["list"][0]["currentLTV"] == "0.5000"


class TestRepayAndAdjust:
    """Repay, collateral adjustment and their histories."""

    def test_partial_then_full_repay(self, api: Api, sandbox: Sandbox, clock: Clock) -> None:
        """Interest is paid first; the final repayment returns the collateral."""
        order_id = api.post(BORROW, DOC_BODY).result["orderId"]
        clock.t += HOUR
        repay = assert_envelope(api.post("/v5/crypto-loan/repay",
                                         {"orderId": order_id, "amount": "100"}))
        assert len(repay["repayId"]) == 19
        (row,) = api.get(ONGOING).result["list"]
        assert row["residualInterest"] == "0"
        assert row["totalDebt"] == "450.00496903"
        assert api.post("/v5/crypto-loan/repay",
                        {"orderId": order_id, "amount": "450.00496904"}).code == 177010
        assert api.post("/v5/crypto-loan/repay",
                        {"orderId": order_id, "amount": "450.00496903"}).code == 0
        assert api.get(ONGOING).result["list"] == []
        assert sandbox.wallet["BTC"] == Decimal("10")
        assert sandbox.wallet["USDT"] == Decimal("100000") - Decimal("0.00496903")
        history = api.get("/v5/crypto-loan/repayment-history", f"orderId={order_id}").result
        assert [r["collateralReturn"] for r in history["list"]] == ["0.01057693", "0"]
        assert history["list"][0]["repayStatus"] == 1
        (done,) = api.get("/v5/crypto-loan/borrow-history").result["list"]
        assert done["status"] == 1 and done["repaidInterest"] == "0.00496903"
        assert done["initialLoanAmount"] == "550" and done["borrowTime"] == str(T0)

    def test_repay_errors(self, api: Api) -> None:
        """Unknown orders are 177005; missing amounts 10001."""
        assert api.post("/v5/crypto-loan/repay", {"orderId": "1", "amount": "1"}).code == 177005
        order_id = api.post(BORROW, DOC_BODY).result["orderId"]
        assert api.post("/v5/crypto-loan/repay", {"orderId": order_id}).code == 10001

    def test_adjust_collateral(self, api: Api, sandbox: Sandbox) -> None:
        """Adding and reducing collateral moves it between the loan and the wallet."""
        order_id = api.borrow(loanCurrency="USDT", loanAmount="1000", collateralCurrency="ETH",
                              collateralAmount="1").result["orderId"]
        max_path = "/v5/crypto-loan/max-collateral-amount"
        assert api.get(max_path, f"orderId={order_id}").result == {"maxCollateralAmount": "0.5"}
        adjust = "/v5/crypto-loan/adjust-ltv"
        assert api.post(adjust, {"orderId": order_id, "amount": "0.6",
                                 "direction": "1"}).code == 177013
        assert api.post(adjust, {"orderId": order_id, "amount": "0.5",
                                 "direction": "1"}).code == 0
        assert api.post(adjust, {"orderId": order_id, "amount": "1000",
                                 "direction": "0"}).code == 177011
        assert api.post(adjust, {"orderId": order_id, "amount": "1",
                                 "direction": "0"}).code == 0
        assert sandbox.wallet["ETH"] == Decimal("98.5")
        rows = api.get("/v5/crypto-loan/adjustment-history", f"orderId={order_id}").result["list"]
        assert [(r["direction"], r["preLTV"], r["afterLTV"]) for r in rows] == [
            (0, "0.8000", "0.2667"), (1, "0.4000", "0.8000"),
        ]


class TestInProcess:
    """Sandbox.handle works without any transport."""

    def test_handle_directly(self) -> None:
        """Header names are case-insensitive and replies are bytes with headers."""
        sandbox = Sandbox(clock=Clock(T0))
        stamp = str(T0)
        signed = (stamp + DEMO_API_KEY + "5000").encode() + DOC_BODY
        headers = {"x-bapi-api-key": DEMO_API_KEY, "X-Bapi-Timestamp": stamp,
                   "X-BAPI-RECV-WINDOW": "5000", "x-bapi-sign": hmac_sign(DEMO_API_SECRET, signed)}
        reply = sandbox.handle("POST", BORROW, "", headers, DOC_BODY)
        assert reply.status == 200 and reply.ret_code == 0 and not reply.drop
        assert json.loads(reply.body)["result"]["orderId"] in sandbox.orders
        assert reply.headers["X-Bapi-Limit"] == "5000"

    def test_explicit_credentials(self) -> None:
        """credentials= replaces the demo key."""
        sandbox = Sandbox(clock=Clock(T0), credentials={"K1": "S1"})
        reply = sandbox.handle("GET", ONGOING, "", {"X-BAPI-API-KEY": DEMO_API_KEY}, b"")
        assert reply.ret_code == 10003

    def test_money_is_decimal(self) -> None:
        """Prices and balances refuse floats."""
        sandbox = Sandbox()
        with pytest.raises(TypeError):
            sandbox.set_price("BTC", 65000.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            sandbox.set_balance("BTC", 1.5)  # type: ignore[arg-type]
        assert all(isinstance(v, Decimal) for v in sandbox.wallet.values())


class TestEntryPoints:
    """default_server(), the command line and the import boundary."""

    def test_default_server_is_a_singleton(self) -> None:
        """default_server() starts once and answers with the demo key."""
        first = default_server()
        assert default_server() is first and first.running
        api = Api(first)
        assert api.get(ONGOING).code == 0
        api.close()

    def test_command_line(self, tmp_path: Any) -> None:
        """python -m loan_widgets.sandbox prints one BASE_URL line and serves until SIGTERM."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "loan_widgets.sandbox", "--seed", "3",
             "--api-key", "CLIKEY", "--api-secret", "CLISECRET"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 15)
            assert ready, "no BASE_URL line within 15 s"
            line = proc.stdout.readline().decode()  # type: ignore[union-attr]
            assert line.startswith("BASE_URL=http://127.0.0.1:")
            port = int(line.strip().rsplit(":", 1)[1])
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            stamp = str(time.time_ns() // 1_000_000)
            for key, secret in (("CLIKEY", "CLISECRET"), (DEMO_API_KEY, DEMO_API_SECRET)):
                conn.request("GET", ONGOING, headers={
                    "X-BAPI-API-KEY": key, "X-BAPI-TIMESTAMP": stamp,
                    "X-BAPI-RECV-WINDOW": "5000",
                    "X-BAPI-SIGN": hmac_sign(secret, (stamp + key + "5000").encode()),
                })
                assert json.loads(conn.getresponse().read())["retCode"] == 0
            conn.close()
        finally:
            proc.terminate()
            out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert out == b""  # the BASE_URL line was the only output

    def test_import_boundary(self) -> None:
        """Importing the sandbox pulls in no IPython, ipywidgets, pandas or requests."""
        code = (
            "import sys, loan_widgets; before = set(sys.modules)\n"
            "import loan_widgets.sandbox, loan_widgets.sandbox.__main__\n"
            "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
            "bad = new & {'IPython', 'ipywidgets', 'pandas', 'requests', 'traitlets'}\n"
            "assert not bad, bad\n"
        )
        subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
