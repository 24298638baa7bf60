"""LoanDesk, headless: real widgets, real HTTP to the test sandbox, the real ledger.

Refreshes are ``desk.refresh()`` (the live loop has its own tests in
``test_desk_live.py``); actions are chosen and clicked on ``desk.actions`` as a
person would; assertions are on the desk's state, on what the sandbox received
and on the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal as D
from typing import ClassVar

import pytest
from support import PLANTED_KEY, PLANTED_SECRET, posts
from traitlets import TraitError

from loan_widgets.client import LoanClient
from loan_widgets.desk import LoanDesk
from loan_widgets.desk.adapter import targets
from loan_widgets.errors import DuplicateOrderError
from loan_widgets.ledger import Ledger
from loan_widgets.portfolio import AlertEvent, Reads
from loan_widgets.sandbox import Sandbox, SandboxServer
from loan_widgets.widget.state import FormState

ONGOING = "/v5/crypto-loan/ongoing-orders"
REPAY = "/v5/crypto-loan/repay"
ADJUST = "/v5/crypto-loan/adjust-ltv"


@pytest.fixture(autouse=True)
def _relaxed(exchange: Sandbox) -> None:
    """The new API's 1/s and 5/s limits off: these tests refresh and act back to back."""
    exchange.rate_limits.clear()


def borrow(client: LoanClient, n: int = 1) -> list[str]:
    """``n`` legacy loans of 550 USDT against BTC (LTV 0.8 at 65,000)."""
    return [client.borrow("USDT", "550", "BTC").order_id for _ in range(n)]


def requests(exchange: Sandbox) -> int:
    return len(exchange.requests)


class TestRefresh:
    """A refresh shows every open loan and follows the exchange's prices."""

    def test_shows_legacy_and_new_api_positions(self, client: LoanClient) -> None:
        """One row per legacy loan, the pool and its flexible debt; the table names them."""
        ids = borrow(client, 2)
        client.new.borrow("USDT", "1000", "ETH")
        desk = LoanDesk(client, live=False)
        assert desk.snapshot is not None
        keys = [p.key for p in desk.snapshot.positions]
        assert keys[:2] == sorted(f"legacy:{i}" for i in ids) or set(keys[:2]) == {
            f"legacy:{i}" for i in ids}
        assert keys[2:] == ["pool", "flexible:USDT"]
        for order_id in ids:
            assert order_id[-6:] in desk.table.value
        assert "80.00 %" in desk.table.value and "collateral pool" in desk.table.value
        assert desk.status == "stopped" and desk.stats["refreshes"] == 1

    def test_price_change_moves_ltvs(self, client: LoanClient, exchange: Sandbox) -> None:
        """BTC from 65,000 to 60,000: the loan's LTV goes from 80 % to 86.67 %."""
        [order_id] = borrow(client)
        desk = LoanDesk(client, live=False)
        assert desk.snapshot.get(f"legacy:{order_id}").ltv == D("0.8")  # type: ignore[union-attr]
        before = desk.table.value
        exchange.set_price("BTC", "60000")
        assert desk.refresh()
        assert desk.snapshot.get(f"legacy:{order_id}").ltv == D("0.8667")  # type: ignore[union-attr]
        assert "86.67 %" in desk.table.value and desk.table.value != before
        assert "60,000" in desk.table.value  # the price used
        assert len(desk.history) == 2

    def test_reads_per_refresh_do_not_grow_with_loans(self, client: LoanClient,
                                                      exchange: Sandbox) -> None:
        """One loan or twelve: the same number of requests per refresh."""
        borrow(client)
        desk = LoanDesk(client, live=False)  # the first refresh also reads the levels
        before = requests(exchange)
        desk.refresh()
        one = requests(exchange) - before
        borrow(client, 11)
        before = requests(exchange)
        desk.refresh()
        assert requests(exchange) - before == one == desk.stats["reads"] == 3

    def test_no_loans(self, client: LoanClient) -> None:
        """An empty account shows a hint, and no action can be chosen."""
        desk = LoanDesk(client, live=False)
        assert "No open loans" in desk.table.value
        assert desk.actions.target.options == () and desk.actions.go.disabled

    def test_a_failed_refresh_keeps_the_last_positions(self, client: LoanClient,
                                                       exchange: Sandbox) -> None:
        """An HTML 502 on every attempt: the desk says so and keeps the last table."""
        borrow(client)
        desk = LoanDesk(client, live=False)
        table = desk.table.value
        exchange.faults.inject(ONGOING, "http", times=3, status=502)
        assert not desk.refresh()
        assert desk.status.startswith("error:") and "HTTP 502" in desk.notice.value
        assert "Showing positions as of" in desk.notice.value
        assert desk.table.value == table
        assert desk.stats["delay"] == 2 * desk.interval


    def test_a_bad_answer_is_shown_not_swallowed(self, client: LoanClient) -> None:
        """Reads the model cannot use: the traceback lands in the log, the desk carries on."""
        borrow(client)
        desk = LoanDesk(client, live=False)
        delay = desk._apply(Reads(taken_at_ms=0, prices={}, legacy_orders=[{"orderId": "1"}]))
        assert delay == 2 * desk.interval and desk.status.startswith("error:")
        assert "KeyError" in "".join(o.get("text", "") for o in desk.output.outputs)
        assert desk.refresh() and desk.status == "stopped"


