"""The BorrowWidget's sub-widgets and layout, composed in one ``children`` assignment.

::

    ┌ badge: SANDBOX · account SA***01 · host · API ─ [Profile: main ▾] ──── [↻ Refresh] ┐
    │ notice (load failures) ............................................... [Retry]   │
    │ Loan API    [Legacy API][New API]                                                 │
    │ Borrow      [ 550             ] [USDT ▾]   min 20 · max 8,000,000 USDT              │
    │ Collateral  [ ≈ 0.01057693    ] [BTC  ▾]   ≈ estimate at initial LTV 80 %           │
    │ Term        [Flexible][7 days][14 days][30 days][90 days][180 days]   (new: + 60)    │
    │ new-API row: Annual rate [ 0.05 ] [Use 5.5 %]  fills now  (fixed, new API only)   │
    │ preview: collateral, LTV vs margin call / liquidation, rate, interest, price        │
    │          (new API: order, pledge, pool LTV before → after, can borrow, rate)        │
    │ [Borrow 550 USDT] [Confirm …] [Cancel] [Check the exchange] [Send anyway]  status   │
    │ recent orders (the ledger's last rows)                                              │
    │ output (a log of what happened)                                                     │
    └─────────────────────────────────────────────────────────────────────────────────────┘

This module only builds and shows: what a click does is
:mod:`loan_widgets.widget.form`. ``new_api_row`` is the new loan API's own
part of the form: the annual rate a fixed order offers, and a button that puts
in the rate that fills now. ``profile_picker`` (a
:class:`~loan_widgets.widget.profile_picker.ProfilePicker`, hidden when no
profile is configured) picks the credentials profile.
"""

from __future__ import annotations

import ipywidgets as widgets

from .profile_picker import ProfilePicker
from .term_picker import TermPicker

__all__ = ["BorrowView"]

LABEL_WIDTH = "92px"


def _hidden(layout: widgets.Layout, hidden: bool) -> None:
    layout.display = "none" if hidden else ""


