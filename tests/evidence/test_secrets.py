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