class TestRateLimits:
    """The desk slows down near the rate limit and backs off on 10006 and HTTP 403."""

    def test_10006_slows_refresh_down(self, client: LoanClient, exchange: Sandbox) -> None:
        """10006 on every attempt: twice the interval, then four times; a clean read recovers."""
        borrow(client)
        desk = LoanDesk(client, live=False, interval=5)
        assert desk.stats["delay"] == 5
        exchange.faults.inject(ONGOING, "retcode", times=6, code=10006, reset_ms=100)
        assert not desk.refresh()
        assert desk.stats["delay"] == 10 and "10006" in desk.stats["pace"]
        assert not desk.refresh()
        assert desk.stats["delay"] == 20
        assert "10006" in desk.output.outputs[-1]["text"] or "rate limit" in desk.status_html.value
        assert desk.refresh()
        assert desk.stats["delay"] == 10  # recovering: halved per clean refresh
        assert desk.refresh()
        assert desk.stats["delay"] == 5

    def test_near_the_limit_it_slows_and_waits_for_the_reset(self, client: LoanClient,
                                                             exchange: Sandbox) -> None:
        """A limit of 1 a second on ongoing-orders: after a read, nothing is left: 2x slower."""
        borrow(client)
        exchange.rate_limits[ONGOING] = 1
        desk = LoanDesk(client, live=False, interval=3)
        assert desk.stats["delay"] == 6
        assert "near the rate limit" in desk.stats["pace"]
        assert client.rate_limit(ONGOING)["x-bapi-limit"] == "1"

    def test_http_403_waits_ten_minutes(self, client: LoanClient, exchange: Sandbox) -> None:
        """Bybit's IP limit answers 403 and asks for 10 minutes of quiet."""
        borrow(client)
        desk = LoanDesk(client, live=False, interval=2)
        exchange.faults.inject("/v5/market/tickers", "http", status=403)
        assert not desk.refresh()
        assert desk.stats["delay"] == 600
        assert "403" in desk.notice.value


