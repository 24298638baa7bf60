"""Frames people can read: plain amounts that stay exact, one missing marker, compact display."""

from __future__ import annotations

import pickle
import re
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

import loan_widgets
from loan_widgets.client import LoanClient
from loan_widgets.frames import (
    LEDGER_COMPACT,
    CompactFrame,
    LoansTable,
    PlainDecimal,
    history_frame,
    ledger_frame,
    loans_frame,
)
from loan_widgets.ledger import Ledger
from loan_widgets.orders import BorrowRequest

#: Python's scientific notation for a Decimal: 1E-8, 5E+2, 1.5e-07
EXPONENT = re.compile(r"\d[eE][+-]?\d")
#: Markers of a missing value other than pandas' <NA>
OTHER_MISSING = re.compile(r"\b(None|NaN|NaT|nan)\b")
TINY = "0.00000001"  # Decimal prints it as 1E-8


def _record_borrow(ledger: Ledger, request: BorrowRequest, **fields: str) -> int:
    """A pending borrow row for ``request``, as the client writes one before sending."""
    return ledger.record_pending(
        body=request.to_body(), loan_currency=request.loan_currency,
        loan_amount=request.loan_amount, collateral_currency=request.collateral_currency,
        collateral_amount=request.collateral_amount, term=request.term, **fields,
    )


@pytest.fixture
def filled(tmp_path: Path) -> Ledger:
    """The default ledger (``$LOAN_WIDGETS_LEDGER``) with every kind of row in it."""
    ledger = Ledger(tmp_path / "ledger.sqlite3")  # the conftest points the variable here
    first = _record_borrow(
        ledger, BorrowRequest("USDT", "BTC", "550"), network="sandbox", source="magic"
    )
    ledger.settle(first, "accepted", order_id="1794268382220749593", ret_code=0, latency_ms=1.5)
    tiny = _record_borrow(
        ledger, BorrowRequest("ETH", "BTC", TINY), network="sandbox", source="api"
    )
    ledger.settle(tiny, "rejected", ret_code=177009, ret_msg="below the minimum")
    _record_borrow(
        ledger, BorrowRequest("USDT", "BTC", None, "0.00000100", "30"), network="sandbox",
        source="widget",
    )
    repay = ledger.record_pending(
        network="sandbox", source="magic", action="repay", loan_amount=Decimal("1E-7"),
        ref_id="1794268382220749593", body="{}",
    )
    ledger.settle(repay, "unknown", ret_msg="no answer within 2 s")
    big = ledger.record_pending(
        network="sandbox", source="magic", action="adjust", collateral_amount=Decimal("5E+2"),
        direction="add", ref_id="1794268382220749593", body="{}",
    )
    ledger.settle(big, "not_executed")
    return ledger


def _texts(frame: pd.DataFrame) -> dict[str, str]:
    """Every way a notebook shows a frame (pandas' notebook defaults: 20 columns, 80 wide)."""
    with pd.option_context("display.max_columns", 20, "display.width", 80):
        return {"repr": repr(frame), "html": frame._repr_html_() or "", "str": str(frame)}


def _header(frame: pd.DataFrame) -> list[str]:
    """The column names of the text repr, on one line."""
    with pd.option_context("display.width", 10_000, "display.max_columns", 100):
        return repr(frame).splitlines()[0].split()


