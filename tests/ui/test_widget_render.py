"""The widget's pure parts, table-tested without ipywidgets or HTTP: state, rendering, the hold.

Quotes come from :func:`loan_widgets.quote.quote` over the recorded coin tables in
``tests/fixtures/coin-data.json``; the hold is checked against a real ledger file.
"""

from __future__ import annotations

import dataclasses
import html
import json
import re
import subprocess
import sys
from decimal import Decimal

import pytest
from support import FIXTURES

from loan_widgets.ledger import Ledger, LedgerRow
from loan_widgets.new_market import NewMarket, PoolAccount, offers_from_wire
from loan_widgets.pool_quote import PoolQuote, new_quote
from loan_widgets.quote import Limits, MarketData, Quote, quote
from loan_widgets.widget import render, render_pool
from loan_widgets.widget.hold import Hold, rows_text, unsettled_since
from loan_widgets.widget.state import FormState, status_text

COINS = json.loads((FIXTURES / "coin-data.json").read_text())
MARKET = MarketData.from_wire(
    COINS["loanable"], COINS["collateral"],
    {c: Decimal(p) for c, p in COINS["prices"].items()}, 1_800_000_000.0,
)
USDT, BTC = MARKET.loan_coins["USDT"], MARKET.collateral_coins["BTC"]


def typed(loan: str = "", collateral: str = "", term: str = "flexible", **kw: object) -> Quote:
    """A quote for USDT against BTC."""
    driver = "loan" if loan else ("collateral" if collateral else None)
    return quote(MARKET, "USDT", "BTC", term, loan, collateral, driver, **kw)  # type: ignore[arg-type]


def row(**fields: object) -> LedgerRow:
    """A ledger row with plausible defaults."""
    values: dict[str, object] = {
        "id": 1, "submitted_at_ms": 1_800_000_000_000, "updated_at_ms": 1_800_000_000_100,
        "network": "sandbox", "source": "widget", "api": "legacy", "action": "borrow",
        "loan_currency": "USDT", "loan_amount": Decimal(550), "collateral_currency": "BTC",
        "collateral_amount": None, "term": "flexible", "ref_id": None, "status": "accepted",
        "order_id": "1794268382220749593", "ret_code": 0, "ret_msg": "success",
        "http_status": 200, "latency_ms": 3.0, "body": "{}",
    }
    values.update(fields)
    for column in dataclasses.fields(LedgerRow):  # columns added later (host...) stay empty
        values.setdefault(column.name, None)
    return LedgerRow(**values)  # type: ignore[arg-type]


class TestStatus:
    """``status`` is derived from the state and its message, as the widget always wrote it."""

    @pytest.mark.parametrize(
        ("state", "message", "status"),
        [
            (FormState.LOADING, "", "loading"),
            (FormState.IDLE, "", "idle"),
            (FormState.READY, "550 USDT against ≈ 0.01057693 BTC, flexible", "ready"),
            (FormState.SENDING, "550 USDT against BTC", "sending"),
            (FormState.INVALID, "10 USDT is below the minimum loan of 20",
             "invalid: 10 USDT is below the minimum loan of 20"),
            (FormState.CONFIRM, "borrow 550 USDT, on MAINNET with real funds?",
             "confirm: borrow 550 USDT, on MAINNET with real funds?"),
            (FormState.ACCEPTED, "1794268382220749593", "accepted: 1794268382220749593"),
            (FormState.REJECTED, "177012 insufficient", "rejected: 177012 insufficient"),
            (FormState.UNKNOWN, "outcome unknown:\n  lost", "unknown: outcome unknown: lost"),
            (FormState.HELD, "ledger row 3 may have been executed",
             "held: ledger row 3 may have been executed"),
            (FormState.DRY_RUN, "POST http://h/v5/crypto-loan/borrow",
             "dry_run: POST http://h/v5/crypto-loan/borrow"),
            (FormState.ERROR, "RuntimeError: boom", "error: RuntimeError: boom"),
            (FormState.ERROR, "", "error"),
        ],
    )
    def test_status_text(self, state: FormState, message: str, status: str) -> None:
        """Bare for loading/idle/ready/sending, else 'state: message' on one line."""
        assert status_text(state, message) == status

    def test_every_state_has_a_colour(self) -> None:
        """The status line can be drawn for every state."""
        for state in FormState:
            assert render.status_line(state, "x").startswith("<div style='color:#")