class TestAlerts:
    """Crossing a threshold highlights the row, shows a notice and calls on_alert, once."""

    def test_crossing_fires_once(self, client: LoanClient, exchange: Sandbox) -> None:
        """BTC −5 %: LTV 84.21 % crosses the default 84 % (margin call 87 − 3), one alert."""
        [order_id] = borrow(client)
        seen: list[AlertEvent] = []
        desk = LoanDesk(client, live=False, on_alert=seen.append)
        key = f"legacy:{order_id}"
        assert desk.thresholds()[key] == D("0.84") and not seen
        exchange.set_price("BTC", "61750")
        desk.refresh()
        assert [(e.key, e.ltv, e.threshold, e.outcome) for e in seen] == [
            (key, D("0.8421"), D("0.84"), "alert")]
        assert "lw-alerting" in desk.table.value and "reached the alert" in desk.notice.value
        exchange.set_price("BTC", "61000")
        desk.refresh()
        desk.refresh()
        assert len(seen) == 1 and len(desk.events) == 1
        exchange.set_price("BTC", "65000")  # back under: re-armed
        desk.refresh()
        assert "lw-alerting" not in desk.table.value
        assert "reached the alert" not in desk.notice.value
        exchange.set_price("BTC", "61750")
        desk.refresh()
        assert len(seen) == 2

    def test_global_and_per_position_thresholds(self, client: LoanClient) -> None:
        """A global threshold in percent, and one position's own, override the default."""
        first, second = borrow(client, 2)
        desk = LoanDesk(client, live=False, alert_ltv="70")
        assert set(desk.thresholds().values()) == {D("0.7")}
        assert len(desk.events) == 2  # both at 80 % when the desk opened
        desk.set_alert(f"legacy:{first}", "90")
        assert desk.thresholds() == {f"legacy:{first}": D("0.9"), f"legacy:{second}": D("0.7")}
        desk.alert_input.value = "75.5"
        assert desk.alert_ltv == D("0.755")
        with pytest.raises(TypeError):
            desk.alert_ltv = 75.5

    @pytest.mark.parametrize("typed", [
        "abc", "-5", "0", "0%", "101", "1e3", "NaN", "inf", "８５", "85\x00", "<b>85</b>",
        "9" * 5000,
    ], ids=lambda v: repr(v)[1:30])
    def test_hostile_alert_input(self, client: LoanClient, typed: str) -> None:
        """Anything but an LTV above 0 and at most 100 %: one escaped line naming the alert,
        the threshold as it was; the next valid value clears the line."""
        borrow(client)
        desk = LoanDesk(client, live=False, alert_ltv="70")
        desk.alert_input.value = typed
        assert desk.alert_ltv == D("0.7") and set(desk.thresholds().values()) == {D("0.7")}
        notice = desk.notice.value
        assert "alert_ltv" in notice and "above 0 and at most 100" in notice, notice[:300]
        assert "<b>85" not in notice and len(notice) < 600 and "\n" not in notice
        with pytest.raises(ValueError):
            desk.set_alert("legacy:1", typed)
        desk.alert_input.value = "75"
        assert desk.alert_ltv == D("0.75") and desk.notice.value == ""

    def test_a_failing_callback_is_shown(self, client: LoanClient, exchange: Sandbox) -> None:
        """An exception in on_alert lands in the desk's log; the desk keeps working."""
        borrow(client)

        def broken(event: AlertEvent) -> None:
            raise RuntimeError("pager offline")

        desk = LoanDesk(client, live=False, on_alert=broken)
        exchange.set_price("BTC", "61000")
        assert desk.refresh()
        text = "".join(o.get("text", "") for o in desk.output.outputs)
        assert "on_alert raised RuntimeError: pager offline" in text


class TestWhatIf:
    """Price shocks per collateral coin, from the sliders or from code."""

    def test_sliders_and_results(self, client: LoanClient) -> None:
        """BTC −10 %: 88.89 %, a margin call; the slider moved with it."""
        [order_id] = borrow(client)
        client.new.borrow("USDT", "1000", "ETH")
        desk = LoanDesk(client, live=False)
        assert [s.description for s in desk.shocks.children] == ["BTC", "ETH"]
        [loan, pool, _flexible] = desk.what_if(BTC=-10)
        assert loan.key == f"legacy:{order_id}" and loan.outcome == "margin call"
        assert loan.ltv_after is not None and loan.ltv_after.quantize(D("0.0001")) == D("0.8889")
        assert pool.ltv_after == pool.ltv  # the pool holds ETH only
        assert desk.shocks.children[0].value == -10
        assert "88.89 %" in desk.what_if_html.value
        assert "1 margin call(s)" in desk.what_if_html.value
        desk.shocks.children[1].value = -30  # ETH −30 %: the pool is liquidated
        assert "liquidation" in desk.what_if_html.value
        with pytest.raises(TypeError):
            desk.what_if(BTC=-10.5)

    @pytest.mark.parametrize("shock", ["-100", "-150", "abc", "1e3", "-1\x00", "NaN", "--5",
                                       "٥", True])
    def test_hostile_shocks(self, client: LoanClient, shock: object) -> None:
        """A move of -100 % or below, or anything not a plain signed number: one line; the
        sliders stay where they were."""
        borrow(client)
        desk = LoanDesk(client, live=False)
        desk.what_if(BTC="-5")
        with pytest.raises(ValueError) as info:
            desk.what_if(BTC=shock)
        assert len(str(info.value).splitlines()) == 1 and "above -100" in str(info.value)
        assert desk.shocks.children[0].value == -5


