"""The desk's model: from exchange reads to positions, what-if and alert crossings (no HTTP)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from loan_widgets.portfolio import (
    NEW_API_LEVELS,
    Levels,
    Reads,
    Tier,
    crossings,
    fall_to,
    levels_from_wire,
    risk,
    snapshot,
    threshold_for,
    tiered_value,
    tiers_from_wire,
    what_if,
)

BTC = Levels(D("0.87"), D("0.95"), D("0.8"))
NOW = 1_750_000_000_000


def legacy(order_id: str, ltv: str, *, debt: str = "550", interest: str = "0",
           penalty: str = "0", collateral: str = "0.01057693", coin: str = "BTC",
           term: str = "", due: str = "") -> dict[str, str]:
    """One ``ongoing-orders`` item as the exchange writes it."""
    return {
        "collateralAmount": collateral, "collateralCurrency": coin, "currentLTV": ltv,
        "expirationTime": due, "hourlyInterestRate": "0.0000010241", "loanCurrency": "USDT",
        "loanTerm": term, "orderId": order_id, "residualInterest": interest,
        "residualPenaltyInterest": penalty, "totalDebt": debt,
    }


def reads(*items: dict[str, str], position: dict | None = None, **more: object) -> Reads:
    return Reads(taken_at_ms=NOW, prices={"USDT": D(1), "BTC": D(65000), "ETH": D(2500)},
                 legacy_orders=list(items), legacy_levels={"BTC": BTC}, position=position,
                 **more)  # type: ignore[arg-type]


POSITION = {  # 1 ETH pledged (flat 0.8 band), 1000 USDT flexible + 500 USDT fixed debt
    "borrowList": [{"fixedTotalDebt": "500", "flexibleTotalDebt": "1000", "loanCurrency": "USDT"}],
    "collateralList": [{"amount": "1", "amountUSD": "2000", "currency": "ETH"}],
    "ltv": "0.75", "totalCollateral": "2000", "totalDebt": "1500",
}
ETH_TIERS = {"ETH": (Tier(D(0), D("99999999999"), D("0.8")),)}


class TestFormulas:
    """Falls, risk levels and tiered collateral values."""

    @pytest.mark.parametrize(("ltv", "level", "fall"), [
        ("0.8", "0.87", D(1) - D("0.8") / D("0.87")),
        ("0.8", "0.8", D(0)),
        ("0.9", "0.87", D(0)),  # already past: no fall needed
        (None, "0.87", None),
        ("0.8", None, None),
        ("0", "0.87", None),
    ])
    def test_fall_to(self, ltv: str | None, level: str | None, fall: D | None) -> None:
        """The price fall that takes an LTV to a level is 1 - LTV / level, floored at 0."""
        assert fall_to(None if ltv is None else D(ltv), None if level is None else D(level)) == fall

    @pytest.mark.parametrize(("ltv", "threshold", "outcome"), [
        ("0.5", None, "ok"), ("0.84", "0.84", "alert"), ("0.87", None, "margin call"),
        ("0.9499", None, "margin call"), ("0.95", None, "liquidation"), (None, "0.1", "ok"),
    ])
    def test_risk(self, ltv: str | None, threshold: str | None, outcome: str) -> None:
        """Liquidation, then margin call, then the alert threshold, else ok."""
        value = None if ltv is None else D(ltv)
        assert risk(value, BTC, None if threshold is None else D(threshold)) == outcome

    @pytest.mark.parametrize(("value", "counted"), [
        ("0", "0"), ("5000", "4000"), ("12757.29", "9930.103"), ("30000", "20000"),
        ("40000", "24000"),
    ])
    def test_tiered_value_is_applied_like_tax_brackets(self, value: str, counted: str) -> None:
        """The docs' BTC bands: 0.12 BTC worth 12,757.29 USD counts 9,930.10 (C6's example)."""
        bands = tiers_from_wire({"collateralRatioConfigList": [{"collateralRatioList": [
            {"collateralRatio": "0.8", "maxValue": "10000", "minValue": "0"},
            {"collateralRatio": "0.7", "maxValue": "20000", "minValue": "10000"},
            {"collateralRatio": "0.5", "maxValue": "30000", "minValue": "20000"},
            {"collateralRatio": "0.4", "maxValue": "99999999999", "minValue": "30000"},
        ], "currencies": "ATOM,AAVE,BTC,BOB"}]})
        assert set(bands) == {"ATOM", "AAVE", "BTC", "BOB"}
        assert tiered_value(D(value), bands["BTC"]) == D(counted)

    def test_levels_from_wire(self) -> None:
        """Legacy collateral-data rows give each coin's levels."""
        levels = levels_from_wire([{"currency": "BTC", "initialLTV": "0.8",
                                    "marginCallLTV": "0.87", "liquidationLTV": "0.95"}])
        assert levels == {"BTC": BTC}


