"""Quotes on the new loan API: a borrow against the account's pooled collateral.

Pure ``Decimal`` arithmetic, no clock and no network, on the data of
:mod:`loan_widgets.new_market` (coin tables, collateral bands, the fixed-rate
market, the account's pool and ``max-loan``), which
:mod:`loan_widgets.marketdata` fetched and keeps. :func:`new_quote` puts them
together for the BorrowWidget: the request, every reason it cannot be sent,
the pool's LTV before and after the borrow (:func:`ltv_after`, valuing the
pool with :meth:`loan_widgets.portfolio.Pool.value`, each coin through its
bands), what the account could borrow with the pledge, the pledge the exchange
will need when none is typed (:func:`pledge_needed`), the rate that fills now
and the interest.

**The LTV a borrow may leave.** Bybit publishes no LTV limit for the new API.
``max-loan`` answers ``(counted collateral x L - debt) / price`` (the
sandbox's rule, and what Bybit's examples fit), so with collateral in the pool
and an answer under the quota, :func:`borrow_ltv` reads ``L`` back from it
(``"exchange"``); otherwise it is the desk's assumed initial LTV
(:data:`loan_widgets.portfolio.NEW_API_LEVELS`, ``"assumed"``). Fixed borrow
orders still matching count as debt in ``max-loan`` but not in ``position``,
so with such orders the ``L`` read back is lower than the exchange's, and the
estimates built on it err on the safe side.

UI-free: no IPython, no ipywidgets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from .errors import ValidationError
from .new_market import NewLoanCoin, NewMarket, Offer, PoolAccount, fills_at, match_rate
from .numbers import grouped, places, trim
from .orders import BorrowRequest, parse_amount, parse_rate
from .portfolio import NEW_API_LEVELS, Levels, Pool, Tier, tiered_value
from .quote import HOURS_PER_YEAR, CollateralCoinInfo, Quote
from .terms import FLEXIBLE, NEW_API_TERMS

__all__ = [
    "NEEDS_LOAN",
    "NOTHING_TYPED",
    "PoolPreview",
    "PoolQuote",
    "borrow_ltv",
    "ltv_after",
    "new_quote",
    "pledge_needed",
    "tiered_inverse",
]

ZERO = Decimal(0)
DAYS_PER_YEAR = 365
NOTHING_TYPED = "enter a loan amount or a collateral amount"
NEEDS_LOAN = (
    "the new loan API needs a loan amount: type how much to borrow "
    "(the exchange sizes the pooled collateral)"
)
DEFAULT_COLLATERAL_ACCURACY = 8


def _step(digits: int) -> Decimal:
    return Decimal(1).scaleb(-digits)


def _add(items: tuple[tuple[str, Decimal], ...], coin: str, amount: Decimal) -> tuple[
    tuple[str, Decimal], ...
]:
    if amount <= 0:
        return items
    found = dict(items)
    found[coin] = found.get(coin, ZERO) + amount
    return tuple(found.items())


def _empty_pool(tiers: Mapping[str, tuple[Tier, ...]]) -> Pool:
    return Pool(ZERO, NEW_API_LEVELS, (), (), ZERO, ZERO, tiers)


def _counted(pool: Pool, coin: str, amount: Decimal, price: Decimal) -> Decimal:
    """USD that ``amount`` of ``coin`` counts for in ``pool`` (bands or the implied ratio)."""
    tiers = pool.tiers.get(coin)
    value = amount * price
    if tiers:
        return tiered_value(value, tiers)
    return value * pool.ratios.get(coin, Decimal(1))


def ltv_after(
    pool: Pool | None, exchange_ltv: Decimal, prices: Mapping[str, Decimal],
    loan_coin: str, loan_amount: Decimal, pledge_coin: str, pledge: Decimal,
    tiers: Mapping[str, tuple[Tier, ...]],
) -> tuple[Decimal | None, Decimal, Decimal]:
    """(pool LTV after the borrow, debt USD after, counted collateral USD after).

    The pool is valued as :meth:`loan_widgets.portfolio.Pool.value` does (each
    coin through its bands); with debt and collateral before, the result is
    scaled so that the pool as it is gives the exchange's own LTV, as
    :meth:`~loan_widgets.portfolio.Pool.shocked_ltv` does. ``None``: debt and
    no collateral.
    """
    base = pool if pool is not None else _empty_pool(tiers)
    if not base.tiers:
        base = replace(base, tiers=tiers)
    after = replace(base, collateral=_add(base.collateral, pledge_coin, pledge),
                    debts=_add(base.debts, loan_coin, loan_amount))
    debt0, coll0 = base.value(prices, {})
    debt1, coll1 = after.value(prices, {})
    if debt1 <= 0:
        return ZERO, debt1, coll1
    if coll1 <= 0:
        return None, debt1, coll1
    raw = debt1 / coll1
    if debt0 > 0 and coll0 > 0 and exchange_ltv > 0:
        return exchange_ltv * raw / (debt0 / coll0), debt1, coll1
    return raw, debt1, coll1


def borrow_ltv(account: PoolAccount | None, prices: Mapping[str, Decimal],
               assumed: Decimal) -> tuple[Decimal, str]:
    """(the LTV a borrow may leave, ``"exchange"`` or ``"assumed"``): read back from
    ``max-loan`` when the pool holds collateral and the answer is under the quota."""
    if account is None or account.pool is None or not account.max_loan:
        return assumed, "assumed"
    price = prices.get(account.loan_coin)
    if not price or (account.quota is not None and account.max_loan >= account.quota):
        return assumed, "assumed"
    debt, counted = account.pool.value(prices, {})
    if counted <= 0:
        return assumed, "assumed"
    return (account.max_loan * price + debt) / counted, "exchange"


def tiered_inverse(counted: Decimal, tiers: Sequence[Tier]) -> Decimal | None:
    """The USD value that counts for ``counted`` through ``tiers`` (``None``: never that much)."""
    if counted <= 0:
        return ZERO
    total = ZERO
    for tier in tiers:
        band = (tier.high - tier.low) * tier.ratio
        if tier.ratio > 0 and total + band >= counted:
            return tier.low + (counted - total) / tier.ratio
        total += band
    return None


def pledge_needed(
    pool: Pool | None, prices: Mapping[str, Decimal], tiers: Mapping[str, tuple[Tier, ...]],
    loan_coin: str, loan_amount: Decimal, coin: str, limit_ltv: Decimal, accuracy: int,
) -> Decimal | None:
    """The least of ``coin`` that, pledged with the loan, keeps the pool's LTV within
    ``limit_ltv``: rounded up to ``accuracy``; ``0`` when the pool already covers it,
    ``None`` when no amount would (no price, no bands that count that much)."""
    base = pool if pool is not None else _empty_pool(tiers)
    price, loan_price = prices.get(coin), prices.get(loan_coin)
    bands = base.tiers.get(coin) or tiers.get(coin)
    if not price or not loan_price or not bands or limit_ltv <= 0:
        return None
    debt, counted = base.value(prices, {})
    short = (debt + loan_amount * loan_price) / limit_ltv - counted
    if short <= 0:
        return ZERO
    held = dict(base.collateral).get(coin, ZERO) * price
    target = tiered_inverse(tiered_value(held, bands) + short, bands)
    if target is None:
        return None
    return ((target - held) / price).quantize(_step(accuracy), rounding=ROUND_UP)


# --------------------------------------------------------------------------- the quote


@dataclass(frozen=True)
class PoolPreview:
    """What a new-API borrow does to the pool, and what the market and the account allow."""

    ltv_before: Decimal | None = None
    ltv_after: Decimal | None = None
    debt_usd_after: Decimal | None = None
    collateral_usd_after: Decimal | None = None
    limit_ltv: Decimal = NEW_API_LEVELS.initial or Decimal("0.8")
    limit_source: str = "assumed"
    levels: Levels = NEW_API_LEVELS
    max_now: Decimal | None = None
    max_with_pledge: Decimal | None = None
    quota: Decimal | None = None
    pledge_typed: bool = False
    pledge: Decimal | None = None
    """The typed pledge, or the one the exchange will need (``0``: the pool covers it)."""
    pledge_counted: Decimal | None = None
    """USD the pledge counts for in the pool (after its bands)."""
    annual_rate: Decimal | None = None
    """The flexible rate now, or the rate a fixed order offers."""
    match_rate: Decimal | None = None
    """The lowest rate at which the whole amount fills now (fixed terms)."""
    on_offer: Decimal | None = None
    """What lenders offer for the term now, in the loan coin."""
    fills_now: Decimal | None = None
    """What an order at the typed rate takes from the offers now."""


@dataclass(frozen=True)
class PoolQuote(Quote):
    """A :class:`~loan_widgets.quote.Quote` for the new API, with its :class:`PoolPreview`."""

    pool: PoolPreview = field(default_factory=PoolPreview)


def _parsed(text: str, what: str) -> tuple[Decimal | None, str]:
    try:
        return trim(parse_amount(text, what)), ""
    except ValidationError as error:
        return None, str(error)


def _rate(coin: NewLoanCoin, term: str, rate_text: str) -> tuple[Decimal | None, str]:
    """(annual rate: the flexible one, or the one offered; problem)."""
    if term not in (FLEXIBLE, *NEW_API_TERMS):
        return None, f"the new loan API offers no {term}-day term: pick another"
    if term not in coin.terms:
        if term == FLEXIBLE:
            return None, f"{coin.currency} cannot be borrowed flexibly: pick a fixed term"
        return None, f"{coin.currency} has no fixed loans: pick flexible"
    if term == FLEXIBLE:
        return coin.flexible_rate, ""
    if not rate_text.strip():
        return None, (
            "a fixed term on the new loan API needs the annual rate you offer (e.g. 0.05 = 5 %)"
        )
    try:
        return parse_rate(rate_text.strip()), ""
    except ValidationError as error:
        return None, str(error)


def _loan_problem(amount: Decimal, coin: NewLoanCoin, term: str,
                  account: PoolAccount | None) -> str:
    shown = f"{grouped(amount)} {coin.currency}"
    kind = "flexible" if term == FLEXIBLE else "fixed"
    if places(amount) > coin.accuracy(term):
        return (f"{coin.currency} allows at most {coin.accuracy(term)} decimal places "
                f"for a {kind} loan")
    if amount < coin.minimum(term):
        return f"{shown} is below the minimum {kind} loan of {grouped(coin.minimum(term))}"
    if coin.max_amount is not None and amount > coin.max_amount:
        return f"{shown} is above the maximum loan of {grouped(coin.max_amount)}"
    if account is not None and account.quota is not None and amount > account.quota:
        return f"{shown} is more than the quota left ({grouped(account.quota)} {coin.currency})"
    return ""


def new_quote(
    market: NewMarket | None,
    prices: Mapping[str, Decimal],
    loan_coin: str | None,
    collateral_coin: str | None,
    term: str,
    loan_text: str,
    pledge_text: str,
    rate_text: str = "",
    *,
    account: PoolAccount | None = None,
    offers: Sequence[Offer] | None = None,
    collateral: CollateralCoinInfo | None = None,
    levels: Levels = NEW_API_LEVELS,
) -> PoolQuote:
    """The new-API form's quote: pure ``Decimal`` work on data at hand.

    ``loan_text`` is required (the new API borrows an amount); ``pledge_text``
    is optional: typed, it is pledged with the loan; blank, the exchange sizes
    the pledge when the order is sent and the quote shows the estimate.
    ``collateral`` (the legacy table's row of the pledge coin) gives its decimal
    places and platform limit; ``account`` and ``offers`` (when known) the
    pool, ``max-loan`` and the fixed-rate market.
    """
    if market is None:
        return PoolQuote(None, problems=("coin data is not loaded",), api="new")
    coin = market.loan_coins.get(loan_coin or "")
    if coin is None:
        return PoolQuote(None, api="new", problems=(
            f"{loan_coin or 'no coin'} cannot be borrowed on the new loan API",))
    pledge_coin = collateral_coin or ""
    problems: list[str] = []
    warnings: list[str] = []
    if pledge_coin not in market.tiers:
        problems.append(f"{pledge_coin or 'no coin'} is not accepted as collateral on the new "
                        "loan API")
    if coin.currency == pledge_coin:
        problems.append(f"loan and collateral are both {coin.currency}: pledge another coin")
    annual, term_problem = _rate(coin, term, rate_text)
    if term_problem:
        problems.append(term_problem)

    loan_amount, loan_problem = (None, "")
    if loan_text.strip():
        loan_amount, loan_problem = _parsed(loan_text, "loan amount")
        if loan_amount is not None:
            loan_problem = _loan_problem(loan_amount, coin, term, account)
    pledge, pledge_problem = (None, "")
    accuracy = collateral.accuracy if collateral is not None else DEFAULT_COLLATERAL_ACCURACY
    if pledge_text.strip():
        pledge, pledge_problem = _parsed(pledge_text, "collateral amount")
        if pledge is not None and places(pledge) > accuracy:
            pledge_problem = f"{pledge_coin} allows at most {accuracy} decimal places"
        held = dict(account.pool.collateral).get(pledge_coin, ZERO) if (
            account is not None and account.pool is not None) else ZERO
        if (not pledge_problem and pledge is not None and collateral is not None
                and collateral.max_limit is not None and held + pledge > collateral.max_limit):
            pledge_problem = (f"{grouped(held + pledge)} {pledge_coin} in the pool would be above "
                              f"the collateral limit of {grouped(collateral.max_limit)}")

    loan_price, pledge_price = prices.get(coin.currency), prices.get(pledge_coin)
    priced = bool(loan_price and pledge_price)
    if not priced:
        unpriced = coin.currency if not loan_price else pledge_coin
        warnings.append(f"no USDT price for {unpriced}: the pool's LTV cannot be estimated")

    preview = _preview(market, prices, coin, pledge_coin, term, loan_amount, pledge, annual,
                       account, offers, accuracy, levels, priced, warnings)
    if loan_amount is not None and not loan_problem and preview.max_with_pledge is not None \
            and preview.limit_source == "exchange" and loan_amount > preview.max_with_pledge:
        loan_problem = (
            f"{grouped(loan_amount)} {coin.currency} is more than the account can borrow "
            f"{'with this pledge' if pledge else 'now'} "
            f"({grouped(preview.max_with_pledge)} {coin.currency}): pledge more"
        )
    problems[:0] = [p for p in (loan_problem, pledge_problem) if p]
    if loan_amount is None and not loan_problem:
        problems.append(NEEDS_LOAN if pledge_text.strip() else NOTHING_TYPED)

    interest = None
    if loan_amount and annual is not None:
        days = 1 if term == FLEXIBLE else int(term)
        interest = (loan_amount * annual * days / DAYS_PER_YEAR).quantize(
            _step(coin.accuracy(term)), rounding=ROUND_UP)
    request = None
    if not problems:
        try:
            request = BorrowRequest(coin.currency, pledge_coin, loan_amount, pledge, term,
                                    None if term == FLEXIBLE else annual)
        except ValidationError as error:
            problems.append(str(error))
    return PoolQuote(
        driver="loan" if loan_text.strip() else ("collateral" if pledge_text.strip() else None),
        loan_amount=loan_amount,
        collateral_amount=preview.pledge,
        loan_problem=loan_problem,
        collateral_problem=pledge_problem,
        problems=tuple(problems),
        warnings=tuple(warnings),
        request=request,
        ltv=preview.ltv_after,
        hourly_rate=annual / HOURS_PER_YEAR if term == FLEXIBLE and annual is not None else None,
        interest=interest,
        api="new",
        offered_rate=None if term == FLEXIBLE else annual,
        term_problem=term_problem,
        pool=preview,
    )


def _preview(
    market: NewMarket, prices: Mapping[str, Decimal], coin: NewLoanCoin, pledge_coin: str,
    term: str, loan_amount: Decimal | None, pledge: Decimal | None, annual: Decimal | None,
    account: PoolAccount | None, offers: Sequence[Offer] | None, accuracy: int,
    levels: Levels, priced: bool, warnings: list[str],
) -> PoolPreview:
    """The pool before and after, the account's room, the pledge, the market's rate."""
    assumed = levels.initial if levels.initial is not None else Decimal("0.8")
    limit, source = borrow_ltv(account, prices, assumed)
    found: dict[str, Any] = {"limit_ltv": limit, "limit_source": source, "levels": levels,
                             "annual_rate": annual, "pledge_typed": pledge is not None,
                             "pledge": pledge}
    if term != FLEXIBLE and offers is not None and loan_amount:
        rate, on_offer = match_rate(offers, term, loan_amount)
        found.update(match_rate=rate, on_offer=on_offer)
        if annual is not None:
            fills = min(loan_amount, fills_at(offers, term, annual))
            found["fills_now"] = fills
            if fills < loan_amount:
                waits = "all of it" if fills == 0 else f"{grouped(loan_amount - fills)}"
                warnings.append(
                    f"at {grouped(annual)} {waits} waits for lenders (the order stays matching, "
                    "its pledge locked in the pool, until it fills or you cancel it)"
                )
    if account is None or not priced or pledge_coin not in market.tiers:
        return PoolPreview(**found)
    pool = account.pool if account.pool is not None else _empty_pool(market.tiers)
    found.update(ltv_before=account.ltv, max_now=account.max_loan, quota=account.quota)
    if pledge is None and loan_amount:
        found["pledge"] = pledge_needed(pool, prices, market.tiers, coin.currency, loan_amount,
                                        pledge_coin, limit, accuracy)
    extra = found["pledge"] or ZERO
    held = dict(pool.collateral).get(pledge_coin, ZERO)
    price = prices[pledge_coin]
    found["pledge_counted"] = (_counted(pool, pledge_coin, held + extra, price)
                               - _counted(pool, pledge_coin, held, price))
    debt, counted = pool.value(prices, {})
    most = max(ZERO, ((counted + found["pledge_counted"]) * limit - debt) / prices[coin.currency])
    if account.quota is not None:
        most = min(most, account.quota)
    found["max_with_pledge"] = most.quantize(_step(coin.accuracy(term)), ROUND_DOWN)
    if loan_amount:
        ltv, debt_usd, coll_usd = ltv_after(pool, account.ltv, prices, coin.currency,
                                            loan_amount, pledge_coin, extra, market.tiers)
        found.update(ltv_after=ltv, debt_usd_after=debt_usd, collateral_usd_after=coll_usd)
        if ltv is None or (levels.margin_call is not None and ltv >= levels.margin_call):
            warnings.append("the pool's LTV after this borrow is at or past the margin call")
        if source == "assumed" and loan_amount > found["max_with_pledge"]:
            warnings.append(
                f"at the assumed {trim(limit * 100)} % limit the account can borrow about "
                f"{grouped(found['max_with_pledge'])} {coin.currency}: the exchange may refuse"
            )
    return PoolPreview(**found)