class TestActions:
    """Each action lands in the ledger, through the client's own write methods."""

    def test_repay_part(self, client: LoanClient, ledger: Ledger, exchange: Sandbox) -> None:
        """Repay 100 USDT: one POST, an accepted ledger row from the desk, debt 450."""
        [order_id] = borrow(client)
        desk = LoanDesk(client, live=False)
        desk.actions.select(f"legacy:{order_id}", "repay", "100")
        assert desk.actions.go.description == f"Repay 100 USDT · loan …{order_id[-6:]} USDT/BTC"
        desk.actions.go.click()
        assert desk.actions.state is FormState.ACCEPTED
        [row] = ledger.rows(status="accepted")[-1:]
        assert (row.action, row.source, row.ref_id, row.loan_amount) == (
            "repay", "desk", order_id, D("100"))
        assert len(posts(exchange, REPAY)) == 1
        assert desk.snapshot.get(f"legacy:{order_id}").debt == D("450")  # type: ignore[union-attr]

    def test_repay_all_closes_the_loan(self, client: LoanClient, ledger: Ledger) -> None:
        """Repay all: the loan leaves the desk and the action list."""
        [order_id] = borrow(client)
        desk = LoanDesk(client, live=False)
        desk.actions.select(f"legacy:{order_id}", "repay_all")
        desk.actions.go.click()
        assert ledger.rows()[-1].status == "accepted"
        assert desk.snapshot.get(f"legacy:{order_id}") is None
        assert desk.actions.target.value is None

    def test_add_and_reduce_collateral(self, client: LoanClient, ledger: Ledger,
                                       exchange: Sandbox) -> None:
        """Add 0.01 BTC; Max reads the allowed reduction; more than it is refused unsent."""
        [order_id] = borrow(client)
        desk = LoanDesk(client, live=False)
        key = f"legacy:{order_id}"
        desk.actions.select(key, "add", "0.01")
        desk.actions.go.click()
        assert (ledger.rows()[-1].action, ledger.rows()[-1].direction) == ("adjust", "add")
        desk.actions.rearm_after = 0
        desk.actions.select(key, "reduce")
        desk.actions.max_button.click()
        most = D(desk.actions.amount.value)
        assert most > 0 and "At most" in desk.actions.status_html.value
        sent = len(posts(exchange, ADJUST))
        desk.actions.amount.value = format(most + D("0.001"), "f")
        desk.actions.go.click()
        assert desk.actions.state is FormState.INVALID and "at most" in desk.actions.status
        assert len(posts(exchange, ADJUST)) == sent
        desk.actions.amount.value = format(most, "f")
        desk.actions.go.click()
        assert desk.actions.state is FormState.ACCEPTED
        last = ledger.rows()[-1]
        assert (last.direction, last.collateral_amount) == ("reduce", most)

    def test_new_api_actions(self, client: LoanClient, ledger: Ledger) -> None:
        """Flexible repay, a pool collateral add and a fixed contract's full repayment."""
        client.new.borrow("USDT", "1000", "ETH")
        client.new.borrow("USDT", "500", "ETH", term="30", annual_rate="0.2")
        desk = LoanDesk(client, live=False)
        desk.actions.rearm_after = 0
        fixed = next(p for p in desk.snapshot.positions if p.kind == "fixed")  # type: ignore[union-attr]
        for key, action, amount in (("flexible:USDT", "repay", "10"), ("pool:ETH", "add", "0.5"),
                                    (fixed.key, "repay_all", "")):
            desk.actions.select(key, action, amount)
            desk.actions.go.click()
            assert desk.actions.state is FormState.ACCEPTED, desk.actions.status
        rows = [(r.api, r.action, r.status, r.source) for r in ledger.rows()[-3:]]
        assert rows == [("new", "repay", "accepted", "desk"), ("new", "adjust", "accepted", "desk"),
                        ("new", "repay", "accepted", "desk")]
        assert desk.snapshot.get(fixed.key) is None  # type: ignore[union-attr]

    def test_cancel_matching_order(self, client: LoanClient, exchange: Sandbox,
                                   ledger: Ledger) -> None:
        """A matching fixed order is listed and cancelled in place: one POST, one ledger row."""
        client.new.borrow("USDT", "1000", "ETH")  # something in the pool
        client.new.borrow("USDT", "500", "ETH", term="30", annual_rate="0.0001")  # below market
        desk = LoanDesk(client, live=False)
        order = next(p for p in desk.snapshot.positions if p.kind == "order")  # type: ignore[union-attr]
        assert "waiting for lenders" in desk.table.value
        desk.actions.select(order.key, "cancel")
        assert not desk.actions.go.disabled and "Cancel order" in desk.actions.go.tooltip
        before = len(exchange.requests)
        desk.actions.go.click()
        assert desk.actions.status == f"accepted: {order.ref}", desk.actions.status
        assert (desk.actions.state, desk.actions.message) == (FormState.ACCEPTED, order.ref)
        with pytest.raises(TraitError):
            desk.actions.status = "idle"  # derived from state and message, never set alone
        sent = [r for r in list(exchange.requests)[before:] if r.method == "POST"]
        assert [(r.path, json.loads(r.body)) for r in sent] == [
            ("/v5/crypto-loan-fixed/borrow-order-cancel", {"orderId": order.ref})]
        last = ledger.rows()[-1]
        assert (last.api, last.action, last.status, last.order_id, last.ref_id, last.source) == (
            "new", "cancel", "accepted", order.ref, order.ref, "desk")
        desk.refresh()
        assert desk.snapshot.get(order.key) is None  # type: ignore[union-attr]

    def test_double_click_sends_once(self, client: LoanClient, exchange: Sandbox) -> None:
        """A second click right after the answer is ignored."""
        [order_id] = borrow(client)
        desk = LoanDesk(client, live=False)
        desk.actions.select(f"legacy:{order_id}", "repay", "10")
        desk.actions.go.click()
        desk.actions.amount.value = "10"
        desk.actions.go.click()
        assert len(posts(exchange, REPAY)) == 1 and desk.actions.ignored_clicks == 1


