"""The desk's action bar: repay, add or reduce collateral, cancel an order, for the chosen row.

One set of widgets serves every row (a ``Dropdown`` picks the row), so the
desk costs the same with 1 or 100 loans. Each action goes through
:func:`loan_widgets.desk.adapter.perform` (the client's own write methods: one
ledger row each) with the BorrowWidget's guards:

* **double click**: a lock (``Button.click()`` from Python ignores ``disabled``)
  and :attr:`ActionBar.rearm_after` seconds after an answer during which clicks
  are ignored;
* **mainnet**: the first click arms a confirmation naming amount, coin, row and
  network; ``confirm_button`` sends, within :attr:`ActionBar.confirm_window`;
* **may have been executed**: an ``OutcomeUnknown`` (a lost answer, 10000/10016
  as ``AmbiguousAnswer``, a gateway 5xx) or a ``DuplicateOrderError`` holds that
  kind of action on that row until its ledger rows settle (``reconcile_button``
  reads the exchange, never resending; the desk re-checks at each refresh);
  ``force_button`` ("Send anyway") is the explicit choice to send again
  (``force=True``).

Outcomes land in ``state`` (a :class:`~loan_widgets.widget.state.FormState`) with its
``message``, the derived ``status`` (``"state"`` or ``"state: message"``), ``status_html``
and the desk's log.
"""

from __future__ import annotations

import functools
import html
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import ipywidgets as widgets
from traitlets import Unicode, UseEnum

from ..errors import (
    DuplicateOrderError,
    ExchangeError,
    LoanWidgetsError,
    OutcomeUnknown,
    ValidationError,
)
from ..numbers import grouped
from ..orders import parse_amount
from ..widget.state import FormState
from .adapter import ACTIONS, Target, max_reduction, perform, unavailable
from .render import label

__all__ = ["ActionBar", "Hold"]

REARM_AFTER_S = 1.0
CONFIRM_WINDOW_S = 60.0
SETTLED = frozenset({"accepted", "rejected", "failed", "not_executed"})


@dataclass(frozen=True)
class Hold:
    """An action family held on a row until ``rows`` of the ledger settle."""

    rows: tuple[int, ...]
    why: str