class TestBadge:
    """The badge: network, masked account, host without user info, API, warnings."""

    @pytest.mark.parametrize(
        ("url", "label"),
        [
            ("https://api.bybit.com", "api.bybit.com"),
            ("http://user:pw@127.0.0.1:8800/path?q=1", "127.0.0.1:8800"),
            ("https://key@api-testnet.bybit.com:443", "api-testnet.bybit.com:443"),
            ("http://[::1]:9000", "[::1]:9000"),
            (" http://127.0.0.1:99999 ", "127.0.0.1:99999"),
        ],
    )
    def test_host_label(self, url: str, label: str) -> None:
        """Host and port as written, user info never."""
        assert render.host_label(url) == label

    def test_networks_and_warnings(self) -> None:
        """Green sandbox; red mainnet with 'real funds'; dry run says nothing is sent."""
        sandbox = render.badge("sandbox", "SA***01", "", api="legacy")
        assert "#2e7d32" in sandbox and "SANDBOX" in sandbox and "legacy loan API" in sandbox
        mainnet = render.badge("mainnet", "AB***CD", "api.bybit.com", api="new")
        assert "#c62828" in mainnet and "real funds" in mainnet and "api.bybit.com" in mainnet
        assert "new loan API" in mainnet and "DRY RUN" not in mainnet
        dry = render.badge("testnet", "AB***CD", "h", api="legacy", dry_run=True)
        assert "DRY RUN" in dry and "sends nothing" in dry

    def test_escapes(self) -> None:
        """Account and host text cannot inject markup."""
        badge = render.badge("sandbox", "<b>x</b>", "<img src=x>", api="legacy")
        assert "<b>x</b>" not in badge and "<img" not in badge and "&lt;img src=x&gt;" in badge


class TestFields:
    """Placeholders and hints next to the amount fields."""

    @pytest.mark.parametrize(
        ("loan", "collateral", "placeholders"),
        [
            ("550", "", ("amount to borrow", "≈ 0.01057693")),
            ("", "0.00123457", ("≈ 64.1976", "or collateral to pledge")),
            ("", "", ("amount to borrow", "or collateral to pledge")),
            ("abc", "", ("amount to borrow", "or collateral to pledge")),
        ],
    )
    def test_placeholders(self, loan: str, collateral: str, placeholders: tuple) -> None:
        """The field not typed in shows the estimate; an estimate never becomes input."""
        assert render.placeholders(typed(loan, collateral)) == placeholders

    @pytest.mark.parametrize(
        ("q", "limits", "loan_text", "collateral_text"),
        [
            (typed(), None, "min 20 · max 8,000,000 USDT · 4 decimals",
             "limit 1,000 BTC · 8 decimals"),
            (typed(), Limits(None, Decimal(520000), None, Decimal("9.989423071"), 0),
             "min 20 · max 8,000,000 · account max 520,000 USDT · 4 decimals",
             "up to 9.98942307 BTC available · 8 decimals"),
            (typed("550"), None, "min 20 · max 8,000,000 USDT",
             "needed at initial LTV 80 %, rounded up to 8 decimals"),
            (typed("", "0.1"), None,
             "the most this collateral supports at 80 % LTV, rounded down to 4 decimals",
             "limit 1,000 BTC"),
            (typed("10"), None, "⚠ 10 USDT is below the minimum loan of 20", "≈ estimate"),
            (typed("550", api="new"), None, "min 20",
             "the exchange sizes the pledge to its pool"),
        ],
    )
    def test_hints(self, q: Quote, limits: Limits | None, loan_text: str, collateral_text: str
                   ) -> None:
        """Bounds, account limits (rounded down to the coin's step), estimates, problems."""
        assert loan_text in render.loan_hint(q, USDT, BTC, limits)
        assert collateral_text in render.collateral_hint(q, USDT, BTC, limits)

    @pytest.mark.parametrize(
        ("term", "rate", "offered", "tooltip"),
        [
            ("30", Decimal("0.00002349"), True, "30 days: 0.002349 % per hour (≈ 20.58 % a year)"),
            ("90", None, False, "USDT offers no 90-day term"),
            ("flexible", None, False, "USDT cannot be borrowed flexibly"),
            ("flexible", None, True, "Flexible: the exchange's flexible rate"),
            ("60", None, True, "60 days: at the annual rate you offer"),
        ],
    )
    def test_term_tooltips(self, term: str, rate: Decimal | None, offered: bool, tooltip: str
                           ) -> None:
        """A term button says its rate, or why it cannot be picked."""
        assert render.term_tooltip(term, rate, "USDT", offered=offered) == tooltip


