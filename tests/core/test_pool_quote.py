"""new_market.py and pool_quote.py: the new loan API's quote, pure Decimal, no network.

The tables are Bybit wire items in ``tests/fixtures/new-api-data.json``: the Crypto Loan (New)
docs' examples (``*_docs``) and rows recorded from the sandbox (seed 0). Every expected number
is worked out in the test's docstring or table.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal

import pytest
from support import FIXTURES

from loan_widgets.errors import LoanWidgetsError
from loan_widgets.new_market import (
    NewLoanCoin,
    NewMarket,
    Offer,
    PoolAccount,
    fills_at,
    match_rate,
    offers_from_wire,
)
from loan_widgets.orders import BorrowRequest
from loan_widgets.pool_quote import (
    NEEDS_LOAN,
    NOTHING_TYPED,
    PoolQuote,
    borrow_ltv,
    ltv_after,
    new_quote,
    pledge_needed,
    tiered_inverse,
)
from loan_widgets.portfolio import NEW_API_LEVELS, Pool, Tier, tiered_value, tiers_from_wire
from loan_widgets.quote import CollateralCoinInfo

D = Decimal
DATA = json.loads((FIXTURES / "new-api-data.json").read_text())
PRICES = {coin: D(price) for coin, price in DATA["prices"].items()}
MARKET = NewMarket.from_wire(DATA["loanable"], DATA["collateral"], 1_800_000_000.0)
TIERS = MARKET.tiers
OFFERS = offers_from_wire(DATA["borrow_order_quote"])
BTC = CollateralCoinInfo("BTC", 8, D("0.8"), D("0.87"), D("0.95"), D(1000))
EMPTY = PoolAccount("USDT", None, D(0), D(0), D(8000000), 0.0)


def pool(collateral: dict[str, str], debts: dict[str, str], ltv: str = "0") -> Pool:
    """A pool on the sandbox's bands."""
    return Pool(D(ltv), NEW_API_LEVELS, tuple((c, D(a)) for c, a in collateral.items()),
                tuple((c, D(a)) for c, a in debts.items()), D(0), D(0), TIERS)


# After a flexible borrow of 550 USDT with 0.02 BTC pledged (1,300 USD): max-loan says 490 more.
BORROWED = PoolAccount("USDT", pool({"BTC": "0.02"}, {"USDT": "550"}, "0.423077"),
                       D("0.423077"), D(490), D(7999450), 0.0)


def nq(loan: str = "", pledge: str = "", term: str = "flexible", rate: str = "", **kw: object
       ) -> PoolQuote:
    """A new-API quote for USDT against BTC on the sandbox's tables (unless told)."""
    args: dict[str, object] = {"account": EMPTY, "offers": OFFERS, "collateral": BTC, **kw}
    coin, coll = args.pop("coin", "USDT"), args.pop("coll", "BTC")
    prices = args.pop("prices", PRICES)
    return new_quote(MARKET, prices, coin, coll, term, loan, pledge, rate,  # type: ignore[arg-type]
                     **args)  # type: ignore[arg-type]


class TestCoinTables:
    """Wire items become typed coin data; malformed rows are left out."""

    def test_the_docs_loanable_example(self) -> None:
        """ETH: both kinds, 4 and 6 places, minimums 0.001 and 0.1, only 14 days on offer (8 %)."""
        eth = NewLoanCoin.from_wire(DATA["loanable_docs"][0])
        assert (eth.flexible, eth.fixed) == (True, True)
        assert (eth.accuracy("flexible"), eth.accuracy("30")) == (4, 6)
        assert (eth.minimum("flexible"), eth.minimum("60")) == (D("0.001"), D("0.1"))
        assert eth.max_amount == D(1100) and eth.flexible_rate == D("0.001429799316")
        assert eth.fixed_rates == {"7": None, "14": D("0.08"), "30": None, "60": None,
                                   "90": None, "180": None}
        assert eth.terms == ("flexible", "7", "14", "30", "60", "90", "180")
        assert eth.annual_rates()["flexible"] == D("0.001429799316")

    def test_a_coin_without_fixed_loans(self) -> None:
        """SOL is lent flexibly only: its terms are flexible alone."""
        assert MARKET.loan_coins["SOL"].terms == ("flexible",)
        assert MARKET.loan_coins["USDT"].fixed_rates["30"] == D("0.05")

    def test_bands_per_coin(self) -> None:
        """collateral-data's groups give each coin its bands, lowest first."""
        assert [t.ratio for t in TIERS["SOL"]] == [D("0.8"), D("0.7"), D("0.5")]
        assert TIERS["USDC"] == TIERS["USDT"]

    def test_malformed_rows_are_left_out_and_empty_tables_refused(self) -> None:
        """A row with a bad accuracy is skipped; no coin at all is an error."""
        bad = {**DATA["loanable"][0], "currency": "BAD", "flexibleBorrowingAccuracy": "x"}
        market = NewMarket.from_wire([bad, *DATA["loanable"]], DATA["collateral"], 0.0)
        assert "BAD" not in market.loan_coins and "USDT" in market.loan_coins
        with pytest.raises(LoanWidgetsError, match="no new-API loan coins"):
            NewMarket.from_wire([bad], DATA["collateral"], 0.0)
        with pytest.raises(LoanWidgetsError, match="no collateral bands"):
            NewMarket.from_wire(DATA["loanable"], {"collateralRatioConfigList": []}, 0.0)