class ActionBar(widgets.VBox):
    """The action controls; ``desk.actions``."""

    state = UseEnum(FormState, default_value=FormState.IDLE, read_only=True,
                    help="What the action bar is doing, or what its last action did")
    message = Unicode("", read_only=True, help="The detail that goes with the state")
    status = Unicode("idle", read_only=True, help="'state' or 'state: message' (derived)")
    rearm_after: float = REARM_AFTER_S
    confirm_window: float = CONFIRM_WINDOW_S

    def __init__(self, client: Any, *, source: str, log: Callable[[str], None],
                 on_done: Callable[[], None]) -> None:
        super().__init__()
        self._client = client
        self.source = source
        self._log = log
        self._on_done = on_done
        self._targets: dict[str, Target] = {}
        self.holds: dict[tuple[str, str], Hold] = {}
        self._lock = threading.Lock()
        self._sending = False
        self._answered_at = float("-inf")
        self._armed: tuple[tuple[str, str, str, bool], float] | None = None
        self._quiet = False
        self.ignored_clicks = 0
        self.last_result: Any = None
        self.target = widgets.Dropdown(description="Position", options=[],
                                       layout=widgets.Layout(width="340px"))
        self.action = widgets.ToggleButtons(options=[], style={"button_width": "auto"})
        self.amount = widgets.Text(description="Amount", placeholder="amount",
                                   layout=widgets.Layout(width="240px"))
        self.max_button = widgets.Button(description="Max", tooltip="Read the allowed maximum",
                                         layout=widgets.Layout(width="60px"))
        self.go = widgets.Button(description="Choose a position", button_style="primary",
                                 disabled=True, layout=widgets.Layout(width="auto"))
        self.confirm_button = widgets.Button(description="Confirm", button_style="danger",
                                             layout=widgets.Layout(width="auto", display="none"))
        self.cancel_button = widgets.Button(description="Cancel",
                                            layout=widgets.Layout(width="auto", display="none"))
        self.force_button = widgets.Button(
            description="Send anyway", button_style="warning", icon="exclamation-triangle",
            tooltip="Send although an earlier identical action may have been executed",
            layout=widgets.Layout(width="auto", display="none"))
        self.reconcile_button = widgets.Button(
            description="Reconcile", icon="search",
            tooltip="Read the exchange to settle 'unknown' ledger rows (sends no order)",
            layout=widgets.Layout(width="auto", display="none"))
        self.status_html = widgets.HTML()
        for w, name in ((self.go, "lw-desk-go"), (self.confirm_button, "lw-desk-confirm"),
                        (self.force_button, "lw-desk-force"), (self.status_html,
                        "lw-desk-action-status"), (self.amount, "lw-desk-amount"),
                        (self.target, "lw-desk-target"), (self.action, "lw-desk-action"),
                        (self.reconcile_button, "lw-desk-reconcile")):
            w.add_class(name)
        row = widgets.Layout(align_items="center", flex_flow="row wrap")
        self.children = (
            widgets.HBox([self.target, self.action], layout=row),
            widgets.HBox([self.amount, self.max_button, self.go, self.confirm_button,
                          self.cancel_button, self.force_button, self.reconcile_button],
                         layout=row),
            self.status_html,
        )
        self.target.observe(self._on_target, names="value")
        self.action.observe(self._on_form, names="value")
        self.amount.observe(self._on_form, names="value")
        self.go.on_click(self._guarded(self._on_go))
        self.confirm_button.on_click(self._guarded(self._on_confirm))
        self.cancel_button.on_click(self._on_cancel)
        self.force_button.on_click(self._guarded(self._on_force))
        self.reconcile_button.on_click(self._on_reconcile)
        self.max_button.on_click(self._on_max)

    # -- rows ------------------------------------------------------------------------------

    def set_targets(self, targets: list[Target]) -> None:
        """Offer ``targets`` (each refresh); the chosen one stays chosen while it exists."""
        self._targets = {t.key: t for t in targets}
        options = [(f"{label(t.position)}" + (f" · {t.coin}" if t.kind == "pool" else ""), t.key)
                   for t in targets]
        if options != list(self.target.options):
            current = self.target.value
            self._quiet = True
            try:
                self.target.options = options
                self.target.value = current if current in self._targets else None
            finally:
                self._quiet = False
            if self.target.value != current:
                self._disarm()
                self._sync_actions()
        self._render()

    @property
    def selected(self) -> Target | None:
        """The chosen row."""
        return self._targets.get(self.target.value or "")

    def select(self, key: str, action: str | None = None, amount: str = "") -> ActionBar:
        """Choose a row, an action and an amount, as a person would."""
        self.target.value = key
        if action is not None:
            self.action.value = action
        self.amount.value = amount
        return self

    def _sync_actions(self) -> None:
        target = self.selected
        names = target.actions if target is not None else ()
        options = [(ACTIONS[n].label, n) for n in names]
        if options != list(self.action.options):
            self._quiet = True
            try:
                self.action.options = options
                self.action.value = names[0] if names else None
            finally:
                self._quiet = False

    def _on_target(self, change: Any) -> None:
        if self._quiet:
            return
        self._disarm()
        self._sync_actions()
        self._render()

    def _on_form(self, change: Any) -> None:
        if self._quiet:
            return
        self._disarm()
        self._render()

    # -- what the button says -------------------------------------------------------------------

    def _request(self) -> tuple[Target, str, Decimal | None]:
        """The chosen row, action and amount; ValidationError when incomplete."""
        target = self.selected
        if target is None or not self.action.value:
            raise ValidationError("choose a position and an action")
        action = str(self.action.value)
        reason = unavailable(self._client, target, action)
        if reason:
            raise ValidationError(reason)
        amount = None
        if ACTIONS[action].amount:
            amount = parse_amount(self.amount.value.strip(), "amount")
        return target, action, amount

    def _describe(self, target: Target, action: str, amount: Decimal | None) -> str:
        coin = target.amount_coin(action) or ""
        what = ACTIONS[action].label
        if amount is not None:
            what += f" {grouped(amount)} {coin}"
        return f"{what} · {label(target.position)}"

    def _render(self) -> None:
        target = self.selected
        action = self.action.value
        show_amount = bool(target and action and ACTIONS[action].amount)
        self.amount.layout.display = "" if show_amount else "none"
        self.max_button.layout.display = "" if action == "reduce" else "none"
        if target is not None and action:
            self.amount.placeholder = f"{target.amount_coin(action) or ''} amount"
        hold = self._hold()
        self.force_button.layout.display = "" if hold else "none"
        self.reconcile_button.layout.display = "" if hold else "none"
        if self._sending:
            return
        try:
            target, action, amount = self._request()
        except ValidationError as error:
            self.go.description = "Choose a position" if target is None else ACTIONS.get(
                str(action), ACTIONS["repay"]).label
            self.go.disabled = True
            self.go.tooltip = str(error)
            return
        text = self._describe(target, action, amount)
        network = self._client.network
        self.go.description = text + (" on MAINNET…" if network == "mainnet" else "")
        self.go.tooltip = hold.why if hold else f"Send once: {text}"
        self.go.disabled = bool(hold) or self._armed is not None

    def _hold(self) -> Hold | None:
        target, action = self.selected, self.action.value
        if target is None or not action:
            return None
        return self.holds.get((ACTIONS[action].family, target.key))

    # -- clicks ---------------------------------------------------------------------------------

    def _guarded(self, handler: Callable[[], None]) -> Callable[[Any], None]:
        @functools.wraps(handler)
        def click(_button: Any = None) -> None:
            if not self._lock.acquire(blocking=False):
                self._ignored("an action is being sent")
                return
            try:
                since = time.monotonic() - self._answered_at
                if self._sending:
                    self._ignored("an action is being sent")
                elif since < self.rearm_after:
                    self._ignored(f"it came {since:.2f} s after the last answer "
                                  "(double-click guard)")
                else:
                    handler()
            except Exception as error:  # ipywidgets would swallow it
                self._set(FormState.ERROR, f"{type(error).__name__}: {error}", "#c62828")
            finally:
                self._lock.release()
        return click

    def _on_go(self) -> None:
        self._start(force=False)

    def _on_force(self) -> None:
        """The explicit choice to send although an identical action may have been executed."""
        if self._hold() is None:
            self._ignored("nothing is held")
            return
        self._start(force=True)

    def _start(self, *, force: bool) -> None:
        if self._armed is not None:
            self._ignored("confirm or cancel first")
            return
        try:
            target, action, amount = self._request()
        except ValidationError as error:
            self._set(FormState.INVALID, str(error), "#c62828")
            return
        hold = self._hold()
        if hold and not force:
            self._set(FormState.HELD, hold.why, "#ef6c00")
            return
        if self._client.network == "mainnet":
            self._armed = ((target.key, action, str(amount), force), time.monotonic())
            text = self._describe(target, action, amount)
            again = " AGAIN, although the last one may have been executed" if force else ""
            self.confirm_button.description = f"Confirm: {text} on MAINNET"
            self._show_confirm(True)
            self._set(FormState.CONFIRM, f"{text}{again}, on MAINNET with real funds? Press "
                      "Confirm to send it once, or Cancel.", "#c62828")
            self._render()
            return
        if force:
            self._log(f"sending anyway although ledger row(s) {list(hold.rows) if hold else []}"
                      " are unsettled")
        self._submit(target, action, amount, force=force)

    def _on_confirm(self) -> None:
        armed, self._armed = self._armed, None
        self._show_confirm(False)
        if armed is None:
            self._ignored("nothing is waiting for confirmation")
            return
        (key, action, amount_text, force), at = armed
        if time.monotonic() - at > self.confirm_window:
            self._set(FormState.INVALID, "The confirmation expired: press the button again.",
                      "#c62828")
            self._render()
            return
        try:
            target, now_action, amount = self._request()
        except ValidationError as error:
            self._set(FormState.INVALID, str(error), "#c62828")
            return
        if (target.key, now_action, str(amount)) != (key, action, amount_text):
            self._set(FormState.INVALID, "The form changed: press the button again.", "#c62828")
            self._render()
            return
        self._submit(target, action, amount, force=force)

    def _on_cancel(self, _button: Any = None) -> None:
        if self._armed is not None:
            self._disarm()
            self._log("mainnet action cancelled: nothing was sent")
            self._set(FormState.IDLE, "Cancelled: nothing was sent.", "#57606a")
            self._render()

    def _on_reconcile(self, _button: Any = None) -> None:
        try:
            self._client.reconcile()
        except LoanWidgetsError as error:
            self._set(FormState.ERROR, f"reconcile failed: {_one(error)}", "#c62828")
            return
        released = self.check_holds()
        if not released:
            self._set(FormState.HELD, "Reconciled: the ledger rows are still unsettled.", "#ef6c00")

    def _on_max(self, _button: Any = None) -> None:
        target = self.selected
        if target is None:
            return
        try:
            most = max_reduction(self._client, target)
        except LoanWidgetsError as error:
            self._set(FormState.ERROR, " ".join(str(error).split()), "#c62828")
            return
        self.amount.value = format(most, "f")
        self._set(FormState.IDLE, f"At most {grouped(most)} {target.coin} can be taken now.",
                  "#57606a")

    # -- sending ------------------------------------------------------------------------------

    def _submit(self, target: Target, action: str, amount: Decimal | None, *, force: bool) -> None:
        text = self._describe(target, action, amount)
        family = (ACTIONS[action].family, target.key)
        self._sending = True
        self.go.disabled = True
        self.go.description = "Sending…"
        self._set(FormState.SENDING, f"Sending {text} to {self._client.network}…", "#1565c0")
        try:
            result = perform(self._client, target, action, amount, source=self.source,
                             force=force)
        except DuplicateOrderError as error:
            self.holds[family] = Hold(tuple(error.ledger_ids), _one(error))
            self._set(FormState.HELD, f"Not sent: {_one(error)}", "#ef6c00")
            self._log(f"held {text}: {_one(error)}")
        except OutcomeUnknown as error:  # AmbiguousAnswer included
            rows = (error.ledger_id,) if error.ledger_id is not None else ()
            why = (f"{text} may have been executed (ledger row {', '.join(map(str, rows))} "
                   "unknown): reconcile before sending it again")
            self.holds[family] = Hold(rows, why)
            self._set(FormState.UNKNOWN, f"Outcome unknown: {_one(error)}", "#ef6c00")
            self._log(f"UNKNOWN outcome: {text}: {_one(error)}")
        except ExchangeError as error:
            self._set(FormState.REJECTED, f"Rejected: retCode {error.ret_code}: {error.ret_msg}",
                      "#c62828", code=f"{error.ret_code}")
            self._log(f"rejected: {text}: retCode {error.ret_code}: {error.ret_msg}")
        except ValidationError as error:
            self._set(FormState.INVALID, f"Not sent: {_one(error)}", "#c62828")
        except LoanWidgetsError as error:
            self._set(FormState.ERROR, _one(error), "#c62828")
            self._log(f"{text}: error: {_one(error)}")
        else:
            self.last_result = result
            self.holds.pop(family, None)
            ident = result.id or "(no id)"
            self._set(FormState.ACCEPTED, f"Done: {text}, id {ident} ({result.latency_ms:.0f} ms)",
                      "#2e7d32", code=ident)
            self._log(f"accepted: {text}: id {ident} (ledger row {result.ledger_id})")
            if ACTIONS[action].amount:
                self.amount.value = ""
        finally:
            self._sending = False
            self._answered_at = time.monotonic()
            self._render()
            self._on_done()

    def check_holds(self) -> list[tuple[str, str]]:
        """Release holds whose ledger rows all settled; returns the released ones."""
        released = []
        ledger = self._client.ledger
        for family, hold in list(self.holds.items()):
            try:
                statuses = [ledger.get(row).status for row in hold.rows]
            except Exception:  # a missing or unreadable row keeps the hold
                continue
            if statuses and all(s in SETTLED for s in statuses):
                del self.holds[family]
                released.append(family)
                self._log(f"ledger row(s) {list(hold.rows)} settled ({', '.join(statuses)}): "
                          f"{family[0]} on {family[1]} released")
        if released:
            self._set(FormState.IDLE, "Released: the earlier action's outcome is settled.",
                      "#2e7d32")
            self._render()
        return released

    # -- helpers --------------------------------------------------------------------------------

    def _disarm(self) -> None:
        if self._armed is not None:
            self._armed = None
            self._show_confirm(False)

    def _show_confirm(self, shown: bool) -> None:
        display = "" if shown else "none"
        self.confirm_button.layout.display = self.cancel_button.layout.display = display

    def _ignored(self, why: str) -> None:
        self.ignored_clicks += 1
        self._log(f"ignored a click: {why}")

    def _set(self, state: FormState, text: str, colour: str, code: str = "") -> None:
        message = code or text
        self.set_trait("state", state)  # observers of status see the state and message it has
        self.set_trait("message", message)
        bare = state in (FormState.IDLE, FormState.SENDING)
        self.set_trait("status", state.value if bare else f"{state.value}: {message}")
        self.status_html.value = (
            f"<div style='color:{colour};font-size:12.5px'>{html.escape(text)}</div>"
        )


def _one(error: BaseException) -> str:
    return " ".join(str(error).split())