class TestPreview:
    """The preview table: what is locked and received, LTV, rate, interest, prices."""

    def preview(self, q: Quote, term: str = "flexible", age: float = 12.0, stale: bool = False,
                notes: tuple[str, ...] = ()) -> str:
        return render.preview(q, MARKET, USDT, BTC, term, age=age, stale=stale, notes=notes)

    def test_a_thirty_day_loan(self) -> None:
        """LTV against margin call and liquidation, hourly and annual rate, interest, price."""
        text = self.preview(typed("550", term="30"), "30")
        for part in (
            "<b>≈ 0.01057693 BTC</b> (≈ 687.50 USDT)", "<b>550 USDT</b>", "80.00 %",
            "margin call at 87 %", "liquidation at 95 %",
            "liquidated if BTC falls 15.8 % to 54,736.81 USDT",
            "0.002349 % per hour = <b>20.58 % a year</b>", "hourly × 24 × 365",
            "≈ 9.3021 USDT over 30 days", "BTC 65,000 USDT", "(12 s ago)",
        ):
            assert part in text, part

    def test_flexible_and_collateral_driven(self) -> None:
        """Collateral typed: the loan is the estimate; flexible interest is per day."""
        text = self.preview(typed("", "0.1"))
        assert "<b>0.1 BTC</b>" in text and "<b>≈ 5,200 USDT</b>" in text
        assert "per day while open" in text

    def test_nothing_typed_shows_the_initial_ltv(self) -> None:
        """Before typing: the coin's initial LTV and thresholds."""
        assert "80 % at start (initial LTV)" in self.preview(typed())

    def test_stale_prices_and_notes(self) -> None:
        """Old prices are flagged; notes (warnings, limits) are listed, escaped."""
        text = self.preview(typed("550"), age=600.0, stale=True, notes=("limits <unavailable>",))
        assert "(10 min ago): stale, press Refresh" in text
        assert "limits &lt;unavailable&gt;" in text

    def test_new_api_rates(self) -> None:
        """A fixed new-API order shows the rate offered; flexible, the exchange's rate."""
        fixed = self.preview(typed("550", term="60", api="new", rate_text="0.05"), "60")
        assert "<b>5 % a year</b> offered" in fixed and "≈ 4.5206 USDT over 60 days" in fixed
        flexible = self.preview(typed("550", api="new"))
        assert "the exchange's flexible rate" in flexible and "Interest" not in flexible


