"""LoanClient over real HTTP on loopback against the sandbox exchange."""

from __future__ import annotations

import json
import logging
import socket
from decimal import Decimal
from typing import Any

import pytest
from support import PLANTED_KEY, PLANTED_SECRET, posts
from support import pem as private_pem

from loan_widgets import (
    BadResponse,
    ConnectError,
    CredentialsError,
    ExchangeError,
    LoanClient,
    OutcomeUnknown,
    RateLimitError,
    ValidationError,
)
from loan_widgets.endpoints import BORROW
from loan_widgets.ledger import Ledger

DOC_BODY = (
    b'{"loanCurrency":"USDT","loanAmount":"550","collateralCurrency":"BTC",'
    b'"loanTerm":null,"collateralAmount":null}'
)
BORROW_PATH = "/v5/crypto-loan/borrow"


class TestBorrow:
    """A borrow goes out as the documented bytes and lands in the ledger."""

    def test_doc_example(self, client: LoanClient, exchange, ledger: Ledger) -> None:
        """USDT 550 against BTC: 19-digit order id, the exact doc body on the wire."""
        result = client.borrow("USDT", "550", "BTC")
        assert len(result.order_id) == 19 and result.order_id.isdigit()
        [post] = posts(exchange)
        assert post.body == DOC_BODY
        row = ledger.get(result.ledger_id)
        assert (row.status, row.order_id, row.loan_amount) == (
            "accepted",
            result.order_id,
            Decimal("550"),
        )
        assert row.source == "api" and row.network == "sandbox"

    def test_loan_credited_collateral_debited(self, client: LoanClient, exchange) -> None:
        """The exchange's wallet moves by exact Decimal amounts."""
        before = dict(exchange.wallet)
        result = client.borrow("USDT", "550", "BTC")
        [loan] = client.ongoing_orders(orderId=result.order_id)
        assert exchange.wallet["USDT"] - before["USDT"] == Decimal("550")
        assert before["BTC"] - exchange.wallet["BTC"] == Decimal(loan["collateralAmount"])
        assert loan["loanCurrency"] == "USDT" and loan["loanTerm"] == ""

    def test_collateral_driven_fixed_term(self, client: LoanClient, exchange) -> None:
        """--collateral-amount 0.1 --term 30 borrows what 0.1 BTC supports for 30 days."""
        result = client.borrow("USDT", None, "BTC", collateral_amount="0.1", term=30)
        [loan] = client.ongoing_orders(orderId=result.order_id)
        assert loan["loanTerm"] == "30" and Decimal(loan["collateralAmount"]) == Decimal("0.1")
        assert Decimal(loan["totalDebt"]) > 0 and loan["expirationTime"] != ""

    def test_ids_are_deterministic_per_seed(self, ledger: Ledger) -> None:
        """Two sandboxes with the same seed give the same first order id."""
        from loan_widgets.sandbox import Sandbox, SandboxServer

        ids = []
        for seed in (3, 3, 4):
            with (
                SandboxServer(Sandbox(seed=seed)) as srv,
                LoanClient(base_url=srv.base_url, ledger=ledger) as c,
            ):
                ids.append(c.borrow("USDT", "550", "BTC").order_id)
        assert ids[0] == ids[1] != ids[2]

    def test_bad_input_sends_and_records_nothing(
        self, client: LoanClient, exchange, ledger: Ledger
    ) -> None:
        """Validation errors come before the network and the ledger."""
        with pytest.raises(ValidationError):
            client.borrow("USDT", "-1", "BTC")
        assert exchange.count() == 0 and ledger.count() == 0

    def test_result_repr(self, client: LoanClient) -> None:
        """repr and HTML name the order id, the loan and the network."""
        result = client.borrow("USDT", "550", "BTC")
        assert result.order_id in repr(result) and "550 USDT against BTC" in repr(result)
        assert result.order_id in result._repr_html_() and "sandbox" in result._repr_html_()


class TestTypedReads:
    """Typed list reads refuse filters the endpoint does not document."""

    def test_misspelt_filter(self, client: LoanClient, exchange) -> None:
        """orderID (for orderId) is refused with the allowed list, before any request."""
        with pytest.raises(ValidationError, match=r"'orderID'.*orderId, loanCurrency") as info:
            client.ongoing_orders(orderID="1")
        assert "\n" not in str(info.value) and exchange.count() == 0


