"""``TermPicker``: a row of toggle buttons, one per loan term of the chosen API."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any

import ipywidgets as widgets
from traitlets import TraitError, Unicode, observe, validate

from ..quote import terms_for
from ..terms import FLEXIBLE, LEGACY_TERMS, NEW_API_TERMS, term_label
from . import render, render_pool

__all__ = ["ALL_TERMS", "TermPicker"]

ALL_TERMS = (FLEXIBLE, *sorted({*LEGACY_TERMS, *NEW_API_TERMS}, key=int))
"""Every term of either loan API, in order: flexible, 7, 14, 30, 60, 90, 180."""


class TermPicker(widgets.HBox):
    """A row of ToggleButtons, one per loan term; terms not offered are really disabled.

    ``value`` is ``"flexible"`` or the days as text (``"7"`` ... ``"180"``).
    Only the terms of the chosen loan API are shown (:meth:`set_api`: the new
    API adds 60 days). A click on a disabled button (possible only from
    Python) is undone.
    """

    value = Unicode(FLEXIBLE, help="The selected term: flexible or days (7, 14, 30, 60, 90, 180)")

    def __init__(self, api: str = "legacy", **kwargs: Any) -> None:
        self._api = api
        self.buttons: dict[str, widgets.ToggleButton] = {
            term: widgets.ToggleButton(
                value=term == FLEXIBLE,
                button_style="info" if term == FLEXIBLE else "",
                description=term_label(term),
                tooltip=term_label(term),
                layout=widgets.Layout(width="84px"),
            )
            for term in ALL_TERMS
        }
        self._syncing = False
        self._shown_offer: tuple[object, ...] | None = None  # what set_offered last applied
        for term, button in self.buttons.items():
            button.observe(functools.partial(self._on_toggle, term), names="value")
        super().__init__(children=tuple(self.buttons.values()), **kwargs)
        self.add_class("lw-term")
        self._show_api_terms()

    @property
    def api(self) -> str:
        """The loan API whose terms are shown (``legacy`` or ``new``)."""
        return self._api

    @property
    def terms(self) -> tuple[str, ...]:
        """The terms the chosen API can carry, flexible first."""
        return terms_for(self._api)

    def set_api(self, api: str) -> bool:
        """Show ``api`` 's terms; a selected term it lacks becomes flexible (``True`` then)."""
        self._api = api
        self._show_api_terms()
        if self.value not in self.terms:
            self.value = FLEXIBLE
            return True
        return False

    def _show_api_terms(self) -> None:
        self._shown_offer = None
        for term, button in self.buttons.items():
            shown = term in self.terms
            button.layout.display = "" if shown else "none"
            if not shown:
                button.disabled = True

    @validate("value")
    def _check_value(self, proposal: Any) -> str:
        value = str(proposal["value"]).strip().lower().removesuffix("d")
        if value not in self.terms:
            raise TraitError(f"term must be one of {', '.join(self.terms)}, not {value!r}")
        return value

    @observe("value")
    def _show_value(self, change: Any) -> None:
        self._syncing = True
        try:
            for term, button in self.buttons.items():
                button.value = term == change["new"]
                button.button_style = "info" if button.value else ""
        finally:
            self._syncing = False

    def _on_toggle(self, term: str, change: Any) -> None:
        if self._syncing:
            return
        button = self.buttons[term]
        if change["new"] and not button.disabled:
            self.value = term
            return
        # Un-pressing the selected term, or pressing a disabled one: put it back.
        self._syncing = True
        try:
            button.value = term == self.value
        finally:
            self._syncing = False

    def set_offered(
        self, coin: str, offered: Collection[str], rates: Mapping[str, Decimal | None],
        *, annual: bool = False,
    ) -> None:
        """Enable the shown terms in ``offered``, disable the others; tooltips give the rate
        (hourly, or with ``annual`` the new API's annual rates: flexible, lowest offers)."""
        key = (coin, self._api, tuple(offered), tuple(rates.get(t) for t in self.terms), annual)
        if key == self._shown_offer:
            return  # called on every keystroke: the buttons already show this
        self._shown_offer = key
        tooltip = render_pool.term_tooltip if annual else render.term_tooltip
        for term in self.terms:
            button = self.buttons[term]
            button.disabled = term not in offered
            button.tooltip = tooltip(term, rates.get(term), coin, offered=term in offered)

    def disable_all(self) -> None:
        """Every button off (while sending, or with no coin data); ``set_offered`` undoes it."""
        self._shown_offer = None
        for button in self.buttons.values():
            button.disabled = True

    @property
    def offered(self) -> tuple[str, ...]:
        """The terms that can be picked."""
        return tuple(t for t in self.terms if not self.buttons[t].disabled)
