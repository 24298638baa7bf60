"""The desk's live refresh on a running asyncio loop, as in a kernel, and its pacer.

Each live test runs the desk inside ``asyncio.run``: the loop is the one the
desk schedules on, as ipykernel's is for a notebook. Waits are deadlines on
conditions, never fixed sleeps.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest

from loan_widgets.client import LoanClient
from loan_widgets.desk import LoanDesk
from loan_widgets.desk.live import Live
from loan_widgets.desk.pacing import FORBIDDEN_WAIT_S, MAX_FACTOR, Pacer
from loan_widgets.sandbox import Sandbox

ONGOING = "/v5/crypto-loan/ongoing-orders"


async def until(predicate: Callable[[], object], timeout: float = 15.0) -> None:
    """Yield to the loop until ``predicate`` holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def ongoing(exchange: Sandbox) -> int:
    return exchange.count(ONGOING)


class TestLiveRefresh:
    """Refreshes run on the loop, the reads in a worker thread, and stop when told."""

    def test_price_change_shows_up_without_a_call(self, client: LoanClient,
                                                  exchange: Sandbox) -> None:
        """Every second the desk re-reads; a new sandbox price reaches the table by itself."""
        order_id = client.borrow("USDT", "550", "BTC").order_id
        key = f"legacy:{order_id}"

        async def scenario() -> None:
            desk = LoanDesk(client, interval=1)
            try:
                assert desk.live and desk.status == "live"
                refreshes = desk.stats["refreshes"]
                await until(lambda: desk.stats["refreshes"] >= refreshes + 1)
                exchange.set_price("BTC", "60000")
                await until(lambda: desk.snapshot.get(key).ltv == D("0.8667"))  # type: ignore[union-attr]
                assert "86.67 %" in desk.table.value
                assert len(desk.history) >= 3
            finally:
                desk.close()

        asyncio.run(scenario())

    def test_reads_run_off_the_loop_thread(self, client: LoanClient, exchange: Sandbox) -> None:
        """With 0.3 s of latency per request the loop still ticks every 20 ms meanwhile."""
        client.borrow("USDT", "550", "BTC")

        async def scenario() -> float:
            desk = LoanDesk(client, interval=1)
            exchange.faults.latency = 0.3
            threads: set[str] = set()
            read = desk.reader.read

            def traced() -> Any:
                threads.add(threading.current_thread().name)
                return read()

            desk._live._read = traced
            try:
                worst = 0.0
                start = desk.stats["refreshes"]
                while desk.stats["refreshes"] < start + 1:
                    before = time.perf_counter()
                    await asyncio.sleep(0.02)
                    worst = max(worst, time.perf_counter() - before)
                assert threads and all(t.startswith("loan-desk-read") for t in threads)
                return worst
            finally:
                exchange.faults.latency = 0.0
                desk.close()

        worst = asyncio.run(scenario())
        assert worst < 0.9  # never held for the ~1 s (3 reads x 0.3 s) a refresh took

    def test_close_stops_the_reads(self, client: LoanClient, exchange: Sandbox) -> None:
        """After close() no more requests are made."""
        client.borrow("USDT", "550", "BTC")

        async def scenario() -> None:
            desk = LoanDesk(client, interval=1)
            await until(lambda: desk.stats["refreshes"] >= 2)
            desk.close()
            assert not desk.live
            count = ongoing(exchange)
            await asyncio.sleep(2.5)  # two intervals and a half: none may come
            assert ongoing(exchange) == count

        asyncio.run(scenario())

    def test_pause_and_resume(self, client: LoanClient, exchange: Sandbox) -> None:
        """Paused: no reads; resumed: a refresh at once."""
        client.borrow("USDT", "550", "BTC")

        async def scenario() -> None:
            desk = LoanDesk(client, interval=1)
            try:
                desk.paused = True
                assert desk.status == "paused" and "paused" in desk.status_html.value
                await asyncio.sleep(0.1)  # let a refresh under way finish
                count = ongoing(exchange)
                await asyncio.sleep(2.5)
                assert ongoing(exchange) == count
                desk.pause_button.value = False
                await until(lambda: ongoing(exchange) > count, timeout=5)
                assert desk.status == "live"
            finally:
                desk.close()

        asyncio.run(scenario())

    def test_kernel_shutdown_stops_it(self, client: LoanClient, ip: Any) -> None:
        """When the kernel is exiting (``shell.exit_now``) the next wake-up ends the task."""
        client.borrow("USDT", "550", "BTC")

        async def scenario() -> None:
            desk = LoanDesk(client, interval=1)
            try:
                assert desk.live
                ip.exit_now = True
                desk.refresh_soon()
                await until(lambda: not desk.live, timeout=5)
            finally:
                ip.exit_now = False
                desk.close()

        asyncio.run(scenario())

    def test_interval_and_refresh_button(self, client: LoanClient, exchange: Sandbox) -> None:
        """The picker sets the interval; Refresh reads at once."""
        client.borrow("USDT", "550", "BTC")

        async def scenario() -> None:
            desk = LoanDesk(client, interval=60)
            try:
                count = ongoing(exchange)
                desk.refresh_button.click()
                await until(lambda: ongoing(exchange) == count + 1, timeout=5)
                desk.interval_picker.value = 5
                assert desk.interval == 5 and desk.pacer.interval == 5
                await until(lambda: ongoing(exchange) == count + 2, timeout=5)
                await until(lambda: desk.stats["delay"] == 5, timeout=5)
            finally:
                desk.close()

        asyncio.run(scenario())

    def test_without_a_loop_it_says_so(self, client: LoanClient) -> None:
        """In a plain script there is no running loop: no task, a clear status."""
        desk = LoanDesk(client)
        assert not desk.live and desk.status == "stopped"
        assert "running event loop" in desk.status_html.value
        assert desk.refresh()