class TestPlainNotation:
    """Amounts print as people write them, in every view, while staying exact Decimals."""

    def test_orders_repr_has_no_exponent(self, filled: Ledger) -> None:
        """orders(): no 1E-8 in the text or HTML repr, compact or full; 0.00000001 shown."""
        for frame in (loan_widgets.orders(), loan_widgets.orders(full=True)):
            for kind, text in _texts(frame).items():
                assert not EXPONENT.search(text), f"{kind}: {EXPONENT.search(text)}"
                assert TINY in text and "0.0000001" in text and "500" in text, kind

    def test_values_stay_exact_decimals(self, filled: Ledger) -> None:
        """Every amount is a Decimal equal to what was recorded, digits and exponent alike."""
        frame = loan_widgets.orders()
        amounts = frame["loan_amount"].dropna().tolist()
        assert amounts == [Decimal("550"), Decimal(TINY), Decimal("1E-7")]
        assert all(isinstance(v, Decimal) for v in amounts)
        assert [v.as_tuple() for v in amounts] == [
            Decimal("550").as_tuple(), Decimal(TINY).as_tuple(), Decimal("0.0000001").as_tuple()
        ]
        total = frame["loan_amount"].sum()
        assert total == Decimal("550.00000011") and isinstance(total, Decimal)
        assert frame["collateral_amount"].dropna().tolist() == [Decimal("0.000001"), 500]

    def test_series_csv_and_format_are_plain(self, filled: Ledger) -> None:
        """A column, a cell, an f-string and a CSV export all read 0.00000001."""
        frame = loan_widgets.orders()
        cell = frame["loan_amount"].iloc[1]
        assert (str(cell), f"{cell}", repr(cell)) == (TINY, TINY, f"Decimal('{TINY}')")
        assert f"{cell:.2e}" == "1.00e-8"  # an explicit format still applies
        column = repr(frame["loan_amount"])
        assert TINY in column and not EXPONENT.search(column)
        assert f",{TINY}," in frame.to_csv() and not EXPONENT.search(frame.to_csv())

    def test_plain_decimal_is_a_decimal(self) -> None:
        """Equal, same hash, isinstance; arithmetic gives plain Decimal; it pickles."""
        value = PlainDecimal("1E-8")
        assert isinstance(value, Decimal) and value == Decimal(TINY)
        assert hash(value) == hash(Decimal(TINY))
        assert type(value + 1) is Decimal
        back = pickle.loads(pickle.dumps(value))
        assert back == value and str(back) == TINY

    def test_frame_survives_pickle(self, filled: Ledger) -> None:
        """A pickled ledger frame comes back equal, compact display and all."""
        frame = loan_widgets.orders()
        back = pickle.loads(pickle.dumps(frame))
        assert isinstance(back, CompactFrame)
        pd.testing.assert_frame_equal(pd.DataFrame(back), pd.DataFrame(frame))
        assert repr(back) == repr(frame)


class TestMissingValues:
    """One marker for a missing value, whatever the column's type."""

    def test_orders_show_only_na(self, filled: Ledger) -> None:
        """Decimal, text, integer and float gaps all display <NA>; no None, NaN or NaT."""
        for frame in (loan_widgets.orders(), loan_widgets.orders(full=True)):
            for kind, text in _texts(frame).items():
                assert "&lt;NA&gt;" in text or "<NA>" in text, kind
                assert not OTHER_MISSING.search(text), f"{kind}: {OTHER_MISSING.search(text)}"

    def test_missing_amounts_are_na(self, filled: Ledger) -> None:
        """A missing amount is pd.NA (isna() holds), not None."""
        column = loan_widgets.orders()["collateral_amount"]
        assert column.isna().sum() == 3
        assert all(v is pd.NA for v in column[column.isna()])

    def test_missing_times_show_na(self) -> None:
        """A flexible loan's missing expiry (NaT) displays <NA> like every other gap."""
        item = {
            "orderId": "1", "loanCurrency": "USDT", "totalDebt": "550", "residualInterest": "0",
            "residualPenaltyInterest": "0", "collateralCurrency": "BTC",
            "collateralAmount": "0.00000100", "currentLTV": "0.8", "hourlyInterestRate": "1E-7",
            "loanTerm": "", "expirationTime": "",
        }
        frame = loans_frame([item], {"BTC": {"marginCallLTV": "0.87", "liquidationLTV": "0.91"}})
        assert frame["expires_at"].isna().all()
        for text in (*_texts(frame.full).values(), repr(LoansTable(frame, "sandbox"))):
            assert not OTHER_MISSING.search(text) and not EXPONENT.search(text)
        shown = _texts(frame.full)["repr"]
        assert "0.00000100" in shown and "0.0000001" in shown

    def test_compact_times_to_the_second_and_na(self) -> None:
        """The compact view shows times to the second (values keep their ms) and gaps as <NA>."""
        stamps = pd.to_datetime(pd.Series([None, 1_767_225_600_789], dtype="Int64"), unit="ms",
                                utc=True)
        frame = CompactFrame.build({"at": stamps, "n": [1, 2], "x": [3, 4]}, ["at", "n"])
        for text in _texts(frame).values():
            assert "2026-01-01 00:00:00+00:00" in text and ".789" not in text
            assert not OTHER_MISSING.search(text) and ("<NA>" in text or "&lt;NA&gt;" in text)
        assert frame["at"].iloc[1].microsecond == 789_000 and ".789" in _texts(frame.full)["repr"]


