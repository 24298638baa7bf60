"""The desk's what-if panel: a price-shock slider per collateral coin, and what it would do."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import ipywidgets as widgets

from ..portfolio import Shocked, Snapshot, what_if
from .render import what_if_table

__all__ = ["WhatIf"]

_HUNDRED = Decimal(100)


class WhatIf:
    """``sliders`` (an HBox of IntSliders, whole percent) and ``result`` (the table's HTML)."""

    def __init__(self, snapshot: Callable[[], Snapshot | None],
                 thresholds: Callable[[], Mapping[str, Decimal]]) -> None:
        self._snapshot = snapshot
        self._thresholds = thresholds
        self.shocks: dict[str, Decimal] = {}
        self.sliders = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self.result = widgets.HTML()

    def _slider(self, coin: str) -> widgets.IntSlider | None:
        return next((s for s in self.sliders.children if s.description == coin), None)

    def sync(self, snap: Snapshot) -> None:
        """One slider per collateral coin of ``snap`` (kept across refreshes); redraw."""
        coins = snap.collateral_coins
        if tuple(s.description for s in self.sliders.children) != coins:
            sliders = []
            for coin in coins:
                slider = self._slider(coin)
                if slider is None:
                    slider = widgets.IntSlider(
                        value=int(self.shocks.get(coin, Decimal(0)) * _HUNDRED), min=-90,
                        max=100, description=coin, readout_format="+d",
                        continuous_update=False, layout=widgets.Layout(width="300px"),
                    )
                    slider.observe(self._on_slider, names="value")
                sliders.append(slider)
            self.sliders.children = tuple(sliders)
        self.render()

    def shock(self, fractions: Mapping[str, Decimal]) -> tuple[Shocked, ...]:
        """Set shocks (fractions: ``-0.2`` is 20 % down), move the sliders, redraw."""
        for coin, fraction in fractions.items():
            self.shocks[coin] = fraction
            slider = self._slider(coin)
            if slider is not None and slider.value != int(fraction * _HUNDRED):
                slider.value = int(fraction * _HUNDRED)
        return self.render()

    def _on_slider(self, change: Any) -> None:
        self.shocks[change["owner"].description] = Decimal(change["new"]) / _HUNDRED
        self.render()

    def render(self) -> tuple[Shocked, ...]:
        """Each position's LTV under the current shocks; the table shows it."""
        snap = self._snapshot()
        if snap is None:
            return ()
        result = what_if(snap, self.shocks, self._thresholds())
        self.result.value = what_if_table(snap, result, self.shocks)
        return result