class TestLiveUnit:
    """Live itself: one refresh at a time, errors handed to apply."""

    def test_errors_reach_apply(self) -> None:
        seen: list[object] = []

        def read() -> int:
            raise RuntimeError("boom")

        def apply(result: object) -> float:
            seen.append(result)
            return 0.01

        async def scenario() -> None:
            live = Live(read, apply)
            assert live.start(0)
            await until(lambda: len(seen) >= 2)
            live.stop()
            assert not live.running

        asyncio.run(scenario())
        assert all(isinstance(s, RuntimeError) for s in seen)


class TestPacer:
    """The delay before the next refresh, from the interval and what the exchange said."""

    @staticmethod
    def limit(limit: int, left: int, reset: int = 0) -> dict[str, str]:
        return {"x-bapi-limit": str(limit), "x-bapi-limit-status": str(left),
                "x-bapi-limit-reset-timestamp": str(reset)}

    def test_on_schedule(self) -> None:
        pacer = Pacer(10)
        assert pacer.after(0, [self.limit(20, 19)]).delay == 10

    def test_interval_has_a_floor(self) -> None:
        assert Pacer(0.1).interval == 1.0

    @pytest.mark.parametrize(("limit", "left", "factor"), [
        (5, 1, 2), (5, 2, 1), (600, 120, 2), (600, 121, 1), (1, 0, 2),
    ])
    def test_near_the_limit(self, limit: int, left: int, factor: int) -> None:
        """A fifth or less of a limit left doubles the interval."""
        assert Pacer(10).after(0, [self.limit(limit, left)]).delay == 10 * factor

    def test_nothing_left_waits_for_the_reset(self) -> None:
        delay = Pacer(1).after(1_000, [self.limit(5, 0, reset=31_000)]).delay
        assert delay == 30

    def test_10006_backs_off_and_recovers(self) -> None:
        pacer = Pacer(2)
        delays = [pacer.after(0, limited=True, reset_ms=100).delay for _ in range(7)]
        assert delays == [4, 8, 16, 32, 64, 64, 64]
        assert pacer.factor == MAX_FACTOR
        recovering = [pacer.after(0, [self.limit(10, 9)]).delay for _ in range(6)]
        assert recovering == [32, 16, 8, 4, 2, 2]

    def test_10006_waits_at_least_until_the_reset(self) -> None:
        assert Pacer(1).after(0, limited=True, reset_ms=9_000).delay == 9

    def test_403_waits_ten_minutes(self) -> None:
        pace = Pacer(1).after(0, forbidden=True)
        assert pace.delay == FORBIDDEN_WAIT_S and "403" in pace.reason

    def test_other_failures_back_off(self) -> None:
        pacer = Pacer(3)
        assert [pacer.after(0, failed=True).delay for _ in range(2)] == [6, 12]


class TestSandboxMarket:
    """The app's market panel moves the sandbox's prices, by hand or in a gentle walk."""

    def test_set_from_the_panel(self, client: LoanClient, exchange: Sandbox) -> None:
        from loan_widgets.desk import SandboxMarket

        market = SandboxMarket(exchange, client=client)
        assert market.prices["BTC"].value == "65000"
        market.prices["BTC"].value = "61000.5"
        market.children[1].children[0].children[1].click()  # "Set BTC"
        assert exchange.prices["BTC"] == D("61000.5") and "BTC set to" in market.note.value
        market.set_price("ETH", "lots")
        assert exchange.prices["ETH"] == D(2500) and "ETH:" in market.note.value

    def test_a_step_is_small_and_exact(self, client: LoanClient, exchange: Sandbox) -> None:
        from loan_widgets.desk import SandboxMarket

        market = SandboxMarket(exchange, client=client, step_bp=30, seed=7)
        for _ in range(20):
            before = dict(market.current)
            market.step()
            for coin, price in market.current.items():
                assert abs(price / before[coin] - 1) <= D("0.0031")
                assert price == exchange.prices[coin] and price.as_tuple().exponent == -2

    def test_walk_runs_on_the_loop_and_stops(self, client: LoanClient,
                                             exchange: Sandbox) -> None:
        from loan_widgets.desk import SandboxMarket

        async def scenario() -> None:
            market = SandboxMarket(exchange, client=client, every=0.05, seed=3)
            market.walk.value = True
            await until(lambda: exchange.prices["BTC"] != D(65000), timeout=5)
            market.walk.value = False
            await asyncio.sleep(0.1)
            frozen = dict(exchange.prices)
            await asyncio.sleep(0.3)
            assert exchange.prices == frozen
            market.close()

        asyncio.run(scenario())