class TestFixedMarket:
    """The rate at which an amount fills now, and what fills at a rate."""

    def test_the_docs_example(self) -> None:
        """borrow-order-quote's term is a number on the wire: it becomes text."""
        assert offers_from_wire(DATA["borrow_order_quote_docs"]) == (
            Offer("14", D("0.04"), D("988.78")),)
        assert offers_from_wire([{"term": "x", "annualRate": "0.1", "qty": "1"}]) == ()

    @pytest.mark.parametrize(
        ("term", "amount", "rate", "on_offer"),
        [
            ("14", "500", "0.04", "25988.78"),  # the 0.04 offer (988.78) covers it
            ("14", "988.78", "0.04", "25988.78"),
            ("14", "988.79", "0.042", "25988.78"),  # one cent more reaches the 0.042 offer
            ("14", "26000", None, "25988.78"),  # both offers together fall short
            ("7", "1", "0.02", "50000000"),
            ("180", "1", None, "0"),  # nobody lends for 180 days
        ],
    )
    def test_match_rate(self, term: str, amount: str, rate: str | None, on_offer: str) -> None:
        """Cheapest first: the rate of the offer that completes the amount."""
        assert match_rate(OFFERS, term, D(amount)) == (
            None if rate is None else D(rate), D(on_offer))

    @pytest.mark.parametrize(
        ("term", "rate", "fills"),
        [("14", "0.03", "0"), ("14", "0.041", "988.78"), ("14", "0.042", "25988.78"),
         ("30", "0.05", "120000"), ("30", "0.049", "0")],
    )
    def test_fills_at(self, term: str, rate: str, fills: str) -> None:
        """An order takes every offer of its term priced at most its rate."""
        assert fills_at(OFFERS, term, D(rate)) == D(fills)