class TestSnapshot:
    """Reads become positions with their debt, collateral, levels and maturity."""

    def test_legacy_loans_riskiest_first(self) -> None:
        """Debt adds interest and penalty; rows are ordered by LTV, highest first."""
        snap = snapshot(reads(
            legacy("1", "0.6", interest="0.5", penalty="0.25"),
            legacy("2", "0.85", term="30", due=str(NOW + 86_400_000 * 3)),
        ))
        first, second = snap.positions
        assert (first.key, first.ltv, first.term) == ("legacy:2", D("0.85"), "30")
        assert first.time_left_ms(NOW) == 86_400_000 * 3
        assert second.debt == D("550.75") and second.interest == D("0.75")
        assert second.collateral == (("BTC", D("0.01057693")),)
        assert second.levels == BTC and second.due_ms is None
        assert snap.ltvs() == {"legacy:2": D("0.85"), "legacy:1": D("0.6")}

    def test_trigger_prices(self) -> None:
        """A loan at 80 % LTV with BTC at 65,000 is margin-called at 59,770.11 (87 %)."""
        [loan] = snapshot(reads(legacy("1", "0.8"))).positions
        price = loan.trigger_price(D(65000), BTC.margin_call)
        assert price is not None and price.quantize(D("0.01")) == D("59770.11")
        assert loan.fall_to_margin_call == D(1) - D("0.8") / D("0.87")
        assert loan.fall_to_liquidation == D(1) - D("0.8") / D("0.95")

    def test_unknown_collateral_has_no_levels(self) -> None:
        """A coin missing from collateral-data gives no levels and no falls."""
        [loan] = snapshot(reads(legacy("1", "0.5", coin="DOGE"))).positions
        assert loan.levels == Levels(None, None)
        assert loan.fall_to_margin_call is None

    def test_new_api_pool_and_its_rows(self) -> None:
        """The pool carries the account LTV; flexible debt, contracts and orders share it."""
        snap = snapshot(reads(
            position=POSITION,
            flexible=[{"loanCurrency": "USDT", "unpaidAmount": "999.9", "unpaidInterest": "0.1",
                       "totalDebt": "1000", "hourlyInterestRate": "0.00001"}],
            contracts=[
                {"loanId": "570", "borrowCurrency": "USDT", "residualPrincipal": "500",
                 "residualPenaltyInterest": "0", "status": 1, "term": "30",
                 "repaymentTime": str(NOW - 3_600_000), "annualRate": "0.05"},
                {"loanId": "569", "borrowCurrency": "USDT", "residualPrincipal": "0",
                 "residualPenaltyInterest": "0", "status": 2, "term": "7"},
            ],
            orders=[
                {"orderId": 13010, "orderCurrency": "USDT", "orderQty": "2000",
                 "filledQty": "0", "state": 1, "term": 30, "annualRate": "0.01"},
                {"orderId": 13009, "orderCurrency": "USDT", "orderQty": "10", "state": 3},
            ],
            tiers=ETH_TIERS,
        ))
        keys = [p.key for p in snap.positions]
        assert keys == ["pool", "flexible:USDT", "fixed:570", "order:13010"]
        pool = snap.get("pool")
        assert pool is not None and pool.ltv == D("0.75") and pool.levels == NEW_API_LEVELS
        assert snap.get("flexible:USDT").debt == D("1000")  # type: ignore[union-attr]
        fixed = snap.get("fixed:570")
        assert fixed is not None and fixed.pooled and fixed.ltv == D("0.75")
        assert fixed.time_left_ms(NOW) == -3_600_000  # overdue
        assert snap.ltvs() == {"pool": D("0.75")}  # pooled rows carry the pool's LTV
        assert snap.collateral_coins == ("ETH",)

    def test_an_empty_pool_is_no_position(self) -> None:
        """A position with nothing pledged and nothing owed adds no rows."""
        empty = {"borrowList": [], "collateralList": [], "ltv": "0", "totalCollateral": "0",
                 "totalDebt": "0"}
        assert snapshot(reads(position=empty)).positions == ()


