"""``BorrowWidget``: the Borrow button, what it sends and what comes of it.

The Borrow click runs the request synchronously, with the button disabled and
the state ``SENDING`` set first. A lock, not only ``disabled``, keeps a second
click from sending twice (``Button.click()`` from Python ignores ``disabled``);
clicks within :attr:`BorrowWidget.rearm_after` seconds of an answer (a double
click queued behind the first) are ignored too. On mainnet the first click
only arms a confirmation naming amount, coin and network; ``dry_run=True``
shows the signed request instead of sending it.

An answer that may mean the order was executed (any
:class:`~loan_widgets.errors.OutcomeUnknown`, ``AmbiguousAnswer`` included) or
a refusal because an identical order is unsettled
(:class:`~loan_widgets.errors.DuplicateOrderError`) **holds** Borrow on those
ledger rows (:mod:`loan_widgets.widget.hold`) until they are settled: "Check
the exchange" reconciles by reading the exchange, "Send anyway" is the
explicit choice to send regardless (``force=True``). Changing the form does
not release it. Whatever the answer, the account's limits and the orders
table are read again afterwards.

No widget and no trait holds a credential: the client is a plain attribute
and only its masked key is shown.
"""

from __future__ import annotations

import inspect
import threading
import time
from typing import Any

from ..client import LoanClient
from ..errors import (
    DuplicateOrderError,
    ExchangeError,
    LoanWidgetsError,
    OutcomeUnknown,
    ValidationError,
)
from ..orders import BorrowRequest, BorrowResult
from . import render
from .form import HOLD_HELP, BorrowForm, one_line, reported
from .hold import Hold, rows_text, unsettled_since
from .state import FormState

__all__ = ["BorrowWidget"]

REARM_AFTER_S = 1.0
CONFIRM_WINDOW_S = 60.0
AFTER_ROWS = "may have been executed: reconcile it (Check the exchange) before borrowing again"
MAY_HAVE_BEEN_EXECUTED = "{rows} " + AFTER_ROWS
"""Why Borrow is held; ``{rows}`` names the ledger rows."""


def _cause(error: LoanWidgetsError) -> str:
    """What went wrong, in a few words: the widget says itself what to do about it."""
    if isinstance(error, ExchangeError):
        return f"Bybit retCode {error.ret_code}: {error.ret_msg}"
    text = one_line(error).removeprefix("outcome unknown: ")
    return text.split(". Ledger row ", 1)[0]