class TestPool:
    """The pool before and after, valued through its bands as portfolio.Pool does."""

    @staticmethod
    def docs_account(position: dict) -> tuple[PoolAccount, dict[str, Decimal], dict]:
        """The docs' position with the C2 bands for BTC and a flat 0.8 for ETH and USDT (what
        the examples imply, reference section 1); USDC counts at its reported 724.8 / 1000."""
        tiers = dict(tiers_from_wire(DATA["collateral_docs"]))
        flat = (Tier(D(0), D("99999999999"), D("0.8")),)
        tiers.update(ETH=flat, USDT=flat)
        prices = {"BTC": D("9355.37") / D("0.08800022"), "ETH": D("2828"), "USDT": D(1),
                  "USDC": D(1)}
        account = PoolAccount.from_wire("BTC", position, DATA["max_loan_docs"], prices, tiers, 0)
        return account, prices, tiers

    def test_the_docs_position_gives_its_own_ltv(self) -> None:
        """9638.17 / 18381.40 = 0.524344 (the docs' ltv); nothing borrowed or pledged keeps it."""
        account, prices, tiers = self.docs_account(DATA["position_docs"])
        assert account.pool is not None
        debt, counted = account.pool.value(prices, {})
        assert debt == D("9638.17") and abs(counted - D("18381.40")) < D("0.005")
        assert (debt / counted).quantize(D("0.000001")) == D("0.524344")
        after, debt_after, _ = ltv_after(account.pool, account.ltv, prices, "BTC", D(0), "BTC",
                                         D(0), tiers)
        assert after is not None and after.quantize(D("0.000001")) == D("0.524344")
        assert debt_after == debt
        assert (account.max_loan, account.quota) == (D("0.1722"), D("9999999.9421"))

    def test_the_docs_adjustment_thread(self) -> None:
        """C4 took 0.08 BTC out (LTV 0.813743 after, C5); pledging it back gives about C5's
        0.524602 before. Prices moved between the docs' readings (C6 says 0.524344 for the
        same pool), so this holds to 0.0003."""
        position = copy.deepcopy(DATA["position_docs"])
        position["collateralList"][0]["amount"] = "0.04"
        position["ltv"] = "0.813743"
        account, prices, tiers = self.docs_account(position)
        after, _, _ = ltv_after(account.pool, account.ltv, prices, "BTC", D(0), "BTC",
                                D("0.08"), tiers)
        assert after is not None and abs(after - D("0.524602")) < D("0.0003")

    @pytest.mark.parametrize(
        ("collateral", "debts", "loan", "pledge", "after", "debt_usd", "counted"),
        [
            ({}, {}, "550", "0.02", D(550) / D(1300), "550", "1300"),
            ({}, {}, "0", "0.02", D(0), "0", "1300"),  # no debt: LTV 0
            ({"BTC": "0.02"}, {"USDT": "550"}, "1000", "0.01", D(1550) / D(1950), "1550", "1950"),
            # 20 BTC = 1,300,000 USD: the first million at 1, the rest at 0.95 -> 1,285,000
            ({}, {}, "1000000", "20", D(1000000) / D(1285000), "1000000", "1285000"),
            # 0.5 BTC of debt: 32,500 USD
            ({"ETH": "20"}, {"BTC": "0.5"}, "0", "0", D(32500) / D(50000), "32500", "50000"),
        ],
    )
    def test_ltv_after(self, collateral: dict, debts: dict, loan: str, pledge: str,
                       after: Decimal, debt_usd: str, counted: str) -> None:
        """Debt in USD over counted collateral in USD, with the loan and the pledge added."""
        coin = "BTC" if "BTC" in debts else "USDT"
        before = pool(collateral, debts)
        found = ltv_after(before if collateral or debts else None, D(0), PRICES, coin, D(loan),
                          "BTC", D(pledge), TIERS)
        assert found == (after, D(debt_usd), D(counted))

    def test_ltv_after_scales_to_the_exchanges_ltv(self) -> None:
        """With debt before, the result is scaled so the pool as it is gives the exchange's LTV
        (0.423077 reported for 550 / 1300 = 0.42307692...)."""
        after, _, _ = ltv_after(BORROWED.pool, BORROWED.ltv, PRICES, "USDT", D(1000), "BTC",
                                D("0.01"), TIERS)
        raw = D(1550) / D(1950)
        assert after == D("0.423077") * raw / (D(550) / D(1300))
        assert abs(after - raw) < D("0.000001")

    def test_debt_and_no_collateral_is_beyond_any_level(self) -> None:
        """550 USDT borrowed against nothing: no LTV (None)."""
        assert ltv_after(None, D(0), PRICES, "USDT", D(550), "BTC", D(0), TIERS)[0] is None

    @pytest.mark.parametrize("value", ["0", "50000", "100000", "300000", "500000", "2000000"])
    def test_tiered_inverse_undoes_tiered_value(self, value: str) -> None:
        """SOL's bands (0.8 to 100k, 0.7 to 500k, 0.5 above): back and forth is exact."""
        counted = tiered_value(D(value), TIERS["SOL"])
        assert tiered_inverse(counted, TIERS["SOL"]) == D(value)

    def test_tiered_inverse_beyond_the_bands(self) -> None:
        """More than every band counts together: None."""
        bands = (Tier(D(0), D(100), D("0.5")),)
        assert tiered_inverse(D(50), bands) == D(100)
        assert tiered_inverse(D(51), bands) is None

    @pytest.mark.parametrize(
        ("account", "limit", "source"),
        [
            (EMPTY, D("0.8"), "assumed"),  # nothing pledged: nothing to read back
            # (490 + 550) / 1300 = 0.8: what max-loan implies
            (BORROWED, D("0.8"), "exchange"),
            # max-loan at the quota says nothing about the LTV limit
            (PoolAccount("USDT", BORROWED.pool, D("0.42"), D(490), D(490), 0.0), D("0.8"),
             "assumed"),
            (None, D("0.8"), "assumed"),
        ],
    )
    def test_borrow_ltv(self, account: PoolAccount | None, limit: Decimal, source: str) -> None:
        """The LTV a borrow may leave: read back from max-loan, else assumed."""
        assert borrow_ltv(account, PRICES, D("0.8")) == (limit, source)

    def test_borrow_ltv_read_back_follows_the_exchange(self) -> None:
        """max-loan 230 on that pool: (230 + 550) / 1300 = 0.6."""
        account = PoolAccount("USDT", BORROWED.pool, D("0.42"), D(230), D(10**6), 0.0)
        assert borrow_ltv(account, PRICES, D("0.8")) == (D("0.6"), "exchange")

    @pytest.mark.parametrize(
        ("before", "loan", "coin", "need"),
        [
            (None, "550", "BTC", "0.01057693"),  # 550 / 0.8 / 65000 = 0.0105769230..., up
            # (550 + 1000) / 0.8 - 1300 = 637.5 USD more: 0.009807692... BTC, up
            (BORROWED.pool, "1000", "BTC", "0.00980770"),
            (BORROWED.pool, "400", "BTC", "0"),  # 950 / 0.8 = 1187.5 < 1300: covered
            # 125,000 counted from SOL: 80,000 in the 0.8 band, 45,000 / 0.7 = 64,285.71 USD
            # in the next: 164,285.714285... USD / 150 = 1095.2380952..., up to 6 places
            (None, "100000", "SOL", "1095.238096"),
        ],
    )
    def test_pledge_needed(self, before: Pool | None, loan: str, coin: str, need: str) -> None:
        """The least pledge that keeps the pool within 80 %, rounded up to the coin's places."""
        places = 6 if coin == "SOL" else 8
        assert pledge_needed(before, PRICES, TIERS, "USDT", D(loan), coin, D("0.8"),
                             places) == D(need)

    def test_no_pledge_without_bands_or_price(self) -> None:
        """A coin with no bands, or no price: no estimate (None)."""
        assert pledge_needed(None, PRICES, TIERS, "USDT", D(550), "DOGE", D("0.8"), 8) is None
        assert pledge_needed(None, {"USDT": D(1)}, TIERS, "USDT", D(550), "BTC", D("0.8"),
                             8) is None