class TestDryRun:
    """prepare() signs the exact body and sends nothing."""

    def test_prepare_sends_nothing(self, client: LoanClient, exchange) -> None:
        """The prepared request carries the doc body; the exchange saw no request."""
        from loan_widgets.orders import BorrowRequest

        prepared = client.prepare(BORROW, body=BorrowRequest("USDT", "BTC", "550").to_body())
        assert prepared.body.encode() == DOC_BODY
        assert prepared.url.endswith(BORROW_PATH)
        assert len(prepared.headers["X-BAPI-SIGN"]) == 64
        assert exchange.count() == 0
        shown = repr(prepared)
        assert prepared.headers["X-BAPI-SIGN"] not in shown
        assert prepared.headers["X-BAPI-API-KEY"] not in shown


class TestExchangeErrors:
    """Refusals carry retCode, retMsg and a hint, and are recorded as rejected."""

    @pytest.mark.parametrize(
        ("args", "code"),
        [
            (("USDT", "5", "BTC"), 177009),
            (("USDT", "9000000", "BTC"), 177007),
            (("USDT", "550.12345", "BTC"), 177004),
            (("USDT", "550", "DOGEX"), 177017),
            (("ZZZ", "5", "BTC"), 177006),
        ],
    )
    def test_rejections(self, client: LoanClient, ledger: Ledger, exchange, args, code) -> None:
        """Below minimum, above maximum, precision and unsupported coins."""
        with pytest.raises(ExchangeError) as info:
            client.borrow(*args)
        assert info.value.ret_code == code and info.value.hint
        assert info.value.http_status == 200
        row = ledger.get(info.value.ledger_id)
        assert (row.status, row.ret_code) == ("rejected", code)
        assert len(posts(exchange)) == 1

    def test_insufficient_collateral_balance(self, client: LoanClient, exchange) -> None:
        """More collateral than the Funding wallet holds gives 177011."""
        exchange.set_balance("BTC", "0.001")
        with pytest.raises(ExchangeError) as info:
            client.borrow("USDT", "5000", "BTC")
        assert info.value.ret_code == 177011

    def test_wrong_secret_is_10004_sent_once(self, server, exchange, ledger: Ledger) -> None:
        """A wrong secret is refused with 10004 by the signed read before the borrow: the
        borrow is never sent, and its row says it never left."""
        with (
            LoanClient(
                base_url=server.base_url, api_key=PLANTED_KEY, api_secret="wrong", ledger=ledger
            ) as c,
            pytest.raises(ExchangeError) as info,
        ):
            c.borrow("USDT", "550", "BTC")
        assert info.value.ret_code == 10004 and "signature" in info.value.hint
        assert len(posts(exchange)) == 0 and ledger.get(info.value.ledger_id).status == "failed"

    def test_unknown_key_is_10003(self, server, ledger: Ledger) -> None:
        """An unknown key is refused with 10003 and a hint about environments."""
        with (
            LoanClient(
                base_url=server.base_url, api_key="NOSUCHKEY1", api_secret="x", ledger=ledger
            ) as c,
            pytest.raises(ExchangeError) as info,
        ):
            c.borrow("USDT", "550", "BTC")
        assert info.value.ret_code == 10003 and "testnet" in info.value.hint

    @pytest.mark.parametrize(("code", "status"), [(10016, "unknown"), (177002, "rejected")])
    def test_busy_is_not_resent(
        self, client: LoanClient, exchange, ledger: Ledger, code: int, status: str
    ) -> None:
        """'Busy' and internal errors are reported, not retried; 10016 may hide an execution."""
        exchange.faults.inject(BORROW_PATH, "retcode", code=code)
        with pytest.raises(ExchangeError) as info:
            client.borrow("USDT", "550", "BTC")
        assert info.value.ret_code == code
        assert ledger.get(info.value.ledger_id).status == status
        assert len(posts(exchange)) == 1 and not exchange.orders