class TestMayHaveBeenExecuted:
    """An unknown outcome holds that action on that row until its ledger row settles."""

    def test_lost_answer_holds_until_reconciled(self, client: LoanClient, ledger: Ledger,
                                                exchange: Sandbox) -> None:
        """Executed, then the connection drops: held (no second POST), Reconcile releases."""
        [order_id] = borrow(client)
        desk = LoanDesk(client, live=False)
        desk.actions.rearm_after = 0
        key = f"legacy:{order_id}"
        exchange.faults.inject(REPAY, "drop", execute=True)
        desk.actions.select(key, "repay", "100")
        desk.actions.go.click()
        assert desk.actions.state is FormState.UNKNOWN
        assert ledger.rows()[-1].status == "unknown"
        assert desk.actions.go.disabled and desk.actions.force_button.layout.display == ""
        desk.actions.amount.value = "100"
        desk.actions.go.click()
        assert desk.actions.state is FormState.HELD and len(posts(exchange, REPAY)) == 1
        desk.actions.select(key, "add", "0.001")  # another kind of action is not held
        assert not desk.actions.go.disabled
        desk.actions.select(key, "repay", "100")
        desk.actions.reconcile_button.click()
        assert ledger.rows()[-1].status == "accepted"
        assert not desk.actions.holds and not desk.actions.go.disabled

    @pytest.mark.parametrize(("kind", "action", "amount", "path"), [
        ("flexible", "repay", "10", "/v5/crypto-loan-flexible/repay"),
        ("pool", "add", "0.1", "/v5/crypto-loan-common/adjust-ltv"),
        ("fixed", "repay_all", "", "/v5/crypto-loan-fixed/fully-repay"),
        ("order", "cancel", "", "/v5/crypto-loan-fixed/borrow-order-cancel"),
    ])
    def test_new_api_hold_released_by_reconcile(self, client: LoanClient, ledger: Ledger,
                                                exchange: Sandbox, kind: str, action: str,
                                                amount: str, path: str) -> None:
        """A lost new-API answer holds that action; Reconcile settles the row and releases it."""
        client.new.borrow("USDT", "1000", "ETH")
        client.new.borrow("USDT", "500", "ETH", term="30", annual_rate="0.2")
        client.new.borrow("USDT", "200", "ETH", term="30", annual_rate="0.0001")  # waits
        desk = LoanDesk(client, live=False)
        desk.actions.rearm_after = 0
        key = next(t.key for t in targets(desk.snapshot) if t.kind == kind)  # type: ignore[arg-type]
        exchange.faults.inject(path, "drop", execute=True)
        desk.actions.select(key, action, amount)
        desk.actions.go.click()
        assert desk.actions.state is FormState.UNKNOWN and desk.actions.go.disabled
        row = ledger.rows()[-1]
        assert (row.api, row.status) == ("new", "unknown") and len(posts(exchange, path)) == 1
        desk.actions.reconcile_button.click()
        assert ledger.get(row.id).status == "accepted", ledger.get(row.id).ret_msg
        assert not desk.actions.holds and len(posts(exchange, path)) == 1

    def test_ambiguous_answer_holds_too(self, client: LoanClient, ledger: Ledger,
                                        exchange: Sandbox) -> None:
        """retCode 10016 to a repay is an AmbiguousAnswer: unknown, held."""
        [order_id] = borrow(client)
        desk = LoanDesk(client, live=False)
        exchange.faults.inject(REPAY, "retcode", code=10016)
        desk.actions.select(f"legacy:{order_id}", "repay", "100")
        desk.actions.go.click()
        assert desk.actions.state is FormState.UNKNOWN and desk.actions.holds
        assert ledger.rows()[-1].status == "unknown"

    def test_send_anyway_passes_force(self, sandbox_client: Callable[..., LoanClient],
                                      ledger: Ledger, exchange: Sandbox) -> None:
        """The client refuses an identical unsettled write: held; Send anyway forces it."""

        class Guarded(LoanClient):
            """The client, noting the ``force`` each repay is sent with."""

            forced: ClassVar[list[bool]] = []

            def repay(self, order_id: object, amount: object, *, source: str | None = None,
                      force: bool = False) -> object:
                self.forced.append(force)
                return super().repay(order_id, amount, source=source, force=force)

        plain = sandbox_client()
        client = Guarded(network="sandbox", base_url=plain.base_url, ledger=ledger,
                         credentials=plain.credentials, timeout=2.0)
        [order_id] = borrow(client)
        desk = LoanDesk(client, live=False)
        desk.actions.rearm_after = 0
        exchange.faults.inject(REPAY, "drop", execute=True)
        desk.actions.select(f"legacy:{order_id}", "repay", "100")
        desk.actions.go.click()  # unknown
        desk.actions.amount.value = "100"
        desk.actions.force_button.click()
        assert desk.actions.state is FormState.ACCEPTED
        assert Guarded.forced == [False, True]
        assert len(posts(exchange, REPAY)) == 2

    def test_duplicate_refusal_holds(self, sandbox_client: Callable[..., LoanClient],
                                     ledger: Ledger, exchange: Sandbox) -> None:
        """A DuplicateOrderError holds the action on the rows it names until they settle."""
        unsettled = ledger.record_pending(network="sandbox", source="magic", api="legacy",
                                          action="repay", body="{}")
        ledger.settle(unsettled, "unknown")

        class Refusing(LoanClient):
            def repay(self, *args: object, **kwargs: object) -> object:
                raise DuplicateOrderError("identical repay unsettled: run %borrow --reconcile",
                                          ledger_ids=(unsettled,))

        plain = sandbox_client()
        client = Refusing(network="sandbox", base_url=plain.base_url, ledger=ledger,
                          credentials=plain.credentials, timeout=2.0)
        [order_id] = borrow(client)
        desk = LoanDesk(client, live=False)
        desk.actions.select(f"legacy:{order_id}", "repay", "100")
        desk.actions.go.click()
        assert desk.actions.state is FormState.HELD
        assert desk.actions.holds[("repay", f"legacy:{order_id}")].rows == (unsettled,)
        assert not posts(exchange, REPAY)
        desk.refresh()
        assert desk.actions.holds  # still unknown: still held
        ledger.settle(unsettled, "not_executed")
        desk.refresh()
        assert not desk.actions.holds