class BorrowView(widgets.VBox):
    """The widget tree of the BorrowWidget (no behaviour: see ``BorrowWidget``)."""

    def _build(self, api: str, profile_picker: ProfilePicker) -> None:
        desc = {"description_width": LABEL_WIDTH}
        self.profile_picker = profile_picker
        self.badge = widgets.HTML(layout=widgets.Layout(flex="1 1 auto"))
        self.refresh_button = widgets.Button(
            description="Refresh",
            icon="refresh",
            tooltip="Reload coin data, prices and account limits from the exchange",
            layout=widgets.Layout(width="96px", flex="0 0 auto"),
        )
        self.api_switch = widgets.ToggleButtons(
            options=[("Legacy API", "legacy"), ("New API", "new")],
            value=api,
            tooltips=[
                "Bybit's legacy crypto-loan API (/v5/crypto-loan/borrow)",
                "Bybit's new loan API (flexible or fixed loans, pooled collateral)",
            ],
            style={"button_width": "100px"},
        )
        self.loan_amount = widgets.Text(
            description="Borrow",
            placeholder="amount to borrow",
            style=desc,
            layout=widgets.Layout(width="300px", flex="0 0 auto"),
        )
        self.loan_coin = widgets.Dropdown(
            options=[], layout=widgets.Layout(width="96px", flex="0 0 auto"),
            tooltip="Coin to borrow",
        )
        self.loan_hint = widgets.HTML(layout=widgets.Layout(flex="1 1 auto"))
        self.collateral_amount = widgets.Text(
            description="Collateral",
            placeholder="or collateral to pledge",
            style=desc,
            layout=widgets.Layout(width="300px", flex="0 0 auto"),
        )
        self.collateral_coin = widgets.Dropdown(
            options=[], layout=widgets.Layout(width="96px", flex="0 0 auto"),
            tooltip="Coin to pledge",
        )
        self.collateral_hint = widgets.HTML(layout=widgets.Layout(flex="1 1 auto"))
        self.term = TermPicker(api)
        self.annual_rate = widgets.Text(
            description="Annual rate",
            placeholder="e.g. 0.05 (= 5 %)",
            tooltip="The annual rate a fixed order on the new loan API offers lenders",
            style=desc,
            layout=widgets.Layout(width="300px", flex="0 0 auto"),
        )
        self.use_rate_button = widgets.Button(
            description="Use", tooltip="Offer the rate at which the whole amount fills now",
            layout=widgets.Layout(width="auto", display="none", flex="0 0 auto"),
        )
        self.rate_hint = widgets.HTML(layout=widgets.Layout(flex="1 1 auto"))
        self.preview = widgets.HTML()
        self.borrow_button = widgets.Button(
            description="Borrow",
            button_style="primary",
            disabled=True,
            layout=widgets.Layout(width="auto", min_width="180px", flex="0 0 auto"),
        )
        self.confirm_button = widgets.Button(
            description="Confirm",
            button_style="danger",
            icon="exclamation-triangle",
            layout=widgets.Layout(width="auto", display="none", flex="0 0 auto"),
        )
        self.cancel_button = widgets.Button(
            description="Cancel",
            layout=widgets.Layout(width="80px", display="none", flex="0 0 auto"),
        )
        self.reconcile_button = widgets.Button(
            description="Check the exchange",
            icon="search",
            button_style="warning",
            tooltip="Read the exchange's loans to settle the held order (sends no order)",
            layout=widgets.Layout(width="auto", display="none", flex="0 0 auto"),
        )
        self.send_anyway_button = widgets.Button(
            description="Send anyway",
            tooltip="The held order may have been executed: send this order regardless",
            layout=widgets.Layout(width="auto", display="none", flex="0 0 auto"),
        )
        self.status_html = widgets.HTML(
            layout=widgets.Layout(flex="1 1 240px", min_width="240px", margin="0 0 0 8px")
        )
        self.notice = widgets.HTML(layout=widgets.Layout(flex="1 1 auto"))
        self.retry_button = widgets.Button(
            description="Retry", icon="refresh", button_style="warning",
            layout=widgets.Layout(width="96px", flex="0 0 auto"),
        )
        self.orders_html = widgets.HTML()
        self.output = widgets.Output(layout=widgets.Layout(max_height="110px", overflow="auto"))

        for w, name in (
            (self.loan_amount, "lw-loan-amount"),
            (self.loan_coin, "lw-loan-coin"),
            (self.collateral_amount, "lw-collateral-amount"),
            (self.collateral_coin, "lw-collateral-coin"),
            (self.api_switch, "lw-api"),
            (self.annual_rate, "lw-annual-rate"),
            (self.use_rate_button, "lw-use-rate"),
            (self.preview, "lw-preview"),
            (self.borrow_button, "lw-borrow"),
            (self.confirm_button, "lw-confirm"),
            (self.reconcile_button, "lw-reconcile"),
            (self.send_anyway_button, "lw-send-anyway"),
            (self.status_html, "lw-status"),
            (self.orders_html, "lw-orders"),
            (self.retry_button, "lw-retry"),
            (self.badge, "lw-badge"),
        ):
            w.add_class(name)

        row = widgets.Layout(align_items="center", width="100%", margin="0 0 2px 0")
        term_label, api_label = (
            widgets.HTML(
                f"<div style='text-align:right;padding-right:8px'>{text}</div>",
                layout=widgets.Layout(width=LABEL_WIDTH, margin="0 4px 0 0"),
            )
            for text in ("Term", "Loan API")
        )
        self._notice_row = widgets.HBox(
            [self.notice, self.retry_button],
            layout=widgets.Layout(
                align_items="center", display="none", border="1px solid #ef9a9a",
                padding="4px 8px", margin="4px 0",
            ),
        )
        self.new_api_row = widgets.HBox(
            [self.annual_rate, self.use_rate_button, self.rate_hint],
            layout=widgets.Layout(align_items="center", width="100%", margin="0 0 2px 0"),
        )
        self.new_api_row.add_class("lw-new-api")
        self.children = (
            widgets.HBox([self.badge, self.profile_picker, self.refresh_button], layout=row),
            self._notice_row,
            widgets.HBox([api_label, self.api_switch], layout=row),
            widgets.HBox([self.loan_amount, self.loan_coin, self.loan_hint], layout=row),
            widgets.HBox(
                [self.collateral_amount, self.collateral_coin, self.collateral_hint], layout=row
            ),
            widgets.HBox([term_label, self.term], layout=row),
            self.new_api_row,
            self.preview,
            widgets.HBox(
                [self.borrow_button, self.confirm_button, self.cancel_button,
                 self.reconcile_button, self.send_anyway_button, self.status_html],
                layout=widgets.Layout(
                    align_items="center", width="100%", margin="6px 0", flex_flow="row wrap"
                ),
            ),
            self.orders_html,
            self.output,
        )
        self.layout = widgets.Layout(
            width="100%", max_width="860px", border="1px solid #d0d7de", padding="8px 12px"
        )
        self.add_class("lw-borrow-widget")

    # -- showing and hiding ------------------------------------------------------------------

    def _show_notice(self, text: str, *, retry: bool) -> None:
        self.notice.value = text
        self._notice_row.layout.display = "flex" if text else "none"
        self.retry_button.layout.display = "" if retry else "none"

    def _show_confirm(self, label: str | None, tooltip: str = "") -> None:
        """Show Confirm (labelled) and Cancel, or hide both (``None``)."""
        if label is not None:
            self.confirm_button.description = label
            self.confirm_button.tooltip = tooltip
        _hidden(self.confirm_button.layout, label is None)
        _hidden(self.cancel_button.layout, label is None)

    def _show_hold_buttons(self, held: bool) -> None:
        _hidden(self.reconcile_button.layout, not held)
        _hidden(self.send_anyway_button.layout, not held)

    def _show_new_api_row(self, shown: bool) -> None:
        _hidden(self.new_api_row.layout, not shown)

    def _show_use_rate(self, label: str | None) -> None:
        """Show the button that fills in the matching rate (labelled), or hide it."""
        if label is not None:
            self.use_rate_button.description = label
        _hidden(self.use_rate_button.layout, label is None)

    def _set_inputs_disabled(self, disabled: bool) -> None:
        for w in (self.loan_amount, self.collateral_amount, self.loan_coin, self.collateral_coin,
                  self.api_switch, self.annual_rate, self.use_rate_button,
                  self.profile_picker):
            w.disabled = disabled
        if disabled:
            self.term.disable_all()  # re-enabling only the offered terms is the form's job