class TestResend:
    """A POST is resent only when the answer proves it was not executed."""

    def test_10002_resyncs_and_resends_once(self, client: LoanClient, exchange) -> None:
        """After the server clock jumps 30 s, 10002 leads to a re-sync and one resend."""
        client.borrow("USDT", "500", "BTC")  # clock and open loans known: the next is a POST
        exchange.faults.skew_ms = 30_000
        result = client.borrow("USDT", "550", "BTC")
        codes = [p.ret_code for p in posts(exchange)][1:]
        assert codes == [10002, 0] and len(exchange.orders) == 2
        assert result.order_id in exchange.orders

    @pytest.mark.parametrize("skew", [30_000, -30_000])
    def test_first_call_syncs_clock(self, client: LoanClient, exchange, skew: int) -> None:
        """A clock 30 s off either way is measured before the first signed call."""
        exchange.faults.skew_ms = skew
        client.borrow("USDT", "550", "BTC")
        assert [p.ret_code for p in posts(exchange)] == [0]
        assert client.clock_offset_ms == pytest.approx(skew, abs=500)

    def test_10006_waits_for_reset_and_resends_once(self, client: LoanClient, exchange) -> None:
        """Rate limited: wait until the reset header, resend once, freshly signed."""
        exchange.faults.inject(BORROW_PATH, "retcode", code=10006, reset_ms=150)
        client.borrow("USDT", "550", "BTC")
        sent = posts(exchange)
        assert [(p.fault, p.ret_code) for p in sent] == [("retcode", None), (None, 0)]
        assert sent[0].headers["x-bapi-timestamp"] != sent[1].headers["x-bapi-timestamp"]

    def test_10006_twice_gives_up(self, client: LoanClient, exchange) -> None:
        """A second 10006 is raised: at most one resend."""
        exchange.faults.inject(BORROW_PATH, "retcode", times=2, code=10006, reset_ms=50)
        with pytest.raises(RateLimitError):
            client.borrow("USDT", "550", "BTC")
        assert len(posts(exchange)) == 2 and not exchange.orders


class TestLostAnswers:
    """A write whose answer is lost is 'unknown', sent once and never resent."""

    def test_timeout_is_unknown(self, client: LoanClient, exchange, ledger: Ledger) -> None:
        """An answer slower than the timeout: unknown, one POST, and the loan exists."""
        exchange.faults.inject(BORROW_PATH, "latency", seconds=3.0)
        with pytest.raises(OutcomeUnknown) as info:
            client.borrow("USDT", "550", "BTC")
        assert "Do not resend" in str(info.value) and "\n" not in str(info.value)
        assert ledger.get(info.value.ledger_id).status == "unknown"
        assert len(posts(exchange)) == 1 and len(exchange.orders) == 1

    def test_drop_after_execute_is_unknown(self, client: LoanClient, exchange, ledger) -> None:
        """The connection dropped after executing: unknown, one POST."""
        exchange.faults.inject(BORROW_PATH, "drop")
        with pytest.raises(OutcomeUnknown) as info:
            client.borrow("USDT", "550", "BTC")
        assert ledger.get(info.value.ledger_id).status == "unknown"
        assert len(posts(exchange)) == 1 and len(exchange.orders) == 1

    @pytest.mark.parametrize("status", [502, 503])
    def test_5xx_html_is_unknown(self, client: LoanClient, exchange, status: int) -> None:
        """A gateway's HTML 5xx on a write: unknown outcome, HTTP status kept, one POST."""
        exchange.faults.inject(BORROW_PATH, "http", status=status)
        with pytest.raises(OutcomeUnknown) as info:
            client.borrow("USDT", "550", "BTC")
        assert info.value.http_status == status and "HTML" in str(info.value)
        assert len(posts(exchange)) == 1

    def test_truncated_json_is_unknown(self, client: LoanClient, exchange) -> None:
        """A 200 with broken JSON on a write: unknown outcome, one POST."""
        exchange.faults.inject(BORROW_PATH, "bad_json")
        with pytest.raises(OutcomeUnknown):
            client.borrow("USDT", "550", "BTC")
        assert len(posts(exchange)) == 1