class TestMainnet:
    """On mainnet the first click arms a confirmation; Confirm sends, once."""

    def test_confirm_then_send(self, sandbox_client: Callable[..., LoanClient], ledger: Ledger,
                               exchange: Sandbox) -> None:
        client = sandbox_client(network="mainnet")
        [order_id] = borrow(client)
        desk = LoanDesk(client, live=False)
        assert "MAINNET" in desk.badge.value and "real funds" in desk.badge.value
        desk.actions.select(f"legacy:{order_id}", "repay", "100")
        assert desk.actions.go.description.endswith("on MAINNET…")
        desk.actions.go.click()
        assert desk.actions.state is FormState.CONFIRM and not posts(exchange, REPAY)
        assert desk.actions.confirm_button.layout.display == ""
        desk.actions.confirm_button.click()
        assert desk.actions.state is FormState.ACCEPTED and len(posts(exchange, REPAY)) == 1

    def test_changing_the_form_disarms(self, sandbox_client: Callable[..., LoanClient],
                                       exchange: Sandbox) -> None:
        client = sandbox_client(network="mainnet")
        [order_id] = borrow(client)
        desk = LoanDesk(client, live=False)
        desk.actions.select(f"legacy:{order_id}", "repay", "100")
        desk.actions.go.click()
        desk.actions.amount.value = "200"
        desk.actions.confirm_button.click()
        assert not posts(exchange, REPAY) and desk.actions.ignored_clicks == 1


