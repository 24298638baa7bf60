"""Move the local sandbox's prices from the page: set a price, or let prices walk gently.

For the sandbox only (``default_server().sandbox`` unless another sandbox is
given; only its ``set_price`` is used, the current prices are read through a
client's public tickers): the desk has something to show without a cell being
run. The walk moves each coin by at most
:attr:`SandboxMarket.step` of its price every :attr:`SandboxMarket.every`
seconds, in whole basis points (``Decimal``, seeded), on the kernel's event
loop; it never places an order.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import ipywidgets as widgets

__all__ = ["SandboxMarket"]


class SandboxMarket(widgets.VBox):
    """Price fields for ``coins`` with a Set button each, and a Random walk switch."""

    def __init__(self, sandbox: Any = None, coins: tuple[str, ...] = ("BTC", "ETH"), *,
                 client: Any = None, step_bp: int = 30, every: float = 2.0,
                 seed: int = 0) -> None:
        super().__init__()
        if sandbox is None:
            from ..sandbox import default_server

            sandbox = default_server().sandbox
        if client is None:
            from ..client import LoanClient

            client = LoanClient(network="sandbox")
        self.sandbox = sandbox
        self.current: dict[str, Decimal] = client.prices(list(coins))
        self.step_bp = step_bp
        self.every = every
        self._rng = random.Random(seed)
        self._task: asyncio.Task[None] | None = None
        self.prices: dict[str, widgets.Text] = {}
        rows = []
        for coin in coins:
            text = widgets.Text(value=format(self.current[coin], "f"), description=coin,
                                layout=widgets.Layout(width="220px"))
            text.add_class(f"lw-market-{coin.lower()}")
            button = widgets.Button(description=f"Set {coin}", layout=widgets.Layout(width="90px"))
            button.add_class(f"lw-market-set-{coin.lower()}")
            button.on_click(lambda _b, c=coin: self.set_price(c, self.prices[c].value))
            self.prices[coin] = text
            rows.append(widgets.HBox([text, button]))
        self.walk = widgets.ToggleButton(description="Random walk", icon="random",
                                         tooltip="Move prices a little every few seconds")
        self.walk.observe(self._on_walk, names="value")
        self.note = widgets.HTML()
        self.children = (
            widgets.HTML("<b style='font-size:12.5px'>Sandbox market</b> "
                         "<span style='color:#57606a;font-size:12px'>(local exchange only: "
                         "move prices and watch the desk)</span>"),
            widgets.HBox([*rows, self.walk], layout=widgets.Layout(flex_flow="row wrap")),
            self.note,
        )
        self.add_class("lw-sandbox-market")

    def set_price(self, coin: str, price: Any) -> None:
        """Set ``coin``'s sandbox price (text or Decimal); a bad value is shown, not raised."""
        try:
            value = Decimal(str(price).strip())
            self.sandbox.set_price(coin, value)
        except (ArithmeticError, TypeError, ValueError) as error:
            self.note.value = f"<span style='color:#c62828'>{coin}: {error}</span>"
            return
        self.current[coin] = value
        self.prices[coin].value = format(value, "f")
        self.note.value = f"<span style='color:#57606a'>{coin} set to {value} USDT</span>"

    def step(self) -> None:
        """Move every coin once, by a whole number of basis points within ``step_bp``."""
        for coin in self.prices:
            move = Decimal(self._rng.randint(-self.step_bp, self.step_bp)) / Decimal(10_000)
            now = self.current[coin]
            self.set_price(coin, (now * (1 + move)).quantize(Decimal("0.01"), ROUND_HALF_UP))

    def _on_walk(self, change: Any) -> None:
        if change["new"]:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.note.value = "the walk needs a running event loop (a Jupyter kernel)"
                self.walk.value = False
                return
            self._task = loop.create_task(self._walk())
        elif self._task is not None:
            self._task.cancel()
            self._task = None

    async def _walk(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                await asyncio.sleep(self.every)
                self.step()

    def close(self) -> None:
        """Stop the walk and close."""
        if self._task is not None:
            self._task.cancel()
        super().close()