class TestTransport:
    """HTTP failures become clear transport errors; the status is kept apart from retCode."""

    def test_cdn_403_is_rejected(self, client: LoanClient, exchange, ledger: Ledger) -> None:
        """An HTML 403 from a CDN: BadResponse with status 403, recorded rejected, one POST."""
        exchange.faults.inject(BORROW_PATH, "http", status=403)
        with pytest.raises(BadResponse) as info:
            client.borrow("USDT", "550", "BTC")
        assert info.value.http_status == 403 and "HTML" in str(info.value)
        assert ledger.rows()[-1].status == "rejected" and ledger.rows()[-1].http_status == 403
        assert len(posts(exchange)) == 1

    def test_connection_refused(self, ledger: Ledger) -> None:
        """Nobody listening: ConnectError, and the ledger says the order never left."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with (
            LoanClient(base_url=f"http://127.0.0.1:{port}", ledger=ledger, timeout=1) as c,
            pytest.raises(ConnectError),
        ):
            c.borrow("USDT", "550", "BTC")
        [row] = ledger.rows()  # the clock sync failed first: the order never left
        assert row.status == "failed" and "nothing was sent" in row.ret_msg

    def test_gets_are_retried(self, client: LoanClient, exchange) -> None:
        """A read-only GET survives one 502 by retrying."""
        exchange.faults.inject("/v5/crypto-loan/loanable-data", "http", status=502)
        coins = client.loanable_data()
        assert any(c["currency"] == "USDT" for c in coins)
        assert exchange.count("/v5/crypto-loan/loanable-data") == 2

    def test_public_endpoints_are_unsigned(self, client: LoanClient, exchange) -> None:
        """collateral-data, loanable-data and market time carry no X-BAPI headers."""
        client.collateral_data()
        client.loanable_data()
        client.server_time()
        for record in exchange.requests:
            assert not any(h.lower().startswith("x-bapi") for h in record.headers)


class TestConfiguration:
    """Networks and credentials resolve from arguments, then the environment."""

    def test_testnet_without_keys_names_variables(self, monkeypatch) -> None:
        """No keys on testnet: a clear error naming the variables, before anything is sent."""
        client = LoanClient(network="testnet")
        with pytest.raises(CredentialsError, match=r"BYBIT_API_KEY.*BYBIT_API_SECRET"):
            client.borrow("USDT", "550", "BTC")

    def test_environment_settings(self, monkeypatch, server) -> None:
        """LOAN_WIDGETS_NETWORK/BASE_URL/TIMEOUT and BYBIT_* are read."""
        monkeypatch.setenv("LOAN_WIDGETS_NETWORK", "testnet")
        monkeypatch.setenv("LOAN_WIDGETS_BASE_URL", server.base_url)
        monkeypatch.setenv("LOAN_WIDGETS_TIMEOUT", "3.5")
        monkeypatch.setenv("BYBIT_API_KEY", PLANTED_KEY)
        monkeypatch.setenv("BYBIT_API_SECRET", PLANTED_SECRET)
        client = LoanClient()
        assert (client.network, client.base_url, client.settings.timeout) == (
            "testnet",
            server.base_url,
            3.5,
        )
        assert len(client.borrow("USDT", "550", "BTC").order_id) == 19

    def test_default_hosts(self) -> None:
        """testnet and mainnet point at Bybit's documented hosts."""
        assert LoanClient(network="testnet").base_url == "https://api-testnet.bybit.com"
        assert LoanClient(network="mainnet").base_url == "https://api.bybit.com"

    def test_unknown_network(self) -> None:
        """A misspelt network is a configuration error naming the choices."""
        from loan_widgets import ConfigurationError

        with pytest.raises(ConfigurationError, match="sandbox, testnet, mainnet"):
            LoanClient(network="mainet")

    def test_rsa_credentials(self, server, exchange, ledger: Ledger, rsa_key: Any) -> None:
        """A self-generated RSA key signs borrows the sandbox accepts."""
        from cryptography.hazmat.primitives import serialization

        key = rsa_key
        pem = private_pem(key)
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        exchange.add_credentials("RSAKEY0001", public_key_pem=public)
        with LoanClient(
            base_url=server.base_url, api_key="RSAKEY0001", private_key=pem, ledger=ledger
        ) as c:
            assert len(c.borrow("USDT", "550", "BTC").order_id) == 19


class TestLogging:
    """Logs never carry a key, secret or signature."""

    def test_debug_logs_are_clean(self, server, exchange, ledger, debug_logs) -> None:
        """At DEBUG, a borrow and a refusal log no key, secret or signature."""
        with LoanClient(
            base_url=server.base_url,
            api_key=PLANTED_KEY,
            api_secret=PLANTED_SECRET,
            ledger=ledger,
        ) as c:
            c.borrow("USDT", "550", "BTC")
            with pytest.raises(ExchangeError):
                c.borrow("USDT", "1", "BTC")
        text = "\n".join(r.getMessage() for r in debug_logs.records)
        assert debug_logs.records, "expected some debug records"
        signatures = [p.headers["x-bapi-sign"] for p in posts(exchange)]
        for secret in [PLANTED_SECRET, PLANTED_KEY, *signatures]:
            assert secret not in text
        logging.getLogger("loan_widgets").setLevel(logging.NOTSET)

    def test_ledger_has_no_secret(self, server, ledger) -> None:
        """The ledger file holds no key or secret bytes."""
        with LoanClient(
            base_url=server.base_url,
            api_key=PLANTED_KEY,
            api_secret=PLANTED_SECRET,
            ledger=ledger,
        ) as c:
            c.borrow("USDT", "550", "BTC")
        ledger.close()
        raw = b"".join(p.read_bytes() for p in ledger.path.parent.glob("ledger.sqlite3*"))
        assert PLANTED_SECRET.encode() not in raw and PLANTED_KEY.encode() not in raw
        assert json.loads(ledger.rows()[-1].body)["loanAmount"] == "550"