class TestSecrets:
    """No credential in any widget state the desk syncs or a notebook could save."""

    def test_planted_secret_is_nowhere(self, server: SandboxServer, ledger: Ledger) -> None:
        from ipywidgets.embed import embed_data

        client = LoanClient(network="sandbox", base_url=server.base_url, api_key=PLANTED_KEY,
                            api_secret=PLANTED_SECRET, timeout=2.0, ledger=ledger)
        borrow(client)
        desk = LoanDesk(client, live=False)
        desk.actions.select(desk.snapshot.positions[0].key, "repay", "1")  # type: ignore[union-attr]
        desk.actions.go.click()
        state = json.dumps(embed_data(views=[desk])["manager_state"])
        assert PLANTED_SECRET not in state and PLANTED_KEY not in state
        assert "PL***42" in state  # the masked key, as the badge shows it
        text = "".join(o.get("text", "") for o in desk.output.outputs) + repr(desk)
        assert PLANTED_SECRET not in text and PLANTED_KEY not in text


class TestMagic:
    """``%loans --watch`` opens the desk."""

    def test_loans_watch(self, ip: object) -> None:
        from IPython.utils.capture import capture_output

        with capture_output() as captured:
            result = ip.run_line_magic("loans", "--watch")  # type: ignore[attr-defined]
        assert result is None
        assert any("LoanDesk" in str(o.data.get("text/plain", "")) for o in captured.outputs)

    def test_watch_with_history_is_refused(self, ip: object) -> None:
        from IPython.core.error import UsageError

        with pytest.raises(UsageError, match="--watch"):
            ip.run_line_magic("loans", "--watch --history")  # type: ignore[attr-defined]