class TestTypes:
    """Columns get sensible dtypes, from the ledger's own column types."""

    def test_ledger_dtypes(self, filled: Ledger) -> None:
        """Times tz-aware UTC, texts string, codes Int64, latency Float64, amounts object."""
        frame = loan_widgets.orders()
        assert str(frame["submitted_at"].dt.tz) == "UTC"
        assert frame.index.name == "id" and frame.index.dtype == "int64"
        for column in ("network", "source", "action", "status", "order_id", "ret_msg"):
            assert frame[column].dtype == "string", column
        assert frame["ret_code"].dtype == "Int64" and frame["http_status"].dtype == "Int64"
        assert frame["latency_ms"].dtype == "Float64"
        assert frame["loan_amount"].dtype == object and frame["collateral_amount"].dtype == object

    def test_new_ledger_columns_are_typed_by_name_and_type(self) -> None:
        """Columns the ledger gains later need no change here: host, coin, a fee, a time."""
        columns = [
            ("id", "INTEGER"), ("submitted_at_ms", "INTEGER"), ("network", "TEXT"),
            ("loan_amount", "TEXT"), ("host", "TEXT"), ("direction", "TEXT"),
            ("coin", "TEXT"), ("fee_amount", "TEXT"), ("settled_at_ms", "INTEGER"),
            ("attempts", "INTEGER"), ("latency_ms", "REAL"),
        ]
        rows = [
            (7, 1_767_225_600_123, "sandbox", "1E-8", "sandbox:abc", "add", "BTC", None,
             1_767_225_601_000, 1, 0.5),
            (9, 1_767_225_600_456, "sandbox", None, None, None, None, "0.5", None, None, None),
        ]
        frame = ledger_frame(columns, rows)
        assert list(frame.index) == [7, 9]
        assert str(frame["settled_at"].dt.tz) == "UTC" and frame["settled_at"].isna().tolist() == [
            False, True
        ]
        assert frame["fee_amount"].tolist()[1] == Decimal("0.5")
        assert isinstance(frame.loc[7, "loan_amount"], Decimal)
        assert frame["host"].dtype == "string" and frame["coin"].dtype == "string"
        assert frame["attempts"].dtype == "Int64" and frame["latency_ms"].dtype == "Float64"
        assert not EXPONENT.search(repr(frame.full)) and TINY in repr(frame)

    def test_empty_ledger(self, tmp_path: Path) -> None:
        """An empty ledger gives every column, typed, and displays."""
        frame = Ledger(tmp_path / "empty.sqlite3").to_frame()
        assert len(frame) == 0 and "order_id" in frame.columns
        assert str(frame["submitted_at"].dt.tz) == "UTC"
        assert "order_id" in repr(frame) and frame._repr_html_()

    def test_history_frames_plain_and_typed(self) -> None:
        """History lists: Decimal amounts in plain text, Int64 statuses, UTC times."""
        frame = history_frame(
            "repayments",
            [{"repayId": "8", "orderId": "1", "loanCurrency": "USDT", "repayAmount": "1E-8",
              "collateralCurrency": "BTC", "collateralReturn": "", "loanTerm": "",
              "repayTime": "1767225600123", "repayStatus": 1, "repayType": "1"}],
        )
        assert frame.loc[0, "amount"] == Decimal(TINY) and frame["status"].dtype == "Int64"
        assert frame.loc[0, "collateral_returned"] is pd.NA
        assert TINY in repr(frame) and not OTHER_MISSING.search(repr(frame.full))


