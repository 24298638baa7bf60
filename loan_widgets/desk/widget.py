"""``LoanDesk``: every open loan, legacy and new API, live, with alerts, what-if and actions.

::

    ┌ badge: SANDBOX · Loan desk · account ─ [Profile ▾] [Refresh] [Pause] [10 s ▾] ┐
    │ status: live · refreshed 12:00:01 UTC · 5 reads · next at 12:00:11          │
    │ notice (alerts, rate limits, errors)                                        │
    │ table: position · debt · collateral · LTV bar · margin call / liquidation   │
    │        at (price fall, trigger price) · term, time left, rate · price used  │
    │ alert at LTV ≥ [   ] %   (default: 3 points under each margin call)        │
    │ what if: [BTC −20 %] [ETH 0 %] … → each LTV after, margin calls, liquidations│
    │ chart: LTV since the desk opened (bqplot)                                   │
    │ actions: [position ▾] [Repay|Repay all|Add|Reduce|Cancel] [amount] [Go]     │
    │ log                                                                         │
    └─────────────────────────────────────────────────────────────────────────────┘

Data path: :class:`~loan_widgets.desk.adapter.Reader` (a fixed few reads, in a
worker thread) → :func:`loan_widgets.portfolio.snapshot` (pure ``Decimal``) →
alerts (:func:`loan_widgets.portfolio.crossings`), history, HTML and chart on
the kernel's thread. :class:`~loan_widgets.desk.live.Live` schedules it on the
kernel's event loop; :class:`~loan_widgets.desk.pacing.Pacer` decides when.

No widget and no trait holds a credential: the client is a plain attribute.
``profile_picker`` (hidden when no profile is configured) picks the
credentials profile the desk acts for: its client replaces the desk's (same
ledger), and the positions, history and alerts start again from its account.
"""

from __future__ import annotations

import html
import re
import time
import traceback
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
from traitlets import Unicode

from ..client import LoanClient
from ..errors import LoanWidgetsError, RateLimitError
from ..portfolio import (
    NEW_API_LEVELS,
    AlertEvent,
    Levels,
    Reads,
    Shocked,
    Snapshot,
    crossings,
    snapshot,
    threshold_for,
)
from .actions import ActionBar
from .adapter import Reader, targets
from .chart import LtvChart
from .header import DeskHeader
from .history import History
from .live import Live
from .pacing import Pacer
from .render import label, percent, positions_frame, positions_table
from .whatif import WhatIf

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["LoanDesk"]

_HUNDRED = Decimal(100)
_PERCENT = re.compile(r"[0-9]{1,3}(\.[0-9]{1,18})?|\.[0-9]{1,18}", re.ASCII)
_STALE = object()
"""What a read made before a profile was picked gives: nothing to show."""