class TestWhatIf:
    """Price shocks move each LTV and say what would be triggered."""

    @pytest.mark.parametrize(("shock", "after", "outcome"), [
        ("0", "0.8", "ok"),
        ("-0.05", "0.8421052631578947368421052632", "alert"),
        ("-0.1", "0.8888888888888888888888888889", "margin call"),
        ("-0.2", "1", "liquidation"),
        ("0.25", "0.64", "ok"),
    ])
    def test_legacy_loan_scales_with_one_over_price(self, shock: str, after: str,
                                                    outcome: str) -> None:
        """LTV is debt value over collateral value: a collateral shock s gives LTV / (1 + s)."""
        snap = snapshot(reads(legacy("1", "0.8")))
        [result] = what_if(snap, {"BTC": D(shock)}, {"legacy:1": D("0.84")})
        assert (result.ltv_after, result.outcome) == (D(after), outcome)

    def test_loan_coin_shock_raises_the_ltv(self) -> None:
        """A shock on the loan coin moves the debt value, and the LTV, with it."""
        item = {**legacy("1", "0.5"), "loanCurrency": "ETH"}
        [result] = what_if(snapshot(reads(item)), {"ETH": D("0.1")})
        assert result.ltv_after == D("0.55")

    def test_pool_is_revalued_through_its_bands(self) -> None:
        """1 ETH at a flat 0.8 backing 1,500 USDT: ETH −25 % takes the pool from 75 % to 100 %."""
        snap = snapshot(reads(position=POSITION, flexible=[], contracts=[], orders=[],
                              tiers=ETH_TIERS))
        [pool] = what_if(snap, {"ETH": D("-0.25")})
        assert pool.ltv_after == D(1) and pool.outcome == "liquidation"
        assert snap.pool is not None
        assert snap.pool.shocked_ltv(snap.prices, {}) == D("0.75")
        fall = snap.pool.fall_to(snap.prices, D("0.85"))
        assert fall is not None and abs(fall - (1 - D("0.75") / D("0.85"))) < D("1e-12")

    def test_pool_without_bands_uses_the_reported_ratio(self) -> None:
        """Without collateral-data bands, position's amountUSD / market value is the ratio."""
        snap = snapshot(reads(position=POSITION))  # 2000 of 2500 USD counted: 0.8
        assert snap.pool is not None and snap.pool.ratios == {"ETH": D("0.8")}
        assert snap.pool.shocked_ltv(snap.prices, {"ETH": D("-0.25")}) == D(1)


class TestAlerts:
    """An alert fires once per crossing, and re-arms only after the LTV fell back."""

    def test_default_threshold_is_three_points_under_margin_call(self) -> None:
        """Per-position first, then the global one, then margin call − 3 points."""
        [loan] = snapshot(reads(legacy("1", "0.8"))).positions
        assert threshold_for(loan, {}, None) == D("0.84")
        assert threshold_for(loan, {}, D("0.7")) == D("0.7")
        assert threshold_for(loan, {"legacy:1": D("0.6")}, D("0.7")) == D("0.6")

    @pytest.mark.parametrize(("path", "fires"), [
        (["0.80", "0.85", "0.86", "0.85"], [1]),  # crossed once, stays above: one alert
        (["0.85", "0.85"], [0]),  # already above when the desk opens: one alert
        (["0.80", "0.85", "0.838", "0.85"], [1]),  # dipped less than the re-arm gap
        (["0.80", "0.85", "0.83", "0.85"], [1, 3]),  # fell back, crossed again
        (["0.80", "0.83", "0.80"], []),
    ])
    def test_crossings(self, path: list[str], fires: list[int]) -> None:
        """Thresholds at 0.84 with a half-point re-arm gap."""
        fired: frozenset[str] = frozenset()
        seen = []
        for step, ltv in enumerate(path):
            events, fired = crossings(snapshot(reads(legacy("1", ltv))), {"legacy:1": D("0.84")},
                                      fired)
            if events:
                [event] = events
                assert (event.key, event.ltv, event.threshold) == ("legacy:1", D(ltv), D("0.84"))
                seen.append(step)
        assert seen == fires

    def test_a_closed_loan_forgets_its_alert(self) -> None:
        """A position that closes leaves the fired set; a new one with its key fires again."""
        _, fired = crossings(snapshot(reads(legacy("1", "0.9"))), {"legacy:1": D("0.84")},
                             frozenset())
        assert fired == {"legacy:1"}
        _, fired = crossings(snapshot(reads()), {}, fired)
        assert fired == frozenset()

    def test_outcome_names_the_level_reached(self) -> None:
        """The event says whether the crossing is already a margin call or a liquidation."""
        events, _ = crossings(snapshot(reads(legacy("1", "0.96"))), {"legacy:1": D("0.84")},
                              frozenset())
        assert events[0].outcome == "liquidation"