class TestCompactDisplay:
    """The ledger displays a compact set of columns and holds them all."""

    def test_compact_columns_shown_all_held(self, filled: Ledger) -> None:
        """orders() shows the compact columns; every column is still there for code."""
        frame = loan_widgets.orders()
        assert isinstance(frame, pd.DataFrame)
        assert {"ret_msg", "source", "latency_ms", "ref_id"} <= set(frame.columns)
        shown = [c for c in LEDGER_COMPACT if c != "network"]  # one network: in the note
        assert _header(frame) == shown
        assert "network: sandbox;" in repr(frame)
        assert f"{len(shown)} of {frame.shape[1]} columns shown; .full shows all" in repr(frame)
        assert frame["ret_msg"].dropna().tolist() == ["below the minimum", "no answer within 2 s"]

    def test_full_shows_every_column(self, filled: Ledger) -> None:
        """orders(full=True) and orders().full display every column, and are the same frame."""
        full = loan_widgets.orders(full=True)
        pd.testing.assert_frame_equal(pd.DataFrame(full), pd.DataFrame(loan_widgets.orders()))
        pd.testing.assert_frame_equal(pd.DataFrame(loan_widgets.orders().full), pd.DataFrame(full))
        assert _header(full) == list(full.columns)
        html = full._repr_html_() or ""
        assert all(f"<th>{c.replace('_', '_<wbr>')}</th>" in html for c in full.columns)

    def test_row_operations_keep_compact_display(self, filled: Ledger) -> None:
        """head, filters and sorting keep the compact display; the network shows once mixed."""
        frame = loan_widgets.orders()
        for derived in (frame.head(2), frame[frame["status"] == "accepted"], frame.iloc[::-1]):
            assert isinstance(derived, CompactFrame)
            assert _header(derived)[0] == "submitted_at"
            assert "columns shown" in repr(derived)
        mixed = frame.copy()
        mixed.loc[mixed.index[0], "network"] = "testnet"
        assert "network" in _header(mixed)

    def test_selected_columns_show_as_chosen(self, filled: Ledger) -> None:
        """A selection displays exactly its columns, with the same plain text and markers."""
        chosen = loan_widgets.orders()[["source", "loan_amount", "ret_msg"]]
        text = repr(chosen)
        assert _header(chosen) == ["source", "loan_amount", "ret_msg"]
        assert "columns shown" not in text and TINY in text and not OTHER_MISSING.search(text)

    def test_html_marks_note_and_wraps_headers(self, filled: Ledger) -> None:
        """The HTML table has no more than the compact columns, names wrap after underscores."""
        html = loan_widgets.orders()._repr_html_() or ""
        assert html.count("<th>") - html.count("<th></th>") <= len(LEDGER_COMPACT) + 1 + 5
        assert "<th>collateral_<wbr>currency</th>" in html and "<th>ret_msg</th>" not in html
        assert "columns shown; .full shows all" in html

    def test_every_column_compact_still_reads_at_a_glance(self) -> None:
        """A history whose compact set is all its columns (adjustments): times to the second,
        no column dropped for width, no note."""
        item = {"adjustId": "1794268382235750943", "orderId": "1794268382220749593",
                "collateralCurrency": "BTC", "amount": "0.001", "direction": 0,
                "preLTV": "0.8000", "afterLTV": "0.7309", "adjustTime": "1796154591181"}
        frame = history_frame("adjustments", [item] * 3)
        with pd.option_context("display.width", 80):
            text = repr(frame)
        assert "..." not in text and "columns shown" not in text
        assert all(c in text for c in frame.columns)
        assert "+00:00" in text and ".181" not in text


class TestLoanViews:
    """Open loans and histories from the sandbox read plainly too."""

    def test_loans_table_plain_and_compact(self, client: LoanClient) -> None:
        """%loans' table: compact columns, plain amounts, no exponent; the frame holds all."""
        client.borrow("USDT", "550", "BTC")
        frame = client.loans()
        assert isinstance(frame, CompactFrame) and "hourly_interest_rate" in frame.columns
        table = LoansTable(frame, "sandbox")
        for text in (repr(table), table._repr_html_(), repr(frame), frame._repr_html_() or ""):
            assert not EXPONENT.search(text) and not OTHER_MISSING.search(text)
        assert "hourly_interest_rate" not in repr(table)
        assert "hourly_interest_rate" in repr(frame.full.T)
        assert isinstance(frame.loc[0, "debt"], Decimal) and frame.loc[0, "debt"] == 550