class BorrowWidget(BorrowForm):
    """A form to borrow crypto against collateral, with a live preview and a one-shot Borrow.

    Args:
        client: the :class:`~loan_widgets.client.LoanClient` to use (default:
            ``LoanClient()``, the local sandbox). Its ledger records every order.
        source: the ledger's ``source`` for orders sent from here.
        api: ``"legacy"`` or ``"new"`` loan API (default: the client's choice,
            else ``%config BorrowMagics.api``, else legacy); ``api_switch``
            changes it.
        dry_run: Borrow shows the exact signed request (key masked, signature
            hidden) and sends nothing.

    Sub-widgets: ``badge``, ``profile_picker`` (a
    :class:`~loan_widgets.widget.profile_picker.ProfilePicker`, hidden with no
    profile configured), ``refresh_button``, ``notice``, ``retry_button``,
    ``api_switch``, ``loan_amount``, ``loan_coin``, ``loan_hint``,
    ``collateral_amount``, ``collateral_coin``, ``collateral_hint``, ``term``
    (a :class:`~loan_widgets.widget.term_picker.TermPicker`), ``new_api_row``
    (``annual_rate``, ``use_rate_button``, ``rate_hint``), ``preview``,
    ``borrow_button``, ``confirm_button``, ``cancel_button``,
    ``reconcile_button``, ``send_anyway_button``, ``status_html``,
    ``orders_html``, ``output``.

    On the new API the form borrows against the account's pooled collateral
    (:mod:`loan_widgets.widget.pool_form`): the loan amount is required, the
    collateral amount is an optional pledge, and the preview shows the pool's
    LTV before and after, what the account can borrow, and for a fixed term
    the rate at which the amount fills now.

    Traits (read-only but ``last_order_id``): ``state`` (a
    :class:`~loan_widgets.widget.state.FormState`), ``message`` (its detail),
    ``status`` (derived: ``ready``, ``invalid: ...``, ``accepted: <id>``...)
    and ``last_order_id``.

    Also: :meth:`prefill`, :meth:`refresh`, ``quote`` (the last
    :class:`~loan_widgets.quote.Quote`, a
    :class:`~loan_widgets.pool_quote.PoolQuote` on the new API), ``hold`` (the
    held ledger rows), ``sending``, ``ignored_clicks``, ``client``,
    ``profile`` (the credentials profile picked), ``network``, ``api``,
    ``dry_run``, ``market`` (the data cache), and the tunables ``cache_ttl``,
    ``rearm_after`` and ``confirm_window`` (seconds).
    """

    rearm_after: float = REARM_AFTER_S
    """Seconds after an answer during which Borrow clicks are ignored (queued double clicks)."""
    confirm_window: float = CONFIRM_WINDOW_S
    """Seconds a mainnet confirmation stays armed."""

    def __init__(
        self,
        client: LoanClient | None = None,
        *,
        source: str = "widget",
        api: str | None = None,
        dry_run: bool = False,
    ) -> None:
        self._click_lock = threading.Lock()
        self._answered_at = float("-inf")
        super().__init__(client, source=source, api=api, dry_run=dry_run)
        self.borrow_button.on_click(self._on_borrow)
        self.confirm_button.on_click(self._on_confirm)
        self.cancel_button.on_click(self._on_cancel)
        self.reconcile_button.on_click(self._on_reconcile)
        self.send_anyway_button.on_click(self._on_send_anyway)
        self.refresh_button.on_click(self._on_refresh)

    # -- clicks ------------------------------------------------------------------------------

    @reported
    def _on_borrow(self, _button: Any = None) -> None:
        self._clicked(force=False)

    @reported
    def _on_send_anyway(self, _button: Any = None) -> None:
        if self._hold is None:
            self._ignored("nothing is held")
            return
        self._clicked(force=True)

    def _clicked(self, *, force: bool) -> None:
        if not self._click_lock.acquire(blocking=False):
            self._ignored("an order is being sent")
            return
        try:
            if self._sending or self._armed is not None:
                self._ignored(
                    "an order is being sent" if self._sending else "confirm or cancel first"
                )
                return
            since = time.monotonic() - self._answered_at
            if since < self.rearm_after:
                self._ignored(f"it came {since:.2f} s after the last answer (double-click guard)")
                return
            if self._check_hold():
                return  # the hold just ended: say so, send nothing on this click
            if self._hold is not None and not force:
                self._enter(FormState.HELD, self._hold.reason, extra=HOLD_HELP)
                self._log(f"not sent: Borrow is held ({self._hold.reason})")
                return
            request = self._ready_request()
            if request is None:
                return
            if self.dry_run:
                self._show_dry_run(request)
            elif self.network == "mainnet":
                self._arm(request, force)
            else:
                self._submit(request, force=force)
        finally:
            self._click_lock.release()

    @reported
    def _on_confirm(self, _button: Any = None) -> None:
        if not self._click_lock.acquire(blocking=False):
            self._ignored("an order is being sent")
            return
        try:
            armed, self._armed = self._armed, None
            self._show_confirm(None)
            if armed is None or self._sending:
                self._ignored("nothing is waiting for confirmation")
                return
            request, armed_at, force = armed
            if time.monotonic() - armed_at > self.confirm_window:
                self._enter(FormState.INVALID, "the confirmation expired",
                            text="The confirmation expired: press Borrow again.")
                self._update_buttons()
                return
            current = self._ready_request()
            if current != request:
                if current is not None:
                    self._enter(FormState.INVALID, "the form changed after Borrow was pressed",
                                text="The form changed: press Borrow again.")
                self._update_buttons()
                return
            self._submit(request, force=force)
        finally:
            self._click_lock.release()

    @reported
    def _on_cancel(self, _button: Any = None) -> None:
        if self._armed is None:
            return
        self._disarm()
        self._log("mainnet order cancelled: nothing was sent")
        self._update_buttons()
        self._update_status()

    def _arm(self, request: BorrowRequest, force: bool) -> None:
        self._armed = (request, time.monotonic(), force)
        text = f"borrow {render.describe(request, self.quote)}, on MAINNET with real funds?"
        if force:
            text = f"send anyway: {text}"
        self._show_confirm(render.confirm_label(request, self.quote),
                           f"Sends {request.describe()} to Bybit mainnet, once")
        self._update_buttons()
        self._enter(FormState.CONFIRM, text,
                    text=f"Confirm: {text} Press Confirm to send it once, or Cancel.")

    def _show_dry_run(self, request: BorrowRequest) -> None:
        """Build and sign the request as it would be sent; show it; send nothing."""
        try:
            prepare = getattr(self._client, "prepare_borrow", None)
            if prepare is not None:
                prepared = prepare(request, self.api)
            else:
                endpoint, body = self._client.borrow_endpoint(request, self.api)
                prepared = self._client.prepare(endpoint, body=body)
        except LoanWidgetsError as error:
            state = FormState.INVALID if isinstance(error, ValidationError) else FormState.ERROR
            self._enter(state, one_line(error))
            self._log(f"dry run: nothing was built: {one_line(error)}")
            return
        self._enter(
            FormState.DRY_RUN, f"{prepared.method} {prepared.url}",
            text="Dry run: nothing was sent. The signed request (key masked, signature hidden):",
            extra=render.dry_run(
                prepared.method, prepared.url, prepared.redacted_headers(), prepared.body,
                prepared.note,
            ),
        )
        self.output.append_stdout(f"Dry run: nothing was sent.\n{prepared!r}\n")

    # -- sending -----------------------------------------------------------------------------

    def _borrow_options(self, force: bool) -> dict[str, Any]:
        """``force=True`` for a client with a duplicate-order guard (others have none to force)."""
        if not force:
            return {}
        parameters = inspect.signature(self._client.borrow).parameters.values()
        takes = any(p.name == "force" or p.kind is p.VAR_KEYWORD for p in parameters)
        return {"force": True} if takes else {}

    def _newest_row(self) -> int:
        try:
            rows = self._client.ledger.rows(limit=1)
        except Exception:  # the ledger's own error shows when the client writes to it
            return 0
        return rows[-1].id if rows else 0

    def _submit(self, request: BorrowRequest, *, force: bool) -> None:
        """Send once, synchronously; the outcome lands in the traits, the status and the log."""
        self._sending = True
        self._set_inputs_disabled(True)
        for button in (self.refresh_button, self.borrow_button, self.reconcile_button,
                       self.send_anyway_button):
            button.disabled = True
        self.borrow_button.description = "Sending…"
        self.borrow_button.icon = "spinner spin"
        before = self._newest_row()
        what = render.describe(request, self.quote)
        self._enter(FormState.SENDING, what, text=(
            f"Sending {what} to {self.network}… (up to {self._client.settings.timeout:g} s)"))
        try:
            result = self._client.borrow(
                request=request, api=self.api, source=self.source, **self._borrow_options(force)
            )
        except OutcomeUnknown as error:  # first: AmbiguousAnswer is an ExchangeError too
            self._unknown(request, error, before)
        except DuplicateOrderError as error:  # first: it is a ValidationError too
            self._duplicate(error)
        except ExchangeError as error:
            self._rejected(request, error)
        except ValidationError as error:
            self._enter(FormState.INVALID, one_line(error))
            self._log(f"not sent: {one_line(error)}")
        except LoanWidgetsError as error:
            self._enter(FormState.ERROR, one_line(error))
            self._log(f"{request.describe()}: error: {one_line(error)}")
        except KeyboardInterrupt:
            self._interrupted(request, before)
            raise
        except Exception as error:  # shown, with its traceback, in the widget
            self._crashed("borrow", error)
        else:
            self._accepted(result)
        finally:
            self._sending = False
            self._answered_at = time.monotonic()
            self.borrow_button.icon = ""
            self._set_inputs_disabled(False)
            self.refresh_button.disabled = False
            try:
                self._after_submit()
            except Exception as error:  # never mask the outcome (or an interrupt) above
                self._log(f"could not read limits and orders again: {one_line(error)}")

    def _after_submit(self) -> None:
        """Balances moved (or may have): read limits and the ledger again, whatever the outcome."""
        self.market.forget_limits()
        self._fetch_limits()
        self._refresh_orders()
        self._render()

    def _accepted(self, result: BorrowResult) -> None:
        self.last_order_id = result.order_id
        self._enter(FormState.ACCEPTED, result.order_id, text=(
            f"Accepted: order {result.order_id}: {result.request.describe()} "
            f"({result.latency_ms:.0f} ms)"
        ), extra=HOLD_HELP if self._hold is not None else "")
        self._log(
            f"accepted: order {result.order_id}: {result.request.describe()} on {result.network}"
        )

    def _rejected(self, request: BorrowRequest, error: ExchangeError) -> None:
        hint = f" ({error.hint})" if error.hint else ""
        self._enter(
            FormState.REJECTED, f"{error.ret_code} {error.ret_msg}",
            text=f"Rejected by the exchange: retCode {error.ret_code}: {error.ret_msg}{hint}",
        )
        self._log(
            f"rejected: {request.describe()}: retCode {error.ret_code}: {error.ret_msg}{hint}"
        )

    def _hold_on(self, rows: tuple[int, ...], why: str) -> Hold:
        """Hold Borrow on ``rows`` too; ``why`` names them through ``{rows}``."""
        merged = tuple(dict.fromkeys((*(self._hold.rows if self._hold else ()), *rows)))
        self._hold = Hold(merged, why.format(rows=rows_text(merged)))
        return self._hold

    def _unknown(self, request: BorrowRequest, error: OutcomeUnknown, before: int) -> None:
        rows = (
            (error.ledger_id,) if error.ledger_id is not None
            else unsettled_since(self._client.ledger, before, self.network)
        )
        self._hold_on(rows, MAY_HAVE_BEEN_EXECUTED)
        message = one_line(error)
        self._enter(FormState.UNKNOWN, message,
                    text=f"Outcome unknown: the order may have been executed ({_cause(error)}).",
                    extra=HOLD_HELP)
        self._log(f"UNKNOWN outcome (may have been executed): {request.describe()}: {message}")

    def _duplicate(self, error: DuplicateOrderError) -> None:
        rows = tuple(getattr(error, "ledger_ids", ()) or ())
        if not rows and error.ledger_id is not None:
            rows = (error.ledger_id,)
        self._hold_on(rows, f"an identical order ({{rows}}) {AFTER_ROWS}")
        message = one_line(error)
        self._enter(FormState.HELD, message, text=f"Not sent: {message}.", extra=HOLD_HELP)
        self._log(f"not sent, held: {message}")

    def _interrupted(self, request: BorrowRequest, before: int) -> None:
        rows = unsettled_since(self._client.ledger, before, self.network)
        message = "interrupted while waiting for the answer: the order may have been executed"
        if rows:
            self._hold_on(rows, MAY_HAVE_BEEN_EXECUTED)
        self._enter(FormState.UNKNOWN, message, text=f"Outcome unknown: {message}.",
                    extra=HOLD_HELP if rows else "")
        self._log(f"UNKNOWN outcome: {request.describe()}: {message}")

    # -- the hold ------------------------------------------------------------------------------

    def _check_hold(self) -> bool:
        """Release the hold if every held row is settled now; ``True`` if it was just released."""
        if self._hold is None:
            return False
        ledger = self._client.ledger
        if self._hold.unsettled(ledger):
            return False
        hold, self._hold = self._hold, None
        settled = [ledger.get(r) for r in hold.rows]
        executed = [r for r in settled if r.status == "accepted" and r.order_id]
        what = "; ".join(f"ledger row {r.id}: {r.status}"
                         + (f" (order {r.order_id})" if r.order_id else "") for r in settled)
        self._log(f"settled: {what or 'nothing was recorded'}; Borrow is released")
        self._refresh_orders()
        self._render()
        if executed:
            self.last_order_id = executed[-1].order_id or ""
            self._enter(FormState.ACCEPTED, self.last_order_id, text=(
                f"Settled: {what}: the order was executed. Borrow is available again."))
        else:
            self._update_status(note=f"Settled: {what}: not executed. Borrow is released.")
        return True

    @reported
    def _on_reconcile(self, _button: Any = None) -> None:
        if self._sending or self._hold is None:
            self._ignored("an order is being sent" if self._sending else "nothing is held")
            return
        button = self.reconcile_button
        button.disabled, button.description = True, "Checking…"
        try:
            result = self._client.reconcile()
        except LoanWidgetsError as error:
            self._enter(FormState.HELD, f"could not read the exchange: {one_line(error)}",
                        extra=HOLD_HELP)
            self._log(f"check the exchange: {one_line(error)}")
            return
        finally:
            button.disabled, button.description = False, "Check the exchange"
        for decision in getattr(result, "decisions", ()):
            order = f" order {decision.order_id}" if decision.order_id else ""
            self._log(f"checked: ledger row {decision.ledger_id}: {decision.status}{order} "
                      f"({decision.reason})")
        if self._check_hold():
            self.market.forget_limits()
            self._fetch_limits()
            self._render()
            return
        assert self._hold is not None
        waiting = set(self._hold.unsettled(self._client.ledger))
        why = "; ".join(
            f"row {d.ledger_id}: {d.reason}" for d in getattr(result, "undecided", ())
            if d.ledger_id in waiting
        ) or "reconciliation did not settle it yet"
        self._enter(FormState.HELD, f"still unsettled: {rows_text(tuple(sorted(waiting)))} ({why})",
                    extra=HOLD_HELP)
        self._update_buttons()

    @reported
    def _on_refresh(self, _button: Any = None) -> None:
        if self._sending:
            return
        if not self.profile_picker.reload():  # profiles added or removed meanwhile
            self._load()  # (a switch back to the given client has loaded its data)
        self._check_hold()