class TestWords:
    """Button labels and descriptions of an order."""

    @pytest.mark.parametrize(
        ("q", "network", "label"),
        [
            (typed(), "sandbox", "Borrow"),
            (typed("550"), "sandbox", "Borrow 550 USDT"),
            (typed("1000.5"), "testnet", "Borrow 1,000.5 USDT"),
            (typed("", "0.1"), "sandbox", "Borrow ≈ 5,200 USDT"),
            (typed("550"), "mainnet", "Borrow 550 USDT on MAINNET…"),
        ],
    )
    def test_borrow_label(self, q: Quote, network: str, label: str) -> None:
        """What the click would borrow, and where."""
        assert render.borrow_label(q, network) == label

    @pytest.mark.parametrize(
        ("q", "description", "confirm"),
        [
            (typed("550", term="30"), "550 USDT against ≈ 0.01057693 BTC, 30 days",
             "Confirm: borrow 550 USDT on MAINNET"),
            (typed("", "0.1"), "≈ 5,200 USDT against 0.1 BTC, flexible",
             "Confirm: borrow ≈ 5,200 USDT against 0.1 BTC on MAINNET"),
            (typed("550", term="60", api="new", rate_text="0.05"),
             "550 USDT against ≈ 0.01057693 BTC, 60 days at 5 % a year",
             "Confirm: borrow 550 USDT on MAINNET"),
        ],
    )
    def test_describe_and_confirm(self, q: Quote, description: str, confirm: str) -> None:
        """The order with its estimate, and the mainnet confirmation naming amount and coin."""
        assert q.request is not None
        assert render.describe(q.request, q) == description
        assert render.confirm_label(q.request, q) == confirm

    def test_dry_run_block_escapes(self) -> None:
        """The request is shown verbatim but escaped."""
        html = render.dry_run("POST", "http://h/x", {"X-BAPI-API-KEY": "AB***CD"}, '{"a":"<b>"}')
        assert "POST http://h/x\nX-BAPI-API-KEY: AB***CD\n\n{&quot;a&quot;:&quot;&lt;b&gt;" in html

    @pytest.mark.parametrize(
        ("value", "text"),
        [(Decimal("0.8"), "80"), (Decimal("0.87"), "87"), (Decimal("0.123456"), "12.35")],
    )
    def test_percent(self, value: Decimal, text: str) -> None:
        """Ratios as percentages, half up, no trailing zeros."""
        assert render.percent(value) == text

    def test_money_and_times(self) -> None:
        """Two decimals with separators; ages in s or min; clock in UTC."""
        assert render.money(Decimal("54736.806")) == "54,736.81"
        assert (render.age_text(-1), render.age_text(89), render.age_text(150)) == (
            "0 s", "89 s", "2 min"
        )
        assert render.utc_clock(0) == "00:00:00"


class TestOrdersTable:
    """The ledger's last rows, newest first."""

    def test_rows_newest_first_with_colours(self) -> None:
        """An accepted and a rejected row: newest on top, amounts plain, status coloured."""
        rows = [row(id=1, loan_amount=Decimal("550.10")),
                row(id=2, status="rejected", order_id=None, ret_code=177012,
                    ret_msg="insufficient", term="30", loan_amount=Decimal("1E+3"))]
        html = render.orders_table(rows)
        assert html.count("<tr>") == 3
        assert html.index("177012 insufficient") < html.index("1794268382220749593")
        assert "550.1 USDT" in html and "1000 USDT" in html and "30 d" in html
        assert "<b style='color:#c62828'>rejected</b>" in html

    def test_exchange_text_is_escaped(self) -> None:
        """A retMsg with markup is shown as text."""
        html = render.orders_table([row(order_id=None, ret_code=1, ret_msg="<script>x")])
        assert "<script>" not in html and "&lt;script&gt;x" in html

    def test_empty_ledger(self) -> None:
        """No rows: a line saying where orders come from."""
        assert "No orders yet" in render.orders_table([])


