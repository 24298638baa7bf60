"""A planted secret is searched for in everything the project produces."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from support import PLANTED_KEY, PLANTED_SECRET

from loan_widgets import LoanClient
from loan_widgets.ledger import default_ledger


class TestPlantedSecret:
    """Borrows, dry runs, errors, %config and reprs never show the secret or the full key."""

    def test_magic_session_leaks_nothing(
        self, ip, server, monkeypatch: pytest.MonkeyPatch, caplog, tmp_path: Path
    ) -> None:
        """Every artefact of a %borrow session is free of the planted secret and key."""
        caplog.set_level(logging.DEBUG)
        monkeypatch.setenv("BYBIT_API_KEY", PLANTED_KEY)
        monkeypatch.setenv("BYBIT_API_SECRET", PLANTED_SECRET)
        texts: list[str] = []
        ip.run_line_magic("config", 'BorrowMagics.network = "testnet"')
        with capture_output() as captured:
            ip.run_cell("r = %borrow USDT 550 BTC", store_history=False).raise_error()
            ip.run_cell("r", store_history=False)
            ip.run_cell("%borrow USDT 550 BTC --dry-run", store_history=False)
            ip.run_cell("%borrow USDT 5 BTC", store_history=False)  # refused: 177009
            ip.run_cell("%borrow USDT 0 BTC", store_history=False)  # refused locally
            ip.run_cell("%config BorrowMagics", store_history=False)
            ip.run_cell("%config", store_history=False)
        texts += [captured.stdout, captured.stderr]
        texts += [str(o.data) for o in captured.outputs]
        for line in ("USDT 5 BTC", "USDT 1 BTC --term 60", "USDT 550 BTC --bogus"):
            with pytest.raises(UsageError) as info:
                ip.run_line_magic("borrow", line)
            texts.append(str(info.value))
        texts.append(repr(ip.run_line_magic("borrow", "USDT 550 BTC --dry-run")))
        client = LoanClient()
        texts += [repr(client), repr(client.credentials), str(client.credentials)]
        texts += [r.getMessage() for r in caplog.records]
        texts += [repr(r.args) for r in caplog.records]
        ledger = default_ledger()
        ledger.close()
        blob = b"".join(p.read_bytes() for p in ledger.path.parent.glob(ledger.path.name + "*"))
        assert [r.status for r in ledger.rows()] == ["accepted", "rejected", "rejected"]
        everything = "\n".join(texts)
        assert "177009" in everything and "loanCurrency" in everything  # the scan saw output
        for planted in (PLANTED_SECRET, PLANTED_KEY):
            assert planted not in everything
            assert planted.encode() not in blob

    def test_exception_texts_leak_nothing(self, server) -> None:
        """Refusals, lost answers and transport errors carry no key or secret."""
        from loan_widgets import LoanWidgetsError

        client = LoanClient(
            base_url=server.base_url, api_key=PLANTED_KEY, api_secret=PLANTED_SECRET, timeout=0.5
        )
        exchange = server.sandbox
        exchange.faults.inject("/v5/crypto-loan/borrow", "latency", seconds=1.0)
        exchange.faults.inject("/v5/crypto-loan/borrow", "http", status=403)
        errors = []
        for _ in range(3):
            with pytest.raises(LoanWidgetsError) as info:
                client.borrow("USDT", "5", "BTC")
            errors.append(info.value)
        for error in errors:
            text = f"{error}\n{error!r}\n{error.request!r}\n{vars(error)}"
            assert PLANTED_SECRET not in text and PLANTED_KEY not in text


class TestPlantedSecretThroughTheKeyring:
    """%loan_keys add, borrowing through the profile, listing, refusals, removal: no leak."""

    def test_keyring_session_leaks_nothing(
        self, ip, exchange, keyring_file, monkeypatch: pytest.MonkeyPatch, caplog
    ) -> None:
        """Prompts, output, errors, logs, reprs, the ledger and the profiles file are clean."""
        import base64
        import getpass

        from loan_widgets import profiles
        from loan_widgets.credentials import mask

        caplog.set_level(logging.DEBUG)
        answers = [PLANTED_KEY, PLANTED_SECRET, PLANTED_KEY, "not-the-secret-1"]
        asked: list[str] = []

        def prompt(text: str = "", stream: object = None) -> str:
            asked.append(text)
            return answers.pop(0)

        monkeypatch.setattr(getpass, "getpass", prompt)
        texts: list[str] = []
        with capture_output() as captured:
            for cell in (
                "%loan_keys add tn --network testnet",
                "%loan_keys list",
                "%loan_keys",
                "r = %borrow USDT 550 BTC --network testnet",
                "r",
                "%borrow USDT 550 BTC --network testnet --dry-run",
                "%borrow USDT 5 BTC --network testnet",  # refused: 177009
                "from loan_widgets import LoanClient\n"
                "c = LoanClient(profile='tn')\nc, c.credentials",
                "%loan_keys add tn2 --network testnet",  # refused: 10004
                "%config BorrowMagics",
            ):
                result = ip.run_cell(cell, store_history=False)
                if result.result is not None:
                    texts.append(repr(result.result))
                if result.error_in_exec is not None:
                    texts += [str(result.error_in_exec), repr(result.error_in_exec)]
        texts += [captured.stdout, captured.stderr, *(str(o.data) for o in captured.outputs)]
        texts += asked
        texts += [r.getMessage() for r in caplog.records] + [repr(r.args) for r in caplog.records]
        everything = "\n".join(texts)
        config = profiles.config_file().read_bytes()
        ledger = default_ledger()
        ledger.close()
        blob = b"".join(p.read_bytes() for p in ledger.path.parent.glob(ledger.path.name + "*"))

        # The session did what it claims: stored, borrowed with the key, refused, logged.
        assert keyring_file.get_password("loan_widgets", "tn") == PLANTED_SECRET
        assert {r.headers.get("x-bapi-api-key") for r in exchange.requests} >= {PLANTED_KEY}
        for expected in ("Stored profile 'tn'", "tn (default)", mask(PLANTED_KEY), "177009",
                         "retCode 10004", "loanCurrency", "Credentials(api_key='PL***42'"):
            assert expected in everything, expected
        assert [r.status for r in ledger.rows()] == ["accepted", "rejected"]
        assert PLANTED_KEY.encode() in config  # the key id is the profile's; never its secret
        encoded = base64.b64encode(PLANTED_SECRET.encode())
        for secret in (PLANTED_SECRET.encode(), encoded, PLANTED_SECRET.encode().hex().encode()):
            assert secret not in everything.encode() and secret not in blob
            assert secret not in config
        assert PLANTED_KEY not in everything and PLANTED_KEY.encode() not in blob