def _percent_input(value: Any, what: str, *, move: bool = False) -> Decimal | None:
    """``"82"`` / ``82`` / ``Decimal("82.5")`` percent -> a fraction; ``None`` for blank.

    An LTV alert is above 0 and at most 100 %; a price ``move`` (a what-if shock) is
    signed and above -100 %. Both are written with ASCII digits (as every amount is);
    anything else is a one-line ``ValueError`` that shows the value shortened.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float):
        raise TypeError(f"{what}: give a percentage as text, int or Decimal, not a float")
    text = str(value).strip().removesuffix("%").strip()
    shown = repr(str(value)[:20] + ("..." if len(str(value)) > 20 else "")).encode(
        "unicode_escape").decode("ascii")
    allowed = ("a price move in percent above -100 (e.g. -20)" if move
               else "an LTV in percent above 0 and at most 100 (e.g. 82.5)")
    problem = f"{what}: {shown} is not {allowed}"
    signed = text[1:] if move and text[:1] in "+-" else text
    if isinstance(value, bool) or not _PERCENT.fullmatch(signed):
        raise ValueError(problem)
    number = Decimal(text)
    if not (number > -_HUNDRED if move else 0 < number <= _HUNDRED):
        raise ValueError(problem)
    return number / _HUNDRED


class LoanDesk(widgets.VBox):
    """Watch and manage every open loan, refreshed live on the kernel's event loop.

    Args:
        client: the :class:`~loan_widgets.client.LoanClient` (default: a new one:
            the local sandbox unless configured). Actions go through it and its ledger.
        interval: seconds between refreshes (default 10, at least 1).
        source: the ledger's ``source`` for actions sent from here.
        alert_ltv: one alert threshold for every position, in percent (default:
            3 points under each position's margin-call LTV).
        on_alert: called with each :class:`~loan_widgets.portfolio.AlertEvent`.
        new_api_levels: the new API's margin-call and liquidation LTV (the API
            publishes none; default: the sandbox's, 85 % and 91 %).
        live: start refreshing on the running event loop (a Jupyter kernel).

    Traits: ``status`` (``live``, ``paused``, ``stopped``, ``error: ...``).
    Sub-widgets: ``header`` (a :class:`~loan_widgets.desk.header.DeskHeader`: ``badge``,
    ``profile_picker``, ``refresh_button``, ``pause_button``, ``interval_picker``),
    ``status_html``, ``notice``, ``table``, ``alert_input``, ``shocks``, ``what_if_html``,
    ``chart``, ``actions`` (an :class:`~loan_widgets.desk.actions.ActionBar`), ``output``.
    """

    status = Unicode("loading", help="live, paused, stopped, or error: ...")

    def __init__(
        self,
        client: LoanClient | None = None,
        *,
        interval: float = 10.0,
        source: str = "desk",
        alert_ltv: Any = None,
        on_alert: Callable[[AlertEvent], Any] | None = None,
        new_api_levels: Levels = NEW_API_LEVELS,
        live: bool = True,
    ) -> None:
        super().__init__()
        self._client = client if client is not None else LoanClient()
        self.source = source
        self.reader = Reader(self._client, new_levels=new_api_levels)
        self.pacer = Pacer(interval)
        self.history = History()
        self.snapshot: Snapshot | None = None
        self.events: list[AlertEvent] = []
        self.on_alert = on_alert
        self._alerts: dict[str, Decimal] = {}
        self._alert_refused = False
        self._alert_ltv = _percent_input(alert_ltv, "alert_ltv")
        self._fired: frozenset[str] = frozenset()
        self._alert_lines: dict[str, str] = {}
        self._closed = False
        self._shell = _shell()
        self.stats: dict[str, Any] = {"refreshes": 0, "failures": 0, "reads": 0,
                                      "render_ms": 0.0, "delay": self.pacer.interval}
        self._build()
        if self.profile_picker.note:
            self._log(f"no profile can be offered: {self.profile_picker.note}")
        self.refresh()
        self._live = Live(self._read, self._apply, self._should_stop)
        if live:
            self.start()

    # -- construction ------------------------------------------------------------------------

    def _build(self) -> None:
        self.header = DeskHeader(self._client, self.pacer.interval, self._use_client, self._log)
        header = self.header
        self.badge, self.profile_picker = header.badge, header.profile_picker
        self.refresh_button, self.pause_button = header.refresh_button, header.pause_button
        self.interval_picker = header.interval_picker
        self.status_html = widgets.HTML()
        self.notice = widgets.HTML()
        self.table = widgets.HTML()
        self.alert_input = widgets.Text(
            description="Alert at LTV ≥", placeholder="margin call − 3 points",
            style={"description_width": "110px"}, layout=widgets.Layout(width="300px"),
            continuous_update=False,
        )
        self.what_ifs = WhatIf(lambda: self.snapshot, self.thresholds)
        self.shocks = self.what_ifs.sliders
        self.what_if_html = self.what_ifs.result
        self.chart = LtvChart()
        self.output = widgets.Output(layout=widgets.Layout(max_height="120px", overflow="auto"))
        self.actions = ActionBar(self._client, source=self.source, log=self._log,
                                 on_done=self._after_action)
        for w, name in ((self.table, "lw-desk-table"), (self.notice, "lw-desk-notice"),
                        (self.status_html, "lw-desk-status"),
                        (self.what_if_html, "lw-desk-whatif"), (self.shocks, "lw-desk-shocks")):
            w.add_class(name)
        self.children = (
            self.header,
            self.status_html,
            self.notice,
            self.table,
            self.alert_input,
            widgets.HTML("<b style='font-size:12.5px'>What if prices moved?</b>"),
            self.shocks,
            self.what_if_html,
            self.chart,
            widgets.HTML("<b style='font-size:12.5px'>Act on a position</b>"),
            self.actions,
            self.output,
        )
        self.layout = widgets.Layout(width="100%", max_width="1100px",
                                     border="1px solid #d0d7de", padding="8px 12px")
        self.add_class("lw-loan-desk")
        self.refresh_button.on_click(self._on_refresh)
        self.pause_button.observe(self._on_pause, names="value")
        self.interval_picker.observe(self._on_interval, names="value")
        self.alert_input.observe(self._on_alert_input, names="value")

    @property
    def client(self) -> LoanClient:
        """The client reads and actions go through (never synced or saved)."""
        return self._client

    def _use_client(self, client: LoanClient, profile: Any) -> None:
        """Act for another profile: its client, same ledger; positions and alerts start over."""
        self.actions.cancel_button.click()  # a mainnet confirmation was for the other client
        self._client = client
        self.reader = Reader(client, new_levels=self.reader.new_levels)
        self.actions._client = client  # same ledger: a hold stays on its ledger rows
        self.actions.set_targets([])  # the other account's positions cannot be acted on
        self.snapshot, self.history = None, History()
        self._fired, self._alert_lines = frozenset(), {}
        self.table.value = self.what_if_html.value = ""
        self.header.show(client)
        who = f"profile {profile.name} ({profile.network})" if profile else "the client as given"
        self._log(f"acting for {who}: reading its positions")
        self.refresh_soon()

    def _read(self) -> Any:
        """The live refresh's reads, with the reader of the moment (stale if one was picked)."""
        reader = self.reader
        try:
            result: Any = reader.read()
        except Exception as error:  # handed to _apply, which shows it
            result = error
        return _STALE if reader is not self.reader else result

    # -- live refresh -----------------------------------------------------------------------

    def start(self) -> bool:
        """Refresh every :attr:`interval` seconds on the running event loop.

        Returns ``False`` (and says so in the status) when there is no running
        loop, as in a plain script: then call :meth:`refresh` yourself.
        """
        if self._closed:
            return False
        if self._live.start(self.stats["delay"]):
            self.status = "paused" if self.paused else "live"
            self._status_line()
            return True
        self.status = "stopped"
        self._status_line("live refresh needs a running event loop (a Jupyter kernel): "
                          "call refresh()")
        return False

    def stop(self) -> None:
        """Stop refreshing (``close()`` does it too)."""
        self._live.stop()
        self.status = "stopped"
        self._status_line()

    @property
    def live(self) -> bool:
        """True while refreshes are scheduled."""
        return self._live.running

    @property
    def paused(self) -> bool:
        """True while live refresh is paused (the task stays, no reads are made)."""
        return self.pause_button.value

    @paused.setter
    def paused(self, value: bool) -> None:
        self.pause_button.value = bool(value)

    @property
    def interval(self) -> float:
        """Seconds between refreshes (at least 1); the pacer may wait longer."""
        return self.pacer.interval

    @interval.setter
    def interval(self, seconds: float) -> None:
        self.pacer.interval = seconds
        self.header.set_interval(self.pacer.interval)
        if self._live_running():
            self._live.poke()  # the next refresh comes at once, then at the new interval

    def refresh_soon(self) -> None:
        """Refresh now on the event loop (or right here when not live)."""
        if self._live.running:
            self._live.poke()
        else:
            self.refresh()

    def refresh(self) -> bool:
        """Read the exchange and redraw now, on this thread; ``False`` if that failed."""
        failures = self.stats["failures"]
        try:
            result: Any = self.reader.read()
        except Exception as error:  # shown in the desk
            result = error
        self.stats["delay"] = self._apply(result)
        return self.stats["failures"] == failures

    def close(self) -> None:
        """Stop refreshing and close the widget."""
        self._closed = True
        live = getattr(self, "_live", None)
        if live is not None:
            live.stop()
        chart = getattr(self, "chart", None)
        if chart is not None:
            chart.close()
        super().close()

    def _should_stop(self) -> bool:
        return self._closed or bool(getattr(self._shell, "exit_now", False))

    # -- one refresh, applied on the kernel's thread ---------------------------------------

    def _apply(self, result: Reads | BaseException) -> float:
        if result is _STALE:
            return float(self.stats["delay"])
        now_ms = int(time.time() * 1000 + (self._client.clock_offset_ms or 0.0))
        if isinstance(result, BaseException):
            self.stats["failures"] += 1
            pace = self._failed(result, now_ms)
        else:
            started = time.perf_counter()
            try:
                self._show(result)
            except Exception as error:  # a bug here must show, and must not end the task
                self.stats["failures"] += 1
                pace = self._failed(error, now_ms)
            else:
                self.stats["render_ms"] = (time.perf_counter() - started) * 1e3
                self.stats["refreshes"] += 1
                self.stats["reads"] = result.reads
                pace = self.pacer.after(now_ms, self.reader.rate_limits)
        self.stats["delay"] = pace.delay
        self.stats["pace"] = pace.reason
        if pace.reason:
            self._log(pace.reason)
        self._status_line(pace.reason)
        return pace.delay

    def _failed(self, error: BaseException, now_ms: int) -> Any:
        message = " ".join(str(error).split()) or type(error).__name__
        if isinstance(error, RateLimitError):
            pace = self.pacer.after(now_ms, limited=True, reset_ms=error.reset_at_ms)
        elif getattr(error, "http_status", None) == 403:
            pace = self.pacer.after(now_ms, forbidden=True)
        else:
            pace = self.pacer.after(now_ms, failed=True)
        if not isinstance(error, LoanWidgetsError):
            self.output.append_stdout("".join(traceback.format_exception(error)))
        stale = ""
        if self.snapshot is not None:
            stale = f" Showing positions as of {_clock(self.snapshot.taken_at_ms)} UTC."
        self._set_notice(f"Could not refresh: {message}.{stale}", "#c62828")
        self.status = f"error: {message}"
        self._log(f"refresh failed: {message}")
        return pace

    def _show(self, reads: Reads) -> None:
        snap = snapshot(reads)
        self.snapshot = snap
        thresholds = self._thresholds(snap)
        events, self._fired = crossings(snap, thresholds, self._fired)
        self.history.add(snap)
        self.table.value = positions_table(snap, thresholds, self._fired)
        self.what_ifs.sync(snap)
        ranked = sorted(snap.ltvs().items(), key=lambda kv: -kv[1])
        keys = [k for k, _ in ranked]
        labels = {p.key: label(p) for p in snap.positions}
        levels = sorted({p.levels.margin_call for p in snap.positions
                         if p.key in keys[:2] and p.levels.margin_call is not None})
        self.chart.draw(self.history, keys, labels, levels)
        self.actions.set_targets(targets(snap))
        self.actions.check_holds()
        if events:
            self._alerted(events, snap)
        self._alert_lines = {k: v for k, v in self._alert_lines.items() if k in self._fired}
        if self._alert_lines:
            self._set_notice("⚠ " + "<br>⚠ ".join(html.escape(t) for t in
                                                   self._alert_lines.values()),
                             "#b26a00", escape=False)
        else:
            self._set_notice("; ".join(snap.notes), "#57606a")
        if not self.paused:
            self.status = "live" if self._live_running() else "stopped"

    def _live_running(self) -> bool:
        live = getattr(self, "_live", None)
        return live is not None and live.running

    def frame(self) -> pd.DataFrame:
        """The positions now as a DataFrame: exact ``Decimal`` amounts and ratios."""
        return positions_frame(self.snapshot, self.thresholds())

    # -- alerts -------------------------------------------------------------------------

    @property
    def alert_ltv(self) -> Decimal | None:
        """The alert threshold for every position (a fraction), or ``None`` for the default."""
        return self._alert_ltv

    @alert_ltv.setter
    def alert_ltv(self, percent_value: Any) -> None:
        self._alert_ltv = _percent_input(percent_value, "alert_ltv")
        shown = "" if self._alert_ltv is None else format(self._alert_ltv * _HUNDRED, "f")
        if self.alert_input.value != shown:
            self.alert_input.value = shown

    def set_alert(self, key: str, percent_value: Any) -> None:
        """Alert for one position (``desk.snapshot.positions[i].key``) at ``percent_value``;
        ``None`` goes back to the global threshold."""
        value = _percent_input(percent_value, "alert")
        if value is None:
            self._alerts.pop(key, None)
        else:
            self._alerts[key] = value

    def thresholds(self) -> dict[str, Decimal]:
        """Each position's alert threshold now (fractions)."""
        return self._thresholds(self.snapshot) if self.snapshot else {}

    def _thresholds(self, snap: Snapshot) -> dict[str, Decimal]:
        found = {}
        for p in snap.positions:
            value = threshold_for(p, self._alerts, self._alert_ltv)
            if value is not None:
                found[p.key] = value
        return found

    def _alerted(self, events: tuple[AlertEvent, ...], snap: Snapshot) -> None:
        for event in events:
            self.events.append(event)
            position = snap.get(event.key)
            name = label(position) if position else event.key
            levels = event.levels
            text = (f"{name}: LTV {percent(event.ltv)} reached the alert at "
                    f"{percent(event.threshold)}")
            if levels.margin_call is not None:
                text += f" (margin call at {percent(levels.margin_call)}"
                text += (f", liquidation at {percent(levels.liquidation)})"
                         if levels.liquidation is not None else ")")
            self._alert_lines[event.key] = text
            self._log(f"ALERT {text}")
            if self.on_alert is not None:
                try:
                    self.on_alert(event)
                except Exception as error:  # the user's callback: shown, never swallowed
                    self._log(f"on_alert raised {type(error).__name__}: {error}")
                    self.output.append_stdout("".join(traceback.format_exception(error)))

    # -- what-if -----------------------------------------------------------------------------

    def what_if(self, shocks: Mapping[str, Any] | None = None, **by_coin: Any) -> tuple[
        Shocked, ...
    ]:
        """Each position's LTV if prices moved by these percentages (``BTC=-20``).

        Also moves the desk's sliders, so the what-if table shows the same.
        """
        moves = {**(shocks or {}), **by_coin}
        fractions = {c: _percent_input(v, f"shock for {c}", move=True) or Decimal(0)
                     for c, v in moves.items()}
        return self.what_ifs.shock(fractions)

    # -- callbacks and helpers -------------------------------------------------------------

    def _after_action(self) -> None:
        self.refresh_soon()

    def _on_refresh(self, _button: Any) -> None:
        self.profile_picker.reload()
        self.refresh_soon()

    def _on_pause(self, change: Any) -> None:
        self._live.paused = bool(change["new"])
        self.header.show_paused(bool(change["new"]))
        self.status = "paused" if change["new"] else ("live" if self.live else "stopped")
        if not change["new"]:
            self._live.poke()
        self._status_line()

    def _on_interval(self, change: Any) -> None:
        if change["new"] is not None and float(change["new"]) != self.pacer.interval:
            self.interval = float(change["new"])

    def _on_alert_input(self, change: Any) -> None:
        try:
            self.alert_ltv = change["new"]
        except (TypeError, ValueError) as error:
            self._set_notice(str(error), "#c62828")
            self._alert_refused = True
            return
        if self._alert_refused:  # the value it refused is gone: so is its line
            self._alert_refused = False
            self._set_notice("", "")
        if self.snapshot is not None:
            self._fired = frozenset()
            self.table.value = positions_table(self.snapshot, self._thresholds(self.snapshot),
                                               self._fired)

    def _status_line(self, extra: str = "") -> None:
        parts = []
        if self._live_running():
            parts.append("<b style='color:#2e7d32'>● live</b>" if not self.paused
                         else "<b style='color:#57606a'>❚❚ paused</b>")
        else:
            parts.append("<b style='color:#57606a'>○ not live</b>")
        if self.snapshot is not None:
            parts.append(f"refreshed {_clock(self.snapshot.taken_at_ms)} UTC "
                         f"({self.stats['reads']} reads, {self.stats['render_ms']:.1f} ms)")
        due = self._live.due_at if self._live_running() and not self.paused else None
        if due is not None:
            parts.append(f"next in {max(0.0, due - time.monotonic()):.0f} s")
        if extra:
            parts.append(f"<span style='color:#b26a00'>{html.escape(extra)}</span>")
        self.status_html.value = ("<div style='font-size:12px;color:#57606a'>"
                                  + " · ".join(parts) + "</div>")

    def _set_notice(self, text: str, colour: str, *, escape: bool = True) -> None:
        if not text:
            self.notice.value = ""
            return
        body = html.escape(text) if escape else text
        self.notice.value = (f"<div style='border-left:4px solid {colour};background:#fffdf5;"
                             f"padding:4px 8px;margin:4px 0;color:{colour}'>{body}</div>")

    def _log(self, line: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%H:%M:%S")
        self.output.append_stdout(f"{stamp} UTC  {line}\n")


def _clock(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%H:%M:%S")


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return None
    return get_ipython()