class TestHold:
    """A hold lasts until every held ledger row is settled."""

    def record(self, ledger: Ledger, status: str | None) -> int:
        """A borrow row, settled as ``status`` (None: left pending)."""
        row_id = ledger.record_pending(
            network="sandbox", source="widget", api="legacy", action="borrow", body="{}",
            loan_currency="USDT", loan_amount=Decimal(550), collateral_currency="BTC",
            term="flexible",
        )
        if status is not None:
            ledger.settle(row_id, status, order_id="17" if status == "accepted" else None)
        return row_id

    def test_unsettled_until_settled(self, ledger: Ledger) -> None:
        """pending and unknown hold; accepted and not_executed release."""
        pending, unknown = self.record(ledger, None), self.record(ledger, "unknown")
        hold = Hold((pending, unknown), "may have been executed")
        assert hold.unsettled(ledger) == (pending, unknown)
        ledger.settle(pending, "accepted", order_id="17")
        ledger.settle(unknown, "not_executed")
        assert hold.unsettled(ledger) == ()

    def test_a_row_not_found_stays_held(self, ledger: Ledger) -> None:
        """A row the ledger does not have is never taken as settled."""
        assert Hold((99,), "x").unsettled(ledger) == (99,)

    def test_rows_text(self) -> None:
        """How the held rows are named to the user."""
        assert (rows_text(()), rows_text((3,)), rows_text((3, 4))) == (
            "the last order", "ledger row 3", "ledger rows 3, 4"
        )
        assert Hold((3,), "a").with_rows((3, 4), "b") == Hold((3, 4), "b")

    def test_unsettled_since(self, ledger: Ledger) -> None:
        """The unsettled rows written after a given row, on one network."""
        before = self.record(ledger, "accepted")
        newer = self.record(ledger, None)
        self.record(ledger, "rejected")
        assert unsettled_since(ledger, before, "sandbox") == (newer,)
        assert unsettled_since(ledger, before, "testnet") == ()
        assert unsettled_since(ledger, newer, "sandbox") == ()


NEW = json.loads((FIXTURES / "new-api-data.json").read_text())
NEW_MARKET = NewMarket.from_wire(NEW["loanable"], NEW["collateral"], 0.0)
NEW_PRICES = {c: Decimal(p) for c, p in NEW["prices"].items()}
EMPTY_POOL = PoolAccount("USDT", None, Decimal(0), Decimal(0), Decimal(8000000), 0.0)


def pooled(loan: str = "", pledge: str = "", term: str = "flexible", rate: str = "",
           coll: str = "BTC") -> PoolQuote:
    """A new-API quote for USDT on the recorded sandbox tables, with an empty pool."""
    return new_quote(NEW_MARKET, NEW_PRICES, "USDT", coll, term, loan, pledge, rate,
                     account=EMPTY_POOL, offers=offers_from_wire(NEW["borrow_order_quote"]))