class TestNewQuote:
    """The new-API form's quote: request, problems, pool, rate and interest."""

    def test_flexible_without_a_pledge(self) -> None:
        """550 USDT: the exchange sizes the pledge (≈ 0.01057693 BTC); LTV just under 80 %."""
        q = nq("550")
        assert q.request == BorrowRequest("USDT", "BTC", D(550), None, "flexible", None)
        assert q.api == "new" and q.problems == () and q.driver == "loan"
        assert q.pool.pledge == D("0.01057693") and not q.pool.pledge_typed
        assert q.collateral_amount == D("0.01057693")
        assert q.pool.ltv_before == 0 and q.pool.max_now == 0
        assert q.pool.ltv_after == D(550) / (D("0.01057693") * 65000)
        # 550 x 0.079143096 / 365 = 0.11925671..., rounded up to 4 places
        assert q.interest == D("0.1193") and q.pool.annual_rate == D("0.079143096")
        assert q.hourly_rate == D("0.079143096") / 8760

    def test_flexible_with_a_pledge(self) -> None:
        """0.02 BTC pledged: counts 1,300 USD; LTV 550 / 1300; could borrow 1,040 with it."""
        q = nq("550", "0.02")
        assert q.request == BorrowRequest("USDT", "BTC", D(550), D("0.02"), "flexible", None)
        assert q.pool.pledge_typed and q.pool.pledge_counted == D(1300)
        assert q.pool.ltv_after == D(550) / D(1300)
        assert q.pool.max_with_pledge == D(1040)  # 1300 x 0.8

    def test_the_pool_covers_it(self) -> None:
        """With 1,300 USD pledged and 550 owed, 400 more needs no pledge (950 / 0.8 < 1300)."""
        q = nq("400", account=BORROWED)
        assert q.pool.pledge == 0 and q.request is not None
        assert q.request.collateral_amount is None
        assert q.pool.ltv_before == D("0.423077") and q.pool.max_now == D(490)

    def test_fixed_that_fills_now(self) -> None:
        """30 days at 5 % fills now (120,000 on offer); interest 550 x 0.05 x 30 / 365."""
        q = nq("550", term="30", rate="0.05")
        assert q.request == BorrowRequest("USDT", "BTC", D(550), None, "30", D("0.05"))
        assert (q.pool.match_rate, q.pool.fills_now) == (D("0.05"), D(550))
        assert q.offered_rate == D("0.05") and q.interest == D("2.2603")  # 2.26027..., up
        assert q.warnings == ()

    @pytest.mark.parametrize(
        ("amount", "rate", "waits"),
        [("550", "0.03", "at 0.03 all of it waits for lenders"),
         ("1000", "0.04", "at 0.04 11.22 waits for lenders")],  # 988.78 fills
    )
    def test_fixed_below_the_market_waits(self, amount: str, rate: str, waits: str) -> None:
        """A rate under the offers is allowed but said: the order stays matching."""
        q = nq(amount, term="14", rate=rate)
        assert q.request is not None and any(waits in w for w in q.warnings)
        assert q.pool.match_rate == D("0.042") if amount == "1000" else D("0.04")

    @pytest.mark.parametrize(
        ("kw", "problem"),
        [
            ({"loan": "10"}, "10 USDT is below the minimum flexible loan of 20"),
            ({"loan": "50", "term": "30", "rate": "0.05"},
             "50 USDT is below the minimum fixed loan of 100"),
            ({"loan": "20.00001"}, "USDT allows at most 4 decimal places for a flexible loan"),
            ({"loan": "9000000"}, "9,000,000 USDT is above the maximum loan of 8,000,000"),
            ({"loan": "550", "account": PoolAccount("USDT", None, D(0), D(0), D(500), 0.0)},
             "550 USDT is more than the quota left (500 USDT)"),
            ({"loan": "abc"}, "loan amount"),
            ({"pledge": "0.1"}, NEEDS_LOAN),
            ({"loan": "550", "pledge": "0.000000001"}, "BTC allows at most 8 decimal places"),
            ({"loan": "550", "pledge": "1001"},
             "1,001 BTC in the pool would be above the collateral limit of 1,000"),
            ({"loan": "550", "term": "30"}, "needs the annual rate you offer"),
            ({"loan": "550", "term": "30", "rate": "5"}, "fraction of 1"),
            ({"loan": "550", "term": "45"}, "the new loan API offers no 45-day term"),
            ({"loan": "10", "term": "30", "rate": "0.05", "coin": "SOL", "offers": None},
             "SOL has no fixed loans: pick flexible"),
            ({"loan": "550", "coll": "USDT"}, "loan and collateral are both USDT"),
            ({"loan": "550", "coin": "DOGE"}, "DOGE cannot be borrowed on the new loan API"),
            ({"loan": "550", "coll": "DOGE"},
             "DOGE is not accepted as collateral on the new loan API"),
            # the pool holds 1,300 USD, owes 550; 0.001 BTC adds 65: (1365 x 0.8) - 550 = 542
            ({"loan": "1000", "pledge": "0.001", "account": BORROWED},
             "1,000 USDT is more than the account can borrow with this pledge (542 USDT)"),
        ],
    )
    def test_problems(self, kw: dict, problem: str) -> None:
        """Each reason is said, first, and nothing can be sent."""
        q = nq(**kw)
        assert q.request is None and problem in q.problems[0]

    def test_nothing_typed_is_idle(self) -> None:
        """No amount: the one problem is the form's 'nothing typed'."""
        assert nq().problems == (NOTHING_TYPED,)

    def test_an_assumed_limit_only_warns(self) -> None:
        """An empty pool (limit assumed at 80 %): 0.01 BTC supports about 520, not 550; the
        exchange decides, so the form warns and lets it be sent."""
        q = nq("550", "0.01")
        assert q.request is not None and q.pool.max_with_pledge == D(520)
        assert any("the exchange may refuse" in w for w in q.warnings)

    def test_without_account_data_or_prices(self) -> None:
        """No account read (no key): no pool figures, the order can still be sent. No price:
        said, and no estimate."""
        q = nq("550", account=None)
        assert q.request is not None and q.pool.ltv_before is None and q.pool.pledge is None
        q = nq("550", prices={"USDT": D(1)})
        assert q.request is not None and q.pool.ltv_after is None
        assert q.warnings == ("no USDT price for BTC: the pool's LTV cannot be estimated",)

    def test_not_loaded(self) -> None:
        """No tables yet: one problem, no request."""
        q = new_quote(None, PRICES, "USDT", "BTC", "flexible", "550", "")
        assert q.problems == ("coin data is not loaded",) and q.request is None