def words(markup: str) -> str:
    """Markup as the words a person reads."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


class TestPoolRender:
    """The new API's form as text: tooltips, placeholders, hints and the preview."""

    @pytest.mark.parametrize(
        ("term", "rate", "offered", "text"),
        [
            ("flexible", "0.079143096", True,
             "Flexible: 7.91 % a year now (the exchange's rate: it floats)"),
            ("flexible", None, True, "Flexible: the exchange's flexible rate"),
            ("flexible", None, False, "USDT cannot be borrowed flexibly on the new loan API"),
            ("30", "0.05", True, "30 days: lenders offer from 5 % a year"),
            ("180", None, True, "180 days: no lender offers this term now: an order waits for one"),
            ("30", None, False, "USDT has no fixed loans on the new loan API"),
        ],
    )
    def test_term_tooltips(self, term: str, rate: str | None, offered: bool, text: str) -> None:
        """Annual rates: the flexible one now, the lowest fixed offer, or why it is off."""
        annual = None if rate is None else Decimal(rate)
        assert render_pool.term_tooltip(term, annual, "USDT", offered=offered) == text

    @pytest.mark.parametrize(
        ("loan", "pledge", "placeholder"),
        [("", "", "optional: pledge with the loan"), ("550", "", "≈ 0.01057693"),
         ("550", "0.02", "optional: pledge with the loan")],
    )
    def test_placeholders(self, loan: str, pledge: str, placeholder: str) -> None:
        """The collateral field shows the pledge the exchange will need, when not typed."""
        assert render_pool.placeholders(pooled(loan, pledge)) == ("amount to borrow", placeholder)

    @pytest.mark.parametrize(
        ("term", "amount", "rate", "hint"),
        [
            ("14", "", "", "needs the annual rate you offer (e.g. 0.05 = 5 %) "
                           "lenders offer 14 days from 4 % a year"),
            ("14", "1000", "0.04", "4.2 % a year fills 1,000 USDT now"),
            ("14", "30000", "0.04", "lenders offer only 25,988.78 USDT for 14 days now: "
                                    "the rest waits"),
            ("180", "550", "0.05", "no lender offers 180 days now: an order waits for one"),
        ],
    )
    def test_rate_hints(self, term: str, amount: str, rate: str, hint: str) -> None:
        """Beside the rate: its problem, then what the market fills now."""
        q = pooled(amount, term=term, rate=rate)
        coin = NEW_MARKET.loan_coins["USDT"]
        assert words(render_pool.rate_hint(q, coin, term)).endswith(hint)

    def test_preview_of_a_pledged_borrow(self) -> None:
        """550 USDT against 0.02 BTC: pool LTV 0 → 42.31 %, 1,040 with this pledge."""
        q = pooled("550", "0.02")
        text = words(render_pool.preview(
            q, NEW_PRICES, NEW_MARKET.loan_coins["USDT"], "BTC", "flexible",
            fetched_at=1_800_000_000.0, age=5.0, stale=False))
        for part in ("You receive 550 USDT (flexible: repay any time)",
                     "Pledge 0.02 BTC (≈ 1,300.00 USDT, counts 1,300.00 USD in the pool)",
                     "Pool LTV before 0 % (no debt) → after 42.31 %",
                     "borrow limit 80 % (assumed) · margin call 85 % · liquidation 91 %",
                     "Can borrow 0 USDT now (max-loan) · ≈ 1,040 with this pledge",
                     "Rate (flexible) 7.91 % a year", "Interest ≈ 0.1193 USDT per day while open",
                     "Price used BTC 65,000 USDT · as of"):
            assert part in text, part

    def test_preview_escapes_what_the_exchange_names(self) -> None:
        """A coin name with markup is shown as text."""
        q = pooled("550", "0.02")
        coin = NEW_MARKET.loan_coins["USDT"]
        markup = render_pool.preview(q, {**NEW_PRICES, "<i>X": Decimal(2)}, coin, "<i>X",
                                     "flexible", fetched_at=0.0, age=0.0, stale=True)
        assert "<i>X" not in markup and "&lt;i&gt;X" in markup
        assert "stale, press Refresh" in markup

    def test_describe_a_borrow_the_pool_covers(self) -> None:
        """No pledge needed: '… against the pool'."""
        covered = dataclasses.replace(pooled("550"), collateral_amount=Decimal(0))
        assert covered.request is not None
        assert render.describe(covered.request, covered) == "550 USDT against the pool, flexible"


class TestNoUi:
    """The pure parts stay pure."""

    def test_pure_modules_import_no_ui(self) -> None:
        """state, render, render_pool and hold load neither ipywidgets nor traitlets nor
        IPython."""
        probe = (
            "import sys\nimport loan_widgets.widget.render, loan_widgets.widget.state, "
            "loan_widgets.widget.hold, loan_widgets.widget.render_pool\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'ipywidgets', 'traitlets', 'IPython'}))"
        )
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                             check=True, timeout=60)
        assert out.stdout.strip() == "[]"
